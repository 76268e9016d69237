"""Each optimizer against Keras 3's update rule written independently in numpy, over several steps."""

import numpy as np
import pytest
import torch

from plait import optimizers


def keras_reference(name, w, grads, **kw):
    """Keras 3's update_step (keras/src/optimizers/*.py) in float64 numpy."""
    w = w.astype(np.float64).copy()
    s = {k: np.zeros_like(w) for k in ("m", "v", "vhat", "a", "d", "u")}
    lr = kw.get("learning_rate", 0.01 if name == "sgd" else 0.001)
    u_product = 1.0
    if name == "adagrad":
        s["a"][:] = kw.get("initial_accumulator_value", 0.1)
    for t, g in enumerate(grads, start=1):
        g = g.astype(np.float64)
        if kw.get("clipnorm"):
            g = g * kw["clipnorm"] / max(np.sqrt((g**2).sum()), kw["clipnorm"])
        if kw.get("clipvalue"):
            g = np.clip(g, -kw["clipvalue"], kw["clipvalue"])
        if kw.get("weight_decay"):
            w = w - w * kw["weight_decay"] * lr
        if name == "sgd":
            mom = kw.get("momentum", 0.0)
            if mom:
                s["m"] = mom * s["m"] - lr * g
                w = w + (mom * s["m"] - lr * g if kw.get("nesterov") else s["m"])
            else:
                w = w - lr * g
        elif name == "rmsprop":
            rho, eps, mom = kw.get("rho", 0.9), kw.get("epsilon", 1e-7), kw.get("momentum", 0.0)
            s["v"] = rho * s["v"] + (1 - rho) * g**2
            if kw.get("centered"):
                s["a"] = rho * s["a"] + (1 - rho) * g
                denom = s["v"] - s["a"] ** 2 + eps
            else:
                denom = s["v"] + eps
            inc = lr * g / np.sqrt(denom)
            if mom:
                s["m"] = mom * s["m"] + inc
                w = w - s["m"]
            else:
                w = w - inc
        elif name in ("adam", "adamw"):
            b1, b2, eps = 0.9, 0.999, 1e-7
            alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
            s["m"] += (g - s["m"]) * (1 - b1)
            s["v"] += (g**2 - s["v"]) * (1 - b2)
            v = s["v"]
            if kw.get("amsgrad"):
                s["vhat"] = np.maximum(s["vhat"], s["v"])
                v = s["vhat"]
            w = w - s["m"] * alpha / (np.sqrt(v) + eps)
        elif name == "adagrad":
            s["a"] += g**2
            w = w - lr * g / np.sqrt(s["a"] + 1e-7)
        elif name == "adadelta":
            rho, eps = 0.95, 1e-7
            s["a"] = rho * s["a"] + (1 - rho) * g**2
            delta = -np.sqrt(s["d"] + eps) * g / np.sqrt(s["a"] + eps)
            s["d"] = rho * s["d"] + (1 - rho) * delta**2
            w = w + lr * delta
        elif name == "adamax":
            b1, b2, eps = 0.9, 0.999, 1e-7
            s["m"] += (g - s["m"]) * (1 - b1)
            s["u"] = np.maximum(b2 * s["u"], np.abs(g))
            w = w - lr * s["m"] / ((1 - b1**t) * (s["u"] + eps))
        elif name == "nadam":
            b1, b2, eps = 0.9, 0.999, 1e-7
            u_t = b1 * (1 - 0.5 * 0.96**t)
            u_t1 = b1 * (1 - 0.5 * 0.96 ** (t + 1))
            u_product *= u_t
            s["m"] += (g - s["m"]) * (1 - b1)
            s["v"] += (g**2 - s["v"]) * (1 - b2)
            m_hat = u_t1 * s["m"] / (1 - u_product * u_t1) + (1 - u_t) * g / (1 - u_product)
            v_hat = s["v"] / (1 - b2**t)
            w = w - m_hat * lr / (np.sqrt(v_hat) + eps)
    return w


CASES = [
    ("sgd", {}),
    ("sgd", {"momentum": 0.9}),
    ("sgd", {"momentum": 0.9, "nesterov": True}),
    ("rmsprop", {}),
    ("rmsprop", {"momentum": 0.5}),
    ("rmsprop", {"centered": True}),
    ("adam", {}),
    ("adam", {"amsgrad": True}),
    ("adamw", {"weight_decay": 0.004}),
    ("adagrad", {}),
    ("adadelta", {}),
    ("adamax", {}),
    ("nadam", {}),
    ("sgd", {"clipnorm": 0.5}),
    ("adam", {"clipvalue": 0.01}),
    ("rmsprop", {"weight_decay": 0.1}),
]


@pytest.mark.parametrize("name,kwargs", CASES)
def test_update_rule_matches_keras_formula(name, kwargs):
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(3, 4)).astype(np.float32)
    # Small gradients make epsilon's placement visible (sqrt(v + eps) vs sqrt(v) + eps).
    grads = [rng.normal(scale=1e-3, size=w0.shape).astype(np.float32) for _ in range(6)]
    param = torch.nn.Parameter(torch.from_numpy(w0.copy()))
    opt = optimizers.get(name).__class__(**kwargs)
    opt.build([param])
    for g in grads:
        opt.apply([torch.from_numpy(g)])
    expected = keras_reference(name, w0, grads, **kwargs)
    np.testing.assert_allclose(param.detach().numpy(), expected, rtol=1e-5, atol=1e-7)
    assert opt.iterations == len(grads)


def test_rmsprop_epsilon_is_inside_the_square_root():
    param = torch.nn.Parameter(torch.zeros(1))
    opt = optimizers.RMSprop(learning_rate=1.0)
    opt.build([param])
    opt.apply([torch.tensor([1e-4])])
    # v = 0.1 * 1e-8 = 1e-9; step = 1e-4 / sqrt(1e-9 + 1e-7) (torch's rule would give ~3.1e-1)
    np.testing.assert_allclose(-param.item(), 1e-4 / np.sqrt(1e-9 + 1e-7), rtol=1e-5)


def test_global_clipnorm_and_schedules():
    a, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
    opt = optimizers.SGD(learning_rate=1.0, global_clipnorm=1.0)
    opt.build([a, b])
    opt.apply([torch.tensor([3.0, 0.0]), torch.tensor([0.0, 4.0])])
    np.testing.assert_allclose(torch.cat([a, b]).detach().numpy(), [-0.6, 0, 0, -0.8], rtol=1e-6)
    sched = optimizers.schedules.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5)
    opt = optimizers.SGD(learning_rate=sched)
    assert opt.learning_rate == pytest.approx(0.1)
    opt.build([a])
    opt.apply([torch.zeros(2)])
    opt.apply([torch.zeros(2)])
    assert opt.learning_rate == pytest.approx(0.05)
    cosine = optimizers.schedules.CosineDecay(1.0, 10, alpha=0.1)
    assert cosine(0) == pytest.approx(1.0) and cosine(10) == pytest.approx(0.1) and cosine(5) == pytest.approx(0.55)
    pw = optimizers.schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])
    assert [pw(5), pw(10), pw(15), pw(25)] == [1.0, 1.0, 0.5, 0.1]


def test_optimizer_errors():
    with pytest.raises(ValueError, match="Unknown optimizer: 'adamz'.*'adam'"):
        optimizers.get("adamz")
    with pytest.raises(ValueError, match="Only one of"):
        optimizers.SGD(clipnorm=1.0, clipvalue=1.0)
    assert repr(optimizers.get("sgd")) == "SGD(learning_rate=0.01, momentum=0.0, nesterov=False)"
