"""plot_model, plot_history, the TensorBoard callback and quiet exports."""

import importlib.util
import os
import re
import stat
import sys
import types
import warnings
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch

import plait
from plait import Input, Model, Sequential
from plait.layers import LSTM, Conv1D, Dense, Embedding, GlobalMaxPooling1D, Lambda, MaxPooling1D, concatenate
from plait.utils import model_to_dot, plot_history, plot_model, to_categorical


@pytest.fixture(autouse=True)
def one_thread():
    """The models here are small: a second intra-op thread only waits on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------------------- the seed's models


def seed_sequential():
    model = Sequential()
    model.add(Dense(32, activation="relu", input_shape=(64,)))
    model.add(Dense(32, activation="relu"))
    model.add(Dense(10, activation="softmax"))
    return model


def seed_functional():
    input_tensor = Input(shape=(64,))
    x = Dense(32, activation="relu")(input_tensor)
    x = Dense(32, activation="relu")(x)
    return Model(input_tensor, Dense(10, activation="softmax")(x))


def seed_question_answering():
    text_input = Input(shape=(None,), dtype="int32", name="text")
    encoded_text = LSTM(32)(Embedding(input_dim=10000, output_dim=64)(text_input))
    question_input = Input(shape=(None,), dtype="int32", name="question")
    encoded_question = LSTM(16)(Embedding(input_dim=10000, output_dim=32)(question_input))
    concatenated = concatenate([encoded_text, encoded_question], axis=-1)
    answer = Dense(500, activation="softmax")(concatenated)
    return Model([text_input, question_input], answer)


def seed_multi_output():
    posts_input = Input(shape=(None,), dtype="int32", name="posts")
    x = Embedding(input_dim=50000, output_dim=256)(posts_input)
    x = Conv1D(filters=128, kernel_size=5, activation="relu")(x)
    x = MaxPooling1D(5)(x)
    x = Conv1D(256, 5, activation="relu")(x)
    x = GlobalMaxPooling1D()(x)
    x = Dense(128, activation="relu")(x)
    age = Dense(1, name="age")(x)
    sex = Dense(1, activation="sigmoid", name="sex")(x)
    income = Dense(10, activation="softmax", name="income")(x)
    return Model(posts_input, [age, sex, income])


def nested_model():
    """Two inputs through one shared inner functional model, then a nested Sequential."""
    inner_input = Input(shape=(8,), name="inner_in")
    inner = Model(inner_input, Dense(4, name="inner_dense")(inner_input), name="inner")
    head = Sequential([Dense(5, input_shape=(4,), name="head_1"), Dense(3, name="head_2")], name="head")
    a, b = Input(shape=(8,), name="a"), Input(shape=(8,), name="b")
    merged = concatenate([inner(a), inner(b)], name="merge")
    return Model([a, b], head(Dense(4, name="squeeze")(merged)), name="outer")


# ---------------------------------------------------------------------------- plot_model


def dot_graph(source):
    """``({node id: layer name}, {(source name, destination name)})`` from model_to_dot's source."""
    names = dict(re.findall(r'^"(\d+)" \[label=<.*?<b>(.*?)</b>', source, flags=re.M))
    edges = {(names[a], names[b]) for a, b in re.findall(r'^"(\d+)" -> "(\d+)"', source, flags=re.M)}
    return names, edges


def svg_texts(path):
    texts = ET.parse(path).getroot().iter("{http://www.w3.org/2000/svg}text")
    return " ".join("".join(t.itertext()) for t in texts)


