"""plait's model file: one zip, no pickle, written atomically.

Members:

* ``metadata.json`` — format name and version, plait and torch versions.
* ``config.json`` — the architecture (see :mod:`plait.saving.serialization`).
* ``model.weights.safetensors`` — every weight (``state_dict``), in the model's order.
* ``compile.json`` and ``optimizer.safetensors`` — when the model was compiled: optimizer
  class and config, loss / loss_weights / metrics by name, and the optimizer's state, so ``fit``
  continues where it stopped.
* ``loss_balancer.safetensors`` — an adaptive loss balancer's state (``loss_weights="auto"``).
* ``layer_state.safetensors`` and ``assets/<layer path>/`` — what layers' own Keras saving hooks
  (``save_own_variables``, ``save_assets``) write, given back to ``load_own_variables`` /
  ``load_assets`` on load.

Loading reads JSON and safetensors only. Any problem (not a zip, a member missing, a config
naming an unknown class, weights that do not fit) raises ``ValueError`` naming the file, and no
model is returned.
"""

import json
import os
import tempfile
import zipfile

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from plait.distribution import collectives, sharding
from plait.losses import balancing
from plait.saving import serialization
from plait.saving.weights_io import atomic_write
from plait.utils import custom_objects
from plait.utils.custom_objects import CustomObjectScope
from plait.version import __version__

FORMAT = "plait-model"
VERSION = 1
_MEMBERS = ("metadata.json", "config.json", "model.weights.safetensors")


def _ordered_state(module):
    # ``full``: weights sharded under ModelParallel are gathered whole (every process calls save).
    state = {k: sharding.full(v.detach()).contiguous().cpu() for k, v in module.state_dict().items()}
    return state, {"order": json.dumps(list(state))}


def _plain_config(value, what):
    """Compile arguments as JSON: names stay names; loss and metric objects become their class and
    config; functions become references (resolved at load like a Lambda's)."""
    from plait import losses, metrics

    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        return {k: _plain_config(v, what) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain_config(v, what) for v in value]
    if isinstance(value, losses.LossFunctionWrapper):
        return {
            "loss_function": serialization.function_reference(value.fn, f"The {what}"),
            "config": {"name": value.name, "reduction": value.reduction, **value.fn_kwargs},
        }
    if isinstance(value, losses.Loss) and getattr(losses, type(value).__name__, None) is type(value):
        return {"loss": type(value).__name__, "config": value.get_config()}
    if isinstance(value, losses.Loss) and custom_objects.registered_name(type(value)) is not None:
        return {"loss": custom_objects.registered_name(type(value)), "config": value.get_config()}
    if isinstance(value, metrics.MeanMetricWrapper) and getattr(metrics, type(value).__name__, None) is type(value):
        return {"metric": type(value).__name__, "config": {"name": value.name, **value.fn_kwargs}}
    if isinstance(value, metrics.Metric) and not isinstance(value, metrics.MeanMetricWrapper):
        # A metric object (AUC(), a registered custom Metric) by class name and config, as Keras.
        registered = custom_objects.registered_name(type(value))
        if registered is None and getattr(metrics, type(value).__name__, None) is not type(value):
            raise ValueError(
                f"Cannot save the custom {what} object {value!r}: register its class with "
                "@plait.saving.register_keras_serializable() (it needs get_config())."
            )
        return {"metric": registered or type(value).__name__, "config": value.get_config()}
    if isinstance(value, (losses.Loss, metrics.Metric)):
        raise ValueError(f"Cannot save the custom {what} object {value!r}; pass a function or a built-in instead.")
    if callable(value):
        return {"function": serialization.function_reference(value, f"The {what}")}
    raise ValueError(f"Cannot save {what} {value!r}.")


