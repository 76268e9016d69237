"""Loss balancing: each method's update rule against its paper's formula on small cases worked
by hand, and the balancers inside fit / train_on_batch / custom steps / saving / jit_compile."""

import math

import numpy as np
import pytest
import torch

import plait
from plait import layers
from plait.callbacks import LossWeightScheduler
from plait.losses import balancing

LOSS = {"age": "mse", "sex": "binary_crossentropy"}
ADAM_FIRST_STEP = 1 - 1e-5  # Adam's first step is lr * g / (|g| + eps): lr * sign(g) to this precision


def two_head_model():
    plait.utils.set_random_seed(0)
    x = plait.Input(shape=(4,), name="x")
    h = layers.Dense(8, activation="relu", name="trunk")(x)
    return plait.Model(x, [layers.Dense(1, name="age")(h), layers.Dense(1, activation="sigmoid", name="sex")(h)])


def data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 4), dtype=np.float32)
    return x, [(30 * x.sum(1)).astype("float32"), (x[:, 0] > 0.5).astype("float32")]


def built(balancer):
    balancer.build(["age", "sex"], [plait.losses.MeanSquaredError(), plait.losses.BinaryCrossentropy()])
    return balancer


# ---------------------------------------------------------------- update rules, by hand
def test_uncertainty_weighting_follows_kendall_et_al():
    b = built(balancing.UncertaintyWeighting(learning_rate=0.1, initial_log_variance=0.0))
    losses = torch.tensor([4.0, 0.5])
    # w_k = c_k exp(-s_k) with c = 1/2 for the regression loss, 1 for the classification one.
    assert b.step(losses, None).tolist() == [0.5, 1.0]
    # d/ds [c e^-s L + s/2] = 1/2 - c e^-s L = [0.5 - 2, 0.5 - 0.5] = [-1.5, 0], checked by autograd.
    s = torch.zeros(2, requires_grad=True)
    objective = (torch.tensor([0.5, 1.0]) * torch.exp(-s) * losses + s / 2).sum()
    (grad,) = torch.autograd.grad(objective, s)
    assert grad.tolist() == [-1.5, 0.0]
    torch.testing.assert_close(b.log_variance, torch.tensor([0.1, 0.0]) * ADAM_FIRST_STEP, rtol=0, atol=1e-6)


def test_uncertainty_weighting_starts_at_the_first_batchs_optimum():
    b = built(balancing.UncertaintyWeighting())
    losses = torch.tensor([2000.0, 0.7])
    weights = b.step(losses, None)
    # s_k = log(2 c_k L_k), so w_k = 1 / (2 L_k): each output's weighted loss starts at 1/2.
    torch.testing.assert_close(weights, 1 / (2 * losses))
    # At the optimum the gradient is float rounding; Adam moves s by at most a hundredth of lr.
    torch.testing.assert_close(b.log_variance, torch.log(torch.tensor([2000.0, 1.4])), rtol=0, atol=1e-4)


def test_gradnorm_gradient_by_hand():
    b = built(balancing.GradNorm(alpha=1.5))
    b.initial_losses = torch.tensor([4.0, 1.0])
    weights, norms, losses = torch.tensor([1.0, 1.0]), torch.tensor([3.0, 1.0]), torch.tensor([2.0, 1.0])
    # ratios L/L0 = [0.5, 1], relative rates r = [2/3, 4/3]; G = w g = [3, 1], mean 2;
    # targets 2 r^1.5 = [1.089, 3.079]; dL_grad/dw = sign(G - target) g = [+3, -1].
    assert 2 * (2 / 3) ** 1.5 < 3 and 2 * (4 / 3) ** 1.5 > 1
    assert b.gradient(weights, norms, losses).tolist() == [3.0, -1.0]


def test_gradnorm_step_uses_gradient_norms_at_the_shared_weights():
    b = built(balancing.GradNorm(alpha=1.5, learning_rate=0.05))
    shared = torch.nn.Parameter(torch.tensor(1.0))
    b.shared_params = [shared]
    graph_losses = [3 * shared - 1, shared]  # values [2, 1]; gradient norms at `shared`: [3, 1]
    weights = b.step(torch.tensor([2.0, 1.0]), graph_losses)
    assert weights.tolist() == [1.0, 1.0]  # the step trains with the weights from before the update
    # First step: L0 = L, so the targets are the mean G = 2; gradient [3, -1]; Adam moves each
    # weight by lr against its sign; the sum is already 2, so renormalising changes nothing.
    torch.testing.assert_close(b.loss_weights, torch.tensor([0.95, 1.05]), rtol=0, atol=1e-6)
    torch.testing.assert_close(b.initial_losses, torch.tensor([2.0, 1.0]))


