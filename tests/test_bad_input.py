"""Every user mistake is a clear error: the exception type, and a message naming the culprit (the
input, output, layer, argument or path), never a raw torch error from deep inside a layer.

The cases are the mistakes new users hit (data that does not fit the model, labels out of range,
arguments, graphs that cannot run, callbacks that cannot act, saving), plus a fuzz test that
feeds fit/evaluate/predict random structures, shapes and dtypes.
"""

import os
import traceback
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import plait
from plait import Input, Model, Sequential, callbacks, layers

os.environ.setdefault("KERAS_BACKEND", "torch")  # the Keras reference runs on torch

X = np.random.default_rng(0).random((16, 4)).astype("float32")
Y_CLS = np.random.default_rng(1).integers(0, 3, 16)
Y_REG = np.zeros((16, 1), "float32")


def classifier():
    model = Sequential([Input((4,), name="features"), layers.Dense(3, activation="softmax", name="probs")])
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def regressor():
    model = Sequential([Input((4,), name="features"), layers.Dense(1, name="value")])
    model.compile("sgd", "mse")
    return model


def two_inputs():
    a, b = Input((4,), name="a"), Input((2,), name="b")
    out = layers.Dense(1, name="out")(layers.concatenate([a, b]))
    model = Model([a, b], out)
    model.compile("sgd", "mse")
    return model


def two_outputs():
    x = Input((4,), name="x")
    model = Model(x, {"age": layers.Dense(1, name="age")(x), "kind": layers.Dense(3, name="kind")(x)})
    model.compile("sgd", {"age": "mse", "kind": "sparse_categorical_crossentropy"})
    return model


def gen(*items, n=3):
    return (items for _ in range(n))


WIDE = np.zeros((16, 5), "float32")
RANK3 = np.zeros((16, 4, 2), "float32")
BAD_SHAPE = r"features.*expected shape \(None, 4\).*received input with shape"

