"""Keras's guide "Making new layers and models via subclassing", run on plait.

Ported from keras-team/keras-io, guides/keras_core/making_new_layers_and_models_via_subclassing.py
(Apache License 2.0, author fchollet): each section's code is the guide's with ``keras`` renamed
to ``plait`` (``from plait import ops``), and small synthetic data instead of MNIST. Where the
guide prints something, the test runs the same section on Keras 3 itself (torch backend) and
compares.
"""

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import plait  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

if keras.backend.backend() != "torch":
    pytest.skip("Keras was imported with another backend", allow_module_level=True)


@pytest.fixture(autouse=True)
def _fresh_keras_names():
    """Keras's automatic names (input_layer, dense, ...) start afresh for the tests after these."""
    keras.utils.clear_session()
    yield
    keras.utils.clear_session()


def linear_in_init(lib):
    ops = lib.ops

    class Linear(lib.layers.Layer):
        def __init__(self, units=32, input_dim=32):
            super().__init__()
            self.w = self.add_weight(
                shape=(input_dim, units),
                initializer="random_normal",
                trainable=True,
            )
            self.b = self.add_weight(shape=(units,), initializer="zeros", trainable=True)

        def call(self, inputs):
            return ops.matmul(inputs, self.w) + self.b

    return Linear


def test_layer_with_weights_in_init():
    Linear = linear_in_init(plait)
    x = plait.ops.ones((2, 2))
    linear_layer = Linear(4, 2)
    y = linear_layer(x)
    assert tuple(y.shape) == (2, 4)
    assert linear_layer.weights == [linear_layer.w, linear_layer.b]
    # Auto-named as Keras names them ("variable", "variable_1"); stored under the attribute.
    assert [w.name for w in linear_layer.weights] == ["variable", "variable_1"]
    assert list(linear_layer.state_dict()) == ["w", "b"]
    np.testing.assert_allclose(y.detach().numpy(), x.numpy() @ linear_layer.w.numpy() + linear_layer.b.numpy())


def compute_sum(lib):
    ops = lib.ops

    class ComputeSum(lib.layers.Layer):
        def __init__(self, input_dim):
            super().__init__()
            self.total = self.add_weight(initializer="zeros", shape=(input_dim,), trainable=False)

        def call(self, inputs):
            self.total.assign_add(ops.sum(inputs, axis=0))
            return self.total

    return ComputeSum


def test_non_trainable_weights():
    out = {}
    for lib in (plait, keras):
        x = lib.ops.ones((2, 2))
        my_sum = compute_sum(lib)(2)
        y1 = np.array(my_sum(x))
        y2 = np.array(my_sum(x))
        out[lib] = (y1, y2, len(my_sum.weights), len(my_sum.non_trainable_weights), len(my_sum.trainable_weights))
    np.testing.assert_array_equal(out[plait][0], [2.0, 2.0])
    np.testing.assert_array_equal(out[plait][1], [4.0, 4.0])
    assert out[plait][2:] == out[keras][2:] == (1, 1, 0)


