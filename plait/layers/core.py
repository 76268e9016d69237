"""Core layers: ``Dense``, ``EinsumDense``, ``Activation``, ``Embedding``, ``ReversibleEmbedding``,
``Identity``, ``Masking``."""

import math
import re

import torch
import torch.nn.functional as F

from plait import initializers
from plait.graph.node import torch_dtype
from plait.layers import settings
from plait.layers.base import InputSpec, Layer
from plait.layers.calibrated import CalibratedQuantization
from plait.layers.lora import LoraLayer
from plait.layers.quantized import QuantizedLayer, WeightRole, einsum_labels, int_product, relabel
from plait.layers.validation import positive_int


class Dense(LoraLayer, CalibratedQuantization, QuantizedLayer, Layer):
    """A densely connected layer: ``activation(inputs @ kernel + bias)``.

    Args:
        units: positive int, size of the output's last dim.
        activation: activation name or callable (default: none, i.e. linear).
        use_bias: whether to add a bias (default True).
        kernel_initializer: default ``"glorot_uniform"``.
        bias_initializer: default ``"zeros"``.
        lora_rank: if set, LoRA is enabled when the layer builds (``enable_lora(lora_rank)``:
            the kernel frozen, trainable ``lora_kernel_a (input_dim, rank)`` and
            ``lora_kernel_b (rank, units)`` added; see :meth:`enable_lora`).
        lora_alpha: the LoRA update's scale is ``lora_alpha / lora_rank``. As Keras's Dense, a
            layer built from ``lora_rank`` runs with ``lora_alpha = lora_rank``.
        quantization_config: a ``plait.quantizers.QuantizationConfig`` for a layer made
            quantized (``dtype="int8_from_float32"``); ``layer.quantize(mode)`` sets it too.

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
    # Keras's order of the variables in files, per quantization mode.
    variable_serialization_spec = {
        None: ["kernel", "bias"],
        "int8": ["kernel", "bias", "kernel_scale"],
        "int4": ["kernel", "bias", "kernel_scale", "kernel_zero", "g_idx"],
        "float8": [
            "kernel",
            "bias",
            *(f"{n}_{k}" for n in ("inputs", "kernel", "outputs_grad") for k in ("scale", "amax_history")),
        ],
    }

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
        lora_rank=None,
        lora_alpha=None,
        quantization_config=None,
        **kwargs,
    ):
        quantized = self._init_quantization(kwargs, quantization_config)
        super().__init__(**kwargs)
        quantized(self)
        self._init_lora(lora_rank, lora_alpha)
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
        self.build_quantized()
        self._build_lora()

    def quantized_roles(self):
        return [WeightRole("kernel", contract=0, pack=1, shape=(self.input_spec.axes[-1], self.units))]

    def call(self, inputs):
        return self.activation(self.call_logits(inputs))

    def call_logits(self, inputs):
        """The pre-activation output (used by fit to fuse softmax/sigmoid into the loss)."""
        if self.quantization_mode is None:
            return F.linear(inputs, self.lora_weight(), self.bias)
        outputs = self.quantized_product(inputs)
        bias = self.float8_bias() if self.quantization_mode == "float8" else self.bias
        return outputs if bias is None else outputs + bias.to(outputs.dtype)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        config = {**super().get_config(), **settings.config(self), **self.weight_options.get_config()}
        return {**config, **self.lora_config(), **self.quantization_settings()}


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


class Embedding(LoraLayer, QuantizedLayer, Layer):
    """Turns integer indices into dense vectors of size ``output_dim``.

    Args:
        input_dim: vocabulary size (largest index + 1).
        output_dim: size of each vector.
        embeddings_initializer: default ``"uniform"`` (Keras: uniform in [-0.05, 0.05]).
        mask_zero: index 0 is padding: the output carries a mask (``inputs != 0``) that RNNs,
            pooling, merges and losses respect.
        lora_rank: if set, LoRA is enabled when the layer builds (``enable_lora(lora_rank)``):
            the embeddings frozen, trainable ``lora_embeddings_a (input_dim, rank)`` and
            ``lora_embeddings_b (rank, output_dim)`` added. As Keras's, a layer built from
            ``lora_rank`` runs with ``lora_alpha = lora_rank``.
        lora_alpha: the LoRA update's scale is ``lora_alpha / lora_rank``.
        quantization_config: for a quantized layer (``layer.quantize("int8" | "int4")``).

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

    quantization_modes = ("int8", "int4")
    autocast = False  # as Keras's: indices are not cast, nor the tables read in the compute dtype
    variable_serialization_spec = {
        None: ["embeddings"],
        "int8": ["embeddings", "embeddings_scale"],
        "int4": ["embeddings", "embeddings_scale", "embeddings_zero", "g_idx"],
    }
    lora_target = "embeddings"
    lora_factor_names = ("lora_embeddings_a", "lora_embeddings_b")
    lora_constraint_kind = "embedding"

    def __init__(
        self,
        input_dim,
        output_dim,
        embeddings_initializer="uniform",
        mask_zero=False,
        embeddings_regularizer=None,
        embeddings_constraint=None,
        lora_rank=None,
        lora_alpha=None,
        quantization_config=None,
        **kwargs,
    ):
        quantized = self._init_quantization(kwargs, quantization_config)
        super().__init__(**kwargs)
        quantized(self)
        self._init_lora(lora_rank, lora_alpha)
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
        self._build_lora()  # before ReversibleEmbedding's reverse table, as Keras orders them
        if not isinstance(self, ReversibleEmbedding):  # which adds its reverse table first
            self.build_quantized()

    def quantized_roles(self):
        return [WeightRole("embeddings", contract=1, pack=1, shape=(self.input_dim, self.output_dim))]

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
            if self.quantization_mode is not None:
                return self.quantized_lookup(inputs)
            return F.embedding(inputs, self.lora_weight())
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
        config = {**super().get_config(), **settings.config(self), **self.weight_options.get_config()}
        return {**config, **self.lora_config(), **self.quantization_settings()}


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


