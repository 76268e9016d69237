import sys

import pytest

import plait


@pytest.fixture(autouse=True)
def fresh_names():
    """Each test starts with Keras's automatic names (dense, dense_1, ...) from zero, and with
    no Keras layer call left open by an earlier test (Keras keeps the open call in a global:
    a layer called inside it adds its losses to the open call's instead of starting afresh)."""
    plait.utils.clear_session()
    plait.utils.set_random_seed(0)
    yield
    if "keras" in sys.modules:
        from keras.src.backend.common import global_state

        global_state.set_global_attribute("current_call_ctx", None)
