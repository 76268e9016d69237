"""Checks at the door: data that cannot fit the model fails before the first step, naming the
input or output, the expected and the received shape.

They run once per data source (when ``fit``/``evaluate``/``predict`` start, and on the first
batch of a generator) and on ``model(x)``; they read shapes and dtypes, and the labels of a
sparse categorical loss once on the host, so a step pays nothing for them.

Inputs are converted as Keras's functional models convert them: to the ``Input``'s dtype
(``uint8`` images and ``bool`` masks become ``float32``), and a rank off by one trailing
dimension of size 1 is squeezed or expanded (Keras's ``_adjust_input_rank``).

Example:
    >>> import numpy as np, plait
    >>> inputs = plait.Input((4,))
    >>> model = plait.Model(inputs, plait.layers.Dense(2)(inputs))
    >>> model.predict(np.zeros((3, 5)), verbose=0)
    Traceback (most recent call last):
    ...
    ValueError: Input 'input_layer...' of model 'functional...' is incompatible ... (axis -1 is 5, expected 4).
"""

import torch

from plait import losses as losses_module
from plait.training import heads
from plait.utils import nest


def conform_input(value, spec, model_name, where="Input", accepts=None):
    """``value`` (a tensor) in the dtype and rank of the model input ``spec`` (a symbolic tensor),
    or a ValueError naming the input, its expected and the received shape. ``accepts``: the
    model's ``accepts_input_shape`` where sizes other than the Input's may still fit its layers (a
    Sequential's, as Keras's Sequential leaves the sizes to its layers): it raises ValueError
    when they do not."""
    if not isinstance(value, torch.Tensor):
        return value
    if value.is_complex() and not spec.torch_dtype.is_complex:
        raise TypeError(
            f"{where} '{spec.name}' of model '{model_name}' expects {spec.dtype} data. Received: dtype={value.dtype}"
        )
    if value.dtype != spec.torch_dtype:
        value = value.to(spec.torch_dtype)
    shape = tuple(spec.shape)
    if value.dim() == len(shape) + 1 and value.shape[-1] == 1 and len(shape) > 1:
        value = value.squeeze(-1)
    elif value.dim() == len(shape) - 1 and shape[-1] == 1:
        value = value.unsqueeze(-1)
    got = tuple(value.shape)
    bad = None
    if len(got) != len(shape):
        bad = f"expected rank {len(shape)}, got rank {len(got)}"
    else:
        for axis, (want, have) in enumerate(zip(shape[1:], got[1:]), start=1):
            if want is not None and want != have:
                bad = f"axis {axis - len(shape)} is {have}, expected {want}"
                break
        if bad is not None and accepts is not None:
            try:
                accepts(got)
                bad = None
            except ValueError as error:
                bad = f"{bad}: {error}"
    if bad is not None:
        raise ValueError(
            f"{where} '{spec.name}' of model '{model_name}' is incompatible with the data: expected shape "
            f"{shape}, but received input with shape {got} ({bad})."
        )
    return value


def conform_inputs(model, xs, where="Input"):
    """The input list ``xs`` converted and checked against ``model.inputs`` (graph models only;
    a subclassed model takes whatever its ``call`` takes)."""
    specs = getattr(model, "inputs", None) if model.has_graph else None
    if not specs or len(specs) != len(xs):
        return xs
    accepts = model.accepts_input_shape
    return [conform_input(x, s, model.name, where, accepts) for x, s in zip(xs, specs)]


def check_targets(model, ys, sws, where="Target", device_labels=True):
    """Targets and sample weights against the outputs and their losses: shapes that cannot
    broadcast against the output, class labels outside ``[0, classes)``, sample weights with
    more than the target's dimensions. ``ys``/``sws``: lists in output order (None allowed).
    ``device_labels=False`` checks the labels only when they are on the host (no device sync)."""
    shapes = model.output_shapes if model.has_graph else None
    output_heads = getattr(model, "_heads", None) or [None] * len(ys)
    names = model.output_names
    for i, (y, sw) in enumerate(zip(ys, sws)):
        name = names[i] if i < len(names) else str(i)
        if isinstance(y, torch.Tensor) and y.is_complex():
            raise TypeError(f"{where} '{name}' must be real numbers. Received: dtype={y.dtype}")
        if shapes is not None and isinstance(y, torch.Tensor) and i < len(shapes):
            head = output_heads[i] if i < len(output_heads) else None
            _check_target(name, head, y, tuple(shapes[i]), where, device_labels or y.device.type == "cpu")
        if isinstance(sw, torch.Tensor):
            _check_sample_weight(name, y, sw)


