"""Keras's data packing helpers: what a custom ``train_step`` unpacks its ``data`` with."""


def unpack_x_y_sample_weight(data):
    """Keras's ``unpack_x_y_sample_weight``: ``data`` -> ``(x, y, sample_weight)``.

    ``data`` is what a custom ``train_step``/``test_step``/``predict_step`` receives: ``x``,
    ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)`` (a list is read as a tuple).

    Example:
        >>> unpack_x_y_sample_weight(("x", "y"))
        ('x', 'y', None)
    """
    if not isinstance(data, (tuple, list)):
        return data, None, None
    if not 1 <= len(data) <= 3:
        raise ValueError(
            "Data is expected to be in format `x`, `(x,)`, `(x, y)`, or `(x, y, sample_weight)`. "
            f"Received a tuple of {len(data)} elements."
        )
    x, y, sample_weight = (*data, None, None)[:3]  # the missing entries are None
    return x, y, sample_weight


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    """Keras's ``pack_x_y_sample_weight``: the inverse of :func:`unpack_x_y_sample_weight`.

    Example:
        >>> pack_x_y_sample_weight("x", "y")
        ('x', 'y')
    """
    if y is None:  # x alone; a tuple or list x is wrapped so it is not read as (x, y)
        return (x,) if isinstance(x, (tuple, list)) else x
    return (x, y) if sample_weight is None else (x, y, sample_weight)
