"""Reading Keras 3 files: a ``.keras`` model (``config.json`` + ``model.weights.h5``) or a
``.weights.h5`` weights file, into native plait models.

The config is read as data: each Keras layer class maps to plait's layer of the same name, and
its config keys to plait's constructor arguments; a Keras op node (``x + 3.0``) applies the
``plait.ops`` function of the same name; a custom class resolves only through
``custom_objects`` or ``@register_serializable``. A Keras feature plait does not have (a layer
class, a key with a value plait cannot honour) is an error that names it; nothing is skipped
silently, and no code from the file runs. Weights are matched the way Keras matches them:
``layers/<name>/vars/<i>`` where ``<name>`` is the layer's class in snake case with a counter, in
``model.layers`` order; the whole file is checked before any weight is assigned. A compiled
model's ``compile_config`` and optimizer variables are restored, so ``fit`` continues.
"""

import io
import json
import os
import tempfile
import warnings
import zipfile
from collections import Counter

import numpy as np

from plait import layers as layers_module
from plait.layers import keras_config
from plait.layers.serialization import builtin_classes
from plait.saving.keras_writer import (
    SLOT_PASSES,
    H5Store,
    custom_children,
    extra_passes,
    is_custom_layer,
    is_subclassed_model,
    own_variable_order,
    user_defines,
)
from plait.utils import nest
from plait.utils.naming import to_snake_case


class _KerasOperation:
    """A Keras op node (``module: keras.src.ops.numpy``, ``class_name: Add``, e.g. ``x + 3.0`` in
    Keras's MobileNetV3): calling it applies ``plait.ops``' function of that name (with the
    config's settings bound, :func:`plait.ops._op.from_keras`), which records an ``Operation``."""

    def __init__(self, spec):
        from plait.ops._op import from_keras

        self.name = spec["config"].get("name", spec["class_name"])
        try:
            self.fn = from_keras(spec.get("module", ""), spec["class_name"], spec["config"])
        except ValueError as error:
            raise ValueError(f"The Keras file applies op '{self.name}': {error}") from None

    def __call__(self, *args, **kwargs):
        try:
            return self.fn(*args, **kwargs)
        except TypeError as error:
            raise ValueError(f"The Keras op '{self.name}' could not be applied: {error}") from None


def _custom_class(class_name, spec):
    """A class the user registered (``@register_serializable``) or passed in ``custom_objects``."""
    from plait.saving import serialization

    for name in (spec.get("registered_name"), class_name):
        if name:
            try:
                return serialization.resolve_class(name)
            except ValueError:
                continue
    where = f" ('{spec['config'].get('name')}')" if isinstance(spec.get("config"), dict) else ""
    raise ValueError(
        f"The Keras file uses layer class '{class_name}'{where}, which plait does not have. A custom layer can be "
        "passed in custom_objects= or registered with @plait.saving.register_serializable()."
    )


def layer_from_keras(spec):
    class_name, config = spec["class_name"], spec["config"]
    if class_name in ("Functional", "Model"):
        return model_from_keras(spec)
    if class_name == "Sequential":
        return sequential_from_keras(config)
    if (spec.get("module") or "").startswith("keras.src.ops."):
        return _KerasOperation(spec)
    if class_name in ("Lambda", "TorchOp", "TorchModuleWrapper"):
        # Keras stores a Lambda's code (and a torch module as a pickle); plait runs neither from a file.
        raise ValueError(
            f"The Keras file holds a {class_name} layer ('{config.get('name')}'), whose code Keras stores in the "
            "file; plait does not run code from files. Rebuild that part of the model in Python."
        )
    cls = getattr(layers_module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, layers_module.Layer)):
        layer = _custom_class(class_name, spec).from_config(config)
        if spec.get("build_config") and isinstance(layer, layers_module.Layer) and not layer.built:
            # As Keras's loading: a user's layer is built from its build config before the graph
            # calls it (its own build_from_config, if it has one, decides how).
            layer.build_from_config(spec["build_config"])
        return layer
    if class_name in ("Bidirectional", "TimeDistributed"):  # wrappers hold a layer spec
        config = dict(config)
        for key in ("layer", "backward_layer"):
            if isinstance(config.get(key), dict):
                config[key] = layer_from_keras(config[key])
        return cls(**keras_config.layer_arguments(cls, config))
    if class_name == "InputLayer":
        dtype = keras_config.plain_dtype(config.get("dtype"))
        return layers_module.InputLayer(batch_shape=config["batch_shape"], dtype=dtype, name=config.get("name"))
    return cls.from_config(config)


