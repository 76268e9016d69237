"""Quantized weights for ``Dense``, ``EinsumDense``, ``Embedding`` and ``ReversibleEmbedding``:
``layer.quantize("int8" | "int4" | "float8")`` and ``model.quantize(...)``, as in Keras 3.

One design for the four layers. Each names the float weights it quantizes as
:class:`WeightRole` s (the weight, the axis its values are summed over -- the axis a scale is
taken across -- and the axis int4 pairs are packed along); :class:`QuantizedLayer` turns them
into Keras's variables (``kernel`` int8 + ``kernel_scale``, int4 nibbles + scales and, in
groups, zero points and ``g_idx``; float8 keeps the float kernel and adds six scale and amax
history buffers), sets the layer's ``QuantizedDTypePolicy`` and writes/reads the variables in
Keras's file order. The layers' ``call`` asks the mixin for the quantized product.

On torch: int8 x int8 products run on ``torch._int_mm`` (int32, exact) where the shapes allow it
(any shape on the CPU; on CUDA, Keras's conditions), else on int32 (CPU) or float32 (CUDA)
products of the integer values, exact while the sums stay under 2**24. float8 rounds through
``torch.float8_e4m3fn`` / ``torch.float8_e5m2``. Quantized weights are buffers (never
trained); gradients reach the inputs through the dequantized weights, as Keras's custom
gradients do.

float8 training follows Keras's delayed scaling: in a training call the inputs' and kernel's
scales become ``amax(history) / 448`` and their histories take this call's ``max|x|``; the
backward pass does the same for the output gradient (``float8_e5m2``, 57344). Keras writes
these values through the optimizer (``overwrite_with_gradient``); plait updates the buffers
in place during the pass, as BatchNormalization updates its moving statistics, so after a
training step both hold the same numbers. The buffers are non-trainable here (Keras lists
them as trainable variables that no optimizer rule touches).

Example:
    >>> import torch, plait
    >>> layer = plait.layers.Dense(4)
    >>> _ = layer(torch.ones(2, 8))
    >>> layer.quantize("int8")
    >>> layer.dtype_policy, layer.kernel.dtype, tuple(layer.kernel_scale.shape)
    (<QuantizedDTypePolicy "int8_from_float32">, torch.int8, (4,))
"""

import re
import string

import numpy as np
import torch

from plait import quantizers
from plait.quantizers import config as quantization_configs
from plait.quantizers.policies import quantized_policy, serialize_policy

E4M3, E5M2 = torch.float8_e4m3fn, torch.float8_e5m2
_INT4_RANGE = (-8, 7)


class WeightRole:
    """A float weight a layer quantizes, described in Keras's layout.

    Args:
        name: the weight's Keras name (``"kernel"``, ``"embeddings"``); its scale is
            ``<name>_scale``, its zero point ``<name>_zero``.
        contract: the axis (or axes) scales are taken across: the input axis of a kernel,
            the feature axis of an embedding table.
        pack: the axis of the 2D (int4) matrix whose pairs share a byte.
        shape: the float weight's Keras shape.
        int4_matrix: ``(rows, cols)`` the weight is reshaped to for int4 (EinsumDense's
            kernels of any rank); None for a 2D weight.
        zero_dtype: dtype of the int4 zero points (Keras keeps one float32 set).

    Example:
        >>> from plait.layers.quantized import WeightRole
        >>> role = WeightRole("kernel", contract=(0, 1), shape=(4, 2, 6), int4_matrix=(8, 6))
        >>> role.contract_axes, role.matrix_contract
        ((0, 1), 0)
    """

    def __init__(self, name, contract, pack=1, shape=None, int4_matrix=None, zero_dtype=torch.int8):
        self.name, self.contract, self.pack, self.shape = name, contract, pack, tuple(shape)
        self.int4_matrix, self.zero_dtype = int4_matrix, zero_dtype

    @property
    def contract_axes(self):
        """The contracted axes as a tuple, non-negative."""
        axes = (self.contract,) if isinstance(self.contract, int) else tuple(self.contract)
        return tuple(sorted(a % len(self.shape) for a in axes))

    @property
    def matrix_contract(self):
        """The contracted axis of the 2D int4 matrix."""
        return 0 if self.int4_matrix is not None else self.contract


