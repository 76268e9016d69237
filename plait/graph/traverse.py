"""Walking the DAG once, when a model is built: which nodes run, in what order, at what depth."""

from plait.graph.node import Node, SymbolicTensor
from plait.utils import nest


def map_graph(inputs, outputs):
    """Order the nodes between ``inputs`` and ``outputs``.

    Returns ``(nodes, layers)``: ``nodes`` in an order where every node comes after the nodes
    that feed it (for code generation); ``layers`` in Keras's display order (deepest first,
    ties broken by the order a depth-first walk from the outputs first meets them), which is
    what ``model.operations`` and ``summary()`` show.

    Raises ``ValueError`` when an output needs a tensor that is not among ``inputs`` (graph
    disconnected) or when an input is not used by any output.
    """
    input_nodes = {id(t.node) for t in inputs}
    order = []  # post-order: parents before children
    first_seen = {}  # layer id -> pre-order index (Keras's tie-break)
    visited = set()

    def visit(node, path):
        # One step of a depth-first walk towards the inputs; ``path`` catches cycles.
        if id(node) in visited:
            return
        if id(node) in path:
            raise ValueError("The graph has a cycle; a layer's output feeds back into itself.")
        first_seen.setdefault(id(node.layer), len(first_seen))
        if not node.input_tensors and id(node) not in input_nodes:
            raise ValueError(
                f"Graph disconnected: the model needs the output of "
                f"'{node.layer.name}', an Input that is not among the model's inputs "
                f"{[t.name for t in inputs]}. Pass it in `Model(inputs=...)`."
            )
        if id(node) not in input_nodes:
            for parent in node.parent_nodes:
                visit(parent, path | {id(node)})
        visited.add(id(node))
        order.append(node)

    for tensor in outputs:
        if not isinstance(tensor, SymbolicTensor):
            raise TypeError(
                f"Model outputs must be symbolic tensors (results of calling layers on Inputs). "
                f"Received: {type(tensor).__name__}"
            )
        visit(tensor.node, frozenset())

    # An Input no output uses is allowed, as in Keras: the model takes it and ignores it.

    # Depth: outputs are at depth 0; a node sits one deeper than its deepest consumer.
    depth = {id(n): 0 for n in order}
    for node in reversed(order):
        for parent in node.parent_nodes:
            if id(parent) in depth:
                depth[id(parent)] = max(depth[id(parent)], depth[id(node)] + 1)

    layer_depth = {}
    layers = {}
    for node in order:
        key = id(node.layer)
        layers[key] = node.layer
        layer_depth[key] = max(layer_depth.get(key, 0), depth[id(node)])
    ordered_layers = sorted(layers.values(), key=lambda lay: (-layer_depth[id(lay)], first_seen[id(lay)]))
    return order, ordered_layers


def repeat_calls(outputs, replacements):
    """The graph from ``outputs`` back, with some tensors replaced: every call that reads a
    replaced tensor (directly or through other calls) is repeated, as a new node of the same
    layer, on the replacements; calls that read none are kept as they are.

    What ``Model(inputs=...)`` needs when it is given tensors made by layers (a model from the
    middle of a graph): each such tensor is replaced by a new ``Input``, and the layers between
    it and the outputs (the same layers: the same weights) are called on it. Nothing is
    computed; the new output tensors have the old ones' shapes, dtypes and names.

    Args:
        outputs: flat list of symbolic tensors.
        replacements: ``{id(old tensor): new tensor}``.

    Returns:
        ``(new outputs, new nodes)``: the nodes in creation order (parents first), for their
        layers to record.

    Example:
        >>> import torch
        >>> from plait.graph.node import Node, SymbolicTensor
        >>> def call(layer, x):
        ...     node = Node(layer, (x,), {})
        ...     node.set_outputs(SymbolicTensor(x.shape, torch.float32, layer, node))
        ...     return node.outputs
        >>> x = SymbolicTensor((None, 2), torch.float32, "x")
        >>> h = call("f", x)
        >>> y = call("g", h)
        >>> z = SymbolicTensor((None, 2), torch.float32, "z")
        >>> (y2,), nodes = repeat_calls([y], {id(h): z})
        >>> [n.layer for n in nodes], y2.node.input_tensors == [z], y2 is y
        (['g'], True, False)
    """
    memo = dict(replacements)
    created = []

    def visit(tensor):
        if id(tensor) in memo:
            return memo[id(tensor)]
        node = tensor.node
        fresh = {id(t): visit(t) for t in node.input_tensors}
        if all(fresh[id(t)] is t for t in node.input_tensors):
            copies = node.output_tensors  # reads nothing replaced: the call stays as it is
        else:

            def swap(value):
                return fresh.get(id(value), value) if isinstance(value, SymbolicTensor) else value

            copy = Node(node.layer, nest.map_structure(swap, node.args), nest.map_structure(swap, node.kwargs))
            copies = [
                SymbolicTensor(t.declared_shape, t.torch_dtype, t.name, copy, t.index, t.has_mask)
                for t in node.output_tensors
            ]
            copy.set_outputs(copies[0] if isinstance(node.outputs, SymbolicTensor) else type(node.outputs)(copies))
            created.append(copy)
        for old, new in zip(node.output_tensors, copies):
            memo[id(old)] = new
        return memo[id(tensor)]

    return [visit(t) for t in outputs], created