# (id, action, exception type, regex the message must match)
DATA_CASES = [
    # A feature size or rank that does not fit the Input, wherever the data comes in.
    ("fit_wide", lambda: classifier().fit(WIDE, Y_CLS, verbose=0), ValueError, BAD_SHAPE),
    ("fit_rank3", lambda: classifier().fit(RANK3, Y_CLS, verbose=0), ValueError, BAD_SHAPE),
    ("fit_rank1", lambda: classifier().fit(np.zeros(16), Y_CLS, verbose=0), ValueError, "features.*rank"),
    ("evaluate_wide", lambda: classifier().evaluate(WIDE, Y_CLS, verbose=0), ValueError, BAD_SHAPE),
    ("evaluate_rank3", lambda: classifier().evaluate(RANK3, Y_CLS, verbose=0), ValueError, BAD_SHAPE),
    ("predict_wide", lambda: classifier().predict(WIDE, verbose=0), ValueError, BAD_SHAPE),
    ("predict_rank3", lambda: classifier().predict(RANK3, verbose=0), ValueError, BAD_SHAPE),
    ("predict_1d", lambda: classifier().predict(np.zeros(4), verbose=0), ValueError, "features"),
    (
        "validation_wide",
        lambda: classifier().fit(X, Y_CLS, validation_data=(WIDE[:4], Y_CLS[:4]), verbose=0),
        ValueError,
        BAD_SHAPE,
    ),
    (
        "validation_rank3",
        lambda: classifier().fit(X, Y_CLS, validation_data=(RANK3[:4], Y_CLS[:4]), verbose=0),
        ValueError,
        BAD_SHAPE,
    ),
    ("generator_wide", lambda: classifier().fit(gen(WIDE[:4], Y_CLS[:4]), verbose=0), ValueError, BAD_SHAPE),
    ("generator_rank3", lambda: classifier().fit(gen(RANK3[:4], Y_CLS[:4]), verbose=0), ValueError, BAD_SHAPE),
    ("predict_generator_wide", lambda: classifier().predict(gen(WIDE[:4]), verbose=0), ValueError, BAD_SHAPE),
    ("call_wide", lambda: classifier()(torch.zeros(2, 5)), ValueError, BAD_SHAPE),
    ("call_rank3", lambda: classifier()(torch.zeros(2, 4, 3)), ValueError, BAD_SHAPE),
    ("call_numpy_wide", lambda: classifier()(np.zeros((2, 5), "float32")), ValueError, BAD_SHAPE),
    ("call_string", lambda: classifier()("hello"), TypeError, "sequential.*'hello'"),
    ("call_none", lambda: classifier()(None), TypeError, "sequential.*None"),
    ("train_on_batch_wide", lambda: classifier().train_on_batch(WIDE, Y_CLS), ValueError, BAD_SHAPE),
    ("test_on_batch_wide", lambda: classifier().test_on_batch(WIDE, Y_CLS), ValueError, BAD_SHAPE),
    ("predict_on_batch_wide", lambda: classifier().predict_on_batch(WIDE), ValueError, BAD_SHAPE),
    ("predict_complex", lambda: classifier().predict(X.astype(np.complex64), verbose=0), TypeError, "features"),
    ("predict_strings", lambda: classifier().predict(np.array([["a"] * 4]), verbose=0), TypeError, "features"),
    (
        "predict_objects",
        lambda: classifier().predict(np.array([[1, "a", 2, 3]], dtype=object), verbose=0),
        TypeError,
        "features",
    ),
    ("predict_scalar", lambda: classifier().predict(3.0, verbose=0), ValueError, "features.*scalar"),
    ("fit_x_none", lambda: classifier().fit(None, Y_CLS, verbose=0), ValueError, "Received: x=None"),
    ("fit_x_string", lambda: classifier().fit("data.csv", Y_CLS, verbose=0), TypeError, "x='data.csv'"),
    ("predict_x_string", lambda: classifier().predict("data.csv", verbose=0), TypeError, "x='data.csv'"),
    ("fit_ragged", lambda: classifier().fit([[1, 2, 3, 4], [1, 2]], [0, 1], verbose=0), ValueError, "features.*ragged"),
    ("fit_empty", lambda: classifier().fit(np.zeros((0, 4)), np.zeros(0), verbose=0), ValueError, "empty.*0, 4"),
    ("evaluate_empty", lambda: classifier().evaluate(np.zeros((0, 4)), np.zeros(0), verbose=0), ValueError, "empty"),
    ("predict_empty", lambda: classifier().predict(np.zeros((0, 4)), verbose=0), ValueError, "empty"),
    (
        "validation_data_empty",  # Keras warns "ran out of data" and silently drops validation
        lambda: classifier().fit(
            np.zeros((8, 4)), np.zeros(8), validation_data=(np.zeros((0, 4)), np.zeros(0)), verbose=0
        ),
        ValueError,
        "`validation_data` input is empty",
    ),
    # Multi-input models.
    ("dict_missing_input", lambda: two_inputs().fit({"a": X}, Y_REG, verbose=0), ValueError, r"missing.*\['b'\]"),
    (
        "dict_unknown_input",
        lambda: two_inputs().fit({"a": X, "b": X[:, :2], "c": X}, Y_REG, verbose=0),
        ValueError,
        r"\['c'\]",
    ),
    ("list_too_few_inputs", lambda: two_inputs().fit([X], Y_REG, verbose=0), ValueError, r"2 input.*\['a', 'b'\]"),
    ("single_array_two_inputs", lambda: two_inputs().fit(X, Y_REG, verbose=0), ValueError, r"\['a', 'b'\]"),
    (
        "second_input_wide",
        lambda: two_inputs().fit([X, X], Y_REG, verbose=0),
        ValueError,
        r"'b'.*expected shape \(None, 2\).*\(16, 4\)",
    ),
    (
        "second_input_wide_predict",
        lambda: two_inputs().predict({"a": X, "b": X}, verbose=0),
        ValueError,
        r"'b'.*\(None, 2\)",
    ),
    ("call_missing_input", lambda: two_inputs()({"a": torch.zeros(1, 4)}), ValueError, r"Missing: \['b'\]"),
    # Targets.
    ("label_too_large", lambda: classifier().fit(X, Y_CLS + 5, verbose=0), ValueError, "probs.*label 7.*3 classes"),
    ("label_negative", lambda: classifier().fit(X, Y_CLS - 5, verbose=0), ValueError, "probs.*label -5"),
    ("label_evaluate", lambda: classifier().evaluate(X, Y_CLS + 3, verbose=0), ValueError, "probs.*outside"),
    (
        "label_validation",
        lambda: classifier().fit(X, Y_CLS, validation_data=(X, Y_CLS + 3), verbose=0),
        ValueError,
        "probs.*outside",
    ),
    ("label_generator", lambda: classifier().fit(gen(X, Y_CLS + 3), verbose=0), ValueError, "probs.*outside"),
    ("label_train_on_batch", lambda: classifier().train_on_batch(X, Y_CLS + 3), ValueError, "probs.*outside"),
    ("label_float_too_large", lambda: classifier().fit(X, Y_CLS + 3.0, verbose=0), ValueError, "probs.*outside"),
    ("sparse_targets_2d", lambda: classifier().fit(X, np.zeros((16, 5)), verbose=0), ValueError, "probs.*shape"),
    # (Targets of (16, 5) against an output of (None, 1) broadcast: Keras computes that loss.)
    ("mse_targets_rank", lambda: regressor().fit(X, np.zeros((16, 5, 2)), verbose=0), ValueError, r"\(16, 5, 2\)"),
    ("mse_targets_rank4", lambda: regressor().fit(X, np.zeros((16, 1, 1, 1)), verbose=0), ValueError, "value"),
    ("targets_count", lambda: regressor().fit(X, Y_REG[:10], verbose=0), ValueError, "target 'value': 10"),
    ("targets_strings", lambda: regressor().fit(X, np.array(["a"] * 16), verbose=0), TypeError, "value"),
    ("targets_dict_unknown", lambda: two_outputs().fit(X, {"agee": Y_REG}, verbose=0), ValueError, r"\['agee'\]"),
    ("targets_list_count", lambda: two_outputs().fit(X, [Y_REG], verbose=0), ValueError, r"2 output.*1 target"),
    ("targets_single_two_outputs", lambda: two_outputs().fit(X, Y_REG, verbose=0), ValueError, "age.*kind"),
    (
        "second_output_label",
        lambda: two_outputs().fit(X, {"age": Y_REG, "kind": Y_CLS + 3}, verbose=0),
        ValueError,
        "kind.*outside",
    ),
    (
        "categorical_targets_labels",
        lambda: _compiled(classifier(), "categorical_crossentropy").fit(X, Y_CLS, verbose=0),
        ValueError,
        "probs.*one-hot",
    ),
    # Sample and class weights.
    (
        "sample_weight_2d",
        lambda: classifier().fit(X, Y_CLS, sample_weight=np.ones((16, 3)), verbose=0),
        ValueError,
        r"sample_weight.*probs.*\(16, 3\)",
    ),
    (
        "sample_weight_length",
        lambda: classifier().fit(X, Y_CLS, sample_weight=np.ones(10), verbose=0),
        ValueError,
        "sample_weight.*10",
    ),
    (
        "sample_weight_scalar",
        lambda: classifier().fit(X, Y_CLS, sample_weight=1.0, verbose=0),
        ValueError,
        "sample_weight.*scalar",
    ),
    (
        "sample_weight_unknown_key",
        lambda: two_outputs().fit(X, {"age": Y_REG, "kind": Y_CLS}, sample_weight={"agee": np.ones(16)}, verbose=0),
        ValueError,
        r"sample_weight.*\['agee'\]",
    ),
    (
        "class_weight_unknown_class",
        lambda: classifier().fit(X, Y_CLS, class_weight={7: 1.0}, verbose=0),
        ValueError,
        "class_weight.*class 7.*3 classes",
    ),
    (
        "class_weight_negative_class",
        lambda: classifier().fit(X, Y_CLS, class_weight={-1: 1.0}, verbose=0),
        ValueError,
        "class_weight.*class -1",
    ),
    (
        "class_weight_string_key",
        lambda: classifier().fit(X, Y_CLS, class_weight={"cat": 1.0}, verbose=0),
        ValueError,
        "class_weight.*'cat'",
    ),
    (
        "class_weight_string_value",
        lambda: classifier().fit(X, Y_CLS, class_weight={0: "high"}, verbose=0),
        TypeError,
        r"class_weight\[0\]='high'",
    ),
    (
        "class_weight_list",
        lambda: classifier().fit(X, Y_CLS, class_weight=[1, 2], verbose=0),
        TypeError,
        "class_weight",
    ),
    (
        "class_and_sample_weight",
        lambda: classifier().fit(X, Y_CLS, class_weight={0: 1.0}, sample_weight=np.ones(16), verbose=0),
        ValueError,
        "sample_weight.*class_weight",
    ),
    # Generators and datasets.
    ("generator_4_tuple", lambda: classifier().fit(gen(X, Y_CLS, None, 1), verbose=0), ValueError, "4 elements"),
    ("generator_none", lambda: classifier().fit(gen(None), verbose=0), TypeError, "features"),
    ("generator_with_y", lambda: classifier().fit(gen(X, Y_CLS), Y_CLS, verbose=0), ValueError, "`y` must be None"),
    (
        "generator_with_sample_weight",
        lambda: classifier().fit(gen(X, Y_CLS), sample_weight=np.ones(16), verbose=0),
        ValueError,
        "`sample_weight` must be None",
    ),
    (
        "generator_validation_split",
        lambda: classifier().fit(gen(X, Y_CLS), validation_split=0.5, verbose=0),
        ValueError,
        "validation_split",
    ),
    ("dict_x_single_input", lambda: classifier().fit({"feats": X}, Y_CLS, verbose=0), ValueError, r"\['feats'\]"),
]


