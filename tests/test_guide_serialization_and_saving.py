"""Keras's guide "Save, serialize, and export models", run on plait.

Ported from keras-team/keras-io, guides/keras_core/serialization_and_saving.py (Apache License
2.0, authors Neel Kovelamudi and fchollet): each section's code is the guide's with ``keras``
renamed to ``plait``, files written under pytest's ``tmp_path``. Where the guide prints
something, the same section runs on Keras 3 itself (torch backend) and the two are compared.
"""

import json
import os

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import plait  # noqa: E402
from plait import ops  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

if keras.backend.backend() != "torch":
    pytest.skip("Keras was imported with another backend", allow_module_level=True)


@pytest.fixture(autouse=True)
def _fresh_keras_names():
    """Keras's automatic names (input_layer, dense, ...) start afresh for the tests after these."""
    keras.utils.clear_session()
    yield
    keras.utils.clear_session()


@pytest.fixture(autouse=True)
def _clean_registry():
    saved = dict(plait.saving.get_custom_objects())
    yield
    plait.saving.get_custom_objects().clear()
    plait.saving.get_custom_objects().update(saved)


def test_save_and_load_whole_model(tmp_path):
    def get_model():
        inputs = plait.Input(shape=(32,))
        outputs = plait.layers.Dense(1)(inputs)
        model = plait.Model(inputs, outputs)
        model.compile(optimizer=plait.optimizers.Adam(), loss="mean_squared_error")
        return model

    model = get_model()
    test_input = np.random.random((128, 32))
    test_target = np.random.random((128, 1))
    model.fit(test_input, test_target, verbose=0)
    for name in ("my_model.keras", "my_model.plait"):
        model.save(tmp_path / name)
        reconstructed_model = plait.models.load_model(tmp_path / name)
        np.testing.assert_allclose(
            model.predict(test_input, verbose=0), reconstructed_model.predict(test_input, verbose=0)
        )


def custom_objects_model():
    """The guide's registered CustomLayer and custom_fn (after clearing the registry)."""
    plait.saving.get_custom_objects().clear()

    @plait.saving.register_keras_serializable(package="MyLayers")
    class CustomLayer(plait.layers.Layer):
        def __init__(self, factor):
            super().__init__()
            self.factor = factor

        def call(self, x):
            return x * self.factor

        def get_config(self):
            return {"factor": self.factor}

    @plait.saving.register_keras_serializable(package="my_package", name="custom_fn")
    def custom_fn(x):
        return x**2

    def get_model():
        inputs = plait.Input(shape=(4,))
        mid = CustomLayer(0.5)(inputs)
        outputs = plait.layers.Dense(1, activation=custom_fn)(mid)
        model = plait.Model(inputs, outputs)
        model.compile(optimizer="rmsprop", loss="mean_squared_error")
        return model

    def train_model(model):
        model.fit(np.random.random((4, 4)), np.random.random((4, 1)), verbose=0)
        return model

    return CustomLayer, custom_fn, get_model, train_model


def test_registered_custom_objects(tmp_path):
    CustomLayer, custom_fn, get_model, train_model = custom_objects_model()
    test_input = np.random.random((4, 4))
    model = train_model(get_model())
    path = tmp_path / "custom_model.keras"  # the guide's own file name and format
    model.save(path)
    # Now, we can simply load without worrying about our custom objects.
    reconstructed_model = plait.models.load_model(path)
    np.testing.assert_allclose(model.predict(test_input, verbose=0), reconstructed_model.predict(test_input, verbose=0))
    assert type(reconstructed_model.layers[1]) is CustomLayer
    assert reconstructed_model.layers[2].activation is custom_fn


def test_custom_objects_argument_and_scope(tmp_path):
    CustomLayer, custom_fn, get_model, train_model = custom_objects_model()
    test_input = np.random.random((4, 4))
    model = train_model(get_model())
    path = tmp_path / "custom_model.keras"  # the guide's own file name and format
    model.save(path)
    plait.saving.get_custom_objects().clear()  # only what the loader is given is known now
    with pytest.raises(ValueError, match="CustomLayer"):
        plait.models.load_model(path)
    reconstructed_model = plait.models.load_model(
        path, custom_objects={"CustomLayer": CustomLayer, "custom_fn": custom_fn}
    )
    np.testing.assert_allclose(model.predict(test_input, verbose=0), reconstructed_model.predict(test_input, verbose=0))
    custom_objects = {"CustomLayer": CustomLayer, "custom_fn": custom_fn}
    with plait.saving.custom_object_scope(custom_objects):
        reconstructed_model = plait.models.load_model(path)
    np.testing.assert_allclose(model.predict(test_input, verbose=0), reconstructed_model.predict(test_input, verbose=0))


