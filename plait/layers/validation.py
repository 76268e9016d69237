"""Keras-style argument checks shared by layer constructors (one place for the messages)."""


def positive_int(layer, name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(
            f"Invalid value for argument `{name}` of {layer}: expected a positive integer. Received: {name}={value!r}"
        )
    return value


def int_tuple(layer, name, value, n):
    if isinstance(value, int) and not isinstance(value, bool):
        values = (value,) * n
    elif isinstance(value, (tuple, list)):
        values = tuple(value)
    else:
        values = ()  # a float, a string, None: named below
    if len(values) != n:
        raise ValueError(
            f"Argument `{name}` of {layer} must be an int or a tuple of {n} ints. Received: {name}={value!r}"
        )
    for v in values:
        positive_int(layer, name, v)
    return values


def one_of(layer, name, value, options):
    normalized = value.lower() if isinstance(value, str) else value
    if normalized not in options:
        raise ValueError(
            f"Invalid value for argument `{name}` of {layer}: expected one of {list(options)}. "
            f"Received: {name}={value!r}"
        )
    return normalized


def rate(layer, name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(
            f"Invalid value for argument `{name}` of {layer}: expected a float in [0, 1]. Received: {name}={value!r}"
        )
    return float(value)


def data_format(layer, value):
    return one_of(layer, "data_format", value or "channels_last", ("channels_last", "channels_first"))
