"""What every application shares: ImageNet ``preprocess_input`` / ``decode_predictions``, the
input-shape rules, and finding Keras's published weight files in Keras's cache.

Ported from Keras 3.15 (``keras/src/applications/imagenet_utils.py``, Apache-2.0). plait runs
channels_last only, so the channels_first branches are left out.

This machine may have no internet: files Keras would download (weights, the ImageNet class
index) are looked up in Keras's cache folder (``$KERAS_HOME/models``, else
``~/.keras/models``). A missing file is an error naming the file, the folder and the URL Keras
downloads it from, so it can be fetched by hand (or by Keras) and placed there.
"""

import hashlib
import json
import os
import warnings

import numpy as np
import torch

from plait import activations
from plait.graph.node import SymbolicTensor
from plait.layers import Input
from plait.utils import naming

CLASS_INDEX = None
CLASS_INDEX_PATH = "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json"
CLASS_INDEX_HASH = "c2c37ea517e94d9795004a39431a14cb"

# Where Keras's published weight files live (most families keep a folder here).
WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"

_MEANS = {"caffe": [103.939, 116.779, 123.68], "torch": [0.485, 0.456, 0.406]}
_STDS = {"torch": [0.229, 0.224, 0.225]}


def _check_data_format(data_format):
    if data_format not in (None, "channels_last"):
        raise ValueError(f"plait.applications run channels_last images only. Received: data_format={data_format!r}")


def preprocess_input(x, data_format=None, mode="caffe"):
    """Preprocess a batch of images with values in [0, 255], as Keras does.

    Args:
        x: a float numpy array or torch tensor, 3D ``(H, W, 3)`` or 4D ``(N, H, W, 3)``. A
            float numpy array is modified in place, as in Keras (pass a copy to keep it).
        data_format: None or ``"channels_last"``.
        mode: ``"caffe"`` (RGB -> BGR, subtract the ImageNet channel means, no scaling, the
            default), ``"tf"`` (scale to [-1, 1]) or ``"torch"`` (scale to [0, 1], then
            normalize each channel with ImageNet's mean and std).

    Returns:
        the preprocessed float32 array or tensor, same shape.

    Example:
        >>> import numpy as np
        >>> from plait.applications import imagenet_utils
        >>> imagenet_utils.preprocess_input(np.full((1, 2, 2, 3), 255.0), mode="tf")[0, 0, 0]
        array([1., 1., 1.])
    """
    if mode not in ("caffe", "tf", "torch"):
        raise ValueError(f"Expected mode to be one of `caffe`, `tf` or `torch`. Received: mode={mode}")
    _check_data_format(data_format)
    if isinstance(x, np.ndarray):
        if not issubclass(x.dtype.type, np.floating):
            x = x.astype("float32", copy=False)
    elif isinstance(x, torch.Tensor):
        if not x.is_floating_point():
            x = x.float()
    else:
        raise TypeError(f"preprocess_input takes a numpy array or a torch tensor. Received: {type(x).__name__}")
    if mode == "tf":
        x /= 127.5
        x -= 1.0
        return x
    if mode == "torch":
        x /= 255.0
    else:
        x = x[..., ::-1] if isinstance(x, np.ndarray) else x.flip(-1)  # RGB -> BGR
    mean = _MEANS[mode]
    if isinstance(x, np.ndarray):
        x[..., 0] -= mean[0]
        x[..., 1] -= mean[1]
        x[..., 2] -= mean[2]
        if mode in _STDS:
            std = _STDS[mode]
            x[..., 0] /= std[0]
            x[..., 1] /= std[1]
            x[..., 2] /= std[2]
        return x
    x = x - torch.tensor(mean, dtype=x.dtype, device=x.device)
    if mode in _STDS:
        x = x / torch.tensor(_STDS[mode], dtype=x.dtype, device=x.device)
    return x


def keras_cache_dir():
    """The folder Keras keeps downloaded weights in: ``$KERAS_HOME/models``, else
    ``~/.keras/models`` (Keras falls back to ``/tmp/.keras`` when home is not writable)."""
    if "KERAS_HOME" in os.environ:
        return os.path.join(os.path.expanduser(os.environ["KERAS_HOME"]), "models")
    home = os.path.expanduser("~")
    base = home if os.access(home, os.W_OK) else "/tmp"
    return os.path.join(base, ".keras", "models")