def test_gradnorm_finds_the_last_shared_layer():
    model = two_head_model()
    model.compile("sgd", loss=LOSS, loss_weights="gradnorm")
    model.train_on_batch(*data(8))
    assert model.loss_balancer.shared_layer_name == "trunk"
    named = two_head_model()
    named.compile("sgd", loss=LOSS, loss_weights=balancing.GradNorm(shared_layer="trunk"))
    named.train_on_batch(*data(8))
    assert named.loss_balancer.shared_params[0] is named.get_layer("trunk").kernel


def test_dwa_follows_liu_et_al():
    b = built(balancing.DWA(temperature=2.0))
    b.on_epoch_end(torch.tensor([4.0, 2.0]))
    assert b.weights(None).tolist() == [1.0, 1.0]  # w = 1 for the first two epochs
    b.on_epoch_end(torch.tensor([2.0, 1.5]))
    # r = L(t-1) / L(t-2) = [0.5, 0.75]; w_k = K exp(r_k / T) / sum_i exp(r_i / T).
    e = [math.exp(0.5 / 2), math.exp(0.75 / 2)]
    torch.testing.assert_close(b.weights(None), torch.tensor([2 * e[0] / sum(e), 2 * e[1] / sum(e)]))


def test_famo_follows_liu_et_al():
    b = built(balancing.FAMO(learning_rate=0.1, gamma=0.0))
    # z = softmax(0) = [1/2, 1/2]; c = sum z / L = 1/8 + 1/2; w = z / (c L) = [0.2, 0.8].
    torch.testing.assert_close(b.step(torch.tensor([4.0, 1.0]), None), torch.tensor([0.2, 0.8]))
    # The weights are the gradient of the paper's objective sum_k z_k log L_k / c in L.
    losses = torch.tensor([4.0, 1.0], requires_grad=True)
    (grad,) = torch.autograd.grad((torch.full((2,), 0.5) * losses.log()).sum() / 0.625, losses)
    torch.testing.assert_close(grad, torch.tensor([0.2, 0.8]))
    # Next step: delta = log L_prev - log L = [log 2, 0]; the logits' gradient
    # J_softmax^T delta = z (delta - z.delta) = [log2 / 4, -log2 / 4]; Adam: xi = [-lr, +lr].
    torch.testing.assert_close(b.gradient(torch.tensor([math.log(2), 0.0])), torch.tensor([1, -1]) * math.log(2) / 4)
    weights = b.step(torch.tensor([2.0, 1.0]), None)
    torch.testing.assert_close(b.logits, torch.tensor([-0.1, 0.1]) * ADAM_FIRST_STEP, rtol=0, atol=1e-6)
    z = torch.softmax(b.logits, 0)
    torch.testing.assert_close(weights, z / ((z / torch.tensor([2.0, 1.0])).sum() * torch.tensor([2.0, 1.0])))


def test_famo_regularises_the_logits():
    b = built(balancing.FAMO(gamma=0.01))
    b.logits = torch.tensor([1.0, -1.0])
    z = torch.softmax(b.logits, 0)
    delta = torch.tensor([0.3, 0.1])
    torch.testing.assert_close(b.gradient(delta), z * (delta - (z * delta).sum()) + 0.01 * b.logits)


# ---------------------------------------------------------------- inside training
@pytest.mark.parametrize("method", ["auto", "uncertainty", "gradnorm", "dwa", "famo"])
def test_balancers_train_and_log_their_weights(method):
    model = two_head_model()
    model.compile("adam", loss=LOSS, loss_weights=method, metrics={"sex": ["acc"]})
    x, ys = data()
    history = model.fit(x, ys, epochs=3, batch_size=16, verbose=0, validation_data=(x, ys)).history
    assert len(history["age_loss_weight"]) == 3 and len(history["sex_loss_weight"]) == 3
    assert all(np.isfinite(history["loss"])) and all(np.isfinite(history["val_loss"]))
    # The total is the weighted sum of the outputs' losses, with the weights the step used.
    logs = model.train_on_batch(x, ys, return_dict=True)
    w = model.loss_weights
    assert logs["loss"] == pytest.approx(w["age"] * logs["age_loss"] + w["sex"] * logs["sex_loss"], rel=1e-5)


