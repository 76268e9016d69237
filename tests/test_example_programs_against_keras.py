"""Small end-to-end programs of the kinds keras-io's examples build, run on plait and on Keras 3
with the same weights and data: an image classifier on uint8 pictures, a Conv2D subclass that
standardizes its kernel, a stacked bidirectional LSTM on padded ragged sequences, and a text
classifier over a frozen, hand-filled embedding matrix. Shapes, parameter counts, histories and
predictions must agree with Keras's."""

import contextlib
import io

import numpy as np
import pytest
import torch
from twins import assert_close, copy_weights, keras_or_skip, layer_table

import plait

keras = keras_or_skip()
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")
LIBS = (plait, keras)
RNG = np.random.default_rng(31)


@pytest.fixture(autouse=True)
def one_thread():
    global RNG
    RNG = np.random.default_rng(31)  # each test draws the same data however the tests are selected
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def summary_totals(model):
    with contextlib.redirect_stdout(io.StringIO()) as out:
        model.summary()
    return [line.split("(")[0].strip() for line in out.getvalue().splitlines() if "params:" in line]


def picture_classifier(lib, conv=None, head="softmax"):
    L = lib.layers
    conv = conv or L.Conv2D
    return lib.Sequential(
        [
            lib.Input(shape=(20, 20, 1)),
            conv(6, kernel_size=(3, 3), activation="relu"),
            L.MaxPooling2D(pool_size=(2, 2)),
            conv(10, kernel_size=(3, 3), activation="relu"),
            L.MaxPooling2D(pool_size=(2, 2)),
            L.Flatten(),
            L.Dense(4, activation=head),
        ]
    )


def pictures(n):
    images = RNG.integers(0, 256, (n, 20, 20)).astype("uint8")
    labels = (images[:, :10].mean(axis=(1, 2)) > images[:, 10:].mean(axis=(1, 2))).astype("uint8") * 2
    labels += images[:, :, :10].mean(axis=(1, 2)) > images[:, :, 10:].mean(axis=(1, 2))
    return images, labels


def test_a_picture_classifier_on_uint8_images_matches_keras():
    images, labels = pictures(60)
    x = np.expand_dims(images.astype("float32") / 255, -1)  # scale to [0, 1], add the channel axis
    outcome = {}
    models = {lib: picture_classifier(lib) for lib in LIBS}
    copy_weights(models[plait], models[keras])
    for lib, model in models.items():
        y = lib.utils.to_categorical(labels, 4)
        model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
        history = model.fit(x[:48], y[:48], batch_size=16, epochs=2, shuffle=False, validation_split=0.25, verbose=0)
        outcome[lib] = (history.history, model.evaluate(x[48:], y[48:], verbose=0), model.predict(x[48:], verbose=0))
    assert layer_table(models[plait]) == layer_table(models[keras])
    assert summary_totals(models[plait]) == summary_totals(models[keras])
    assert "Trainable params: 974" in summary_totals(models[plait])
    assert_close(outcome[plait], outcome[keras], rtol=1e-4, atol=1e-6)


def standardized_conv(lib):
    class StandardizedConv(lib.layers.Conv2D):
        """Weight standardization: each filter's kernel scaled to zero mean and unit variance
        before the convolution, by overriding the convolution hook (bias and activation follow)."""

        def convolution_op(self, inputs, kernel):
            ops = lib.ops
            mean, var = ops.moments(kernel, axes=[0, 1, 2], keepdims=True)
            return ops.conv(inputs, (kernel - mean) / ops.sqrt(var + 1e-5), strides=list(self.strides), padding="valid")

    return StandardizedConv


