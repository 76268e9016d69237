"""``model.summary()``: the classic Keras text table (the one the seed tutorial prints), closed
by Keras 3's lines: total, trainable and non-trainable parameters with their memory, and the
optimizer's parameters once it has state.

Example:
    >>> import plait
    >>> inputs = plait.Input(shape=(64,))
    >>> model = plait.Model(inputs, plait.layers.Dense(10)(inputs))
    >>> lines = []
    >>> model.summary(print_fn=lines.append)
    >>> lines[-4:-1]
    ['Total params: 650 (2.54 KB)', 'Trainable params: 650 (2.54 KB)', 'Non-trainable params: 0 (0.00 B)']
"""

import re

from plait.graph.node import SymbolicTensor


def _shape_text(shapes):
    shapes = [tuple(s) for s in shapes]
    return str(shapes[0]) if len(shapes) == 1 else str(shapes)


def _node_label(tensor):
    layer = tensor.node.layer
    return f"{layer.name}[{layer.inbound_nodes.index(tensor.node)}][{tensor.index}]"


def _is_sequential_like(model):
    if getattr(model, "layer_stack", False):  # a Sequential
        return True
    consumers = {}
    for node in model.graph_nodes:
        if len(node.input_tensors) > 1 or len(node.output_tensors) > 1:
            return False
        for t in node.input_tensors:
            consumers[id(t)] = consumers.get(id(t), 0) + 1
    layers = [n.layer for n in model.graph_nodes]
    return (
        len(set(map(id, layers))) == len(layers) and all(c == 1 for c in consumers.values()) and len(model.outputs) == 1
    )


def layer_index_range(layers, layer_range):
    """``[start, stop)`` of the layers ``layer_range`` selects.

    Args:
        layers: the model's layers, in order.
        layer_range: None (all layers), or two name patterns (``re.match``, so a plain name works):
            the first layer matching the first and the last layer matching the second, both
            included (swapped if the second comes first).
    """
    if layer_range is None:
        return 0, len(layers)
    if not isinstance(layer_range, (list, tuple)) or len(layer_range) != 2:
        raise ValueError(f"summary: layer_range must be two layer names, (first, last). Received: {layer_range!r}")
    if not all(isinstance(name, str) for name in layer_range):
        raise ValueError(f"summary: layer_range must hold two strings (names or patterns). Received: {layer_range!r}")
    first = [i for i, layer in enumerate(layers) if re.match(layer_range[0], layer.name)]
    last = [i for i, layer in enumerate(layers) if re.match(layer_range[1], layer.name)]
    if not first or not last:
        missing = layer_range[0] if not first else layer_range[1]
        names = [layer.name for layer in layers]
        raise ValueError(f"summary: no layer matches {missing!r} of layer_range={layer_range!r}. Layers: {names}")
    if min(first) > max(last):
        return min(last), max(first) + 1
    return min(first), max(last) + 1


def print_summary(
    model,
    line_length=None,
    positions=None,
    print_fn=None,
    expand_nested=False,
    show_trainable=False,
    layer_range=None,
):
    """Print ``model``'s layers, output shapes, parameter counts (and connections for graphs).

    Args:
        line_length: total width (default 65, or 98 with the "Connected to" column).
        positions: column ends, as fractions of ``line_length`` or absolute positions.
        print_fn: function taking one line (default ``print``).
        expand_nested: also list the layers inside nested models, marked with ``|``.
        show_trainable: add a column saying whether each layer is trainable (``Y``/``N``; ``-``
            for a layer without weights), as Keras does.
        layer_range: two layer names or ``re.match`` patterns, the first and last layer to list
            (default: all). The totals stay the whole model's.
    """
    print_fn = print_fn or print
    if not getattr(model, "built", False) or not hasattr(model, "_nodes"):
        _print_subclassed(model, print_fn, line_length or 65)
        return
    sequential_like = _is_sequential_like(model)
    if sequential_like:
        line_length = line_length or 65
        positions = positions or [0.45, 0.85, 1.0]
        headers = ["Layer (type)", "Output Shape", "Param #"]
    else:
        line_length = line_length or 98
        positions = positions or [0.33, 0.55, 0.67, 1.0]
        headers = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
    if positions[-1] <= 1:
        positions = [int(line_length * p) for p in positions]
    if show_trainable:
        line_length += 11
        positions = positions + [line_length]
        headers = headers + ["Trainable"]

    def print_row(fields, prefix=""):
        line = ""
        for i, field in enumerate(fields):
            if i > 0:
                line = line[:-1] + " "
            line += (prefix if i == 0 else "") + str(field)
            line = line[: positions[i]]
            line += " " * (positions[i] - len(line))
        print_fn(line)

    def print_layers(m, prefix, selected=None):
        nodes = m.graph_nodes
        layers = m.operations if selected is None else m.operations[selected[0] : selected[1]]
        for i, layer in enumerate(layers):
            mine = [n for n in nodes if n.layer is layer]
            shapes = [t.shape for n in mine[:1] for t in n.output_tensors]
            if len({tuple(t.shape for t in n.output_tensors) for n in mine}) > 1:
                shape_text = "multiple"
            else:
                shape_text = _shape_text(shapes) if shapes else "?"
            name = f"{layer.name} ({layer.type_name()})"
            fields = [name, shape_text, layer.count_params()]
            connections = [_node_label(t) for n in mine for t in n.input_tensors if isinstance(t, SymbolicTensor)]
            if not sequential_like:
                fields.append(connections[0] if connections else "")
            if show_trainable:
                fields.append(("Y" if layer.trainable else "N") if layer.weights else "-")
            print_row(fields, prefix)
            for extra in connections[1:] if not sequential_like else []:
                print_row(["", "", "", extra] + ([""] if show_trainable else []), prefix)
            if expand_nested and hasattr(layer, "_nodes"):
                print_fn(prefix + "|" + "¯" * (line_length - len(prefix) - 2) + "|")
                print_layers(layer, prefix + "| ")
                print_fn(prefix + "¯" * (line_length - len(prefix)))
            last = i == len(layers) - 1
            if not prefix:
                print_fn(("=" if last else "_") * line_length)

    selected = layer_index_range(model.operations, layer_range)
    print_fn(f'Model: "{model.name}"')
    print_fn("_" * line_length)
    print_row(headers)
    print_fn("=" * line_length)
    print_layers(model, "", selected)
    _print_totals(model, print_fn, line_length)


