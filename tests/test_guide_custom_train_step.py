"""Keras's guide "Customizing what happens in `fit()` with PyTorch", run on plait.

Ported from keras-team/keras-io, guides/custom_train_step_in_torch.py (Apache License 2.0,
author fchollet): each section's code is the guide's with ``keras`` renamed to ``plait`` and
small synthetic data instead of MNIST. Each section also runs on Keras 3 itself (torch backend)
from the same initial weights, and History must agree: the same keys, and the same numbers
where the step is deterministic.
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
def keras_names_from_zero():
    """Keras's automatic names restart for each test, and are left clean for the next file."""
    keras.utils.clear_session()
    yield
    keras.utils.clear_session()


X = np.random.RandomState(0).random_sample((64, 32))
Y = np.random.RandomState(1).random_sample((64, 1))
SW = np.random.RandomState(2).random_sample((64, 1))


def first_example(lib):
    """'A first simple example': compute_loss, self.metrics, optimizer.apply."""

    class CustomModel(lib.Model):
        def train_step(self, data):
            x, y = data
            self.zero_grad()
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
            loss.backward()
            trainable_weights = [v for v in self.trainable_weights]
            gradients = [v.value.grad for v in trainable_weights]
            with torch.no_grad():
                self.optimizer.apply(gradients, trainable_weights)
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

    inputs = lib.Input(shape=(32,))
    outputs = lib.layers.Dense(1)(inputs)
    model = CustomModel(inputs, outputs)
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    return model, lambda m: m.fit(X, Y, epochs=3, shuffle=False, verbose=0)


def lower_level(lib):
    """'Going lower-level': own metrics listed in `metrics`, compile(optimizer) only."""

    class CustomModel(lib.Model):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.loss_tracker = lib.metrics.Mean(name="loss")
            self.mae_metric = lib.metrics.MeanAbsoluteError(name="mae")
            self.loss_fn = lib.losses.MeanSquaredError()

        def train_step(self, data):
            x, y = data
            self.zero_grad()
            y_pred = self(x, training=True)
            loss = self.loss_fn(y, y_pred)
            loss.backward()
            trainable_weights = [v for v in self.trainable_weights]
            gradients = [v.value.grad for v in trainable_weights]
            with torch.no_grad():
                self.optimizer.apply(gradients, trainable_weights)
            self.loss_tracker.update_state(loss)
            self.mae_metric.update_state(y, y_pred)
            return {"loss": self.loss_tracker.result(), "mae": self.mae_metric.result()}

        @property
        def metrics(self):
            return [self.loss_tracker, self.mae_metric]

    inputs = lib.Input(shape=(32,))
    outputs = lib.layers.Dense(1)(inputs)
    model = CustomModel(inputs, outputs)
    model.compile(optimizer="adam")
    return model, lambda m: m.fit(X, Y, epochs=5, shuffle=False, verbose=0)


def sample_weights(lib):
    """'Supporting sample_weight & class_weight'."""

    class CustomModel(lib.Model):
        def train_step(self, data):
            if len(data) == 3:
                x, y, sample_weight = data
            else:
                sample_weight = None
                x, y = data
            self.zero_grad()
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred, sample_weight=sample_weight)
            loss.backward()
            trainable_weights = [v for v in self.trainable_weights]
            gradients = [v.value.grad for v in trainable_weights]
            with torch.no_grad():
                self.optimizer.apply(gradients, trainable_weights)
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(y, y_pred, sample_weight=sample_weight)
            return {m.name: m.result() for m in self.metrics}

    inputs = lib.Input(shape=(32,))
    outputs = lib.layers.Dense(1)(inputs)
    model = CustomModel(inputs, outputs)
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    return model, lambda m: m.fit(X, Y, sample_weight=SW, epochs=3, shuffle=False, verbose=0)


def own_test_step(lib):
    """'Providing your own evaluation step'."""

    class CustomModel(lib.Model):
        def test_step(self, data):
            x, y = data
            y_pred = self(x, training=False)
            loss = self.compute_loss(y=y, y_pred=y_pred)
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

    inputs = lib.Input(shape=(32,))
    outputs = lib.layers.Dense(1)(inputs)
    model = CustomModel(inputs, outputs)
    model.compile(loss="mse", metrics=["mae"])
    return model, lambda m: m.evaluate(X, Y, verbose=0)


def same_weights(k_model, p_model):
    p_model.set_weights([np.asarray(w) for w in k_model.get_weights()])


@pytest.mark.parametrize("section", [first_example, lower_level, sample_weights])
def test_custom_train_step_sections_match_keras(section):
    k_model, k_run = section(keras)
    p_model, p_run = section(plait)
    same_weights(k_model, p_model)
    k_history, p_history = k_run(k_model).history, p_run(p_model).history
    assert set(p_history) == set(k_history)
    for key, values in k_history.items():
        assert all(type(v) is float for v in p_history[key]), key
        np.testing.assert_allclose(p_history[key], values, rtol=2e-5, atol=1e-6, err_msg=key)
    np.testing.assert_allclose(p_model.predict(X, verbose=0), k_model.predict(X, verbose=0), rtol=1e-5, atol=1e-6)


