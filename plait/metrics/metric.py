"""The ``Metric`` base class: Keras 3's ``update_state`` / ``result`` / ``reset_state`` contract."""

from plait.utils.naming import to_snake_case


class Metric:
    """Base class of streaming metrics.

    Args:
        name: the key under which the metric is logged.
        dtype: accepted for Keras compatibility (results are float32).
    """

    def __init__(self, name=None, dtype=None):
        self.name = name or to_snake_case(type(self).__name__)
        self.reset_state()

    def reset_state(self):
        raise NotImplementedError

    def update_state(self, y_true, y_pred, sample_weight=None):
        raise NotImplementedError

    def result(self):
        raise NotImplementedError

    def __call__(self, y_true, y_pred, sample_weight=None):
        self.update_state(y_true, y_pred, sample_weight)
        return self.result()

    def get_config(self):
        return {"name": self.name}

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"