def lazy_linear(lib, with_config=False):
    ops = lib.ops

    class Linear(lib.layers.Layer):
        def __init__(self, units=32, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal", trainable=True)
            self.b = self.add_weight(shape=(self.units,), initializer="random_normal", trainable=True)

        def call(self, inputs):
            return ops.matmul(inputs, self.w) + self.b

        if with_config:

            def get_config(self):
                config = super().get_config()
                config.update({"units": self.units})
                return config

    return Linear


def mlp_block(lib):
    Linear = lazy_linear(lib)

    class MLPBlock(lib.layers.Layer):
        def __init__(self):
            super().__init__()
            self.linear_1 = Linear(32)
            self.linear_2 = Linear(32)
            self.linear_3 = Linear(1)

        def call(self, inputs):
            x = self.linear_1(inputs)
            x = lib.activations.relu(x)
            x = self.linear_2(x)
            x = lib.activations.relu(x)
            return self.linear_3(x)

    return MLPBlock


def test_build_on_first_call_and_nesting():
    linear_layer = lazy_linear(plait)(32)
    assert not linear_layer.built
    y = linear_layer(plait.ops.ones((2, 2)))
    assert linear_layer.built and tuple(y.shape) == (2, 32)
    counts = {}
    for lib in (plait, keras):
        mlp = mlp_block(lib)()
        y = mlp(lib.ops.ones(shape=(3, 64)))
        counts[lib] = (len(mlp.weights), len(mlp.trainable_weights), tuple(y.shape))
    assert counts[plait] == counts[keras] == (6, 6, (3, 1))


def activity_layers(lib):
    ops = lib.ops

    class ActivityRegularizationLayer(lib.layers.Layer):
        def __init__(self, rate=1e-2):
            super().__init__()
            self.rate = rate

        def call(self, inputs):
            self.add_loss(self.rate * ops.mean(inputs))
            return inputs

    class OuterLayer(lib.layers.Layer):
        def __init__(self):
            super().__init__()
            self.activity_reg = ActivityRegularizationLayer(1e-2)

        def call(self, inputs):
            return self.activity_reg(inputs)

    return ActivityRegularizationLayer, OuterLayer


def test_add_loss_reset_each_call():
    _, OuterLayer = activity_layers(plait)
    layer = OuterLayer()
    assert len(layer.losses) == 0  # No losses yet since the layer has never been called
    _ = layer(plait.ops.zeros((1, 1)))
    assert len(layer.losses) == 1  # We created one loss value
    # `layer.losses` gets reset at the start of each __call__
    _ = layer(plait.ops.ones((1, 1)))
    assert len(layer.losses) == 1
    assert float(layer.losses[0].detach()) == pytest.approx(1e-2)


def test_kernel_regularizer_in_losses():
    class OuterLayerWithKernelRegularizer(plait.layers.Layer):
        def __init__(self):
            super().__init__()
            self.dense = plait.layers.Dense(32, kernel_regularizer=plait.regularizers.l2(1e-3))

        def call(self, inputs):
            return self.dense(inputs)

    layer = OuterLayerWithKernelRegularizer()
    _ = layer(plait.ops.zeros((1, 1)))
    # This is `1e-3 * sum(layer.dense.kernel ** 2)`
    (loss,) = layer.losses
    assert float(loss.detach()) == pytest.approx(1e-3 * float((layer.dense.kernel.numpy() ** 2).sum()), rel=1e-5)


@pytest.mark.filterwarnings("ignore:The model does not have any trainable weights")  # Keras warns
def test_add_loss_in_fit():
    x = np.random.RandomState(0).random_sample((2, 3))
    y = np.random.RandomState(1).random_sample((2, 3))
    losses = {}
    for lib in (plait, keras):
        ActivityRegularizationLayer, _ = activity_layers(lib)
        inputs = lib.Input(shape=(3,))
        outputs = ActivityRegularizationLayer()(inputs)
        model = lib.Model(inputs, outputs)
        # If there is a loss passed in `compile`, the regularization losses get added to it
        model.compile(optimizer="adam", loss="mse")
        h1 = model.fit(x, y, verbose=0)
        # It's also possible not to pass any loss in `compile`. (Keras keeps the loss of an earlier
        # compile() when recompiled with none, which the guide does not mean: a fresh model here.)
        model = lib.Model(inputs, outputs)
        model.compile(optimizer="adam")
        h2 = model.fit(x, y, verbose=0)
        losses[lib] = (h1.history, h2.history)
    expected = float(((x - y) ** 2).mean() + 1e-2 * x.mean())
    assert losses[plait][0]["loss"][0] == pytest.approx(expected, rel=1e-5)
    for ours, theirs in zip(losses[plait], losses[keras]):
        assert sorted(ours) == sorted(theirs)
        np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=1e-5)


