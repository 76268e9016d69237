"""Walking the DAG once, when a model is built: which nodes run, in what order, at what depth."""

from plait.graph.node import SymbolicTensor


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