def _check_target(name, head, y, shape, where, labels=True):
    loss = None if head is None else head.loss
    if loss is not None:
        heads.check_target(head, y, shape)  # the loss-specific messages (one-hot vs labels)
    sparse = isinstance(loss, losses_module.SparseCategoricalCrossentropy)
    if sparse:
        ok_rank = y.dim() in (len(shape) - 1, len(shape)) and (y.dim() == len(shape) - 1 or y.shape[-1] == 1)
        if not ok_rank:
            raise ValueError(
                f"{where} '{name}' for sparse_categorical_crossentropy must be class indices of shape "
                f"{(None, *shape[1:-1])} (or with a trailing 1), for output shape {shape}. "
                f"Received: targets of shape {tuple(y.shape)}"
            )
        if labels:
            bad = label_range_error(head, y, shape[-1], where)
            if bad is not None:
                raise bad
        return
    if loss is None and head is not None:
        return
    rank_y = y.dim()
    if rank_y == len(shape) - 1 and shape[-1] == 1:
        rank_y, tail = len(shape), (*y.shape[1:], 1)
    else:
        tail = tuple(y.shape[1:])
    if rank_y != len(shape):
        if rank_y > len(shape) or rank_y < 1:
            raise ValueError(
                f"{where} '{name}' has shape {tuple(y.shape)}, which does not fit output '{name}' of shape {shape}."
            )
        return  # a lower rank broadcasts (Keras's losses decide)
    for want, have in zip(shape[1:], tail):
        # Shapes that broadcast are Keras's to compute (an output of size 1 against wider targets too).
        if want is not None and have not in (1, want) and want != 1:
            raise ValueError(
                f"{where} '{name}' has shape {tuple(y.shape)}, which does not fit output '{name}' of shape {shape}."
            )


def label_range_error(head, y, classes, where="Target"):
    """A ValueError naming the output, its loss and the received label range when ``y`` holds
    class labels outside ``[0, classes)`` for ``head``'s sparse categorical loss (Keras has no
    ignored label but ``ignore_class``; torch's ``-100`` is an error too); else None."""
    loss = head.loss
    if not isinstance(loss, losses_module.SparseCategoricalCrossentropy) or classes is None or not y.numel():
        return None
    ignore = loss.fn_kwargs.get("ignore_class")
    values = y if ignore is None else y[y != ignore]
    if not values.numel():
        return None
    low, high = (v.item() for v in torch.aminmax(values))
    if low >= 0 and high < classes:
        return None
    bad = low if low < 0 else high
    return ValueError(
        f"{where} '{head.name}' has class label {bad:g} outside [0, {classes}) for loss '{loss.name}': output "
        f"'{head.name}' has {classes} classes. Received labels in [{low:g}, {high:g}]."
    )


def _check_sample_weight(name, y, sw):
    if sw.dim() == 0:
        raise ValueError(f"`sample_weight` for output '{name}' must have one weight per sample. Received a scalar.")
    if y is not None and isinstance(y, torch.Tensor) and y.dim() >= 1:
        if sw.dim() > max(y.dim(), 1) or tuple(sw.shape[1:]) not in (
            tuple(y.shape[1 : sw.dim()]),
            (1,) * (sw.dim() - 1),
        ):
            if not (sw.dim() == 2 and sw.shape[1] == 1):
                raise ValueError(
                    f"`sample_weight` for output '{name}' has shape {tuple(sw.shape)}, which does not fit its "
                    f"targets of shape {tuple(y.shape)}: pass one weight per sample, shape ({y.shape[0]},)."
                )


def check_class_weight(class_weight, model, ys):
    """``class_weight``: numbers keyed by classes the output has."""
    shapes = model.output_shapes if model.has_graph else None
    classes = None
    if shapes:
        classes = shapes[0][-1]
        if classes == 1:
            classes = 2  # a sigmoid output: classes 0 and 1
    for k, w in class_weight.items():
        if isinstance(k, bool) or not isinstance(k, (int,)) and not (hasattr(k, "is_integer") and k.is_integer()):
            raise ValueError(f"`class_weight` keys must be integer class indices. Received: class_weight key {k!r}")
        if isinstance(w, bool) or not isinstance(w, (int, float)) and not hasattr(w, "__float__"):
            raise TypeError(f"`class_weight` values must be numbers. Received: class_weight[{k!r}]={w!r}")
        if classes is not None and not 0 <= int(k) < classes:
            raise ValueError(
                f"`class_weight` names class {k}, but output '{model.output_names[0]}' has {classes} classes "
                f"(0 to {classes - 1}). Received: class_weight={class_weight}"
            )


def check_not_empty(xs, where):
    """A source with zero samples cannot train, evaluate or predict."""
    for x in xs:
        for leaf in nest.flatten(x):
            if isinstance(leaf, torch.Tensor) and leaf.dim() and leaf.shape[0] == 0:
                raise ValueError(f"{where} is empty: received input with shape {tuple(leaf.shape)} (0 samples).")