def test_get_config_round_trip():
    ops = plait.ops

    class Linear(plait.layers.Layer):
        def __init__(self, units=32):
            super().__init__()
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal", trainable=True)
            self.b = self.add_weight(shape=(self.units,), initializer="random_normal", trainable=True)

        def call(self, inputs):
            return ops.matmul(inputs, self.w) + self.b

        def get_config(self):
            return {"units": self.units}

    layer = Linear(64)
    config = layer.get_config()
    assert config == {"units": 64}
    new_layer = Linear.from_config(config)
    assert new_layer.units == 64

    layer = lazy_linear(plait, with_config=True)(64)
    config = layer.get_config()
    k_config = lazy_linear(keras, with_config=True)(64).get_config()
    assert config["units"] == 64 and {"name", "trainable", "dtype"} <= set(config)
    assert set(config) <= set(k_config)
    new_layer = type(layer).from_config(config)
    assert new_layer.units == 64 and new_layer.name == layer.name


def test_training_argument():
    class CustomDropout(plait.layers.Layer):
        def __init__(self, rate, **kwargs):
            super().__init__(**kwargs)
            self.rate = rate

        def call(self, inputs, training=None):
            if training:
                return plait.random.dropout(inputs, rate=self.rate)
            return inputs

    layer = CustomDropout(0.5)
    x = torch.ones(100, 10)
    assert torch.equal(layer(x), x)
    dropped = layer(x, training=True)
    assert 0.3 < float((dropped == 0).float().mean()) < 0.7
    # fit passes training=True into the call of a layer inside a model.
    seen = []

    class Spy(plait.layers.Layer):
        def call(self, inputs, training=None):
            seen.append(training)
            return inputs

    inputs = plait.Input(shape=(10,))
    model = plait.Model(inputs, plait.layers.Dense(1)(Spy()(CustomDropout(0.5)(inputs))))
    model.compile(optimizer="sgd", loss="mse")
    seen.clear()
    model.fit(np.ones((4, 10)), np.ones((4, 1)), verbose=0)
    model.predict(np.ones((4, 10)), verbose=0)
    assert seen[0] is True and seen[-1] is False


def test_mask_argument():
    seen = []

    class MaskSpy(plait.layers.Layer):
        supports_masking = True

        def call(self, inputs, mask=None):
            seen.append(mask)
            return inputs

    inputs = plait.Input(shape=(None,), dtype="int32")
    x = plait.layers.Embedding(10, 4, mask_zero=True)(inputs)
    model = plait.Model(inputs, MaskSpy()(x))
    model.predict(np.array([[1, 2, 0]]), verbose=0)
    assert seen[-1] is not None
    np.testing.assert_array_equal(np.asarray(seen[-1]), [[True, True, False]])


def vae_classes(lib):
    ops, layers = lib.ops, lib.layers

    class Sampling(layers.Layer):
        """Uses (z_mean, z_log_var) to sample z, the vector encoding a digit."""

        def call(self, inputs):
            z_mean, z_log_var = inputs
            batch = ops.shape(z_mean)[0]
            dim = ops.shape(z_mean)[1]
            epsilon = lib.random.normal(shape=(batch, dim))
            return z_mean + ops.exp(0.5 * z_log_var) * epsilon

    class Encoder(layers.Layer):
        def __init__(self, latent_dim=32, intermediate_dim=64, name="encoder", **kwargs):
            super().__init__(name=name, **kwargs)
            self.dense_proj = layers.Dense(intermediate_dim, activation="relu")
            self.dense_mean = layers.Dense(latent_dim)
            self.dense_log_var = layers.Dense(latent_dim)
            self.sampling = Sampling()

        def call(self, inputs):
            x = self.dense_proj(inputs)
            z_mean = self.dense_mean(x)
            z_log_var = self.dense_log_var(x)
            z = self.sampling((z_mean, z_log_var))
            return z_mean, z_log_var, z

    class Decoder(layers.Layer):
        def __init__(self, original_dim, intermediate_dim=64, name="decoder", **kwargs):
            super().__init__(name=name, **kwargs)
            self.dense_proj = layers.Dense(intermediate_dim, activation="relu")
            self.dense_output = layers.Dense(original_dim, activation="sigmoid")

        def call(self, inputs):
            x = self.dense_proj(inputs)
            return self.dense_output(x)

    class VariationalAutoEncoder(lib.Model):
        def __init__(self, original_dim, intermediate_dim=64, latent_dim=32, name="autoencoder", **kwargs):
            super().__init__(name=name, **kwargs)
            self.original_dim = original_dim
            self.encoder = Encoder(latent_dim=latent_dim, intermediate_dim=intermediate_dim)
            self.decoder = Decoder(original_dim, intermediate_dim=intermediate_dim)

        def call(self, inputs):
            z_mean, z_log_var, z = self.encoder(inputs)
            reconstructed = self.decoder(z)
            # Add KL divergence regularization loss.
            kl_loss = -0.5 * ops.mean(z_log_var - ops.square(z_mean) - ops.exp(z_log_var) + 1)
            self.add_loss(kl_loss)
            return reconstructed

    return VariationalAutoEncoder


