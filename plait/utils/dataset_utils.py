"""Keras's dataset helpers on torch: ``timeseries_dataset_from_array`` and ``split_dataset``."""

import math

import numpy as np
import torch

from plait.utils.py_dataset import PyDataset


class TimeseriesDataset(PyDataset):
    """The batches of sliding windows :func:`timeseries_dataset_from_array` returns: a
    :class:`PyDataset` (``fit``/``evaluate``/``predict`` take it; ``len()`` batches; each batch
    ``(windows, targets)``, or ``windows`` without targets, as CPU torch tensors, as Keras's
    ``tf.data`` batches are tensors: ``batch.numpy()`` works; non-numeric data stays numpy).

    ``take(count)`` gives the first ``count`` batches (all for ``-1``), the ``tf.data`` idiom
    Keras's examples use to peek at a batch: ``for inputs, targets in ds.take(1): ...``.
    """

    keeps_its_order = True  # Keras returns a tf.data.Dataset here: fit does not reshuffle it

    def __init__(self, data, targets, start_positions, sequence_length, sampling_rate, batch_size):
        super().__init__()
        self.data, self.targets, self.start_positions = data, targets, start_positions
        self.offsets = np.arange(0, sequence_length * sampling_rate, sampling_rate)
        self.batch_size = batch_size

    def __len__(self):
        if self.batch_size is None:
            return len(self.start_positions)
        return math.ceil(len(self.start_positions) / self.batch_size)

    def __getitem__(self, index):
        if not -len(self) <= index < len(self):
            raise IndexError(f"TimeseriesDataset index {index} out of range for {len(self)} batches.")
        if self.batch_size is None:  # unbatched: one window (and its target)
            positions = self.start_positions[index]
        else:
            positions = self.start_positions[index * self.batch_size : (index + 1) * self.batch_size]
        windows = _tensor(self.data[np.asarray(positions)[..., None] + self.offsets])
        if self.targets is None:
            return windows
        return windows, _tensor(self.targets[positions])

    def take(self, count):
        """The first ``count`` batches (all of them for ``count=-1``), as a list.

        Example:
            >>> ds = timeseries_dataset_from_array(np.arange(10), None, sequence_length=5, batch_size=4)
            >>> [tuple(batch.shape) for batch in ds.take(1)], len(ds.take(-1))
            ([(4, 5)], 2)
        """
        if not isinstance(count, int) or count < -1:
            raise ValueError(f"TimeseriesDataset.take: `count` must be an integer >= -1. Received: count={count!r}")
        n = len(self) if count == -1 else min(count, len(self))
        return [self[i] for i in range(n)]

    def __repr__(self):
        return f"<TimeseriesDataset: {len(self.start_positions)} windows in {len(self)} batches>"


def _tensor(array):
    """A fresh numeric numpy batch as a torch tensor (sharing its memory); other dtypes as they are."""
    return torch.from_numpy(array) if array.dtype.kind in "biufc" else array


def timeseries_dataset_from_array(
    data,
    targets,
    sequence_length,
    sequence_stride=1,
    sampling_rate=1,
    batch_size=128,
    shuffle=False,
    seed=None,
    start_index=None,
    end_index=None,
):
    """Sliding windows over a time series, in batches (Keras's
    ``keras.utils.timeseries_dataset_from_array``).

    Args:
        data: an array of time steps (axis 0 is time).
        targets: the target of each window, by the index of its first step (``targets[i]``
            for the window starting at ``data[i]``), or None.
        sequence_length: steps per window.
        sequence_stride: steps between the starts of consecutive windows (default 1).
        sampling_rate: steps between the samples inside a window (default 1).
        batch_size: windows per batch (default 128); None: one window per element.
        shuffle: shuffle the windows (numpy's ``RandomState(seed)``, as Keras shuffles the
            window starts).
        seed: the shuffle's seed.
        start_index, end_index: use only ``data[start_index:end_index]``.

    Returns:
        a :class:`TimeseriesDataset` of ``(windows, targets)`` batches, ``windows`` shaped
        ``(batch, sequence_length) + data.shape[1:]``; Keras returns the same batches as a
        ``tf.data.Dataset``.

    Example:
        >>> ds = timeseries_dataset_from_array(np.arange(10), None, sequence_length=5, batch_size=None)
        >>> ds[0], ds[-1]
        (tensor([0, 1, 2, 3, 4]), tensor([5, 6, 7, 8, 9]))
    """
    n = len(data)
    if start_index:
        if start_index < 0:
            raise ValueError(f"`start_index` must be 0 or greater. Received: start_index={start_index}")
        if start_index >= n:
            raise ValueError(
                "`start_index` must be lower than the length of the data. "
                f"Received: start_index={start_index}, for data of length {n}"
            )
    if end_index:
        if start_index and end_index <= start_index:
            raise ValueError(
                "`end_index` must be higher than `start_index`. "
                f"Received: start_index={start_index}, and end_index={end_index} "
            )
        if end_index >= n:
            raise ValueError(
                "`end_index` must be lower than the length of the data. "
                f"Received: end_index={end_index}, for data of length {n}"
            )
        if end_index <= 0:
            raise ValueError(f"`end_index` must be higher than 0. Received: end_index={end_index}")
    for name, value in (("sampling_rate", sampling_rate), ("sequence_stride", sequence_stride)):
        if value <= 0:
            raise ValueError(f"`{name}` must be higher than 0. Received: {name}={value}")
        if value >= n:
            raise ValueError(
                f"`{name}` must be lower than the length of the data. Received: {name}={value}, for data of length {n}"
            )
    start_index = start_index or 0
    end_index = n if end_index is None else end_index
    num_seqs = end_index - start_index - (sequence_length - 1) * sampling_rate
    if targets is not None:
        num_seqs = min(num_seqs, len(targets))
    start_positions = np.arange(0, max(num_seqs, 0), sequence_stride)
    if shuffle:
        if seed is None:
            seed = np.random.randint(1e6)
        np.random.RandomState(seed).shuffle(start_positions)
    data = np.asarray(data[start_index:end_index])
    if targets is not None:
        targets = np.asarray(targets[start_index:end_index])
    return TimeseriesDataset(data, targets, start_positions, sequence_length, sampling_rate, batch_size)