class _InputGradient(torch.autograd.Function):
    """``run(x)`` forward; backward ``gradient(upstream)`` for ``x`` only: quantized weights
    have no gradient, and the inputs' goes through the dequantized weights (Keras's rule)."""

    @staticmethod
    def forward(ctx, x, run, gradient):
        ctx.gradient = gradient
        return run(x)

    @staticmethod
    def backward(ctx, upstream):
        return ctx.gradient(upstream), None, None


class _Float8Inputs(torch.autograd.Function):
    """Round ``x`` through float8_e4m3fn with ``scale``; the gradient passes straight through."""

    @staticmethod
    def forward(ctx, x, scale, compute):
        return quantizers.quantize_and_dequantize(x, scale, E4M3, compute)

    @staticmethod
    def backward(ctx, upstream):
        return upstream, None, None


class _Float8OutputGradient(torch.autograd.Function):
    """Identity forward; backward rounds the output gradient through float8_e5m2 with the
    layer's ``outputs_grad_scale`` and updates that scale and its amax history."""

    @staticmethod
    def forward(ctx, y, scale, history):
        # The buffers themselves (under torch.func the ones passed in), updated in backward.
        ctx.buffers = (scale, history)
        return y.view_as(y)

    @staticmethod
    def backward(ctx, upstream):
        scale, history = ctx.buffers
        rounded = quantizers.quantize_and_dequantize(upstream, scale, E5M2, upstream.dtype)
        with torch.no_grad():
            new_scale = quantizers.compute_float8_scale(history.max(), scale, torch.finfo(E5M2).max)
            history.copy_(quantizers.compute_float8_amax_history(upstream, history))
            scale.copy_(new_scale)
        return rounded, None, None


def relabel(tensor, source, target):
    """``tensor`` (axes labelled by ``source``; the labels missing from ``target`` have size 1)
    laid out for broadcasting against a ``target``-labelled tensor: the shared axes in
    ``target``'s order, size 1 for ``target``'s other labels."""
    kept = [c for c in source if c in target]
    tensor = tensor.reshape([tensor.shape[i] for i, c in enumerate(source) if c in target])
    tensor = tensor.permute([kept.index(c) for c in target if c in kept])
    sizes = iter(tensor.shape)
    return tensor.reshape([next(sizes) if c in kept else 1 for c in target])


def einsum_labels(equation, input_rank):
    """The input, kernel and output labels of an ``EinsumDense`` equation with its ellipsis
    spelled out for inputs of ``input_rank`` (fresh letters, in Keras's choice)."""
    inputs, kernel, outputs = re.split(",|->", equation)
    if "..." not in inputs:
        return inputs, kernel, outputs
    bare = inputs.replace("...", "")
    free = sorted(set(string.ascii_letters) - set(bare + kernel + outputs))[: input_rank - len(bare)]
    spelled = "".join(free)
    return inputs.replace("...", spelled), kernel, outputs.replace("...", spelled)


def int_product(x, w, equation=None):
    """The exact int32 product of two int8 tensors: ``x @ w`` (``torch._int_mm`` where it
    runs) or ``einsum(equation, x, w)``."""
    if equation is None:
        flat = x.reshape(-1, x.shape[-1])
        rows, inner, cols = flat.shape[0], flat.shape[1], w.shape[1]
        # torch._int_mm takes any shape on the CPU; on CUDA, Keras's conditions.
        fits = x.device.type == "cpu" or (rows > 16 and inner >= 16 and inner % 8 == 0 and cols % 8 == 0)
        if torch.compiler.is_compiling():
            # Inductor's _int_mm call fails inside torch.func's transforms (plait's compiled
            # training step): exact int32 products on the CPU, float32 ones on CUDA.
            kind = torch.int32 if x.device.type == "cpu" else torch.float32
            return (flat.to(kind) @ w.to(kind)).to(torch.int32).reshape(*x.shape[:-1], cols)
        if fits and x.device.type in ("cpu", "cuda"):
            try:
                return torch._int_mm(flat, w).reshape(*x.shape[:-1], cols)
            except RuntimeError:  # a layout or build _int_mm does not take: the float product below
                pass
        return (x.to(torch.float32) @ w.to(torch.float32)).to(torch.int32)
    # torch's einsum runs on int32 on the CPU only; on CUDA float32 (Keras does the same).
    kind = torch.int32 if x.device.type == "cpu" else torch.float32
    return torch.einsum(equation, x.to(kind), w.to(kind)).to(torch.int32)


