"""plait's version, in a module of its own: code inside plait (the saved file's metadata) reads it
without importing the root package, which imports everything."""

__version__ = "0.1.0"
