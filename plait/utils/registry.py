"""Name lookups shared by losses, metrics, optimizers, initializers and activations."""

from plait.utils import custom_objects


def by_name(table, name, kind, extra_known=()):
    """``table[name]``, else a registered or in-scope custom object of that name
    (:mod:`plait.utils.custom_objects`), else a ValueError that lists the known (lowercase)
    names of ``kind``."""
    if name not in table:
        found = custom_objects.lookup(name)
        if found is not None:
            return found
        known = sorted(set(extra_known) | {k for k in table if k.islower()})
        raise ValueError(f"Unknown {kind}: '{name}'. Known: {known}")
    return table[name]


def with_class_names(table):
    """Add each class's own name (``"MeanSquaredError"``) as a key, as Keras accepts both."""
    table.update({cls.__name__: cls for cls in list(table.values()) if isinstance(cls, type)})
    return table


class ConfigObject:
    """Base for small objects rebuilt from their attributes (regularizers, constraints, schedules)."""

    def get_config(self):
        return dict(vars(self))

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


def get_object(identifier, table, kind, base):
    """Resolve a name, a ``{"class_name", "config"}`` dict, an instance / callable, or None."""
    if identifier is None or isinstance(identifier, base) or (callable(identifier) and not isinstance(identifier, str)):
        return identifier
    if isinstance(identifier, str):
        found = by_name(table, identifier, kind)
        return found() if isinstance(found, type) else found
    if isinstance(identifier, dict):
        return by_name(table, identifier["class_name"], kind).from_config(identifier.get("config", {}))
    raise TypeError(f"Could not interpret {kind} identifier: {identifier!r}")


def serialize_object(obj, kind, base):
    if obj is None:
        return None
    if isinstance(obj, base):
        return {"class_name": type(obj).__name__, "config": obj.get_config()}
    registered = custom_objects.registered_name(type(obj)) or custom_objects.registered_name(obj)
    if registered is not None:  # a user's registered class (an instance) or function
        return {"class_name": registered, "config": obj.get_config()} if hasattr(obj, "get_config") else registered
    raise ValueError(f"Cannot save the {kind} {obj!r}; use one of plait's {kind}s.")
