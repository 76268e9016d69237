import pytest

import plait


@pytest.fixture(autouse=True)
def fresh_names():
    """Each test starts with Keras's automatic names (dense, dense_1, ...) from zero."""
    plait.utils.clear_session()
    plait.utils.set_random_seed(0)
    yield
