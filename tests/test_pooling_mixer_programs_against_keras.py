"""Two small programs run on plait and on Keras 3 with the same weights and data: a
multiple-instance classifier whose hand-written layer pools a bag of instances by gated attention
(weights made in ``build`` with a regularizer, a list of inputs in and a list out, checkpointing
the best weights during ``fit`` with class weights), and patch-based image classifiers whose
blocks mix across patches with dense layers, a 2-D Fourier transform or a spatial gate.
Shapes, parameter counts, histories, evaluations and predictions must agree with Keras's."""

import contextlib
import io

import numpy as np
import pytest
import torch
from twins import assert_close, copy_weights, keras_or_skip, layer_table, to_numpy

import plait

keras = keras_or_skip()
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")
LIBS = (plait, keras)
RNG = np.random.default_rng(23)


@pytest.fixture(autouse=True)
def one_thread():
    global RNG
    RNG = np.random.default_rng(23)  # each test draws the same data however the tests are selected
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def summary_totals(model):
    with contextlib.redirect_stdout(io.StringIO()) as out:
        model.summary()
    return [line.split("(")[0].strip() for line in out.getvalue().splitlines() if "params:" in line]


# --- Multiple-instance learning: attention pooling over the instances of a bag -------------------

BAG = 4  # instances per bag
SIDE = 6  # each instance is a SIDE x SIDE grey picture


def bags(n):
    """``n`` bags as BAG arrays of shape (n, SIDE, SIDE) (one per instance slot) and labels (n, 1):
    a bag is positive when one of its instances is bright in its top-left corner."""
    pictures = RNG.random((BAG, n, SIDE, SIDE)).astype("float32")
    marked = RNG.random((BAG, n)) < 0.2
    pictures[:, :, :2, :2] += 2.0 * marked[..., None, None]
    return list(pictures), marked.any(axis=0).astype("int32")[:, None]


def gated_attention_pool(lib):
    ops = lib.ops

    class GatedAttentionPool(lib.layers.Layer):
        """Scores each instance embedding of a bag, ``w . (tanh(x V) * sigmoid(x U))``, and turns
        the scores into weights that sum to one over the instances. Takes a list of (batch, dim)
        tensors, one per instance; returns a list of (batch, 1) weights in the same order."""

        def __init__(self, units, gated=True, regularizer=None, **kwargs):
            super().__init__(**kwargs)
            self.units, self.gated = units, gated
            self.regularizer = lib.regularizers.get(regularizer)

        def build(self, input_shape):
            dim = input_shape[0][-1]

            def weight(name, shape):
                return self.add_weight(
                    name=name, shape=shape, initializer="glorot_uniform", regularizer=self.regularizer
                )

            self.proj = weight("proj", (dim, self.units))
            self.gate = weight("gate", (dim, self.units)) if self.gated else None
            self.score = weight("score", (self.units, 1))

        def call(self, instances):
            scores = []
            for x in instances:
                hidden = ops.tanh(ops.tensordot(x, self.proj, axes=1))
                if self.gated:
                    hidden = hidden * ops.sigmoid(ops.matmul(x, self.gate))
                scores.append(ops.tensordot(hidden, self.score, axes=1))
            weights = ops.softmax(ops.stack(scores, axis=0), axis=0)  # over the instances
            return ops.unstack(weights, axis=0)

    return GatedAttentionPool


def bag_classifier(lib):
    L = lib.layers
    embed = [L.Dense(10, activation="relu"), L.Dense(6, activation="relu")]  # shared by every slot
    inputs, embeddings = [], []
    for slot in range(BAG):
        x = lib.Input((SIDE, SIDE), name=f"instance_{slot}")
        h = L.Flatten()(x)
        for layer in embed:
            h = layer(h)
        inputs.append(x)
        embeddings.append(h)
    pool = gated_attention_pool(lib)(units=8, regularizer=lib.regularizers.L2(0.005), name="attention")
    weights = pool(embeddings)
    weighted = [L.multiply([w, e]) for w, e in zip(weights, embeddings)]
    probabilities = L.Dense(2, activation="softmax")(L.concatenate(weighted, axis=-1))
    return lib.Model(inputs, probabilities)


