"""``plait.config`` / ``plait.backend`` switches that Keras 3 has, compared with Keras on torch:
the caps on epochs and steps really shorten fit, the flash-attention switch reaches the kernel
choice, uids count as Keras's."""

import io
import operator
import os

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import plait  # noqa: E402
from plait.utils import settings  # noqa: E402


@pytest.fixture(autouse=True)
def restore_settings():
    saved = {name: settings.get(name) for name in ("flash_attention", "interactive_logging", "traceback_filtering")}
    saved.update(max_epochs=settings.get("max_epochs"), max_steps_per_epoch=settings.get("max_steps_per_epoch"))
    yield
    for name, value in saved.items():
        settings.set(name, value)
    settings.set("unsafe_deserialization", False)


def _model():
    model = plait.Sequential([plait.Input((3,)), plait.layers.Dense(1)])
    model.compile("sgd", "mse")
    return model


def test_max_epochs_caps_fit_as_keras():
    plait.config.set_max_epochs(2)
    assert plait.config.max_epochs() == 2
    x, y = np.ones((8, 3), "float32"), np.ones((8, 1), "float32")
    with pytest.warns(UserWarning, match="Limiting epochs to 2"):
        history = _model().fit(x, y, epochs=5, batch_size=4, verbose=0)
    assert len(history.history["loss"]) == 2
    plait.config.set_max_epochs(None)
    assert len(_model().fit(x, y, epochs=3, verbose=0).history["loss"]) == 3
    with pytest.raises(ValueError, match="positive integer"):
        plait.config.set_max_epochs(0)


def test_max_steps_per_epoch_caps_every_epoch():
    plait.config.set_max_steps_per_epoch(2)
    x, y = np.arange(30, dtype="float32").reshape(10, 3), np.ones((10, 1), "float32")
    model = _model()
    seen = []
    counter = plait.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(batch))
    with pytest.warns(UserWarning, match="Limiting steps_per_epoch to 2"):
        model.fit(x, y, epochs=2, batch_size=2, verbose=0, callbacks=[counter])
    assert seen == [0, 1, 0, 1]  # 5 batches in the data, 2 taken per epoch
    assert plait.config.max_steps_per_epoch() == 2


def test_flash_attention_switch_reaches_the_kernel_choice(monkeypatch):
    from plait.ops import _nn

    assert plait.config.is_flash_attention_enabled() is keras.config.is_flash_attention_enabled() is None
    chosen = []
    pick = _nn._attention_backends
    monkeypatch.setattr(_nn, "_attention_backends", lambda flash: chosen.append(flash) or pick(flash))
    q = torch.randn(1, 4, 2, 8)
    expected = plait.ops.dot_product_attention(q, q, q)
    for switch, state in [(plait.config.disable_flash_attention, False), (plait.config.enable_flash_attention, True)]:
        switch()
        assert plait.config.is_flash_attention_enabled() is state
        torch.testing.assert_close(plait.ops.dot_product_attention(q, q, q), expected, rtol=1e-5, atol=1e-6)
    assert chosen == [False, True]  # None (the default) picks no kernel list: torch decides


def test_interactive_logging_turns_redraws_off():
    assert plait.config.is_interactive_logging_enabled() is True
    os.environ["PLAIT_FORCE_TTY"] = "1"
    try:
        plait.utils.disable_interactive_logging()
        assert plait.utils.is_interactive_logging_enabled() is False
        stream = io.StringIO()
        bar = plait.utils.Progbar(3, stream=stream)
        for step in range(1, 4):
            bar.update(step)
        assert "\r" not in stream.getvalue() and "3/3" in stream.getvalue()
        plait.config.enable_interactive_logging()
        stream = io.StringIO()
        plait.utils.Progbar(3, stream=stream).update(3)
        assert "\r" in stream.getvalue()
    finally:
        del os.environ["PLAIT_FORCE_TTY"]


def test_simple_switches_and_refusals():
    plait.config.disable_traceback_filtering()
    assert plait.config.is_traceback_filtering_enabled() is False
    plait.config.enable_traceback_filtering()
    assert plait.config.is_traceback_filtering_enabled() is keras.config.is_traceback_filtering_enabled() is True
    assert plait.config.is_nnx_enabled() is keras.config.is_nnx_enabled() is False
    plait.config.set_backend("torch")
    with pytest.raises(ValueError, match="PyTorch only.*'jax'"):
        plait.config.set_backend("jax")
    plait.backend.set_floatx("float32")
    plait.backend.set_epsilon(1e-7)
    plait.backend.set_image_data_format("channels_last")
    with pytest.raises(ValueError, match="floatx"):
        plait.backend.set_floatx("float16")
    assert plait.config.set_floatx is plait.backend.set_floatx


def test_get_uid_counts_as_keras():
    keras.backend.clear_session()
    plait.backend.clear_session()
    ours = [plait.backend.get_uid("x"), plait.backend.get_uid("x"), plait.backend.get_uid("y"), plait.backend.get_uid()]
    theirs = [
        keras.backend.get_uid("x"),
        keras.backend.get_uid("x"),
        keras.backend.get_uid("y"),
        keras.backend.get_uid(),
    ]
    assert ours == theirs == [1, 2, 1, 1]
    plait.layers.Dense(1)
    keras.layers.Dense(1)
    assert plait.backend.get_uid("dense") == keras.backend.get_uid("dense") == 2


def test_unsafe_deserialization_lets_a_lambda_load(tmp_path):
    inputs = plait.Input((3,))
    model = plait.Model(inputs, plait.layers.Lambda(operator.neg)(inputs))
    path = str(tmp_path / "m.plait")
    model.save(path)
    with pytest.raises(ValueError, match="safe_mode"):
        plait.saving.load_model(path)
    plait.config.enable_unsafe_deserialization()
    loaded = plait.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(np.ones((1, 3), "float32"), verbose=0), -np.ones((1, 3)))


def test_every_keras_config_and_backend_name_exists():
    for namespace in ("config", "backend"):
        names = [n for n in dir(getattr(keras, namespace)) if not n.startswith("_")]
        assert [n for n in names if not hasattr(getattr(plait, namespace), n)] == []