def _compiled(model, loss):
    model.compile("sgd", loss)
    return model


ARGUMENT_CASES = [
    ("batch_size_0", lambda: regressor().fit(X, Y_REG, batch_size=0, verbose=0), ValueError, "batch_size=0"),
    ("batch_size_negative", lambda: regressor().fit(X, Y_REG, batch_size=-1, verbose=0), ValueError, "batch_size=-1"),
    ("batch_size_float", lambda: regressor().fit(X, Y_REG, batch_size=2.5, verbose=0), ValueError, "batch_size=2.5"),
    ("batch_size_bool", lambda: regressor().fit(X, Y_REG, batch_size=True, verbose=0), ValueError, "batch_size=True"),
    ("batch_size_str", lambda: regressor().fit(X, Y_REG, batch_size="32", verbose=0), ValueError, "batch_size='32'"),
    (
        "evaluate_batch_size_0",
        lambda: regressor().evaluate(X, Y_REG, batch_size=0, verbose=0),
        ValueError,
        "batch_size=0",
    ),
    ("predict_batch_size_0", lambda: regressor().predict(X, batch_size=0, verbose=0), ValueError, "batch_size=0"),
    (
        "validation_batch_size_0",
        lambda: regressor().fit(X, Y_REG, validation_data=(X, Y_REG), validation_batch_size=0, verbose=0),
        ValueError,
        "validation_batch_size=0",
    ),
    ("epochs_negative", lambda: regressor().fit(X, Y_REG, epochs=-1, verbose=0), ValueError, "epochs=-1"),
    ("epochs_float", lambda: regressor().fit(X, Y_REG, epochs=1.5, verbose=0), ValueError, "epochs=1.5"),
    ("epochs_str", lambda: regressor().fit(X, Y_REG, epochs="2", verbose=0), ValueError, "epochs='2'"),
    (
        "initial_epoch_negative",
        lambda: regressor().fit(X, Y_REG, initial_epoch=-1, verbose=0),
        ValueError,
        "initial_epoch=-1",
    ),
    (
        "validation_split_1",
        lambda: regressor().fit(X, Y_REG, validation_split=1.0, verbose=0),
        ValueError,
        "validation_split=1.0",
    ),
    (
        "validation_split_negative",
        lambda: regressor().fit(X, Y_REG, validation_split=-0.1, verbose=0),
        ValueError,
        "validation_split=-0.1",
    ),
    (
        "validation_split_tiny",
        lambda: regressor().fit(X[:1], Y_REG[:1], validation_split=0.5, verbose=0),
        ValueError,
        "validation_split=0.5",
    ),
    (
        "validation_freq_0",
        lambda: regressor().fit(X, Y_REG, validation_freq=0, verbose=0),
        ValueError,
        "validation_freq=0",
    ),
    (
        "validation_freq_str",
        lambda: regressor().fit(X, Y_REG, validation_freq="x", verbose=0),
        ValueError,
        "validation_freq='x'",
    ),
    (
        "steps_per_epoch_0",
        lambda: regressor().fit(X, Y_REG, steps_per_epoch=0, verbose=0),
        ValueError,
        "steps_per_epoch=0",
    ),
    (
        "steps_per_epoch_float",
        lambda: regressor().fit(X, Y_REG, steps_per_epoch=1.5, verbose=0),
        ValueError,
        "steps_per_epoch=1.5",
    ),
    (
        "validation_steps_0",
        lambda: regressor().fit(X, Y_REG, validation_data=(X, Y_REG), validation_steps=0, verbose=0),
        ValueError,
        "validation_steps=0",
    ),
    ("predict_steps_negative", lambda: regressor().predict(X, steps=-1, verbose=0), ValueError, "steps=-1"),
    ("evaluate_steps_0", lambda: regressor().evaluate(X, Y_REG, steps=0, verbose=0), ValueError, "steps=0"),
    (
        "validation_data_4_tuple",
        lambda: regressor().fit(X, Y_REG, validation_data=(X, Y_REG, None, 1), verbose=0),
        ValueError,
        "validation_data.*length 4",
    ),
    (
        "validation_data_int",
        lambda: regressor().fit(X, Y_REG, validation_data=3, verbose=0),
        ValueError,
        "validation_data.*int",
    ),
    (
        "steps_per_execution_0",
        lambda: regressor().compile("sgd", "mse", steps_per_execution=0),
        ValueError,
        "steps_per_execution=0",
    ),
    ("jit_compile_str", lambda: regressor().compile("sgd", "mse", jit_compile="yes"), ValueError, "jit_compile='yes'"),
    ("unknown_loss", lambda: regressor().compile("sgd", "msee"), ValueError, "msee"),
    ("unknown_optimizer", lambda: regressor().compile("sgdd", "mse"), ValueError, "sgdd"),
    ("unknown_metric", lambda: regressor().compile("sgd", "mse", metrics=["acc2"]), ValueError, "acc2"),
    (
        "fit_before_compile",
        lambda: Sequential([Input((4,)), layers.Dense(1)]).fit(X, Y_REG, verbose=0),
        RuntimeError,
        "compile",
    ),
    ("callback_not_a_callback", lambda: regressor().fit(X, Y_REG, callbacks=[3], verbose=0), TypeError, "int"),
    ("backup_save_freq_0", lambda: callbacks.BackupAndRestore("/tmp/x", save_freq=0), ValueError, "save_freq=0"),
    (
        "backup_save_freq_str",
        lambda: callbacks.BackupAndRestore("/tmp/x", save_freq="batch"),
        ValueError,
        "save_freq='batch'",
    ),
    ("backup_empty_dir", lambda: callbacks.BackupAndRestore(""), ValueError, "backup_dir"),
    ("checkpoint_save_freq_0", lambda: callbacks.ModelCheckpoint("m.keras", save_freq=0), ValueError, "save_freq: 0"),
    ("reduce_lr_factor_1", lambda: callbacks.ReduceLROnPlateau(factor=1.0), ValueError, "factor"),
]