def test_a_conv2d_subclass_overriding_the_convolution_matches_keras():
    images, labels = pictures(24)
    x = np.expand_dims(images.astype("float32") / 255, -1)
    # Standardized kernels give large logits: the loss reads them as logits (a softmax output would
    # saturate, where plait's fused log-softmax and Keras's clipped probabilities part ways).
    models = {lib: picture_classifier(lib, conv=standardized_conv(lib), head=None) for lib in LIBS}
    copy_weights(models[plait], models[keras])
    assert_close(models[plait].predict(x, verbose=0), models[keras].predict(x, verbose=0), rtol=1e-4, atol=1e-6)
    histories = {}
    for lib, model in models.items():
        loss = lib.losses.SparseCategoricalCrossentropy(from_logits=True)
        model.compile(loss=loss, optimizer=lib.optimizers.SGD(0.005))
        histories[lib] = model.fit(x, labels, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    assert_close(histories[plait], histories[keras], rtol=1e-4)


@pytest.mark.xfail(
    strict=True,
    reason="plait keeps a conv kernel in torch's layout: a Conv2D subclass whose call() reads "
    "self.kernel as Keras's (kh, kw, in, filters) gets plait's (filters, in, kh, kw) instead. "
    "Overriding convolution_op (the test above) works.",
)
def test_a_conv2d_subclass_reading_its_kernel_in_call_matches_keras():
    def reading_conv(lib):
        class ReadsKernel(lib.layers.Conv2D):
            def call(self, inputs):
                mean = lib.ops.mean(self.kernel, axis=[0, 1, 2], keepdims=True)
                return self.convolution_op(inputs, self.kernel - mean) + self.bias

        return ReadsKernel(3, 3)

    x = RNG.random((2, 7, 7, 2)).astype("float32")
    layers = {lib: reading_conv(lib) for lib in LIBS}
    for layer in layers.values():
        layer(x)
    copy_weights(layers[keras], layers[plait])
    assert_close(layers[plait](x), layers[keras](x), rtol=1e-5)


def test_stacked_bidirectional_lstms_on_padded_sequences_match_keras():
    ragged = [list(RNG.integers(1, 60, RNG.integers(3, 15))) for _ in range(40)]
    labels = np.array([float(np.mean(s) > 30) for s in ragged], "float32")
    padded = {lib: lib.utils.pad_sequences(ragged, maxlen=12) for lib in LIBS}
    assert_close(padded[plait], padded[keras])
    assert padded[plait].shape == (40, 12) and padded[plait].dtype == np.int32

    def build(lib):
        L = lib.layers
        tokens = lib.Input(shape=(None,), dtype="int32")
        h = L.Bidirectional(L.LSTM(8, return_sequences=True))(L.Embedding(60, 10)(tokens))
        return lib.Model(tokens, L.Dense(1, activation="sigmoid")(L.Bidirectional(L.LSTM(6))(h)))

    models = {lib: build(lib) for lib in LIBS}
    copy_weights(models[plait], models[keras])
    assert summary_totals(models[plait]) == summary_totals(models[keras])
    histories = {}
    for lib, model in models.items():
        model.compile(optimizer=lib.optimizers.Adam(1e-2), loss="binary_crossentropy", metrics=["accuracy"])
        data = padded[lib]
        history = model.fit(
            data[:32],
            labels[:32],
            batch_size=8,
            epochs=2,
            shuffle=False,
            validation_data=(data[32:], labels[32:]),
            verbose=0,
        )
        histories[lib] = history.history
    assert_close(histories[plait], histories[keras], rtol=1e-4)


def test_a_frozen_hand_filled_embedding_under_a_conv1d_text_classifier_matches_keras():
    vocabulary, width = 120, 16
    table = RNG.normal(size=(vocabulary, width)).astype("float32")  # e.g. vectors read from a file
    tokens, labels = RNG.integers(0, vocabulary, (30, 40)), RNG.integers(0, 3, 30)

    def build(lib):
        L = lib.layers
        embedding = L.Embedding(vocabulary, width, trainable=False)
        embedding.build((1,))  # built by hand, then filled
        embedding.set_weights([table])
        ids = lib.Input(shape=(None,), dtype="int64")
        h = L.MaxPooling1D(3)(L.Conv1D(12, 5, activation="relu")(embedding(ids)))
        h = L.GlobalMaxPooling1D()(L.Conv1D(12, 5, activation="relu")(h))
        return lib.Model(ids, L.Dense(3, activation="softmax")(L.Dense(8, activation="relu")(h))), embedding

    built = {lib: build(lib) for lib in LIBS}
    copy_weights(built[plait][0], built[keras][0])
    outcome = {}
    for lib, (model, embedding) in built.items():
        model.compile(loss="sparse_categorical_crossentropy", optimizer="rmsprop", metrics=["acc"])
        history = model.fit(
            tokens[:24],
            labels[:24],
            batch_size=8,
            epochs=2,
            shuffle=False,
            validation_data=(tokens[24:], labels[24:]),
            verbose=0,
        )
        counts = (len(model.trainable_weights), len(model.non_trainable_weights))
        outcome[lib] = (history.history, counts)
        np.testing.assert_array_equal(np.asarray(embedding.get_weights()[0]), table)  # frozen: unchanged
    assert sorted(outcome[plait][0]) == ["acc", "loss", "val_acc", "val_loss"]
    assert outcome[plait][1] == outcome[keras][1] == (8, 1)
    assert_close(outcome[plait][0], outcome[keras][0], rtol=1e-4)


def signal_classifier(lib):
    L = lib.layers
    signal = L.Input((64, 1))
    h = signal
    for _ in range(3):  # Conv1D -> BatchNormalization -> ReLU, three times
        h = L.ReLU()(L.BatchNormalization()(L.Conv1D(filters=8, kernel_size=3, padding="same")(h)))
    return lib.models.Model(inputs=signal, outputs=L.Dense(2, activation="softmax")(L.GlobalAveragePooling1D()(h)))


def test_a_batch_normalized_signal_classifier_with_callbacks_matches_keras(tmp_path):
    waves = RNG.standard_normal((40, 64)).astype("float64")  # float64 data, as read from a text file
    labels = RNG.choice([-1, 1], 40)
    labels[labels == -1] = 0
    x = waves.reshape((40, 64, 1))
    models = {lib: signal_classifier(lib) for lib in LIBS}
    copy_weights(models[plait], models[keras])
    outcome = {}
    for lib, model in models.items():
        best = str(tmp_path / f"{lib.__name__}_best.keras")
        callbacks = [
            lib.callbacks.ModelCheckpoint(best, save_best_only=True, monitor="val_loss"),
            lib.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1, min_lr=1e-4),
            lib.callbacks.EarlyStopping(monitor="val_loss", patience=4),
        ]
        model.compile(optimizer=lib.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(
            x[:32],
            labels[:32],
            batch_size=8,
            epochs=6,
            shuffle=False,
            callbacks=callbacks,
            validation_split=0.25,
            verbose=0,
        )
        reloaded = lib.models.load_model(best)  # with BatchNormalization's moving statistics
        outcome[lib] = (history.history, reloaded.predict(x[32:], verbose=0))
    assert sorted(outcome[plait][0]) == sorted(outcome[keras][0])
    assert "learning_rate" in outcome[plait][0]
    assert_close(outcome[plait][0], outcome[keras][0], rtol=1e-4, atol=1e-6)
    # six epochs of Adam through BatchNormalization's statistics: rounding grows to ~1e-4
    assert_close(outcome[plait][1], outcome[keras][1], rtol=1e-3, atol=1e-5)


def denoiser(lib, upsampling):
    L = lib.layers
    image = L.Input(shape=(16, 16, 1))
    h = L.MaxPooling2D((2, 2), padding="same")(L.Conv2D(6, (3, 3), activation="relu", padding="same")(image))
    h = L.MaxPooling2D((2, 2), padding="same")(L.Conv2D(6, (3, 3), activation="relu", padding="same")(h))
    if upsampling:
        h = L.Conv2D(6, 3, padding="same", activation="relu")(L.UpSampling2D((4, 4))(h))
    else:
        h = L.Conv2DTranspose(6, (3, 3), strides=2, activation="relu", padding="same")(h)
        h = L.Conv2DTranspose(6, (3, 3), strides=2, activation="relu", padding="same")(h)
    return lib.models.Model(image, L.Conv2D(1, (3, 3), activation="sigmoid", padding="same")(h))


@pytest.mark.parametrize("upsampling", [False, True], ids=["transposed_convs", "upsampling"])
def test_a_denoising_autoencoder_matches_keras(upsampling):
    clean = RNG.integers(0, 256, (24, 16, 16, 1)).astype("float32") / 255.0
    noisy = np.clip(clean + 0.4 * RNG.normal(size=clean.shape), 0.0, 1.0).astype("float32")
    models = {lib: denoiser(lib, upsampling) for lib in LIBS}
    copy_weights(models[plait], models[keras])
    assert summary_totals(models[plait]) == summary_totals(models[keras])
    outcome = {}
    for lib, model in models.items():
        model.compile(optimizer="adam", loss="binary_crossentropy")
        first = model.fit(
            clean[:16],
            clean[:16],
            epochs=1,
            batch_size=8,
            shuffle=False,
            validation_data=(clean[16:], clean[16:]),
            verbose=0,
        )
        second = model.fit(
            noisy[:16],
            clean[:16],
            epochs=1,
            batch_size=8,
            shuffle=False,
            validation_data=(noisy[16:], clean[16:]),
            verbose=0,
        )
        outcome[lib] = (first.history, second.history, model.predict(noisy[16:], verbose=0))
    assert outcome[plait][2].shape == (8, 16, 16, 1)
    assert_close(outcome[plait], outcome[keras], rtol=1e-4, atol=1e-6)


def signed_split(lib):
    L, ops = lib.layers, lib.ops

    class SignedSplit(L.Layer):
        """Splits each feature around a learned center into its parts above and below, then mixes
        the two halves back to the input width with a kernel."""

        def __init__(self, initializer="glorot_uniform", **kwargs):
            super().__init__(**kwargs)
            self.initializer = lib.initializers.get(initializer)

        def build(self, input_shape):
            width = input_shape[-1]
            self.center = self.add_weight(shape=(width,), initializer="zeros", name="center")
            self.kernel = self.add_weight(shape=(2 * width, width), initializer=self.initializer, name="kernel")

        def call(self, x):
            shifted = x - self.center
            return ops.matmul(ops.concatenate([ops.relu(shifted), ops.relu(-shifted)], axis=-1), self.kernel)

        def get_config(self):
            return {**super().get_config(), "initializer": lib.initializers.serialize(self.initializer)}

    return SignedSplit


def test_a_custom_nonlinearity_layer_trains_and_rebuilds_as_in_keras():
    x = RNG.random((50, 30)).astype("float32")
    labels = (x[:, :15].sum(axis=1) > x[:, 15:].sum(axis=1)).astype("int64") + (x[:, 0] > 0.5)

    def build(lib):
        Split = signed_split(lib)
        return lib.Sequential(
            [lib.Input(shape=(30,)), lib.layers.Dense(12), Split(), lib.layers.Dense(12), Split(), lib.layers.Dense(3)]
        )

    models = {lib: build(lib) for lib in LIBS}
    copy_weights(models[plait], models[keras])
    histories = {}
    for lib, model in models.items():
        model.compile(
            loss=lib.losses.SparseCategoricalCrossentropy(from_logits=True),
            optimizer=lib.optimizers.RMSprop(),
            metrics=[lib.metrics.SparseCategoricalAccuracy()],
        )
        histories[lib] = model.fit(
            x, labels, batch_size=16, epochs=2, shuffle=False, validation_split=0.2, verbose=0
        ).history
    assert_close(histories[plait], histories[keras], rtol=1e-4)
    config = models[plait].layers[1].get_config()
    assert config["initializer"]["class_name"] == "GlorotUniform" and config["trainable"] is True
    rebuilt = type(models[plait].layers[1]).from_config(config)
    assert type(rebuilt.initializer).__name__ == "GlorotUniform"


def token_classifier(lib, length, vocabulary, width=16):
    L, ops = lib.layers, lib.ops

    class TokensAndPlaces(L.Layer):
        """A token's vector plus a learned vector for its position."""

        def __init__(self):
            super().__init__()
            self.tokens = L.Embedding(input_dim=vocabulary, output_dim=width)
            self.places = L.Embedding(input_dim=length, output_dim=width)

        def call(self, ids):
            return self.tokens(ids) + self.places(ops.arange(0, ops.shape(ids)[-1], 1))

    class PreNormEncoder(L.Layer):
        """Self-attention and a feed-forward net, each after a LayerNormalization, each added back."""

        def __init__(self, heads, hidden):
            super().__init__()
            self.norm_a, self.norm_b = L.LayerNormalization(epsilon=1e-5), L.LayerNormalization(epsilon=1e-5)
            self.attend = L.MultiHeadAttention(num_heads=heads, key_dim=width // heads)
            self.feed = lib.Sequential([L.Dense(hidden, activation="gelu"), L.Dense(width)])

        def call(self, x):
            normed = self.norm_a(x)
            x = x + self.attend(normed, normed)
            return x + self.feed(self.norm_b(x))

    ids = L.Input(shape=(length,))  # float ids, as an Input is by default: Embedding casts them
    h = PreNormEncoder(heads=2, hidden=24)(TokensAndPlaces()(ids))
    return lib.Model(
        ids, L.Dense(2, activation="softmax")(L.Dense(8, activation="relu")(L.GlobalAveragePooling1D()(h)))
    )


def test_a_pre_norm_transformer_text_classifier_matches_keras():
    ragged = [list(RNG.integers(1, 80, RNG.integers(4, 20))) for _ in range(36)]
    labels = np.array([int(80 in s or np.median(s) > 40) for s in ragged])
    ids = plait.utils.pad_sequences(ragged, maxlen=16)
    models = {lib: token_classifier(lib, 16, 80) for lib in LIBS}
    copy_weights(models[plait], models[keras])
    assert layer_table(models[plait]) == layer_table(models[keras])
    outcome = {}
    for lib, model in models.items():
        model.compile(optimizer=lib.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(
            ids[:28],
            labels[:28],
            batch_size=7,
            epochs=2,
            shuffle=False,
            validation_data=(ids[28:], labels[28:]),
            verbose=0,
        )
        outcome[lib] = (history.history, model.predict(ids[28:], verbose=0))
    assert_close(outcome[plait], outcome[keras], rtol=1e-4, atol=1e-6)


def test_a_strided_conv1d_sequence_autoencoder_flags_the_same_anomalies_as_keras():
    import pandas as pd

    stamps = pd.date_range("2020-01-01", periods=80, freq="10min")
    calm = pd.DataFrame(
        {"value": np.cos(np.linspace(0, 6 * np.pi, 80)) * 5 + 10 + RNG.normal(0, 0.3, 80)}, index=stamps
    )
    bumpy = calm.copy()
    bumpy.iloc[50:55] += 12
    mean, std = calm.mean(), calm.std()

    def windows(frame, steps=16):  # float64 windows of the standardized values
        values = ((frame - mean) / std).values
        return np.stack([values[i : i + steps] for i in range(len(values) - steps + 1)])

    train, test = windows(calm), windows(bumpy)

    def build(lib):
        L = lib.layers
        return lib.Sequential(
            [
                L.Input(shape=train.shape[1:]),
                L.Conv1D(filters=8, kernel_size=5, padding="same", strides=2, activation="relu"),
                L.Conv1D(filters=4, kernel_size=5, padding="same", strides=2, activation="relu"),
                L.Conv1DTranspose(filters=4, kernel_size=5, padding="same", strides=2, activation="relu"),
                L.Conv1DTranspose(filters=8, kernel_size=5, padding="same", strides=2, activation="relu"),
                L.Conv1DTranspose(filters=1, kernel_size=5, padding="same"),
            ]
        )

    models = {lib: build(lib) for lib in LIBS}
    copy_weights(models[plait], models[keras])
    outcome = {}
    for lib, model in models.items():
        model.compile(optimizer=lib.optimizers.Adam(learning_rate=0.01), loss="mse")
        stopper = lib.callbacks.EarlyStopping(monitor="val_loss", patience=2, mode="min")
        history = model.fit(
            train, train, epochs=4, batch_size=16, shuffle=False, validation_split=0.1, callbacks=[stopper], verbose=0
        )
        rebuilt = model.predict(train, verbose=0)
        threshold = np.max(np.mean(np.abs(rebuilt - train), axis=1))
        flags = np.mean(np.abs(model.predict(test, verbose=0) - test), axis=1).reshape(-1) > threshold
        outcome[lib] = (history.history, rebuilt, flags)
    assert outcome[plait][1].dtype == np.float32 and outcome[plait][1].shape == train.shape
    np.testing.assert_array_equal(outcome[plait][2], outcome[keras][2])
    assert outcome[plait][2].any()  # the bump is found
    assert_close(outcome[plait][:2], outcome[keras][:2], rtol=1e-4, atol=1e-4)  # Adam, 4 epochs


def test_a_character_lstm_on_bool_one_hots_generates_the_same_text_as_keras():
    text = "the quick brown fox jumps over the lazy dog and the dog sleeps on " * 3
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    span = 12
    starts = range(0, len(text) - span, 2)
    x = np.zeros((len(starts), span, len(chars)), dtype="bool")  # one-hot, as bools
    y = np.zeros((len(starts), len(chars)), dtype="bool")
    for row, start in enumerate(starts):
        for t, c in enumerate(text[start : start + span]):
            x[row, t, index[c]] = True
        y[row, index[text[start + span]]] = True

    def build(lib):
        return lib.Sequential(
            [
                lib.Input(shape=(span, len(chars))),
                lib.layers.LSTM(24),
                lib.layers.Dense(len(chars), activation="softmax"),
            ]
        )

    models = {lib: build(lib) for lib in LIBS}
    copy_weights(models[plait], models[keras])
    outcome = {}
    for lib, model in models.items():
        model.compile(loss="categorical_crossentropy", optimizer=lib.optimizers.RMSprop(learning_rate=0.01))
        history = model.fit(x, y, batch_size=32, epochs=3, shuffle=False, verbose=0)
        window, written = text[:span], ""
        for _ in range(15):  # greedy generation, one character at a time, from float64 one-hots
            step = np.zeros((1, span, len(chars)))
            for t, c in enumerate(window):
                step[0, t, index[c]] = 1.0
            nxt = chars[int(np.argmax(model.predict(step, verbose=0)[0]))]
            written, window = written + nxt, window[1:] + nxt
        outcome[lib] = (history.history, written)
    assert outcome[plait][1] == outcome[keras][1]
    assert_close(outcome[plait][0], outcome[keras][0], rtol=1e-4)


def signal_encoder(lib, length, channels):
    L = lib.layers
    signals = lib.Input(shape=(length, channels))
    x = signals
    for _ in range(2):  # post-norm encoder blocks written with the functional API
        attended = L.LayerNormalization(epsilon=1e-6)(L.MultiHeadAttention(key_dim=4, num_heads=2)(x, x))
        x = attended + x  # a Python operator on symbolic tensors
        wide = L.Conv1D(filters=6, kernel_size=1, activation="relu")(x)
        x = L.LayerNormalization(epsilon=1e-6)(L.Conv1D(filters=channels, kernel_size=1)(wide)) + x
    pooled = L.GlobalAveragePooling1D(data_format="channels_last")(x)
    return lib.Model(signals, L.Dense(2, activation="softmax")(L.Dense(10, activation="relu")(pooled)))


def test_a_functional_signal_transformer_with_best_weights_restored_matches_keras():
    x = RNG.standard_normal((40, 24, 3)).astype("float32")
    labels = (x[:, :12, 0].mean(axis=1) > x[:, 12:, 0].mean(axis=1)).astype("int64")
    models = {lib: signal_encoder(lib, 24, 3) for lib in LIBS}
    copy_weights(models[plait], models[keras])
    assert summary_totals(models[plait]) == summary_totals(models[keras])
    outcome = {}
    for lib, model in models.items():
        model.compile(
            loss="sparse_categorical_crossentropy",
            optimizer=lib.optimizers.Adam(learning_rate=3e-3),
            metrics=["sparse_categorical_accuracy"],
        )
        stopper = lib.callbacks.EarlyStopping(patience=2, restore_best_weights=True)
        history = model.fit(
            x[:32],
            labels[:32],
            validation_split=0.25,
            epochs=5,
            batch_size=8,
            shuffle=False,
            callbacks=[stopper],
            verbose=0,
        )
        outcome[lib] = (history.history, model.evaluate(x[32:], labels[32:], verbose=0))
    assert_close(outcome[plait], outcome[keras], rtol=1e-4, atol=1e-6)


def test_a_rare_event_detector_with_class_weights_and_confusion_metrics_matches_keras(tmp_path):
    rows = RNG.normal(size=(150, 12)).astype("float32")
    events = ((rows[:, 0] + rows[:, 1] > 2.2) | (np.arange(150) % 17 == 5)).astype("uint8")[:, None]  # rare
    train, val = slice(0, 120), slice(120, 150)
    counts = np.bincount(events[train, 0])
    weights = {0: 1.0 / counts[0], 1: 1.0 / counts[1]}  # each class weighs the same in total
    center, scale = rows[train].mean(axis=0), rows[train].std(axis=0)
    x = (rows - center) / scale

    def build(lib):
        L = lib.layers
        return lib.Sequential(
            [
                lib.Input(shape=(12,)),
                L.Dense(32, activation="relu"),
                L.Dense(16, activation="relu"),
                L.Dense(1, activation="sigmoid"),
            ]
        )

    models = {lib: build(lib) for lib in LIBS}
    copy_weights(models[plait], models[keras])
    outcome = {}
    for lib, model in models.items():
        M = lib.metrics
        metrics = [
            M.FalseNegatives(name="fn"),
            M.FalsePositives(name="fp"),
            M.TrueNegatives(name="tn"),
            M.TruePositives(name="tp"),
        ]
        metrics += [M.Precision(name="precision"), M.Recall(name="recall"), M.AUC(name="auc")]
        model.compile(optimizer=lib.optimizers.Adam(1e-2), loss="binary_crossentropy", metrics=metrics)
        folder = tmp_path / lib.__name__
        saver = lib.callbacks.ModelCheckpoint(str(folder / "detector_at_epoch_{epoch}.keras"))
        history, printed = quiet_fit(
            model,
            x[train],
            events[train],
            batch_size=40,
            epochs=3,
            shuffle=False,
            verbose=2,
            callbacks=[saver],
            validation_data=(x[val], events[val]),
            class_weight=weights,
        )
        outcome[lib] = (history.history, sorted(p.name for p in folder.iterdir()), printed.count("\n"))
    assert outcome[plait][1] == outcome[keras][1] == [f"detector_at_epoch_{e}.keras" for e in (1, 2, 3)]
    assert sorted(outcome[plait][0]) == sorted(outcome[keras][0])
    assert outcome[plait][2] == outcome[keras][2]  # verbose=2: the same number of printed lines
    # Keras 3.15's training counts (fn, fp, tn, tp) in History read as the validation counts: its
    # logs hold the count variables themselves, which the validation pass then overwrites. The
    # rest must agree; plait's training counts must agree with its (and Keras's) precision and recall.
    ours, theirs = outcome[plait][0], outcome[keras][0]
    counts = ("fn", "fp", "tn", "tp")
    assert_close(
        {k: v for k, v in ours.items() if k not in counts},
        {k: v for k, v in theirs.items() if k not in counts},
        rtol=1e-4,
        atol=1e-6,
    )
    tp, fp, fn = (np.array(ours[k]) for k in ("tp", "fp", "fn"))
    assert_close(tp / (tp + fp), theirs["precision"], rtol=1e-6)
    assert_close(tp / (tp + fn), theirs["recall"], rtol=1e-6)
    assert (tp + fp + fn + np.array(ours["tn"]) == 120).all()


def quiet_fit(model, *args, **kwargs):
    with contextlib.redirect_stdout(io.StringIO()) as out:
        history = model.fit(*args, **kwargs)
    return history, out.getvalue()


def recommender(lib, users, items, size=6):
    L, ops = lib.layers, lib.ops

    class Recommender(lib.Model):
        """Users and items as vectors and biases; a rating is the sigmoid of their affinity."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            penalty = lib.regularizers.l2(1e-4)
            self.user_vec = L.Embedding(users, size, embeddings_initializer="he_normal", embeddings_regularizer=penalty)
            self.item_vec = L.Embedding(items, size, embeddings_initializer="he_normal", embeddings_regularizer=penalty)
            self.user_bias, self.item_bias = L.Embedding(users, 1), L.Embedding(items, 1)
            self.mix = self.add_weight(shape=(size, size), initializer="identity", name="mix")

        def call(self, pairs):
            user, item = pairs[:, 0], pairs[:, 1]
            mixed = ops.tensordot(self.user_vec(user), self.mix, axes=1)  # (batch, size) @ (size, size)
            affinity = ops.sum(mixed * self.item_vec(item), axis=1, keepdims=True)
            return ops.nn.sigmoid(affinity + self.user_bias(user) + self.item_bias(item))

    return Recommender()


def test_a_subclassed_recommender_with_regularized_embeddings_matches_keras():
    import pandas as pd

    ratings = pd.DataFrame(
        {"user": RNG.integers(0, 15, 160), "item": RNG.integers(0, 9, 160), "stars": RNG.integers(1, 11, 160) / 2}
    )
    pairs = ratings[["user", "item"]].values
    target = ((ratings["stars"] - ratings["stars"].min()) / (ratings["stars"].max() - ratings["stars"].min())).values
    models = {lib: recommender(lib, 15, 9) for lib in LIBS}
    for model in models.values():
        model(pairs[:2])
    copy_weights(models[plait], models[keras])
    outcome = {}
    for lib, model in models.items():
        model.compile(loss=lib.losses.BinaryCrossentropy(), optimizer=lib.optimizers.Adam(learning_rate=0.01))
        history = model.fit(
            pairs[:128],
            target[:128],
            batch_size=32,
            epochs=2,
            shuffle=False,
            validation_data=(pairs[128:], target[128:]),
            verbose=0,
        )
        penalties = sorted(float(np.asarray(lib.ops.convert_to_numpy(v))) for v in model.losses)
        outcome[lib] = (history.history, model.predict(pairs[128:], verbose=0), penalties)
    assert len(outcome[plait][2]) == 2  # the two embeddings' L2 penalties
    assert_close(outcome[plait], outcome[keras], rtol=1e-4, atol=1e-6)


def patch_mixer(lib, filters=8):
    L = lib.layers
    images = lib.Input((16, 16, 3))
    x = L.Rescaling(scale=1.0 / 255)(images)
    x = L.BatchNormalization()(L.Activation("gelu")(L.Conv2D(filters, kernel_size=4, strides=4)(x)))  # patches
    for groups in (filters, 2):  # a depthwise mixing, then a grouped one
        spatial = L.Conv2D(filters, kernel_size=3, groups=groups, padding="same")(x)
        x = L.Add()([L.BatchNormalization()(L.Activation("gelu")(spatial)), x])
        x = L.BatchNormalization()(L.Activation("gelu")(L.Conv2D(filters, kernel_size=1)(x)))
    return lib.Model(images, L.Dense(3, activation="softmax")(L.GlobalAvgPool2D()(x)))


def test_a_patch_mixer_with_adamw_and_a_weights_checkpoint_matches_keras(tmp_path):
    images = RNG.integers(0, 256, (40, 16, 16, 3)).astype("uint8")
    labels = (images[..., 0].mean(axis=(1, 2)) > images[..., 2].mean(axis=(1, 2))).astype("int64") + (
        images[:, :8].mean(axis=(1, 2, 3)) > 128
    )
    models = {lib: patch_mixer(lib) for lib in LIBS}
    copy_weights(models[plait], models[keras])
    assert layer_table(models[plait]) == layer_table(models[keras])
    outcome = {}
    for lib, model in models.items():
        model.compile(
            optimizer=lib.optimizers.AdamW(learning_rate=3e-3, weight_decay=1e-2),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        path = str(tmp_path / f"{lib.__name__}.weights.h5")
        keep = lib.callbacks.ModelCheckpoint(path, monitor="val_accuracy", save_best_only=True, save_weights_only=True)
        history = model.fit(
            images[:32],
            labels[:32],
            batch_size=8,
            epochs=3,
            shuffle=False,
            validation_data=(images[32:], labels[32:]),
            callbacks=[keep],
            verbose=0,
        )
        model.load_weights(path)
        grouped = [
            layer.get_config()["kernel_size"]
            for layer in model.layers
            if isinstance(layer, lib.layers.Conv2D) and layer.groups > 1
        ]
        outcome[lib] = (history.history, model.evaluate(images[32:], labels[32:], verbose=0), grouped)
    assert outcome[plait][2] == outcome[keras][2] == [(3, 3), (3, 3)]
    assert_close(outcome[plait][:2], outcome[keras][:2], rtol=1e-4, atol=1e-6)


def test_augmentation_layers_keep_shapes_and_are_identities_at_inference_as_in_keras():
    images = RNG.integers(0, 256, (4, 16, 16, 3)).astype("float32")
    outs = {}
    for lib in LIBS:
        L = lib.layers
        augment = lib.Sequential([L.RandomCrop(12, 12, seed=1), L.RandomFlip("horizontal", seed=2)], name="augment")
        trained = augment(images, training=True)
        outs[lib] = (tuple(trained.shape), augment(images, training=False))
    assert outs[plait][0] == outs[keras][0] == (4, 12, 12, 3)
    assert_close(outs[plait][1], outs[keras][1], rtol=1e-5)  # inference: the centre crop, no flip


def test_an_encoder_repeat_decoder_sequence_model_matches_keras():
    digits = "0123456789"
    words = ["".join(RNG.choice(list(digits), 5)) for _ in range(90)]
    targets = [w[::-1][:4] for w in words]  # the first four digits, reversed
    x = np.zeros((90, 5, 10), dtype="bool")
    y = np.zeros((90, 4, 10), dtype="bool")
    for row, (word, target) in enumerate(zip(words, targets)):
        x[row, np.arange(5), [digits.index(c) for c in word]] = True
        y[row, np.arange(4), [digits.index(c) for c in target]] = True

    def build(lib):
        L = lib.layers
        model = lib.Sequential()
        model.add(L.Input((5, 10)))
        model.add(L.LSTM(20))  # the whole input in one vector
        model.add(L.RepeatVector(4))  # once per output step
        model.add(L.GRU(20, return_sequences=True))
        model.add(L.TimeDistributed(L.Dense(16, activation="relu")))
        model.add(L.Dense(10, activation="softmax"))  # a Dense on 3-D input: per step
        return model

    models = {lib: build(lib) for lib in LIBS}
    copy_weights(models[plait], models[keras])
    assert layer_table(models[plait]) == layer_table(models[keras])
    outcome = {}
    for lib, model in models.items():
        model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
        history = model.fit(
            x[:80], y[:80], batch_size=16, epochs=3, shuffle=False, validation_data=(x[80:], y[80:]), verbose=0
        )
        guesses = ["".join(digits[i] for i in row) for row in np.argmax(model.predict(x[80:], verbose=0), axis=-1)]
        outcome[lib] = (history.history, guesses)
    assert outcome[plait][1] == outcome[keras][1]
    assert_close(outcome[plait][0], outcome[keras][0], rtol=1e-4, atol=1e-6)


def test_a_twin_tower_pair_model_with_a_lambda_distance_and_a_margin_loss_matches_keras():
    shapes = RNG.integers(0, 3, 64)  # each picture shows one of three patterns
    patterns = RNG.random((3, 10, 10)).astype("float32")
    pictures = (patterns[shapes] + 0.3 * RNG.random((64, 10, 10))).astype("float32")  # (n, 10, 10): no channel axis
    first, second = np.arange(0, 64, 2), np.arange(1, 64, 2)
    different = (shapes[first] != shapes[second]).astype("float32")

    def build(lib):
        L, ops = lib.layers, lib.ops
        picture = L.Input((10, 10, 1))
        h = L.AveragePooling2D(2)(L.Conv2D(4, 3, activation="tanh")(L.BatchNormalization()(picture)))
        tower = lib.Model(picture, L.Dense(6, activation="tanh")(L.BatchNormalization()(L.Flatten()(h))))
        left, right = L.Input((10, 10, 1)), L.Input((10, 10, 1))

        def distance(pair):
            a, b = pair
            return ops.sqrt(ops.maximum(ops.sum(ops.square(a - b), axis=1, keepdims=True), lib.backend.epsilon()))

        apart = L.Lambda(distance, output_shape=(1,))([tower(left), tower(right)])  # one tower, used twice
        return lib.Model([left, right], L.Dense(1, activation="sigmoid")(L.BatchNormalization()(apart)))

    def margin_loss(lib, margin=0.8):
        def loss(y_true, y_pred):  # same pairs near 0, different pairs beyond the margin
            ops = lib.ops
            return ops.mean((1 - y_true) * ops.square(y_pred) + y_true * ops.square(ops.maximum(margin - y_pred, 0)))

        return loss

    models = {lib: build(lib) for lib in LIBS}
    copy_weights(models[plait], models[keras])
    assert summary_totals(models[plait]) == summary_totals(models[keras])
    outcome = {}
    for lib, model in models.items():
        model.compile(loss=margin_loss(lib), optimizer="RMSprop", metrics=["accuracy"])
        data = [pictures[first], pictures[second]]
        history = model.fit(
            [d[:24] for d in data],
            different[:24],
            batch_size=8,
            epochs=2,
            shuffle=False,
            validation_data=([d[24:] for d in data], different[24:]),
            verbose=0,
        )
        outcome[lib] = (history.history, model.evaluate([d[24:] for d in data], different[24:], verbose=0))
    assert_close(outcome[plait], outcome[keras], rtol=1e-4, atol=1e-6)


def mentored(lib, student, mentor):
    class Mentored(lib.Model):
        """Trains ``student`` on the labels and on a frozen ``mentor``'s softened outputs."""

        def __init__(self):
            super().__init__()
            self.student, self.mentor = student, mentor

        def compile(self, optimizer, metrics, hard_loss, soft_loss, soft_share=0.7, temperature=4.0):
            super().compile(optimizer=optimizer, metrics=metrics)
            self.hard_loss, self.soft_loss = hard_loss, soft_loss
            self.soft_share, self.temperature = soft_share, temperature

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, allow_empty=False):
            ops, t = lib.ops, self.temperature
            soft_target = ops.softmax(self.mentor(x, training=False) / t, axis=1)
            soft = self.soft_loss(soft_target, ops.softmax(y_pred / t, axis=1)) * t * t
            return (1 - self.soft_share) * self.hard_loss(y, y_pred) + self.soft_share * soft

        def call(self, x):
            return self.student(x)

    return Mentored()


def test_a_model_overriding_compile_and_compute_loss_to_learn_from_a_mentor_matches_keras():
    pictures, labels = pictures_for_mentoring()

    def net(lib, width, name):
        L = lib.layers
        return lib.Sequential(
            [
                lib.Input(shape=(12, 12, 1)),
                L.Conv2D(width, (3, 3), strides=(2, 2), padding="same"),
                L.LeakyReLU(negative_slope=0.2),
                L.MaxPooling2D(pool_size=(2, 2), strides=(1, 1), padding="same"),
                L.Flatten(),
                L.Dense(4),
            ],
            name=name,
        )

    built = {}
    for lib in LIBS:
        mentor, student = net(lib, 12, "mentor"), net(lib, 4, "student")
        built[lib] = (mentor, student, lib.models.clone_model(student))
    for ours, theirs in zip(built[plait], built[keras]):
        copy_weights(ours, theirs)
    outcome = {}
    for lib, (mentor, student, scratch) in built.items():
        hard = lib.losses.SparseCategoricalCrossentropy(from_logits=True)
        mentor.compile(
            optimizer=lib.optimizers.Adam(3e-3), loss=hard, metrics=[lib.metrics.SparseCategoricalAccuracy()]
        )
        first = mentor.fit(pictures, labels, batch_size=8, epochs=2, shuffle=False, verbose=0).history
        pupil = mentored(lib, student, mentor)
        pupil.compile(
            lib.optimizers.Adam(3e-3), [lib.metrics.SparseCategoricalAccuracy()], hard, lib.losses.KLDivergence()
        )
        second = pupil.fit(pictures, labels, batch_size=8, epochs=2, shuffle=False, verbose=0).history
        scratch.compile(
            optimizer=lib.optimizers.Adam(3e-3), loss=hard, metrics=[lib.metrics.SparseCategoricalAccuracy()]
        )
        third = scratch.fit(pictures, labels, batch_size=8, epochs=2, shuffle=False, verbose=0).history
        outcome[lib] = (first, second, third, pupil.evaluate(pictures, labels, verbose=0))
    assert [w.shape for w in built[plait][2].get_weights()] == [w.shape for w in built[plait][1].get_weights()]
    assert_close(outcome[plait], outcome[keras], rtol=1e-4, atol=1e-6)


def pictures_for_mentoring():
    pictures = RNG.random((32, 12, 12, 1)).astype("float32")
    labels = (pictures[:, :6].mean(axis=(1, 2, 3)) > 0.5).astype("int64") * 2 + (
        pictures[:, :, :6].mean(axis=(1, 2, 3)) > 0.5
    )
    return pictures, labels


def beta_vae(lib, width=20, latent=3, beta=0.5):
    L, ops = lib.layers, lib.ops

    class Draw(L.Layer):
        """z = mean + exp(log_var / 2) * noise, the noise from a seeded generator."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.noise = lib.random.SeedGenerator(4242)

        def call(self, stats):
            mean, log_var = stats
            return mean + ops.exp(0.5 * log_var) * lib.random.normal(shape=ops.shape(mean), seed=self.noise)

    signal = lib.Input(shape=(width,))
    h = L.Dense(12, activation="relu")(signal)
    mean, log_var = L.Dense(latent, name="mean")(h), L.Dense(latent, name="log_var")(h)
    encoder = lib.Model(signal, [mean, log_var, Draw()([mean, log_var])], name="encoder")
    code = lib.Input(shape=(latent,))
    decoder = lib.Model(
        code, L.Dense(width, activation="sigmoid")(L.Dense(12, activation="relu")(code)), name="decoder"
    )

    class BetaVAE(lib.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.encoder, self.decoder = encoder, decoder
            self.trackers = {name: lib.metrics.Mean(name=name) for name in ("loss", "rebuild", "kl")}

        @property
        def metrics(self):
            return list(self.trackers.values())

        def train_step(self, data):
            self.zero_grad()
            mean, log_var, z = self.encoder(data)
            rebuild = ops.mean(
                ops.sum(lib.losses.binary_crossentropy(data[..., None], self.decoder(z)[..., None]), axis=1)
            )
            kl = ops.mean(ops.sum(-0.5 * (1 + log_var - ops.square(mean) - ops.exp(log_var)), axis=1))
            total = rebuild + beta * kl
            total.backward()
            weights = list(self.trainable_weights)
            with torch.no_grad():
                self.optimizer.apply([w.value.grad for w in weights], weights)
            for name, value in (("loss", total), ("rebuild", rebuild), ("kl", kl)):
                self.trackers[name].update_state(value)
            return {name: tracker.result() for name, tracker in self.trackers.items()}

        def call(self, x):
            return self.decoder(self.encoder(x)[2])

    return BetaVAE()


def test_a_functional_beta_vae_with_its_own_train_step_matches_keras():
    signals = (0.5 + 0.4 * np.sin(np.linspace(0, 3, 20) * RNG.uniform(1, 4, (48, 1)))).astype("float32")
    models = {lib: beta_vae(lib) for lib in LIBS}
    for model in models.values():
        model(signals[:2])
    copy_weights(models[plait].encoder, models[keras].encoder)
    copy_weights(models[plait].decoder, models[keras].decoder)
    outcome = {}
    for lib, model in models.items():
        model.compile(optimizer=lib.optimizers.Adam(1e-2))
        history = model.fit(signals, epochs=3, batch_size=16, shuffle=False, verbose=0)  # no targets
        grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, 3)] * 3), axis=-1).reshape(-1, 3)
        outcome[lib] = (
            history.history,
            model.decoder.predict(grid, verbose=0),
            model.encoder.predict(signals, verbose=0)[:2],
        )
    assert sorted(outcome[plait][0]) == ["kl", "loss", "rebuild"]
    assert_close(outcome[plait], outcome[keras], rtol=1e-4, atol=1e-5)  # (codes near zero: absolute)


def test_windows_from_timeseries_dataset_from_array_train_an_lstm_as_keras_does_on_the_same_windows(tmp_path):
    series = np.cumsum(RNG.normal(size=(300, 4)), axis=0).astype("float32")
    series = (series - series[:200].mean(axis=0)) / series[:200].std(axis=0)
    length, rate, ahead = 8, 3, 5  # 8 steps, every 3rd row; the target is column 1, `ahead` rows after the window

    def windows(part, batch_size):
        span = (length - 1) * rate + 1
        starts = np.arange(len(part) - span - ahead + 1)
        x = np.stack([part[s : s + span : rate] for s in starts])
        y = np.stack([part[s + span - 1 + ahead, 1:2] for s in starts])
        data = plait.utils.timeseries_dataset_from_array(
            part[: len(starts) + span - 1], y, sequence_length=length, sampling_rate=rate, batch_size=batch_size
        )
        return data, x, y

    train, x_train, y_train = windows(series[:200], 32)
    val, x_val, y_val = windows(series[200:], 32)
    for batch_x, batch_y in train.take(1):
        assert batch_x.numpy().shape == (32, length, 4) and batch_y.numpy().shape == (32, 1)
        assert_close(batch_x.numpy(), x_train[:32])
        assert_close(batch_y.numpy(), y_train[:32])
    assert sum(len(bx) for bx, _ in train) == len(x_train)

    def build(lib):
        inputs = lib.layers.Input(shape=(length, 4))
        return lib.Model(inputs, lib.layers.Dense(1)(lib.layers.LSTM(10)(inputs)))

    models = {lib: build(lib) for lib in LIBS}
    copy_weights(models[plait], models[keras])
    histories = {}
    for lib, model in models.items():
        model.compile(optimizer=lib.optimizers.Adam(learning_rate=3e-3), loss="mse")
        keep = lib.callbacks.ModelCheckpoint(
            str(tmp_path / f"{lib.__name__}.weights.h5"),
            monitor="val_loss",
            save_weights_only=True,
            save_best_only=True,
        )
        stop = lib.callbacks.EarlyStopping(monitor="val_loss", min_delta=0, patience=3)
        if lib is plait:
            # (a plait dataset is a PyDataset, whose batch order fit shuffles unless told not to)
            history = model.fit(train, epochs=3, shuffle=False, validation_data=val, callbacks=[stop, keep], verbose=0)
        else:  # Keras's timeseries_dataset_from_array needs TensorFlow: the same windows as arrays
            history = model.fit(
                x_train,
                y_train,
                batch_size=32,
                shuffle=False,
                epochs=3,
                validation_data=(x_val, y_val),
                callbacks=[stop, keep],
                verbose=0,
            )
        histories[lib] = history.history
    assert sorted(histories[plait]) == ["loss", "val_loss"]
    assert_close(histories[plait], histories[keras], rtol=1e-4)
    assert (tmp_path / "plait.weights.h5").exists()


def test_a_stateful_encoder_decoder_rebuilt_for_step_by_step_decoding_matches_keras(tmp_path):
    symbols = "abcdef"
    start, stop = len(symbols), len(symbols) + 1  # two extra tokens
    n_tokens, width = len(symbols) + 2, 12
    words = ["".join(RNG.choice(list(symbols), RNG.integers(2, 5))) for _ in range(48)]
    answers = [w[::-1] for w in words]  # the task: spell the word backwards
    enc = np.zeros((48, 4, len(symbols)), "float32")
    dec_in, dec_out = np.zeros((48, 6, n_tokens), "float32"), np.zeros((48, 6, n_tokens), "float32")
    for row, (word, answer) in enumerate(zip(words, answers)):
        enc[row, np.arange(len(word)), [symbols.index(c) for c in word]] = 1
        tokens = [start] + [symbols.index(c) for c in answer] + [stop]
        dec_in[row, np.arange(len(tokens) - 1), tokens[:-1]] = 1  # teacher forcing: the answer so far
        dec_out[row, np.arange(len(tokens) - 1), tokens[1:]] = 1

    def build(lib):
        L = lib.layers
        source = L.Input(shape=(None, len(symbols)))
        _, h, c = L.LSTM(width, return_state=True)(source)
        shown = L.Input(shape=(None, n_tokens))
        steps, _, _ = L.LSTM(width, return_sequences=True, return_state=True)(shown, initial_state=[h, c])
        return lib.Model([source, shown], L.Dense(n_tokens, activation="softmax")(steps))

    def decoders(lib, model):
        """Step-by-step models from a trained model's layers: the encoder's states, then one step."""
        encoder = lib.Model(model.input[0], list(model.layers[2].output[1:]))
        token, h_in, c_in = model.input[1], lib.Input(shape=(width,)), lib.Input(shape=(width,))
        steps, h, c = model.layers[3](token, initial_state=[h_in, c_in])
        return encoder, lib.Model([token, h_in, c_in], [model.layers[4](steps), h, c])

    def spell(encoder, step, one):
        h, c = encoder.predict(one, verbose=0)
        token, written = start, ""
        while len(written) < 6:
            shown = np.zeros((1, 1, n_tokens), "float32")
            shown[0, 0, token] = 1
            probs, h, c = step.predict([shown, h, c], verbose=0)
            token = int(np.argmax(probs[0, -1]))
            if token >= len(symbols):
                break
            written += symbols[token]
        return written

    models = {lib: build(lib) for lib in LIBS}
    copy_weights(models[plait], models[keras])
    outcome = {}
    for lib, model in models.items():
        model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(
            [enc, dec_in], dec_out, batch_size=8, epochs=3, shuffle=False, validation_split=0.25, verbose=0
        )
        path = str(tmp_path / f"{lib.__name__}_s2s.keras")
        model.save(path)
        encoder, step = decoders(lib, lib.models.load_model(path))
        outcome[lib] = (history.history, [spell(encoder, step, enc[i : i + 1]) for i in range(4)])
    assert outcome[plait][1] == outcome[keras][1]
    assert_close(outcome[plait][0], outcome[keras][0], rtol=1e-4, atol=1e-6)


def separable_residual_net(lib):
    L = lib.layers
    images = lib.Input(shape=(16, 16, 3))
    x = L.Activation("relu")(
        L.BatchNormalization()(L.Conv2D(8, 3, strides=2, padding="same")(L.Rescaling(1.0 / 255)(images)))
    )
    shortcut_source = x
    for size in (12, 16):  # each block halves the size; a strided 1x1 conv carries the shortcut
        x = L.BatchNormalization()(L.SeparableConv2D(size, 3, padding="same")(L.Activation("relu")(x)))
        x = L.MaxPooling2D(3, strides=2, padding="same")(x)
        x = L.add([x, L.Conv2D(size, 1, strides=2, padding="same")(shortcut_source)])
        shortcut_source = x
    x = L.GlobalAveragePooling2D()(
        L.Activation("relu")(L.BatchNormalization()(L.SeparableConv2D(20, 3, padding="same")(x)))
    )
    return lib.Model(images, L.Dense(1, activation=None)(x))  # one logit: two classes


def test_a_separable_residual_binary_classifier_matches_keras(tmp_path):
    images = RNG.integers(0, 256, (24, 16, 16, 3)).astype("float32")
    labels = (images[..., 0].mean(axis=(1, 2)) > images[..., 1].mean(axis=(1, 2))).astype("int32")
    models = {lib: separable_residual_net(lib) for lib in LIBS}
    copy_weights(models[plait], models[keras])
    assert layer_table(models[plait]) == layer_table(models[keras])
    outcome = {}
    for lib, model in models.items():
        model.compile(
            optimizer=lib.optimizers.Adam(3e-3),
            loss=lib.losses.BinaryCrossentropy(from_logits=True),
            metrics=[lib.metrics.BinaryAccuracy(name="acc")],
        )
        saver = lib.callbacks.ModelCheckpoint(str(tmp_path / lib.__name__ / "at_{epoch}.keras"))
        history = model.fit(
            images[:16],
            labels[:16],
            batch_size=4,
            epochs=2,
            shuffle=False,
            callbacks=[saver],
            validation_data=(images[16:], labels[16:]),
            verbose=0,
        )
        dog_odds = [float(lib.ops.sigmoid(p[0])) for p in model.predict(images[16:], verbose=0)]
        outcome[lib] = (history.history, dog_odds, sorted(p.name for p in (tmp_path / lib.__name__).iterdir()))
    assert outcome[plait][2] == outcome[keras][2] == ["at_1.keras", "at_2.keras"]
    assert_close(outcome[plait][:2], outcome[keras][:2], rtol=1e-4, atol=1e-6)


def test_random_flip_and_rotation_keep_the_batch_shape_and_dtype_as_in_keras():
    images = RNG.integers(0, 256, (3, 16, 16, 3)).astype("float32")
    seen = {}
    for lib in LIBS:
        out = images
        for layer in (lib.layers.RandomFlip("horizontal"), lib.layers.RandomRotation(0.1)):
            out = layer(out)
        out = np.asarray(lib.ops.convert_to_numpy(out))
        seen[lib] = (out.shape, out.dtype.name, bool(np.isfinite(out).all()))
    assert seen[plait] == seen[keras] == ((3, 16, 16, 3), "float32", True)


def segmenter(lib, classes=3):
    L = lib.layers
    images = lib.Input(shape=(16, 16, 3))
    x = L.Activation("relu")(L.BatchNormalization()(L.Conv2D(8, 3, strides=2, padding="same")(images)))
    skip = x
    for filters in (12, 16):  # down: separable convs, pooling, a strided 1x1 shortcut
        x = L.BatchNormalization()(L.SeparableConv2D(filters, 3, padding="same")(L.Activation("relu")(x)))
        x = L.add(
            [L.MaxPooling2D(3, strides=2, padding="same")(x), L.Conv2D(filters, 1, strides=2, padding="same")(skip)]
        )
        skip = x
    for filters in (16, 12, 8):  # up: transposed convs, upsampling, an upsampled 1x1 shortcut
        x = L.BatchNormalization()(L.Conv2DTranspose(filters, 3, padding="same")(L.Activation("relu")(x)))
        x = L.add([L.UpSampling2D(2)(x), L.Conv2D(filters, 1, padding="same")(L.UpSampling2D(2)(skip))])
        skip = x
    return lib.Model(images, L.Conv2D(classes, 3, activation="softmax", padding="same")(x))  # per-pixel classes


def test_a_segmenter_with_down_and_up_shortcuts_matches_keras(tmp_path):
    images = RNG.integers(0, 256, (12, 16, 16, 3)).astype("float32") / 255
    masks = (images[..., :1] * 3).astype("uint8").clip(0, 2)  # (n, 16, 16, 1) class ids
    models = {lib: segmenter(lib) for lib in LIBS}
    copy_weights(models[plait], models[keras])
    assert layer_table(models[plait]) == layer_table(models[keras])
    assert_close(
        models[plait].predict(images, verbose=0), models[keras].predict(images, verbose=0), rtol=1e-4, atol=1e-6
    )
    # Keras 3.15 on torch cannot train this model (torch's "grad_input must be contiguous" in
    # its max-pooling backward), so plait trains it, and Keras checks the trained weights.
    model = models[plait]
    model.compile(optimizer=plait.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    best = plait.callbacks.ModelCheckpoint(str(tmp_path / "plait_seg.keras"), save_best_only=True)
    history = model.fit(
        images[:8],
        masks[:8],
        batch_size=4,
        epochs=4,
        shuffle=False,
        validation_data=(images[8:], masks[8:]),
        callbacks=[best],
        verbose=0,
    ).history
    assert sorted(history) == ["loss", "val_loss"] and history["loss"][-1] < history["loss"][0]
    copy_weights(model, models[keras])
    assert_close(model.predict(images, verbose=0), models[keras].predict(images, verbose=0), rtol=1e-4, atol=1e-6)
    mask = np.argmax(models[plait].predict(images[8:9], verbose=0)[0], axis=-1)
    assert mask.shape == (16, 16) and (tmp_path / "plait_seg.keras").exists()
