"""Keras's guide "The Functional API", run on plait.

Ported from keras-team/keras-io, guides/keras_core/functional_api.py (Apache License 2.0, author
fchollet): each section's code is the guide's with ``keras`` renamed to ``plait``, and small
random data instead of MNIST / CIFAR-10 downloads. Each section also runs on Keras 3 itself
(torch backend), and what the guide prints (summaries' shapes and parameter counts, History
keys, evaluate's results) must agree.
"""

import os

import numpy as np
import pytest

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


LIBS = (plait, keras)


def collect(lines):
    """A summary() print_fn that keeps the lines (Keras passes a keyword argument too)."""
    return lambda line, *args, **kwargs: lines.append(line)


def table(model):
    """What summary() prints: each layer's output shape and parameter count."""
    rows = []
    for layer in model.layers:
        out = layer.output
        shapes = [tuple(t.shape) for t in (out if isinstance(out, (list, tuple)) else [out])]
        rows.append((type(layer).__name__, shapes, layer.count_params()))
    return rows


def mnist_model(lib):
    layers = lib.layers
    inputs = lib.Input(shape=(784,))
    dense = layers.Dense(64, activation="relu")
    x = dense(inputs)
    x = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(10)(x)
    return lib.Model(inputs=inputs, outputs=outputs, name="mnist_model")


def test_introduction():
    outs = {}
    for lib in LIBS:
        inputs = lib.Input(shape=(784,))
        img_inputs = lib.Input(shape=(32, 32, 3))
        model = mnist_model(lib)
        lines = []
        model.summary(print_fn=collect(lines))
        # Keras spells the dtype "float32"; plait's symbolic tensors carry the torch dtype.
        outs[lib] = (
            tuple(inputs.shape),
            str(inputs.dtype).replace("torch.", ""),
            tuple(img_inputs.shape),
            table(model),
        )
    assert outs[plait] == outs[keras]
    # plot_model needs graphviz's `dot` (an optional system tool): not part of this port.


def test_training_evaluation_inference():
    rng = np.random.RandomState(0)
    x_train, y_train = rng.random_sample((128, 784)).astype("float32"), rng.randint(10, size=(128,))
    x_test, y_test = rng.random_sample((64, 784)).astype("float32"), rng.randint(10, size=(64,))
    outs = {}
    for lib in LIBS:
        model = mnist_model(lib)
        model.compile(
            loss=lib.losses.SparseCategoricalCrossentropy(from_logits=True),
            optimizer=lib.optimizers.RMSprop(),
            metrics=["accuracy"],
        )
        history = model.fit(x_train, y_train, batch_size=64, epochs=2, validation_split=0.2, verbose=0)
        test_scores = model.evaluate(x_test, y_test, verbose=0)
        outs[lib] = (sorted(history.history), len(history.history["loss"]), len(test_scores))
        assert 0 <= test_scores[1] <= 1
    assert outs[plait] == outs[keras]


def test_save_and_serialize(tmp_path):
    model = mnist_model(plait)
    model.compile(loss="mse", optimizer="rmsprop")
    x = np.random.random((4, 784)).astype("float32")
    before = model.predict(x, verbose=0)
    model.save(tmp_path / "my_model.keras")
    del model
    model = plait.models.load_model(tmp_path / "my_model.keras")
    np.testing.assert_allclose(model.predict(x, verbose=0), before, rtol=1e-6)


def encoder_layers(lib, encoder_input):
    layers = lib.layers
    x = layers.Conv2D(16, 3, activation="relu")(encoder_input)
    x = layers.Conv2D(32, 3, activation="relu")(x)
    x = layers.MaxPooling2D(3)(x)
    x = layers.Conv2D(32, 3, activation="relu")(x)
    x = layers.Conv2D(16, 3, activation="relu")(x)
    return layers.GlobalMaxPooling2D()(x)


def decoder_layers(lib, x):
    layers = lib.layers
    x = layers.Reshape((4, 4, 1))(x)
    x = layers.Conv2DTranspose(16, 3, activation="relu")(x)
    x = layers.Conv2DTranspose(32, 3, activation="relu")(x)
    x = layers.UpSampling2D(3)(x)
    x = layers.Conv2DTranspose(16, 3, activation="relu")(x)
    return layers.Conv2DTranspose(1, 3, activation="relu")(x)


def test_same_graph_for_multiple_models():
    outs = {}
    for lib in LIBS:
        encoder_input = lib.Input(shape=(28, 28, 1), name="img")
        encoder_output = encoder_layers(lib, encoder_input)
        encoder = lib.Model(encoder_input, encoder_output, name="encoder")
        decoder_output = decoder_layers(lib, encoder_output)
        autoencoder = lib.Model(encoder_input, decoder_output, name="autoencoder")
        outs[lib] = (table(encoder), table(autoencoder), autoencoder.count_params())
    assert outs[plait] == outs[keras]
    assert outs[plait][1][-1][1] == [(None, 28, 28, 1)]


