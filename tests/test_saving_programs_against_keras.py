"""Saving and loading, run on plait and on Keras 3: whole models in .keras (read by the other
library too) and .plait files, registered custom layers and functions, ``custom_objects`` and
``custom_object_scope``, configs and JSON (``clone_model``, ``from_config``, ``model_from_json``),
``serialize_keras_object``, weights moved between layers and between functional, subclassed and
Sequential models, ``.weights.h5`` files (read by the other library too), the weight order of a
nested layer when part of it is frozen, layers reused from a loaded model, and the configs of
registered layers that hold other layers and objects."""

import json

import numpy as np
import pytest
from twins import assert_close, keras_or_skip, to_numpy

import plait
from plait import ops

keras = keras_or_skip()
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")
LIBS = (plait, keras)
RNG = np.random.default_rng(13)


@pytest.fixture(autouse=True)
def clean_registries():
    """Each test registers its own classes; both libraries' registries are put back after it."""
    saved = {lib: dict(lib.saving.get_custom_objects()) for lib in LIBS}
    yield
    for lib in LIBS:
        lib.saving.get_custom_objects().clear()
        lib.saving.get_custom_objects().update(saved[lib])


def trained_conv_model(lib):
    inputs = lib.Input(shape=(12, 3))
    h = lib.layers.Conv1D(5, 3, activation="relu")(inputs)
    outputs = lib.layers.Dense(2)(lib.layers.GlobalAveragePooling1D()(h))
    model = lib.Model(inputs, outputs)
    model.compile(optimizer=lib.optimizers.Adam(1e-2), loss="mse")
    return model


def test_whole_models_round_trip_and_keras_reads_plaits_keras_file(tmp_path):
    x, y = RNG.normal(size=(16, 12, 3)).astype("float32"), RNG.normal(size=(16, 2)).astype("float32")
    model = trained_conv_model(plait)
    model.fit(x, y, batch_size=8, verbose=0)
    expected = model.predict(x, verbose=0)
    for name in ("conv.keras", "conv.plait"):
        model.save(tmp_path / name)
        assert_close(plait.models.load_model(tmp_path / name).predict(x, verbose=0), expected, rtol=1e-6)
    assert_close(keras.saving.load_model(tmp_path / "conv.keras").predict(x, verbose=0), expected, rtol=1e-5)


def register_clip_objects(lib):
    """A registered layer and a registered activation, under package names."""

    @lib.saving.register_keras_serializable(package="Clips")
    class SoftClip(lib.layers.Layer):
        def __init__(self, bound, **kwargs):
            super().__init__(**kwargs)
            self.bound = bound

        def call(self, x):
            return self.bound * lib.ops.tanh(x / self.bound)

        def get_config(self):
            return {**super().get_config(), "bound": self.bound}

    @lib.saving.register_keras_serializable(package="Clips", name="half_square")
    def half_square(x):
        return 0.5 * x * x

    inputs = lib.Input(shape=(3,))
    model = lib.Model(inputs, lib.layers.Dense(2, activation=half_square)(SoftClip(1.5)(inputs)))
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((2, 3), "float32"), np.ones((2, 2), "float32"), verbose=0)  # a trained optimizer too
    return SoftClip, half_square, model


