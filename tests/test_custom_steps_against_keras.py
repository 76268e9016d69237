"""Custom ``train_step`` / ``test_step`` written the torch way (``zero_grad``, ``backward``, the
weights' ``.value.grad``, ``optimizer.apply``) run on plait and on Keras 3 from the same weights
and data: ``compute_loss`` with and without sample weights, a model's own metric trackers listed
in ``metrics``, an evaluation step that reports an extra number, and a two-network adversarial
model with its own ``compile``, two optimizers and seeded noise, trained on a torch DataLoader.
History (and predictions) must agree with Keras's."""

import numpy as np
import pytest
import torch
from twins import assert_close, copy_weights, keras_or_skip

import plait

keras = keras_or_skip()
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")
RNG = np.random.default_rng(11)
X = RNG.normal(size=(48, 6)).astype("float32")
Y = (X[:, :2] @ np.array([[1.5], [-0.5]], "float32") + 0.1 * RNG.normal(size=(48, 1))).astype("float32")
WEIGHTS = RNG.uniform(0.2, 2.0, size=(48,)).astype("float32")
LABELS = (X[:, 0] > 0).astype("int64") + (X[:, 1] > 0.5).astype("int64")


def apply_gradients(model, optimizer, loss, weights):
    """The torch way: gradients from backward(), read from each weight's value."""
    loss.backward()
    with torch.no_grad():
        optimizer.apply([w.value.grad for w in weights], weights)


def regression_model(lib):
    class Regressor(lib.Model):
        def train_step(self, data):
            x, y, sample_weight = lib.utils.unpack_x_y_sample_weight(data)
            self.zero_grad()
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight)
            apply_gradients(self, self.optimizer, loss, self.trainable_weights)
            for metric in self.metrics:
                if metric.name == "loss":
                    metric.update_state(loss)
                else:
                    metric.update_state(y, y_pred, sample_weight=sample_weight)
            return {metric.name: metric.result() for metric in self.metrics}

    inputs = lib.Input(shape=(6,))
    hidden = lib.layers.Dense(8, activation="tanh")(inputs)
    model = Regressor(inputs, lib.layers.Dense(1)(hidden))
    model.compile(optimizer=lib.optimizers.Adam(0.01), loss="mean_absolute_error", metrics=["mse"])
    return model


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "sample_weight"])
def test_train_step_with_compute_loss_matches_keras(weighted):
    models = {lib: regression_model(lib) for lib in (plait, keras)}
    copy_weights(models[keras], models[plait])
    extra = {"sample_weight": WEIGHTS} if weighted else {}
    histories = {
        lib: model.fit(X, Y, batch_size=16, epochs=3, shuffle=False, verbose=0, **extra).history
        for lib, model in models.items()
    }
    assert sorted(histories[plait]) == sorted(histories[keras]) == ["loss", "mse"]
    assert all(type(v) is float for values in histories[plait].values() for v in values)
    assert_close(histories[plait], histories[keras], rtol=2e-5)
    # Adam on an absolute error (sign gradients, normalized) lets float rounding grow a little.
    assert_close(models[plait].predict(X, verbose=0), models[keras].predict(X, verbose=0), rtol=1e-4, atol=1e-5)


def classifier_with_trackers(lib):
    class Classifier(lib.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.body = lib.layers.Dense(10, activation="relu")
            self.head = lib.layers.Dense(3)
            self.loss_fn = lib.losses.SparseCategoricalCrossentropy(from_logits=True)
            self.loss_mean = lib.metrics.Mean(name="xent")
            self.hits = lib.metrics.SparseCategoricalAccuracy(name="hits")

        def call(self, x):
            return self.head(self.body(x))

        @property
        def metrics(self):  # reset by fit at each epoch's start
            return [self.loss_mean, self.hits]

        def train_step(self, data):
            x, y = data
            self.zero_grad()
            logits = self(x, training=True)
            loss = self.loss_fn(y, logits)
            apply_gradients(self, self.optimizer, loss, self.trainable_weights)
            self.loss_mean.update_state(loss)
            self.hits.update_state(y, logits)
            return {"xent": self.loss_mean.result(), "hits": self.hits.result()}

    model = Classifier()
    model(X[:1])
    model.compile(optimizer=lib.optimizers.SGD(0.05, momentum=0.9))
    return model


def test_own_trackers_and_compile_with_only_an_optimizer_match_keras():
    models = {lib: classifier_with_trackers(lib) for lib in (plait, keras)}
    copy_weights(models[keras], models[plait])
    histories = {lib: m.fit(X, LABELS, batch_size=12, epochs=4, shuffle=False, verbose=0) for lib, m in models.items()}
    assert_close(histories[plait].history, histories[keras].history, rtol=2e-5)
    assert histories[plait].history["hits"][-1] > histories[plait].history["hits"][0]


def model_with_test_step(lib):
    class Evaluated(lib.Model):
        def test_step(self, data):
            x, y = data
            y_pred = self(x, training=False)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred)
            for metric in self.metrics:
                metric.update_state(loss) if metric.name == "loss" else metric.update_state(y, y_pred)
            logs = {metric.name: metric.result() for metric in self.metrics}
            logs["mean_prediction"] = lib.ops.mean(y_pred)  # the last batch's: Keras keeps the last logs
            return logs

    inputs = lib.Input(shape=(6,))
    model = Evaluated(inputs, lib.layers.Dense(1, activation="softplus")(inputs))
    model.compile(loss="huber", metrics=["mae", lib.metrics.RootMeanSquaredError(name="rmse")])
    return model