GRAPH_CASES = [
    (
        "reshape_wrong_size",
        lambda: Sequential([Input((4,)), layers.Reshape((3,))]),
        ValueError,
        r"reshape.*\(3,\).*\(4,\)",
    ),
    (
        "reshape_2d_wrong_size",
        lambda: Sequential([Input((4, 3)), layers.Reshape((5, 2))]),
        ValueError,
        r"reshape.*\(5, 2\)",
    ),
    (
        "reshape_minus_one",
        lambda: Sequential([Input((5,)), layers.Reshape((-1, 2))]),
        ValueError,
        r"reshape.*\(-1, 2\)",
    ),
    ("reshape_two_unknowns", lambda: layers.Reshape((-1, -1)), ValueError, "target_shape"),
    (
        "concatenate_axis_5",
        lambda: layers.concatenate([Input((4,)), Input((4,))], axis=5),
        ValueError,
        "axis 5.*rank 2",
    ),
    ("concatenate_axis_-3", lambda: layers.concatenate([Input((4,)), Input((4,))], axis=-3), ValueError, "axis -3"),
    ("concatenate_ranks", lambda: layers.concatenate([Input((4,)), Input((4, 2))]), ValueError, "concatenate.*rank"),
    (
        "concatenate_shapes",
        lambda: layers.concatenate([Input((4, 2)), Input((3, 3))]),
        ValueError,
        "concatenate.*shapes",
    ),
    ("model_duplicated_inputs", lambda: _duplicated(), ValueError, "input_a.*more than once"),
    ("model_disconnected", lambda: _disconnected(), ValueError, "disconnected.*input_c"),
    (  # a layer's output as an input is Keras's sub-model rule; this output needs another Input
        "model_input_not_upstream",
        lambda: Model(layers.Dense(2)(Input((3,))), layers.Dense(1)(Input((3,)))),
        ValueError,
        "Graph disconnected.*denseCLONE",
    ),
    ("model_input_not_a_tensor", lambda: Model(np.ones((2, 3)), layers.Dense(1)(Input((3,)))), TypeError, "Input"),
    ("dense_on_string", lambda: layers.Dense(3)("hello"), TypeError, "dense.*'hello'"),
    ("dense_on_none", lambda: layers.Dense(3)(None), TypeError, "dense.*None"),
    ("dense_on_bytes", lambda: layers.Dense(3)(b"x"), TypeError, "dense.*bytes"),
    ("conv_on_string", lambda: layers.Conv2D(3, 3)("image.png"), TypeError, "conv2d.*image.png"),
    ("concatenate_on_none", lambda: layers.Concatenate()([Input((2,)), None]), TypeError, "concatenate.*None"),
    ("dense_units_0", lambda: layers.Dense(0), ValueError, "units=0"),
    ("dense_units_negative", lambda: layers.Dense(-1), ValueError, "units=-1"),
    ("dropout_rate", lambda: layers.Dropout(1.5), ValueError, "rate=1.5"),
    (
        "embedding_index_too_large",
        lambda: layers.Embedding(10, 2)(torch.tensor([[1, 12]])),
        ValueError,
        "embedding.*input_dim=10.*12",
    ),
    ("embedding_index_negative", lambda: layers.Embedding(10, 2)(torch.tensor([[-3, 1]])), ValueError, "embedding.*-3"),
    ("embedding_input_dim_0", lambda: layers.Embedding(0, 2), ValueError, "input_dim=0"),
]