def test_balanced_weights_counter_the_loss_scales():
    model = two_head_model()
    model.compile("adam", loss=LOSS, loss_weights="auto")
    x, ys = data()
    history = model.fit(x, ys, epochs=2, batch_size=16, verbose=0).history
    # An MSE in the hundreds gets a weight in the thousandths; the cross-entropy one near 1.
    assert history["age_loss"][-1] > 100 and history["age_loss_weight"][-1] < 0.01
    assert 0.3 < history["sex_loss_weight"][-1] < 3
    assert "Loss balancing: UncertaintyWeighting" in _summary(model)


def _summary(model):
    lines = []
    model.summary(print_fn=lines.append)
    return "\n".join(lines)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_assigned_weights_take_effect_without_recompiling(jit_compile):
    torch._dynamo.reset()
    model = two_head_model()
    model.compile("sgd", loss=LOSS, loss_weights={"age": 1.0, "sex": 2.0}, jit_compile=jit_compile)
    x, ys = data(16)
    model.train_on_batch(x, ys)
    model.train_on_batch(x, ys)  # with jit_compile=True, the first compiled step
    graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    before = model.test_on_batch(x, ys, return_dict=True)
    assert before["loss"] == pytest.approx(before["age_loss"] + 2 * before["sex_loss"], rel=1e-6)
    model.loss_weights["age"] = 0.5
    logs = model.train_on_batch(x, ys, return_dict=True)
    assert logs["loss"] == pytest.approx(0.5 * logs["age_loss"] + 2 * logs["sex_loss"], rel=1e-6)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == graphs
    model.loss_weights = {"sex": 1.0}
    assert dict(model.loss_weights.items()) == {"age": 0.5, "sex": 1.0}
    history = model.fit(x, ys, epochs=1, verbose=0).history
    assert history["age_loss_weight"] == [0.5] and history["sex_loss_weight"] == [1.0]


def test_assigned_weights_change_the_gradient():
    x, ys = data(16)
    a, b = two_head_model(), two_head_model()
    a.compile("sgd", loss=LOSS, loss_weights={"age": 0.5, "sex": 1.0})
    b.compile("sgd", loss=LOSS)
    b.loss_weights["age"] = 0.5
    a.train_on_batch(x, ys)
    b.train_on_batch(x, ys)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_loss_weight_scheduler():
    model = two_head_model()
    model.compile("sgd", loss=LOSS, loss_weights={"age": 0.0, "sex": 1.0})
    schedule = LossWeightScheduler(lambda epoch, w: {**w, "age": 0.01 * epoch})
    history = model.fit(*data(16), epochs=3, verbose=0, callbacks=[schedule]).history
    assert history["age_loss_weight"] == pytest.approx([0.0, 0.01, 0.02])
    assert history["sex_loss_weight"] == [1.0, 1.0, 1.0]
    bad = LossWeightScheduler(lambda epoch, w: 0.5)
    with pytest.raises(ValueError, match="dict or list"):
        model.fit(*data(16), epochs=1, verbose=0, callbacks=[bad])


def test_custom_train_step_gets_the_balancer():
    class Custom(plait.Model):
        def train_step(self, data):  # Keras's contract: (x, y), compute_loss on probabilities
            x, y = data
            total = self.compute_loss(x=x, y=y, y_pred=self(x, training=True))
            self.zero_grad()
            total.backward()
            self.optimizer.apply([v.value.grad for v in self.trainable_weights], self.trainable_weights)
            return {"total": total.detach()}

    base = two_head_model()
    model = Custom(base.inputs, base.outputs)
    model.compile("adam", loss=LOSS, loss_weights="famo")
    model.fit(*data(), epochs=2, batch_size=16, verbose=0)
    assert model.loss_balancer.logits.abs().sum() > 0  # FAMO's logits moved


