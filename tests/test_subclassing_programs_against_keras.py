"""Layers and models written by subclassing, run on plait and on Keras 3 with the same weights and
inputs: weights made in ``__init__`` or in ``build``, a non-trainable running state updated with
``assign_add``, nested layers, ``add_loss`` (per call, nested, from regularizers, during ``fit``
with and without a compiled loss), ``get_config``/``from_config``, the ``training`` and ``mask``
arguments, a variational autoencoder with seeded sampling, and layers held in lists and dicts."""

import copy
import pickle

import numpy as np
import pytest
import torch
from twins import assert_close, copy_weights, keras_or_skip, to_numpy

import plait

keras = keras_or_skip()
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")
LIBS = (plait, keras)
RNG = np.random.default_rng(9)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def affine_eager(lib):
    class Affine(lib.layers.Layer):
        """Weights made in __init__: the input size is given."""

        def __init__(self, n_in, n_out):
            super().__init__()
            self.scale = self.add_weight(shape=(n_in, n_out), initializer="random_normal")
            self.shift = self.add_weight(shape=(n_out,), initializer="ones")

        def call(self, x):
            return lib.ops.matmul(x, self.scale) - self.shift

    return Affine


def test_weights_made_in_init_are_named_and_used_as_in_keras():
    keras.utils.clear_session(free_memory=False)  # Keras's automatic names start afresh too
    layers = {lib: affine_eager(lib)(3, 5) for lib in LIBS}
    copy_weights(layers[plait], layers[keras])
    ours = layers[plait]
    assert [w.name for w in ours.weights] == [w.name for w in layers[keras].weights] == ["variable", "variable_1"]
    assert list(ours.state_dict()) == ["scale", "shift"]  # torch sees them under their attributes
    x = RNG.normal(size=(4, 3)).astype("float32")
    assert_close(ours(x), layers[keras](x))
    assert_close(ours(x), x @ to_numpy(ours.scale) - 1.0)


def running_total(lib):
    class RunningTotal(lib.layers.Layer):
        """Counts the rows it has seen and sums them, in non-trainable weights."""

        def __init__(self, width):
            super().__init__()
            self.rows = self.add_weight(shape=(), initializer="zeros", trainable=False)
            self.sums = self.add_weight(shape=(width,), initializer="zeros", trainable=False)

        def call(self, x):
            self.rows.assign_add(lib.ops.cast(lib.ops.shape(x)[0], "float32"))
            self.sums.assign_add(lib.ops.sum(x, axis=0))
            return self.sums / self.rows

    return RunningTotal


def test_a_running_state_in_non_trainable_weights_matches_keras():
    batches = [RNG.normal(size=(n, 3)).astype("float32") for n in (2, 5, 1)]
    seen = {}
    for lib in LIBS:
        layer = running_total(lib)(3)
        means = [to_numpy(layer(batch)).copy() for batch in batches]
        seen[lib] = (means, len(layer.trainable_weights), len(layer.non_trainable_weights))
    assert seen[plait][1:] == seen[keras][1:] == (0, 2)
    assert_close(seen[plait][0], seen[keras][0])
    assert_close(seen[plait][0][-1], np.concatenate(batches).mean(axis=0), rtol=1e-5)


def gated_block(lib):
    class Lazy(lib.layers.Layer):
        """Weights made in build, when the input size is known."""

        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform")
            self.bias = self.add_weight(shape=(self.units,), initializer="random_normal")

        def call(self, x):
            return lib.ops.matmul(x, self.kernel) + self.bias

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    class Gated(lib.layers.Layer):
        """Nested layers: a value path and a sigmoid gate, then a projection."""

        def __init__(self):
            super().__init__()
            self.value, self.gate, self.out = Lazy(6), Lazy(6), Lazy(2)

        def call(self, x):
            return self.out(lib.activations.tanh(self.value(x)) * lib.activations.sigmoid(self.gate(x)))

    return Lazy, Gated


def test_nested_layers_built_on_first_call_match_keras():
    blocks = {lib: gated_block(lib)[1]() for lib in LIBS}
    assert not blocks[plait].value.built
    x = RNG.normal(size=(3, 7)).astype("float32")
    for block in blocks.values():
        block(x)
    assert blocks[plait].value.built
    assert [to_numpy(w).shape for w in blocks[plait].weights] == [to_numpy(w).shape for w in blocks[keras].weights]
    assert len(blocks[plait].trainable_weights) == 6
    copy_weights(blocks[plait], blocks[keras])
    assert_close(blocks[plait](x), blocks[keras](x))


