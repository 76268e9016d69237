"""Transformer programs of the kinds keras-io's examples build, run on plait and on Keras 3 with the
same weights and data: an image transformer (images cut into patches by a custom layer, a learned
vector per patch position, pre-norm attention blocks, an augmentation front, AdamW and a weights
checkpoint) and a small causal language model (a hand-built attention mask, a post-norm decoder
block with its own config, two outputs of which only one has a loss, and a callback that writes
text from the model at the end of each epoch). Shapes, parameter counts, configs, histories,
predictions and generated tokens must agree with Keras's."""

import numpy as np
import pytest
import torch
from twins import assert_close, copy_weights, keras_or_skip, layer_table, to_numpy

import plait

keras = keras_or_skip()
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")
LIBS = (plait, keras)
RNG = np.random.default_rng(47)


@pytest.fixture(autouse=True)
def one_thread():
    global RNG
    RNG = np.random.default_rng(47)  # each test draws the same data however the tests are selected
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --- An image transformer -------------------------------------------------------------------------


def patch_layers(lib):
    """Two custom layers: one cuts images into flat patches, one projects them and adds a learned
    vector per patch position. Both write their arguments into their configs."""
    L, ops = lib.layers, lib.ops

    class Patchify(L.Layer):
        """(batch, height, width, channels) -> (batch, patches, side * side * channels)."""

        def __init__(self, side, **kwargs):
            super().__init__(**kwargs)
            self.side = side

        def call(self, images):
            cut = ops.image.extract_patches(images, size=self.side)  # (batch, rows, cols, side*side*channels)
            rows, cols, depth = ops.shape(cut)[1:]
            return ops.reshape(cut, (-1, rows * cols, depth))

        def get_config(self):
            return {**super().get_config(), "side": self.side}

    class PlacedPatches(L.Layer):
        """A Dense projection of each patch plus an Embedding row for its place in the sequence."""

        def __init__(self, count, width, **kwargs):
            super().__init__(**kwargs)
            self.count, self.width = count, width
            self.project = L.Dense(width)
            self.places = L.Embedding(input_dim=count, output_dim=width)

        def call(self, patches):
            where = ops.arange(self.count)[None, :]
            return self.project(patches) + self.places(where)

        def get_config(self):
            return {**super().get_config(), "count": self.count, "width": self.width}

    return Patchify, PlacedPatches


def image_transformer(lib, pictures, augment, rate):
    """A 20x20 RGB classifier: (augmentation), 4x4 patches of the image resized to 16x16, two
    pre-norm attention blocks, a flattened head giving 7 logits. ``pictures`` adapt the
    Normalization in front."""
    L = lib.layers
    Patchify, PlacedPatches = patch_layers(lib)
    front = [L.Normalization(), L.Resizing(16, 16)]
    if augment:
        front += [L.RandomFlip("horizontal"), L.RandomRotation(0.05), L.RandomZoom(0.1, 0.1)]
    front = lib.Sequential(front, name="front")
    front.layers[0].adapt(pictures)

    images = lib.Input((20, 20, 3))
    x = PlacedPatches(count=16, width=12)(Patchify(side=4)(front(images)))
    for _ in range(2):
        normed = L.LayerNormalization(epsilon=1e-6)(x)
        x = L.Add()([x, L.MultiHeadAttention(num_heads=3, key_dim=4, dropout=rate)(normed, normed)])
        hidden = L.Dropout(rate)(L.Dense(20, activation=lib.activations.gelu)(L.LayerNormalization(epsilon=1e-6)(x)))
        x = L.Add()([x, L.Dropout(rate)(L.Dense(12)(hidden))])
    x = L.Dropout(rate)(L.Flatten()(L.LayerNormalization(epsilon=1e-6)(x)))
    return lib.Model(images, L.Dense(7)(L.Dense(24, activation="gelu")(x)))


