"""Writing Keras 3's files, so Keras opens what plait saves.

* ``.keras``: a zip of ``metadata.json``, ``config.json`` (each layer as Keras serializes it:
  ``module`` / ``class_name`` / ``config`` / ``registered_name`` / ``build_config``, a functional
  graph as ``inbound_nodes`` with ``__keras_tensor__`` references) and ``model.weights.h5``.
* ``.weights.h5``: the weights alone, in the same HDF5 layout.

The HDF5 layout is Keras's ``saving_lib``: a model's ``vars`` group, then ``layers/<name>/vars/<i>``
where ``<name>`` is the layer's class in snake case with a counter (``dense``, ``dense_1``) in
``model.layers`` order; sub-objects nest by attribute (an LSTM's ``cell``, a Bidirectional's
``forward_layer/cell``, MultiHeadAttention's ``query_dense``). Values are in Keras's shapes
(``get_weights``), whatever layout plait stores them in.

A custom layer (a user's ``Layer`` subclass) is written as Keras writes one: its module, class
and registered name (``@register_keras_serializable``) with its ``get_config()``, its own weights in
``vars`` and its sublayers' below the attributes that hold them (``layers/custom/inner/vars``; a
list of layers as ``<attr>/<class>_<i>``); loading it needs the class (registered, or in
``custom_objects``), as in Keras. A registered custom function (an activation) is written as
Keras's ``{"class_name": "function", "config": "<package>><name>"}``.

Only what Keras can rebuild is written: a torch module, a ``Lambda`` (Keras would store its
code) or an adaptive loss balancer is a ``ValueError`` that says to use ``.plait``. A subclassed
model is written as Keras writes one: its class, ``get_config()``, the input shape of its first
call (``build_config``) and its weights by attribute from the file's root.
(A plait class that mirrors a Keras class defined outside ``keras.layers``, such as ConvNeXt's
``LayerScale``, names Keras's module in a ``keras_module`` class attribute and is written.)

A model compiled with Keras's optimizers and with losses and metrics given by name also gets
Keras's ``compile_config`` and its optimizer's variables (``optimizer/vars``: iterations, learning
rate, then each slot per weight in Keras's order and shapes), so Keras's ``fit`` continues from
the same state; other compile arguments are left out (``.plait`` keeps them).
"""

import datetime
import io
import json
import os
import tempfile
import zipfile
from collections import Counter

import numpy as np
import torch

from plait import layers as layers_module
from plait.graph.node import keras_dtype
from plait.layers.base import child_layers
from plait.layers.input_layer import InputLayer
from plait.layers.serialization import builtin_classes
from plait.saving.weights_io import atomic_write
from plait.utils import nest
from plait.utils.naming import to_snake_case

KERAS_VERSION = "3.15.1"  # the Keras release whose format this writes

# plait layers Keras cannot rebuild from a config (it would need code, or they are plait's own).
_NOT_KERAS = ("Lambda", "TorchModuleWrapper", "TorchOp")
# Keras layers whose constructors take no `trainable` (their get_config leaves it out).
_NO_TRAINABLE = ("SpatialDropout1D", "SpatialDropout2D", "Discretization")
# plait classes Keras exports under another name (its files name the class that way; its
# weights groups keep the class's own name, grouped_query_attention).
_KERAS_CLASS_NAMES = {"GroupedQueryAttention": "GroupQueryAttention"}
_MODULES = {
    "_initializer": "keras.initializers",
    "_regularizer": "keras.regularizers",
    "_constraint": "keras.constraints",
}


def _not_writable(what, why):
    return ValueError(
        f"Cannot save {what} as a Keras .keras file: {why}. Keras could not rebuild it; save it as '.plait' "
        "(plait's own format, which keeps everything) instead."
    )


def _policy(name):
    if isinstance(name, dict):  # a quantized layer's policy, already as Keras writes it
        return name
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": name}, "registered_name": None}


def _object(value, module):
    """A plait ``{"class_name", "config"}`` (initializer, regularizer, constraint) as Keras writes it."""
    if isinstance(value, dict) and "class_name" in value:
        return {
            "module": module,
            "class_name": value["class_name"],
            "config": value.get("config", {}),
            "registered_name": None,
        }
    return value