def split_dataset(dataset, left_size=None, right_size=None, shuffle=False, seed=None):
    """Split a dataset in two (Keras's ``keras.utils.split_dataset``, as its torch backend
    does it).

    Args:
        dataset: a ``torch.utils.data.Dataset``, a numpy array, or a list/tuple of arrays of
            one length (their samples are zipped).
        left_size: a fraction in (0, 1) or a number of samples for the left part (default:
            what ``right_size`` leaves).
        right_size: the same for the right part (default: what ``left_size`` leaves).
        shuffle: shuffle before splitting (``torch.utils.data.random_split``, the same split as
            Keras's for a seed); without it the left part is the first samples.
        seed: the shuffle's seed.

    Returns:
        ``(left, right)``: ``torch.utils.data.Subset``s, which ``fit`` takes as datasets.

    Example:
        >>> left, right = split_dataset(np.random.random((1000, 4)), left_size=0.8)
        >>> len(left), len(right)
        (800, 200)
    """
    if not isinstance(dataset, torch.utils.data.Dataset):
        if isinstance(dataset, np.ndarray):
            dataset = torch.utils.data.TensorDataset(torch.from_numpy(dataset))
        elif isinstance(dataset, (list, tuple)):
            dataset = torch.utils.data.TensorDataset(*[torch.as_tensor(np.asarray(x)) for x in dataset])
        else:
            raise TypeError(
                "The `dataset` argument must be a `torch.utils.data.Dataset` object, or a list/tuple of arrays. "
                f"Received: dataset={dataset!r:.100} of type {type(dataset)}"
            )
    if left_size is None and right_size is None:
        raise ValueError(
            "At least one of the `left_size` or `right_size` must be specified. "
            "Received: left_size=None and right_size=None"
        )
    left_size, right_size = _split_sizes(left_size, right_size, len(dataset))
    if not shuffle:  # in order (Keras's torch path would shuffle with torch's global generator here)
        indices = range(left_size + right_size)
        return (
            torch.utils.data.Subset(dataset, indices[:left_size]),
            torch.utils.data.Subset(dataset, indices[left_size:]),
        )
    generator = torch.Generator()
    if seed is not None:
        generator.manual_seed(seed)
    else:
        generator.seed()
    left, right = torch.utils.data.random_split(dataset, [left_size, right_size], generator=generator)
    return left, right


def _split_sizes(left_size, right_size, total):
    # Keras's _rescale_dataset_split_sizes: fractions round to samples; the sizes must fit.
    for name, size in (("left_size", left_size), ("right_size", right_size)):
        if size is not None and type(size) not in (int, float):
            raise TypeError(
                f"Invalid `{name}` Type. Expected: int or float or None, Received: type({name})={type(size)}."
            )
    if left_size == 0 and right_size == 0:
        raise ValueError(
            "Both `left_size` and `right_size` are zero. At least one of the split sizes must be non-zero."
        )
    for name, size in (("left_size", left_size), ("right_size", right_size)):
        if (type(size) is int and not 0 < size < total) or (type(size) is float and not 0 < size < 1):
            raise ValueError(
                f"`{name}` should be either a positive integer smaller than {total}, or a float within the "
                f"range `[0, 1]`. Received: {name}={size}"
            )
    if type(left_size) is float and type(right_size) is float and left_size + right_size > 1:
        raise ValueError(
            "The sum of `left_size` and `right_size` is greater than 1. It must be less than or equal to 1."
        )
    left = round(left_size * total) if type(left_size) is float else left_size
    right = round(right_size * total) if type(right_size) is float else right_size
    if left is None:
        left = total - right
    elif right is None:
        right = total - left
    if left + right > total:
        raise ValueError(
            f"The sum of `left_size` and `right_size` should be smaller than the {total}. "
            f"Received: left_size + right_size = {left + right} and total_length = {total}"
        )
    for split, side in ((left, "left"), (right, "right")):
        if split == 0:
            raise ValueError(
                f"With `dataset` of length={total}, `left_size`={left} and `right_size`={right}. "
                f"Resulting {side} side dataset split will be empty. Adjust any of the aforementioned parameters"
            )
    return int(left), int(right)
