"""Data adapters: what users pass to ``fit``/``evaluate``/``predict``, as batches of tensors.

Arrays (numpy, torch, pandas, lists or dicts of them) become tensors once, without copies
where the dtype allows; each epoch shuffles with one gather per array and slices batches as
views. ``torch.utils.data`` datasets and loaders and Python generators are iterated as given.

Every batch is a :class:`Batch`: the lists in input / output order that the built-in steps
use, and, for a custom ``train_step``, the same tensors in the structure the user passed
(``batch.data()``: ``(x, y)`` or ``(x, y, sample_weight)`` or ``x``, as Keras hands them).
"""

import math

import numpy as np
import torch

from plait.distribution import collectives
from plait.training import checks
from plait.utils import array_to_tensor, nest


def to_tensor(value, what):
    """One array-like -> tensor (float64 becomes float32, as Keras casts to floatx)."""
    if hasattr(value, "to_numpy") and not isinstance(value, torch.Tensor):  # pandas
        value = value.to_numpy()
    if isinstance(value, torch.Tensor):
        tensor = value
    else:
        try:
            array = np.asarray(value)
        except ValueError as error:  # numpy refuses ragged nesting
            raise ValueError(f"{what} could not be converted to an array: {error}") from None
        if array.dtype == object or array.dtype.kind in "USV":
            raise TypeError(f"{what} could not be converted to a numeric array (dtype={array.dtype}).")
        tensor = array_to_tensor(array)
    if tensor.dtype == torch.float64:
        tensor = tensor.float()
    if tensor.dim() == 0:
        raise ValueError(f"{what} must have a batch dimension. Received a scalar.")
    return tensor


def _kind(value):
    if isinstance(value, dict):
        return "dict"
    if isinstance(value, (list, tuple)) and not _is_array_like_row(value):
        return "list"
    return "single"


def structure_kinds(model, x, y, sample_weight, weighted=False):
    """How the user gave ``x``, ``y`` and ``sample_weight``: ``"single"``, ``"list"`` or
    ``"dict"`` each (None where absent; ``weighted``: class weights make sample weights), so a
    custom step's ``data`` can be handed back in that structure (:meth:`Batch.data`). A
    subclassed model's input is always one structure, passed through as it came."""
    return (
        _kind(x) if model.has_graph else "single",
        None if y is None else _kind(y),
        None if sample_weight is None and not weighted else _kind(sample_weight),
    )


def structure_inputs(model, x):
    """``x`` -> list of tensors in the model's input order."""
    names = model.input_names
    if not model.has_graph and (isinstance(x, dict) or (isinstance(x, (list, tuple)) and not _is_array_like_row(x))):
        # A subclassed model's call takes whatever structure it was given (as Keras's does).
        return [nest.map_structure(lambda v: to_tensor(v, "Input data"), x)]
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
        if len(names) == 1 and len(x) > 1 and all(isinstance(r, (list, tuple)) for r in x):
            lengths = {len(r) for r in x}
            if len(lengths) > 1:
                raise ValueError(
                    f"Input '{names[0]}' of model '{model.name}' is a ragged list: its rows have lengths "
                    f"{sorted(lengths)}. Pad the rows to one length (plait.utils.pad_sequences) first."
                )
            x = [x]
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
    # As Keras: fewer targets than outputs go, in order, to the outputs that have a loss.
    trained = list(getattr(model, "loss_output_names", names))
    if isinstance(y, (list, tuple)) and not _is_array_like_row(y):
        if len(y) != len(names) and len(y) == len(trained):
            given = dict(zip(trained, y))
            return [None if given.get(n) is None else to_tensor(given[n], f"Target '{n}'") for n in names]
        if len(y) != len(names):
            raise ValueError(
                f"Model '{model.name}' has {len(names)} output(s) {names}, but {len(y)} target arrays were given."
            )
        return [None if v is None else to_tensor(v, f"Target '{n}'") for v, n in zip(y, names)]
    if len(names) != 1 and len(trained) == 1:
        return [to_tensor(y, f"Target '{n}'") if n == trained[0] else None for n in names]
    if len(names) != 1:
        raise ValueError(
            f"Model '{model.name}' has {len(names)} outputs {names}; pass targets as a list in output "
            "order or a dict keyed by output name."
        )
    return [to_tensor(y, f"Target '{names[0]}'")]