def _duplicated():
    a = Input((4,), name="input_a")
    return Model([a, a], layers.Dense(1)(a))


def _disconnected():
    a, c = Input((4,), name="input_a"), Input((4,), name="input_c")
    return Model(a, layers.Dense(1)(layers.add([a, c])))


def _save_into(tmp_path, name, method):
    model = regressor()
    target = os.path.join(tmp_path, *name.split("/"))
    getattr(model, method)(target)


def _parent_is_file(tmp_path):
    (tmp_path / "afile").write_text("x")
    regressor().save(str(tmp_path / "afile" / "m.keras"))


SAVING_CASES = [
    ("save_missing_folder", lambda p: _save_into(p, "nope/m.keras", "save"), FileNotFoundError, "nope.m.keras"),
    ("save_plait_missing_folder", lambda p: _save_into(p, "nope/m.plait", "save"), FileNotFoundError, "nope.m.plait"),
    (
        "save_weights_missing_folder",
        lambda p: _save_into(p, "nope/m.weights.h5", "save_weights"),
        FileNotFoundError,
        "m.weights.h5",
    ),
    (
        "save_safetensors_missing_folder",
        lambda p: _save_into(p, "nope/w.safetensors", "save_weights"),
        FileNotFoundError,
        "w.safetensors",
    ),
    ("save_parent_is_file", _parent_is_file, NotADirectoryError, "afile.m.keras"),
    ("load_weights_missing", lambda p: regressor().load_weights(str(p / "none.weights.h5")), FileNotFoundError, "none"),
    ("load_model_missing", lambda p: plait.models.load_model(str(p / "none.keras")), FileNotFoundError, "none.keras"),
]