def _model_name(config):
    # Keras names some models with a '.' (mobilenet_1.00_224); plait's names are module paths.
    name = config.get("name")
    return name.replace(".", "_").replace("/", "_") if isinstance(name, str) else name


def sequential_from_keras(config):
    Sequential = builtin_classes()["Sequential"]  # as plait.models registered it

    model = Sequential(name=_model_name(config))
    for spec in config["layers"]:
        model.add(layer_from_keras(spec))
    shape = config.get("build_input_shape")
    if not model.ensure_graph() and shape is not None:
        model.build(tuple(shape))
    return _frozen(model, config)


def _frozen(model, config):
    # A frozen base (fine-tuning): Keras writes trainable=False on the nested model.
    if config.get("trainable") is False:
        model.trainable = False
    return model


def _refs(value):
    """The ``[layer, node, index]`` references inside a Keras config structure."""
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        return [value["config"]["keras_history"]]
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str) and isinstance(value[1], int):
        return [value]
    if isinstance(value, list):
        return [r for v in value for r in _refs(v)]
    if isinstance(value, dict):
        return [r for v in value.values() for r in _refs(v)]
    return []


def model_from_keras(spec):
    Functional = builtin_classes()["Functional"]  # as plait.models registered it

    config = spec["config"]
    entries = {entry["name"]: entry for entry in config["layers"]}
    # Keras records how masks were computed (e.g. a NotEqual op feeding `mask=`); plait's layers
    # make their masks themselves, so only layers that outputs need, ignoring masks, are built.
    needed, frontier = set(), [ref[0] for ref in _refs(config["output_layers"])]
    while frontier:
        name = frontier.pop()
        if name in needed:
            continue
        needed.add(name)
        for node in entries[name].get("inbound_nodes", []):
            kwargs = {k: v for k, v in node.get("kwargs", {}).items() if k not in ("mask", "training")}
            frontier += [ref[0] for ref in _refs([node.get("args", []), kwargs])]
    built = {
        name: (layer_from_keras(entry), entry.get("inbound_nodes", []))
        for name, entry in entries.items()
        if name in needed
    }
    outputs = {}  # (layer name, node index) -> list of output tensors

    def tensor(ref):
        name, node, index = ref
        return outputs[(name, node)][index]

    def resolve(value):
        if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
            return tensor(value["config"]["keras_history"])
        if isinstance(value, list):
            return [resolve(v) for v in value]
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        return value

    for name, (layer, _) in built.items():
        if isinstance(layer, layers_module.InputLayer):
            outputs[(name, 0)] = [layer.output]
    pending = [(name, i, node) for name, (_, nodes) in built.items() for i, node in enumerate(nodes)]
    while pending:
        remaining = []
        for name, i, node in pending:
            # Keras records `mask=...` and `training=...` on calls; plait's masks flow on their own.
            kwargs = {k: v for k, v in node.get("kwargs", {}).items() if k not in ("mask", "training")}
            try:
                args, kwargs = resolve(node.get("args", [])), resolve(kwargs)
            except KeyError:
                remaining.append((name, i, node))
                continue
            result = built[name][0](*args, **kwargs)
            outputs[(name, i)] = result if isinstance(result, list) else [result]
        if len(remaining) == len(pending):
            raise ValueError(
                f"The Keras graph cannot be rebuilt: layers {[r[0] for r in remaining]} have missing inputs."
            )
        pending = remaining

    def structure(refs):
        if isinstance(refs, list) and len(refs) == 3 and isinstance(refs[0], str):
            return tensor(refs)
        if isinstance(refs, dict):
            return {k: structure(v) for k, v in refs.items()}
        return [structure(r) for r in refs]

    inputs, outs = structure(config["input_layers"]), structure(config["output_layers"])
    return _frozen(Functional(inputs, outs, name=_model_name(config)), config)


# ---------------------------------------------------------------- weights
_SUBLAYER_ORDER = [
    "forward_layer", "backward_layer", "query_dense", "key_dense", "gate_dense", "value_dense", "output_dense"
]  # fmt: skip


