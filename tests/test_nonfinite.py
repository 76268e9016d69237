"""A step whose loss (or gradients) is not finite is never applied: in the compiled whole step
(``jit_compile=True``), in a user's own ``train_step`` (through ``optimizer.apply``), and in the
eager built-in step. The weights, optimizer slots, moving statistics and step count stay those
of the last finite step, and ``fit`` names the batch and the output (``TerminateOnNaN`` stops).
"""

import numpy as np
import pytest
import torch

import plait
from plait import Input, Model, callbacks, layers, optimizers

RNG = np.random.default_rng(0)
X = RNG.random((24, 4)).astype("float32")
Y_AGE = RNG.random((24, 1)).astype("float32")
Y_KIND = RNG.integers(0, 3, 24)


def two_outputs(jit_compile=False, seed=3):
    plait.utils.set_random_seed(seed)
    x = Input((4,), name="x")
    h = layers.BatchNormalization(name="bn")(layers.Dense(8, activation="relu", name="hidden")(x))
    model = Model(
        x, {"age": layers.Dense(1, name="age")(h), "kind": layers.Dense(3, activation="softmax", name="kind")(h)}
    )
    model.compile(
        optimizers.Adam(0.01), {"age": "mse", "kind": "sparse_categorical_crossentropy"}, jit_compile=jit_compile
    )
    return model


def optimizer_state(model):
    state = model.optimizer.state_dict()
    return {k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in state.items()}


def assert_same_state(before, after):
    assert before.keys() == after.keys()
    for key in before:
        if isinstance(before[key], torch.Tensor):
            assert torch.equal(before[key], after[key]), key
        else:
            assert before[key] == after[key], key


@pytest.mark.parametrize("steps_per_execution", [1, 2])
def test_compiled_whole_step_skips_a_nan_batch_without_recompiling(capsys, steps_per_execution):
    x = X.copy()
    x[9] = np.nan  # batch 2 of batch_size=4 (with 2 steps per call: the first of a call)
    y = {"age": Y_AGE, "kind": Y_KIND}
    eager = two_outputs(jit_compile=False)
    compiled = two_outputs(jit_compile=True)
    for model in (eager, compiled):
        model.steps_per_execution = steps_per_execution
        with pytest.warns(RuntimeWarning, match=r"Batch 2: the loss of output\(s\) \['age', 'kind'\] is not finite"):
            model.fit(x, y, batch_size=4, shuffle=False, verbose=0)
    assert compiled._jit._phase == "compiled"
    assert compiled.optimizer.iterations == eager.optimizer.iterations == 5  # 6 batches, one skipped
    for a, b in zip(eager.get_weights(), compiled.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)  # compiled == eager, NaN batch included

    # A NaN batch alone: everything stays exactly as it was (weights, moving statistics, slots,
    # the step count), in the compiled step, with no new graph.
    graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    weights, state = [w.copy() for w in compiled.get_weights()], optimizer_state(compiled)
    y_bad = Y_AGE[:4].copy()
    y_bad[1] = np.inf
    with pytest.warns(RuntimeWarning, match=r"Batch 0: the loss of output\(s\) \['age'\] is not finite"):
        compiled.fit(X[:4], {"age": y_bad, "kind": Y_KIND[:4]}, batch_size=4, verbose=0)
    for a, b in zip(weights, compiled.get_weights()):
        np.testing.assert_array_equal(b, a)
    assert_same_state(state, optimizer_state(compiled))
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == graphs

    # TerminateOnNaN stops at the bad batch, before its update, and names it.
    history = compiled.fit(
        x, y, batch_size=4, shuffle=False, epochs=3, verbose=0, callbacks=[callbacks.TerminateOnNaN()]
    )
    out = capsys.readouterr().out
    # (with 2 steps per call the batch callbacks see the call's last batch, 3, as in Keras)
    assert f"Batch {1 + steps_per_execution}: Invalid loss, terminating training" in out
    assert "Batch 2: the loss of output(s) ['age', 'kind'] is not finite" in out
    assert len(history.history["loss"]) == 1
    assert all(np.isfinite(w).all() for w in compiled.get_weights())


class OwnStep(Model):
    """Keras's custom ``train_step`` (the guide's): the user applies the update."""

    def train_step(self, data):
        x, y = data
        self.zero_grad()
        y_pred = self(x, training=True)
        loss = self.compute_loss(y=y, y_pred=y_pred)
        loss.backward()
        trainable_weights = list(self.trainable_weights)
        self.optimizer.apply([v.value.grad for v in trainable_weights], trainable_weights)
        self._loss_tracker.update_state(loss.detach())
        return {"loss": self._loss_tracker.result()}


def own_step_model():
    plait.utils.set_random_seed(4)
    x = Input((4,), name="x")
    model = OwnStep(x, layers.Dense(1, name="value")(layers.Dense(8, activation="tanh", name="hidden")(x)))
    model.compile(optimizers.Adam(0.01), "mse")
    return model


def test_custom_train_step_skips_nonfinite_gradients_and_names_the_batch(capsys):
    model = own_step_model()
    model.fit(X[:8], Y_AGE[:8], batch_size=4, shuffle=False, verbose=0)
    weights, state = [w.copy() for w in model.get_weights()], optimizer_state(model)
    x = X[:8].copy()
    x[5] = np.nan  # the second batch of 4
    with pytest.warns(RuntimeWarning, match=r"Batch 0: the gradients of variable\(s\) \['hidden/kernel', .*\] passed"):
        model.fit(x[4:8], Y_AGE[4:8], batch_size=4, verbose=0)
    for a, b in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(b, a)  # exactly the weights before the bad step
    assert_same_state(state, optimizer_state(model))  # slots and iterations too
    # The finite batch trains; TerminateOnNaN stops at the bad one and names it.
    history = model.fit(
        x, Y_AGE[:8], batch_size=4, shuffle=False, epochs=2, verbose=0, callbacks=[callbacks.TerminateOnNaN()]
    )
    out = capsys.readouterr().out
    assert "Batch 1: Invalid loss, terminating training. Batch 1: the gradients of variable(s)" in out
    assert len(history.history["loss"]) == 1 and model.optimizer.iterations == state["iterations"] + 1
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_optimizer_apply_outside_fit_applies_as_keras_does():
    # Keras's optimizer applies what it is given; the guard is fit's (with its finite check).
    var = torch.nn.Parameter(torch.ones(2))
    opt = optimizers.SGD(0.1)
    opt.apply([torch.tensor([1.0, float("nan")])], [var])
    assert torch.isnan(var[1]) and opt.iterations == 1