def structure_sample_weights(model, sample_weight):
    """``sample_weight`` -> list (output order) of float tensors or None."""
    names = model.output_names
    if sample_weight is None:
        return [None] * len(names)
    if isinstance(sample_weight, dict):
        unknown = [k for k in sample_weight if k not in names]
        if unknown:
            raise ValueError(
                f"`sample_weight` keys {unknown} match no output of model '{model.name}'. Valid output names: {names}"
            )
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
    """The number of samples, or a clear error when the arrays disagree."""
    counts = {}
    for name, t in zip(input_names, xs):
        for leaf in nest.flatten(t):
            counts[f"input '{name}'"] = len(leaf)
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


class Batch:
    """One batch: ``xs``/``ys``/``sws`` lists in input and output order, and the structure the
    user gave (``kinds``: ``"single"``, ``"list"`` or ``"dict"`` for x, y and sample_weight, or
    None where absent) to hand a custom step Keras's ``data``."""

    __slots__ = ("xs", "ys", "sws", "kinds", "names")

    def __init__(self, xs, ys, sws, kinds, names):
        self.xs, self.ys, self.sws, self.kinds, self.names = xs, ys, sws, kinds, names

    def lists(self):
        """``(xs, ys, sws)``: what the built-in steps take."""
        return self.xs, self.ys, self.sws

    def data(self):
        """Keras's ``data``: ``(x, y, sample_weight)`` without the trailing Nones, ``x`` alone
        (or ``(x,)`` when ``x`` is a list) without targets."""
        x_kind, y_kind, sw_kind = self.kinds
        input_names, output_names = self.names
        x = pack_structure(x_kind, self.xs, input_names)
        y = pack_structure(y_kind, self.ys, output_names)
        sw = pack_structure(sw_kind, self.sws, output_names)
        if y is None and sw is None:
            return (x,) if isinstance(x, list) else x
        return (x, y) if sw is None else (x, y, sw)

    def to(self, device):
        """This batch on ``device`` (a no-op on the CPU)."""
        if device.type == "cpu":
            return self
        move = lambda ts: [  # noqa: E731
            None if t is None else nest.map_structure(lambda v: v.to(device, non_blocking=True), t) for t in ts
        ]
        return Batch(move(self.xs), move(self.ys), move(self.sws), self.kinds, self.names)

    def __len__(self):
        leaf = nest.flatten(self.xs[0])[0] if self.xs else None
        return 0 if leaf is None else leaf.shape[0]


def pack_structure(kind, tensors, names):
    """``tensors`` (a list in input or output order) back in the structure ``kind`` names."""
    if kind is None or all(t is None for t in tensors):
        return None
    if kind == "dict":
        return {n: t for n, t in zip(names, tensors) if t is not None}
    if kind == "list":
        return list(tensors)
    return tensors[0]


class ArrayBatches:
    """Batches over in-memory tensors, shuffled per epoch if asked."""

    def __init__(self, xs, ys, sws, batch_size, shuffle, kinds=("single", None, None), names=((), ())):
        self.xs, self.ys, self.sws = xs, ys, sws
        self.n = len(nest.flatten(xs[0])[0])
        self.batch_size, self.shuffle = batch_size, shuffle
        self.kinds, self.names = kinds, names

    @property
    def num_batches(self):
        return math.ceil(self.n / self.batch_size)

    def __iter__(self):
        xs, ys, sws = self.xs, self.ys, self.sws
        if self.shuffle:
            order = collectives.same_on_all(torch.randperm(self.n))  # one permutation for all processes
            take = lambda ts: [  # noqa: E731
                None if t is None else nest.map_structure(lambda v: v.index_select(0, order), t) for t in ts
            ]
            xs, ys, sws = take(xs), take(ys), take(sws)
        for start in range(0, self.n, self.batch_size):
            end = start + self.batch_size
            cut = lambda ts: [None if t is None else nest.map_structure(lambda v: v[start:end], t) for t in ts]  # noqa: E731,B023
            yield Batch(cut(xs), cut(ys), cut(sws), self.kinds, self.names)