def coloured_pictures(n):
    images = RNG.integers(0, 256, (n, 20, 20, 3)).astype("uint8")
    # the label: which channel is brightest, and whether the top half is brighter than the bottom
    labels = images.mean(axis=(1, 2)).argmax(axis=-1) * 2 + (images[:, :10].mean((1, 2, 3)) > images[:, 10:].mean())
    return images, labels.astype("int64")


def test_an_image_transformer_with_adamw_and_a_checkpoint_trains_as_in_keras(tmp_path):
    images, labels = coloured_pictures(36)
    # No random layer and no dropout here, so that both libraries train the same numbers.
    models = {lib: image_transformer(lib, images[:30], augment=False, rate=0.0) for lib in LIBS}
    copy_weights(models[keras], models[plait])
    assert layer_table(models[plait]) == layer_table(models[keras])
    assert models[plait].count_params() == models[keras].count_params()
    outcome = {}
    for lib, model in models.items():
        model.compile(
            optimizer=lib.optimizers.AdamW(learning_rate=2e-3, weight_decay=1e-3),
            loss=lib.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[
                lib.metrics.SparseCategoricalAccuracy(name="accuracy"),
                lib.metrics.SparseTopKCategoricalAccuracy(3, name="top-3"),
            ],
        )
        path = str(tmp_path / f"{lib.__name__}.weights.h5")
        keep = lib.callbacks.ModelCheckpoint(path, monitor="val_top-3", save_best_only=True, save_weights_only=True)
        history = model.fit(
            images[:30],
            labels[:30],
            batch_size=8,
            epochs=2,
            shuffle=False,
            validation_split=0.2,
            callbacks=[keep],
            verbose=0,
        )
        model.load_weights(path)
        outcome[lib] = (history.history, model.evaluate(images[30:], labels[30:], verbose=0))
    assert sorted(outcome[plait][0]) == ["accuracy", "loss", "top-3", "val_accuracy", "val_loss", "val_top-3"]
    assert_close(outcome[plait], outcome[keras], rtol=1e-4, atol=1e-6)


# Keras's convert_to_tensor([image]) hands torch a list of arrays, which torch warns about (plait
# stacks them first).
@pytest.mark.filterwarnings("ignore:Creating a tensor from a list of numpy.ndarrays")
def test_an_augmented_image_transformer_predicts_and_rebuilds_as_in_keras():
    images, _ = coloured_pictures(12)
    models = {lib: image_transformer(lib, images, augment=True, rate=0.2) for lib in LIBS}
    # The adapted statistics are the Normalization's own (they are weights too): both adapt alike.
    assert_close(models[plait].get_layer("front").get_weights(), models[keras].get_layer("front").get_weights())
    copy_weights(models[keras], models[plait])
    assert layer_table(models[plait]) == layer_table(models[keras])
    # At inference the random layers and the dropouts pass their inputs through.
    assert_close(
        models[plait].predict(images, verbose=0), models[keras].predict(images, verbose=0), rtol=1e-4, atol=1e-5
    )
    assert tuple(models[plait](images[:2], training=True).shape) == (2, 7)

    # The custom layers alone, on one picture resized by ops.image.resize: the same patches.
    outs = {}
    for lib in LIBS:
        Patchify, PlacedPatches = patch_layers(lib)
        picture = lib.ops.image.resize(lib.ops.convert_to_tensor([images[3]], dtype="float32"), size=(16, 16))
        cutter = Patchify(side=4, name="cut")
        patches = cutter(picture)
        placer = PlacedPatches(16, 5, name="place")
        placer(patches)
        again = PlacedPatches.from_config(placer.get_config())
        again(patches)
        # plait writes a layer's dtype as its name where Keras writes a DTypePolicy dict (plait reads both)
        configs = [{k: v for k, v in layer.get_config().items() if k != "dtype"} for layer in (cutter, placer)]
        outs[lib] = (picture, patches, *configs, again.count_params())
    assert outs[plait][2] == outs[keras][2] and outs[plait][2]["side"] == 4
    assert outs[plait][3] == outs[keras][3] and (outs[plait][3]["count"], outs[plait][3]["width"]) == (16, 5)
    assert outs[plait][4] == outs[keras][4] == 48 * 5 + 5 + 16 * 5
    assert to_numpy(outs[plait][1]).shape == (1, 16, 48)
    assert_close(outs[plait][:2], outs[keras][:2], rtol=1e-5, atol=1e-3)
    # patch 5 is row 1, column 1 of the 4x4 grid: the resized picture's pixels [4:8, 4:8]
    np.testing.assert_allclose(
        to_numpy(outs[plait][1])[0, 5], to_numpy(outs[plait][0])[0, 4:8, 4:8].reshape(-1), rtol=1e-6
    )


