"""Turn a graph into straight-line Python, once, so a call costs what a hand-written forward costs.

For the seed's QA model the generated source reads::

    def forward(call, const, text, question):
        v2 = call[0](text)
        v3 = call[1](question)
        ...
        return v7

``call[i]`` is ``torch.nn.Module.__call__`` bound to the i-th node's layer, so hooks, DDP and
``torch.compile`` see ordinary module calls and no symbolic-tensor checks run per step.
Variables are deleted after their last use, so inference frees activations as it goes.
The source is registered with ``linecache``: tracebacks through a model show these lines.
"""

import keyword
import linecache

import torch

from plait.graph.node import SymbolicTensor


def _identifier(name, used):
    base = "".join(c if c.isalnum() or c == "_" else "_" for c in name) or "x"
    if base[0].isdigit() or keyword.iskeyword(base) or base in ("self", "call", "const"):
        base = f"in_{base}"
    candidate, i = base, 1
    while candidate in used:
        candidate, i = f"{base}_{i}", i + 1
    used.add(candidate)
    return candidate


def _keep_mask(tensor, mask):
    """Set Keras's eager mask on a tensor the graph computed, as Keras's functional models do:
    a layer's own ``call`` may call other layers, which read it (``tensor._keras_mask``)."""
    if mask is not None and not torch.compiler.is_compiling():
        tensor._keras_mask = mask


def generate_forward(inputs, outputs, nodes, logits_nodes=frozenset(), name="forward", return_masks=False):
    """Compile a forward function for the graph.

    Args:
        inputs: the model's input symbolic tensors (become the function's arguments).
        outputs: the model's output symbolic tensors, in order.
        nodes: every non-input node in run order (from :func:`map_graph`).
        logits_nodes: ids of nodes whose layer should return pre-activation logits
            (``layer.call_logits``): the training step's fused softmax/sigmoid cross-entropy.
        name: the function's name, shown in tracebacks.
        return_masks: also return the outputs' Keras masks (None where an output has none):
            the function then returns ``(outputs, masks)``, for masked losses.

    Masks: a tensor that carries one (``tensor.has_mask``) gets a second variable ``mN``; a layer
    receives the masks its ``mask_sources`` names (``mask``, ``query_mask``, ...), and a layer
    whose output carries one computes it with its ``compute_mask`` right after the call.

    Returns:
        ``(fn, source, calls, consts)``: call it as ``fn(calls, consts, *inputs)``.
    """
    used = set()
    input_nodes = {id(t.node) for t in inputs}
    var = {id(t): _identifier(t.name, used) for t in inputs}
    calls, consts, lines = [], [], []

    def render(obj):
        if isinstance(obj, SymbolicTensor):
            return var[id(obj)]
        if isinstance(obj, list):
            return "[" + ", ".join(render(o) for o in obj) + "]"
        if isinstance(obj, tuple):
            return "(" + "".join(render(o) + ", " for o in obj) + ")"
        if isinstance(obj, dict):
            return "{" + ", ".join(f"{k!r}: {render(v)}" for k, v in obj.items()) + "}"
        if obj is None or isinstance(obj, (bool, int, float, str)):
            return repr(obj)
        consts.append(obj)
        return f"const[{len(consts) - 1}]"

    counter = 0
    mvar = {}

    def render_mask(obj):
        if isinstance(obj, SymbolicTensor):
            return mvar.get(id(obj), "None")
        if isinstance(obj, (list, tuple)):
            return "[" + ", ".join(render_mask(o) for o in obj) + "]"
        return "None"

    for node in nodes:
        if id(node) in input_nodes:
            continue
        if id(node) in logits_nodes:
            calls.append(node.layer.call_logits)
        else:
            calls.append(torch.nn.Module.__call__.__get__(node.layer))
        args = ", ".join([render(a) for a in node.args] + [f"{k}={render(v)}" for k, v in node.kwargs.items()])
        masked = bool(node.args) and any(id(t) in mvar for t in node.input_tensors)
        # One mask for a one-input call; a list, one per positional input, otherwise (attention).
        tensor_args = [a for a in node.args if isinstance(a, SymbolicTensor)]
        mask_expr = "None"
        if masked:
            mask_expr = render_mask(node.args[0]) if len(tensor_args) <= 1 else render_mask(tensor_args)
        sources = {}
        if masked and hasattr(node.layer, "mask_sources"):
            sources = node.layer.mask_sources(node.args, node.kwargs)
        for param, source in sources.items():
            # `mask` gets the one mask (or one per positional input, for attention); `<arg>_mask`
            # gets that argument's (Keras's rule, which the layer states).
            args += f", {param}={mask_expr if param == 'mask' else render_mask(source)}"
        expr = f"call[{len(calls) - 1}]({args})"
        for t in node.output_tensors:
            var[id(t)] = f"v{counter}"
            counter += 1
        if isinstance(node.outputs, SymbolicTensor):
            lines.append(f"{var[id(node.outputs)]} = {expr}")
        elif all(isinstance(o, SymbolicTensor) for o in node.outputs):
            lines.append(", ".join(var[id(o)] for o in node.outputs) + f", = {expr}")
        else:
            raise TypeError(
                f"Layer '{node.layer.name}' returned a nested structure; a layer in a graph "
                "must return a tensor or a flat list/tuple of tensors."
            )
        first = node.output_tensors[0]
        if first.has_mask:
            calls.append(node.layer.compute_mask)
            mvar[id(first)] = f"m{var[id(first)][1:]}"
            lines.append(f"{mvar[id(first)]} = call[{len(calls) - 1}]({render(node.args[0])}, {mask_expr})")
            if _keep_mask not in calls:
                calls.append(_keep_mask)
            lines.append(f"call[{calls.index(_keep_mask)}]({var[id(first)]}, {mvar[id(first)]})")
        lines.append(("#uses", node))

    # Delete each variable after its last use (outputs are kept to the end).
    keep = {var[id(t)] for t in outputs} | {var[id(t)] for t in inputs}
    last_use = {}
    for i, line in enumerate(lines):
        if isinstance(line, tuple):
            for t in line[1].input_tensors:
                last_use[var[id(t)]] = i
    body = []
    for i, line in enumerate(lines):
        if isinstance(line, tuple):
            dead = sorted(v for v, j in last_use.items() if j == i and v not in keep)
            if dead:
                body.append("del " + ", ".join(dead))
        else:
            body.append(line)

    result = ", ".join(var[id(t)] for t in outputs)
    if len(outputs) > 1:
        result = f"({result})"
    if return_masks:
        values = "".join(var[id(t)] + ", " for t in outputs)
        masks = "".join(mvar.get(id(t), "None") + ", " for t in outputs)
        result = f"({values}), ({masks})"
    args = ", ".join(var[id(t)] for t in inputs)
    source = (
        "\n".join([f"def {name}(call, const, {args}):"] + ["    " + line for line in body] + [f"    return {result}"])
        + "\n"
    )
    filename = f"<plait generated {name} {id(source):x}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = {}
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - our own generated code
    return namespace[name], source, calls, consts
