"""LoRA against Keras 3 (torch backend): the same weights and inputs give the same outputs, the
same training of the LoRA factors alone, the same weight lists, configs and ``.keras`` files, and
the same errors."""

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from twins import assert_close, copy_weights, to_numpy  # noqa: E402

import plait  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

if keras.backend.backend() != "torch":
    pytest.skip("Keras was imported with another backend", allow_module_level=True)


def random_weights(layer, seed=0):
    """Nonzero values for every weight (LoRA's ``b`` starts at zero, which would hide ``a``)."""
    rng = np.random.RandomState(seed)
    return [rng.randn(*to_numpy(w).shape).astype("float32") for w in layer.get_weights()]


def inputs(layer, shape, seed=1):
    rng = np.random.RandomState(seed)
    if isinstance(layer, plait.layers.Embedding):
        return rng.randint(0, 10, size=shape).astype("int32")
    return rng.randn(*shape).astype("float32")


def keras_out(layer, x):
    return keras.ops.convert_to_numpy(layer(x))


# Each case: the layer in either library (LoRA arguments by keyword), its input shape; an
# Embedding's inputs are indices below 10.
CASES = {
    "dense": (lambda lib, **kw: lib.layers.Dense(3, **kw), (5, 4)),
    "einsum_dense": (
        lambda lib, **kw: lib.layers.EinsumDense("abc,cde->abde", (None, 2, 3), bias_axes="de", **kw),
        (2, 5, 4),
    ),
    "conv1d": (lambda lib, **kw: lib.layers.Conv1D(3, 2, **kw), (2, 6, 4)),
    "conv2d": (lambda lib, **kw: lib.layers.Conv2D(3, 2, padding="same", **kw), (2, 5, 5, 4)),
    "conv3d": (lambda lib, **kw: lib.layers.Conv3D(2, 2, **kw), (1, 3, 3, 3, 2)),
    "embedding": (lambda lib, **kw: lib.layers.Embedding(10, 3, **kw), (4, 6)),
    "reversible_embedding": (lambda lib, **kw: lib.layers.ReversibleEmbedding(10, 3, **kw), (4, 6)),
}


@pytest.fixture(params=sorted(CASES))
def case(request):
    return CASES[request.param]


@pytest.mark.parametrize("from_constructor", [False, True])
def test_outputs_and_weight_lists(case, from_constructor):
    make, shape = case
    lora = {"lora_rank": 2, "lora_alpha": 8} if from_constructor else {}
    ours, theirs = make(plait, **lora), make(keras, **lora)
    ours.build((None, *shape[1:]))
    theirs.build((None, *shape[1:]))
    if not from_constructor:
        ours.enable_lora(2, lora_alpha=6)
        theirs.enable_lora(2, lora_alpha=6)
    # Keras's Dense drops the constructor's alpha for the rank when it builds (EinsumDense keeps it).
    assert (ours.lora_enabled, ours.lora_rank, ours.lora_alpha) == (True, 2, theirs.lora_alpha)
    names = [w.path.split("/")[-1] for w in theirs.weights]
    assert [w.name for w in ours.weights] == names
    assert [w.name for w in ours.trainable_weights] == [w.path.split("/")[-1] for w in theirs.trainable_weights]
    assert [w.name for w in ours.non_trainable_weights] == [w.path.split("/")[-1] for w in theirs.non_trainable_weights]
    assert ours.count_params() == theirs.count_params()
    theirs.set_weights(random_weights(theirs))
    copy_weights(theirs, ours)
    x = inputs(ours, shape)
    assert_close(ours(torch.tensor(x)), keras_out(theirs, x), rtol=1e-5, atol=1e-5)
    if isinstance(ours, plait.layers.ReversibleEmbedding):  # the tied reverse table is the merged one
        h = np.random.RandomState(5).randn(2, 3).astype("float32")
        reverse = keras.ops.convert_to_numpy(theirs(h, reverse=True))
        assert_close(ours(torch.tensor(h), reverse=True), reverse, rtol=1e-5, atol=1e-5)
    # As Keras's, setting the layer trainable again unfreezes the base weight.
    ours.trainable = False
    ours.trainable = True
    theirs.trainable = False
    theirs.trainable = True
    assert len(ours.trainable_weights) == len(theirs.trainable_weights)
    assert [p.requires_grad for p in ours.weights] == [w.trainable for w in theirs.weights]


