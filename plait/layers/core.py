"""Core layers: ``Dense``, ``Activation``, ``Embedding``, ``Identity``."""

import torch
import torch.nn.functional as F

from plait.layers import settings
from plait.layers.base import InputSpec, Layer
from plait.layers.validation import positive_int


class Dense(Layer):
    """A densely connected layer: ``activation(inputs @ kernel + bias)``.

    Args:
        units: positive int, size of the output's last dim.
        activation: activation name or callable (default: none, i.e. linear).
        use_bias: whether to add a bias (default True).
        kernel_initializer: default ``"glorot_uniform"``.
        bias_initializer: default ``"zeros"``.

    Input shape:
        ``(batch, ..., input_dim)``.
    Output shape:
        ``(batch, ..., units)``.

    Weights (Keras order and shapes): ``kernel (input_dim, units)``, ``bias (units,)``; stored
    inside as torch's ``(units, input_dim)`` so ``F.linear`` runs without a copy.

    Example:
        >>> import plait
        >>> x = plait.Input(shape=(64,))
        >>> plait.layers.Dense(32, activation="relu")(x).shape
        (None, 32)
    """

    supports_masking = True

    def __init__(
        self,
        units,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        units = positive_int(f"Dense layer '{self.name}'", "units", units)
        settings.keep(self, units=units, activation=activation, use_bias=bool(use_bias))
        settings.keep(self, kernel_initializer=kernel_initializer, bias_initializer=bias_initializer)
        self.weight_options = settings.per_weight(
            kernel=(kernel_regularizer, kernel_constraint), bias=(bias_regularizer, bias_constraint)
        )
        self.input_spec = InputSpec(min_ndim=2)

    def build(self, input_shape):
        in_dim = input_shape[-1]
        if in_dim is None:
            raise ValueError(
                f"Layer '{self.name}' needs a known last input dim to build. Received: input_shape={input_shape}"
            )
        options = self.weight_options
        self.add_weight("kernel", (in_dim, self.units), self.kernel_initializer, perm=(1, 0), **options("kernel"))
        self.bias = (
            self.add_weight("bias", (self.units,), self.bias_initializer, **options("bias")) if self.use_bias else None
        )
        self.input_spec = InputSpec(min_ndim=2, axes={-1: in_dim})

    def call(self, inputs):
        return self.activation(F.linear(inputs, self.kernel, self.bias))

    def call_logits(self, inputs):
        """The pre-activation output (used by fit to fuse softmax/sigmoid into the loss)."""
        return F.linear(inputs, self.kernel, self.bias)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), **settings.config(self), **self.weight_options.get_config()}


class Activation(Layer):
    """Applies an activation function.

    Args:
        activation: a name (``"relu"``, ``"softmax"``, ...) or a callable.

    Example:
        >>> import torch, plait
        >>> plait.layers.Activation("relu")(torch.tensor([-1.0, 1.0]))
        tensor([0., 1.])
    """

    supports_masking = True

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        settings.keep(self, activation=activation)

    def call(self, inputs):
        return self.activation(inputs)

    def call_logits(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), **settings.config(self)}


class Identity(Layer):
    """Returns its input unchanged."""

    supports_masking = True

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


class Embedding(Layer):
    """Turns integer indices into dense vectors of size ``output_dim``.

    Args:
        input_dim: vocabulary size (largest index + 1).
        output_dim: size of each vector.
        embeddings_initializer: default ``"uniform"`` (Keras: uniform in [-0.05, 0.05]).
        mask_zero: index 0 is padding: the output carries a mask (``inputs != 0``) that RNNs,
            pooling, merges and losses respect.

    Input shape:
        integer tensor ``(batch, ...)``.
    Output shape:
        ``(batch, ..., output_dim)``.

    Example:
        >>> import plait
        >>> x = plait.Input(shape=(None,), dtype="int32")
        >>> plait.layers.Embedding(10000, 64)(x).shape
        (None, None, 64)
    """

    def __init__(
        self,
        input_dim,
        output_dim,
        embeddings_initializer="uniform",
        mask_zero=False,
        embeddings_regularizer=None,
        embeddings_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        who = f"Embedding layer '{self.name}'"
        sizes = {"input_dim": input_dim, "output_dim": output_dim}
        settings.keep(self, **{name: positive_int(who, name, value) for name, value in sizes.items()})
        # Keras's "uniform" here is its RandomUniform initializer (in [-0.05, 0.05]).
        initializer = "random_uniform" if embeddings_initializer == "uniform" else embeddings_initializer
        settings.keep(self, mask_zero=bool(mask_zero), embeddings_initializer=initializer)
        self.weight_options = settings.per_weight(embeddings=(embeddings_regularizer, embeddings_constraint))

    def build(self, input_shape):
        self.add_weight(
            "embeddings",
            (self.input_dim, self.output_dim),
            self.embeddings_initializer,
            **self.weight_options("embeddings"),
        )

    def _check_inputs(self, inputs):
        # A symbolic tensor's ``dtype`` may read as Keras's name ("int32"): its torch dtype is
        # ``torch_dtype``; a real tensor's is ``dtype``.
        dtype = getattr(inputs, "torch_dtype", getattr(inputs, "dtype", None))
        # Float, bool and uint8 indices are cast in call(), as Keras casts them (an Input is
        # float32 unless declared otherwise); complex ones cannot be indices.
        if isinstance(dtype, torch.dtype) and dtype.is_complex:
            raise TypeError(
                f"Layer '{self.name}' (Embedding) expects integer indices. Received: dtype={dtype}. "
                "Declare the Input with dtype='int32', or cast the data to integers."
            )

    def call(self, inputs):
        if inputs.dtype not in (torch.int32, torch.int64):
            inputs = inputs.long()  # Keras casts float (Input's default dtype), bool and uint8 indices
        try:
            return F.embedding(inputs, self.embeddings)
        except IndexError:  # torch's message names neither the layer nor the table size
            raise ValueError(
                f"Layer '{self.name}' (Embedding) got indices outside [0, input_dim={self.input_dim}). "
                f"Received indices in [{int(inputs.min())}, {int(inputs.max())}]."
            ) from None

    def produces_mask(self, input_masks):
        return self.mask_zero

    def compute_mask(self, inputs, mask=None):
        return inputs != 0 if self.mask_zero else None

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.output_dim)

    def get_config(self):
        return {**super().get_config(), **settings.config(self), **self.weight_options.get_config()}


class Masking(Layer):
    """Marks timesteps whose features all equal ``mask_value`` as padding, and zeroes them.

    Input shape:
        ``(batch, steps, features)``; the output carries a ``(batch, steps)`` mask.

    Example:
        >>> import torch, plait
        >>> plait.layers.Masking()(torch.tensor([[[1.0], [0.0]]])).squeeze()
        tensor([1., 0.])
    """

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        settings.keep(self, mask_value=float(mask_value))

    def compute_mask(self, inputs, mask=None):
        return torch.any(inputs != self.mask_value, dim=-1)

    def produces_mask(self, input_masks):
        return True

    def call(self, inputs):
        return inputs * self.compute_mask(inputs).unsqueeze(-1).to(inputs.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), **settings.config(self)}