def test_model_serialization_apis():
    _, _, get_model, train_model = custom_objects_model()
    model = train_model(get_model())
    new_model = plait.models.clone_model(model)
    assert [type(lay) for lay in new_model.layers] == [type(lay) for lay in model.layers]
    assert all(a is not b for a, b in zip(new_model.layers[1:], model.layers[1:]))

    layer = plait.layers.Dense(3, activation="relu")
    layer_config = layer.get_config()
    k_config = keras.layers.Dense(3, activation="relu").get_config()
    assert {k: layer_config[k] for k in ("units", "activation", "use_bias")} == {
        k: k_config[k] for k in ("units", "activation", "use_bias")
    }
    new_layer = plait.layers.Dense.from_config(layer_config)
    assert new_layer.units == 3

    model = plait.Sequential([plait.Input((32,)), plait.layers.Dense(1)])
    config = model.get_config()
    new_model = plait.Sequential.from_config(config)
    assert new_model.count_params() == 33

    inputs = plait.Input((32,))
    outputs = plait.layers.Dense(1)(inputs)
    model = plait.Model(inputs, outputs)
    config = model.get_config()
    new_model = plait.Model.from_config(config)
    assert new_model.count_params() == 33

    model = plait.Sequential([plait.Input((32,)), plait.layers.Dense(1)])
    json_config = model.to_json()
    new_model = plait.models.model_from_json(json_config)
    assert json.loads(json_config)["class_name"] == "Sequential" and new_model.count_params() == 33


def test_arbitrary_object_serialization():
    my_reg = plait.regularizers.L1(0.005)
    config = plait.saving.serialize_keras_object(my_reg)
    k_config = keras.saving.serialize_keras_object(keras.regularizers.L1(0.005))
    assert config["class_name"] == k_config["class_name"]
    assert config["config"] == pytest.approx(k_config["config"])  # Keras rounds to float32
    assert set(config) == set(k_config)
    new_reg = plait.saving.deserialize_keras_object(config)
    assert isinstance(new_reg, plait.regularizers.L1) and new_reg.l1 == 0.005
    with pytest.raises(ValueError, match="NoSuchThing"):
        plait.saving.deserialize_keras_object({"class_name": "NoSuchThing", "config": {}})


def test_weight_transfer(tmp_path):
    def create_layer():
        layer = plait.layers.Dense(64, activation="relu", name="dense_2")
        layer.build((None, 784))
        return layer

    layer_1 = create_layer()
    layer_2 = create_layer()
    layer_2.set_weights(layer_1.get_weights())
    np.testing.assert_array_equal(layer_2.get_weights()[0], layer_1.get_weights()[0])

    inputs = plait.Input(shape=(784,), name="digits")
    x = plait.layers.Dense(64, activation="relu", name="dense_1")(inputs)
    x = plait.layers.Dense(64, activation="relu", name="dense_2")(x)
    outputs = plait.layers.Dense(10, name="predictions")(x)
    functional_model = plait.Model(inputs=inputs, outputs=outputs, name="3_layer_mlp")

    class SubclassedModel(plait.Model):
        def __init__(self, output_dim, name=None):
            super().__init__(name=name)
            self.output_dim = output_dim
            self.dense_1 = plait.layers.Dense(64, activation="relu", name="dense_1")
            self.dense_2 = plait.layers.Dense(64, activation="relu", name="dense_2")
            self.dense_3 = plait.layers.Dense(output_dim, name="predictions")

        def call(self, inputs):
            x = self.dense_1(inputs)
            x = self.dense_2(x)
            x = self.dense_3(x)
            return x

        def get_config(self):
            return {"output_dim": self.output_dim, "name": self.name}

    subclassed_model = SubclassedModel(10)
    subclassed_model(np.ones((1, 784)))
    subclassed_model.set_weights(functional_model.get_weights())
    assert len(functional_model.weights) == len(subclassed_model.weights)
    for a, b in zip(functional_model.weights, subclassed_model.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy())

    # Stateless layers (Dropout) do not change the weights' order.
    inputs = plait.Input(shape=(784,), name="digits")
    x = plait.layers.Dense(64, activation="relu", name="dense_1")(inputs)
    x = plait.layers.Dense(64, activation="relu", name="dense_2")(x)
    x = plait.layers.Dropout(0.5)(x)
    outputs = plait.layers.Dense(10, name="predictions")(x)
    functional_model_with_dropout = plait.Model(inputs=inputs, outputs=outputs, name="3_layer_mlp")
    functional_model_with_dropout.set_weights(functional_model.get_weights())

    sequential_model = plait.Sequential(
        [
            plait.Input(shape=(784,), name="digits"),
            plait.layers.Dense(64, activation="relu", name="dense_1"),
            plait.layers.Dense(64, activation="relu", name="dense_2"),
            plait.layers.Dense(10, name="predictions"),
        ]
    )
    sequential_model.save_weights(tmp_path / "my_model.weights.h5")
    sequential_model.load_weights(tmp_path / "my_model.weights.h5")