def _group_order(key):
    """Where Keras's sublayer group ``key`` comes among its siblings: the sublayers Keras names
    (MultiHeadAttention's ``query_dense``, GroupedQueryAttention's ``_query_dense``) in Keras's
    order, then the others by name with their counters as numbers (``cell_2`` before ``cell_10``),
    not as HDF5 lists them (alphabetically)."""
    plain = key.lstrip("_")
    base, _, count = key.rpartition("_")
    counted = (base, int(count)) if base and count.isdigit() else (key, -1)
    rank = _SUBLAYER_ORDER.index(plain) if plain in _SUBLAYER_ORDER else len(_SUBLAYER_ORDER)
    return rank, counted


def _datasets(group):
    """A Keras object's variables: its ``vars/0..n``, then its sub-objects' (e.g. an LSTM's cell)."""
    values = []
    if "vars" in group:
        values += [np.asarray(group["vars"][k]) for k in sorted(group["vars"], key=int)]
    for key in sorted(group, key=_group_order):
        if key != "vars" and hasattr(group[key], "keys"):
            values += _datasets(group[key])
    return values


def _by_structure(layer, group):
    """``{id(weight): value}`` read by walking ``layer`` as Keras writes it: its own ``vars``, then
    each sublayer in the group its attribute names (an RNN's ``cell``, a StackedRNNCells'
    ``cells/lstm_cell_1``), so the order comes from the layer, not from HDF5's listing. A weight
    two objects track is written twice by Keras (SpectralNormalization's kernel, in its own
    ``vars`` and its layer's) and read once. None when the group is not laid out like ``layer``
    (plait's LSTM holds itself the weights Keras keeps in its ``cell``)."""
    own = [(owner, spec) for owner, spec in layer.weight_entries() if owner is layer]
    stored = [np.asarray(group["vars"][k]) for k in sorted(group["vars"], key=int)] if "vars" in group else []
    if len(stored) != len(own):
        return None
    try:
        children = custom_children(layer)
    except ValueError:  # a torch module inside: only the flat reading applies
        return None
    found = {id(spec.get(owner)): value for (owner, spec), value in zip(own, stored)}
    for key, child in children:
        if key not in group:
            if child.weight_entries():
                return None
            continue
        inner = _by_structure(child, group[key])
        if inner is None:
            return None
        for ident, value in inner.items():
            found.setdefault(ident, value)
    named = {key.split("/")[0] for key, _ in children} | {"vars"}
    if any(key not in named and _datasets(group[key]) for key in group if hasattr(group[key], "keys")):
        return None  # weights for sublayers this layer does not have: let the count check say so
    return found


def _builtin_values(layer, group):
    """A plait layer's values from its group, in ``layer.get_weights()`` order: by its structure
    where the group mirrors it, else every dataset below the group in Keras's order. A quantized
    layer, or one with LoRA, keeps its values (its ``load_own_variables`` reads the group afterwards)."""
    if own_variable_order(layer):
        return layer.get_weights()
    found = _by_structure(layer, group)
    entries = layer.weight_entries()
    if found is not None and all(id(spec.get(owner)) in found for owner, spec in entries):
        return [found[id(spec.get(owner))] for owner, spec in entries]
    return _datasets(group)


def _layer_values(layer, group, hooks=None):
    """A layer's values from its group, in ``layer.get_weights()`` order. A user's layer is read as
    Keras wrote it: its own ``vars``, then each sublayer from the group named by its attribute.
    A layer with its own ``load_own_variables`` keeps its values here and is appended to
    ``hooks`` with its group: its hook reads the ``vars`` once the others are assigned."""
    if hooks is not None:
        hooks.append((layer, group))
    if not (is_custom_layer(layer) or is_subclassed_model(layer)):
        return _builtin_values(layer, group)
    if user_defines(layer, "load_own_variables"):
        values = layer.get_weights()[: sum(owner is layer for owner, _ in layer.weight_entries())]
    else:
        values = [np.asarray(group["vars"][k]) for k in sorted(group["vars"], key=int)] if "vars" in group else []
    for key, child in custom_children(layer):
        if key not in group:
            if child.weights:
                raise ValueError(
                    f"The file has no weights for '{child.name}', sublayer '{key}' of layer '{layer.name}' "
                    f"(looked for '{group.name}/{key}'); it holds {sorted(group)}."
                )
            continue
        if hasattr(child, "graph_nodes"):  # a model inside the layer: its layers in its order
            inner = group[key]["layers"] if "layers" in group[key] else group[key]
            for sub, name in zip(child.layers, _keras_group_names(child)):
                values += _layer_values(sub, inner[name], hooks) if name in inner else []
        else:
            values += _layer_values(child, group[key], hooks)
    return values


