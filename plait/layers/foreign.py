"""Keras layers that wrap another framework's models (``JaxLayer``, ``FlaxLayer``, ``TFSMLayer``).

They need the JAX or TensorFlow runtime, which plait (PyTorch) does not run. The names exist so
that a Keras program meets an error that says what to use instead, not an ``AttributeError``.
"""


class _Foreign:
    """Refuses construction with ``reason`` and ``instead``."""

    reason = instead = ""

    def __init__(self, *args, **kwargs):
        raise NotImplementedError(f"plait.layers.{type(self).__name__}: {self.reason} {self.instead}")


class JaxLayer(_Foreign):
    """Keras's wrapper of a JAX function and its parameters; refused on PyTorch.

    Example:
        >>> import plait
        >>> plait.layers.JaxLayer(call_fn=None)
        Traceback (most recent call last):
        ...
        NotImplementedError: plait.layers.JaxLayer: ...
    """

    reason = "it runs a JAX function, and plait runs on PyTorch, without JAX."
    instead = (
        "Write the computation as a torch.nn.Module (JAX arrays convert to torch tensors through numpy) and "
        "use it as a layer: call it on symbolic tensors, or wrap it with plait.layers.TorchModuleWrapper."
    )


class FlaxLayer(_Foreign):
    """Keras's wrapper of a Flax module; refused on PyTorch (see ``JaxLayer``)."""

    reason = "it runs a Flax module, and plait runs on PyTorch, without JAX."
    instead = (
        "Port the module to a torch.nn.Module (its parameters convert through numpy) and use it as a layer: "
        "call it on symbolic tensors, or wrap it with plait.layers.TorchModuleWrapper."
    )


class TFSMLayer(_Foreign):
    """Keras's layer that loads a TensorFlow SavedModel; refused on PyTorch."""

    reason = "it loads a TensorFlow SavedModel, which needs TensorFlow's runtime; plait has none."
    instead = (
        "Save the Keras model as a .keras file and load it with plait.models.load_model; for a deployable "
        "graph, export a plait model with model.export(...) (torch.export)."
    )