def test_a_bag_classifier_with_gated_attention_pooling_matches_keras(tmp_path):
    x_train, y_train = bags(12)
    x_val, y_val = bags(6)
    negatives = int((y_train == 0).sum())
    class_weight = {0: len(y_train) / (2 * negatives), 1: len(y_train) / (2 * (len(y_train) - negatives))}
    models = {lib: bag_classifier(lib) for lib in LIBS}
    copy_weights(models[plait], models[keras])
    outcome = {}
    for lib, model in models.items():
        path = str(tmp_path / f"{lib.__name__}.weights.h5")
        callbacks = [
            lib.callbacks.ModelCheckpoint(path, save_best_only=True, save_weights_only=True),
            lib.callbacks.EarlyStopping(patience=3),
        ]
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(
            x_train,
            y_train,
            validation_data=(x_val, y_val),
            class_weight=class_weight,
            batch_size=1,
            epochs=2,
            shuffle=False,
            callbacks=callbacks,
            verbose=0,
        )
        model.load_weights(path)  # the epoch with the lowest validation loss
        attention = lib.Model(model.inputs, model.get_layer("attention").output)
        outcome[lib] = {
            "history": history.history,
            "evaluate": model.evaluate(x_val, y_val, verbose=0),
            "predict": model.predict(x_val, verbose=0),
            "attention": attention.predict(x_val, verbose=0),
            "penalty": [float(to_numpy(loss)) for loss in model.losses],
        }
    # (the shared Dense layers have one output per slot: the table lists classes and counts)
    tables = {lib: [(type(la).__name__, la.count_params()) for la in m.layers] for lib, m in models.items()}
    assert tables[plait] == tables[keras]
    assert [w.shape for w in models[plait].get_weights()] == [w.shape for w in models[keras].get_weights()]
    assert summary_totals(models[plait]) == summary_totals(models[keras])
    assert len(outcome[plait]["attention"]) == BAG and len(outcome[plait]["penalty"]) == 3  # proj, gate, score
    np.testing.assert_allclose(np.sum(outcome[plait]["attention"], axis=0), 1.0, rtol=1e-6)
    assert_close(outcome[plait], outcome[keras], rtol=1e-4, atol=1e-6)
    # Keras reads plait's checkpoint into a fresh model. (Not into the compiled one: Keras writes
    # the optimizer's slots into a .weights.h5 file and expects them back; plait's file has none.)
    fresh = bag_classifier(keras)
    fresh.load_weights(str(tmp_path / "plait.weights.h5"))
    assert_close(fresh.predict(x_val, verbose=0), outcome[plait]["predict"], rtol=1e-5, atol=1e-6)


# --- Patch classifiers: mixing across patches by dense layers, a Fourier transform or a gate ------