def test_get_config_and_from_config_round_trip_as_in_keras():
    configs = {}
    for lib in LIBS:
        Lazy = gated_block(lib)[0]
        layer = Lazy(9, name="lazy")
        configs[lib] = layer.get_config()
        again = Lazy.from_config(configs[lib])
        assert again.units == 9 and again.name == "lazy"
    assert configs[plait]["units"] == 9 and {"name", "trainable", "dtype"} <= set(configs[plait])
    assert set(configs[plait]) <= set(configs[keras])


def penalized(lib):
    class Penalty(lib.layers.Layer):
        """Adds ``rate * mean(|x|)`` as a loss at each call."""

        def __init__(self, rate):
            super().__init__()
            self.rate = rate

        def call(self, x):
            self.add_loss(self.rate * lib.ops.mean(lib.ops.abs(x)))
            return x

    class Holder(lib.layers.Layer):
        def __init__(self):
            super().__init__()
            self.penalty = Penalty(0.1)
            self.dense = lib.layers.Dense(3, kernel_regularizer=lib.regularizers.L1(0.01))

        def call(self, x):
            return self.dense(self.penalty(x))

    return Penalty, Holder


def test_losses_added_in_calls_and_by_regularizers_match_keras():
    found = {}
    for lib in LIBS:
        holder = penalized(lib)[1]()
        before = len(holder.losses)
        holder(np.full((2, 4), -2.0, "float32"))
        holder(np.full((2, 4), 3.0, "float32"))  # the losses of the last call only
        found[lib] = (before, holder)
    copy_weights(found[plait][1], found[keras][1])
    values = {lib: sorted(float(to_numpy(v)) for v in holder.losses) for lib, (_, holder) in found.items()}
    assert found[plait][0] == found[keras][0] == 0
    assert values[plait] == pytest.approx(values[keras], rel=1e-6) and len(values[plait]) == 2, values
    kernel = to_numpy(found[plait][1].dense.kernel)
    assert values[plait] == pytest.approx(sorted([0.3, 0.01 * np.abs(kernel).sum()]), rel=1e-6)


@pytest.mark.filterwarnings("ignore:The model does not have any trainable weights")  # Keras's warning
@pytest.mark.parametrize("compiled_loss", ["mae", None])
def test_added_losses_during_fit_match_keras(compiled_loss):
    x, y = RNG.normal(size=(12, 4)).astype("float32"), RNG.normal(size=(12, 3)).astype("float32")
    histories = {}
    models = {}
    for lib in LIBS:
        Penalty, _ = penalized(lib)
        inputs = lib.Input(shape=(4,))
        models[lib] = lib.Model(inputs, Penalty(0.1)(lib.layers.Dense(3)(inputs)))  # the penalty reaches the kernel
    copy_weights(models[plait], models[keras])
    for lib, model in models.items():
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss=compiled_loss)
        histories[lib] = model.fit(x, y, batch_size=6, epochs=2, shuffle=False, verbose=0).history
    assert sorted(histories[plait]) == sorted(histories[keras]) == ["loss"]
    assert_close(histories[plait], histories[keras], rtol=1e-5)


def spies(lib, seen):
    class TrainingSpy(lib.layers.Layer):
        def __init__(self):
            super().__init__()
            self.supports_masking = True  # passes the mask on to the pooling

        def call(self, x, training=None):
            seen.append(("training", training))
            return lib.random.dropout(x, 0.5, seed=1) if training else x

    class MaskSpy(lib.layers.Layer):
        def __init__(self):
            super().__init__()
            self.supports_masking = True

        def call(self, x, mask=None):
            if mask is not None and getattr(mask, "is_meta", False):
                return x  # a shape inference on torch's meta device: no values to record
            seen.append(("mask", None if mask is None else to_numpy(mask).tolist()))
            return x

    return TrainingSpy, MaskSpy


def test_the_training_and_mask_arguments_reach_call_as_in_keras():
    tokens = np.array([[4, 2, 0, 0], [1, 0, 3, 0]])
    seen = {}
    for lib in LIBS:
        seen[lib] = []
        TrainingSpy, MaskSpy = spies(lib, seen[lib])
        inputs = lib.Input(shape=(4,), dtype="int32")
        h = MaskSpy()(lib.layers.Embedding(5, 3, mask_zero=True)(inputs))
        model = lib.Model(inputs, lib.layers.Dense(1)(lib.layers.GlobalAveragePooling1D()(TrainingSpy()(h))))
        model.compile(optimizer="sgd", loss="mse")
        del seen[lib][:]  # what building printed
        model.fit(tokens, np.ones((2, 1)), batch_size=2, verbose=0)
        model.predict(tokens, verbose=0)
    for lib, entries in seen.items():  # (Keras also makes one training=False call as fit starts)
        flags = [value for kind, value in entries if kind == "training"]
        assert True in flags[:-1] and flags[-1] is False, lib.__name__  # fit trains, predict does not
    masks = {lib: [entry for entry in entries if entry[0] == "mask"][-1] for lib, entries in seen.items()}
    assert masks[plait] == masks[keras] == ("mask", [[True, True, False, False], [True, False, True, False]])
    # the layer alone: dropout only when asked
    layer = spies(plait, [])[0]()
    x = torch.ones(50, 8)
    assert torch.equal(layer(x), x) and 0.25 < float((layer(x, training=True) == 0).float().mean()) < 0.75


