"""``model.summary()``: the classic Keras text table (the one the seed tutorial prints)."""

from plait.graph.node import SymbolicTensor


def _shape_text(shapes):
    shapes = [tuple(s) for s in shapes]
    return str(shapes[0]) if len(shapes) == 1 else str(shapes)


def _node_label(tensor):
    layer = tensor.node.layer
    return f"{layer.name}[{layer._inbound_nodes.index(tensor.node)}][{tensor.index}]"


def _is_sequential_like(model):
    if getattr(model, "layer_stack", False):  # a Sequential
        return True
    consumers = {}
    for node in model._nodes:
        if len(node.input_tensors) > 1 or len(node.output_tensors) > 1:
            return False
        for t in node.input_tensors:
            consumers[id(t)] = consumers.get(id(t), 0) + 1
    layers = [n.layer for n in model._nodes]
    return (
        len(set(map(id, layers))) == len(layers) and all(c == 1 for c in consumers.values()) and len(model.outputs) == 1
    )


def print_summary(model, line_length=None, positions=None, print_fn=None, expand_nested=False, show_trainable=False):
    """Print ``model``'s layers, output shapes, parameter counts (and connections for graphs).

    Args:
        line_length: total width (default 65, or 98 with the "Connected to" column).
        positions: column ends, as fractions of ``line_length`` or absolute positions.
        print_fn: function taking one line (default ``print``).
        expand_nested: also list the layers inside nested models, marked with ``|``.
        show_trainable: add a column saying whether each layer is trainable.
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

    def print_layers(m, prefix):
        nodes = m._nodes
        layers = m.operations
        for i, layer in enumerate(layers):
            mine = [n for n in nodes if n.layer is layer]
            shapes = [t.shape for n in mine[:1] for t in n.output_tensors]
            if len({tuple(t.shape for t in n.output_tensors) for n in mine}) > 1:
                shape_text = "multiple"
            else:
                shape_text = _shape_text(shapes) if shapes else "?"
            name = f"{layer.name} ({layer._get_name()})"
            fields = [name, shape_text, layer.count_params()]
            connections = [_node_label(t) for n in mine for t in n.input_tensors if isinstance(t, SymbolicTensor)]
            if not sequential_like:
                fields.append(connections[0] if connections else "")
            if show_trainable:
                fields.append("Y" if layer.trainable else "N")
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

    print_fn(f'Model: "{model.name}"')
    print_fn("_" * line_length)
    print_row(headers)
    print_fn("=" * line_length)
    print_layers(model, "")
    _print_totals(model, print_fn, line_length)


def _print_totals(model, print_fn, line_length):
    total = model.count_params()
    trainable = int(sum(w.numel() for w in model.trainable_weights))
    print_fn(f"Total params: {total:,}")
    print_fn(f"Trainable params: {trainable:,}")
    print_fn(f"Non-trainable params: {total - trainable:,}")
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
    layers = model._sublayers()
    for i, layer in enumerate(layers):
        name = f"{layer.name} ({layer._get_name()})"[: positions[0] - 1]
        print_fn(name.ljust(positions[0]) + "?".ljust(positions[1] - positions[0]) + str(layer.count_params()))
        print_fn(("=" if i == len(layers) - 1 else "_") * line_length)
    _print_totals(model, print_fn, line_length)