def models(rank=2):
    """A small model in each library with LoRA on its Dense layers, and the same weights."""
    theirs = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3)])
    ours = plait.Sequential([plait.Input((4,)), plait.layers.Dense(8, activation="relu"), plait.layers.Dense(3)])
    copy_weights(theirs, ours)
    for model in (theirs, ours):
        for layer in model.layers:
            layer.enable_lora(rank, lora_alpha=4)
    for ours_layer, theirs_layer in zip(ours.layers, theirs.layers):
        theirs_layer.set_weights(random_weights(theirs_layer, seed=len(ours_layer.name)))
        copy_weights(theirs_layer, ours_layer)
    return ours, theirs


def test_fit_trains_only_the_lora_factors():
    ours, theirs = models()
    frozen = [to_numpy(layer.kernel).T for layer in ours.layers]
    rng = np.random.RandomState(2)
    x, y = rng.randn(32, 4).astype("float32"), rng.randn(32, 3).astype("float32")
    ours.compile(plait.optimizers.Adam(0.01), "mse")
    theirs.compile(keras.optimizers.Adam(0.01), "mse")
    ours_loss = ours.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history["loss"]
    theirs_loss = theirs.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(ours_loss, theirs_loss, rtol=1e-5)
    assert_close(ours.get_weights(), [to_numpy(w) for w in theirs.get_weights()], rtol=1e-4, atol=1e-5)
    for layer, kernel in zip(ours.layers, frozen):
        np.testing.assert_array_equal(to_numpy(layer.kernel).T, kernel)  # the base kernel stays as it was
    trainable = sum(int(np.prod(w.shape)) for w in theirs.trainable_weights)
    assert sum(w.numel() for w in ours.trainable_weights) == trainable
    assert ours.count_params() == theirs.count_params()
    assert summary_counts(ours) == summary_counts(theirs)


def summary_counts(model):
    """The summary's "Total/Trainable/Non-trainable params" lines."""
    lines = []
    model.summary(print_fn=lambda line, *args, **kwargs: lines.extend(line.splitlines()))
    return [line.strip() for line in lines if "params:" in line]


def test_config_round_trip(case):
    make, shape = case
    ours = make(plait, lora_rank=3, lora_alpha=6)
    config = ours.get_config()
    assert (config["lora_rank"], config["lora_alpha"]) == (3, 6)
    assert make(keras, lora_rank=3, lora_alpha=6).get_config()["lora_rank"] == 3
    again = type(ours).from_config(config)
    again.build((None, *shape[1:]))
    assert again.lora_enabled and again.lora_rank == 3
    assert "lora_rank" not in make(plait).get_config()  # Keras writes the keys only when set


@pytest.mark.parametrize("writer", ["plait", "keras"])
def test_keras_files_both_ways(tmp_path, writer):
    ours, theirs = models()
    x = np.random.RandomState(3).randn(6, 4).astype("float32")
    expected = keras_out(theirs, x)
    path = tmp_path / "lora.keras"
    (ours if writer == "plait" else theirs).save(path)
    for loaded in (plait.models.load_model(path), keras.models.load_model(path)):
        out = keras_out(loaded, x) if isinstance(loaded, keras.Model) else loaded(torch.tensor(x))
        assert_close(out, expected, rtol=1e-5, atol=1e-5)
        # The file holds the merged kernel; the factors come back at zero, LoRA still on.
        layer = loaded.layers[0]
        assert layer.lora_enabled and not np.any(to_numpy(layer.lora_kernel_b))


def test_einsum_dense_keras_file_from_keras(tmp_path):
    inputs = keras.Input((5, 4))
    layer = keras.layers.EinsumDense("abc,cde->abde", (None, 2, 3), bias_axes="de", lora_rank=2, lora_alpha=4)
    theirs = keras.Model(inputs, layer(inputs))
    layer.set_weights(random_weights(layer))
    x = np.random.RandomState(4).randn(3, 5, 4).astype("float32")
    theirs.save(tmp_path / "einsum.keras")
    ours = plait.models.load_model(tmp_path / "einsum.keras")
    assert_close(ours(torch.tensor(x)), keras_out(theirs, x), rtol=1e-5, atol=1e-5)
    assert ours.layers[-1].lora_alpha == 4
    ours.save(tmp_path / "back.keras")
    assert_close(keras_out(keras.models.load_model(tmp_path / "back.keras"), x), keras_out(theirs, x), atol=1e-5)


