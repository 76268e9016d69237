"""The public accessors that saving, summary, serialization and export read instead of other
objects' private names: what each returns, against what the object was built from (and, where
Keras has the same name, against Keras)."""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np
import pytest
import torch

import plait
from plait.distribution import sharding
from plait.optimizers import SGD, schedules


def two_headed():
    x = plait.Input(shape=(3,), name="x")
    shared = plait.layers.Dense(4, name="shared")
    h = shared(shared(plait.layers.Dense(4, name="lift")(x)))
    return plait.Model({"x": x}, {"a": plait.layers.Dense(2, name="a")(h), "b": plait.layers.Dense(1, name="b")(h)})


def test_graph_accessors_describe_the_graph():
    model = two_headed()
    nodes = model.graph_nodes
    assert [n.layer.name for n in nodes] == ["x", "lift", "shared", "shared", "a", "b"]
    nodes.clear()  # a copy: the model keeps its nodes
    assert len(model.graph_nodes) == 6
    assert list(model.input_structure) == ["x"] and list(model.output_structure) == ["a", "b"]
    assert model.output_structure["a"] is model.outputs[0]
    shared = model.get_layer("shared")
    assert len(shared.inbound_nodes) == 2
    shared.inbound_nodes.clear()
    assert len(shared.inbound_nodes) == 2


def test_graph_call_matches_the_model_call():
    model = two_headed()
    x = torch.randn(5, 3)
    a, b = model.graph_call(x)
    out = model({"x": x})
    # Same generated code, without the input checks and repacking: equal to the last bit.
    torch.testing.assert_close(a, out["a"], rtol=0, atol=0)
    torch.testing.assert_close(b, out["b"], rtol=0, atol=0)


def test_sequential_declared_input():
    declared = plait.Sequential([plait.layers.Dense(2, input_shape=(3,), batch_size=8)])
    assert declared.input_batch_shape == (8, 3) and declared.input_dtype == torch.float32
    with_input = plait.Sequential([plait.Input(shape=(5,), dtype="int32"), plait.layers.Embedding(10, 2)])
    assert with_input.input_batch_shape == (None, 5) and with_input.input_dtype == torch.int32
    lazy = plait.Sequential([plait.layers.Dense(2)])
    assert lazy.input_batch_shape is None and lazy.ensure_graph() is False
    lazy(np.ones((4, 3), "float32"))  # built on its first data, as Keras builds it
    assert lazy.ensure_graph() is True and lazy.input_batch_shape is None


def test_maybe_build_builds_once_with_keras_shapes():
    layer = plait.layers.Dense(3)
    layer.maybe_build((None, 4))
    kernel = layer.get_weights()[0]
    layer.maybe_build((None, 7))  # already built: nothing changes
    assert layer.get_weights()[0].shape == (4, 3)
    np.testing.assert_array_equal(layer.get_weights()[0], kernel)
    keras = pytest.importorskip("keras")
    reference = keras.layers.Dense(3)
    reference.build((None, 4))
    assert [tuple(w.shape) for w in reference.weights] == [w.shape for w in layer.get_weights()]


def test_type_name_and_batch_input_shape():
    y = plait.ops.add(plait.Input(shape=(2,)), 1.0)
    assert y.node.layer.type_name() == "Add"
    assert plait.layers.Dense(1).type_name() == "Dense"
    assert plait.layers.Dense(1).batch_input_shape is None
    assert plait.layers.Dense(1, input_shape=(2, 3)).batch_input_shape == (None, 2, 3)


def test_learning_rate_schedule():
    schedule = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    assert SGD(0.01).learning_rate_schedule is None
    optimizer = SGD(schedule)
    assert optimizer.learning_rate_schedule is schedule
    optimizer.learning_rate = 0.2  # a number replaces the schedule, as in Keras
    assert optimizer.learning_rate_schedule is None


def test_loss_and_metric_wrappers_expose_their_function():
    loss = plait.losses.LossFunctionWrapper(plait.losses.mean_squared_error, name="mse")
    assert loss.fn is plait.losses.mean_squared_error
    metric = plait.metrics.MeanMetricWrapper(plait.metrics.binary_accuracy, threshold=0.3)
    assert metric.fn_kwargs == {"threshold": 0.3}


def test_sharding_state_of_a_plain_model():
    model = two_headed()
    assert sharding.mesh_of(model) is None
    assert sharding.distribution_of(model) is None
    assert sharding.sharded_by_fsdp(model) is False