def _operation_spec(layer):
    """A ``plait.ops`` node as Keras's op entry (``keras.src.ops.numpy`` / ``Add``); the call's
    keyword arguments are the op's constructor arguments in Keras."""
    from plait.ops._op import _Const

    family, name = layer.op.split(".", 1)
    args, kwargs = layer.template
    if any(isinstance(v, _Const) for v in list(args) + list(kwargs.values())):
        raise _not_writable(f"op '{layer.name}' ({layer.op})", "it holds a constant tensor")
    from plait.ops._op import _KERAS_CLASS_NAMES

    special = {fn: cls for cls, fn in _KERAS_CLASS_NAMES.items()}
    class_name = special.get(name) or "".join(part.capitalize() for part in name.split("_"))
    return {
        "module": f"keras.src.ops.{family}",
        "class_name": class_name,
        "config": {"name": layer.name, **kwargs},
        "registered_name": class_name,
    }


def _operation_args(layer, node):
    """The op's call arguments for its Keras node: the symbolic inputs in their places."""
    if type(layer).__name__ == "TorchOp":  # `x + 3.0`: Python's operator, maybe reflected
        return list(node.args)[::-1] if _torch_arithmetic(layer)[1] else list(node.args)
    from plait.ops._op import _Input

    args, _ = layer.template
    inputs = list(node.args)
    return [inputs[a.index] if isinstance(a, _Input) else a for a in args]


# Python arithmetic on symbolic tensors (a TorchOp) as Keras's numpy ops: (class, reflected).
_ARITHMETIC = {
    "add": ("Add", False), "__add__": ("Add", False), "__radd__": ("Add", True),
    "sub": ("Subtract", False), "subtract": ("Subtract", False), "__sub__": ("Subtract", False),
    "__rsub__": ("Subtract", True),
    "mul": ("Multiply", False), "multiply": ("Multiply", False), "__mul__": ("Multiply", False),
    "__rmul__": ("Multiply", True),
    "div": ("Divide", False), "divide": ("Divide", False), "true_divide": ("Divide", False),
    "__truediv__": ("Divide", False), "__rtruediv__": ("Divide", True),
    "neg": ("Negative", False), "negative": ("Negative", False), "__neg__": ("Negative", False),
    "pow": ("Power", False), "__pow__": ("Power", False),
}  # fmt: skip


def _torch_arithmetic(layer):
    function = str(layer.get_config().get("function", ""))
    found = _ARITHMETIC.get(function.rsplit(".", 1)[-1])
    if found is None or (function.split(".")[0] != "torch"):
        raise _not_writable(
            f"layer '{layer.name}'", f"it applies the torch function {function}, which has no Keras op here"
        )
    return found


def _torch_op_spec(layer):
    if any(node.kwargs for node in layer.inbound_nodes):
        raise _not_writable(f"layer '{layer.name}'", "it calls a torch function with keyword arguments")
    class_name = _torch_arithmetic(layer)[0]
    return {
        "module": "keras.src.ops.numpy",
        "class_name": class_name,
        "config": {"name": layer.name},
        "registered_name": class_name,
    }


def _layer_class(layer):
    Functional, Sequential = (
        builtin_classes()["Functional"],
        builtin_classes()["Sequential"],
    )  # saving never imports models

    if isinstance(layer, Sequential):
        return "Sequential"
    if isinstance(layer, Functional):
        return "Functional"
    name = type(layer).__name__
    if getattr(type(layer), "keras_module", None) or is_custom_layer(layer):
        return name
    if name in _NOT_KERAS or getattr(layers_module, name, None) is not type(layer):
        raise _not_writable(f"layer '{layer.name}'", f"it is a {name} layer ({type(layer).__module__}.{name})")
    return name


def is_subclassed_model(model):
    """Whether ``model`` is a subclassed model (its own ``call``, no graph of layers)."""
    return hasattr(model, "train_step") and not getattr(model, "has_graph", True)


def is_custom_layer(layer):
    """Whether ``layer`` is a user's ``Layer`` subclass (not a plait layer, not a model)."""
    if hasattr(layer, "_nodes") or hasattr(layer, "train_step") or getattr(type(layer), "keras_module", None):
        return False  # models are written as graphs (or refused); a Keras twin by Keras's module
    return isinstance(layer, layers_module.Layer) and not type(layer).__module__.startswith("plait.")


