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