def test_custom_test_step_matches_keras():
    k_model, k_run = own_test_step(keras)
    p_model, p_run = own_test_step(plait)
    same_weights(k_model, p_model)
    np.testing.assert_allclose(p_run(p_model), k_run(k_model), rtol=1e-5)


@pytest.mark.filterwarnings("ignore:To copy construct from a tensor:UserWarning")  # the guide's torch.tensor(t)
def test_gan_section_trains():
    """'Wrapping up: an end-to-end GAN example', on 64 random 28x28 images."""
    keras_lib = plait
    layers = plait.layers
    discriminator = keras_lib.Sequential(
        [
            keras_lib.Input(shape=(28, 28, 1)),
            layers.Conv2D(64, (3, 3), strides=(2, 2), padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Conv2D(128, (3, 3), strides=(2, 2), padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.GlobalMaxPooling2D(),
            layers.Dense(1),
        ],
        name="discriminator",
    )
    latent_dim = 128
    generator = keras_lib.Sequential(
        [
            keras_lib.Input(shape=(latent_dim,)),
            layers.Dense(7 * 7 * 128),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Reshape((7, 7, 128)),
            layers.Conv2DTranspose(128, (4, 4), strides=(2, 2), padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Conv2DTranspose(128, (4, 4), strides=(2, 2), padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Conv2D(1, (7, 7), padding="same", activation="sigmoid"),
        ],
        name="generator",
    )

    class GAN(keras_lib.Model):
        def __init__(self, discriminator, generator, latent_dim):
            super().__init__()
            self.discriminator = discriminator
            self.generator = generator
            self.latent_dim = latent_dim
            self.d_loss_tracker = keras_lib.metrics.Mean(name="d_loss")
            self.g_loss_tracker = keras_lib.metrics.Mean(name="g_loss")
            self.seed_generator = keras_lib.random.SeedGenerator(1337)
            self.built = True

        @property
        def metrics(self):
            return [self.d_loss_tracker, self.g_loss_tracker]

        def compile(self, d_optimizer, g_optimizer, loss_fn):
            super().compile()
            self.d_optimizer = d_optimizer
            self.g_optimizer = g_optimizer
            self.loss_fn = loss_fn

        def train_step(self, real_images):
            device = "cuda" if torch.cuda.is_available() else "cpu"
            if isinstance(real_images, tuple):
                real_images = real_images[0]
            batch_size = real_images.shape[0]
            random_latent_vectors = keras_lib.random.normal(
                shape=(batch_size, self.latent_dim), seed=self.seed_generator
            )
            generated_images = self.generator(random_latent_vectors)
            real_images = torch.tensor(real_images, device=device)
            combined_images = torch.concat([generated_images, real_images], axis=0)
            labels = torch.concat(
                [torch.ones((batch_size, 1), device=device), torch.zeros((batch_size, 1), device=device)], axis=0
            )
            labels += 0.05 * keras_lib.random.uniform(labels.shape, seed=self.seed_generator)
            self.zero_grad()
            predictions = self.discriminator(combined_images)
            d_loss = self.loss_fn(labels, predictions)
            d_loss.backward()
            grads = [v.value.grad for v in self.discriminator.trainable_weights]
            with torch.no_grad():
                self.d_optimizer.apply(grads, self.discriminator.trainable_weights)
            random_latent_vectors = keras_lib.random.normal(
                shape=(batch_size, self.latent_dim), seed=self.seed_generator
            )
            misleading_labels = torch.zeros((batch_size, 1), device=device)
            self.zero_grad()
            predictions = self.discriminator(self.generator(random_latent_vectors))
            g_loss = self.loss_fn(misleading_labels, predictions)
            grads = g_loss.backward()
            grads = [v.value.grad for v in self.generator.trainable_weights]
            with torch.no_grad():
                self.g_optimizer.apply(grads, self.generator.trainable_weights)
            self.d_loss_tracker.update_state(d_loss)
            self.g_loss_tracker.update_state(g_loss)
            return {"d_loss": self.d_loss_tracker.result(), "g_loss": self.g_loss_tracker.result()}

    all_digits = np.random.RandomState(0).random_sample((64, 28, 28, 1)).astype("float32")
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(all_digits), torch.from_numpy(all_digits))
    dataloader = torch.utils.data.DataLoader(dataset, batch_size=32, shuffle=True)
    gan = GAN(discriminator=discriminator, generator=generator, latent_dim=latent_dim)
    gan.compile(
        d_optimizer=plait.optimizers.Adam(learning_rate=0.0003),
        g_optimizer=plait.optimizers.Adam(learning_rate=0.0003),
        loss_fn=plait.losses.BinaryCrossentropy(from_logits=True),
    )
    d_before = [w.copy() for w in discriminator.get_weights()]
    g_before = [w.copy() for w in generator.get_weights()]
    history = gan.fit(dataloader, epochs=1, verbose=0)
    assert set(history.history) == {"d_loss", "g_loss"}
    assert all(np.isfinite(v) and type(v) is float for v in history.history["d_loss"] + history.history["g_loss"])
    # Each optimizer moved its own network's weights.
    assert any(not np.array_equal(a, b) for a, b in zip(d_before, discriminator.get_weights()))
    assert any(not np.array_equal(a, b) for a, b in zip(g_before, generator.get_weights()))
