"""plait.utils against Keras's keras.utils: pad_sequences, PyDataset (in fit/evaluate/predict,
with workers), timeseries_dataset_from_array, split_dataset, normalize."""

import math
import os

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import plait  # noqa: E402
from plait.utils import PyDataset, normalize, pad_sequences, split_dataset, timeseries_dataset_from_array  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")
if keras.backend.backend() != "torch":
    pytest.skip("Keras was imported with another backend", allow_module_level=True)

SEQS = [[1], [2, 3], [4, 5, 6, 7], []]


@pytest.mark.parametrize("padding", ["pre", "post"])
@pytest.mark.parametrize("truncating", ["pre", "post"])
@pytest.mark.parametrize("maxlen", [None, 2, 6])
def test_pad_sequences_matches_keras(padding, truncating, maxlen):
    kwargs = dict(maxlen=maxlen, padding=padding, truncating=truncating)
    for dtype, value in (("int32", 0.0), ("float32", -1.5), ("int64", 9)):
        ours = pad_sequences(SEQS, dtype=dtype, value=value, **kwargs)
        theirs = keras.utils.pad_sequences(SEQS, dtype=dtype, value=value, **kwargs)
        assert ours.dtype == theirs.dtype
        np.testing.assert_array_equal(ours, theirs)
    # Steps that are vectors keep their shape.
    vec = [np.ones((2, 3)), np.zeros((4, 3))]
    np.testing.assert_array_equal(pad_sequences(vec, **kwargs), keras.utils.pad_sequences(vec, **kwargs))


def test_pad_sequences_strings_and_errors():
    words = [["a", "bb"], ["ccc"]]
    ours = pad_sequences(words, dtype=object, value="<pad>")
    np.testing.assert_array_equal(ours, keras.utils.pad_sequences(words, dtype=object, value="<pad>"))
    assert ours.tolist() == [["a", "bb"], ["<pad>", "ccc"]]
    fixed = pad_sequences(words, dtype="<U5", value="_", padding="post")
    np.testing.assert_array_equal(fixed, keras.utils.pad_sequences(words, dtype="<U5", value="_", padding="post"))
    with pytest.raises(ValueError, match="You should set `dtype=object`"):
        pad_sequences(words, value="x")
    with pytest.raises(ValueError, match='Padding type "middle" not understood'):
        pad_sequences(SEQS, padding="middle")
    with pytest.raises(ValueError, match="Found non-iterable: 3"):
        pad_sequences([[1], 3])
    with pytest.raises(ValueError, match="is different from expected shape"):
        pad_sequences([np.ones((2, 3)), np.ones((2, 4))])


def test_normalize_matches_keras():
    x = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
    x[1] = 0.0
    for axis, order in ((-1, 2), (0, 2), (-1, 1), (1, 3)):
        if axis != 0:  # Keras's numpy path reads axis=0 as -1 (`axis or -1`) and fails to broadcast
            np.testing.assert_allclose(normalize(x, axis, order), keras.utils.normalize(x, axis, order), rtol=1e-6)
        t = torch.from_numpy(x)
        np.testing.assert_allclose(
            normalize(t, axis, order).numpy(), keras.utils.normalize(t, axis, order).cpu().numpy(), rtol=1e-6
        )
    norms = np.linalg.norm(x, axis=0)
    np.testing.assert_allclose(normalize(x, 0), x / norms, rtol=1e-6)


def make_dataset(lib, x, y, batch_size, **kwargs):
    class Batches(lib.utils.PyDataset):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.epochs_ended, self.seen = 0, []

        def __len__(self):
            return math.ceil(len(x) / batch_size)

        def __getitem__(self, idx):
            self.seen.append(idx)
            low = idx * batch_size
            return x[low : low + batch_size], y[low : low + batch_size]

        def on_epoch_end(self):
            self.epochs_ended += 1

    return Batches(**kwargs)


def mlp(lib):
    model = lib.Sequential([lib.Input((4,)), lib.layers.Dense(8, activation="relu"), lib.layers.Dense(1)])
    model.compile(lib.optimizers.SGD(0.05), "mse", metrics=["mae"])
    return model


