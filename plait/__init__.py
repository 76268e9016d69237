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
    constraints,
    datasets,
    distribution,
    initializers,
    layers,
    losses,
    metrics,
    mixed_precision,
    models,
    ops,
    optimizers,
    random,
    regularizers,
    saving,
    utils,
)
from plait.layers.input_layer import Input
from plait.models import Model, Sequential
from plait.version import __version__ as __version__

__all__ = [
    "callbacks",
    "constraints",
    "regularizers",
    "datasets",
    "distribution",
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
    "saving",
    "utils",
]