def png_size(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


@pytest.mark.parametrize(
    "build", [seed_sequential, seed_functional, seed_question_answering, seed_multi_output, nested_model]
)
def test_plot_model_writes_png_and_svg_naming_every_layer(build, tmp_path):
    model = build()
    png, svg = tmp_path / "model.png", tmp_path / "model.svg"
    assert plot_model(model, to_file=png, show_shapes=True, show_layer_names=True, dpi=50) is None  # no IPython
    width, height = png_size(png.read_bytes())
    assert width > 100 and height > 100
    plot_model(model, to_file=svg, show_shapes=True, show_layer_names=True)
    text = svg_texts(svg)
    for layer in model.layers:
        assert layer.name in text
    for layer in model.layers:
        assert f"({layer._get_name()})" in text


def test_plot_model_connections_and_labels_follow_keras():
    model = seed_question_answering()
    source = model_to_dot(model, show_shapes=True, show_dtype=True)
    names, edges = dot_graph(source)
    assert sorted(names.values()) == sorted(layer.name for layer in model.layers)
    assert edges == {
        ("text", "embedding"),
        ("question", "embedding_1"),
        ("embedding", "lstm"),
        ("embedding_1", "lstm_1"),
        ("lstm", "concatenate"),
        ("lstm_1", "concatenate"),
        ("concatenate", "dense"),
    }
    # Keras's cells: an InputLayer has no input shape; a merge lists its inputs' shapes.
    assert "Input shape: <b>[(None, 32), (None, 16)]</b>" in source
    assert "Output shape: <b>(None, 500)</b>" in source
    assert "Output dtype: <b>int32</b>" in source
    assert source.count("Input shape:") == len(model.layers) - 2
    assert 'rankdir="TB"' in source and 'splines="ortho"' in source and 'dpi="200"' in source
    # Without show_layer_names (Keras 3's default) a box shows the class only.
    plain = model_to_dot(model, show_layer_names=False)
    assert "<b>Embedding</b>" in plain and "<b>embedding</b>" not in plain


def test_plot_model_labels_and_edges_match_keras():
    """The same architecture drawn by Keras's own model_to_dot (pydot) and by plait: every box's
    HTML label and every edge are identical."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    pytest.importorskip("pydot")
    from keras.src.utils.model_visualization import model_to_dot as keras_model_to_dot

    def build(api, input_fn):
        text = input_fn(shape=(None,), dtype="int32", name="text")
        question = input_fn(shape=(None,), dtype="int32", name="question")
        encoded_text = api.LSTM(32, name="lstm")(api.Embedding(100, 64, name="embedding")(text))
        encoded_question = api.LSTM(16, name="lstm_1")(api.Embedding(100, 32, name="embedding_1")(question))
        merged = api.concatenate([encoded_text, encoded_question], axis=-1, name="concatenate")
        frozen = api.Dense(8, name="frozen")
        answer = api.Dense(500, activation="softmax", name="dense")(frozen(merged))
        frozen.trainable = False
        return [text, question], answer

    options = dict(show_shapes=True, show_dtype=True, show_layer_activations=True, show_trainable=True)
    keras_dot = keras_model_to_dot(keras.Model(*build(keras.layers, keras.Input)), **options)
    keras_labels = {}
    for node in keras_dot.get_nodes():
        label = node.get("label")
        if label:
            keras_labels[re.search(r"<b>(.*?)</b>", label).group(1)] = label
    ids = {
        node.get_name(): re.search(r"<b>(.*?)</b>", node.get("label")).group(1)
        for node in keras_dot.get_nodes()
        if node.get("label")
    }
    keras_edges = {(ids[e.get_source()], ids[e.get_destination()]) for e in keras_dot.get_edges()}

    source = model_to_dot(Model(*build(plait.layers, Input)), **options)
    plait_labels = dict(
        (re.search(r"<b>(.*?)</b>", label).group(1), label)
        for label in re.findall(r'^"\d+" \[label=(<.*>), fontname', source, flags=re.M)
    )
    assert plait_labels == keras_labels
    assert dot_graph(source)[1] == keras_edges


def test_plot_model_activations_and_trainable():
    model = seed_functional()
    model.layers[1].trainable = False
    source = model_to_dot(model, show_layer_activations=True, show_trainable=True, rankdir="LR")
    assert source.count("Activation: <b>relu</b>") == 2 and source.count("Activation: <b>softmax</b>") == 1
    assert source.count("<b>Non-trainable</b>") == 1 and source.count("<b>Trainable</b>") == 2  # not InputLayer
    assert 'rankdir="LR"' in source


def test_plot_model_sequential_hides_its_input_layer():
    model = seed_sequential()
    names, edges = dot_graph(model_to_dot(model))
    assert sorted(names.values()) == ["dense", "dense_1", "dense_2"]
    assert edges == {("dense", "dense_1"), ("dense_1", "dense_2")}


def test_plot_model_nested_collapsed_and_expanded():
    model = nested_model()
    names, edges = dot_graph(model_to_dot(model))
    assert edges == {("a", "inner"), ("b", "inner"), ("inner", "merge"), ("squeeze", "head"), ("merge", "squeeze")}
    source = model_to_dot(model, expand_nested=True)
    names, edges = dot_graph(source)
    # Keras draws a nested model as a dashed cluster; edges go to its input layer (functional)
    # or its first layer (Sequential), and leave from the layer making its output.
    assert source.count("subgraph") == 2 and 'label="inner"' in source and 'label="head"' in source
    assert edges == {
        ("a", "inner_in"),
        ("b", "inner_in"),
        ("inner_in", "inner_dense"),
        ("inner_dense", "merge"),
        ("merge", "squeeze"),
        ("squeeze", "head_1"),
        ("head_1", "head_2"),
    }


def test_plot_model_pdf_dot_and_default_png(tmp_path):
    model = seed_functional()
    plot_model(model, to_file=tmp_path / "model.pdf")
    assert (tmp_path / "model.pdf").read_bytes().startswith(b"%PDF")
    plot_model(model, to_file=tmp_path / "model.dot")
    assert (tmp_path / "model.dot").read_text() == model_to_dot(model, show_layer_names=False)
    plot_model(model, to_file=tmp_path / "model")  # no extension: PNG, as in Keras
    png_size((tmp_path / "model").read_bytes())


def test_plot_model_errors(tmp_path):
    with pytest.raises(ValueError, match="not yet been built"):
        plot_model(Sequential([Dense(2)]), to_file=tmp_path / "m.png")
    with pytest.raises(ValueError, match="rankdir must be one of"):
        model_to_dot(seed_functional(), rankdir="XY")
    with pytest.raises(ValueError, match=r"plot_model writes png, svg, pdf.*Received: to_file='.*m.bmp'"):
        plot_model(seed_functional(), to_file=tmp_path / "m.bmp")


def test_plot_model_without_graphviz_names_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pygraphviz", None)  # import fails
    monkeypatch.setenv("PATH", str(tmp_path))  # and no dot program
    with pytest.raises(ImportError, match=r"pip install pygraphviz"):
        plot_model(seed_functional(), to_file=tmp_path / "m.png")


def test_plot_model_uses_a_dot_program_on_the_path(tmp_path, monkeypatch):
    # A stand-in `dot` that records its format flag and stdin: the fallback without pygraphviz.
    fake = tmp_path / "dot"
    fake.write_text(f'#!/bin/sh\necho "$1" > {tmp_path}/flag\n/bin/cat > {tmp_path}/stdin\nprintf "<svg/>"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setitem(sys.modules, "pygraphviz", None)
    monkeypatch.setenv("PATH", str(tmp_path))
    model = seed_functional()
    plot_model(model, to_file=tmp_path / "m.svg")
    assert (tmp_path / "flag").read_text().strip() == "-Tsvg"
    assert (tmp_path / "stdin").read_text() == model_to_dot(model, show_layer_names=False)
    assert (tmp_path / "m.svg").read_text() == "<svg/>"


def test_plot_model_returns_an_ipython_image_when_ipython_is_there(tmp_path, monkeypatch):
    display = types.ModuleType("IPython.display")
    display.Image = lambda filename: ("Image", filename)
    display.SVG = lambda filename: ("SVG", filename)
    ipython = types.ModuleType("IPython")
    ipython.display = display
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", display)
    model = seed_functional()
    assert plot_model(model, to_file=tmp_path / "m.png") == ("Image", str(tmp_path / "m.png"))
    assert plot_model(model, to_file=tmp_path / "m.svg") == ("SVG", str(tmp_path / "m.svg"))
    assert plot_model(model, to_file=tmp_path / "m.pdf") is None


# ---------------------------------------------------------------------------- plot_history


def small_multi_output_fit(epochs=3, **fit_kwargs):
    rng = np.random.default_rng(0)
    inputs = Input(shape=(6,), name="features")
    hidden = Dense(8, activation="relu")(inputs)
    model = Model(inputs, [Dense(1, name="age")(hidden), Dense(3, activation="softmax", name="income")(hidden)])
    model.compile(
        "adam",
        loss={"age": "mse", "income": "categorical_crossentropy"},
        metrics={"income": ["acc"]},
        **fit_kwargs.pop("compile", {}),
    )
    x = rng.normal(size=(48, 6)).astype("float32")
    y = [rng.normal(size=(48, 1)).astype("float32"), to_categorical(rng.integers(0, 3, 48), 3)]
    history = model.fit(x, y, epochs=epochs, batch_size=16, validation_data=(x, y), verbose=0, **fit_kwargs)
    return model, history, (x, y)


def test_plot_history_panels_lines_and_png(tmp_path):
    _, history, _ = small_multi_output_fit()
    fig = plot_history(history, to_file=tmp_path / "history.png")
    # The total loss, then output by output: its loss, then its metrics.
    assert [ax.get_title() for ax in fig.axes] == ["loss", "age_loss", "income_loss", "income_acc"]
    for ax in fig.axes:
        key = ax.get_title()
        lines = {line.get_label(): line for line in ax.get_lines()}
        assert sorted(lines) == ["training", "validation"]
        np.testing.assert_allclose(lines["training"].get_ydata(), history.history[key])
        np.testing.assert_allclose(lines["validation"].get_ydata(), history.history[f"val_{key}"])
        assert list(lines["training"].get_xdata()) == [1, 2, 3] and ax.get_xlabel() == "epoch"
    width, height = png_size((tmp_path / "history.png").read_bytes())
    assert width > height > 100
    two = plot_history(history.history, metrics=["income_acc", "loss"], ncols=1)
    assert [ax.get_title() for ax in two.axes] == ["loss", "income_acc"]
    with pytest.raises(ValueError, match="no such metric"):
        plot_history(history, metrics=["accuracy"])
    with pytest.raises(TypeError, match="History that fit"):
        plot_history([1.0, 0.5])


def test_plot_history_puts_bookkeeping_last_and_handles_training_only():
    fig = plot_history({"age_loss_weight": [1, 2], "loss": [3.0, 2.0], "learning_rate": [0.1, 0.1]})
    assert [ax.get_title() for ax in fig.axes] == ["loss", "age_loss_weight", "learning_rate"]
    keys = ["b_mae", "acc", "a_acc", "a_loss", "loss", "b_loss", "a_loss_weight", "b_loss_weight", "learning_rate"]
    fig = plot_history({key: [1.0] for key in keys})
    assert [ax.get_title() for ax in fig.axes] == [
        "loss", "a_loss", "a_acc", "b_loss", "b_mae", "acc", "a_loss_weight", "b_loss_weight", "learning_rate"
    ]  # fmt: skip
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["training"]


# ---------------------------------------------------------------------------- TensorBoard


@pytest.fixture
def no_tensorflow(monkeypatch):
    """TensorFlow cannot be imported during the test (the callback must not need it)."""
    monkeypatch.setitem(sys.modules, "tensorflow", None)


def read_run(path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(path), size_guidance={"scalars": 0, "histograms": 0, "images": 0})
    accumulator.Reload()
    return accumulator


def scalar_values(run, tag):
    return [(e.step, e.value) for e in run.Scalars(tag)]


def test_tensorboard_writes_keras_layout_read_back_by_event_accumulator(tmp_path, no_tensorflow):
    callback = plait.callbacks.TensorBoard(log_dir=tmp_path)
    _, history, _ = small_multi_output_fit(callbacks=[callback])
    assert sorted(os.listdir(tmp_path)) == ["train", "validation"]
    train, validation = read_run(tmp_path / "train"), read_run(tmp_path / "validation")
    for key in ("loss", "age_loss", "income_loss", "income_acc"):
        expected = [(epoch, pytest.approx(value, rel=1e-6)) for epoch, value in enumerate(history.history[key])]
        assert scalar_values(train, f"epoch_{key}") == expected
        val_expected = [(e, pytest.approx(v, rel=1e-6)) for e, v in enumerate(history.history[f"val_{key}"])]
        assert scalar_values(validation, f"epoch_{key}") == val_expected
    assert scalar_values(train, "epoch_learning_rate") == [(e, pytest.approx(0.001)) for e in range(3)]
    assert not any(tag.startswith("batch_") for tag in train.Tags()["scalars"])  # update_freq="epoch"
    assert train.Tags()["graph"]  # the traced model graph
    assert "model_summary/text_summary" in train.Tags()["tensors"]
    assert "tensorflow" not in sys.modules or sys.modules["tensorflow"] is None


def test_tensorboard_batches_histograms_images_and_loss_weights(tmp_path, no_tensorflow):
    callback = plait.callbacks.TensorBoard(
        log_dir=tmp_path, histogram_freq=2, update_freq=2, write_images=True, write_steps_per_second=True
    )
    model, history, _ = small_multi_output_fit(callbacks=[callback], compile={"loss_weights": "auto"})
    train = read_run(tmp_path / "train")
    # 3 batches per epoch, 9 in all: written at global batches 2, 4, 6, 8.
    assert [step for step, _ in scalar_values(train, "batch_loss")] == [2, 4, 6, 8]
    assert [step for step, _ in scalar_values(train, "batch_steps_per_second")] == [2, 4, 6, 8]
    assert len(scalar_values(train, "epoch_steps_per_second")) == 3
    for name in ("age", "income"):
        expected = [(e, pytest.approx(v, rel=1e-6)) for e, v in enumerate(history.history[f"{name}_loss_weight"])]
        assert scalar_values(train, f"epoch_{name}_loss_weight") == expected
    tags = train.Tags()["histograms"]
    assert sorted(tags) == sorted(
        f"{layer}/{weight}/histogram" for layer in ("dense", "age", "income") for weight in ("kernel", "bias")
    )
    histograms = train.Histograms("dense/kernel/histogram")
    assert [h.step for h in histograms] == [0, 2]  # every histogram_freq epochs
    kernel = model.get_layer("dense").get_weights()[0]
    last = histograms[-1].histogram_value
    assert last.num == kernel.size
    assert (last.min, last.max) == (pytest.approx(kernel.min()), pytest.approx(kernel.max()))
    assert last.sum == pytest.approx(float(kernel.sum()), abs=1e-4)
    assert "dense/kernel/image" in train.Tags()["images"]


def test_tensorboard_profile_batch_and_evaluate(tmp_path, no_tensorflow):
    callback = plait.callbacks.TensorBoard(log_dir=tmp_path, profile_batch=(2, 3), write_graph=False)
    model, _, (x, y) = small_multi_output_fit(epochs=1, callbacks=[callback])
    profile_dir = tmp_path / "train" / "plugins" / "profile"
    traces = [name for name in os.listdir(profile_dir) if name.endswith(".pt.trace.json")]
    assert len(traces) == 1 and (profile_dir / traces[0]).stat().st_size > 0
    assert not read_run(tmp_path / "train").Tags()["graph"]
    results = model.evaluate(x, y, callbacks=[callback], verbose=0, return_dict=True)
    validation = read_run(tmp_path / "validation")
    # evaluate() writes at the optimizer's step count (3 steps were taken); as in Keras, fit's own
    # validation may write there too.
    assert scalar_values(validation, "evaluation_loss_vs_iterations")[-1] == (3, pytest.approx(results["loss"]))


def test_tensorboard_embeddings_and_subclassed_model(tmp_path, no_tensorflow):
    inputs = Input(shape=(5,), dtype="int32")
    model = Model(inputs, Dense(1)(GlobalMaxPooling1D()(Embedding(7, 3, name="words")(inputs))))
    model.compile("sgd", "mse")
    labels = tmp_path / "labels.tsv"
    labels.write_text("\n".join(f"word{i}" for i in range(7)) + "\n")
    callback = plait.callbacks.TensorBoard(tmp_path / "logs", embeddings_freq=1, embeddings_metadata=str(labels))
    model.fit(np.zeros((4, 5), "int32"), np.zeros((4, 1), "float32"), epochs=1, verbose=0, callbacks=[callback])
    config = (tmp_path / "logs" / "train" / "projector_config.pbtxt").read_text()
    assert 'tensor_name: "words:00000"' in config
    tensors = next((tmp_path / "logs" / "train").glob("*/words/tensors.tsv"))
    rows = [list(map(float, line.split("\t"))) for line in tensors.read_text().splitlines()]
    np.testing.assert_allclose(rows, model.get_layer("words").get_weights()[0], rtol=1e-5)

    class Subclassed(plait.Model):
        def __init__(self):
            super().__init__()
            self.dense = Dense(1)

        def call(self, x):
            return self.dense(x)

    sub = Subclassed()
    sub(torch.zeros(1, 2))
    sub.compile("sgd", "mse")
    callback = plait.callbacks.TensorBoard(log_dir=tmp_path / "sub")
    sub.fit(np.ones((4, 2), "float32"), np.ones((4, 1), "float32"), epochs=2, verbose=0, callbacks=[callback])
    train = read_run(tmp_path / "sub" / "train")
    assert len(scalar_values(train, "epoch_loss")) == 2 and "model_summary/text_summary" in train.Tags()["tensors"]


def test_tensorboard_graph_falls_back_to_text_when_tracing_fails(tmp_path, no_tensorflow, monkeypatch):
    from torch.utils.tensorboard import SummaryWriter

    def untraceable(self, model, inputs, **kwargs):
        raise RuntimeError("this graph cannot be traced")

    monkeypatch.setattr(SummaryWriter, "add_graph", untraceable)
    model, _, _ = small_multi_output_fit(epochs=1, callbacks=[plait.callbacks.TensorBoard(tmp_path)])
    train = read_run(tmp_path / "train")
    assert not train.Tags()["graph"]
    assert {"model_summary/text_summary", "model_graph/text_summary"} <= set(train.Tags()["tensors"])
    assert not model.training  # the model's mode is restored after the attempt


def test_tensorboard_argument_errors():
    with pytest.raises(ValueError, match="update_freq must be"):
        plait.callbacks.TensorBoard(update_freq="step")
    with pytest.raises(ValueError, match="profile_batch must be"):
        plait.callbacks.TensorBoard(profile_batch=(5, 2))
    with pytest.raises(ValueError, match="histogram_freq must be"):
        plait.callbacks.TensorBoard(histogram_freq=-1)
    assert isinstance(plait.callbacks.TensorBoard(update_freq="batch"), plait.callbacks.TensorBoard)
    # Only a callback that logs per batch defines batch hooks (the fit loop skips them otherwise).
    assert type(plait.callbacks.TensorBoard()).on_train_batch_end is plait.callbacks.Callback.on_train_batch_end
    assert type(plait.callbacks.TensorBoard(profile_batch=2)).on_train_batch_end is not (
        plait.callbacks.Callback.on_train_batch_end
    )


# ---------------------------------------------------------------------------- quiet exports


def warn_and_double(x):
    warnings.warn("a warning from the user's own layer", UserWarning, stacklevel=1)
    return x * 2


@pytest.mark.parametrize("extension", [".pt2", ".onnx"])
def test_export_hides_torch_internals_but_not_user_warnings(extension, tmp_path, capfd):
    if extension == ".onnx" and importlib.util.find_spec("onnxscript") is None:
        pytest.skip("ONNX export needs onnx and onnxscript (the onnx extra)")
    inputs = Input(shape=(4,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the shape inference's run of the function warns too
        model = Model(inputs, Dense(2)(Lambda(warn_and_double)(inputs)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.export(tmp_path / f"model{extension}")
    messages = [str(w.message) for w in caught]
    assert "a warning from the user's own layer" in messages
    assert all(m == "a warning from the user's own layer" for m in messages), messages
    captured = capfd.readouterr()
    assert "torchvision" not in captured.err and "Warning" not in captured.err, captured.err
