"""Name lookups shared by losses, metrics, optimizers, initializers and activations."""


def by_name(table, name, kind, extra_known=()):
    """``table[name]``, or a ValueError that lists the known (lowercase) names of ``kind``."""
    if name not in table:
        known = sorted(set(extra_known) | {k for k in table if k.islower()})
        raise ValueError(f"Unknown {kind}: '{name}'. Known: {known}")
    return table[name]


def with_class_names(table):
    """Add each class's own name (``"MeanSquaredError"``) as a key, as Keras accepts both."""
    table.update({cls.__name__: cls for cls in list(table.values()) if isinstance(cls, type)})
    return table