def _keras_group_names(model):
    counts, names = Counter(), []
    for layer in model.layers:
        base = to_snake_case(type(layer).__name__)
        if type(layer).__name__ == "Functional":
            base = "functional"
        names.append(base if counts[base] == 0 else f"{base}_{counts[base]}")
        counts[base] += 1
    return names


def _numeric(values, layer, key, where):
    for i, value in enumerate(values):
        if value.dtype.kind not in "biuf":
            raise ValueError(
                f"{where}: weight {i} of layer '{layer.name}' (group 'layers/{key}') holds {value.dtype} data, "
                "not numbers; the file is not a Keras weights file or has been tampered with."
            )
    return values


def _misfit(layer, values):
    """Why ``values`` cannot be ``layer``'s weights (count, then shapes), or None."""
    entries = layer.weight_entries()
    if len(values) != len(entries):
        names = [f"{lay.name}/{spec.name}" for lay, spec in entries]
        return f"Layer '{layer.name}' expects {len(entries)} weights ({names}), but the file has {len(values)}."
    for (lay, spec), value in zip(entries, values):
        expected = tuple(spec.to_keras(spec.get(lay)).shape)
        if tuple(value.shape) != expected:
            return f"Weight '{lay.name}/{spec.name}' has shape {expected}, but the value given has shape {value.shape}."
    return None


def load_keras_weights(model, h5file, where, skip_mismatch=False):
    """Load Keras 3's ``layers/<name>/vars/<i>`` groups into ``model``'s layers, checking that the
    file holds exactly this architecture's weights; ``skip_mismatch=True`` warns and skips the
    layers that do not fit, as Keras does. Everything is checked before anything is assigned, so a
    file that does not fit leaves the model as it was."""
    hooks = []
    for layer, values in _weights_plan(model, h5file, where, skip_mismatch, hooks):
        layer.set_weights(values)
    for layer, group in hooks:
        own_hook = user_defines(layer, "load_own_variables") or own_variable_order(layer)
        if own_hook and "vars" in group:
            layer.load_own_variables(H5Store(group["vars"]))
    return hooks


def _weights_plan(model, h5file, where, skip_mismatch, hooks=None):
    """``[(layer, values)]`` to assign, after checking the whole file against ``model``; each
    layer read is appended to ``hooks`` with its group (see :func:`_layer_values`)."""
    plan = []

    def mismatch(message):
        if not skip_mismatch:
            raise ValueError(message)
        warnings.warn(f"Skipping: {message}", stacklevel=3)

    if is_subclassed_model(model):  # its weights by attribute from the root, as a custom layer's
        values = _numeric(_layer_values(model, h5file, hooks), model, "/", where)
        problem = _misfit(model, values)
        if problem is not None:
            mismatch(f"{where}: {problem} The file is for another model.")
            return []
        return [(model, values)]

    group = h5file["layers"] if "layers" in h5file else h5file
    used = set()
    for layer, key in zip(model.layers, _keras_group_names(model)):
        if not layer.weights and not hasattr(layer, "_nodes"):
            used.add(key)
            if not layer.built and key in group and _datasets(group[key]):
                mismatch(
                    f"{where} has weights for layer '{layer.name}', which is not built yet (its input shape is "
                    "unknown). Build the model first: give it an Input, or call it on data."
                )
            continue
        if key not in group:
            mismatch(
                f"{where} has no weights for layer '{layer.name}' ({type(layer).__name__}; looked for "
                f"'layers/{key}'). The file holds groups {sorted(group)[:8]}: is it for another architecture?"
            )
            continue
        used.add(key)
        if hasattr(layer, "_nodes"):  # a nested model: its own layers/... tree
            plan += _weights_plan(layer, group[key], where, skip_mismatch, hooks)
            continue
        values = _numeric(_layer_values(layer, group[key], hooks), layer, key, where)
        problem = _misfit(layer, values)
        if problem is None:
            plan.append((layer, values))
        else:
            mismatch(f"{where}: {problem} The file is for another architecture, or its layer order differs.")
    extra = [key for key in group if key not in used and hasattr(group[key], "keys") and _datasets(group[key])]
    if extra:
        mismatch(
            f"{where} has weights for layers {sorted(extra)} that model '{model.name}' does not have; "
            "the file is for another architecture."
        )
    return plan