def test_registered_objects_load_by_name_in_both_libraries(tmp_path):
    x = RNG.normal(size=(5, 3)).astype("float32")
    SoftClip, half_square, model = register_clip_objects(plait)
    register_clip_objects(keras)
    model.save(tmp_path / "clips.keras")
    again = plait.models.load_model(tmp_path / "clips.keras")
    assert type(again.layers[1]) is SoftClip and again.layers[2].activation is half_square
    assert_close(again.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    assert_close(keras.saving.load_model(tmp_path / "clips.keras").predict(x, verbose=0), model.predict(x, verbose=0))


def test_custom_objects_argument_and_scope(tmp_path):
    x = RNG.normal(size=(5, 3)).astype("float32")
    SoftClip, half_square, model = register_clip_objects(plait)
    model.save(tmp_path / "clips.keras")
    plait.saving.get_custom_objects().clear()  # now only what the loader is given is known
    with pytest.raises(ValueError, match="SoftClip"):
        plait.models.load_model(tmp_path / "clips.keras")
    given = {"SoftClip": SoftClip, "half_square": half_square}
    assert_close(plait.models.load_model(tmp_path / "clips.keras", custom_objects=given)(x), model(x))
    with plait.saving.custom_object_scope(given):
        assert_close(plait.models.load_model(tmp_path / "clips.keras")(x), model(x))


def test_configs_json_and_clones_match_keras():
    for cls_name, kwargs in [("Conv1D", dict(filters=4, kernel_size=2, strides=2)), ("GRU", dict(units=3))]:
        ours = getattr(plait.layers, cls_name)(**kwargs).get_config()
        theirs = getattr(keras.layers, cls_name)(**kwargs).get_config()
        assert {k: ours[k] for k in kwargs} == {k: theirs[k] for k in kwargs}
        assert getattr(plait.layers, cls_name).from_config(ours).get_config() == ours
    model = trained_conv_model(plait)
    x = RNG.normal(size=(2, 12, 3)).astype("float32")
    clone = plait.models.clone_model(model)
    assert [type(a) for a in clone.layers] == [type(b) for b in model.layers]
    assert all(a is not b for a, b in zip(clone.layers, model.layers))
    rebuilt = plait.Model.from_config(model.get_config())
    from_json = plait.models.model_from_json(model.to_json())
    for other in (clone, rebuilt, from_json):
        other.set_weights(model.get_weights())
        assert_close(other(x), model(x))
    assert json.loads(model.to_json())["class_name"] == "Functional"
    stack = plait.Sequential([plait.Input((6,)), plait.layers.Dense(3), plait.layers.Dense(1)])
    assert plait.Sequential.from_config(stack.get_config()).count_params() == 21 + 4


def test_serialize_keras_object_matches_keras():
    makers = (
        lambda lib: lib.regularizers.L1L2(l1=0.25, l2=0.5),
        lambda lib: lib.initializers.RandomNormal(mean=0.1, stddev=2.0, seed=3),
        lambda lib: lib.constraints.MinMaxNorm(0.5, 2.0, rate=0.5, axis=1),
    )
    for make in makers:
        ours, theirs = (lib.saving.serialize_keras_object(make(lib)) for lib in LIBS)
        assert ours["class_name"] == theirs["class_name"] and set(ours) == set(theirs)
        assert ours["config"] == pytest.approx(theirs["config"])
        back = plait.saving.deserialize_keras_object(ours)
        assert type(back) is type(make(plait)) and back.get_config() == make(plait).get_config()
    with pytest.raises(ValueError, match="Nowhere"):
        plait.saving.deserialize_keras_object({"class_name": "Nowhere", "config": {}})


def three_dense(lib, style):
    L = lib.layers
    sizes = [("first", 8, "relu"), ("second", 6, "relu"), ("last", 3, None)]
    if style == "functional":
        inputs = lib.Input(shape=(10,))
        h = inputs
        for index, (name, units, activation) in enumerate(sizes):
            h = L.Dense(units, activation=activation, name=name)(h)
            if index == 1:
                h = L.Dropout(0.3)(h)  # no weights: the order stays
        return lib.Model(inputs, h)
    if style == "sequential":
        return lib.Sequential([lib.Input(shape=(10,))] + [L.Dense(u, activation=a, name=n) for n, u, a in sizes])

    class Three(lib.Model):
        def __init__(self):
            super().__init__()
            self.parts = [L.Dense(u, activation=a, name=n) for n, u, a in sizes]

        def call(self, x):
            for part in self.parts:
                x = part(x)
            return x

    model = Three()
    model(np.zeros((1, 10), "float32"))
    return model


def test_weights_move_between_layers_model_styles_and_libraries(tmp_path):
    x = RNG.normal(size=(4, 10)).astype("float32")
    a, b = plait.layers.Dense(5), plait.layers.Dense(5)
    a.build((None, 10))
    b.build((None, 10))
    b.set_weights(a.get_weights())
    assert_close(a(x), b(x))
    source = three_dense(plait, "functional")
    expected = source(x)
    for style in ("subclassed", "sequential"):
        target = three_dense(plait, style)
        target.set_weights(source.get_weights())
        assert_close(target(x), expected)
    source.save_weights(tmp_path / "three.weights.h5")
    for lib in LIBS:  # the .weights.h5 file, read by both libraries into a Sequential model
        reader = three_dense(lib, "sequential")
        reader.load_weights(tmp_path / "three.weights.h5")
        assert_close(reader(x), expected, rtol=1e-5)


def test_freezing_part_of_a_nested_layer_keeps_keras_weight_order():
    def pair(lib):
        class Pair(lib.layers.Layer):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.front, self.back = lib.layers.Dense(3, name="front"), lib.layers.Dense(2, name="back")

            def call(self, x):
                return self.back(self.front(x))

        return Pair(name="pair")

    orders = {}
    for lib in LIBS:
        model = lib.Sequential([lib.Input((4,)), pair(lib)])
        before = [to_numpy(w).shape for w in model.weights]
        model.get_layer("pair").front.trainable = False
        orders[lib] = (before, [to_numpy(w).shape for w in model.weights], len(model.trainable_weights))
    assert orders[plait] == orders[keras]
    assert orders[plait][2] == 2  # (a file written before and read after freezing lines up)


def test_layers_of_a_loaded_model_start_a_new_one(tmp_path):
    x = RNG.normal(size=(3, 10)).astype("float32")
    pretrained = three_dense(plait, "functional")
    pretrained.save_weights(tmp_path / "pre.weights.h5")
    loaded = three_dense(plait, "functional")
    loaded.load_weights(tmp_path / "pre.weights.h5")
    reused = loaded.layers[1:-1]  # the two hidden layers and the dropout, with their weights
    model = plait.Sequential([plait.Input((10,)), *reused, plait.layers.Dense(7, name="new_head")])
    assert model.count_params() == 10 * 8 + 8 + 8 * 6 + 6 + 6 * 7 + 7
    features = plait.Sequential([plait.Input((10,)), *reused])
    assert_close(features(x), plait.Model(pretrained.inputs, pretrained.layers[-2].output)(x))


def holder_classes(lib):
    @lib.saving.register_keras_serializable(package="Holders", name="Projection")
    class Project(lib.layers.Layer):
        """Holds an initializer, a regularizer and (optionally) another layer in its config."""

        def __init__(self, units, *, kernel_initializer="ones", kernel_regularizer=None, inner=None, **kwargs):
            super().__init__(**kwargs)
            self.units, self.inner = units, inner
            self.kernel_initializer = lib.initializers.get(kernel_initializer)
            self.kernel_regularizer = lib.regularizers.get(kernel_regularizer)

        def build(self, input_shape):
            size = self.inner.units if self.inner is not None else input_shape[-1]
            self.kernel = self.add_weight(
                shape=(size, self.units),
                initializer=self.kernel_initializer,
                regularizer=self.kernel_regularizer,
                name="kernel",
            )

        def call(self, x):
            return lib.ops.matmul(self.inner(x) if self.inner is not None else x, self.kernel)

        def get_config(self):
            return {
                **super().get_config(),
                "units": self.units,
                "kernel_initializer": lib.saving.serialize_keras_object(self.kernel_initializer),
                "kernel_regularizer": lib.saving.serialize_keras_object(self.kernel_regularizer),
                "inner": None if self.inner is None else lib.layers.serialize(self.inner),
            }

        @classmethod
        def from_config(cls, config):
            config = dict(config)
            if config["inner"] is not None:
                config["inner"] = lib.layers.deserialize(config["inner"])
            for key in ("kernel_initializer", "kernel_regularizer"):
                config[key] = lib.saving.deserialize_keras_object(config[key])
            return cls(**config)

    return Project


def test_configs_of_layers_holding_layers_and_objects_match_keras():
    configs = {}
    for lib in LIBS:
        Project = holder_classes(lib)
        inner = Project(4, kernel_regularizer=lib.regularizers.L1L2(l1=1e-3, l2=1e-2))
        outer = Project(2, kernel_initializer=lib.initializers.Constant(0.5), inner=inner)
        configs[lib] = lib.layers.serialize(outer)
        json.dumps(configs[lib])
    ours, theirs = configs[plait], configs[keras]
    assert ours["registered_name"] == theirs["registered_name"] == "Holders>Projection"
    assert ours["config"]["inner"]["registered_name"] == "Holders>Projection"
    assert ours["config"]["inner"]["config"]["kernel_regularizer"]["class_name"] == "L1L2"
    assert ours["config"]["inner"]["config"]["kernel_regularizer"]["config"] == pytest.approx({"l1": 1e-3, "l2": 1e-2})
    rebuilt = plait.layers.deserialize(ours)
    x = RNG.normal(size=(3, 5)).astype("float32")
    assert_close(rebuilt(x), x @ np.ones((5, 4)) @ np.full((4, 2), 0.5), rtol=1e-5)
    assert isinstance(rebuilt.inner.kernel_regularizer, plait.regularizers.L1L2)


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
