"""Keras's datasets of files in a folder: ``image_dataset_from_directory`` and
``text_dataset_from_directory`` (``keras.utils`` / ``keras.preprocessing``).

The files are found, labelled, shuffled and split in Keras's order, so a seed picks the same
training and validation files as in Keras. Keras returns a ``tf.data.Dataset``; plait
returns a :class:`PyDataset` of CPU torch batches, which ``fit``/``evaluate``/``predict`` take,
with the ``tf.data`` idioms Keras programs use on it (``take``, ``map``, ``cardinality``, ``prefetch``,
``class_names``, ``file_paths``).
"""

import functools
import math
import os

import numpy as np
import torch

from plait.utils import image_utils
from plait.utils.py_dataset import PyDataset

IMAGE_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")  # Keras's ALLOWLIST_FORMATS
_INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5", "gaussian", "mitchellcubic")


class _DirectoryNotFound(FileNotFoundError, ValueError):
    """A missing ``directory``: a ValueError (a bad argument), and the FileNotFoundError Keras raises."""


class StringBatch(np.ndarray):
    """A batch of texts: a numpy array of ``bytes`` with ``.numpy()``, as a ``tf.string`` batch
    of Keras's dataset reads (``text_batch.numpy()[0]``)."""

    def numpy(self):
        return self.view(np.ndarray)


class _TfDataIdioms(PyDataset):
    """The ``tf.data.Dataset`` methods Keras programs call on these datasets."""

    keeps_its_order = True  # Keras returns a tf.data.Dataset here: fit does not reshuffle it

    def take(self, count):
        """The first ``count`` batches (all of them for ``count=-1``), as a list: the ``tf.data``
        idiom ``for images, labels in ds.take(1): ...``."""
        if not isinstance(count, int) or count < -1:
            raise ValueError(f"take: `count` must be an integer >= -1. Received: count={count!r}")
        n = len(self) if count == -1 else min(count, len(self))
        return [self[i] for i in range(n)]

    def map(self, map_func, num_parallel_calls=None, deterministic=None, name=None):
        """Apply ``map_func`` to every batch (``map_func(images, labels)`` for a tuple batch, as
        ``tf.data.Dataset.map`` calls it); returns a new dataset."""
        return _MappedDataset(self, map_func)

    def cardinality(self):
        """The number of batches, as a scalar int64 tensor (``tf.data``'s ``cardinality()``)."""
        return torch.tensor(len(self), dtype=torch.int64)

    def as_numpy_iterator(self):
        """The batches with numpy arrays in place of tensors (``tf.data``'s ``as_numpy_iterator()``)."""
        for batch in self:
            yield tuple(_numpy(b) for b in batch) if isinstance(batch, tuple) else _numpy(batch)

    def prefetch(self, buffer_size=None, name=None):
        """The dataset itself (``tf.data``'s prefetch idiom; use ``fit(workers=...)`` to load ahead)."""
        return self

    def cache(self, filename="", name=None):
        """The dataset itself (``tf.data``'s cache idiom)."""
        return self