def nested_dense_layer(lib):
    class NestedDenseLayer(lib.layers.Layer):
        def __init__(self, units, name=None):
            super().__init__(name=name)
            self.dense_1 = lib.layers.Dense(units, name="dense_1")
            self.dense_2 = lib.layers.Dense(units, name="dense_2")

        def call(self, inputs):
            return self.dense_2(self.dense_1(inputs))

    return NestedDenseLayer


def test_nested_weight_order_changes_with_trainable():
    names = {}
    for lib in (plait, keras):
        nested_model = lib.Sequential([lib.Input((784,)), nested_dense_layer(lib)(10, "nested")])
        variable_names = [v.name for v in nested_model.weights]
        nested_model.get_layer("nested").dense_1.trainable = False
        variable_names_2 = [v.name for v in nested_model.weights]
        names[lib] = (variable_names, variable_names_2)
    assert names[plait] == names[keras]


def test_transfer_learning_extracted_layers(tmp_path):
    def create_functional_model():
        inputs = plait.Input(shape=(784,), name="digits")
        x = plait.layers.Dense(64, activation="relu", name="dense_1")(inputs)
        x = plait.layers.Dense(64, activation="relu", name="dense_2")(x)
        outputs = plait.layers.Dense(10, name="predictions")(x)
        return plait.Model(inputs=inputs, outputs=outputs, name="3_layer_mlp")

    functional_model = create_functional_model()
    functional_model.save_weights(tmp_path / "pretrained.weights.h5")
    pretrained_model = create_functional_model()
    pretrained_model.load_weights(tmp_path / "pretrained.weights.h5")
    extracted_layers = pretrained_model.layers[:-1]
    extracted_layers.append(plait.layers.Dense(5, name="dense_3"))
    model = plait.Sequential(extracted_layers)
    lines = []
    model.summary(print_fn=lines.append)
    assert model.count_params() == 784 * 64 + 64 + 64 * 64 + 64 + 64 * 5 + 5


def my_dense(lib):
    @lib.saving.register_keras_serializable(package="MyLayers", name="KernelMult")
    class MyDense(lib.layers.Layer):
        def __init__(self, units, *, kernel_regularizer=None, kernel_initializer=None, nested_model=None, **kwargs):
            super().__init__(**kwargs)
            self.hidden_units = units
            self.kernel_regularizer = kernel_regularizer
            self.kernel_initializer = kernel_initializer
            self.nested_model = nested_model

        def get_config(self):
            config = super().get_config()
            config.update(
                {
                    "units": self.hidden_units,
                    "kernel_regularizer": self.kernel_regularizer,
                    "kernel_initializer": self.kernel_initializer,
                    "nested_model": self.nested_model,
                }
            )
            return config

        def build(self, input_shape):
            input_units = input_shape[-1]
            self.kernel = self.add_weight(
                name="kernel",
                shape=(input_units, self.hidden_units),
                regularizer=self.kernel_regularizer,
                initializer=self.kernel_initializer,
            )

        def call(self, inputs):
            return lib.ops.matmul(inputs, self.kernel)

    return MyDense