def _from_plain(value):
    from plait import losses, metrics

    if isinstance(value, list):
        return [_from_plain(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "loss" in value:
        return type(losses.get(value["loss"]))(**value["config"])
    if "metric" in value:
        cls = getattr(metrics, value["metric"], None) or custom_objects.lookup(value["metric"])
        if not (isinstance(cls, type) and issubclass(cls, metrics.Metric)):
            raise ValueError(f"unknown metric class {value['metric']!r}")
        return cls(**value["config"])
    if "loss_function" in value:
        return losses.LossFunctionWrapper(serialization.resolve_function(value["loss_function"]), **value["config"])
    if "function" in value:
        return serialization.resolve_function(value["function"])
    return {k: _from_plain(v) for k, v in value.items()}


def save_model(model, filepath, overwrite=True):
    """Write ``model`` (architecture, weights, optimizer state, compile arguments) to ``filepath``;
    a ``.keras`` path gets Keras 3's format instead (see :mod:`plait.saving.keras_writer`)."""
    filepath = os.fspath(filepath)
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"'{filepath}' exists and overwrite=False.")
    if filepath.endswith(".keras"):  # Keras 3's own format, for Keras to open
        from plait.saving.keras_writer import save_keras_model

        with collectives.writer() as writes:  # under DataParallel: process 0 writes, all wait
            return save_keras_model(model, filepath) if writes else None
    config = serialization.layer_to_config(model)
    state, meta = _ordered_state(model)
    members = {
        "metadata.json": json.dumps(
            {"format": FORMAT, "version": VERSION, "plait_version": _version(), "torch_version": torch.__version__}
        ),
        "config.json": json.dumps(config),
        "model.weights.safetensors": save_safetensors(state, metadata=meta),
    }
    if getattr(model, "compiled", False):
        config = model.get_compile_config()  # loss_weights: saved as they are now, below
        loss, metrics, weighted = config["loss"], config["metrics"], config["weighted_metrics"]
        optimizer = model.optimizer  # its state includes mixed_float16's loss scale
        inner = getattr(optimizer, "inner_optimizer", optimizer)  # compile re-wraps it for float16
        members["compile.json"] = json.dumps(
            {
                "optimizer": {"class_name": type(inner).__name__, "config": inner.get_config()},
                "optimizer_extra": {k: v for k, v in optimizer.state_dict().items() if not torch.is_tensor(v)},
                "loss": _plain_config(loss, "loss"),
                # The weights in use: a balancer's config, or the fixed weights as they are now.
                "loss_weights": balancing.serialize(model.loss_balancer)
                if model.loss_balancer.adaptive
                else model.loss_balancer.current,
                "metrics": _plain_config(metrics, "metrics"),
                "weighted_metrics": _plain_config(weighted, "metrics"),
            }
        )
        members["optimizer.safetensors"] = _tensors_blob(optimizer.state_dict())
        if model.loss_balancer.state_dict():
            members["loss_balancer.safetensors"] = _tensors_blob(model.loss_balancer.state_dict())

    members.update(_hook_members(model))

    def write(tmp):
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
            for name, data in members.items():
                archive.writestr(name, data)

    with collectives.writer() as writes:  # under a distribution: process 0 writes, then all go on
        if writes:
            atomic_write(filepath, write)


def _hook_layers(model):
    """``[(path, layer)]``: the model's layers with Keras saving hooks of their own
    (``save_own_variables`` / ``save_assets``), by module path (``""`` for the model)."""
    from plait.saving.keras_writer import user_defines

    return [
        (path, layer)
        for path, layer in model.named_modules()
        if user_defines(layer, "save_own_variables") or hasattr(layer, "save_assets") or hasattr(layer, "load_assets")
    ]


def _hook_members(model):
    """What a user's hooks save, so a plait file keeps it as a ``.keras`` file does: the stores of
    ``save_own_variables`` (``layer_state.safetensors``, keys ``<path>|<key>``) and the files of
    ``save_assets(dir)`` (``assets/<path>/...``)."""
    from plait.saving.keras_writer import user_defines

    tensors, members = {}, {}
    for path, layer in _hook_layers(model):
        if user_defines(layer, "save_own_variables"):
            store = {}
            layer.save_own_variables(store)
            tensors.update({f"{path}|{key}": torch.as_tensor(np.asarray(v)).contiguous() for key, v in store.items()})
        if hasattr(layer, "save_assets"):
            with tempfile.TemporaryDirectory() as folder:
                layer.save_assets(folder)
                for root, _, files in os.walk(folder):
                    for name in sorted(files):
                        inner = os.path.relpath(os.path.join(root, name), folder).replace(os.sep, "/")
                        with open(os.path.join(root, name), "rb") as f:
                            members[f"assets/{path}/{inner}"] = f.read()
    if tensors:
        members["layer_state.safetensors"] = save_safetensors(tensors)
    return members


def _load_hooks(model, archive, names):
    """Give each layer with hooks what its hooks saved (see :func:`_hook_members`)."""
    from plait.saving.keras_writer import user_defines

    stored = load_safetensors(archive.read("layer_state.safetensors")) if "layer_state.safetensors" in names else {}
    for path, layer in _hook_layers(model):
        if user_defines(layer, "load_own_variables"):
            prefix = f"{path}|"
            layer.load_own_variables({k[len(prefix) :]: v.numpy() for k, v in stored.items() if k.startswith(prefix)})
        if hasattr(layer, "load_assets"):
            prefix = f"assets/{path}/"
            with tempfile.TemporaryDirectory() as folder:
                for name in sorted(n for n in names if n.startswith(prefix) and not n.endswith("/")):
                    target = os.path.realpath(os.path.join(folder, name[len(prefix) :]))
                    if not target.startswith(os.path.realpath(folder) + os.sep):
                        raise ValueError(f"the asset '{name}' points outside its folder")
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    with open(target, "wb") as f:
                        f.write(archive.read(name))
                layer.load_assets(folder)


def _tensors_blob(state):
    """The tensors of a state dict as safetensors bytes (its other values go to JSON)."""
    return save_safetensors(
        {k: sharding.full(v.detach()).contiguous().cpu() for k, v in state.items() if torch.is_tensor(v)}
    )


def _version():
    return __version__


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Read a file written by ``model.save`` into a new model (same predictions, same optimizer
    state), or a Keras 3 ``.keras`` file into a native plait model.

    Args:
        filepath: the ``.plait`` file.
        custom_objects: ``{"ClassName": cls}`` for custom layers not registered by decorator.
        compile: restore the compile arguments and optimizer state (default True).
        safe_mode: plait files never hold code; with ``safe_mode=True`` (default) a ``Lambda``
            may only name functions that are registered, in ``custom_objects``, or in torch /
            math / plait; ``False`` allows importing the module a trusted file names.
    """
    filepath = os.fspath(filepath)
    if not os.path.exists(filepath):
        raise FileNotFoundError(f"No model file at '{filepath}'.")
    try:
        # As Keras's load_model: the given custom objects are in scope while the file is read.
        with serialization.loading(custom_objects, safe_mode), CustomObjectScope(custom_objects):
            if not zipfile.is_zipfile(filepath) and _is_hdf5(filepath):
                from plait.saving.keras_file import load_tf_keras_h5

                return load_tf_keras_h5(filepath)  # a tf-keras 2 .h5 full-model file
            return _load(filepath, custom_objects, compile)
    except FileNotFoundError:
        raise
    except (
        zipfile.BadZipFile,
        SafetensorError,
        json.JSONDecodeError,
        KeyError,
        UnicodeDecodeError,
        EOFError,
        OSError,
        RuntimeError,
        OverflowError,
    ) as error:
        raise ValueError(f"'{filepath}' is not a valid plait model file: {type(error).__name__}: {error}") from None
    except (ValueError, TypeError, AttributeError) as error:
        raise ValueError(f"Could not load '{filepath}': {error}") from None


def _is_hdf5(filepath):
    with open(filepath, "rb") as f:
        return f.read(8) == b"\x89HDF\r\n\x1a\n"


def _read_json(archive, name):
    value = json.loads(archive.read(name).decode("utf-8"))
    if not isinstance(value, dict):
        raise ValueError(f"member {name} must hold a JSON object")
    return value


def _load(filepath, custom_objects, compile):
    with zipfile.ZipFile(filepath) as archive:
        names = set(archive.namelist())
    if "model.weights.h5" in names and "model.weights.safetensors" not in names:
        from plait.saving.keras_file import load_keras_model

        return load_keras_model(filepath, compile)  # a Keras 3 .keras file
    with zipfile.ZipFile(filepath) as archive:
        missing = [m for m in _MEMBERS if m not in names]
        if missing:
            raise ValueError(f"the file lacks {missing}; it is not a plait model file")
        metadata = _read_json(archive, "metadata.json")
        if (
            metadata.get("format") != FORMAT
            or not isinstance(metadata.get("version"), int)
            or metadata["version"] > VERSION
        ):
            raise ValueError(f"unsupported format {metadata.get('format')!r} version {metadata.get('version')!r}")
        config = _read_json(archive, "config.json")
        weights = archive.read("model.weights.safetensors")
        compile_config = _read_json(archive, "compile.json") if "compile.json" in names else None
        optimizer_blob = archive.read("optimizer.safetensors") if "optimizer.safetensors" in names else None
        balancer_blob = archive.read("loss_balancer.safetensors") if "loss_balancer.safetensors" in names else None
    model = serialization.layer_from_config(config, custom_objects)
    state = load_safetensors(weights)
    own = model.state_dict()
    if set(state) != set(own):
        raise ValueError(
            f"the weights do not match the architecture (file: {sorted(state)[:5]}..., model: {sorted(own)[:5]}...)"
        )
    bad = [
        f"{k}: file {tuple(state[k].shape)}, model {tuple(own[k].shape)}" for k in own if state[k].shape != own[k].shape
    ]
    if bad:
        raise ValueError("weights of the wrong shape: " + "; ".join(bad))
    model.load_state_dict(state)
    for layer in model.modules():  # LoRA's factors came back as trained: their scale too
        if hasattr(layer, "restore_saved_lora_alpha"):
            layer.restore_saved_lora_alpha()
    with zipfile.ZipFile(filepath) as archive:
        _load_hooks(model, archive, names)
    if compile and compile_config is not None:
        from plait import optimizers

        opt_spec = compile_config["optimizer"]
        optimizer = optimizers.deserialize(
            {"class_name": opt_spec["class_name"], "config": _optimizer_args(opt_spec["config"])}
        )
        model.compile(
            optimizer=optimizer,
            loss=_from_plain(compile_config.get("loss")),
            loss_weights=compile_config.get("loss_weights"),
            metrics=_from_plain(compile_config.get("metrics")),
            weighted_metrics=_from_plain(compile_config.get("weighted_metrics")),
        )
        if optimizer_blob is not None:
            tensors = load_safetensors(optimizer_blob)
            model.prepare_optimizer()
            model.optimizer.load_state_dict({**compile_config.get("optimizer_extra", {}), **tensors})
        if balancer_blob is not None:
            model.loss_balancer.load_state_dict(load_safetensors(balancer_blob))
    return model


def _optimizer_args(config):
    from plait.optimizers import schedules

    config = dict(config)
    lr = config.get("learning_rate")
    if isinstance(lr, dict):
        cls = getattr(schedules, lr["class_name"], None)
        if not (isinstance(cls, type) and issubclass(cls, schedules.LearningRateSchedule)):
            raise ValueError(f"unknown learning-rate schedule {lr['class_name']!r}")
        config["learning_rate"] = cls.from_config(lr["config"])
    return config


__all__ = ["load_model", "save_model"]