def _file_hash(path, algorithm):
    hasher = hashlib.sha256() if algorithm == "sha256" else hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def get_keras_file(file_name, origin, file_hash=None):
    """The path of ``file_name`` in Keras's cache, checked against ``file_hash`` (md5, or sha256
    when 64 hex digits long) when given.

    Raises:
        FileNotFoundError: the file is not there; the message names the file, the folder and
            the URL Keras downloads it from (plait downloads nothing).
        ValueError: the file is there but its hash is not the published one.
    """
    candidates = [os.path.join(keras_cache_dir(), file_name)]
    if "KERAS_HOME" not in os.environ:
        candidates.append(os.path.join("/tmp", ".keras", "models", file_name))
    path = next((p for p in candidates if os.path.isfile(p)), None)
    if path is None:
        raise FileNotFoundError(
            f"'{file_name}' is not in Keras's cache folder '{keras_cache_dir()}'. plait does not download "
            f"files: download it from {origin} (Keras fetches the same file on first use) and put it "
            "there, or pass its path."
        )
    if file_hash:
        algorithm = "sha256" if len(file_hash) == 64 else "md5"
        found = _file_hash(path, algorithm)
        if found != file_hash:
            raise ValueError(
                f"'{path}' has {algorithm} {found}, not the published {file_hash}: the file is incomplete or "
                f"another one. Download it again from {origin}."
            )
    return path


def decode_predictions(preds, top=5):
    """Decode ImageNet predictions to ``(class_name, class_description, score)`` tuples.

    Reads ``imagenet_class_index.json`` from Keras's cache folder (see :func:`get_keras_file`).

    Args:
        preds: predictions of shape ``(samples, 1000)`` (numpy array or torch tensor).
        top: how many top guesses per sample (default 5).

    Returns:
        one list of tuples per sample, best first.
    """
    global CLASS_INDEX
    if isinstance(preds, torch.Tensor):
        preds = preds.detach().cpu().numpy()
    preds = np.asarray(preds)
    if len(preds.shape) != 2 or preds.shape[1] != 1000:
        raise ValueError(
            "`decode_predictions` expects a batch of predictions (i.e. a 2D array of shape (samples, 1000)). "
            f"Received array with shape: {preds.shape}"
        )
    if CLASS_INDEX is None:
        with open(get_keras_file("imagenet_class_index.json", CLASS_INDEX_PATH, CLASS_INDEX_HASH)) as f:
            CLASS_INDEX = json.load(f)
    results = []
    for pred in preds:
        top_indices = pred.argsort()[-top:][::-1]
        result = [(*CLASS_INDEX[str(i)], pred[i]) for i in top_indices]
        result.sort(key=lambda x: x[2], reverse=True)
        results.append(result)
    return results


def obtain_input_shape(input_shape, default_size, min_size, data_format, require_flatten, weights=None):
    """The model's input shape ``(H, W, C)`` from the user's ``input_shape`` (Keras's rules).

    ``None`` gives the default size when a fixed size is needed (``include_top``), else
    ``(None, None, 3)``. Raises ValueError for a shape that is too small, not 3D, or that does
    not fit ImageNet weights with the classifier on top.
    """
    _check_data_format(data_format)
    if input_shape is not None:
        input_shape = tuple(input_shape)
    if weights != "imagenet" and input_shape and len(input_shape) == 3:
        if input_shape[-1] not in {1, 3}:
            warnings.warn(
                "This model usually expects 1 or 3 input channels. However, it was passed an input_shape "
                f"with {input_shape[-1]} input channels.",
                stacklevel=3,
            )
        default_shape = (default_size, default_size, input_shape[-1])
    else:
        default_shape = (default_size, default_size, 3)
    if weights == "imagenet" and require_flatten:
        if input_shape is not None and input_shape != default_shape:
            raise ValueError(
                "When setting `include_top=True` and loading `imagenet` weights, "
                f"`input_shape` should be {default_shape}.  Received: input_shape={input_shape}"
            )
        return default_shape
    if input_shape:
        if len(input_shape) != 3:
            raise ValueError(f"`input_shape` must be a tuple of three integers. Received: input_shape={input_shape}")
        if input_shape[-1] != 3 and weights == "imagenet":
            raise ValueError(f"The input must have 3 channels; Received `input_shape={input_shape}`")
        if (input_shape[0] is not None and input_shape[0] < min_size) or (
            input_shape[1] is not None and input_shape[1] < min_size
        ):
            raise ValueError(f"Input size must be at least {min_size}x{min_size}; Received: input_shape={input_shape}")
    else:
        input_shape = default_shape if require_flatten else (None, None, 3)
    if require_flatten and None in input_shape:
        raise ValueError(
            f"If `include_top` is True, you should specify a static `input_shape`. Received: input_shape={input_shape}"
        )
    return input_shape