class DirectoryDataset(_TfDataIdioms):
    """The batches of files :func:`image_dataset_from_directory` and
    :func:`text_dataset_from_directory` return: a :class:`PyDataset` (``fit``/``evaluate``/
    ``predict`` take it; ``len()`` batches; each batch ``(inputs, labels)``, or ``inputs`` without
    labels, as CPU torch tensors; texts as a numpy array of bytes).

    Attributes:
        class_names: the class of each label index (None without labels).
        file_paths: the files, in the order of the first epoch's samples.

    With ``shuffle=True`` the samples come in the seeded order Keras's file index has, and
    every later epoch (``on_epoch_end``) reshuffles them with the same seed's generator, as
    ``tf.data``'s shuffle does each epoch.
    """

    def __init__(self, file_paths, labels, label_mode, class_names, batch_size, load, shuffle=False, seed=None):
        super().__init__()
        self.file_paths = list(file_paths)
        self.class_names = class_names
        self.batch_size = batch_size
        self._labels = None if labels is None else np.asarray(labels, dtype="int64")
        self._label_mode, self._load = label_mode, load
        self._num_classes = len(class_names) if class_names else 0
        self._order = np.arange(len(self.file_paths))
        self._rng = np.random.RandomState(seed) if shuffle else None

    def __len__(self):
        n = len(self.file_paths)
        return n if self.batch_size is None else math.ceil(n / self.batch_size)

    def __getitem__(self, index):
        if not -len(self) <= index < len(self):
            raise IndexError(f"{type(self).__name__} index {index} out of range for {len(self)} batches.")
        index %= len(self)
        if self.batch_size is None:  # unbatched: one sample
            sample = self._order[index]
            inputs = self._load([self.file_paths[sample]])[0]
            return inputs if self._labels is None else (inputs, self._encode(self._labels[[sample]])[0])
        samples = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        inputs = self._load([self.file_paths[i] for i in samples])
        return inputs if self._labels is None else (inputs, self._encode(self._labels[samples]))

    def _encode(self, labels):
        # Keras's labels_to_dataset: int32 indices, float32 (n, 1) for "binary", a float32 one-hot
        # for "categorical" (an index outside the classes is all zeros, as tf.one_hot's).
        if self._label_mode == "binary":
            return torch.from_numpy(labels.astype("float32")[:, None])
        if self._label_mode == "categorical":
            return torch.from_numpy((labels[:, None] == np.arange(self._num_classes)).astype("float32"))
        return torch.from_numpy(labels.astype("int32"))

    def on_epoch_end(self):
        if self._rng is not None:
            self._rng.shuffle(self._order)

    def __repr__(self):
        return f"<{type(self).__name__}: {len(self.file_paths)} files in {len(self)} batches>"


class _MappedDataset(_TfDataIdioms):
    """A :class:`DirectoryDataset` with a function applied to each batch."""

    def __init__(self, dataset, map_func):
        super().__init__()
        self.dataset, self.map_func = dataset, map_func
        self.class_names, self.file_paths = getattr(dataset, "class_names", None), getattr(dataset, "file_paths", None)

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        batch = self.dataset[index]
        return self.map_func(*batch) if isinstance(batch, tuple) else self.map_func(batch)

    def on_epoch_end(self):
        self.dataset.on_epoch_end()


def _numpy(value):
    return value.numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def index_directory(
    directory, labels, formats, class_names=None, shuffle=True, seed=None, follow_links=False, verbose=True
):
    """Every file of ``formats`` under ``directory`` with its label (Keras's ``index_directory``).

    Classes are the sorted subfolders (not hidden), or ``class_names`` (a subset, in its order);
    each class's files are listed by ``os.walk`` (folders sorted, then files sorted); with
    ``shuffle`` the paths and labels are permuted by ``np.random.RandomState(seed)``.

    Returns:
        ``(file_paths, labels, class_names)``: paths joined to ``directory``, an int array (or
        None without labels), and the class names (the sorted labels as strings for explicit
        labels; None without labels).
    """
    if not os.path.isdir(directory):
        raise _DirectoryNotFound(
            2, f"`directory` must be an existing folder. Received: directory={directory!r}", str(directory)
        )
    if labels == "inferred":
        subdirs = [
            d.rstrip("/")
            for d in sorted(os.listdir(directory))
            if os.path.isdir(os.path.join(directory, d)) and not d.startswith(".")
        ]
        if class_names is not None:
            if not set(class_names).issubset(set(subdirs)):
                raise ValueError(
                    "The `class_names` passed did not match the names of the subdirectories of the target "
                    f"directory. Expected: {subdirs} (or a subset of it), but received: class_names={class_names}"
                )
            subdirs = list(class_names)  # their order
    else:
        subdirs = [""]  # explicit or no labels: every file under the folder
        if class_names is not None:
            if labels is None:
                raise ValueError("When `labels=None` (no labels), argument `class_names` cannot be specified.")
            raise ValueError(
                "When argument `labels` is specified, argument `class_names` cannot be specified (the "
                "`class_names` will be the sorted list of labels)."
            )
    filenames, label_ids = [], []
    for index, subdir in enumerate(subdirs):
        names = _index_subdirectory(os.path.join(directory, subdir), follow_links, formats)
        filenames += names
        label_ids += [index] * len(names)
    if labels == "inferred":
        labels, class_names = np.asarray(label_ids, dtype="int32"), subdirs
    elif labels is None:
        class_names = None
    else:
        if len(labels) != len(filenames):
            raise ValueError(
                "Expected the lengths of `labels` to match the number of files in the target directory. "
                f"len(labels) is {len(labels)} while we found {len(filenames)} files in directory {directory}."
            )
        class_names = [str(label) for label in sorted(set(labels))]
        labels = np.asarray(labels)  # a copy: Keras shuffles the caller's list in place, plait does not
    if verbose:
        if labels is None:
            print(f"Found {len(filenames)} files.")
        else:
            print(f"Found {len(filenames)} files belonging to {len(class_names)} classes.")
    file_paths = [os.path.join(directory, name) for name in filenames]
    if shuffle:  # the same permutation for paths and labels, as Keras's two RandomState(seed)s
        if seed is None:
            seed = np.random.randint(1e6)
        order = np.arange(len(file_paths))
        np.random.RandomState(seed).shuffle(order)
        file_paths = [file_paths[i] for i in order]
        if labels is not None:
            labels = labels[order]
    return file_paths, labels, class_names


