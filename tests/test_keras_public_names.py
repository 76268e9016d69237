"""Every public name of the installed Keras exists in plait, as the same kind of object.

The walk starts at ``keras`` and follows every public namespace (``keras.layers``,
``keras.utils.legacy``, ...; never ``keras.src``, Keras's implementation), so a name Keras adds
in a later release fails here until plait has it. A few names cannot work on torch; they exist
and refuse with an error that says what to use instead: ``REFUSALS`` lists them, each with its
reason, and each is called to check the error.
"""

import inspect
import os
import types

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import plait  # noqa: E402


def keras_public_names():
    """``{"layers.Dense": object, ...}``: every public name under ``keras``, namespaces included."""
    found, seen = {}, set()

    def walk(module, prefix):
        for name in sorted(dir(module)):
            if name.startswith("_"):
                continue
            value = getattr(module, name)
            if isinstance(value, types.ModuleType):
                inside = value.__name__.startswith("keras.") and not value.__name__.startswith("keras.src")
                if not inside:
                    continue  # a module Keras imported for itself (os, numpy), or its implementation
                found[prefix + name] = value
                if value.__name__ not in seen:
                    seen.add(value.__name__)
                    walk(value, f"{prefix}{name}.")
            else:
                found[prefix + name] = value

    walk(keras, "")
    return found


KERAS_NAMES = keras_public_names()


def plait_object(dotted):
    """plait's object for a Keras dotted name, or raise AttributeError naming the first part missing."""
    obj = plait
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def kind(obj):
    if isinstance(obj, types.ModuleType):
        return "namespace"
    if inspect.isclass(obj):
        return "class"
    return "function" if callable(obj) else "value"


def test_the_walk_sees_all_of_keras():
    # The walk itself must reach every namespace: a broken walk would pass with nothing to check.
    assert len(KERAS_NAMES) > 1400
    for name in ("layers.Dense", "ops.einsum", "utils.legacy.serialize_keras_object", "saving.KerasFileEditor"):
        assert name in KERAS_NAMES
    assert not any(name.startswith("src.") or ".src." in name for name in KERAS_NAMES)


def test_every_keras_public_name_exists_in_plait():
    missing = []
    for dotted in KERAS_NAMES:
        try:
            plait_object(dotted)
        except AttributeError:
            missing.append(dotted)
    assert missing == [], f"{len(missing)} of Keras's public names are missing from plait: {missing}"


def test_each_name_is_the_kind_of_object_keras_has():
    # A class where Keras has a class (users subclass it and check isinstance), something callable
    # where Keras has a function, a namespace where Keras has one.
    wrong = []
    for dotted, value in KERAS_NAMES.items():
        try:
            ours = plait_object(dotted)
        except AttributeError:
            continue  # reported by the test above
        if kind(ours) != kind(value) and not (kind(value) == "function" and kind(ours) == "class"):
            wrong.append(f"{dotted}: Keras has a {kind(value)}, plait a {kind(ours)}")
    assert wrong == []


# name -> (why it cannot work on torch, a call that must refuse, a fragment naming what to use instead)
REFUSALS = {
    "layers.JaxLayer": (
        "wraps a JAX function and its parameters; plait runs no JAX",
        lambda cls: cls(call_fn=lambda params, x: x),
        "TorchModuleWrapper",
    ),
    "layers.FlaxLayer": (
        "wraps a Flax module; plait runs no JAX",
        lambda cls: cls(module=None),
        "TorchModuleWrapper",
    ),
    "layers.TFSMLayer": (
        "loads a TensorFlow SavedModel, which needs TensorFlow's runtime",
        lambda cls: cls("saved_model_dir"),
        "load_model",
    ),
    "callbacks.OrbaxCheckpoint": (
        "checkpoints JAX state with Orbax",
        lambda cls: cls(directory="ckpt"),
        "ModelCheckpoint",
    ),
    "visualization.draw_bounding_boxes": (
        "Keras draws with OpenCV (cv2), which plait does not depend on",
        lambda fn: fn(np.zeros((1, 8, 8, 3)), {"boxes": np.zeros((1, 1, 4)), "labels": np.zeros((1, 1))}, "xyxy"),
        "torchvision.utils.draw_bounding_boxes",
    ),
    "visualization.plot_bounding_box_gallery": (
        "Keras draws with OpenCV (cv2), which plait does not depend on",
        lambda fn: fn(np.zeros((1, 8, 8, 3)), (0, 255), "xyxy"),
        "torchvision.utils.draw_bounding_boxes",
    ),
}


@pytest.mark.parametrize("dotted", sorted(REFUSALS))
def test_refused_names_exist_and_say_what_to_use_instead(dotted):
    reason, call, instead = REFUSALS[dotted]
    assert dotted in KERAS_NAMES, f"{dotted} is no longer a Keras name; drop it from REFUSALS"
    assert reason
    obj = plait_object(dotted)
    with pytest.raises(NotImplementedError) as refusal:
        call(obj)
    message = str(refusal.value)
    assert dotted.split(".")[-1] in message, message  # the error names what was refused
    assert instead in message, message  # ... and what to use instead
