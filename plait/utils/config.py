"""``Config``: Keras's attribute-style dict for settings, which can be frozen.

Example:
    >>> from plait.utils import Config
    >>> config = Config(learning_rate=0.1, layers=2)
    >>> config.learning_rate, config["layers"]
    (0.1, 2)
    >>> config.freeze()
    >>> config.layers = 3
    Traceback (most recent call last):
    ...
    ValueError: Cannot set 'layers': the Config is frozen (call unfreeze() first).
"""

import json


class Config:
    """A dict whose entries are also attributes (``config.key``), frozen by :meth:`freeze`.

    Args:
        **kwargs: the initial entries.
    """

    def __init__(self, **kwargs):
        object.__setattr__(self, "_entries", dict(kwargs))
        object.__setattr__(self, "_frozen", False)

    @property
    def frozen(self):
        """Whether the config refuses changes."""
        return self._frozen

    def freeze(self):
        object.__setattr__(self, "_frozen", True)

    def unfreeze(self):
        object.__setattr__(self, "_frozen", False)

    def _check_mutable(self, key):
        if self._frozen:
            raise ValueError(f"Cannot set {key!r}: the Config is frozen (call unfreeze() first).")

    def __getattr__(self, name):
        entries = object.__getattribute__(self, "_entries")
        if name not in entries:
            raise AttributeError(f"Unknown attribute: {name!r}.")
        return entries[name]

    def __setattr__(self, name, value):
        self._check_mutable(name)
        self._entries[name] = value

    def __delattr__(self, name):
        self._check_mutable(name)
        del self._entries[name]

    def __getitem__(self, key):
        return self._entries[key]

    def __setitem__(self, key, value):
        self._check_mutable(key)
        self._entries[key] = value

    def __delitem__(self, key):
        self._check_mutable(key)
        del self._entries[key]

    def __contains__(self, key):
        return key in self._entries

    def __iter__(self):
        return iter(self._entries)

    def __len__(self):
        return len(self._entries)

    def get(self, key, default=None):
        return self._entries.get(key, default)

    def keys(self):
        return self._entries.keys()

    def values(self):
        return self._entries.values()

    def items(self):
        return self._entries.items()

    def pop(self, *args):
        self._check_mutable(args[0] if args else None)
        return self._entries.pop(*args)

    def update(self, *args, **kwargs):
        self._check_mutable("update")
        self._entries.update(*args, **kwargs)

    def as_dict(self):
        """A plain dict copy of the entries."""
        return dict(self._entries)

    def to_json(self):
        return json.dumps(self._entries)

    def __repr__(self):
        return f"<Config {self._entries}>"