class IterableBatches:
    """Batches from a ``DataLoader``, a dataset, a generator, or any iterable of
    ``x``, ``(x, y)`` or ``(x, y, sample_weight)``.

    Each ``iter()`` is one pass over the source (a generator, which cannot restart, yields
    nothing more after its first). How many batches of a pass an epoch takes is the
    :class:`~plait.training.epoch_iterator.EpochIterator`'s business (``steps_per_epoch``).
    """

    def __init__(self, model, source):
        self.model, self.source = model, source
        self._checked = False
        self._seen = 0  # batches read in the current pass (named in error messages)

    @property
    def num_batches(self):
        """Batches per pass: the source's length, or None (unknown)."""
        try:
            return len(self.source)
        except TypeError:
            return None

    def __iter__(self):
        self._seen = 0
        for element in self.source:
            yield self._unpack(element)
            self._seen += 1
        if self._seen == 0 and not self._checked:
            # Nothing ever came (a later pass of a generator is empty by nature): as Keras, say so
            # rather than train on nothing.
            raise ValueError(
                f"The data source ({type(self.source).__name__}) yielded no batch: a generator or dataset must "
                "yield at least one `x`, `(x, y)` or `(x, y, sample_weight)`. Received an empty one."
            )

    def _unpack(self, element):
        if isinstance(element, tuple) and len(element) > 3:
            raise ValueError(
                "Each element of a dataset or generator must be `x`, `(x,)`, `(x, y)` or `(x, y, sample_weight)`. "
                f"Received a tuple of {len(element)} elements: {tuple(type(e).__name__ for e in element)}"
            )
        if element is None:
            raise ValueError("A dataset or generator yielded None; each element must be `x`, `(x, y)` or `(x, y, w)`.")
        if isinstance(element, (tuple, list)) and len(element) in (2, 3) and not _is_array_like_row(element):
            x, y = element[0], element[1]
            sw = element[2] if len(element) == 3 else None
        elif isinstance(element, (tuple, list)) and len(element) == 1:
            x, y, sw = element[0], None, None
        else:
            x, y, sw = element, None, None
        model = self.model
        model.ensure_built(x)
        kinds = structure_kinds(model, x, y, sw)
        xs, ys, sws = structure_inputs(model, x), structure_targets(model, y), structure_sample_weights(model, sw)
        # Every batch is checked and converted as the first: shapes, Keras's dtype cast, and the
        # class labels of a sparse loss while they are on the host (a min and a max: a few
        # microseconds; labels already on an accelerator are checked on the first batch only).
        try:
            xs = checks.conform_inputs(model, xs, "Input")
            checks.check_targets(model, ys, sws, device_labels=not self._checked)
        except ValueError as error:
            if not self._checked:
                raise
            raise ValueError(f"Batch {self._seen} of the dataset or generator: {error}") from None
        self._checked = True
        return Batch(xs, ys, sws, kinds, (model.input_names, model.output_names))


def is_iterable_source(x):
    """Whether ``x`` is read by iterating (a dataset, loader or generator), not sliced."""
    if isinstance(x, (str, bytes)):
        raise TypeError(f"Unrecognized data type: x={x!r:.60} (of type str). Pass arrays, tensors or a dataset.")
    return isinstance(x, (torch.utils.data.DataLoader, torch.utils.data.Dataset)) or (
        hasattr(x, "__next__")
        or (
            hasattr(x, "__iter__")
            and not isinstance(x, (list, tuple, dict, np.ndarray, torch.Tensor))
            and not hasattr(x, "to_numpy")
        )
    )
