"""Keras's data packing helpers: what a custom ``train_step`` unpacks its ``data`` with."""


def unpack_x_y_sample_weight(data):
    """Keras's ``unpack_x_y_sample_weight``: ``data`` -> ``(x, y, sample_weight)``.

    ``data`` is what a custom ``train_step``/``test_step``/``predict_step`` receives: ``x``,
    ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)`` (a list is read as a tuple).

    Example:
        >>> unpack_x_y_sample_weight(("x", "y"))
        ('x', 'y', None)
    """
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) == 1:
        return data[0], None, None
    if len(data) == 2:
        return data[0], data[1], None
    if len(data) == 3:
        return data
    raise ValueError(
        "Data is expected to be in format `x`, `(x,)`, `(x, y)`, or `(x, y, sample_weight)`. "
        f"Received a tuple of {len(data)} elements."
    )


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    """Keras's ``pack_x_y_sample_weight``: the inverse of :func:`unpack_x_y_sample_weight`.

    Example:
        >>> pack_x_y_sample_weight("x", "y")
        ('x', 'y')
    """
    if y is None:
        return (x,) if isinstance(x, (tuple, list)) else x
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)