def vae(lib):
    L = lib.layers

    class Draw(L.Layer):
        """z = mean + exp(log_var / 2) * noise, the noise from a seeded generator."""

        def __init__(self):
            super().__init__()
            self.noise = lib.random.SeedGenerator(77)

        def call(self, stats):
            mean, log_var = stats
            return mean + lib.ops.exp(0.5 * log_var) * lib.random.normal(lib.ops.shape(mean), seed=self.noise)

    class VAE(lib.Model):
        def __init__(self, width, latent):
            super().__init__(name="vae")
            self.hidden, self.to_mean, self.to_log_var = (
                L.Dense(12, activation="relu"),
                L.Dense(latent),
                L.Dense(latent),
            )
            self.draw = Draw()
            self.decode = lib.Sequential([L.Dense(12, activation="relu"), L.Dense(width, activation="sigmoid")])

        def call(self, x):
            h = self.hidden(x)
            mean, log_var = self.to_mean(h), self.to_log_var(h)
            kl = -0.5 * lib.ops.mean(1 + log_var - lib.ops.square(mean) - lib.ops.exp(log_var))
            self.add_loss(kl)
            return self.decode(self.draw((mean, log_var)))

    return VAE(width=10, latent=3)


def test_a_variational_autoencoder_with_seeded_sampling_trains_as_in_keras():
    data = RNG.random((40, 10)).astype("float32")
    models = {lib: vae(lib) for lib in LIBS}
    for model in models.values():
        model(data[:2])
    copy_weights(models[plait], models[keras])
    histories = {}
    for lib, model in models.items():
        model.compile(lib.optimizers.Adam(1e-2), loss=lib.losses.MeanSquaredError())
        histories[lib] = model.fit(data, data, batch_size=10, epochs=3, shuffle=False, verbose=0).history
    assert list(histories[plait]) == ["loss"]
    assert_close(histories[plait], histories[keras], rtol=1e-4)
    assert_close(models[plait].get_weights(), models[keras].get_weights(), rtol=1e-4, atol=1e-6)


def stacked(lib):
    L = lib.layers

    class Stacked(L.Layer):
        def __init__(self):
            super().__init__()
            self.trunk = [L.Dense(6, activation="relu"), L.Dense(5)]
            self.heads = []
            for units in (4, 3):  # filled in a loop
                self.heads.append(L.Dense(units))
            self.gates = {"out": L.Dense(3, activation="sigmoid")}
            self.labels = ["plain", "strings"]

        def call(self, x):
            for layer in self.trunk + self.heads:
                x = layer(x)
            return x * self.gates["out"](x)

    inputs = lib.Input(shape=(7,))
    return lib.Model(inputs, Stacked()(inputs))


def test_layers_kept_in_lists_and_dicts_are_tracked_and_trained_as_in_keras():
    models = {lib: stacked(lib) for lib in LIBS}
    assert models[plait].count_params() == models[keras].count_params() == 48 + 35 + 24 + 15 + 12
    copy_weights(models[plait], models[keras])
    x, y = RNG.normal(size=(8, 7)).astype("float32"), RNG.normal(size=(8, 3)).astype("float32")
    for lib, model in models.items():
        model.compile(optimizer=lib.optimizers.SGD(0.05), loss="mse")
        model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    assert_close(models[plait].get_weights(), models[keras].get_weights(), rtol=1e-5)
    layer = models[plait].layers[1]
    assert layer.labels == ["plain", "strings"] and pickle.loads(pickle.dumps(layer.labels)) == layer.labels
    assert_close(copy.deepcopy(models[plait]).predict(x, verbose=0), models[plait].predict(x, verbose=0))


def test_a_call_open_in_another_thread_leaves_this_threads_losses_alone():
    """A background compile calls a model's copy in its own thread while the fit calls the
    model: each thread's outermost call starts its own losses afresh."""
    import threading

    entered, release = threading.Event(), threading.Event()

    class Waiting(plait.layers.Layer):
        def call(self, x):
            entered.set()
            release.wait(10)
            return x

    other = threading.Thread(target=lambda: Waiting()(np.ones((1, 2), "float32")))
    other.start()
    try:
        assert entered.wait(10)
        holder = penalized(plait)[1]()
        holder(np.full((2, 4), -2.0, "float32"))
        holder(np.full((2, 4), 3.0, "float32"))
        assert len(holder.losses) == 2
    finally:
        release.set()
        other.join()