def readable_size(num_bytes):
    """``num_bytes`` in binary units, two decimals: ``readable_size(13864)`` is ``'13.54 KB'``."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if num_bytes < 1024:
            return f"{num_bytes:.2f} {unit}"
        num_bytes /= 1024
    return f"{num_bytes:.2f} PB"


def _count_and_bytes(tensors):
    unique = {id(t): t for t in tensors}.values()  # a shared weight counts once
    return sum(t.numel() for t in unique), sum(t.numel() * t.element_size() for t in unique)


def optimizer_size(optimizer):
    """``(count, bytes)`` of an optimizer's state as Keras counts its variables: the slots, the
    step counter (int32) and the learning rate (float32) unless a schedule sets it; None until
    the optimizer has state (its first step)."""
    params = getattr(optimizer, "params", None)
    if params is None:
        return None
    slots = optimizer.slots_for(range(len(params)))
    count, size = _count_and_bytes([t for tensors in slots.values() for t in tensors])
    count, size = count + 1, size + 4  # iterations (int32 in Keras)
    if isinstance(optimizer.get_config().get("learning_rate"), (int, float)):  # a schedule is no variable in Keras
        count, size = count + 1, size + 4
    return count, size


def _print_totals(model, print_fn, line_length):
    trainable, trainable_bytes = _count_and_bytes(model.trainable_weights)
    frozen, frozen_bytes = _count_and_bytes(model.non_trainable_weights)
    optimizer = optimizer_size(getattr(model, "optimizer", None))
    extra, extra_bytes = optimizer or (0, 0)
    # Keras 3's total includes the optimizer's state: what the model holds in memory.
    print_fn(
        f"Total params: {trainable + frozen + extra:,} ({readable_size(trainable_bytes + frozen_bytes + extra_bytes)})"
    )
    print_fn(f"Trainable params: {trainable:,} ({readable_size(trainable_bytes)})")
    print_fn(f"Non-trainable params: {frozen:,} ({readable_size(frozen_bytes)})")
    if optimizer is not None:
        print_fn(f"Optimizer params: {extra:,} ({readable_size(extra_bytes)})")
    print_fn("_" * line_length)
    balancer = getattr(model, "loss_balancer", None)
    if balancer is not None and balancer.adaptive:  # plait's own addition: which balancer sets loss_weights
        print_fn(f"Loss balancing: {balancer!r}")


def _print_subclassed(model, print_fn, line_length):
    """A subclassed model has no graph: list its sublayers and their parameter counts."""
    positions = [int(line_length * p) for p in (0.45, 0.85, 1.0)]
    print_fn(f'Model: "{model.name}"')
    print_fn("_" * line_length)
    header = "Layer (type)".ljust(positions[0]) + "Output Shape".ljust(positions[1] - positions[0]) + "Param #"
    print_fn(header)
    print_fn("=" * line_length)
    layers = model.operations
    for i, layer in enumerate(layers):
        name = f"{layer.name} ({layer.type_name()})"[: positions[0] - 1]
        # As Keras: a layer that has not seen data yet has no weights and says so.
        params = str(layer.count_params()) if layer.built else "0 (unbuilt)"
        print_fn(name.ljust(positions[0]) + "?".ljust(positions[1] - positions[0]) + params)
        print_fn(("=" if i == len(layers) - 1 else "_") * line_length)
    _print_totals(model, print_fn, line_length)