def test_vae_end_to_end():
    x_train = np.random.RandomState(0).random_sample((256, 64)).astype("float32")
    vae = vae_classes(plait)(64, 16, 8)
    vae(x_train[:2])
    assert len(vae.losses) == 1  # the KL term of the last call
    optimizer = plait.optimizers.Adam(learning_rate=1e-3)
    vae.compile(optimizer, loss=plait.losses.MeanSquaredError())
    history = vae.fit(x_train, x_train, epochs=2, batch_size=64, verbose=0)
    assert list(history.history) == ["loss"]
    # The reported loss is MSE plus the KL term: more than the MSE alone.
    recon = vae.predict(x_train, verbose=0)
    mse = float(((np.asarray(recon) - x_train) ** 2).mean())
    assert history.history["loss"][-1] > mse * 0.9
    assert np.isfinite(history.history["loss"]).all()


def test_layers_held_in_lists_and_dicts_are_tracked_as_keras_tracks_them():
    """Keras tracks the layers a layer keeps in lists and dicts (`self.blocks = [...]`, or an
    empty list filled in a loop); their weights are counted, trained and saved."""

    def block_model(lib):
        class Stack(lib.layers.Layer):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.blocks = [lib.layers.Dense(4), lib.layers.Dense(4)]
                self.heads = []
                for units in (3, 2):
                    self.heads.append(lib.layers.Dense(units))
                self.by_name = {"gate": lib.layers.Dense(2, activation="sigmoid")}
                self.notes = []
                self.notes.append("not a layer")

            def call(self, x):
                for block in self.blocks:
                    x = block(x)
                for head in self.heads:
                    x = head(x)
                return x * self.by_name["gate"](x)

        inputs = lib.Input(shape=(5,))
        return lib.Model(inputs, Stack()(inputs))

    model, reference = block_model(plait), block_model(keras)
    assert model.count_params() == reference.count_params() == 24 + 20 + 15 + 8 + 6
    assert [w.shape for w in model.get_weights()] == [tuple(w.shape) for w in reference.get_weights()]
    model.set_weights(reference.get_weights())
    x = np.random.RandomState(0).rand(6, 5).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), reference.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    model.compile("sgd", "mse")
    before = model.get_weights()
    model.fit(x, np.ones((6, 2)), verbose=0)
    assert all((a != b).any() for a, b in zip(before, model.get_weights()))  # every weight was trained
    assert model.layers[1].notes == ["not a layer"]
    # Copies and pickles (torch.save(model)) still work: the list of plain values is a list.
    import copy
    import pickle

    assert pickle.loads(pickle.dumps(model.layers[1].notes)) == ["not a layer"]
    twin = copy.deepcopy(model)
    np.testing.assert_allclose(twin.predict(x, verbose=0), model.predict(x, verbose=0))