# A .keras member may not expand to more than this, nor compress better than this ratio (zip bombs).
_MAX_MEMBER_BYTES = 1 << 36
_MAX_RATIO = 1000


def read_member(archive, name, filepath):
    """The bytes of zip member ``name``, refusing sizes and compression ratios no real file has."""
    info = archive.getinfo(name)
    if info.file_size > _MAX_MEMBER_BYTES or (info.compress_size and info.file_size / info.compress_size > _MAX_RATIO):
        raise ValueError(f"'{filepath}': member {name} declares {info.file_size} bytes; refusing to expand it.")
    return archive.read(name)


def _open_h5(source, filepath):
    import h5py

    try:
        return h5py.File(source, "r")
    except OSError as error:
        raise ValueError(f"'{filepath}' is not a readable HDF5 file (truncated or corrupted?): {error}") from None


def load_keras_weights_bytes(model, data, filepath, skip_mismatch=False):
    """Load a ``model.weights.h5`` held in memory (a ``.keras`` member) into ``model``."""
    with _open_h5(io.BytesIO(data), filepath) as h5:
        return [
            (layer, group.name)
            for layer, group in _guarded(
                lambda: load_keras_weights(model, h5, f"'{filepath}'", skip_mismatch), filepath
            )
        ]


def _load_assets(layers, assets):
    """Call ``load_assets(dir)`` of each layer that has it, on a folder holding the files saved
    under its group path (``assets/layers/<name>/``), as Keras's loading does."""
    for layer, path in layers:
        if not hasattr(layer, "load_assets"):
            continue
        prefix = "assets/" + path.strip("/") + "/" if path.strip("/") else "assets/"
        with tempfile.TemporaryDirectory() as folder:
            for name, payload in assets.items():
                inner = name[len(prefix) :]
                if not name.startswith(prefix) or ("/" in inner and path.strip("/") == ""):
                    continue
                target = os.path.realpath(os.path.join(folder, inner))
                if not target.startswith(os.path.realpath(folder) + os.sep):
                    raise ValueError(f"The file's asset '{name}' points outside its folder; it is not loaded.")
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with open(target, "wb") as f:
                    f.write(payload)
            layer.load_assets(folder)


def _guarded(load, filepath):
    # h5py reports damaged data (a truncated dataset, a broken group) as OSError/KeyError/RuntimeError.
    try:
        return load()
    except (OSError, KeyError, RuntimeError, TypeError) as error:
        raise ValueError(
            f"'{filepath}' could not be read (truncated or corrupted?): {type(error).__name__}: {error}"
        ) from None


def load_keras_model(filepath, compile=True):
    try:
        with zipfile.ZipFile(filepath) as archive:
            names = archive.namelist()
            if "config.json" not in names or "model.weights.h5" not in names:
                raise ValueError(f"'{filepath}' lacks config.json or model.weights.h5; it is not a Keras .keras file")
            config = json.loads(read_member(archive, "config.json", filepath))
            data = read_member(archive, "model.weights.h5", filepath)
            assets = {n: read_member(archive, n, filepath) for n in names if n.startswith("assets/") and n[-1] != "/"}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as error:
        raise ValueError(f"'{filepath}' is not a readable zip file (truncated or corrupted?): {error}") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"'{filepath}': config.json is not valid JSON: {error}") from None
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"'{filepath}': config.json does not describe a Keras model.")
    model = layer_from_keras(config)
    if is_subclassed_model(model):  # Keras builds it from the first call's shapes
        model.build_from_config(config.get("build_config"))
    hooks = load_keras_weights_bytes(model, data, filepath)
    _load_assets(hooks, assets)
    if compile and config.get("compile_config"):
        with _open_h5(io.BytesIO(data), filepath) as h5:
            _guarded(lambda: _compile_from_keras(model, config["compile_config"], h5, f"'{filepath}'"), filepath)
    return model