class QuantizedLayer:
    """Mixin giving a layer Keras's ``quantize`` and quantized forward passes.

    A class using it sets ``variable_serialization_spec`` (Keras's variable order in files,
    per mode) and ``quantization_modes``, and implements ``quantized_roles()``.
    """

    quantization_modes = ("int8", "int4", "float8")
    variable_serialization_spec = {}
    autocast = True  # Keras's flag: whether the layer computes on inputs cast to its compute dtype

    def quantized_roles(self):
        """The :class:`WeightRole` s of the weights this layer quantizes."""
        raise NotImplementedError

    def _init_quantization(self, kwargs, quantization_config):
        """Read a quantized ``dtype`` (``"int8_from_float32"``, a policy or Keras's dict of one) out
        of the constructor's ``kwargs``; returns ``apply(layer)``, to call after ``Layer.__init__``,
        which sets the policy and the config."""
        policy = quantized_policy(kwargs.get("dtype"))
        if policy is not None:
            kwargs["dtype"] = policy.source_name  # the float policy the weights are built in

        def apply(layer):
            layer._set_quantization_config(quantization_config)
            if policy is not None:
                layer.dtype_policy = policy

        return apply

    @property
    def stateful(self):
        """True in float8 mode: the amax histories carry state from call to call (and the
        backward pass updates the output gradient's), so plait's compiled training step, whose
        transforms cannot mutate buffers in a backward pass, leaves this layer's step eager."""
        return self.quantization_mode == "float8"

    def quantization_settings(self):
        """The config keys of a quantized layer: its policy as Keras writes it and its config."""
        if self.quantization_mode is None:
            return {}
        return {
            "dtype": serialize_policy(self.dtype_policy),
            "quantization_config": quantizers.serialize(self.quantization_config),
        }

    def _set_quantization_config(self, config):
        if isinstance(config, dict):
            config = quantizers.deserialize(config)
        if config is not None and not isinstance(config, quantizers.QuantizationConfig):
            raise TypeError(
                f"Layer '{self.name}': `quantization_config` must be a QuantizationConfig or its config dict. "
                f"Received: {config!r}"
            )
        self.quantization_config = config

    # ------------------------------------------------------------------ quantize
    def quantize(self, mode=None, type_check=True, config=None):
        """Quantize the layer's weights in place (Keras's ``layer.quantize``).

        Args:
            mode: ``"int8"``, ``"int4"`` or ``"float8"`` (what this layer supports); optional
                when ``config`` is given.
            type_check: refuse subclasses (whose ``call`` plait cannot know), as Keras does.
            config: a :class:`plait.quantizers.QuantizationConfig` (default: the mode's).

        Raises:
            ValueError: unknown mode, a layer not built or already quantized, a config that
                contradicts ``mode``. NotImplementedError: a mode this layer has no form for.
        """
        config = quantization_configs.resolve(mode, config)
        mode = config.mode
        who = f"Layer '{self.name}' ({type(self).__name__})"
        if type_check and "variable_serialization_spec" not in type(self).__dict__:
            raise NotImplementedError(
                f"{who} does not have a `quantize` method implemented: only plait's Dense, EinsumDense, "
                "Embedding and ReversibleEmbedding themselves are quantized (pass type_check=False to try)."
            )
        if not self.built:
            raise ValueError(f"Cannot quantize a layer that isn't yet built. {who} is not built yet.")
        if self.quantization_mode is not None:
            raise ValueError(
                f"Layer '{self.name}' is already quantized with dtype_policy='{self.dtype_policy.name}'. "
                f"Received: mode={mode}"
            )
        if mode not in self.quantization_modes:
            raise NotImplementedError(
                f"Invalid quantization mode for {who}. Expected one of {self.quantization_modes}. "
                f"Received: quantization_mode={mode}"
            )
        if mode == "int8" and self.dtype_policy.compute_dtype == torch.float16:
            raise ValueError(
                f"Quantization mode='{mode}' doesn't work well with compute_dtype='float16' ({who}). "
                "Use 'mixed_bfloat16' or float32 before calling `quantize()`."
            )
        self._convert(config)
        name = mode
        if mode == "int4":
            name = f"int4/{self._block_size(config) or -1}"
        self.dtype_policy = quantized_policy(f"{name}_from_{self.dtype_policy.name}")

    def _block_size(self, config=None):
        config = config if config is not None else self.quantization_config
        size = getattr(config, "block_size", None)
        if size is None:
            size = getattr(self.dtype_policy, "block_size", None)
        return None if size in (None, -1) else size

    def _convert(self, config):
        """Replace the float weights by the mode's variables, computed from them (a layer built
        from a quantized policy converts its fresh weights: the values are loaded next)."""
        self._set_quantization_config(config)
        mode = config.mode
        if mode == "float8":
            self._add_float8_state()
            return
        weight_quantizer = getattr(config, "weight_quantizer", None)
        for role in self.quantized_roles():
            weight = self._keras_value(role.name)
            if mode == "int8":
                values = self._int8_values(role, weight, weight_quantizer)
            else:
                values = self._int4_values(role, weight, weight_quantizer, self._block_size(config))
            self._remove_weight(role.name)
            for name, value in values.items():
                if name == "g_idx" and hasattr(self, "g_idx"):
                    continue  # one g_idx serves the embeddings and the reverse table
                self._add_buffer(name, tuple(value.shape), _constant(value), value.dtype)

    def _remove_weight(self, name):
        """Drop the float weight ``name`` (its parameter and its Keras entry)."""
        for spec in [s for s in self._weight_specs if s.name == name]:
            self._weight_specs.remove(spec)
            self._parameters.pop(spec.attr, None)
            self._buffers.pop(spec.attr, None)

    def _add_buffer(self, name, shape, initializer, dtype):
        self.add_weight(shape=shape, initializer=initializer, dtype=dtype, trainable=False, name=name)

    def _keras_value(self, name):
        """Weight ``name`` in Keras's layout, detached."""
        for owner, spec in self.weight_entries():
            if owner is self and spec.name == name:
                return spec.to_keras(spec.get(self))
        raise ValueError(f"Layer '{self.name}' has no weight '{name}'.")

    def _int8_values(self, role, weight, weight_quantizer):
        quantizer = weight_quantizer or quantizers.AbsMaxQuantizer(axis=role.contract_axes)
        q, scale = quantizer(weight, to_numpy=True)
        return {role.name: q, f"{role.name}_scale": self.int8_scale_layout(role, scale)}

    def int8_scale_layout(self, role, scale):
        """How Keras keeps an int8 scale (computed with the contracted axes kept): without them."""
        return scale.squeeze(role.contract_axes)

    def _int4_values(self, role, weight, weight_quantizer, block_size):
        matrix = weight.reshape(role.int4_matrix) if role.int4_matrix is not None else weight
        contract = role.matrix_contract
        values = {}
        if block_size is None:
            quantizer = weight_quantizer or quantizers.AbsMaxQuantizer(
                axis=contract, value_range=_INT4_RANGE, output_dtype="int8"
            )
            q, scale = quantizer(matrix, to_numpy=True)
            values[f"{role.name}_scale"] = scale.squeeze(contract)
        else:
            # Groups run along the contracted axis: put it first for the grouped quantizer.
            first = matrix if contract == 0 else matrix.T
            q, scale, zero = quantizers.abs_max_quantize_grouped_with_zero_point(first, block_size, to_numpy=True)
            if contract:
                q, scale, zero = q.T, scale.T, zero.T
            values[f"{role.name}_scale"] = scale.contiguous()
            values[f"{role.name}_zero"] = zero.to(role.zero_dtype).contiguous()
            steps = torch.arange(matrix.shape[contract], dtype=torch.float32, device=matrix.device)
            values["g_idx"] = torch.floor_divide(steps, block_size)
        packed = quantizers.pack_int4(q, axis=role.pack)[0]
        return {role.name: packed, **dict(sorted(values.items(), key=lambda item: "g_idx" in item[0]))}

    def _add_float8_state(self):
        length = getattr(self.dtype_policy, "amax_history_length", 1024)
        for name in ("inputs", "kernel", "outputs_grad"):
            self._add_buffer(f"{name}_scale", (), "ones", torch.float32)
            self._add_buffer(f"{name}_amax_history", (length,), "zeros", torch.float32)

    def build_quantized(self):
        """Turn the just-built float weights into the quantized policy's variables (a layer made
        with ``dtype="int8_from_float32"`` or read from a quantized model's config)."""
        mode = self.quantization_mode
        if mode is None:
            return
        config = self.quantization_config
        if config is None or config.mode != mode:
            config = quantization_configs.resolve(mode, None)
            if mode == "int4":
                config = quantizers.Int4QuantizationConfig(block_size=self._block_size())
        self._convert(config)

    # ------------------------------------------------------------------ dequantize
    def in_compute_dtype(self, tensor, variable=False):
        """``tensor`` in the policy's compute dtype under a mixed policy, else unchanged: Keras
        reads a mixed layer's float variables in that dtype, and casts its inputs unless the
        layer does not autocast (the embeddings)."""
        policy = self.dtype_policy
        if policy.is_mixed and (variable or self.autocast) and tensor.is_floating_point():
            return tensor.to(policy.compute_dtype)
        return tensor

    def quantized_scale(self, name):
        """The scale of weight ``name`` (``<name>_scale``), in the compute dtype."""
        return self.in_compute_dtype(getattr(self, f"{name}_scale"), variable=True)

    def dequantized(self, name):
        """Weight ``name`` as floats in Keras's layout (the quantized values times their scale)."""
        mode = self.quantization_mode
        value = self._keras_value(name)
        if mode not in ("int8", "int4"):
            return value
        role = next(r for r in self.quantized_roles() if r.name == name)
        scale = self.quantized_scale(name)
        compute = scale.dtype
        if mode == "int8":
            return value.to(compute) / self.int8_scale_for_weight(role, scale)
        matrix = self.unpacked_int4(name)
        contract = role.matrix_contract
        if self._block_size() is None:
            matrix = matrix.to(compute) / scale.unsqueeze(contract)
        else:
            matrix = quantizers.quantizers.dequantize_grouped(
                matrix, scale, getattr(self, f"{name}_zero"), self.g_idx, group_axis=contract
            )
        return matrix.reshape(role.shape)

    def int8_scale_for_weight(self, role, scale):
        """An int8 scale laid out to divide the weight (Keras's layout undone)."""
        for axis in role.contract_axes:
            scale = scale.unsqueeze(axis)
        return scale

    def unpacked_int4(self, name):
        """The int4 weight ``name`` unpacked to int8 values (Keras's layout, or the int4 matrix)."""
        role = next(r for r in self.quantized_roles() if r.name == name)
        packed = getattr(self, role.name)
        rows_cols = role.int4_matrix or role.shape
        return quantizers.unpack_int4(packed, rows_cols[role.pack], axis=role.pack)

    # ------------------------------------------------------------------ float8
    def float8_operand(self, x, which):
        """``x`` rounded through float8_e4m3fn with the ``which`` (``"inputs"``/``"kernel"``)
        scale; in training, the scale and amax history move on (delayed scaling)."""
        scale, history = getattr(self, f"{which}_scale"), getattr(self, f"{which}_amax_history")
        compute = x.dtype
        out = _Float8Inputs.apply(x, scale.clone() if self.training else scale, compute)
        if self.training and not torch.jit.is_tracing():
            with torch.no_grad():
                new_scale = quantizers.compute_float8_scale(history.max(), scale, torch.finfo(E4M3).max)
                history.copy_(quantizers.compute_float8_amax_history(x.detach(), history))
                scale.copy_(new_scale)
        return out

    def float8_output(self, y):
        """``y`` unchanged; its gradient rounds through float8_e5m2 (see module docstring)."""
        if not y.requires_grad:
            return y
        return _Float8OutputGradient.apply(y, self.outputs_grad_scale, self.outputs_grad_amax_history)

    def float8_bias(self):
        """Keras rounds a float32 bias through bfloat16 in float8 mode (for XLA's fusion)."""
        bias = self.bias
        if bias is not None and bias.dtype == torch.float32:
            bias = bias.to(torch.bfloat16).to(torch.float32)
        return bias

    # ------------------------------------------------------------------ products
    def quantized_product(self, x, name="kernel", equation=None, inputs_axes=(-1,), scale_labels=None):
        """``x @ w`` (or ``einsum(equation, x, w)``) with the quantized weight ``name``, by the
        layer's mode, before bias and activation (see :meth:`int8_contract` for the arguments).

        Runs outside torch.autocast: the dtypes are Keras's, set here (see :meth:`in_compute_dtype`)."""
        with torch.autocast(x.device.type, enabled=False):
            return self._quantized_product(x, name, equation, inputs_axes, scale_labels)

    def _quantized_product(self, x, name, equation, inputs_axes, scale_labels):
        mode = self.quantization_mode
        x = self.in_compute_dtype(x)
        product = (lambda a, b: a @ b) if equation is None else (lambda a, b: torch.einsum(equation, a, b))
        if mode == "float8":
            kernel = self.float8_operand(self.in_compute_dtype(self._keras_value_attached(name), True), "kernel")
            return self.float8_output(product(self.float8_operand(x, "inputs"), kernel))
        if mode == "int4" and self._block_size() is not None:
            return product(x, self.dequantized(name).to(x.dtype))  # the weight is a constant: autograd's rule
        quantizer = getattr(self.quantization_config, "activation_quantizer", None)
        if equation is not None and (quantizer is None or mode == "int4"):
            # Keras's EinsumDense on torch dequantizes the kernel before the product here.
            kernel = self.dequantized(name).to(x.dtype)
            if quantizer is None:
                return product(x, kernel)

            def run(inputs):
                q, inputs_scale = quantizer(inputs, axis=inputs_axes)
                return product(q.to(inputs.dtype), kernel) / relabel(inputs_scale, *scale_labels)

            return _InputGradient.apply(x, run, self._input_gradient(name, equation))
        return self.int8_contract(x, name, equation, inputs_axes, scale_labels)

    def quantized_lookup(self, ids, name="embeddings"):
        """Rows ``ids`` of the quantized table ``name``, dequantized (gathered first, so only the
        rows used are unpacked and scaled)."""
        scale = self.quantized_scale(name)
        rows = getattr(self, name)[ids]
        if self.quantization_mode == "int4":
            role = next(r for r in self.quantized_roles() if r.name == name)
            rows = quantizers.unpack_int4(rows, role.shape[-1], axis=-1)
            if self._block_size() is not None:
                zero = getattr(self, f"{name}_zero")[ids]
                return quantizers.quantizers.dequantize_grouped(rows, scale[ids], zero, self.g_idx, group_axis=-1)
        return rows.to(scale.dtype) / scale[ids].unsqueeze(-1)

    def _keras_value_attached(self, name):
        for owner, spec in self.weight_entries():
            if owner is self and spec.name == name:
                return spec.keras_view(spec.get(self))
        raise ValueError(f"Layer '{self.name}' has no weight '{name}'.")

    def _input_gradient(self, name, equation):
        def gradient(upstream):
            float_weight = self.dequantized(name).to(upstream.dtype)
            if equation is None:
                return upstream @ float_weight.T
            inputs, kernel, outputs = re.split(",|->", equation)
            return torch.einsum(f"{outputs},{kernel}->{inputs}", upstream, float_weight)

        return gradient

    def int8_contract(self, x, name, equation=None, inputs_axes=(-1,), scale_labels=None):
        """``x`` times the int8 weight ``name`` (``x @ w``, or ``einsum(equation, x, w)``),
        through int8 inputs when the config has an activation quantizer (Keras's int8 path),
        with the gradient reaching ``x`` through the dequantized weight.

        Args:
            scale_labels: ``(input labels, output labels)`` laying the input scale out against the
                output (EinsumDense), or None when it already broadcasts (a matrix product).
        """
        weight, scale = getattr(self, name), self.quantized_scale(name)
        if self.quantization_mode == "int4":
            weight = self.unpacked_int4(name)
        quantizer = getattr(self.quantization_config, "activation_quantizer", None)
        product = (lambda a, b: a @ b) if equation is None else (lambda a, b: torch.einsum(equation, a, b))

        def run(inputs):
            if quantizer is None:
                return product(inputs, weight.to(inputs.dtype)) / scale
            q, inputs_scale = quantizer(inputs, axis=inputs_axes)
            if scale_labels is not None:
                inputs_scale = relabel(inputs_scale, *scale_labels)
            return int_product(q, weight, equation).to(inputs.dtype) / (scale * inputs_scale)

        return _InputGradient.apply(x, run, self._input_gradient(name, equation))

    # ------------------------------------------------------------------ saving
    def save_own_variables(self, store):
        """Write the layer's variables in Keras's order for its mode (``variable_serialization_spec``)."""
        for i, value in enumerate(self._file_values()):
            store[str(i)] = value

    def _file_entries(self):
        named = {spec.name: spec for owner, spec in self.weight_entries() if owner is self}
        mode = self.quantization_mode
        if mode not in self.variable_serialization_spec:
            raise NotImplementedError(f"Layer '{self.name}' has no variable order for quantization mode {mode!r}.")
        return [named[name] for name in self.variable_serialization_spec[mode] if name in named]

    def _file_values(self):
        return [spec.to_keras(spec.get(self)).cpu().numpy() for spec in self._file_entries()]

    def load_own_variables(self, store):
        """Read the variables :meth:`save_own_variables` (or Keras) wrote."""
        entries = self._file_entries()
        if len(store.keys()) != len(entries):
            raise ValueError(
                f"Layer '{self.name}' expected {len(entries)} variables, but received {len(store.keys())} "
                f"variables during loading. Expected: {[spec.name for spec in entries]}"
            )
        with torch.no_grad():
            for i, spec in enumerate(entries):
                current = spec.get(self)
                value = np.asarray(store[str(i)])
                stored = spec.to_storage(value).to(current.dtype)
                if stored.numel() != current.numel():
                    raise ValueError(
                        f"Weight '{self.name}/{spec.name}' has shape {tuple(spec.to_keras(current).shape)}, "
                        f"but the value given has shape {value.shape}."
                    )
                current.copy_(stored.reshape(current.shape))