SIZE, PATCH, WIDTH, CLASSES = 16, 4, 12, 10  # resized side, patch side, embedding width, classes
PATCHES = (SIZE // PATCH) ** 2


def mixer_layers(lib):
    """The patch layer and the three mixing blocks, written against ``lib``."""
    L, ops = lib.layers, lib.ops

    class PatchRows(L.Layer):
        """Cuts (batch, h, w, c) images into non-overlapping square patches: (batch, patches,
        side * side * c), row by row."""

        def __init__(self, side, **kwargs):
            super().__init__(**kwargs)
            self.side = side

        def call(self, images):
            grid = ops.image.extract_patches(images, self.side)
            rows, cols, depth = ops.shape(grid)[1], ops.shape(grid)[2], ops.shape(grid)[3]
            return ops.reshape(grid, (ops.shape(grid)[0], rows * cols, depth))

    class TokenMixing(L.Layer):
        """MLP-Mixer style: an MLP across the patches (on the transposed sequence), then one across
        the channels, each after its own normalization and added back."""

        def __init__(self, patches, width, rate, **kwargs):
            super().__init__(**kwargs)
            self.across_patches = lib.Sequential(
                [L.Dense(2 * patches, activation="gelu"), L.Dense(patches), L.Dropout(rate)]
            )
            self.across_channels = lib.Sequential([L.Dense(2 * width, activation="gelu"), L.Dense(width)])
            self.norm_patches = L.LayerNormalization(epsilon=1e-6)
            self.norm_channels = L.LayerNormalization(epsilon=1e-6)

        def call(self, x):
            mixed = self.across_patches(ops.transpose(self.norm_patches(x), axes=(0, 2, 1)))
            x = x + ops.transpose(mixed, axes=(0, 2, 1))
            return x + self.across_channels(self.norm_channels(x))

    class FourierMixing(L.Layer):
        """FNet style: the real part of the 2-D Fourier transform over (patches, channels) mixes
        the tokens, then a feed-forward network; post-norm residuals."""

        def __init__(self, width, rate, **kwargs):
            super().__init__(**kwargs)
            self.feed_forward = lib.Sequential([L.Dense(width, activation="gelu"), L.Dropout(rate), L.Dense(width)])
            self.norms = [L.LayerNormalization(epsilon=1e-6) for _ in range(2)]

        def call(self, x):
            real, _ = ops.fft2((x, ops.zeros_like(x)))
            x = self.norms[0](x + real)
            return self.norms[1](x + self.feed_forward(x))

    class GatedMixing(L.Layer):
        """gMLP style: channels widened by two, one half gated by a dense projection across the
        patches of the (normalized) other half, projected back and added to the input."""

        def __init__(self, patches, width, rate, **kwargs):
            super().__init__(**kwargs)
            self.norm_in = L.LayerNormalization(epsilon=1e-6)
            self.widen = L.Dense(2 * width, activation="gelu")
            self.drop = L.Dropout(rate)
            self.norm_gate = L.LayerNormalization(epsilon=1e-6)
            self.across_patches = L.Dense(patches, bias_initializer="ones")  # the gate starts open
            self.narrow = L.Dense(width)

        def call(self, x):
            content, gate = ops.split(self.drop(self.widen(self.norm_in(x))), 2, axis=-1)
            gate = ops.transpose(self.norm_gate(gate), axes=(0, 2, 1))
            gate = ops.transpose(self.across_patches(gate), axes=(0, 2, 1))
            return x + self.narrow(content * gate)

    return PatchRows, {"tokens": TokenMixing, "fourier": FourierMixing, "gated": GatedMixing}


def patch_classifier(lib, kind, images, rate, random_front):
    """Normalization (adapted to ``images``), resizing, optional random flips and zooms, patches,
    a patch embedding, two mixing blocks, average pooling and logits."""
    L = lib.layers
    PatchRows, blocks = mixer_layers(lib)
    front = [L.Normalization(), L.Resizing(SIZE, SIZE)]
    if random_front:
        front += [L.RandomFlip("horizontal"), L.RandomZoom(0.2, 0.2)]
    front = lib.Sequential(front, name="front")
    front.layers[0].adapt(images)
    make = blocks[kind]
    args = (WIDTH, rate) if kind == "fourier" else (PATCHES, WIDTH, rate)
    mixing = lib.Sequential([make(*args) for _ in range(2)], name="mixing")
    inputs = lib.Input((12, 12, 3))
    x = L.Dense(WIDTH)(PatchRows(PATCH)(front(inputs)))
    x = L.Dropout(rate)(L.GlobalAveragePooling1D()(mixing(x)))
    return lib.Model(inputs, L.Dense(CLASSES)(x))


@pytest.mark.parametrize("kind", ["tokens", "fourier", "gated"])
def test_patch_classifiers_with_mixing_blocks_match_keras(kind):
    images = RNG.integers(0, 256, (32, 12, 12, 3)).astype("uint8")
    labels = RNG.integers(0, CLASSES, (32, 1)).astype("uint8")
    train, test = slice(0, 24), slice(24, 32)

    # With dropout and random flips and zooms in the model: they only act in training, so the
    # same weights predict the same numbers.
    models = {lib: patch_classifier(lib, kind, images[train], 0.3, True) for lib in LIBS}
    copy_weights(models[plait], models[keras])
    assert [w.shape for w in models[plait].get_weights()] == [w.shape for w in models[keras].get_weights()]
    assert layer_table(models[plait]) == layer_table(models[keras])
    assert summary_totals(models[plait]) == summary_totals(models[keras])
    assert_close(
        models[plait].predict(images[test], verbose=0), models[keras].predict(images[test], verbose=0), 1e-4, 1e-5
    )

    # Training draws no random numbers without them: histories and results agree too.
    models = {lib: patch_classifier(lib, kind, images[train], 0.0, False) for lib in LIBS}
    copy_weights(models[plait], models[keras])
    outcome = {}
    for lib, model in models.items():
        model.compile(
            optimizer=lib.optimizers.AdamW(learning_rate=0.003, weight_decay=0.001),
            loss=lib.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[
                lib.metrics.SparseCategoricalAccuracy(name="acc"),
                lib.metrics.SparseTopKCategoricalAccuracy(k=3, name="top3"),
            ],
        )
        callbacks = [
            lib.callbacks.ReduceLROnPlateau(factor=0.5, patience=0, min_delta=0.5),  # halves after epoch 2
            lib.callbacks.EarlyStopping(patience=2, restore_best_weights=True),
        ]
        history = model.fit(
            images[train],
            labels[train],
            batch_size=6,
            epochs=3,
            validation_split=0.25,
            shuffle=False,
            callbacks=callbacks,
            verbose=0,
        )
        outcome[lib] = {
            "history": history.history,
            "evaluate": model.evaluate(images[test], labels[test], verbose=0),
            "predict": model.predict(images[test], verbose=0),
        }
    assert sorted(outcome[plait]["history"]) == [
        "acc",
        "learning_rate",
        "loss",
        "top3",
        "val_acc",
        "val_loss",
        "val_top3",
    ]
    np.testing.assert_allclose(outcome[plait]["history"]["learning_rate"], [0.003, 0.003, 0.0015])
    assert_close(outcome[plait], outcome[keras], rtol=1e-4, atol=1e-5)