def test_models_are_callable_and_ensembles():
    outs = {}
    for lib in LIBS:
        encoder_input = lib.Input(shape=(28, 28, 1), name="original_img")
        encoder = lib.Model(encoder_input, encoder_layers(lib, encoder_input), name="encoder")
        decoder_input = lib.Input(shape=(16,), name="encoded_img")
        decoder = lib.Model(decoder_input, decoder_layers(lib, decoder_input), name="decoder")
        autoencoder_input = lib.Input(shape=(28, 28, 1), name="img")
        encoded_img = encoder(autoencoder_input)
        decoded_img = decoder(encoded_img)
        autoencoder = lib.Model(autoencoder_input, decoded_img, name="autoencoder")

        def get_model(lib=lib):
            inputs = lib.Input(shape=(128,))
            outputs = lib.layers.Dense(1)(inputs)
            return lib.Model(inputs, outputs)

        model1, model2, model3 = get_model(), get_model(), get_model()
        inputs = lib.Input(shape=(128,))
        y1, y2, y3 = model1(inputs), model2(inputs), model3(inputs)
        outputs = lib.layers.average([y1, y2, y3])
        ensemble_model = lib.Model(inputs=inputs, outputs=outputs)
        x = np.random.RandomState(0).random_sample((2, 128)).astype("float32")
        mean = np.mean([np.asarray(m.predict(x, verbose=0)) for m in (model1, model2, model3)], axis=0)
        np.testing.assert_allclose(np.asarray(ensemble_model.predict(x, verbose=0)), mean, rtol=1e-5, atol=1e-6)
        outs[lib] = (table(autoencoder), autoencoder.count_params(), table(ensemble_model))
    assert outs[plait] == outs[keras]


def ticket_model(lib, num_tags=12, num_words=1000, num_departments=4):
    layers = lib.layers
    title_input = lib.Input(shape=(None,), name="title")  # Variable-length sequence of ints
    body_input = lib.Input(shape=(None,), name="body")  # Variable-length sequence of ints
    tags_input = lib.Input(shape=(num_tags,), name="tags")  # Binary vectors of size `num_tags`
    title_features = layers.Embedding(num_words, 64)(title_input)
    body_features = layers.Embedding(num_words, 64)(body_input)
    title_features = layers.LSTM(128)(title_features)
    body_features = layers.LSTM(32)(body_features)
    x = layers.concatenate([title_features, body_features, tags_input])
    priority_pred = layers.Dense(1, name="priority")(x)
    department_pred = layers.Dense(num_departments, name="department")(x)
    return lib.Model(
        inputs=[title_input, body_input, tags_input],
        outputs={"priority": priority_pred, "department": department_pred},
    )


def test_multiple_inputs_and_outputs():
    num_tags, num_words, num_departments = 12, 1000, 4
    rng = np.random.RandomState(0)
    title_data = rng.randint(num_words, size=(32, 10))
    body_data = rng.randint(num_words, size=(32, 20))
    tags_data = rng.randint(2, size=(32, num_tags)).astype("float32")
    priority_targets = rng.random_sample(size=(32, 1))
    dept_targets = rng.randint(2, size=(32, num_departments))
    outs = {}
    for lib in LIBS:
        model = ticket_model(lib, num_tags, num_words, num_departments)
        model.compile(
            optimizer=lib.optimizers.RMSprop(1e-3),
            loss=[
                lib.losses.BinaryCrossentropy(from_logits=True),
                lib.losses.CategoricalCrossentropy(from_logits=True),
            ],
            loss_weights=[1.0, 0.2],
        )
        model.compile(
            optimizer=lib.optimizers.RMSprop(1e-3),
            loss={
                "priority": lib.losses.BinaryCrossentropy(from_logits=True),
                "department": lib.losses.CategoricalCrossentropy(from_logits=True),
            },
            loss_weights={"priority": 1.0, "department": 0.2},
        )
        history = model.fit(
            {"title": title_data, "body": body_data, "tags": tags_data},
            {"priority": priority_targets, "department": dept_targets},
            epochs=2,
            batch_size=32,
            verbose=0,
        )
        # Keras lists a dict's outputs sorted by key ("department" before "priority"), plait in
        # the dict's order: the layers compare as sets.
        outs[lib] = (sorted(history.history), model.count_params(), sorted(table(model), key=repr))
    assert outs[plait] == outs[keras]