def correct_pad(inputs, kernel_size):
    """The ``((top, bottom), (left, right))`` zero padding before a stride-2 convolution, as in
    Keras (TF's "same" rule for even sizes)."""
    input_size = inputs.shape[1:3]
    if isinstance(kernel_size, int):
        kernel_size = (kernel_size, kernel_size)
    adjust = (1, 1) if input_size[0] is None else (1 - input_size[0] % 2, 1 - input_size[1] % 2)
    correct = (kernel_size[0] // 2, kernel_size[1] // 2)
    return ((correct[0] - adjust[0], correct[0]), (correct[1] - adjust[1], correct[1]))


def validate_activation(classifier_activation, weights):
    """Pretrained weights come with a softmax (or no) classifier activation only."""
    if weights is None:
        return
    if classifier_activation not in (None, "softmax", "linear", activations.get("softmax")):
        raise ValueError(
            "Only `None` and `softmax` activations are allowed for the `classifier_activation` argument when "
            "using pretrained weights, with `include_top=True`; Received: "
            f"classifier_activation={classifier_activation}"
        )


# ---------------------------------------------------------------- shared by the model builders
def check_weights(weights, include_top, classes):
    """Keras's checks on ``weights`` (None, ``"imagenet"`` or an existing file) and ``classes``."""
    if not (weights in ("imagenet", None) or (isinstance(weights, (str, os.PathLike)) and os.path.exists(weights))):
        raise ValueError(
            "The `weights` argument should be either `None` (random initialization), 'imagenet' "
            "(pre-training on ImageNet), or the path to the weights file to be loaded.  Received: "
            f"weights={weights}"
        )
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError(
            "If using `weights='imagenet'` with `include_top=True`, `classes` should be 1000.  "
            f"Received classes={classes}"
        )


def image_input(input_tensor, input_shape):
    """The model's image input: ``input_tensor`` when given (a plait symbolic tensor), else a new
    ``Input(shape=input_shape)``."""
    if input_tensor is None:
        return Input(shape=input_shape)
    if not isinstance(input_tensor, SymbolicTensor):
        raise TypeError(
            "`input_tensor` must be a plait symbolic tensor (the output of `plait.Input` or of a layer). "
            f"Received: {type(input_tensor).__name__}"
        )
    return input_tensor


def source_inputs(tensor):
    """The ``Input`` tensors ``tensor`` is computed from (Keras's ``get_source_inputs``)."""
    found, seen, stack = [], set(), [tensor.node]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if not node.input_tensors:
            found.extend(node.outputs if isinstance(node.outputs, (list, tuple)) else [node.outputs])
        stack.extend(reversed(node.parent_nodes))
    return found[0] if len(found) == 1 else found


def model_inputs(input_tensor, img_input):
    return source_inputs(input_tensor) if input_tensor is not None else img_input


def load_weights(model, weights, file_name=None, origin=None, file_hash=None):
    """Load ``weights`` into ``model``: a path to a Keras weights file (``.h5`` as published, or
    ``.weights.h5`` as Keras 3 saves), or ``"imagenet"``: ``file_name`` from Keras's cache."""
    if weights is None:
        return
    if weights == "imagenet":
        if file_name is None:
            raise ValueError(f"Model '{model.name}' has no published ImageNet weights for these arguments.")
        weights = get_keras_file(file_name, origin, file_hash)
    # Imported here: plait.saving imports plait.models, which `import plait` loads after this package.
    from plait.saving.keras_file import load_keras_weights_file

    weights = os.fspath(weights)
    if weights.endswith(".h5"):  # Keras's files: published (tf-keras layout) or Keras 3's .weights.h5
        load_keras_weights_file(model, weights)
    else:
        model.load_weights(weights)


def get_uid(prefix):
    """Keras's ``backend.get_uid``: 1, 2, ... per prefix (reset by ``plait.utils.clear_session``;
    it shares the counters of automatic layer names, as in Keras)."""
    naming._name_counts[prefix] += 1
    return naming._name_counts[prefix]


ARGS_DOC = """
    Args:
        include_top: whether to include the classifier at the top (default True).
        weights: None (random initialization), ``"imagenet"`` (Keras's published file, read
            from Keras's cache folder, see :func:`plait.applications.imagenet_utils.get_keras_file`),
            or the path to a Keras weights file (``.h5`` as published, ``.weights.h5`` as Keras 3
            saves).
        input_tensor: optional plait symbolic tensor to use as the image input.
        input_shape: optional ``(H, W, 3)``; with ``include_top=True`` and ImageNet weights it
            must be the model's default size.
        pooling: with ``include_top=False``: None (4D feature map), ``"avg"`` or ``"max"`` (2D).
        classes: number of classes with ``include_top=True`` (1000 with ImageNet weights).
        classifier_activation: activation of the top layer (``"softmax"``; None for logits).
        name: the model's name.

    Returns:
        a :class:`plait.Model` with Keras's layer names and weights.
"""
