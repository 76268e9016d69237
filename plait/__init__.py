"""plait: build and train neural networks the Keras way, natively on PyTorch.

Example:
    >>> import plait
    >>> from plait.layers import Dense
    >>> inputs = plait.Input(shape=(64,))
    >>> outputs = Dense(10, activation="softmax")(Dense(32, activation="relu")(inputs))
    >>> model = plait.Model(inputs, outputs)
    >>> model.count_params()
    2410
"""

from plait import (
    activations,
    applications,
    backend,
    callbacks,
    config,
    constraints,
    datasets,
    distillation,
    distribution,
    dtype_policies,
    initializers,
    layers,
    legacy,
    losses,
    metrics,
    mixed_precision,
    models,
    ops,
    optimizers,
    preprocessing,
    quantizers,
    random,
    regularizers,
    saving,
    tree,
    utils,
)
from plait.dtype_policies import FloatDTypePolicy
from plait.function import Function
from plait.initializers import Initializer
from plait.layers import InputSpec, Layer
from plait.layers.input_layer import Input, KerasTensor
from plait.layers.preprocessing.feature_space import FeatureSpace as _FeatureSpace
from plait.layers.variables import Variable
from plait.losses import Loss
from plait.metrics import Metric
from plait.mixed_precision import DTypePolicy
from plait.models import Model, Sequential
from plait.ops import Operation
from plait.optimizers import Optimizer
from plait.quantizers import Quantizer
from plait.regularizers import Regularizer
from plait.scopes import RematScope, StatelessScope, SymbolicScope, device, name_scope, remat
from plait.version import __version__ as __version__

# Keras's ``keras.utils`` also holds names whose code sits above plait.utils in plait's import
# layers (serialization in plait.saving, dtype and tensor queries in plait.backend); the root
# package, which imports everything, hands them to plait.utils.
for _name in ("deserialize_keras_object", "get_registered_name", "get_registered_object", "serialize_keras_object"):
    setattr(utils, _name, getattr(saving, _name))
utils.FeatureSpace = _FeatureSpace  # Keras's keras.utils.FeatureSpace; its code sits with the preprocessing layers
utils.is_keras_tensor = backend.is_keras_tensor
utils.standardize_dtype = backend.standardize_dtype
utils.legacy = legacy.saving  # Keras's keras.utils.legacy: the Keras 2 serialization functions
del _name

# Namespaces that pull in optional or heavy packages (scikit-learn, torch.export, matplotlib)
# load on first use, so ``import plait`` stays light.
_LAZY = ("export", "visualization", "wrappers")


def version():
    """plait's version string (Keras's ``keras.version()``)."""
    return __version__


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return importlib.import_module(f"plait.{name}")
    raise AttributeError(f"module 'plait' has no attribute {name!r}")


__all__ = [
    # Keras 3's top-level names (``keras.Layer``, ``keras.KerasTensor``, ...).
    "DTypePolicy",
    "FloatDTypePolicy",
    "Function",
    "Initializer",
    "InputSpec",
    "KerasTensor",
    "Layer",
    "Loss",
    "Metric",
    "Operation",
    "Optimizer",
    "Quantizer",
    "Regularizer",
    "RematScope",
    "StatelessScope",
    "SymbolicScope",
    "Variable",
    "device",
    "legacy",
    "name_scope",
    "remat",
    "version",
    "config",
    "callbacks",
    "constraints",
    "regularizers",
    "datasets",
    "distillation",
    "distribution",
    "dtype_policies",
    "quantizers",
    "losses",
    "metrics",
    "mixed_precision",
    "ops",
    "optimizers",
    "random",
    "Input",
    "Model",
    "Sequential",
    "activations",
    "applications",
    "backend",
    "initializers",
    "layers",
    "models",
    "preprocessing",
    "saving",
    "tree",
    "utils",
]