def _constant(value):
    def initializer(shape, dtype=None):
        return value.detach().clone()

    return initializer


def quantize_model(model, mode=None, config=None, filters=None, type_check=True):
    """Quantize every quantizable layer of ``model`` (Keras's ``Model.quantize``).

    Args:
        model: a built model or layer.
        mode, config: as :meth:`QuantizedLayer.quantize`.
        filters: a regex (or list of them) searched in the layer names, or a callable
            ``layer -> bool``: only the layers it selects are quantized.
        type_check: as :meth:`QuantizedLayer.quantize`.

    Layers with no quantized form (Conv2D, ...) and weights are skipped with a warning (Keras
    warns for every such layer); a layer that is not built raises. For ``"gptq"``/``"awq"`` the
    layers get their placeholders, then :func:`plait.quantizers.calibration.calibrate` runs the
    blocks of ``config.quantization_layer_structure`` (or the model's
    ``get_quantization_layer_structure(mode)``) on the calibration data.
    """
    import warnings

    if filters is not None and not isinstance(filters, (str, list, tuple)) and not callable(filters):
        raise ValueError(
            "The `filters` argument must be a regex string, a list of regex strings, or a callable. "
            f"Received: {type(filters)}"
        )
    config = quantization_configs.resolve(mode, config)
    structure = None
    if config.mode in ("gptq", "awq"):
        from plait.quantizers.calibration import calibrate, check_request

        structure = getattr(config, "quantization_layer_structure", None)
        if structure is None and hasattr(model, "get_quantization_layer_structure"):
            structure = model.get_quantization_layer_structure(config.mode)
        check_request(config, structure)  # before any layer changes (Keras checks after)
    from plait.layers.base import Layer, child_layers
    from plait.quantizers.calibration import selected

    changed = False
    for layer in [m for m in model.modules() if isinstance(m, Layer)]:
        if child_layers(layer) or not selected(layer, filters):
            continue  # containers are walked, not quantized
        if not isinstance(layer, QuantizedLayer):
            if layer.weights:  # (Keras warns for every other layer; here only where weights stay float)
                warnings.warn(
                    f"Layer '{layer.name}' ({type(layer).__name__}) has no quantized form; its weights stay "
                    "float. plait quantizes Dense, EinsumDense, Embedding and ReversibleEmbedding.",
                    stacklevel=2,
                )
            continue
        try:
            layer.quantize(config.mode, type_check=type_check, config=config)
            changed = True
        except NotImplementedError as error:
            warnings.warn(str(error), stacklevel=2)
    if structure is not None:
        # The layers hold their placeholders now; calibration runs the model's blocks on the
        # config's data and fills them (Keras's order).
        calibrate(config, structure, filters)
    return changed


__all__ = ["QuantizedLayer", "WeightRole", "einsum_labels", "int_product", "quantize_model", "relabel"]