def einsum_shapes(equation, bias_axes, input_shape, partial_output_shape, who="EinsumDense"):
    """Kernel shape, bias shape (or None), full output shape and the kernel's input and output
    axes of an ``EinsumDense`` with ``equation`` on inputs of ``input_shape``.

    The equation is ``in,kernel->out``, with an ellipsis on the left of both ``in`` and ``out``
    (``...b,bc->...c``), on their right (``ab...,bc->ac...``) or nowhere; ``partial_output_shape``
    gives the output's sizes without the batch axis and without the ellipsis' axes. A kernel
    letter takes its size from the output where it appears there, else from the input.
    """
    parts = re.fullmatch(r"(\.\.\.)?([a-zA-Z]+)(\.\.\.)?,([a-zA-Z]+)->(\.\.\.)?([a-zA-Z]+)(\.\.\.)?", equation)
    if parts is None or (parts[1], parts[3]) != (parts[5], parts[7]) or (parts[1] and parts[3]):
        raise ValueError(
            f"{who}: invalid einsum equation {equation!r}. "
            "Expected 'ab,bc->ac', '...ab,bc->...ac' or 'ab...,bc->ac...'."
        )
    left, right, in_spec, w_spec, out_spec = bool(parts[1]), bool(parts[3]), parts[2], parts[4], parts[6]
    rank = len(input_shape)
    elided = rank - len(in_spec)
    if elided < 0 or (elided and not (left or right)):
        raise ValueError(f"{who}: equation {equation!r} does not fit inputs of rank {rank}: {tuple(input_shape)}.")
    partial = list(partial_output_shape)
    # The output: batch, the left ellipsis' axes, the given sizes, the right ellipsis' axes.
    if left:
        output = [input_shape[0], *input_shape[1:elided], *partial]
        in_sizes = dict(zip(in_spec, input_shape[elided:]))
        out_sizes = dict(zip(out_spec, output[elided:]))
    else:
        output = [input_shape[0], *partial, *(input_shape[rank - elided :] if elided else ())]
        in_sizes, out_sizes = dict(zip(in_spec, input_shape)), dict(zip(out_spec, output))
    for letter, size in in_sizes.items():
        if letter in out_sizes and out_sizes[letter] is not None and out_sizes[letter] != size:
            raise ValueError(
                f"{who}: input and output sizes differ on the shared axis '{letter}': {size} vs {out_sizes[letter]}."
            )
    for letter in out_spec:
        if letter not in in_spec and letter not in w_spec:
            raise ValueError(f"{who}: output axis '{letter}' of {equation!r} is neither in the input nor the kernel.")
    kernel, input_axes, output_axes = [], [], []
    for i, letter in enumerate(w_spec):
        if letter in out_sizes:
            kernel.append(out_sizes[letter])
            output_axes.append(i)
        elif letter in in_sizes:
            kernel.append(in_sizes[letter])
            input_axes.append(i)
        else:
            raise ValueError(f"{who}: kernel axis '{letter}' of {equation!r} is neither in the input nor the output.")
    bias = None
    if bias_axes is not None:
        missing = [c for c in bias_axes if c not in out_spec]
        if missing:
            raise ValueError(f"{who}: bias axes {missing} are not in the output spec '{out_spec}'.")
        # The bias spans the output axes from the first biased one on (1 where not biased),
        # so that it broadcasts against the output's trailing axes.
        first = min(out_spec.index(c) for c in bias_axes)
        bias = [out_sizes[c] if c in bias_axes else 1 for c in out_spec[first:]]
        bias += [1] * (elided if right else 0)
    return kernel, bias, tuple(output), input_axes, output_axes