def test_own_test_step_matches_keras():
    models = {lib: model_with_test_step(lib) for lib in (plait, keras)}
    copy_weights(models[keras], models[plait])
    results = {lib: m.evaluate(X, Y, batch_size=20, verbose=0, return_dict=True) for lib, m in models.items()}
    assert sorted(results[plait]) == ["loss", "mae", "mean_prediction", "rmse"]
    assert_close(results[plait], results[keras], rtol=1e-5)


def adversarial_pair(lib):
    """A critic learns to tell data from a generator's samples; the generator learns to fool it."""
    L = lib.layers
    critic = lib.Sequential([lib.Input(shape=(4,)), L.Dense(8), L.LeakyReLU(0.1), L.Dense(1)], name="critic")
    maker = lib.Sequential([lib.Input(shape=(3,)), L.Dense(8, activation="relu"), L.Dense(4)], name="maker")

    class Adversarial(lib.Model):
        def __init__(self, critic, maker):
            super().__init__()
            self.critic, self.maker = critic, maker
            self.critic_loss = lib.metrics.Mean(name="critic_loss")
            self.maker_loss = lib.metrics.Mean(name="maker_loss")
            self.noise = lib.random.SeedGenerator(2024)
            self.built = True

        @property
        def metrics(self):
            return [self.critic_loss, self.maker_loss]

        def compile(self, critic_optimizer, maker_optimizer):
            super().compile()
            self.critic_optimizer, self.maker_optimizer = critic_optimizer, maker_optimizer
            self.bce = lib.losses.BinaryCrossentropy(from_logits=True)

        def train_step(self, batch):
            real = batch[0] if isinstance(batch, (tuple, list)) else batch
            n = real.shape[0]
            fake = self.maker(lib.random.normal((n, 3), seed=self.noise))
            labels = torch.cat([torch.zeros(n, 1), torch.ones(n, 1)])
            labels = labels + 0.05 * lib.random.uniform((2 * n, 1), seed=self.noise)  # label noise
            self.zero_grad()
            critic_loss = self.bce(labels, self.critic(torch.cat([fake.detach(), real])))
            apply_gradients(self, self.critic_optimizer, critic_loss, self.critic.trainable_weights)
            self.zero_grad()
            fooled = self.critic(self.maker(lib.random.normal((n, 3), seed=self.noise)))
            maker_loss = self.bce(torch.ones(n, 1), fooled)
            apply_gradients(self, self.maker_optimizer, maker_loss, self.maker.trainable_weights)
            self.critic_loss.update_state(critic_loss)
            self.maker_loss.update_state(maker_loss)
            return {"critic_loss": self.critic_loss.result(), "maker_loss": self.maker_loss.result()}

    model = Adversarial(critic, maker)
    model.compile(lib.optimizers.Adam(3e-3), lib.optimizers.RMSprop(1e-3))
    return model


def test_adversarial_pair_on_a_dataloader_matches_keras():
    data = torch.from_numpy(RNG.normal(loc=1.0, size=(40, 4)).astype("float32"))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(data), batch_size=8, shuffle=False)
    models = {lib: adversarial_pair(lib) for lib in (plait, keras)}
    copy_weights(models[keras].critic, models[plait].critic)
    copy_weights(models[keras].maker, models[plait].maker)
    histories = {lib: m.fit(loader, epochs=2, shuffle=False, verbose=0).history for lib, m in models.items()}
    assert sorted(histories[plait]) == ["critic_loss", "maker_loss"]
    assert_close(histories[plait], histories[keras], rtol=1e-4)
    assert_close(models[plait].maker.get_weights(), models[keras].maker.get_weights(), rtol=1e-4, atol=1e-6)