def _custom_spec(layer):
    """A user's layer as Keras's ``serialize_keras_object`` writes it."""
    from plait.saving.serialization import get_registered_name

    spec = {
        "module": _user_module(type(layer)),
        "class_name": type(layer).__name__,
        "config": layer_config(layer),
        "registered_name": get_registered_name(type(layer)),
    }
    node = next(iter(layer.inbound_nodes), None)
    if node is not None and len(node.input_tensors) == 1:
        spec["build_config"] = {"input_shape": _shape(node.input_tensors[0].shape)}
    return _own_build_config(layer, spec)


def _own_build_config(layer, spec):
    """``spec`` with the layer's own ``get_build_config()`` where its class defines one (a user's
    layer that records more than its input shape, as Keras writes it)."""
    if user_defines(layer, "get_build_config"):
        build = layer.get_build_config()
        if build is not None:
            spec["build_config"] = serialize_build_config(build)
    return spec


def serialize_build_config(value):
    """A build config as JSON values (tuples become lists)."""
    if isinstance(value, dict):
        return {k: serialize_build_config(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [serialize_build_config(v) for v in value]
    return value


def _user_module(cls):
    """The module Keras writes for a user's class: its own, None for ``__main__`` (Keras's rule)."""
    return None if cls.__module__ == "__main__" else cls.__module__


def _function(value):
    """A registered custom function's name (``"pkg>fn"``) as Keras writes the function."""
    return {"module": "builtins", "class_name": "function", "config": value, "registered_name": "function"}


def layer_config(layer):
    """``layer.get_config()`` in Keras's form (dtype policy, serialized objects, wrapped layers)."""
    config = dict(layer.get_config())
    config.pop("batch_input_shape", None)  # Keras 3 takes an InputLayer (Sequential writes one)
    if type(layer).__name__ in _NO_TRAINABLE:
        config.pop("trainable", None)
    users = is_custom_layer(layer) or is_subclassed_model(layer)
    if "dtype" in config or not users:  # a user's get_config decides its keys, as in Keras
        config["dtype"] = _policy(config.get("dtype") or "float32")
    for key, value in config.items():
        if key == "activation" and isinstance(value, str) and ">" in value:
            config[key] = _function(value)
        for suffix, module in _MODULES.items():
            if key.endswith(suffix):
                config[key] = _object(value, module)
        if key in ("layer", "backward_layer") and isinstance(value, dict):
            config[key] = _wrapped_spec(
                getattr(layer, "forward_layer" if key == "layer" and hasattr(layer, "forward_layer") else key)
            )
        elif isinstance(value, (dict, list)) and _sublayers(layer, key, value) is not None:
            # A sublayer the config holds (an RNN's `cell`, a StackedRNNCells' `cells`): Keras's entry for it.
            config[key] = _sublayers(layer, key, value)
    return config


def _sublayers(layer, key, value):
    """Keras's entries for the sublayer(s) that config key ``key`` of ``layer`` describes (the
    attribute of that name holds it), or None when the key is not a sublayer."""
    held = getattr(layer, key, None)
    if isinstance(held, layers_module.Layer) and isinstance(value, dict):
        return _wrapped_spec(held)
    if isinstance(held, (list, tuple, torch.nn.ModuleList)) and isinstance(value, list) and len(held) == len(value):
        if all(isinstance(sub, layers_module.Layer) for sub in held):
            return [_wrapped_spec(sub) for sub in held]
    return None


def _wrapped_spec(layer):
    spec = layer_spec(layer)
    shape = getattr(layer, "_keras_build_shape", None)
    if shape is not None:
        spec["build_config"] = {"input_shape": shape}
    return spec


def layer_spec(layer):
    """The Keras entry of one layer (without graph connections)."""
    if type(layer).__name__ == "Operation" and hasattr(layer, "op"):
        return _operation_spec(layer)
    if type(layer).__name__ == "TorchOp":
        return _torch_op_spec(layer)
    class_name = _layer_class(layer)
    if class_name == "Sequential":
        return {
            "module": "keras",
            "class_name": "Sequential",
            "config": sequential_config(layer),
            "registered_name": None,
        }
    if class_name == "Functional":
        return {
            "module": "keras.src.models.functional",
            "class_name": "Functional",
            "config": functional_config(layer),
            "registered_name": "Functional",
        }
    if isinstance(layer, InputLayer):
        config = {**layer.get_config(), "sparse": False, "ragged": False, "optional": False}
        return {"module": "keras.layers", "class_name": "InputLayer", "config": config, "registered_name": None}
    if is_custom_layer(layer):
        return _custom_spec(layer)
    module = getattr(type(layer), "keras_module", None)
    if module:  # e.g. ConvNeXt's LayerScale: keras.src.applications.convnext, registered by name
        return {
            "module": module,
            "class_name": class_name,
            "config": layer_config(layer),
            "registered_name": class_name,
        }
    class_name = _KERAS_CLASS_NAMES.get(class_name, class_name)
    return {"module": "keras.layers", "class_name": class_name, "config": layer_config(layer), "registered_name": None}


def _shape(value):
    return None if value is None else [None if d is None else int(d) for d in value]


def sequential_config(model):
    model.ensure_graph()
    shape, dtype = model.input_batch_shape, model.input_dtype
    if shape is None and getattr(model, "inputs", None):  # built by a first call on data
        shape, dtype = model.inputs[0].shape, model.inputs[0].dtype
    layers = []
    if shape is not None:
        layers.append(layer_spec(InputLayer(batch_shape=shape, dtype=keras_dtype(dtype), name=f"{model.name}_input")))
    for layer in model.operations:
        spec = layer_spec(layer)
        node = next(iter(layer.inbound_nodes), None)
        if node is not None and node.input_tensors:
            spec["build_config"] = {"input_shape": _shape(node.input_tensors[0].shape)}
        layers.append(_own_build_config(layer, spec))
    return {
        "name": model.name,
        "trainable": model.trainable,
        "dtype": _policy("float32"),
        "layers": layers,
        "build_input_shape": _shape(shape),
    }


def functional_config(model):
    """Keras's functional config: layers with their ``inbound_nodes``, inputs and outputs."""
    own = {id(node) for node in model.graph_nodes}

    def node_index(node):
        # A layer's nodes are numbered among those that belong to this model, as Keras does.
        return [n for n in node.layer.inbound_nodes if id(n) in own].index(node)

    def ref(tensor):
        return {
            "class_name": "__keras_tensor__",
            "config": {
                "shape": _shape(tensor.shape),
                "dtype": keras_dtype(tensor.torch_dtype),
                "keras_history": [tensor.node.layer.name, node_index(tensor.node), tensor.index],
            },
        }

    def encode(value):
        from plait.graph.node import SymbolicTensor

        if isinstance(value, SymbolicTensor):
            return ref(value)
        if isinstance(value, (list, tuple)):
            return [encode(v) for v in value]
        if isinstance(value, dict):
            return {k: encode(v) for k, v in value.items()}
        return value

    def history(tensor):
        return [tensor.node.layer.name, node_index(tensor.node), tensor.index]

    layers = []
    for layer in model.operations:
        spec = layer_spec(layer)
        nodes = [n for n in layer.inbound_nodes if id(n) in own and not isinstance(layer, InputLayer)]
        spec["name"] = layer.name
        if (spec["module"] or "").startswith("keras.src.ops."):
            spec["inbound_nodes"] = [{"args": encode(_operation_args(layer, n)), "kwargs": {}} for n in nodes]
            layers.append(spec)
            continue
        spec["inbound_nodes"] = [{"args": encode(list(n.args)), "kwargs": encode(dict(n.kwargs))} for n in nodes]
        if nodes and spec["class_name"] not in ("Functional", "Sequential"):
            shapes = [_shape(t.shape) for t in nodes[0].input_tensors]
            first = nodes[0].args[0] if nodes[0].args else None
            if isinstance(first, (list, tuple)):
                spec["build_config"] = {"input_shape": shapes}
            elif len(nodes[0].args) == 1 and not nodes[0].kwargs:
                spec["build_config"] = {"input_shape": shapes[0]}
        layers.append(_own_build_config(layer, spec) if nodes else spec)

    def structure(value):
        if isinstance(value, dict):
            return {k: history(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [history(v) for v in value]
        return history(value)

    return {
        "name": model.name,
        "trainable": model.trainable,
        "layers": layers,
        "input_layers": structure(model.input_structure),
        "output_layers": structure(model.output_structure),
    }


def model_spec(model):
    """``config.json``'s content for ``model``."""
    Functional, Sequential = (
        builtin_classes()["Functional"],
        builtin_classes()["Sequential"],
    )  # saving never imports models

    balancer = getattr(model, "loss_balancer", None)
    if getattr(model, "compiled", False) and balancer is not None and balancer.adaptive:
        raise _not_writable(f"model '{model.name}'", "it is compiled with an adaptive loss balancer, plait's own")
    if not isinstance(model, (Functional, Sequential)):  # a subclassed model: its class and get_config
        build = model.get_build_config()
        if build is None:
            raise ValueError(
                f"Model '{model.name}' is not built yet: call it on data before saving it (Keras's build config "
                "records the input shape of the first call)."
            )
        spec = {**_custom_spec(model), "build_config": build}
        compile_config = _compile_spec(model)
        if compile_config is not None:
            spec["compile_config"] = compile_config
        return spec
    spec = layer_spec(model)
    if isinstance(model, Sequential):
        spec["build_config"] = {"input_shape": spec["config"]["build_input_shape"]}
    else:
        spec["build_config"] = {"input_shape": None}
    compile_config = _compile_spec(model)
    if compile_config is not None:
        spec["compile_config"] = compile_config
    return spec


# ---------------------------------------------------------------- compile config and optimizer
# Keras's optimizer variables per weight, in the order Keras creates them: slots created together
# interleave per weight (Adam's momentum and velocity), later ones follow as separate passes.
def extra_passes(optimizer):
    """Keras's base-optimizer variables, before the rule's: the EMA averages, then the gradient
    accumulators (one pass over the weights each)."""
    return [(slot,) for slot in getattr(optimizer, "extra_slots", ())]


SLOT_PASSES = {
    "SGD": lambda o: [("momentum",)] if o.momentum else [],
    "RMSprop": lambda o: (
        [("velocity",)] + ([("momentum",)] if o.momentum else []) + ([("average_gradient",)] if o.centered else [])
    ),
    "Adam": lambda o: [("momentum", "velocity")] + ([("velocity_hat",)] if o.amsgrad else []),
    "AdamW": lambda o: [("momentum", "velocity")] + ([("velocity_hat",)] if o.amsgrad else []),
    "Adagrad": lambda o: [("accumulator",)],
    "Adadelta": lambda o: [("accumulated_grad", "accumulated_delta_var")],
    "Adamax": lambda o: [("m", "u")],
    "Nadam": lambda o: [("momentum", "velocity")],
    "Lion": lambda o: [("momentum",)],
    "Lamb": lambda o: [("momentum", "velocity")],
    "Ftrl": lambda o: [("accumulator", "linear")],
    "ScheduleFreeAdamW": lambda o: [("momentum", "velocity")],
}


def _compile_value(value):
    """A compile argument as Keras writes it: names stay names; a loss or metric object becomes
    Keras's ``{"module": "keras.losses" | "keras.metrics", "class_name", "config"}`` (a
    registered custom class by its registered name); anything else is left for ``nest.is_plain``
    to refuse (the compile config is then not written)."""
    from plait import losses, metrics
    from plait.saving.serialization import get_registered_name

    if isinstance(value, (list, tuple)):
        return [_compile_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _compile_value(v) for k, v in value.items()}
    for base, module in ((losses.Loss, "keras.losses"), (metrics.Metric, "keras.metrics")):
        if not isinstance(value, base):
            continue
        cls = type(value)
        builtin = getattr(losses if base is losses.Loss else metrics, cls.__name__, None) is cls
        if not builtin and get_registered_name(cls) == cls.__name__:
            return value  # an unregistered custom object: Keras could not find it
        return {
            "module": module if builtin else _user_module(cls),
            "class_name": cls.__name__,
            "config": value.get_config(),
            "registered_name": None if builtin else get_registered_name(cls),
        }
    return value


def _keras_optimizer(model):
    optimizer = getattr(model, "optimizer", None)
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)
    name = type(optimizer).__name__
    if name not in SLOT_PASSES and type(optimizer).__module__.startswith("plait.optimizers."):
        # Their Keras variables are not one slot per weight in one order (Adafactor's factored
        # moments, Muon's velocities for some weights only, MultiOptimizer's, torch's own).
        raise ValueError(
            f"plait cannot write the state of optimizer {name} into a .keras file: save to a .plait file "
            "(model.save('model.plait')), or save the weights only (model.save_weights)."
        )
    return (optimizer, name) if name in SLOT_PASSES else (None, None)


def own_variable_order(layer):
    """Whether a plait layer's file variables are not its ``get_weights()``: a quantized layer
    (Keras's order for its mode), one with LoRA (the merged kernel, no factors)."""
    return bool(getattr(layer, "quantization_mode", None) or getattr(layer, "lora_enabled", False))


def user_defines(obj, method):
    """Whether ``obj``'s class has its own ``method`` (a user's override of a Keras hook such as
    ``save_own_variables``, ``get_build_config`` or ``compile_from_config``), not plait's."""
    found = getattr(type(obj), method, None)
    return found is not None and not getattr(found, "__module__", "plait.").startswith("plait.")


def _compile_spec(model):
    """Keras's ``compile_config``, when the model was compiled with things Keras can rebuild."""
    if not getattr(model, "compiled", False):
        return None
    optimizer, name = _keras_optimizer(model)
    opt_spec = _optimizer_spec(optimizer, name) if optimizer is not None else None
    if user_defines(model, "get_compile_config"):
        # A model's own compile config (Keras's customizing-saving guide), written as Keras's
        # serialize_keras_object writes it, for the model's compile_from_config to read back.
        from plait.saving.serialization import serialize_keras_object

        own = model.get_compile_config()
        if own is None:
            return None

        def written(value):
            if value is model.optimizer or value is optimizer:
                return opt_spec
            return value if nest.is_plain(value) else serialize_keras_object(value)

        return {k: written(v) for k, v in own.items()}
    config = {k: _compile_value(v) for k, v in model.get_compile_config().items() if k != "optimizer"}
    if optimizer is None or not all(
        nest.is_plain(config.get(k)) for k in ("loss", "loss_weights", "metrics", "weighted_metrics")
    ):
        return None
    extra = {k: v for k, v in config.items() if k not in ("loss", "loss_weights", "metrics", "weighted_metrics")}
    return {
        **{k: v for k, v in extra.items() if nest.is_plain(v)},  # a subclass's own keys (get_compile_config)
        "optimizer": opt_spec,
        "loss": config.get("loss"),
        "loss_weights": config.get("loss_weights"),
        "metrics": config.get("metrics"),
        "weighted_metrics": config.get("weighted_metrics"),
        "run_eagerly": False,
        "steps_per_execution": 1,
        "jit_compile": False,
    }


def _optimizer_spec(optimizer, name):
    """A plait optimizer as Keras's ``{"module": "keras.optimizers", "class_name", "config"}``."""
    opt_config = dict(optimizer.get_config())
    lr = opt_config.get("learning_rate")
    if isinstance(lr, dict):
        opt_config["learning_rate"] = {
            "module": "keras.optimizers.schedules",
            "class_name": lr["class_name"],
            "config": lr["config"],
            "registered_name": None,
        }
    return {"module": "keras.optimizers", "class_name": name, "config": opt_config, "registered_name": None}


def optimizer_variables(model):
    """The optimizer's state as Keras's ``optimizer.variables`` (numpy, Keras's order and shapes),
    or None when the optimizer is not Keras's."""
    optimizer, name = _keras_optimizer(model)
    if optimizer is None:
        return None
    if optimizer.params is None and hasattr(model, "prepare_optimizer"):
        # Keras builds its optimizer's variables at compile time: a model compiled but not yet
        # trained is written with zero slots (Keras refuses a compiled file without them).
        model.prepare_optimizer()
        optimizer, name = _keras_optimizer(model)
    if optimizer.params is None:
        return None
    position = {id(p): i for i, p in enumerate(optimizer.params)}
    entries = [(layer, spec) for layer, spec in model.weight_entries() if spec.trainable and layer.trainable]
    if any(id(spec.get(layer)) not in position for layer, spec in entries):
        return None
    # Keras's ``iteration`` variable counts calls, also under gradient accumulation.
    values = [np.asarray(getattr(optimizer, "apply_calls", optimizer.iterations), dtype="int64")]
    if optimizer.learning_rate_schedule is None:
        values.append(np.asarray(optimizer.learning_rate, dtype="float32"))
    state = optimizer.slots_for([position[id(spec.get(layer))] for layer, spec in entries])
    for slots in extra_passes(optimizer) + SLOT_PASSES[name](optimizer):
        for i, (_, spec) in enumerate(entries):
            for slot in slots:
                values.append(spec.to_keras(state[slot][i]).cpu().numpy())
    return values


# ---------------------------------------------------------------- weights
def _parts(layer, values):
    """``[(sub-path, values)]``: where Keras keeps a layer's weights below its own group."""
    name = type(layer).__name__
    if name in ("LSTM", "GRU", "SimpleRNN", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"):
        return [("cell", values)]
    if name == "Bidirectional":
        half = len(layer.forward_layer.get_weights())
        return [("forward_layer/" + p, v) for p, v in _parts(layer.forward_layer, values[:half])] + [
            ("backward_layer/" + p, v) for p, v in _parts(layer.backward_layer, values[half:])
        ]
    if name == "TimeDistributed":
        return [("layer/" + p if p else "layer", v) for p, v in _parts(layer.layer, values)]
    if name in ("MultiHeadAttention", "GroupedQueryAttention"):
        per = 2 if layer.use_bias else 1
        keys = ("query_dense", "key_dense", *(("gate_dense",) if layer.use_gate else ()), "value_dense", "output_dense")
        prefix = "_" if name == "GroupedQueryAttention" else ""  # Keras's GQA has no public properties for them
        return [(prefix + key, values[i * per : (i + 1) * per]) for i, key in enumerate(keys)]
    children = _weighted_children(layer)
    if children:  # an RNN's cell, SpectralNormalization's layer: below the attribute that holds them
        own = sum(1 for owner, _ in layer.weight_entries() if owner is layer)
        parts = [("", values[:own])]
        for key, child in children:
            parts += [(f"{key}/{sub}" if sub else key, v) for sub, v in _parts(child, child.get_weights())]
        return parts
    return [("", values)]


def _weighted_children(layer):
    """``[(group, sublayer)]`` of a plait layer whose sublayers hold weights; [] for the others
    (and for one holding a torch module, written flat as before)."""
    try:
        children = custom_children(layer)
    except ValueError:
        return []
    return children if any(child.weights for _, child in children) else []


def _write_vars(h5, path, name, values):
    group = h5.require_group(f"{path}/vars" if path else "vars")
    group.attrs["name"] = name
    for i, value in enumerate(values):
        group.create_dataset(str(i), data=np.asarray(value))


def group_names(layers):
    """Keras's names for the layers' groups: class in snake case, with a counter."""
    counts, names = Counter(), []
    for layer in layers:
        Functional, Sequential = (
            builtin_classes()["Functional"],
            builtin_classes()["Sequential"],
        )  # saving never imports models

        base = (
            "sequential"
            if isinstance(layer, Sequential)
            else "functional"
            if isinstance(layer, Functional)
            else (to_snake_case(type(layer).__name__))
        )
        names.append(base if counts[base] == 0 else f"{base}_{counts[base]}")
        counts[base] += 1
    return names


class H5Store:
    """The ``store`` a layer's ``save_own_variables`` / ``load_own_variables`` receives: its
    ``vars`` group of the weights file, read and written by key (``store["0"] = array``)."""

    def __init__(self, group):
        self.group = group

    def __setitem__(self, key, value):
        if key in self.group:
            del self.group[key]
        self.group.create_dataset(str(key), data=np.asarray(value))

    def __getitem__(self, key):
        if key not in self.group:
            raise KeyError(f"The weights file has no variable '{key}' in '{self.group.name}'; it holds {self.keys()}.")
        return np.asarray(self.group[key])

    def __contains__(self, key):
        return key in self.group

    def __len__(self):
        return len(self.group)

    def keys(self):
        return sorted(self.group.keys(), key=lambda k: (not k.isdigit(), int(k) if k.isdigit() else 0, k))


def write_weights(model, h5, path="", visit=None):
    """Write ``model``'s weights (and its nested models') into ``h5`` at ``path``, Keras's layout.
    ``visit(layer, where)`` is called for every layer with its group path (for assets)."""
    if visit is not None:
        visit(model, path)
    if is_subclassed_model(model):  # its weights by attribute, as a custom layer's
        _write_custom(model, h5, path, visit)
        return
    _write_vars(h5, path, model.name, [])
    layers = model.layers
    for layer, key in zip(layers, group_names(layers)):
        where = f"{path}/layers/{key}" if path else f"layers/{key}"
        _write_layer(layer, h5, where, visit)


def _write_layer(layer, h5, where, visit=None):
    if hasattr(layer, "_nodes") or type(layer).__name__ == "Sequential" or is_subclassed_model(layer):
        write_weights(layer, h5, where, visit)
        return
    if visit is not None:
        visit(layer, where)
    if is_custom_layer(layer):
        _write_custom(layer, h5, where, visit)
        return
    _write_vars(h5, where, layer.name, [])
    if own_variable_order(layer):  # Keras's variables for its mode, not get_weights()
        layer.save_own_variables(H5Store(h5[f"{where}/vars"]))
        return
    for sub, values in _parts(layer, layer.get_weights()):
        _write_vars(h5, f"{where}/{sub}" if sub else where, layer.name, values)


def custom_children(layer):
    """``[(group, sublayer)]`` of a user's layer, as Keras's saving walks it: a layer attribute
    by its name, a list or dict of layers by ``<attr>/<class in snake case, counted>``. Raises a
    ValueError for a plain torch module holding weights (Keras could not rebuild it)."""
    found = []
    for attr, child in layer.named_children():
        if isinstance(child, layers_module.Layer):
            found.append((attr, child))
        elif isinstance(child, (torch.nn.ModuleList, torch.nn.ModuleDict)):
            inner = child_layers(child)
            found += [(f"{attr}/{key}", sub) for sub, key in zip(inner, group_names(inner))]
        elif any(True for _ in child.parameters()) or any(True for _ in child.buffers()):
            raise _not_writable(
                f"layer '{layer.name}'", f"its attribute '{attr}' is a torch module ({type(child).__name__})"
            )
    return found


def _write_custom(layer, h5, where, visit=None):
    if user_defines(layer, "save_own_variables"):  # the user's own hook writes its vars, as in Keras
        _write_vars(h5, where, layer.name, [])
        layer.save_own_variables(H5Store(h5[f"{where}/vars" if where else "vars"]))
    else:
        own = [spec for owner, spec in layer.weight_entries() if owner is layer]
        _write_vars(h5, where, layer.name, layer.get_weights()[: len(own)])
    for attr, child in custom_children(layer):
        _write_layer(child, h5, f"{where}/{attr}", visit)


def _h5_bytes(model, with_optimizer=False, visit=None):
    import h5py

    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        write_weights(model, h5, visit=visit)
        variables = optimizer_variables(model) if with_optimizer and _compile_spec(model) is not None else None
        if variables is not None:
            _write_vars(h5, "optimizer", _keras_optimizer(model)[0].name, variables)
    return buffer.getvalue()


def save_keras_model(model, filepath):
    """Write ``model`` as a Keras 3 ``.keras`` file (architecture and weights)."""
    ensure = getattr(model, "ensure_graph", None)
    if ensure is not None and not ensure():
        raise ValueError(f"Model '{model.name}' is not built yet; call it on data or give it an Input first.")
    config = json.dumps(model_spec(model))
    metadata = json.dumps(
        {"keras_version": KERAS_VERSION, "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}
    )
    with_assets = []
    weights = _h5_bytes(model, with_optimizer=True, visit=lambda layer, where: with_assets.append((layer, where)))
    assets = _assets(with_assets)

    def write(tmp):
        with zipfile.ZipFile(tmp, "w") as archive:  # Keras writes its members uncompressed
            archive.writestr("metadata.json", metadata)
            archive.writestr("config.json", config)
            archive.writestr("model.weights.h5", weights)
            for name, data in assets:
                archive.writestr(name, data)

    atomic_write(os.fspath(filepath), write)


def _assets(layers):
    """``[(zip member, bytes)]``: the files each layer's ``save_assets(dir)`` writes, under
    ``assets/<the layer's group path>/`` as Keras's archive keeps them."""
    members = []
    for layer, where in layers:
        if not hasattr(layer, "save_assets"):
            continue
        with tempfile.TemporaryDirectory() as folder:
            layer.save_assets(folder)
            for root, _, files in os.walk(folder):
                for name in sorted(files):
                    path = os.path.join(root, name)
                    inner = os.path.relpath(path, folder).replace(os.sep, "/")
                    with open(path, "rb") as f:
                        members.append((f"assets/{where}/{inner}" if where else f"assets/{inner}", f.read()))
    return members


def save_keras_weights(model, filepath):
    """Write ``model``'s weights as a Keras 3 ``.weights.h5`` file."""
    for layer in model.modules():
        if isinstance(layer, layers_module.Layer) and type(layer).__name__ in ("TorchModuleWrapper",):
            raise _not_writable(f"the weights of model '{model.name}'", f"layer '{layer.name}' is a torch module")
    data = _h5_bytes(model)

    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(data)

    atomic_write(os.fspath(filepath), write)