def _index_subdirectory(directory, follow_links, formats):
    # Paths relative to the folder above `directory`, as Keras's index_subdirectory gives them.
    dirname = os.path.basename(directory)
    found = []
    for root, _, files in sorted(os.walk(directory, followlinks=follow_links), key=lambda walked: walked[0]):
        for fname in sorted(files):
            if fname.lower().endswith(formats):
                found.append(os.path.join(dirname, os.path.relpath(os.path.join(root, fname), directory)))
    return found


def training_or_validation_split(samples, labels, validation_split, subset):
    """The training (first) or validation (last ``int(validation_split * n)``) samples, as
    Keras's ``get_training_or_validation_split``, which prints how many it uses."""
    if not validation_split:
        return samples, labels
    num_val = int(validation_split * len(samples))
    if subset == "training":
        print(f"Using {len(samples) - num_val} files for training.")
        keep = slice(None, -num_val)
    elif subset == "validation":
        print(f"Using {num_val} files for validation.")
        keep = slice(-num_val, None)
    else:
        raise ValueError(f'`subset` must be either "training" or "validation", received: {subset}')
    return samples[keep], None if labels is None else labels[keep]


def _check_labels(labels, label_mode, class_names, what):
    # Keras's checks, in its order and words (image_dataset_utils / check_validation_split_arg).
    if labels not in ("inferred", None):
        if not isinstance(labels, (list, tuple)):
            raise ValueError(
                "`labels` argument should be a list/tuple of integer labels, of the same size as the number of "
                f"{what} files in the target directory. If you wish to infer the labels from the subdirectory "
                'names in the target directory, pass `labels="inferred"`. If you wish to get a dataset that only '
                f"contains {'images' if what == 'image' else 'text samples'} (no labels), pass `labels=None`. "
                f"Received: labels={labels}"
            )
        if class_names:
            raise ValueError(
                'You can only pass `class_names` if `labels="inferred"`. '
                f"Received: labels={labels}, and class_names={class_names}"
            )
    if label_mode not in {"int", "categorical", "binary", None}:
        raise ValueError(
            '`label_mode` argument must be one of "int", "categorical", "binary", '
            f"or None. Received: label_mode={label_mode}"
        )


def _check_split(validation_split, subset, shuffle, seed):
    # Keras's check_validation_split_arg.
    if validation_split and not 0 < validation_split < 1:
        raise ValueError(f"`validation_split` must be between 0 and 1, received: {validation_split}")
    if (validation_split or subset) and not (validation_split and subset):
        raise ValueError("If `subset` is set, `validation_split` must be set, and inversely.")
    if subset not in ("training", "validation", "both", None):
        raise ValueError(f'`subset` must be either "training", "validation" or "both", received: {subset}')
    if validation_split and shuffle and seed is None:
        raise ValueError(
            "If using `validation_split` and shuffling the data, you must provide a `seed` argument, to make "
            "sure that there is no overlap between the training and validation subset."
        )


