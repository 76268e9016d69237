"""Models <-> JSON: a model's config is its graph (a functional model) or its layer list (a
Sequential), so models install how they are written and rebuilt into
:mod:`plait.layers.serialization` (``register_graph_serialization``), and name their classes
as loadable built-ins. ``plait.saving`` then reads and writes models without importing them.

A functional model is stored as its layers plus its nodes in run order. Each node names its
layer and its arguments, where a tensor is ``{"node": i, "index": k}`` (output ``k`` of the
``i``-th node) so rebuilding is one pass over the list, calling each layer on symbolic tensors.
"""

import json

from plait.graph.node import SymbolicTensor, keras_dtype
from plait.layers.input_layer import Input, InputLayer
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
        shape = model.input_batch_shape
        return {
            "name": model.name,
            "layers": [layer_to_config(layer) for layer in model.layers],
            "input": (None if shape is None else {"batch_shape": list(shape), "dtype": keras_dtype(model.input_dtype)}),
        }
    position = {id(node): i for i, node in enumerate(model.graph_nodes)}

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
        for node in model.graph_nodes
    ]
    return {
        "name": model.name,
        # Each entry carries the layer's name: a custom get_config need not include it (Keras's).
        "layers": [{**layer_to_config(layer), "name": layer.name} for layer in model.operations],
        "graph": nodes,
        "inputs": _structure(model.input_structure, ref),
        "outputs": _structure(model.output_structure, ref),
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
        by_name[spec.get("name") or spec.get("config", {}).get("name") or layer.name] = layer
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


def model_from_json(json_string, custom_objects=None):
    """The model ``model.to_json()`` described (fresh weights, not compiled; Keras's).

    Example:
        >>> import plait
        >>> model = plait.Sequential([plait.Input((32,)), plait.layers.Dense(1)])
        >>> plait.models.model_from_json(model.to_json()).count_params()
        33
    """
    try:
        config = json.loads(json_string)
    except (TypeError, ValueError) as error:
        raise ValueError(f"model_from_json needs the JSON string model.to_json() returns: {error}") from None
    return layer_from_config(config, custom_objects)


def clone_model(model, input_tensors=None, clone_function=None, call_function=None, recursive=False, **kwargs):
    """A copy of ``model`` with new layers and freshly initialised weights (Keras's ``clone_model``).

    Args:
        model: a functional, Sequential or subclassed model.
        input_tensors: optional ``Input`` tensor(s) the clone starts from (graph models).
        clone_function: ``layer -> new layer`` (default: ``type(layer).from_config(layer.get_config())``).
        call_function: ``(layer, *args, **kwargs) -> outputs``, how each cloned layer is called.
        recursive: also clone the layers of nested graph models with ``clone_function``.

    Example:
        >>> import plait
        >>> inputs = plait.Input((4,))
        >>> model = plait.Model(inputs, plait.layers.Dense(2)(inputs))
        >>> clone = plait.models.clone_model(model)
        >>> clone.count_params(), clone.layers[1] is model.layers[1]
        (10, False)
    """
    if kwargs:
        raise TypeError(f"clone_model() got unexpected keyword argument(s) {sorted(kwargs)}.")
    clone_function = clone_function or _default_clone

    def clone_layer(layer):
        if recursive and isinstance(layer, Functional):
            return clone_model(layer, clone_function=clone_function, call_function=call_function, recursive=True)
        return clone_function(layer)

    if isinstance(model, Sequential):
        layers = [clone_layer(layer) for layer in model.layers]
        shape = model.input_batch_shape
        if input_tensors is not None:
            layers = [nest.flatten(input_tensors)[0], *layers]
        elif shape is not None:
            layers = [InputLayer(batch_shape=shape, dtype=keras_dtype(model.input_dtype)), *layers]
        return Sequential(layers, name=model.name)
    if not model.has_graph:
        return type(model).from_config(model.get_config())
    # A graph model: the same nodes, each calling a clone of its layer.
    clones, produced = {}, {}
    new_inputs = nest.flatten(input_tensors) if input_tensors is not None else None
    for node in model.graph_nodes:
        layer = node.layer
        if isinstance(layer, InputLayer):
            position = model.inputs.index(node.outputs) if node.outputs in model.inputs else None
            if new_inputs is not None and position is not None:
                produced[id(node)] = [new_inputs[position]]
            else:
                produced[id(node)] = [Input(batch_shape=layer.batch_shape, dtype=layer.input_dtype, name=layer.name)]
            continue
        if id(layer) not in clones:
            clones[id(layer)] = clone_layer(layer)

        def swap(value):
            if isinstance(value, SymbolicTensor):
                return produced[id(value.node)][value.index]
            return value

        args = nest.map_structure(swap, list(node.args))
        kwargs_ = nest.map_structure(swap, node.kwargs)
        new = clones[id(layer)]
        out = call_function(new, *args, **kwargs_) if call_function is not None else new(*args, **kwargs_)
        produced[id(node)] = nest.flatten(out)

    def output_of(t):
        return produced[id(t.node)][t.index]

    inputs = _structure(model.input_structure, lambda t: produced[id(t.node)][0])
    outputs = _structure(model.output_structure, output_of)
    return Functional(inputs, outputs, name=model.name)


def _default_clone(layer):
    if isinstance(layer, Functional) or type(layer).__name__ == "TorchModuleWrapper":
        return layer_from_config(layer_to_config(layer))
    return type(layer).from_config(layer.get_config())


register_builtin_classes(
    {
        "Functional": Functional,
        "Model": Model,
        "Sequential": Sequential,
        "Operation": Operation,
    }  # Operation: a plait.ops call
)
register_graph_serialization(Functional, model_to_config, model_from_config)