class EinsumDense(LoraLayer, CalibratedQuantization, QuantizedLayer, Layer):
    """A dense layer written as an einsum between the inputs and a kernel of any rank
    (``torch.einsum``), as in Keras: e.g. ``"abc,cde->abde"`` projects each step's features to
    ``(heads, head_dim)``.

    Args:
        equation: ``"in,kernel->out"``; ``...`` may stand for leading or trailing input axes.
        output_shape: the output's sizes without the batch axis (and without the ellipsis'
            axes); an int for a single axis. ``None`` entries take the input's size.
        activation: default None (linear).
        bias_axes: letters of the output axes that get a bias (default None: no bias).
        kernel_initializer: default ``"glorot_uniform"``, with fans counted over the kernel's
            input and output axes as Keras counts them; bias_initializer: default ``"zeros"``.
        kernel_regularizer, bias_regularizer, kernel_constraint, bias_constraint.
        lora_rank, lora_alpha: if ``lora_rank`` is set, LoRA is enabled when the layer builds
            (``enable_lora(lora_rank, lora_alpha)``): the kernel frozen, trainable
            ``lora_kernel_a`` (the kernel's shape, its last axis ``rank``) and ``lora_kernel_b
            (rank, kernel's last axis)`` added.
        quantization_config: for a quantized layer (``layer.quantize("int8" | "int4" |
            "float8")``).

    Weights: ``kernel`` (shape read from the equation), ``bias`` when ``bias_axes`` is given.

    Example:
        >>> import plait
        >>> x = plait.Input(shape=(None, 16))
        >>> layer = plait.layers.EinsumDense("abc,cde->abde", (None, 4, 8), bias_axes="de")
        >>> layer(x).shape, layer.kernel.shape
        ((None, None, 4, 8), torch.Size([16, 4, 8]))
    """

    def __init__(
        self,
        equation,
        output_shape,
        activation=None,
        bias_axes=None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        lora_rank=None,
        lora_alpha=None,
        quantization_config=None,
        **kwargs,
    ):
        quantized = self._init_quantization(kwargs, quantization_config)
        super().__init__(**kwargs)
        quantized(self)
        self._init_lora(lora_rank, lora_alpha)
        if not isinstance(equation, str):
            raise TypeError(f"EinsumDense '{self.name}': `equation` must be a string. Received: {equation!r}")
        self.equation = equation.replace(" ", "")
        self.partial_output_shape = (output_shape,) if isinstance(output_shape, int) else tuple(output_shape)
        settings.keep(
            self,
            activation=activation,
            bias_axes=bias_axes,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
        )
        self.weight_options = settings.per_weight(
            kernel=(kernel_regularizer, kernel_constraint), bias=(bias_regularizer, bias_constraint)
        )

    def _shapes(self, input_shape):
        return einsum_shapes(
            self.equation, self.bias_axes, input_shape, self.partial_output_shape, f"EinsumDense '{self.name}'"
        )

    def build(self, input_shape):
        kernel_shape, bias_shape, _, input_axes, output_axes = self._shapes(input_shape)
        if None in kernel_shape or (bias_shape and None in bias_shape):
            raise ValueError(
                f"EinsumDense '{self.name}': the kernel's axes need known sizes. Received: input_shape={input_shape}"
            )
        init = self.kernel_initializer
        if isinstance(init, initializers.VarianceScaling):
            # Keras counts the fans over the kernel's input and output axes: draw as a
            # (fan_in, fan_out) matrix (i.i.d., so only the fans matter), then reshape.
            fans = (math.prod(kernel_shape[i] for i in input_axes), math.prod(kernel_shape[i] for i in output_axes))
            base = init

            def init(shape, dtype=torch.float32):
                return base(fans, dtype).reshape(shape)

        self.add_weight("kernel", tuple(kernel_shape), init, **self.weight_options("kernel"))
        self.bias = None
        if bias_shape is not None:
            self.add_weight("bias", tuple(bias_shape), self.bias_initializer, **self.weight_options("bias"))
        self.input_spec = InputSpec(ndim=len(input_shape))
        self.kernel_shape = tuple(kernel_shape)
        self.build_quantized()
        self._build_lora()

    # Keras's order of the variables in files, per quantization mode (as Dense's).
    variable_serialization_spec = Dense.variable_serialization_spec
    lora_alpha_kept_on_build = True  # Keras's EinsumDense builds with enable_lora(rank, lora_alpha)
    zero_point_name = "zero_point"  # Keras's name of EinsumDense's GPTQ/AWQ zero points

    def _labels(self):
        """Input, kernel and output labels, the ellipsis spelled out (the rank is known once built)."""
        return einsum_labels(self.equation, self.input_spec.ndim)

    def quantized_roles(self):
        inputs, kernel, outputs = self._labels()
        reduced = tuple(i for i, c in enumerate(kernel) if c not in outputs)
        rows = math.prod(self.kernel_shape[i] for i in reduced)
        matrix = (rows, math.prod(self.kernel_shape) // rows)
        return [WeightRole("kernel", contract=reduced, pack=1, shape=self.kernel_shape, int4_matrix=matrix)]

    def int8_scale_layout(self, role, scale):
        # Keras keeps the scale laid out against the output (size 1 on the axes it lacks).
        _, kernel, outputs = self._labels()
        return relabel(scale, kernel, outputs)

    def int8_scale_for_weight(self, role, scale):
        _, kernel, outputs = self._labels()
        return relabel(scale, outputs, kernel)

    def call(self, inputs):
        if self.quantization_mode is not None:
            labels = self._labels()
            reduced = tuple(i for i, c in enumerate(labels[0]) if c not in labels[2])
            equation = "{},{}->{}".format(*labels)
            x = self.quantized_product(inputs, "kernel", equation, reduced, (labels[0], labels[2]))
            bias = self.float8_bias() if self.quantization_mode == "float8" else self.bias
        else:
            x, bias = torch.einsum(self.equation, inputs, self.lora_weight()), self.bias
        if bias is not None:
            x = x + bias.to(x.dtype)
        return self.activation(x)

    def compute_output_shape(self, input_shape):
        return self._shapes(input_shape)[2]

    def get_config(self):
        return {
            **super().get_config(),
            "output_shape": list(self.partial_output_shape),
            "equation": self.equation,
            **settings.config(self),
            **self.weight_options.get_config(),
            **self.lora_config(),
            **self.quantization_settings(),
        }


class ReversibleEmbedding(Embedding):
    """An ``Embedding`` that can also map vectors back to logits over the vocabulary: with
    ``reverse=True`` the call multiplies its inputs by the transposed embeddings (tied weights,
    as language models share their input and output tables) or by its own
    ``reverse_embeddings``.

    Args:
        input_dim, output_dim, embeddings_initializer, embeddings_regularizer,
            embeddings_constraint, mask_zero: as in ``Embedding``.
        tie_weights: reuse the embeddings for the reverse direction (default True); if False a
            separate ``reverse_embeddings (output_dim, input_dim)`` is learned.
        reverse_dtype: dtype the reverse matmul runs in (default: the layer's).
        logit_soft_cap: if set, logits become ``cap * tanh(logits / cap)``.
        quantization_config: for a quantized layer (``layer.quantize("int8" | "int4")``); the
            reverse product quantizes its inputs with the config's activation quantizer.

    Example:
        >>> import torch, plait
        >>> layer = plait.layers.ReversibleEmbedding(100, 8)
        >>> h = layer(torch.tensor([[1, 2, 3]]))
        >>> tuple(h.shape), tuple(layer(h, reverse=True).shape)
        ((1, 3, 8), (1, 3, 100))
    """

    def __init__(
        self,
        input_dim,
        output_dim,
        tie_weights=True,
        embeddings_initializer="uniform",
        embeddings_regularizer=None,
        embeddings_constraint=None,
        mask_zero=False,
        reverse_dtype=None,
        logit_soft_cap=None,
        quantization_config=None,
        **kwargs,
    ):
        table = (embeddings_initializer, mask_zero, embeddings_regularizer, embeddings_constraint)
        # Embedding's argument order
        super().__init__(input_dim, output_dim, *table, quantization_config=quantization_config, **kwargs)
        # kept by layers.settings, so Embedding.get_config writes them too
        settings.keep(self, tie_weights=bool(tie_weights), reverse_dtype=reverse_dtype, logit_soft_cap=logit_soft_cap)

    def build(self, input_shape=None):
        super().build(input_shape)
        if not self.tie_weights:
            self.add_weight("reverse_embeddings", (self.output_dim, self.input_dim), self.embeddings_initializer)
        self.build_quantized()

    @property
    def variable_serialization_spec(self):
        """Keras's variable order in files per mode: Embedding's, then the reverse table's."""
        spec = {mode: list(names) for mode, names in Embedding.variable_serialization_spec.items()}
        if not self.tie_weights:
            for mode, names in spec.items():
                names.append("reverse_embeddings")
                names += ["reverse_embeddings_scale"] if mode else []
                names += ["reverse_embeddings_zero"] if mode == "int4" else []
        return spec

    def quantized_roles(self):
        roles = super().quantized_roles()
        if not self.tie_weights:  # (output_dim, input_dim): scales across the features
            shape = (self.output_dim, self.input_dim)
            roles.append(WeightRole("reverse_embeddings", contract=0, pack=0, shape=shape, zero_dtype=torch.float32))
        return roles

    def _quantized_logits(self, inputs):
        name = "embeddings" if self.tie_weights else "reverse_embeddings"
        quantizer = getattr(self.quantization_config, "activation_quantizer", None)
        scale = self.quantized_scale(name)
        compute = self.dtype_policy.compute_dtype  # Keras rounds the raw logits to it, then divides in float32
        inputs_scale = None
        if quantizer is not None:
            inputs, inputs_scale = quantizer(inputs)
        if self.quantization_mode == "int4" and self._block_size() is not None:
            kernel = self.dequantized(name)  # Keras dequantizes grouped tables before the product
            common = torch.promote_types(inputs.dtype, kernel.dtype)
            logits = inputs.to(common) @ (kernel.T if self.tie_weights else kernel).to(common)
            return logits if inputs_scale is None else logits / inputs_scale
        kernel = self.unpacked_int4(name) if self.quantization_mode == "int4" else getattr(self, name)
        kernel = kernel.T if self.tie_weights else kernel
        if inputs_scale is None:
            return (inputs @ kernel.to(inputs.dtype)).to(compute) / scale
        return int_product(inputs, kernel).to(compute) / (inputs_scale * scale)

    def call(self, inputs, reverse=False):
        if not reverse:
            return super().call(inputs)
        if self.quantization_mode is not None:
            with torch.autocast(inputs.device.type, enabled=False):  # Keras's dtypes, set in the method
                logits = self._quantized_logits(inputs)
            if self.logit_soft_cap is not None:
                logits = torch.tanh(logits / self.logit_soft_cap) * self.logit_soft_cap
            return logits
        kernel = self.lora_weight().T if self.tie_weights else self.reverse_embeddings
        if self.reverse_dtype is not None:
            dtype = torch_dtype(self.reverse_dtype)
            inputs, kernel = inputs.to(dtype), kernel.to(dtype)
        logits = inputs @ kernel
        if self.logit_soft_cap is not None:
            logits = torch.tanh(logits / self.logit_soft_cap) * self.logit_soft_cap
        return logits

    def compute_output_spec(self, inputs, reverse=False):
        shape = tuple(inputs.shape)
        if reverse:
            return (*shape[:-1], self.input_dim), self.torch_dtype
        return (*shape, self.output_dim), self.torch_dtype

    def produces_mask(self, input_masks):
        return False

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape, reverse=False):
        return (*input_shape[:-1], self.input_dim) if reverse else (*input_shape, self.output_dim)