def _datasets(directory, formats, load, *, labels, label_mode, class_names, batch_size, shuffle, seed,
              validation_split, subset, follow_links, verbose):  # fmt: skip
    # Index (and shuffle) the files once, split them, and wrap each subset in a DirectoryDataset.
    if seed is None:
        seed = np.random.randint(1e6)
    paths, labels, class_names = index_directory(
        directory,
        labels,
        formats,
        class_names=class_names,
        shuffle=shuffle,
        seed=seed,
        follow_links=follow_links,
        verbose=verbose,
    )
    if label_mode == "binary" and len(class_names) != 2:
        raise ValueError(
            'When passing `label_mode="binary"`, there must be exactly 2 class_names. '
            f"Received: class_names={class_names}"
        )

    def dataset(subset_name, training_shuffle, empty):
        subset_paths, subset_labels = training_or_validation_split(paths, labels, validation_split, subset_name)
        if not subset_paths:
            allowed = "format: .txt" if formats == (".txt",) else f"formats: {formats}"
            raise ValueError(f"No {empty} found in directory {directory}. Allowed {allowed}")
        return DirectoryDataset(
            subset_paths, subset_labels, label_mode, class_names, batch_size, load, shuffle=training_shuffle, seed=seed
        )

    noun = "images" if formats == IMAGE_FORMATS else "text files"
    if subset == "both":  # Keras returns a list: the training dataset, then the validation one (never shuffled)
        return [dataset("training", shuffle, f"training {noun}"), dataset("validation", False, f"validation {noun}")]
    return dataset(subset, shuffle, noun)