@pytest.mark.parametrize("action, error, pattern", [c[1:] for c in DATA_CASES], ids=[c[0] for c in DATA_CASES])
def test_data_mistakes(action, error, pattern):
    with pytest.raises(error, match=f"(?is){pattern}"):
        action()


@pytest.mark.parametrize("action, error, pattern", [c[1:] for c in ARGUMENT_CASES], ids=[c[0] for c in ARGUMENT_CASES])
def test_argument_mistakes(action, error, pattern):
    with pytest.raises(error, match=f"(?is){pattern}"):
        action()


@pytest.mark.parametrize("action, error, pattern", [c[1:] for c in GRAPH_CASES], ids=[c[0] for c in GRAPH_CASES])
def test_graph_mistakes(action, error, pattern):
    with pytest.raises(error, match=f"(?is){pattern}"):
        action()


@pytest.mark.parametrize("action, error, pattern", [c[1:] for c in SAVING_CASES], ids=[c[0] for c in SAVING_CASES])
def test_saving_mistakes(tmp_path, action, error, pattern):
    with pytest.raises(error, match=f"(?is){pattern}"):
        action(tmp_path)
    assert not any(name.startswith(".tmp-") for _, _, names in os.walk(tmp_path) for name in names)


CALLBACK_WARNINGS = [
    (
        "early_stopping_val_loss",
        lambda tmp: callbacks.EarlyStopping(monitor="val_loss"),
        "val_loss.*not available.*loss",
    ),
    ("early_stopping_typo", lambda tmp: callbacks.EarlyStopping(monitor="los"), "`los`.*Available metrics are: loss"),
    ("reduce_lr_val_loss", lambda tmp: callbacks.ReduceLROnPlateau(monitor="val_loss"), "val_loss.*not available"),
    (
        "checkpoint_best_without_monitor",
        lambda tmp: callbacks.ModelCheckpoint(str(tmp / "m.keras"), save_best_only=True),
        "val_loss available",
    ),
]


@pytest.mark.parametrize("make, pattern", [c[1:] for c in CALLBACK_WARNINGS], ids=[c[0] for c in CALLBACK_WARNINGS])
def test_callbacks_that_cannot_act_warn(tmp_path, make, pattern):
    with pytest.warns(UserWarning, match=f"(?s){pattern}"):
        regressor().fit(X, Y_REG, epochs=1, verbose=0, callbacks=[make(tmp_path)])


def test_checkpoint_path_with_an_unknown_key_names_it_and_the_logs(tmp_path):
    checkpoint = callbacks.ModelCheckpoint(str(tmp_path / "m_{val_acc:.2f}.keras"))
    with pytest.raises(KeyError, match=r"val_acc.*Available keys.*loss"):
        regressor().fit(X, Y_REG, epochs=1, verbose=0, callbacks=[checkpoint])