def toy_resnet(lib):
    layers = lib.layers
    inputs = lib.Input(shape=(32, 32, 3), name="img")
    x = layers.Conv2D(32, 3, activation="relu")(inputs)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    block_1_output = layers.MaxPooling2D(3)(x)
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(block_1_output)
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(x)
    block_2_output = layers.add([x, block_1_output])
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(block_2_output)
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(x)
    block_3_output = layers.add([x, block_2_output])
    x = layers.Conv2D(64, 3, activation="relu")(block_3_output)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(256, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(10)(x)
    return lib.Model(inputs, outputs, name="toy_resnet")


def test_toy_resnet():
    rng = np.random.RandomState(0)
    x_train = rng.random_sample((20, 32, 32, 3)).astype("float32")
    y_train = plait.utils.to_categorical(rng.randint(10, size=(20, 1)), 10)
    outs = {}
    for lib in LIBS:
        model = toy_resnet(lib)
        model.compile(
            optimizer=lib.optimizers.RMSprop(1e-3),
            loss=lib.losses.CategoricalCrossentropy(from_logits=True),
            metrics=["acc"],
        )
        history = model.fit(x_train, y_train, batch_size=16, epochs=1, validation_split=0.2, verbose=0)
        outs[lib] = (table(model), model.count_params(), sorted(history.history))
    assert outs[plait] == outs[keras]


def test_shared_layers():
    outs = {}
    for lib in LIBS:
        shared_embedding = lib.layers.Embedding(1000, 128)
        text_input_a = lib.Input(shape=(None,), dtype="int32")
        text_input_b = lib.Input(shape=(None,), dtype="int32")
        encoded_input_a = shared_embedding(text_input_a)
        encoded_input_b = shared_embedding(text_input_b)
        outs[lib] = (tuple(encoded_input_a.shape), tuple(encoded_input_b.shape))
    assert outs[plait] == outs[keras]


def test_extract_and_reuse_nodes():
    # The guide's VGG19 at 224x224 with ImageNet weights (a download, 143M parameters) is
    # replaced by the same architecture without its top on 32x32 inputs and no weights.
    outs = {}
    img = np.random.random((1, 32, 32, 3)).astype("float32")
    for lib in LIBS:
        vgg19 = lib.applications.VGG19(weights=None, include_top=False, input_shape=(32, 32, 3))
        features_list = [layer.output for layer in vgg19.layers]
        feat_extraction_model = lib.Model(inputs=vgg19.input, outputs=features_list)
        extracted_features = feat_extraction_model(img)
        outs[lib] = [tuple(f.shape) for f in extracted_features]
    assert outs[plait] == outs[keras]


def custom_dense(lib, with_config):
    ops = lib.ops

    class CustomDense(lib.layers.Layer):
        def __init__(self, units=32):
            super().__init__()
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal", trainable=True)
            self.b = self.add_weight(shape=(self.units,), initializer="random_normal", trainable=True)

        def call(self, inputs):
            return ops.matmul(inputs, self.w) + self.b

        if with_config:

            def get_config(self):
                return {"units": self.units}

    return CustomDense


def test_custom_layers():
    CustomDense = custom_dense(plait, with_config=False)
    inputs = plait.Input((4,))
    outputs = CustomDense(10)(inputs)
    model = plait.Model(inputs, outputs)
    assert tuple(outputs.shape) == (None, 10) and model.count_params() == 50

    CustomDense = custom_dense(plait, with_config=True)
    inputs = plait.Input((4,))
    outputs = CustomDense(10)(inputs)
    model = plait.Model(inputs, outputs)
    config = model.get_config()
    new_model = plait.Model.from_config(config, custom_objects={"CustomDense": CustomDense})
    assert type(new_model.layers[1]) is CustomDense and new_model.count_params() == 50
    x = np.random.random((2, 4)).astype("float32")
    assert new_model.predict(x, verbose=0).shape == (2, 10)


def mix_and_match(lib):
    layers, ops = lib.layers, lib.ops
    units, timesteps, input_dim = 32, 10, 5
    inputs = lib.Input((None, units))
    x = layers.GlobalAveragePooling1D()(inputs)
    outputs = layers.Dense(1)(x)
    model = lib.Model(inputs, outputs)

    class CustomRNN(layers.Layer):
        def __init__(self, classifier=None):
            super().__init__()
            self.units = units
            self.projection_1 = layers.Dense(units=units, activation="tanh")
            self.projection_2 = layers.Dense(units=units, activation="tanh")
            self.classifier = classifier if classifier is not None else layers.Dense(1)

        def call(self, inputs):
            outputs = []
            state = ops.zeros(shape=(inputs.shape[0], self.units))
            for t in range(inputs.shape[1]):
                x = inputs[:, t, :]
                h = self.projection_1(x)
                y = h + self.projection_2(state)
                state = y
                outputs.append(y)
            features = ops.stack(outputs, axis=1)
            return self.classifier(features)

    rnn_model = CustomRNN(model)  # our previously-defined Functional model
    first = rnn_model(ops.zeros((1, timesteps, input_dim)))

    batch_size = 16
    inputs = lib.Input(batch_shape=(batch_size, timesteps, input_dim))
    x = layers.Conv1D(32, 3)(inputs)
    outputs = CustomRNN()(x)
    model = lib.Model(inputs, outputs)
    rnn_model = CustomRNN()
    second = rnn_model(ops.zeros((1, 10, 5)))
    return (tuple(first.shape), tuple(outputs.shape), tuple(second.shape), model.count_params())


def test_mix_and_match_api_styles():
    assert mix_and_match(plait) == mix_and_match(keras)