def image_dataset_from_directory(
    directory,
    labels="inferred",
    label_mode="int",
    class_names=None,
    color_mode="rgb",
    batch_size=32,
    image_size=(256, 256),
    shuffle=True,
    seed=None,
    validation_split=None,
    subset=None,
    interpolation="bilinear",
    follow_links=False,
    crop_to_aspect_ratio=False,
    pad_to_aspect_ratio=False,
    data_format=None,
    format="tf",
    verbose=True,
):
    """Batches of the images in a folder, labelled by subfolder (Keras's
    ``keras.utils.image_dataset_from_directory``).

    ``main_directory/class_a/*.jpg`` and ``main_directory/class_b/*.jpg`` give images labelled
    0 and 1. Files ending in ``.bmp``, ``.gif`` (first frame), ``.jpeg``, ``.jpg`` or ``.png``
    are read with Pillow (``pip install pillow``), converted to ``color_mode`` and resized to
    ``image_size`` with torch.

    The files, their labels, the seeded shuffle and the split are Keras's, and so are the
    pixels of Keras's default ``tf.data`` pipeline: TensorFlow's grayscale conversions,
    ``tf.image.resize``'s bilinear, nearest, bicubic and area kernels, ``resize_with_pad``'s
    padding. Two differences: TensorFlow decodes JPEGs with libjpeg's fast integer IDCT and
    Pillow with the accurate one (a few units apart on noisy images), and ``tf.data`` also
    shuffles within a buffer, so with ``shuffle=True`` the order of the files differs from
    Keras's while the training and validation files are the same.

    Args:
        directory: the folder.
        labels: ``"inferred"`` (from the subfolders), None, or a list of integer labels, one per
            file in the sorted order ``os.walk`` finds them.
        label_mode: ``"int"`` (int32 ``(batch,)``), ``"categorical"`` (float32 one-hot
            ``(batch, num_classes)``), ``"binary"`` (float32 ``(batch, 1)``, 2 classes) or None
            (images only).
        class_names: the subfolders to use, in their label order (default: all, sorted).
        color_mode: ``"rgb"`` (3 channels), ``"rgba"`` (4) or ``"grayscale"`` (1).
        batch_size: images per batch (default 32); None: one image per element.
        image_size: ``(height, width)`` (or an int) every image is resized to (default 256x256).
        shuffle: shuffle the files (default True; else sorted order).
        seed: the shuffle's (and the split's) seed.
        validation_split: the fraction of files kept for validation (the last ones).
        subset: ``"training"``, ``"validation"`` or ``"both"`` (a list of the two datasets).
        interpolation: ``"bilinear"`` (default), ``"nearest"``, ``"bicubic"``, ``"area"``,
            ``"lanczos3"``, ``"lanczos5"``, ``"gaussian"`` or ``"mitchellcubic"`` (TensorFlow's).
        follow_links: visit subfolders that are symbolic links.
        crop_to_aspect_ratio: resize the largest centered crop of ``image_size``'s aspect ratio.
        pad_to_aspect_ratio: zero-pad to ``image_size``'s aspect ratio before resizing.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        format: ``"tf"`` (Keras's default) or ``"grain"``: both give plait's dataset.
        verbose: print how many files and classes were found.

    Returns:
        a :class:`DirectoryDataset` of ``(images, labels)`` batches (``images`` only without
        labels), images float32 ``(batch, height, width, channels)`` in ``[0, 255]``.

    Example:
        >>> import tempfile, pathlib
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> for name in ("cat", "dog"):
        ...     (root / name).mkdir()
        ...     image_utils.save_img(root / name / "1.png", np.zeros((8, 10, 3)), scale=False)
        >>> ds = image_dataset_from_directory(root, image_size=(4, 4), batch_size=2, shuffle=False)
        Found 2 files belonging to 2 classes.
        >>> images, labels = ds.take(1)[0]
        >>> ds.class_names, tuple(images.shape), labels.tolist()
        (['cat', 'dog'], (2, 4, 4, 3), [0, 1])
    """
    _check_labels(labels, label_mode, class_names, "image")
    if labels is None or label_mode is None:
        labels = label_mode = None
    channels = {"rgb": 3, "rgba": 4, "grayscale": 1}.get(color_mode)
    if channels is None:
        raise ValueError(
            f'`color_mode` must be one of {{"rgb", "rgba", "grayscale"}}. Received: color_mode={color_mode}'
        )
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    elif not isinstance(image_size, (list, tuple)) or len(image_size) != 2:
        raise ValueError(
            f"Invalid `image_size` value. Expected a tuple of 2 integers. Received: image_size={image_size}"
        )
    interpolation = interpolation.lower()
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(
            f"Argument `interpolation` should be one of {_INTERPOLATIONS}. Received: interpolation={interpolation}"
        )
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError("Only one of `pad_to_aspect_ratio`, `crop_to_aspect_ratio` can be set to `True`.")
    if format not in ("tf", "grain"):
        raise ValueError(f'`format` should be either "tf" or "grain". Received: format={format}')
    _check_split(validation_split, subset, shuffle, seed)
    data_format = image_utils.standardize_data_format(data_format)

    load = functools.partial(
        _load_images,
        image_size=tuple(image_size),
        color_mode=color_mode,
        interpolation=interpolation,
        data_format=data_format,
        crop_to_aspect_ratio=crop_to_aspect_ratio,
        pad_to_aspect_ratio=pad_to_aspect_ratio,
    )
    return _datasets(
        directory, IMAGE_FORMATS, load, labels=labels, label_mode=label_mode, class_names=class_names,
        batch_size=batch_size, shuffle=shuffle, seed=seed, validation_split=validation_split, subset=subset,
        follow_links=follow_links, verbose=verbose,
    )  # fmt: skip


def _load_images(paths, **options):
    return torch.stack([load_image(path, **options) for path in paths])


def load_image(
    path,
    image_size,
    color_mode="rgb",
    interpolation="bilinear",
    data_format="channels_last",
    crop_to_aspect_ratio=False,
    pad_to_aspect_ratio=False,
):
    """One image file as a float32 tensor of ``image_size``, as ``image_dataset_from_directory``
    reads it (Pillow's decoding and color conversion, torch's resize)."""
    pixels = _decode(path, color_mode)
    image = torch.from_numpy(pixels.reshape(*pixels.shape[:2], -1)).permute(2, 0, 1)[None]
    image = image_utils.tf_resize_images(image, image_size, interpolation, crop_to_aspect_ratio, pad_to_aspect_ratio)[0]
    return image if data_format == "channels_first" else image.permute(1, 2, 0).contiguous()