def test_integer_bool_and_uint8_inputs_are_cast_as_keras_does():
    keras = pytest.importorskip("keras")
    images = np.random.default_rng(0).integers(0, 255, (6, 4)).astype("uint8")
    model = regressor()
    reference = model.predict(images.astype("float32"), verbose=0)
    for data in (images, images.astype("int64"), images > 100):
        expected = reference if data.dtype != bool else model.predict(data.astype("float32"), verbose=0)
        np.testing.assert_array_equal(model.predict(data, verbose=0), expected)
        np.testing.assert_array_equal(model(torch.from_numpy(data)).detach().numpy(), expected)
    model.fit(images, np.zeros((6, 1)), verbose=0)  # trains on uint8 images
    k = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    k.set_weights(model.get_weights())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Keras's own numpy 2 copy= notice
        expected = k.predict(images, verbose=0)
    np.testing.assert_allclose(model.predict(images, verbose=0), expected, rtol=1e-6)


def test_keras_rank_adjustment_a_trailing_one_is_squeezed():
    model = regressor()
    np.testing.assert_array_equal(model.predict(X[..., None], verbose=0), model.predict(X, verbose=0))


def test_fit_on_a_generator_without_steps_per_epoch_ends_when_it_is_exhausted():
    model = classifier()
    history = model.fit(gen(X, Y_CLS, n=5), epochs=1, verbose=0)
    assert len(history.history["loss"]) == 1


def test_nan_batch_leaves_finite_weights_and_names_the_batch_and_output():
    model = two_outputs()
    x = X.copy()
    x[9] = np.nan  # batch 2 with batch_size=4
    before = [w.copy() for w in model.get_weights()]
    with pytest.warns(RuntimeWarning, match=r"Batch 2: the loss of output\(s\) \['age', 'kind'\] is not finite"):
        model.fit(x, {"age": Y_REG, "kind": Y_CLS}, batch_size=4, shuffle=False, verbose=0)
    after = model.get_weights()
    assert all(np.isfinite(w).all() for w in after)
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))  # the finite batches trained


def test_terminate_on_nan_stops_before_the_bad_update(capsys):
    model = regressor()
    y = Y_REG.copy()
    y[5] = np.inf
    model.fit(X, y, batch_size=2, shuffle=False, epochs=3, verbose=0, callbacks=[callbacks.TerminateOnNaN()])
    out = capsys.readouterr().out
    assert "Batch 2: Invalid loss, terminating training" in out and "['value']" in out
    assert all(np.isfinite(w).all() for w in model.get_weights())


# ---------------------------------------------------------------------- later batches of a generator
def batches(*later):
    """A generator: one good batch of the classifier, then ``later`` (x, y) batches."""
    yield X[:4], Y_CLS[:4]
    yield from later


LABELS = r"Target 'probs' has class label {bad} outside \[0, 3\) for loss 'sparse_categorical_crossentropy'"


@pytest.mark.parametrize("bad", [7, 3, -1, -100])  # -100: torch's ignore_index, not Keras's
def test_a_later_generator_batch_with_labels_out_of_range_is_named(bad):
    labels = np.array([0, 1, bad, 2])
    received = rf"Received labels in \[{min(bad, 0)}, {max(bad, 2)}\]"
    match = rf"Batch 1 of the dataset or generator: {LABELS.format(bad=bad)}.*{received}"
    with pytest.raises(ValueError, match=match):
        classifier().fit(batches((X[:4], labels)), verbose=0)
    with pytest.raises(ValueError, match=match):
        classifier().evaluate(batches((X[:4], labels)), verbose=0)