def test_config_methods_appendix():
    MyDense = my_dense(plait)
    layer = MyDense(units=16, kernel_regularizer="l1", kernel_initializer="ones")
    layer3 = MyDense(units=64, nested_model=layer)
    config = plait.layers.serialize(layer3)
    json.dumps(config)  # JSON-able
    k_layer = my_dense(keras)(units=16, kernel_regularizer="l1", kernel_initializer="ones")
    k_config = keras.layers.serialize(my_dense(keras)(units=64, nested_model=k_layer))
    assert config["registered_name"] == k_config["registered_name"] == "MyLayers>KernelMult"
    assert config["class_name"] == k_config["class_name"] == "MyDense"
    assert config["config"]["nested_model"]["registered_name"] == "MyLayers>KernelMult"
    new_layer = plait.layers.deserialize(config)
    assert isinstance(new_layer, MyDense) and new_layer.hidden_units == 64

    @plait.saving.register_keras_serializable(package="ComplexModels")
    class CustomModel(plait.layers.Layer):
        def __init__(self, first_layer, second_layer=None, **kwargs):
            super().__init__(**kwargs)
            self.first_layer = first_layer
            if second_layer is not None:
                self.second_layer = second_layer
            else:
                self.second_layer = plait.layers.Dense(8)

        def get_config(self):
            config = super().get_config()
            config.update({"first_layer": self.first_layer, "second_layer": self.second_layer})
            return config

        @classmethod
        def from_config(cls, config):
            config["first_layer"] = plait.layers.deserialize(config["first_layer"])
            config["second_layer"] = plait.layers.deserialize(config["second_layer"])
            return cls(**config)

        def call(self, inputs):
            return self.first_layer(self.second_layer(inputs))

    inputs = plait.Input((32,))
    outputs = CustomModel(first_layer=layer)(inputs)
    model = plait.Model(inputs, outputs)
    config = model.get_config()
    new_model = plait.Model.from_config(config)
    x = np.random.random((2, 32)).astype("float32")
    assert tuple(new_model(torch.as_tensor(x)).shape) == (2, 16)

    layer = MyDense(units=16, kernel_regularizer=plait.regularizers.L1L2(l1=1e-5, l2=1e-4), kernel_initializer="ones")
    config = plait.layers.serialize(layer)
    assert config["registered_name"] == "MyLayers>KernelMult"
    assert config["config"]["kernel_regularizer"]["class_name"] == "L1L2"
    assert config["config"]["kernel_regularizer"]["config"] == {"l1": 1e-5, "l2": 1e-4}


def test_custom_metric_object_saves(tmp_path):
    """ModelCheckpoint / save of a model compiled with metric objects (built-in and custom)."""

    @plait.saving.register_keras_serializable()
    class Total(plait.metrics.Metric):
        def __init__(self, name="total", **kwargs):
            super().__init__(name=name, **kwargs)
            self.total = self.add_variable(shape=(), initializer="zeros", name="total")

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.total.assign_add(ops.sum(y_pred))

        def result(self):
            return self.total.value

    inputs = plait.Input((4,))
    model = plait.Model(inputs, plait.layers.Dense(1, activation="sigmoid")(inputs))
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=[plait.metrics.AUC(num_thresholds=50), Total()])
    x, y = np.random.random((16, 4)), (np.random.random((16, 1)) > 0.5).astype("float32")
    history = model.fit(x, y, epochs=1, verbose=0, callbacks=[plait.callbacks.ModelCheckpoint(tmp_path / "m.plait")])
    assert sorted(history.history) == ["auc", "loss", "total"]
    loaded = plait.models.load_model(tmp_path / "m.plait")
    metrics = loaded.evaluate(x, y, verbose=0, return_dict=True)
    assert sorted(metrics) == ["auc", "loss", "total"]
    np.testing.assert_allclose(metrics["total"], float(model.predict(x, verbose=0).sum()), rtol=1e-5)


def test_custom_layer_without_get_config_saves(tmp_path):
    """Keras records a layer's plain constructor arguments: no get_config needed to save it."""

    class Scale(plait.layers.Layer):
        def __init__(self, factor, offset=0.0):
            super().__init__()
            self.factor, self.offset = factor, offset

        def call(self, x):
            return x * self.factor + self.offset

    class KerasScale(keras.layers.Layer):
        def __init__(self, factor, offset=0.0):
            super().__init__()
            self.factor, self.offset = factor, offset

    config, k_config = Scale(2.0, offset=1.0).get_config(), KerasScale(2.0, offset=1.0).get_config()
    assert sorted(config) == sorted(k_config) == ["dtype", "factor", "offset", "trainable"]
    assert (config["factor"], config["offset"]) == (k_config["factor"], k_config["offset"])
    inputs = plait.Input((3,))
    model = plait.Model(inputs, Scale(2.0, offset=1.0)(inputs))
    model.save(tmp_path / "m.plait")
    loaded = plait.models.load_model(tmp_path / "m.plait", custom_objects={"Scale": Scale})
    np.testing.assert_allclose(loaded.predict(np.ones((1, 3)), verbose=0), [[3.0, 3.0, 3.0]])


