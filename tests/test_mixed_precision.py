"""Mixed precision policies: autocast compute, float32 weights and losses, float16 loss scaling."""

import numpy as np
import pytest
import torch

import plait
from plait import layers, mixed_precision


@pytest.fixture(autouse=True)
def float32_afterwards():
    yield
    mixed_precision.set_global_policy("float32")


def mlp(policy):
    mixed_precision.set_global_policy(policy)
    plait.utils.set_random_seed(0)
    x = plait.Input(shape=(8,))
    h = layers.Dense(16, activation="relu", name="hidden")(x)
    return plait.Model(x, layers.Dense(3, activation="softmax", name="out")(h))


def data(n=64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 8)).astype("float32")
    return x, (x[:, :3].argmax(1)).astype("int64")


def test_policy_api_and_config():
    assert mixed_precision.global_policy().name == "float32"
    mixed_precision.set_global_policy("mixed_bfloat16")
    dense = layers.Dense(2)
    assert dense.dtype_policy.compute_dtype == torch.bfloat16 and dense.dtype == "float32"
    assert dense.get_config()["dtype"] == "mixed_bfloat16"
    assert layers.Dense.from_config(dense.get_config()).dtype_policy == dense.dtype_policy
    assert layers.Dense(2, dtype="float32").dtype_policy.name == "float32"
    with pytest.raises(ValueError, match="Unknown dtype policy 'mixed_float8'"):
        mixed_precision.set_global_policy("mixed_float8")


@pytest.mark.parametrize("policy, dtype", [("mixed_bfloat16", torch.bfloat16), ("mixed_float16", torch.float16)])
def test_mixed_model_computes_low_and_keeps_float32_weights(policy, dtype):
    reference, mixed = mlp("float32"), mlp(policy)
    mixed.set_weights(reference.get_weights())
    seen = []
    mixed.get_layer("hidden").register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    x, _ = data()
    out = mixed.predict(x, verbose=0)
    assert set(seen) == {dtype} and out.dtype in (np.float32, np.float16)
    assert all(w.dtype == np.float32 for w in mixed.get_weights())
    np.testing.assert_allclose(out.astype("float32"), reference.predict(x, verbose=0), atol=2e-2)


def test_mixed_bfloat16_trains_like_float32():
    x, y = data(256)
    losses = {}
    for policy in ("float32", "mixed_bfloat16"):
        model = mlp(policy)
        model.compile(plait.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["acc"])
        history = model.fit(x, y, epochs=8, batch_size=32, verbose=0).history
        losses[policy] = history["loss"]
        assert not isinstance(model.optimizer, mixed_precision.LossScaleOptimizer)
    assert losses["mixed_bfloat16"][-1] < 0.6 * losses["mixed_bfloat16"][0]
    assert losses["mixed_bfloat16"][-1] == pytest.approx(losses["float32"][-1], rel=0.1)


def test_mixed_float16_scales_the_loss_and_matches_float32_steps():
    x, y = data(32)
    reference, mixed = mlp("float32"), mlp("mixed_float16")
    mixed.set_weights(reference.get_weights())
    reference.compile("sgd", "sparse_categorical_crossentropy")
    mixed.compile("sgd", "sparse_categorical_crossentropy")
    assert isinstance(mixed.optimizer, mixed_precision.LossScaleOptimizer)
    reference.train_on_batch(x, y)
    mixed.train_on_batch(x, y)
    for a, b in zip(reference.get_weights(), mixed.get_weights()):
        np.testing.assert_allclose(a, b, atol=2e-3)
    assert float(mixed.optimizer.scale) == 2.0**15 and mixed.optimizer.step_counter == 1


def test_loss_scale_optimizer_rule():
    p = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    lso = mixed_precision.LossScaleOptimizer(plait.optimizers.SGD(0.1), initial_scale=4.0, dynamic_growth_steps=2)
    lso.build([p])
    lso.apply([torch.tensor([4.0, 8.0])])  # scaled gradients: unscaled [1, 2]
    torch.testing.assert_close(p.detach(), torch.tensor([0.9, 1.8]))
    lso.apply([torch.tensor([float("inf"), 0.0])])  # overflow: skip the step, halve the scale
    torch.testing.assert_close(p.detach(), torch.tensor([0.9, 1.8]))
    assert float(lso.scale) == 2.0 and lso.step_counter == 0 and lso.iterations == 1
    lso.apply([torch.tensor([0.0, 0.0])])
    lso.apply([torch.tensor([0.0, 0.0])])  # two finite steps in a row: the scale doubles
    assert float(lso.scale) == 4.0 and lso.step_counter == 0


def test_mixed_float16_model_saves_its_policy_and_loss_scale(tmp_path):
    model = mlp("mixed_float16")
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(*data(32), epochs=1, verbose=0)
    model.optimizer.scale.fill_(512.0)
    model.save(tmp_path / "m.plait")
    mixed_precision.set_global_policy("float32")
    loaded = plait.models.load_model(tmp_path / "m.plait")
    assert loaded.get_layer("hidden").dtype_policy.name == "mixed_float16"
    assert isinstance(loaded.optimizer, mixed_precision.LossScaleOptimizer) and float(loaded.optimizer.scale) == 512.0
    x, _ = data(8)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


class Subclassed(plait.Model):
    def __init__(self):
        super().__init__()
        self.hidden = layers.Dense(16, activation="relu")
        self.out = layers.Dense(3, activation="softmax")

    def call(self, x):
        return self.out(self.hidden(x))


def test_subclassed_model_computes_in_the_policy_dtype():
    x, y = data()
    results = {}
    for policy in ("float32", "mixed_bfloat16"):
        mixed_precision.set_global_policy(policy)
        plait.utils.set_random_seed(0)
        model = Subclassed()
        model(x[:2])
        seen = []
        model.hidden.register_forward_hook(lambda m, i, o, seen=seen: seen.append(o.dtype))
        model.compile("adam", "sparse_categorical_crossentropy")
        history = model.fit(x, y, epochs=3, batch_size=16, verbose=0).history
        assert model.hidden.kernel.dtype == torch.float32
        assert seen[-1] == (torch.bfloat16 if policy == "mixed_bfloat16" else torch.float32)
        assert np.isfinite(history["loss"]).all()
        results[policy] = model.predict(x, verbose=0)
    assert results["mixed_bfloat16"].dtype == np.float32
    np.testing.assert_allclose(results["mixed_bfloat16"], results["float32"], atol=3e-2)


def test_layer_dtype_names_read_as_keras_names():
    plait.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        mixed = layers.Dense(2)
    finally:
        plait.mixed_precision.set_global_policy("float32")
    plain = layers.Dense(2, dtype="float64")
    assert (mixed.compute_dtype, mixed.variable_dtype) == ("bfloat16", "float32")
    assert (plain.compute_dtype, plain.variable_dtype) == ("float64", "float64")