@pytest.mark.parametrize("workers", [1, 3])
def test_py_dataset_fit_evaluate_predict_match_keras(workers):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 4)).astype("float32")
    y = rng.normal(size=(50, 1)).astype("float32")
    ours, theirs = mlp(plait), mlp(keras)
    ours.set_weights(theirs.get_weights())
    data_ours = make_dataset(plait, x, y, 16, workers=workers, max_queue_size=2)
    data_theirs = make_dataset(keras, x, y, 16)
    h_ours = ours.fit(data_ours, epochs=3, shuffle=False, verbose=0)
    h_theirs = theirs.fit(data_theirs, epochs=3, shuffle=False, verbose=0)
    assert h_ours.history.keys() == h_theirs.history.keys()
    for key in h_theirs.history:
        np.testing.assert_allclose(h_ours.history[key], h_theirs.history[key], rtol=1e-5)
    # One on_epoch_end per epoch (Keras's epoch iterator also calls it once when it is created).
    assert data_ours.epochs_ended == 3 and data_theirs.epochs_ended == 4
    assert data_ours.seen == [0, 1, 2, 3] * 3  # in order (Keras also reads batch 0 once more, to build)
    np.testing.assert_allclose(ours.evaluate(data_ours, verbose=0), theirs.evaluate(data_theirs, verbose=0), rtol=1e-5)
    np.testing.assert_allclose(ours.predict(data_ours, verbose=0), theirs.predict(data_theirs, verbose=0), rtol=1e-5)
    # Validation data may be a PyDataset too.
    history = ours.fit(data_ours, validation_data=data_ours, epochs=1, verbose=0)
    assert set(history.history) == {"loss", "mae", "val_loss", "val_mae"}


