"""``evaluate`` and ``predict`` compiled: at once with ``jit_compile=True``, in the background
with ``"auto"`` when the run is long; the numbers stay the eager ones."""

import numpy as np
import pytest
import torch

import plait
from plait.training import compiled_step
from plait.training.compiled_inference import InferenceJit


def _model(jit_compile):
    torch.manual_seed(0)
    inputs = plait.Input((6,))
    hidden = plait.layers.Dense(8, activation="relu")(inputs)
    hidden = plait.layers.Dropout(0.5)(hidden)  # inference mode: the compiled step must skip it too
    outputs = plait.layers.Dense(3, activation="softmax")(hidden)
    model = plait.Model(inputs, outputs)
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"], jit_compile=jit_compile)
    return model


def _data(n=100):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 6)).astype("float32"), rng.integers(0, 3, n)


def test_jit_compile_true_compiles_predict_and_evaluate_with_eager_numbers():
    x, y = _data()
    eager, compiled = _model(False), _model(True)
    compiled.set_weights(eager.get_weights())
    expected = eager.predict(x, batch_size=32, verbose=0)
    got = compiled.predict(x, batch_size=32, verbose=0)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        compiled.evaluate(x, y, batch_size=32, verbose=0), eager.evaluate(x, y, batch_size=32, verbose=0), rtol=1e-5
    )
    for kind in ("predict", "evaluate"):
        assert compiled._inference_jits[kind].phase == "compiled", kind
        assert eager._inference_jits[kind].phase == "eager", kind


def test_auto_compiles_a_long_run_in_the_background_and_keeps_the_numbers(monkeypatch):
    # A "long" run here: any projected time counts, and short timing windows.
    monkeypatch.setattr(InferenceJit, "background_seconds", 0.0)
    monkeypatch.setattr(InferenceJit, "window", 3)
    monkeypatch.setattr(compiled_step, "GIL_BOUND_STEP_S", 0.0)  # this tiny model's batches count as long
    x, y = _data(400)
    model, reference = _model("auto"), _model(False)
    reference.set_weights(model.get_weights())
    expected = reference.predict(x, batch_size=8, verbose=0)
    first = model.predict(x, batch_size=8, verbose=0)  # 50 batches: eager while it compiles
    jit = model._inference_jits["predict"]
    assert jit.phase in ("background", "trial", "compiled", "eager")
    jit.join()
    second = model.predict(x, batch_size=8, verbose=0)  # adopted at the first batch, then timed
    np.testing.assert_allclose(first, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(second, expected, rtol=1e-5, atol=1e-6)
    # Kept only if it measured faster; either way the decision was taken on the compiled step.
    assert jit.phase in ("trial", "compiled") or jit.reason.startswith("compiled batches took"), jit.reason


def test_batches_too_short_to_share_the_gil_never_compile_in_the_background(monkeypatch):
    monkeypatch.setattr(InferenceJit, "background_seconds", 0.0)
    monkeypatch.setattr(InferenceJit, "window", 3)
    x, _ = _data(400)
    model = _model("auto")
    model.predict(x, batch_size=8, verbose=0)
    jit = model._inference_jits["predict"]
    assert jit.phase == "eager" and "compiling thread" in jit.reason


def test_a_short_run_never_compiles():
    x, _ = _data(64)
    model = _model("auto")
    model.predict(x, batch_size=8, verbose=0)
    jit = model._inference_jits["predict"]
    assert jit.phase == "measure" and jit.reason is None


@pytest.mark.parametrize("mode", [True, "auto"])
def test_the_last_shorter_batch_runs_eagerly_without_compiling_again(mode, monkeypatch):
    compiled_calls = []

    def counting_compile(jit):  # stands in for torch.compile: records the batches it runs
        return lambda *xs: compiled_calls.append(xs[0].shape[0]) or jit.fn(*xs)

    monkeypatch.setattr(InferenceJit, "_compile", counting_compile)
    x, _ = _data(70)  # 2 batches of 32, then 6
    model = _model(mode)
    model.predict(x, batch_size=32, verbose=0)
    assert compiled_calls == ([32, 32] if mode is True else [])  # "auto": too short a run to compile
