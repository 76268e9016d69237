"""``Lambda``: a Python function as a layer."""

from plait.layers.base import Layer
from plait.layers.serialization import function_reference, resolve_function


def _shapes(inputs):
    """The shapes of ``inputs`` (a tensor, or a list/tuple of them), in the same structure."""
    if isinstance(inputs, (list, tuple)):
        return [_shapes(x) for x in inputs]
    return tuple(inputs.shape)


class Lambda(Layer):
    """Wraps ``function(inputs, **arguments)`` as a layer.

    Args:
        function: any callable on tensors. To be saved, it must be a named, importable function
            (saved by reference) or registered with ``@plait.saving.register_serializable()``;
            an anonymous ``lambda`` or closure is refused at save time, since saving it would
            mean storing code.
        output_shape: output shape without the batch dim (or a function of the input shape);
            default: inferred on the meta device.
        arguments: extra keyword arguments for ``function``.

    Example:
        >>> import torch, plait
        >>> plait.layers.Lambda(torch.square)(torch.tensor([3.0]))
        tensor([9.])
    """

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"Lambda expects a callable. Received: function={function!r}")
        self.function, self.arguments = function, dict(arguments or {})
        self.output_shape = output_shape
        self.built = True

    def call(self, inputs):
        return self.function(inputs, **self.arguments)

    def compute_output_spec(self, *args, **kwargs):
        nested = not callable(self.output_shape) and any(isinstance(d, (list, tuple)) for d in self.output_shape or ())
        if self.output_shape is None or nested:  # several outputs: inferred
            return super().compute_output_spec(*args, **kwargs)
        # The inputs may be a list of tensors (Lambda(fn, output_shape=(1,))([a, b])): a callable
        # gets their shapes in the same structure, and the batch size is the first input's (Keras).
        shapes = _shapes(args[0])
        if callable(self.output_shape):
            out = self.output_shape(shapes)
        else:
            first = shapes
            while isinstance(first, list):
                first = first[0]
            out = (first[0], *self.output_shape)
        return (tuple(out), self.torch_dtype)

    def get_config(self):
        if callable(self.output_shape):
            raise ValueError(f"Lambda layer '{self.name}': a callable output_shape cannot be saved; give a tuple.")
        return {
            **super().get_config(),
            "function": function_reference(self.function, f"Lambda layer '{self.name}'"),
            "output_shape": None if self.output_shape is None else list(self.output_shape),
            "arguments": self.arguments,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["function"] = resolve_function(config["function"])
        return super().from_config(config)