def test_a_later_pydataset_batch_with_labels_out_of_range_is_named():
    class Data(plait.utils.PyDataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return X[:4], np.array([0, 1, 2, 5 if i == 2 else 0])

    with pytest.raises(ValueError, match=r"Batch 2 of the dataset or generator: " + LABELS.format(bad=5)):
        classifier().fit(Data(), shuffle=False, verbose=0)  # the batch's position in the pass


def test_a_later_generator_batch_of_the_wrong_shape_is_named_and_uint8_is_cast():
    with pytest.raises(ValueError, match=r"Batch 1 of the dataset or generator: Input 'features'.*\(None, 4\)"):
        classifier().fit(batches((WIDE[:4], Y_CLS[:4])), verbose=0)
    model = classifier()
    model.fit(batches((np.full((4, 4), 3, "uint8"), Y_CLS[:4])), verbose=0)  # cast as the first batch is
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_a_later_batch_with_embedding_indices_out_of_range_names_the_layer():
    model = Sequential([Input((3,), dtype="int32"), layers.Embedding(10, 2, name="embed"), layers.Flatten()])
    model.add(layers.Dense(1))
    model.compile("sgd", "mse")
    data = ((np.array([[1, 2, i]] * 4), Y_REG[:4]) for i in (3, 12))
    with pytest.raises(ValueError, match=r"'embed'.*outside \[0, input_dim=10\).*\[1, 12\]"):
        model.fit(data, verbose=0)


def test_labels_the_host_checks_miss_trip_the_kernel_into_a_clear_error():
    # compute_loss called by a user's own step, and targets that skip the door checks: the kernel's
    # index error becomes a ValueError naming the output, the loss and the labels.
    model = classifier()
    model.predict(X[:2], verbose=0)
    y_pred = model(torch.as_tensor(X[:4]))
    for bad in (9, -100):
        with pytest.raises(ValueError, match=LABELS.format(bad=bad)) as info:
            model.compute_loss(y=torch.tensor([0, 1, bad, 2]), y_pred=y_pred)
        assert isinstance(info.value.__cause__, (IndexError, RuntimeError))


def test_kernel_index_errors_in_the_compiled_step_name_the_labels(monkeypatch):
    from plait.training import checks

    model = Sequential([Input((4,), name="features"), layers.Dense(3, activation="softmax", name="probs")])
    model.compile("adam", "sparse_categorical_crossentropy", jit_compile=True)
    model.fit(X[:8], Y_CLS[:8], batch_size=4, verbose=0)  # the second step is the compiled one
    weights = model.get_weights()
    monkeypatch.setattr(checks, "check_targets", lambda *args, **kwargs: None)  # as if on a device
    with pytest.raises(ValueError, match=LABELS.format(bad=7)):
        model.fit(X[:4], np.array([0, 1, 7, 2]), batch_size=4, verbose=0)
    assert model._jit._phase == "compiled"
    for a, b in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(b, a)


# ---------------------------------------------------------------------- fuzzing
def _arrays(draw, rows):
    dtype = draw(st.sampled_from(["float32", "float64", "int64", "uint8", "bool", "complex64", "str"]))
    rank = draw(st.integers(0, 3))
    shape = tuple([rows] + [draw(st.integers(0, 5)) for _ in range(rank - 1)]) if rank else ()
    data = np.zeros(shape) if dtype != "str" else np.full(shape, "a")
    return data.astype(dtype) if dtype != "str" else data


@st.composite
def structures(draw, names):
    rows = draw(st.integers(0, 6))
    kind = draw(st.sampled_from(["array", "list", "dict", "none", "string", "nested", "scalar", "tensor"]))
    if kind == "array":
        return _arrays(draw, rows)
    if kind == "tensor":
        return torch.zeros(rows, *[draw(st.integers(0, 5)) for _ in range(draw(st.integers(0, 2)))])
    if kind == "list":
        return [_arrays(draw, rows) for _ in range(draw(st.integers(0, 3)))]
    if kind == "dict":
        keys = draw(st.lists(st.sampled_from(names + ["other", "x"]), max_size=3, unique=True))
        return {k: _arrays(draw, rows) for k in keys}
    if kind == "nested":
        return [[_arrays(draw, rows)], {"a": _arrays(draw, rows)}]
    if kind == "scalar":
        return draw(st.sampled_from([0, 1.5, True]))
    return None if kind == "none" else "some text"


_FUZZ_MODELS = {"classifier": classifier, "two_inputs": two_inputs, "two_outputs": two_outputs}
_NAMED = (
    "features",
    "probs",
    "'a'",
    "'b'",
    "out",
    "age",
    "kind",
    "'x'",
    "input",
    "target",
    "x=",
    "`x`",
    "`y`",
    "sample_weight",
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    which=st.sampled_from(sorted(_FUZZ_MODELS)),
    method=st.sampled_from(["fit", "evaluate", "predict"]),
    data=st.data(),
)
def test_fuzz_fit_evaluate_predict_raise_only_clear_errors(which, method, data):
    model = _FUZZ_MODELS[which]()
    x = data.draw(structures(model.input_names))
    y = data.draw(structures(model.output_names))
    call = {
        "fit": lambda: model.fit(x, y, epochs=1, batch_size=4, verbose=0),
        "evaluate": lambda: model.evaluate(x, y, batch_size=4, verbose=0),
        "predict": lambda: model.predict(x, batch_size=4, verbose=0),
    }[method]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            call()
    except (ValueError, TypeError) as error:
        frames = traceback.extract_tb(error.__traceback__)
        origin = frames[-1].filename
        assert f"{os.sep}plait{os.sep}" in origin, f"{type(error).__name__} raised outside plait ({origin}): {error}"
        message = str(error)
        assert any(name in message for name in _NAMED), f"the message names no input or argument: {message}"