def _keras_optimizer_from(spec, where):
    from plait import optimizers
    from plait.optimizers import schedules

    if isinstance(spec, str):
        return optimizers.get(spec)
    name = spec.get("class_name", "")
    cls = getattr(optimizers, name, None)
    if not (isinstance(cls, type) and issubclass(cls, optimizers.Optimizer)) or name == "Optimizer":
        raise ValueError(f"{where} is compiled with optimizer {name!r}, which plait does not have.")
    config = dict(spec.get("config", {}))
    lr = config.get("learning_rate")
    if isinstance(lr, dict):
        schedule = getattr(schedules, lr.get("class_name", ""), None)
        if not (isinstance(schedule, type) and issubclass(schedule, schedules.LearningRateSchedule)):
            raise ValueError(f"{where}: unknown learning-rate schedule {lr.get('class_name')!r}.")
        config["learning_rate"] = schedule.from_config(lr["config"])
    return cls.from_config(config)


def _objects(value):
    """Whether a compile argument is names and plait loss/metric objects only."""
    from plait import losses, metrics

    if isinstance(value, (list, tuple)):
        return all(_objects(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _objects(v) for k, v in value.items())
    return nest.is_plain(value) or isinstance(value, (losses.Loss, metrics.Metric))


def _compile_objects(value):
    """Keras's loss and metric objects in a compile config (``{"module": "keras.metrics",
    "class_name": "AUC", "config": ...}``, or a registered custom class) as plait objects; names
    stay names. Other objects stay dicts (the model is then returned uncompiled, with a warning)."""
    from plait.saving.serialization import deserialize_keras_object

    if isinstance(value, list):
        return [_compile_objects(v) for v in value]
    if isinstance(value, dict) and "class_name" in value and "config" in value:
        if value.get("module") in ("keras.losses", "keras.metrics") or value.get("registered_name"):
            try:
                return deserialize_keras_object(value)
            except (ValueError, TypeError):
                return value
        return value
    if isinstance(value, dict):
        return {k: _compile_objects(v) for k, v in value.items()}
    return value


def _compile_from_keras(model, compile_config, h5, where):
    """Compile as the file says (optimizer, losses and metrics by name) and restore Keras's
    optimizer variables, so ``fit`` continues where Keras stopped. A model with its own
    ``compile_from_config`` gets the file's compile config as Keras gives it (it deserializes
    what its ``get_compile_config`` wrote)."""
    if user_defines(model, "compile_from_config"):
        model.compile_from_config(compile_config)
        if getattr(model, "compiled", False):
            _restore_optimizer(model, h5, where)
        return
    args = {k: _compile_objects(compile_config.get(k)) for k in ("loss", "loss_weights", "metrics", "weighted_metrics")}
    if not all(_objects(v) for v in args.values()) or not isinstance(compile_config.get("optimizer"), (str, dict)):
        warnings.warn(
            f"{where}: its compile arguments are Keras objects, not names; the model is returned uncompiled.",
            stacklevel=4,
        )
        return
    # Keras's settings of how to run (jit_compile, steps_per_execution) are not carried over:
    # plait's defaults are its fast path. A subclass's own keys reach its compile_from_config.
    rest = {k: v for k, v in compile_config.items() if k not in ("jit_compile", "steps_per_execution", "run_eagerly")}
    optimizer = _keras_optimizer_from(compile_config["optimizer"], where)
    model.compile_from_config({**rest, **args, "optimizer": optimizer})
    if getattr(model, "compiled", False):  # a subclass's compile may leave it for the user to call
        _restore_optimizer(model, h5, where)


def _restore_optimizer(model, h5, where):
    """Keras's optimizer variables (``optimizer/vars``) into the compiled model's optimizer."""
    if "optimizer" not in h5 or "vars" not in h5["optimizer"]:
        return
    stored = h5["optimizer"]["vars"]
    values = [np.asarray(stored[k]) for k in sorted(stored, key=int)]
    model.prepare_optimizer()
    optimizer = getattr(model.optimizer, "inner_optimizer", model.optimizer)
    position = {id(p): i for i, p in enumerate(optimizer.params)}
    entries = [(layer, spec) for layer, spec in model.weight_entries() if spec.trainable and layer.trainable]
    head = 1 if optimizer.learning_rate_schedule is not None else 2  # iterations, and the rate when a float
    if type(optimizer).__name__ not in SLOT_PASSES:
        warnings.warn(
            f"{where}: plait cannot read the state of optimizer {type(optimizer).__name__} from a .keras file; "
            "it starts afresh.",
            stacklevel=4,
        )
        return
    passes = extra_passes(optimizer) + SLOT_PASSES[type(optimizer).__name__](optimizer)
    expected = head + sum(len(slots) for slots in passes) * len(entries)
    if len(values) != expected:
        warnings.warn(
            f"{where}: the optimizer has {expected} variables but the file holds {len(values)}; its state is not "
            "restored (as Keras skips it).",
            stacklevel=4,
        )
        return
    import torch

    with torch.no_grad():
        optimizer.iterations = int(values[0])
        i = head
        states = optimizer.slots_for([position[id(spec.get(layer))] for layer, spec in entries]) if passes else {}
        for slots in passes:
            for k, (_, spec) in enumerate(entries):
                for slot in slots:
                    state = states[slot][k]
                    state.copy_(spec.to_storage(values[i]).to(state.dtype))
                    i += 1


def load_keras_weights_file(model, filepath, skip_mismatch=False):
    """Load a Keras ``.weights.h5`` (or a tf-keras 2 ``.h5``) file into ``model``."""
    with _open_h5(filepath, filepath) as h5:

        def load():
            if "layer_names" in h5.attrs:  # tf-keras 2 save_weights(".h5")
                return _load_keras2_weights(model, h5, f"'{filepath}'")
            if "model_weights" in h5:  # tf-keras 2 full-model file
                return _load_keras2_weights(model, h5["model_weights"], f"'{filepath}'")
            load_keras_weights(model, h5, f"'{filepath}'", skip_mismatch)

        _guarded(load, filepath)


# ---------------------------------------------------------------- tf-keras 2 (.h5 full-model files)
def _from_keras2(spec):
    """A tf-keras 2 layer/model entry in Keras 3's form (tensor references, batch_shape)."""
    spec = dict(spec)
    config = dict(spec.get("config", {}))
    if spec.get("class_name") == "InputLayer" and "batch_input_shape" in config:
        config["batch_shape"] = config.pop("batch_input_shape")
    config.pop("implementation", None)  # a tf-keras performance hint with no meaning here
    if "layers" in config:
        config["layers"] = [_from_keras2(layer) for layer in config["layers"]]
    spec["config"] = config
    nodes = []
    for node in spec.get("inbound_nodes", []):
        if isinstance(node, dict):  # already Keras 3's form
            nodes.append(node)
            continue
        refs = [{"class_name": "__keras_tensor__", "config": {"keras_history": entry[:3]}} for entry in node]
        kwargs = {}
        for entry in node:
            kwargs.update(entry[3] if len(entry) > 3 else {})
        nodes.append({"args": [refs[0] if len(refs) == 1 else refs], "kwargs": kwargs})
    if "inbound_nodes" in spec:
        spec["inbound_nodes"] = nodes
    return spec


def _load_keras2_weights(model, group, where):
    names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["layer_names"]]
    by_name = {layer.name: layer for layer in model.layers}
    for name in names:
        weight_names = [w.decode() if isinstance(w, bytes) else w for w in group[name].attrs["weight_names"]]
        if not weight_names:
            continue
        if name not in by_name:
            raise ValueError(f"{where} has weights for layer '{name}', which the model does not have.")
        try:
            by_name[name].set_weights([np.asarray(group[name][w]) for w in weight_names])
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None


def load_tf_keras_h5(filepath):
    """A tf-keras 2 ``model.save("m.h5")`` file: ``model_config`` attribute + ``model_weights``."""
    import h5py

    with h5py.File(filepath, "r") as h5:
        if "model_config" not in h5.attrs or "model_weights" not in h5:
            raise ValueError("this HDF5 file is not a tf-keras full-model file (no model_config / model_weights)")
        raw = h5.attrs["model_config"]
        model = layer_from_keras(_from_keras2(json.loads(raw.decode() if isinstance(raw, bytes) else raw)))
        _load_keras2_weights(model, h5["model_weights"], f"'{filepath}'")
    return model