def embedding_model(lib):
    return lib.Sequential(
        [lib.Input((6,), dtype="int32"), lib.layers.Embedding(10, 3, lora_rank=2), lib.layers.Dense(2)]
    )


def conv_model(lib):
    return lib.Sequential([lib.Input((6, 6, 2)), lib.layers.Conv2D(3, 3, lora_rank=2, lora_alpha=6)])


@pytest.mark.parametrize("writer", ["plait", "keras"])
@pytest.mark.parametrize("model", [embedding_model, conv_model])
def test_embedding_and_conv_keras_files_both_ways(tmp_path, writer, model):
    ours, theirs = model(plait), model(keras)
    theirs.set_weights(random_weights(theirs))
    copy_weights(theirs, ours)
    rng = np.random.RandomState(6)
    x = rng.randint(0, 10, size=(4, 6)).astype("int32") if model is embedding_model else rng.randn(2, 6, 6, 2)
    x = x.astype("float32") if model is conv_model else x
    expected = keras_out(theirs, x)
    path = tmp_path / "model.keras"
    (ours if writer == "plait" else theirs).save(path)
    assert_close(plait.models.load_model(path)(torch.tensor(x)), expected, rtol=1e-5, atol=1e-5)
    assert_close(keras_out(keras.models.load_model(path), x), expected, rtol=1e-5, atol=1e-5)


def test_plait_file_keeps_the_trained_factors_and_their_scale(tmp_path):
    model = plait.Sequential([plait.Input((4,)), plait.layers.Dense(3)])
    model.layers[0].enable_lora(2, lora_alpha=8)
    with torch.no_grad():
        model.layers[0].lora_kernel_b.normal_()
    x = torch.randn(5, 4)
    model.save(tmp_path / "lora.plait")
    loaded = plait.models.load_model(tmp_path / "lora.plait")
    assert loaded.layers[0].lora_alpha == 8
    assert_close(loaded(x), model(x), rtol=0, atol=0)


def test_errors_as_keras():
    def message(bad, lib):
        with pytest.raises(Exception) as info:
            bad(lib)
        return type(info.value), str(info.value)

    def twice(lib):
        layer = lib.layers.Dense(2)
        layer.build((None, 3))
        layer.enable_lora(1)
        layer.enable_lora(1)

    def with_constraint(lib):
        layer = lib.layers.Dense(2, kernel_constraint="non_neg")
        layer.build((None, 3))
        layer.enable_lora(1)

    def embedding_constraint(lib):
        layer = lib.layers.Embedding(5, 2, embeddings_constraint="non_neg")
        layer.build((None, 3))
        layer.enable_lora(1)

    unbuilt = (lambda lib: lib.layers.Dense(2).enable_lora(1), lambda lib: lib.layers.Embedding(5, 2).enable_lora(1))

    def transposed(lib):  # Keras's transposed convolution has no LoRA
        lib.layers.Conv2DTranspose(2, 3, lora_rank=2)

    for bad in (twice, with_constraint, embedding_constraint, *unbuilt):
        assert message(bad, plait) == message(bad, keras)
    # Both refuse it (plait's unknown-argument error is its TypeError for every layer).
    assert "lora_rank" in message(transposed, plait)[1] and "lora_rank" in message(transposed, keras)[1]


def test_quantized_layers_refuse_lora():
    layer = plait.layers.Dense(4)
    layer.build((None, 8))
    layer.quantize("int8")
    with pytest.raises(NotImplementedError, match="LoRA on a quantized layer"):
        layer.enable_lora(2)
    layer = plait.layers.Dense(4, lora_rank=2)
    layer.build((None, 8))
    with pytest.raises(NotImplementedError, match="LoRA enabled"):
        layer.quantize("int8")
