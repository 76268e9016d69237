"""Models <-> JSON: a model's config is its graph (a functional model) or its layer list (a
Sequential), so models install how they are written and rebuilt into
:mod:`plait.layers.serialization` (``register_graph_serialization``), and name their classes
as loadable built-ins. ``plait.saving`` then reads and writes models without importing them.

A functional model is stored as its layers plus its nodes in run order. Each node names its
layer and its arguments, where a tensor is ``{"node": i, "index": k}`` (output ``k`` of the
``i``-th node) so rebuilding is one pass over the list, calling each layer on symbolic tensors.
"""

from plait.graph.node import SymbolicTensor
from plait.layers.input_layer import InputLayer
from plait.layers.serialization import (
    layer_from_config,
    layer_to_config,
    register_builtin_classes,
    register_graph_serialization,
)
from plait.models.functional import Functional, Model
from plait.models.sequential import Sequential
from plait.ops import Operation
from plait.utils import nest


# ---------------------------------------------------------------- models
def model_to_config(model):
    if isinstance(model, Sequential):
        shape = model._known_input_shape()
        return {
            "name": model.name,
            "layers": [layer_to_config(layer) for layer in model.layers],
            "input": None if shape is None else {"batch_shape": list(shape), "dtype": str(model._input_dtype())[6:]},
        }
    position = {id(node): i for i, node in enumerate(model._nodes)}

    def ref(value):
        if isinstance(value, SymbolicTensor):
            return {"node": position[id(value.node)], "index": value.index}
        return value

    nodes = [
        {
            "layer": node.layer.name,
            "args": nest.map_structure(ref, list(node.args)),
            "kwargs": nest.map_structure(ref, node.kwargs),
        }
        for node in model._nodes
    ]
    return {
        "name": model.name,
        "layers": [layer_to_config(layer) for layer in model.layers],
        "graph": nodes,
        "inputs": _structure(model._input_struct, ref),
        "outputs": _structure(model._output_struct, ref),
    }


def _structure(struct, fn):
    return nest.map_structure(fn, struct if not isinstance(struct, tuple) else list(struct))


def _map_refs(fn, obj):
    """Like ``nest.map_structure``, but a tensor reference ``{"node": i, "index": k}`` is a leaf."""
    if isinstance(obj, dict) and set(obj) == {"node", "index"}:
        return fn(obj)
    if isinstance(obj, list):
        return [_map_refs(fn, o) for o in obj]
    if isinstance(obj, dict):
        return {k: _map_refs(fn, v) for k, v in obj.items()}
    return obj


def model_from_config(config, custom_objects=None, cls=None):
    if cls is Sequential or ("graph" not in config and "layers" in config):
        model = Sequential(name=config.get("name"))
        if config.get("input"):
            model.add(InputLayer(batch_shape=config["input"]["batch_shape"], dtype=config["input"]["dtype"]))
        for spec in config["layers"]:
            model.add(layer_from_config(spec, custom_objects))
        return model
    by_name = {}
    for spec in config["layers"]:
        layer = layer_from_config(spec, custom_objects)
        by_name[layer.name] = layer
    produced = []

    def deref(ref):
        try:
            return produced[ref["node"]][ref["index"]]
        except (IndexError, TypeError):
            raise ValueError(f"The graph refers to tensor {ref}, which no earlier node produces.") from None

    for entry in config["graph"]:
        layer = by_name.get(entry["layer"])
        if layer is None:
            raise ValueError(f"The graph names layer '{entry['layer']}', which the file does not define.")
        if isinstance(layer, InputLayer):
            produced.append([layer.output])
            continue
        args = _map_refs(deref, entry["args"])
        kwargs = _map_refs(deref, entry["kwargs"])
        out = layer(*args, **kwargs)
        produced.append(nest.flatten(out))
    inputs = _map_refs(deref, config["inputs"])
    outputs = _map_refs(deref, config["outputs"])
    return Functional(inputs, outputs, name=config.get("name"))


register_builtin_classes(
    {
        "Functional": Functional,
        "Model": Model,
        "Sequential": Sequential,
        "Operation": Operation,
    }  # Operation: a plait.ops call
)
register_graph_serialization(Functional, model_to_config, model_from_config)