def test_sample_weights_and_masks_reach_the_balanced_losses():
    model = two_head_model()
    model.compile("adam", loss=LOSS, loss_weights="auto")
    x, ys = data(32)
    model.fit(x, ys, epochs=1, batch_size=8, verbose=0)
    sw = np.linspace(0, 2, 32).astype("float32")
    logs = model.test_on_batch(x, ys, sample_weight=[sw, sw], return_dict=True)
    pred = model.predict(x, verbose=0)
    age = plait.losses.MeanSquaredError()(torch.tensor(ys[0][:, None]), torch.tensor(pred[0]), torch.tensor(sw))
    assert logs["age_loss"] == pytest.approx(float(age), rel=1e-5)
    w = model.loss_weights
    assert logs["loss"] == pytest.approx(w["age"] * logs["age_loss"] + w["sex"] * logs["sex_loss"], rel=1e-5)

    # A masked sequence model: the balanced total is made of the masked per-output losses.
    plait.utils.set_random_seed(0)
    tokens = plait.Input(shape=(None,), dtype="int64")
    seq = layers.LSTM(4, return_sequences=True)(layers.Embedding(10, 3, mask_zero=True)(tokens))
    masked = plait.Model(tokens, [layers.Dense(1, name="a")(seq), layers.Dense(1, name="b")(seq)])
    masked.compile("adam", loss="mse", loss_weights="uncertainty")
    t = np.array([[1, 2, 3, 0, 0], [4, 5, 0, 0, 0]] * 4)
    y = np.random.default_rng(0).random((8, 5, 1)).astype("float32")
    masked.fit(t, [y, 10 * y], epochs=2, batch_size=4, verbose=0)
    logs = masked.evaluate(t, [y, 10 * y], verbose=0, return_dict=True)
    pred_a = masked.predict(t, verbose=0)[0]
    keep = t != 0
    assert logs["a_loss"] == pytest.approx(float(((pred_a[..., 0] - y[..., 0]) ** 2)[keep].mean()), rel=1e-5)
    w = masked.loss_weights
    assert logs["loss"] == pytest.approx(w["a"] * logs["a_loss"] + w["b"] * logs["b_loss"], rel=1e-5)


@pytest.mark.parametrize("method", ["uncertainty", "gradnorm", "dwa", "famo"])
def test_balancer_state_is_saved_and_training_resumes_exactly(tmp_path, method):
    x, ys = data()
    straight = two_head_model()
    straight.compile("adam", loss=LOSS, loss_weights=method)
    straight.fit(x, ys, epochs=4, batch_size=16, shuffle=False, verbose=0)

    first = two_head_model()
    first.compile("adam", loss=LOSS, loss_weights=method)
    first.fit(x, ys, epochs=2, batch_size=16, shuffle=False, verbose=0)
    first.save(tmp_path / "m.plait")
    resumed = plait.models.load_model(tmp_path / "m.plait")
    assert type(resumed.loss_balancer) is type(first.loss_balancer)
    for key, value in first.loss_balancer.state_dict().items():
        torch.testing.assert_close(resumed.loss_balancer.state_dict()[key], value, rtol=0, atol=0)
    resumed.fit(x, ys, epochs=2, batch_size=16, shuffle=False, verbose=0)
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert dict(resumed.loss_weights.items()) == pytest.approx(dict(straight.loss_weights.items()), rel=1e-5)


def test_assigned_fixed_weights_are_saved(tmp_path):
    model = two_head_model()
    model.compile("sgd", loss=LOSS, loss_weights={"age": 1.0, "sex": 1.0})
    model.loss_weights["age"] = 0.25
    model.save(tmp_path / "m.plait")
    assert plait.models.load_model(tmp_path / "m.plait").loss_weights["age"] == 0.25


# ---------------------------------------------------------------- bad input
def test_bad_balancer_input_gets_clear_errors():
    single = plait.Sequential([plait.Input(shape=(3,)), layers.Dense(1)])
    with pytest.raises(ValueError, match="several outputs"):
        single.compile("sgd", "mse", loss_weights="auto")
    model = two_head_model()
    with pytest.raises(ValueError, match="Unknown loss balancer"):
        model.compile("sgd", loss=LOSS, loss_weights="magic")
    model.compile("sgd", loss=LOSS, loss_weights="famo")
    with pytest.raises(ValueError, match="set by FAMO"):
        model.loss_weights["age"] = 2.0
    model.compile("sgd", loss=LOSS)
    with pytest.raises(KeyError, match="No output with a loss is named 'agee'"):
        model.loss_weights["agee"] = 2.0
    with pytest.raises(ValueError, match="finite number"):
        model.loss_weights["age"] = float("nan")
    with pytest.raises(ValueError, match="Expected 2 loss weights"):
        model.loss_weights = [1.0]
    with pytest.raises(ValueError, match="learning_rate"):
        balancing.UncertaintyWeighting(learning_rate=0)
    with pytest.raises(ValueError, match="temperature"):
        balancing.DWA(temperature=-1)


def test_a_batch_without_some_targets_keeps_the_balancers_weights():
    b = built(balancing.FAMO())
    b.combine([torch.tensor(4.0), torch.tensor(1.0)], training=True)
    weights = b.current
    total = b.combine([torch.tensor(2.0), None], training=True)  # no "sex" target: no update
    assert b.current == weights and float(total) == pytest.approx(2 * weights["age"])
    assert b.epoch_weights() == pytest.approx(weights)  # the mean counts only the full step
