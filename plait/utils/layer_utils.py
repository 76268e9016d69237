"""``get_source_inputs``: the ``Input`` tensors a symbolic tensor was computed from.

Example:
    >>> import plait
    >>> a, b = plait.Input((3,)), plait.Input((3,))
    >>> out = plait.layers.Dense(2)(plait.layers.Add()([a, b]))
    >>> [t is s for t, s in zip(plait.utils.get_source_inputs(out), (a, b))]
    [True, True]
"""


def get_source_inputs(tensor):
    """The graph inputs (``plait.Input`` tensors) ``tensor`` depends on, each once, in the
    order they are first reached; a tensor that is an input gives ``[tensor]``.

    Args:
        tensor: a symbolic tensor of the functional API.
    """
    if not hasattr(tensor, "node"):
        raise TypeError(f"get_source_inputs expects a symbolic tensor (from plait.Input). Received: {tensor!r}")
    sources, seen, stack = [], set(), [tensor]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        parents = list(getattr(current.node, "input_tensors", None) or [])
        if not parents:
            sources.append(current)
        stack.extend(reversed(parents))  # depth first, left to right
    return sources