# --- A small causal language model ----------------------------------------------------------------


def causal_mask(ops, batch, length):
    """(batch, length, length) booleans: position i may look at positions 0..i only."""
    steps = ops.arange(length)
    lower = ops.greater_equal(ops.expand_dims(steps, 1), ops.expand_dims(steps, 0))
    return ops.tile(ops.expand_dims(lower, 0), [batch, 1, 1])


def decoder_layers(lib):
    """Token-plus-position embedding, and a post-norm decoder block whose attention gets a causal
    mask built in its call; the block writes its arguments into its config."""
    L, ops = lib.layers, lib.ops

    class TokensAndPlaces(L.Layer):
        def __init__(self, length, vocabulary, width, **kwargs):
            super().__init__(**kwargs)
            self.tokens = L.Embedding(vocabulary, width)
            self.places = L.Embedding(length, width)

        def call(self, ids):
            return self.tokens(ids) + self.places(ops.arange(ops.shape(ids)[-1]))

    class DecoderBlock(L.Layer):
        def __init__(self, width, heads, hidden, rate=0.0, **kwargs):
            super().__init__(**kwargs)
            self.width, self.heads, self.hidden, self.rate = width, heads, hidden, rate
            self.attend = L.MultiHeadAttention(heads, width // heads)
            self.feed = lib.Sequential([L.Dense(hidden, activation="relu"), L.Dense(width)])
            self.norms = [L.LayerNormalization(epsilon=1e-6) for _ in range(2)]
            self.drops = [L.Dropout(rate) for _ in range(2)]

        def call(self, x, training=None):
            batch, length = ops.shape(x)[0], ops.shape(x)[1]
            seen = self.attend(x, x, attention_mask=causal_mask(ops, batch, length))
            x = self.norms[0](x + self.drops[0](seen, training=training))
            return self.norms[1](x + self.drops[1](self.feed(x), training=training))

        def get_config(self):
            mine = {"width": self.width, "heads": self.heads, "hidden": self.hidden, "rate": self.rate}
            return {**super().get_config(), **mine}

    return TokensAndPlaces, DecoderBlock


LENGTH, VOCABULARY = 12, 60


def language_model(lib, rate):
    """Next-token logits and the block's hidden vectors, as two outputs; only the logits have a loss."""
    TokensAndPlaces, DecoderBlock = decoder_layers(lib)
    ids = lib.Input((LENGTH,), dtype="int32")
    hidden = DecoderBlock(16, heads=2, hidden=24, rate=rate)(TokensAndPlaces(LENGTH, VOCABULARY, 16)(ids))
    model = lib.Model(ids, [lib.layers.Dense(VOCABULARY)(hidden), hidden])
    model.compile(lib.optimizers.Adam(3e-3), loss=[lib.losses.SparseCategoricalCrossentropy(from_logits=True), None])
    return model


def writer(lib, prompt, count, seed):
    """A callback that, after each epoch, extends ``prompt`` by ``count`` tokens, each drawn from the
    softmax of the 4 best logits at the last filled position (the input padded with 0s)."""

    class Writer(lib.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.texts = []

        def on_epoch_end(self, epoch, logs=None):
            draw = np.random.default_rng(seed)
            text = list(prompt)
            for _ in range(count):
                window = text[-LENGTH:]
                logits, _ = self.model.predict(np.array([window + [0] * (LENGTH - len(window))]), verbose=0)
                best, ids = lib.ops.top_k(logits[0, len(window) - 1], k=4)
                chances = to_numpy(lib.activations.softmax(lib.ops.expand_dims(best, 0))[0]).astype("float64")
                text.append(int(draw.choice(to_numpy(ids), p=chances / chances.sum())))
            self.texts.append(text)

    return Writer()


def test_a_causal_language_model_trains_and_writes_as_in_keras():
    tokens = RNG.integers(1, VOCABULARY, (24, LENGTH + 1))
    x, y = tokens[:, :-1], tokens[:, 1:]  # each position predicts the next token
    models = {lib: language_model(lib, rate=0.0) for lib in LIBS}
    copy_weights(models[keras], models[plait])
    assert layer_table(models[plait]) == layer_table(models[keras])
    outcome = {}
    for lib, model in models.items():
        pen = writer(lib, prompt=[5, 9, 2], count=6, seed=11)
        history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, callbacks=[pen], verbose=0)
        outcome[lib] = (history.history, model.predict(x[:4], verbose=0), pen.texts)
    assert sorted(outcome[plait][0]) == sorted(outcome[keras][0])
    assert outcome[plait][2] == outcome[keras][2] and [len(t) for t in outcome[plait][2]] == [9, 9]
    assert_close(outcome[plait][:2], outcome[keras][:2], rtol=1e-4, atol=1e-5)

    # The mask keeps the future out: changing the last tokens leaves the earlier positions' logits.
    changed = x[:4].copy()
    changed[:, 8:] = (changed[:, 8:] + 7) % VOCABULARY
    before, after = (models[plait].predict(ids, verbose=0)[0] for ids in (x[:4], changed))
    np.testing.assert_allclose(after[:, :8], before[:, :8], rtol=1e-5, atol=1e-6)
    assert np.abs(after[:, 8:] - before[:, 8:]).max() > 1e-3
    for lib in LIBS:
        np.testing.assert_array_equal(to_numpy(causal_mask(lib.ops, 2, 4)), np.tile(np.tri(4, dtype=bool), (2, 1, 1)))


def test_a_decoder_block_with_dropout_rebuilds_from_its_config_as_in_keras():
    ids = RNG.integers(0, VOCABULARY, (5, LENGTH))
    models = {lib: language_model(lib, rate=0.3) for lib in LIBS}
    copy_weights(models[keras], models[plait])
    # Dropout is off at inference: the same numbers for both outputs.
    assert_close(models[plait].predict(ids, verbose=0), models[keras].predict(ids, verbose=0), rtol=1e-4, atol=1e-5)
    configs, counts = {}, {}
    for lib, model in models.items():
        block = model.layers[2]
        again = type(block).from_config(block.get_config())
        again(lib.ops.convert_to_tensor(np.zeros((1, LENGTH, 16), dtype="float32")))
        counts[lib] = (block.count_params(), again.count_params())
        # plait writes a layer's dtype as its name where Keras writes a DTypePolicy dict (plait reads both)
        configs[lib] = {k: v for k, v in again.get_config().items() if k not in ("dtype", "name")}
    assert configs[plait] == configs[keras]
    assert (configs[plait]["heads"], configs[plait]["hidden"], configs[plait]["rate"]) == (2, 24, 0.3)
    # attention 4 * (16 * 16 + 16), feed-forward 16 * 24 + 24 + 24 * 16 + 16, two norms 2 * 32
    assert counts[plait] == counts[keras] == (4 * 272 + 808 + 64,) * 2