def _decode(path, color_mode):
    # Pillow decodes; to grayscale as TensorFlow's decoders (Keras's tf.data pipeline) convert: a
    # JPEG's own luma (libjpeg's grayscale output), a color PNG with libpng's fixed-point weights.
    img = image_utils.open_image(path, color_mode=None)
    if color_mode == "grayscale" and img.format == "JPEG" and img.mode != "L":
        img.draft("L", img.size)
    elif color_mode == "grayscale" and img.format == "PNG" and img.mode not in ("L", "LA", "I;16", "I"):
        rgb = np.asarray(img.convert("RGB"), dtype="int32")
        return ((rgb @ np.array([9797, 19234, 3737], dtype="int32")) >> 15).astype("float32")
    return np.asarray(image_utils.convert_image(img, color_mode), dtype="float32")


def text_dataset_from_directory(
    directory,
    labels="inferred",
    label_mode="int",
    class_names=None,
    batch_size=32,
    max_length=None,
    shuffle=True,
    seed=None,
    validation_split=None,
    subset=None,
    follow_links=False,
    format="tf",
    verbose=True,
):
    """Batches of the ``.txt`` files in a folder, labelled by subfolder (Keras's
    ``keras.utils.text_dataset_from_directory``).

    Args:
        directory: the folder.
        labels: ``"inferred"`` (from the subfolders), None, or a list of integer labels.
        label_mode: ``"int"``, ``"categorical"``, ``"binary"`` or None (as
            :func:`image_dataset_from_directory`'s).
        class_names: the subfolders to use, in their label order.
        batch_size: texts per batch (default 32); None: one text per element.
        max_length: keep at most this many bytes of each text.
        shuffle: shuffle the files (default True).
        seed: the shuffle's (and the split's) seed.
        validation_split: the fraction of files kept for validation.
        subset: ``"training"``, ``"validation"`` or ``"both"``.
        follow_links: visit subfolders that are symbolic links.
        format: ``"tf"`` or ``"grain"``: both give plait's dataset.
        verbose: print how many files and classes were found.

    Returns:
        a :class:`DirectoryDataset` of ``(texts, labels)`` batches (``texts`` only without
        labels); ``texts`` is a numpy array of ``bytes`` (what a ``tf.string`` batch's
        ``.numpy()`` is), which ``TextVectorization`` takes.

    Example:
        >>> import tempfile, pathlib
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> for name in ("neg", "pos"):
        ...     (root / name).mkdir()
        ...     _ = (root / name / "1.txt").write_text(f"a {name} review")
        >>> ds = text_dataset_from_directory(root, batch_size=2, shuffle=False, verbose=False)
        >>> texts, labels = ds.take(1)[0]
        >>> texts.numpy()[1], labels.tolist()
        (b'a pos review', [0, 1])
    """
    _check_labels(labels, label_mode, class_names, "text")
    if format not in ("tf", "grain"):
        raise ValueError(f'`format` should be either "tf" or "grain". Received: format={format}')
    if labels is None or label_mode is None:
        labels = label_mode = None
    _check_split(validation_split, subset, shuffle, seed)

    return _datasets(
        directory, (".txt",), functools.partial(_read_texts, max_length=max_length), labels=labels,
        label_mode=label_mode, class_names=class_names, batch_size=batch_size, shuffle=shuffle, seed=seed,
        validation_split=validation_split, subset=subset, follow_links=follow_links, verbose=verbose,
    )  # fmt: skip


def _read_texts(paths, max_length=None):
    # Bytes, as tf.io.read_file gives them; max_length counts bytes, as tf.strings.substr does.
    texts = np.empty(len(paths), dtype=object)
    for i, path in enumerate(paths):
        with open(path, "rb") as f:
            texts[i] = f.read() if max_length is None else f.read(max_length)
    return texts.view(StringBatch)