def test_py_dataset_shuffles_batch_order_and_uses_processes():
    x = np.arange(40, dtype="float32").reshape(10, 4)
    y = np.zeros((10, 1), dtype="float32")
    data = make_dataset(plait, x, y, 2)
    model = mlp(plait)
    plait.utils.set_random_seed(3)
    model.fit(data, epochs=2, verbose=0)  # shuffle=True: each epoch reads every batch once, in a random order
    assert sorted(data.seen) == sorted(list(range(5)) * 2) and data.seen != list(range(5)) * 2
    # Batches loaded in worker processes arrive in order.
    procs = make_dataset(plait, x, y, 3, workers=2, use_multiprocessing=True)
    from plait.utils.py_dataset import epoch_batches

    batches = list(epoch_batches(procs))
    np.testing.assert_array_equal(np.concatenate([b[0] for b in batches]), x)
    assert procs.epochs_ended == 1
    np.testing.assert_allclose(model.predict(procs, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_py_dataset_without_super_init_warns_as_keras():
    class NoSuper(PyDataset):
        def __init__(self):
            pass

        def __len__(self):
            return 1

        def __getitem__(self, i):
            return np.ones((2, 4), "float32"), np.ones((2, 1), "float32")

    with pytest.warns(UserWarning, match="should call `super\\(\\).__init__\\(\\*\\*kwargs\\)`"):
        mlp(plait).fit(NoSuper(), verbose=0)


def test_timeseries_dataset_docstring_examples():
    # Keras's docstring examples (Keras returns a tf.data.Dataset; TensorFlow is not installed here).
    data = np.arange(100)
    ds = timeseries_dataset_from_array(data, data[10:], sequence_length=10, sampling_rate=2, batch_size=128)
    inputs, targets = ds[0]
    np.testing.assert_array_equal(inputs[0], np.arange(0, 20, 2))
    assert targets[0] == 10 and len(ds) == 1 and inputs.shape == (82, 10)
    ds = timeseries_dataset_from_array(data[:-10], data[10:], sequence_length=10, batch_size=16)
    inputs, targets = ds[0]
    np.testing.assert_array_equal(inputs[1], np.arange(1, 11))
    assert targets[1] == 11
    x, y = ds[len(ds) - 1]
    np.testing.assert_array_equal(x[-1], np.arange(80, 90)) and y[-1] == 90
    # Strides, start/end indices, targets of several features, unbatched.
    series = np.random.default_rng(0).normal(size=(50, 3)).astype("float32")
    ds = timeseries_dataset_from_array(
        series, series[:, 0], 5, sequence_stride=3, sampling_rate=2, batch_size=4, start_index=2, end_index=40
    )
    windows = np.concatenate([ds[i][0] for i in range(len(ds))])
    starts = np.arange(0, 38 - 8, 3)
    np.testing.assert_array_equal(windows, np.stack([series[2 + s : 2 + s + 10 : 2] for s in starts]))
    np.testing.assert_array_equal(np.concatenate([ds[i][1] for i in range(len(ds))]), series[2 + starts, 0])
    single = timeseries_dataset_from_array(series, None, 5, batch_size=None)
    assert len(single) == 46 and single[3].shape == (5, 3)
    shuffled = timeseries_dataset_from_array(series, None, 5, batch_size=100, shuffle=True, seed=1)
    order = np.arange(46)
    np.random.RandomState(1).shuffle(order)
    np.testing.assert_array_equal(shuffled[0][:, 0], series[order])
    with pytest.raises(ValueError, match="`sequence_stride` must be higher than 0"):
        timeseries_dataset_from_array(series, None, 5, sequence_stride=0)


def test_timeseries_dataset_trains_like_arrays():
    series = np.random.default_rng(0).normal(size=(120, 2)).astype("float32")
    ds = timeseries_dataset_from_array(series[:-6], series[6:, :1], sequence_length=6, batch_size=32)
    model = plait.Sequential([plait.Input((6, 2)), plait.layers.Flatten(), plait.layers.Dense(1)])
    model.compile("sgd", "mse")
    x = np.concatenate([ds[i][0] for i in range(len(ds))])
    y = np.concatenate([ds[i][1] for i in range(len(ds))])
    weights = model.get_weights()
    a = model.fit(ds, epochs=2, shuffle=False, verbose=0).history["loss"]
    model.set_weights(weights)
    b = model.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(a, b, rtol=1e-6)


@pytest.mark.parametrize("sizes", [dict(left_size=0.8), dict(right_size=3), dict(left_size=7, right_size=0.3)])
def test_split_dataset_matches_keras(sizes):
    data = (np.arange(20).reshape(10, 2), np.arange(10))
    samples = lambda part: [tuple(t.tolist() for t in s) for s in part]  # noqa: E731
    ours = split_dataset(data, shuffle=True, seed=4, **sizes)
    theirs = keras.utils.split_dataset(data, shuffle=True, seed=4, **sizes)
    for a, b in zip(ours, theirs):
        assert len(a) == len(b) and samples(a) == samples(b)
    # Without shuffle the parts are in order (Keras's torch path draws from torch's global generator).
    left, right = split_dataset(data, **sizes)
    assert samples(left) + samples(right) == [(list(x), int(y)) for x, y in zip(*data)][: len(left) + len(right)]
    assert [len(p) for p in theirs] == [len(left), len(right)]
    left, right = split_dataset(np.ones((10, 3), "float32"), left_size=6)
    assert (len(left), len(right)) == (6, 4)
    with pytest.raises(ValueError, match="At least one of the `left_size` or `right_size`"):
        split_dataset(data)
    with pytest.raises(ValueError, match="`left_size` should be either a positive integer smaller than 10"):
        split_dataset(data, left_size=10)
    with pytest.raises(TypeError, match="must be a `torch.utils.data.Dataset`"):
        split_dataset("abc", left_size=0.5)


def test_split_dataset_parts_train():
    x = np.random.default_rng(0).normal(size=(40, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    train, val = split_dataset((x, y), left_size=0.75, shuffle=True, seed=0)
    history = mlp(plait).fit(train, validation_data=val, batch_size=10, epochs=2, verbose=0)
    assert len(history.history["val_loss"]) == 2