def test_custom_layers_with_weights_cross_between_plait_and_keras_in_keras_files(tmp_path):
    """A registered custom layer with its own weight, a sublayer and a list of sublayers, and a
    registered activation, written as Keras writes them: each library loads the other's file
    (with its own class registered under the same name) and predicts the same."""

    def define(lib):
        @lib.saving.register_keras_serializable(package="Guide")
        class Gated(lib.layers.Layer):
            def __init__(self, units, **kwargs):
                super().__init__(**kwargs)
                self.units = units
                self.inner = lib.layers.Dense(units, name="inner")
                self.stages = [lib.layers.Dense(units), lib.layers.Dense(units, activation="tanh")]

            def build(self, input_shape):
                self.gate = self.add_weight(shape=(self.units,), initializer="random_normal", name="gate")

            def call(self, x):
                x = self.inner(x)
                for stage in self.stages:
                    x = stage(x)
                return x * self.gate

            def get_config(self):
                return {**super().get_config(), "units": self.units}

        @lib.saving.register_keras_serializable(package="Guide", name="cube")
        def cube(x):
            return x**3

        inputs = lib.Input(shape=(5,))
        outputs = lib.layers.Dense(2, activation=cube)(Gated(4)(inputs))
        return lib.Model(inputs, outputs)

    x = np.random.RandomState(0).rand(6, 5).astype("float32")
    model, reference = define(plait), define(keras)
    assert [w.shape for w in model.get_weights()] == [tuple(w.shape) for w in reference.get_weights()]
    model.save(tmp_path / "plait.keras")
    from_plait = keras.saving.load_model(tmp_path / "plait.keras")
    np.testing.assert_allclose(
        from_plait(x).detach().numpy(), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )  # Keras read plait's layout
    reference.save(tmp_path / "keras.keras")
    from_keras = plait.saving.load_model(tmp_path / "keras.keras")
    np.testing.assert_allclose(
        from_keras.predict(x, verbose=0), reference(x).detach().numpy(), rtol=1e-5, atol=1e-6
    )  # and plait Keras's
    assert type(from_keras.layers[1]).__name__ == "Gated" and from_keras.layers[1].units == 4


def test_subclassed_models_cross_between_plait_and_keras_in_keras_files(tmp_path):
    """A registered subclassed model with get_config, as Keras saves one: class, config, the
    first call's input shape (build_config), weights by attribute (a list of layers too) and
    the optimizer's state. Each library loads the other's file; training goes on identically."""

    def define(lib):
        @lib.saving.register_keras_serializable(package="Guide")
        class Regressor(lib.Model):
            def __init__(self, output_dim, **kwargs):
                super().__init__(**kwargs)
                self.output_dim = output_dim
                self.dense_1 = lib.layers.Dense(4, activation="relu", name="dense_1")
                self.blocks = [lib.layers.Dense(3), lib.layers.Dense(3, activation="tanh")]
                self.dense_3 = lib.layers.Dense(output_dim, name="predictions")

            def call(self, inputs):
                x = self.dense_1(inputs)
                for block in self.blocks:
                    x = block(x)
                return self.dense_3(x)

            def get_config(self):
                return {"output_dim": self.output_dim, "name": self.name}

        return Regressor(2)

    rng = np.random.RandomState(0)
    x, y = rng.rand(8, 5).astype("float32"), rng.rand(8, 2).astype("float32")
    model, reference = define(plait), define(keras)
    model(x[:1])
    reference(x[:1])
    model.set_weights(reference.get_weights())
    for m in (model, reference):
        m.compile(optimizer="adam", loss="mse")
        m.fit(x, y, batch_size=4, shuffle=False, verbose=0)
    model.save(tmp_path / "plait.keras")
    reference.save(tmp_path / "keras.keras")
    from_plait = keras.saving.load_model(tmp_path / "plait.keras")
    from_keras = plait.saving.load_model(tmp_path / "keras.keras")
    assert type(from_keras).__name__ == "Regressor" and from_keras.output_dim == 2
    expected, ours = reference(x).detach().numpy(), model.predict(x, verbose=0)
    # Two Adam steps from the same weights (Adam's first steps amplify float rounding).
    np.testing.assert_allclose(ours, expected, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(from_plait(x).detach().numpy(), ours, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(from_keras.predict(x, verbose=0), expected, rtol=1e-6, atol=1e-7)
    # The optimizer state travelled: one more epoch gives Keras's loss.
    ours = from_keras.fit(x, y, batch_size=4, shuffle=False, verbose=0).history["loss"]
    theirs = reference.fit(x, y, batch_size=4, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(ours, theirs, rtol=1e-4)
    unbuilt = define(plait)
    with pytest.raises(ValueError, match="not built yet"):
        unbuilt.save(tmp_path / "unbuilt.keras")
