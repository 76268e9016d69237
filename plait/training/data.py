"""Turning what users pass to ``fit``/``evaluate``/``predict`` into batches of tensors.

Arrays (numpy, torch, pandas, lists or dicts of them) become tensors once, without copies
where the dtype allows; each epoch shuffles with one gather per array and slices batches as
views. ``torch.utils.data`` datasets and loaders and Python generators are iterated as given.
"""

import math

import numpy as np
import torch

from plait.utils import array_to_tensor


def to_tensor(value, what):
    """One array-like -> tensor (float64 becomes float32, as Keras casts to floatx)."""
    if hasattr(value, "to_numpy") and not isinstance(value, torch.Tensor):  # pandas
        value = value.to_numpy()
    if isinstance(value, torch.Tensor):
        tensor = value
    else:
        array = np.asarray(value)
        if array.dtype == object:
            raise TypeError(f"{what} could not be converted to a numeric array (dtype=object).")
        tensor = array_to_tensor(array)
    if tensor.dtype == torch.float64:
        tensor = tensor.float()
    if tensor.dim() == 0:
        raise ValueError(f"{what} must have a batch dimension. Received a scalar.")
    return tensor


def structure_inputs(model, x):
    """``x`` -> list of tensors in the model's input order."""
    names = model.input_names
    if hasattr(x, "columns") and hasattr(x, "to_numpy"):  # a pandas DataFrame
        if len(names) > 1 and all(n in x.columns for n in names):
            x = {n: x[n].to_numpy() for n in names}
        else:
            x = x.to_numpy()
    if isinstance(x, dict):
        unknown = [k for k in x if k not in names]
        if unknown:
            raise ValueError(
                f"Input data keys {unknown} match no input of model '{model.name}'. Valid input names: {names}"
            )
        missing = [n for n in names if n not in x]
        if missing:
            raise ValueError(f"Input data is missing the model input(s) {missing}. Valid input names: {names}")
        x = [x[n] for n in names]
    elif isinstance(x, (list, tuple)) and not _is_array_like_row(x):
        if len(x) != len(names):
            raise ValueError(
                f"Model '{model.name}' expects {len(names)} input array(s) {names}, but received {len(x)}."
            )
    else:
        if len(names) != 1:
            raise ValueError(
                f"Model '{model.name}' expects {len(names)} input arrays {names}, but received a single "
                "array. Pass a list in input order or a dict keyed by input name."
            )
        x = [x]
    return [to_tensor(v, f"Input '{n}'") for v, n in zip(x, names)]


def _is_array_like_row(x):
    # A plain Python list of numbers is one array, not a list of inputs.
    return len(x) > 0 and isinstance(x[0], (int, float, np.number))


def structure_targets(model, y):
    """``y`` -> list (output order) of tensors or None (no target for that output)."""
    names = model.output_names
    if y is None:
        return [None] * len(names)
    if isinstance(y, dict):
        unknown = [k for k in y if k not in names]
        if unknown:
            raise ValueError(
                f"Target data keys {unknown} match no output of model '{model.name}'. Valid output names: {names}"
            )
        return [to_tensor(y[n], f"Target '{n}'") if n in y else None for n in names]
    if isinstance(y, (list, tuple)) and not _is_array_like_row(y):
        if len(y) != len(names):
            raise ValueError(
                f"Model '{model.name}' has {len(names)} output(s) {names}, but {len(y)} target arrays were given."
            )
        return [None if v is None else to_tensor(v, f"Target '{n}'") for v, n in zip(y, names)]
    if len(names) != 1:
        raise ValueError(
            f"Model '{model.name}' has {len(names)} outputs {names}; pass targets as a list in output "
            "order or a dict keyed by output name."
        )
    return [to_tensor(y, f"Target '{names[0]}'")]


def structure_sample_weights(model, sample_weight):
    names = model.output_names
    if sample_weight is None:
        return [None] * len(names)
    if isinstance(sample_weight, dict):
        return [to_tensor(sample_weight[n], "sample_weight").float() if n in sample_weight else None for n in names]
    per_output = (
        isinstance(sample_weight, (list, tuple))
        and len(sample_weight) == len(names)
        and all(w is None or hasattr(w, "shape") for w in sample_weight)
    )
    if per_output:
        return [None if w is None else to_tensor(w, "sample_weight").float() for w in sample_weight]
    weight = to_tensor(sample_weight, "sample_weight").float()
    return [weight] * len(names)


def check_sample_counts(xs, ys, sws, input_names, output_names):
    counts = {}
    for name, t in zip(input_names, xs):
        counts[f"input '{name}'"] = len(t)
    for name, t in zip(output_names, ys):
        if t is not None:
            counts[f"target '{name}'"] = len(t)
    for name, t in zip(output_names, sws):
        if t is not None:
            counts[f"sample_weight of '{name}'"] = len(t)
    if len(set(counts.values())) > 1:
        detail = ", ".join(f"{k}: {v}" for k, v in counts.items())
        raise ValueError(
            f"Data cardinality is ambiguous: all arrays must have the same number of samples. Received: {detail}"
        )
    return next(iter(counts.values()))


class ArrayBatches:
    """Batches over in-memory tensors: ``(xs, ys, sws)`` lists, shuffled per epoch if asked."""

    def __init__(self, xs, ys, sws, batch_size, shuffle):
        self.xs, self.ys, self.sws = xs, ys, sws
        self.n = len(xs[0])
        self.batch_size, self.shuffle = batch_size, shuffle

    def __len__(self):
        return math.ceil(self.n / self.batch_size)

    def __iter__(self):
        xs, ys, sws = self.xs, self.ys, self.sws
        if self.shuffle:
            order = torch.randperm(self.n)
            take = lambda ts: [None if t is None else t.index_select(0, order) for t in ts]  # noqa: E731
            xs, ys, sws = take(xs), take(ys), take(sws)
        for start in range(0, self.n, self.batch_size):
            end = start + self.batch_size
            yield (
                [t[start:end] for t in xs],
                [None if t is None else t[start:end] for t in ys],
                [None if t is None else t[start:end] for t in sws],
            )


class IterableBatches:
    """Batches from a ``DataLoader``, a dataset, a generator, or any iterable of
    ``x``, ``(x, y)`` or ``(x, y, sample_weight)``."""

    def __init__(self, model, source, steps=None):
        self.model, self.source, self.steps = model, source, steps
        self._iterator = None

    def __len__(self):
        if self.steps is not None:
            return self.steps
        try:
            return len(self.source)
        except TypeError:
            return None

    def __iter__(self):
        # A generator can only be iterated once: keep reading it across epochs (Keras does).
        if self._iterator is None or self.steps is None:
            self._iterator = iter(self.source)
        for step, element in enumerate(self._iterator):
            yield self._unpack(element)
            if self.steps is not None and step + 1 >= self.steps:
                return

    def _unpack(self, element):
        if isinstance(element, (tuple, list)) and len(element) in (2, 3) and not _is_array_like_row(element):
            x, y = element[0], element[1]
            sw = element[2] if len(element) == 3 else None
        else:
            x, y, sw = element, None, None
        return (
            structure_inputs(self.model, x),
            structure_targets(self.model, y),
            structure_sample_weights(self.model, sw),
        )


def is_iterable_source(x):
    return isinstance(x, (torch.utils.data.DataLoader, torch.utils.data.Dataset)) or (
        hasattr(x, "__next__")
        or (
            hasattr(x, "__iter__")
            and not isinstance(x, (list, tuple, dict, np.ndarray, torch.Tensor))
            and not hasattr(x, "to_numpy")
        )
    )
