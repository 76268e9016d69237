"""What every application shares: ImageNet ``preprocess_input`` / ``decode_predictions`` (and
:func:`module_functions`, each family module's pair), Keras's input-shape rules, and finding
Keras's published weight files in Keras's cache. plait runs channels_last images only.

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

CLASS_INDEX = None
CLASS_INDEX_PATH = "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json"
CLASS_INDEX_HASH = "c2c37ea517e94d9795004a39431a14cb"

# Where Keras's published weight files live (most families keep a folder here).
WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"

# Per mode: (RGB -> BGR, divisor, channel means subtracted after it, channel stds divided by);
# "tf" subtracts 1 after dividing.
_MODES = {
    "caffe": (True, None, (103.939, 116.779, 123.68), None),
    "tf": (False, 127.5, None, None),
    "torch": (False, 255.0, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}


def _check_data_format(data_format):
    if data_format not in (None, "channels_last"):
        raise ValueError(f"plait.applications run channels_last images only. Received: data_format={data_format!r}")


def preprocess_input(x, data_format=None, mode="caffe"):
    """Preprocess a batch of images with values in [0, 255], as Keras does.

    Args:
        x: a float numpy array or torch tensor, 3D ``(H, W, 3)`` or 4D ``(N, H, W, 3)``. A
            float numpy array is modified in place, as in Keras (pass a copy to keep it); a
            tensor is not.
        data_format: None or ``"channels_last"``.
        mode: ``"caffe"`` (RGB -> BGR, subtract the ImageNet channel means, no scaling, the
            default), ``"tf"`` (scale to [-1, 1]) or ``"torch"`` (scale to [0, 1], then
            normalize each channel with ImageNet's mean and std).

    Returns:
        the preprocessed float array or tensor, same shape.

    Example:
        >>> import numpy as np
        >>> from plait.applications import imagenet_utils
        >>> imagenet_utils.preprocess_input(np.full((1, 2, 2, 3), 255.0), mode="tf")[0, 0, 0]
        array([1., 1., 1.])
    """
    if mode not in _MODES:
        raise ValueError(f"Expected mode to be one of `caffe`, `tf` or `torch`. Received: mode={mode}")
    _check_data_format(data_format)
    flip, divisor, mean, std = _MODES[mode]
    if isinstance(x, torch.Tensor):
        x = x if x.is_floating_point() else x.float()
        x = x.flip(-1) if flip else x
        x = x if divisor is None else x / divisor
        if mode == "tf":
            return x - 1.0
        x = x - torch.tensor(mean, dtype=x.dtype, device=x.device)
        return x if std is None else x / torch.tensor(std, dtype=x.dtype, device=x.device)
    if not isinstance(x, np.ndarray):
        raise TypeError(f"preprocess_input takes a numpy array or a torch tensor. Received: {type(x).__name__}")
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype("float32")
    if flip:
        x = x[..., ::-1]  # a view: the caller's array changes too, as with Keras
    # In place, with operands of x's dtype: the same float operations as Keras's.
    if divisor is not None:
        x /= divisor
    if mode == "tf":
        x -= 1.0
        return x
    x -= np.asarray(mean, x.dtype)
    if std is not None:
        x /= np.asarray(std, x.dtype)
    return x


def module_functions(module, family, mode):
    """The ``preprocess_input`` of the application module ``module`` (named ``family`` in its
    docstring): ``mode`` as in :func:`preprocess_input`, or None for models that preprocess
    their input themselves (it then returns its input unchanged, as Keras's does)."""
    if mode is None:

        def preprocess(x, data_format=None):
            return x

        preprocess.__doc__ = (
            f"Returns ``x`` unchanged: {family} models preprocess their [0, 255] input themselves (Keras keeps "
            "this function for backward compatibility)."
        )
    else:

        def preprocess(x, data_format=None):
            return preprocess_input(x, data_format=data_format, mode=mode)

        what = {
            "caffe": "RGB -> BGR, minus ImageNet's channel means (caffe mode)",
            "tf": "scaled to [-1, 1] (tf mode)",
            "torch": "scaled to [0, 1], then normalized with ImageNet's channel mean and std (torch mode)",
        }[mode]
        preprocess.__doc__ = f"Images in [0, 255] to {family}'s input: {what}."
    preprocess.__name__ = preprocess.__qualname__ = "preprocess_input"
    preprocess.__module__ = module
    return preprocess


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


def _class_index():
    global CLASS_INDEX
    if CLASS_INDEX is None:
        with open(get_keras_file("imagenet_class_index.json", CLASS_INDEX_PATH, CLASS_INDEX_HASH)) as f:
            CLASS_INDEX = json.load(f)
    return CLASS_INDEX


def decode_predictions(preds, top=5):
    """Decode ImageNet predictions to ``(class_name, class_description, score)`` tuples.

    Reads ``imagenet_class_index.json`` from Keras's cache folder (see :func:`get_keras_file`).

    Args:
        preds: predictions of shape ``(samples, 1000)`` (numpy array or torch tensor).
        top: how many top guesses per sample (default 5).

    Returns:
        one list of tuples per sample, best first.
    """
    scores = preds.detach().cpu().numpy() if isinstance(preds, torch.Tensor) else np.asarray(preds)
    if scores.ndim != 2 or scores.shape[1] != 1000:
        raise ValueError(
            "`decode_predictions` expects a batch of predictions (i.e. a 2D array of shape (samples, 1000)). "
            f"Received array with shape: {scores.shape}"
        )
    index = _class_index()
    decoded = []
    for row in scores:
        best = np.argsort(row)[::-1][:top]
        decoded.append([(*index[str(i)], row[i]) for i in best])
    return decoded


def obtain_input_shape(input_shape, default_size, min_size, data_format, require_flatten, weights=None):
    """The model's input shape ``(H, W, C)`` from the user's ``input_shape`` (Keras's rules).

    ``None`` gives the default size when a fixed size is needed (``require_flatten``: the
    classifier on top), else ``(None, None, 3)``. ImageNet weights with the classifier fix the
    shape to the default; otherwise a given shape must be 3D with sides of at least
    ``min_size`` (and 3 channels with ImageNet weights). Raises ValueError naming the shape.
    """
    _check_data_format(data_format)
    pretrained = weights == "imagenet"
    shape = None if input_shape is None else tuple(input_shape)
    channels = 3
    if not pretrained and shape and len(shape) == 3:
        channels = shape[-1]
        if channels not in (1, 3):
            warnings.warn(
                "This model usually expects 1 or 3 input channels. However, it was passed an input_shape "
                f"with {channels} input channels.",
                stacklevel=3,
            )
    default = (default_size, default_size, channels)
    if pretrained and require_flatten:  # the published classifier fixes the size
        if shape is not None and shape != default:
            raise ValueError(
                "When setting `include_top=True` and loading `imagenet` weights, "
                f"`input_shape` should be {default}.  Received: input_shape={shape}"
            )
        return default
    if not shape:
        return default if require_flatten else (None, None, 3)
    if len(shape) != 3:
        raise ValueError(f"`input_shape` must be a tuple of three integers. Received: input_shape={shape}")
    if pretrained and shape[-1] != 3:
        raise ValueError(f"The input must have 3 channels; Received `input_shape={shape}`")
    if any(side is not None and side < min_size for side in shape[:2]):
        raise ValueError(f"Input size must be at least {min_size}x{min_size}; Received: input_shape={shape}")
    if require_flatten and None in shape:
        raise ValueError(
            f"If `include_top` is True, you should specify a static `input_shape`. Received: input_shape={shape}"
        )
    return shape


def correct_pad(inputs, kernel_size):
    """The ``((top, bottom), (left, right))`` zero padding that makes a stride-2 "valid"
    convolution of ``kernel_size`` match TensorFlow's "same": half the kernel on each side, one
    less before on an even (or unknown) side."""
    kernels = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
    rows = inputs.shape[1]
    pads = []
    for side, kernel in zip(inputs.shape[1:3], kernels):
        even = rows is None or side is None or side % 2 == 0  # unknown height: both sides as even
        pads.append((kernel // 2 - even, kernel // 2))
    return tuple(pads)


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
