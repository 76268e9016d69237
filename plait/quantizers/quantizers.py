"""Quantization math on torch tensors: abs-max int8/int4, grouped int4 with zero points, int4
nibble packing, float8 scaling and fake quantization, with Keras 3's arguments and numbers.

Every function takes torch tensors, numpy arrays or lists and returns torch tensors (as Keras's
torch backend does). Integer results are exact; float results match Keras to float32 rounding.

Example:
    >>> import torch
    >>> from plait import quantizers
    >>> q, scale = quantizers.abs_max_quantize(torch.tensor([[1.0, -2.0, 0.5]]), axis=-1)
    >>> q, q.dtype
    (tensor([[  64, -127,   32]], dtype=torch.int8), torch.int8)
"""

import torch

from plait.graph.node import keras_dtype, torch_dtype

EPSILON = 1e-7  # Keras's backend.epsilon(), the default of every epsilon here


def as_tensor(value):
    """``value`` as a torch tensor (a float64 numpy array stays float64, as Keras keeps it)."""
    return value if isinstance(value, torch.Tensor) else torch.as_tensor(value)


def _dims(axis, ndim):
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    return tuple(a % ndim for a in axes)


class Quantizer:
    """Base class of quantizers: a callable turning a float tensor into quantized values.

    Args:
        output_dtype: the dtype of the quantized values (default ``"int8"``).

    Example:
        >>> from plait.quantizers import Quantizer
        >>> Quantizer().output_dtype
        'int8'
    """

    def __init__(self, output_dtype="int8"):
        self.output_dtype = output_dtype

    def __call__(self, x):
        """The base quantizer returns its input unchanged."""
        return x

    @classmethod
    def from_config(cls, config):
        """A quantizer from :meth:`get_config`'s dict."""
        return cls(**config)

    def get_config(self):
        """The constructor arguments as a dict; subclasses must provide it."""
        raise NotImplementedError(f"{type(self).__name__} does not implement get_config().")

    def __repr__(self):
        try:
            shown = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        except NotImplementedError:
            shown = ""
        return f"{type(self).__name__}({shown})"


def abs_max_quantize(inputs, axis, value_range=(-127, 127), dtype="int8", epsilon=EPSILON, to_numpy=False):
    """Symmetric quantization by the absolute maximum along ``axis``.

    ``scale = value_range[1] / (max|x| + epsilon)`` (reduced over ``axis``, dims kept) and
    ``q = clip(round(x * scale), *value_range)``; dequantize with ``q / scale``.

    Args:
        inputs: float tensor.
        axis: int or tuple of ints, the axes reduced for the scale.
        value_range: ``(min, max)`` of the quantized values (default ``(-127, 127)``).
        dtype: dtype of the quantized values (default ``"int8"``).
        epsilon: added to the maximum (default 1e-7).
        to_numpy: accepted for Keras compatibility (torch computes on the tensor's device).

    Returns:
        ``(quantized, scale)``; ``scale`` has ``inputs``' dtype and shape with ``axis`` of size 1.

    Example:
        >>> import torch
        >>> from plait.quantizers import abs_max_quantize
        >>> q, scale = abs_max_quantize(torch.tensor([[2.0, -1.0], [0.5, 4.0]]), axis=0)
        >>> q.tolist(), scale.shape
        ([[127, -32], [32, 127]], torch.Size([1, 2]))
    """
    x = as_tensor(inputs)
    peak = torch.amax(x.abs(), dim=_dims(axis, x.ndim), keepdim=True)
    # A tensor numerator: torch computes ``number / tensor`` as a reciprocal times the number,
    # one rounding more than Keras's true division.
    scale = (peak.new_tensor(value_range[1]) / (peak + epsilon)).to(x.dtype)
    q = torch.round(x * scale).clamp(value_range[0], value_range[1])
    return q.to(torch_dtype(dtype)), scale


def abs_max_quantize_grouped_with_zero_point(
    inputs, block_size, value_range=(-8, 7), dtype="int8", epsilon=EPSILON, to_numpy=False
):
    """Asymmetric quantization of a 2D ``(input_dim, output_dim)`` tensor in groups of
    ``block_size`` rows: each group and column gets a scale and a zero point.

    ``scale = (max - min + epsilon) / (qmax - qmin)``, ``zero = clip(round(-min / scale) + qmin)``
    and ``q = clip(round(x / scale) + zero)``; the last group is padded with zeros (which count
    in its min and max). Dequantize with ``(q - zero) * scale``.

    Args:
        inputs: float tensor ``(input_dim, output_dim)``.
        block_size: rows per group.
        value_range: ``(qmin, qmax)`` (default ``(-8, 7)``, int4).
        dtype: dtype of the quantized values (default ``"int8"``).
        epsilon: added to each group's range (default 1e-7).
        to_numpy: Keras computes on the host with this flag and then skips the widening of a
            constant group's range (``min == max`` becomes ``[min - 1, max + 1]`` otherwise);
            the same rule is followed here, on torch.

    Returns:
        ``(quantized (input_dim, output_dim), scale (n_groups, output_dim),
        zero_point (n_groups, output_dim) int8)`` with ``n_groups = ceil(input_dim / block_size)``.

    Example:
        >>> import torch
        >>> from plait.quantizers import abs_max_quantize_grouped_with_zero_point
        >>> q, scale, zero = abs_max_quantize_grouped_with_zero_point(torch.randn(10, 3), block_size=4)
        >>> q.shape, scale.shape, zero.dtype
        (torch.Size([10, 3]), torch.Size([3, 3]), torch.int8)
    """
    x = as_tensor(inputs)
    if x.ndim != 2:
        raise ValueError(
            f"abs_max_quantize_grouped_with_zero_point expects a 2D tensor. Received shape {tuple(x.shape)}."
        )
    rows, cols = x.shape
    qmin, qmax = value_range
    groups = -(-rows // block_size)
    padded = torch.cat([x, x.new_zeros(groups * block_size - rows, cols)]).reshape(groups, block_size, cols)
    low, high = padded.amin(dim=1), padded.amax(dim=1)
    if not to_numpy:
        flat = low == high
        low, high = torch.where(flat, low - 1, low), torch.where(flat, high + 1, high)
    scale = (high - low + epsilon) / (qmax - qmin)
    if not to_numpy:
        scale = torch.where(scale <= 0, torch.full_like(scale, 1e-8), scale)
    zero = (torch.round(-low / scale) + qmin).clamp(qmin, qmax)
    q = (torch.round(padded / scale[:, None]) + zero[:, None]).clamp(qmin, qmax)
    q = q.reshape(groups * block_size, cols)[:rows]
    return q.to(torch_dtype(dtype)), scale.to(x.dtype), zero.to(torch.int8)


def dequantize_grouped(values, scale, zero, g_idx, group_axis=-1):
    """``(values - zero) * scale`` with the group parameters spread by ``g_idx`` (each position
    along the grouped axis of ``values`` names its group), as Keras's grouped int4 layers do.

    Args:
        values: the quantized tensor (any integer or float dtype).
        scale, zero: per-group parameters, the groups along ``group_axis``.
        g_idx: 1D group index of each position (float or integer).
        group_axis: the axis of ``scale``/``zero`` holding the groups (default -1).
    """
    index = as_tensor(g_idx).long()
    scales = torch.index_select(scale, group_axis % scale.ndim, index)
    zeros = torch.index_select(zero, group_axis % zero.ndim, index).to(scales.dtype)
    return (values.to(scales.dtype) - zeros) * scales


class AbsMaxQuantizer(Quantizer):
    """A quantizer calling :func:`abs_max_quantize`.

    Args:
        axis: default axes for the scale (deprecated in Keras: pass ``axis`` to the call);
            the call's default is -1.
        value_range: default ``(-127, 127)``; must fit int8 when ``output_dtype="int8"``.
        epsilon: default 1e-7.
        output_dtype: default ``"int8"``.

    Example:
        >>> import torch
        >>> from plait.quantizers import AbsMaxQuantizer
        >>> q, scale = AbsMaxQuantizer()(torch.tensor([[0.25, -1.0]]))
        >>> q.tolist(), round(float(scale), 1)
        ([[32, -127]], 127.0)
    """

    def __init__(self, axis=None, value_range=(-127, 127), epsilon=EPSILON, output_dtype="int8"):
        super().__init__(output_dtype=output_dtype)
        self.axis = None if axis is None else ((axis,) if isinstance(axis, int) else tuple(axis))
        self.value_range = value_range
        self.epsilon = epsilon
        if output_dtype == "int8" and (value_range[0] < -128 or value_range[1] > 127):
            raise ValueError(
                "AbsMaxQuantizer with output_dtype='int8' needs value_range within [-128, 127]. "
                f"Received: value_range={value_range}"
            )

    def __call__(self, x, axis=None, to_numpy=False):
        """``(quantized, scale)`` of ``x`` along ``axis`` (default: the constructor's, else -1)."""
        axis = next(a for a in (axis, self.axis, -1) if a is not None)
        return abs_max_quantize(x, axis, self.value_range, self.output_dtype, self.epsilon, to_numpy)

    def get_config(self):
        config = {"value_range": self.value_range, "epsilon": self.epsilon, "output_dtype": self.output_dtype}
        if self.axis is not None:
            config["axis"] = self.axis
        return config


class _FakeQuant(torch.autograd.Function):
    """Fake quantization with the straight-through gradient inside the nudged range; the
    gradient of the values clipped to an end goes to that end's ``min``/``max``."""

    @staticmethod
    def forward(ctx, x, min_vals, max_vals, num_bits, narrow_range, axis):
        compute = torch.promote_types(min_vals.dtype, torch.float32)
        low, high = min_vals.to(compute), max_vals.to(compute)
        if axis is not None:  # per-channel values broadcast along ``axis``
            shape = [1] * x.ndim
            shape[axis] = -1
            low, high = low.reshape(shape), high.reshape(shape)
        q_low, q_high = (1 if narrow_range else 0), (1 << num_bits) - 1
        scale = (high - low) / (q_high - q_low)
        inverse = (q_high - q_low) / (high - low)
        zero = torch.round((q_low - low / scale).clamp(q_low, q_high))
        nudged_low, nudged_high = (q_low - zero) * scale, (q_high - zero) * scale
        quant_zero = torch.floor(-nudged_low * inverse + 0.5)
        shifted = x.to(compute).clamp(nudged_low, nudged_high) - nudged_low
        out = torch.floor(shifted * inverse - quant_zero + 0.5) * scale
        ctx.save_for_backward(x, nudged_low, nudged_high)
        ctx.axis, ctx.shapes = axis, (min_vals.shape, max_vals.shape)
        return out.to(x.dtype)

    @staticmethod
    def backward(ctx, upstream):
        x, low, high = ctx.saved_tensors
        zero = torch.zeros((), dtype=upstream.dtype, device=upstream.device)
        dx = torch.where((x >= low) & (x <= high), upstream, zero)
        reduced = [d for d in range(x.ndim) if d != ctx.axis] if ctx.axis is not None else list(range(x.ndim))

        def end_grad(mask, shape):
            g = torch.where(mask, upstream, zero)
            return (g.sum(dim=reduced) if reduced else g).reshape(shape)

        return dx, end_grad(x <= low, ctx.shapes[0]), end_grad(x >= high, ctx.shapes[1]), None, None, None


def fake_quant_with_min_max_vars(inputs, min_vals, max_vals, num_bits=8, narrow_range=False, axis=None):
    """Quantize ``inputs`` into ``[min_vals, max_vals]`` on ``num_bits`` levels and dequantize
    (the range nudged so that 0 is exact), per tensor or per channel along ``axis``.

    Differentiable: the gradient passes to ``inputs`` inside the range, and the gradient of the
    clipped values goes to ``min_vals``/``max_vals`` (so the range can be trained), as Keras's.

    Args:
        inputs: float tensor.
        min_vals, max_vals: scalars, or 1D tensors of per-channel ends along ``axis``.
        num_bits: bit width (default 8); levels ``[0, 2**num_bits - 1]``, or from 1 with
            ``narrow_range=True``.
        axis: the channel axis, or None (default) for one range.

    Example:
        >>> import torch
        >>> from plait.quantizers import fake_quant_with_min_max_vars
        >>> fake_quant_with_min_max_vars(torch.tensor([-2.0, -0.4, 0.3, 2.0]), -1.0, 2.0, num_bits=2)
        tensor([-1.,  0.,  0.,  2.])
    """
    x = as_tensor(inputs)
    low = torch.as_tensor(min_vals, device=x.device)
    high = torch.as_tensor(max_vals, device=x.device)
    low = low if low.is_floating_point() else low.float()
    high = high if high.is_floating_point() else high.float()
    axis = None if axis is None else axis % x.ndim
    return _FakeQuant.apply(x, low, high, int(num_bits), bool(narrow_range), axis)


def compute_float8_scale(amax, scale, dtype_max, margin=0):
    """The next float8 scale from the largest recent magnitude ``amax``: ``amax / dtype_max``
    (times ``2**margin``), keeping the current ``scale`` when ``amax`` is 0 or not finite.

    Example:
        >>> import torch
        >>> from plait.quantizers import compute_float8_scale
        >>> compute_float8_scale(torch.tensor(896.0), torch.tensor(1.0), 448.0)
        tensor(2.)
    """
    amax, scale = as_tensor(amax), as_tensor(scale)
    factor = (torch.as_tensor(dtype_max, dtype=amax.dtype) / amax) / (2**margin)
    keep = ~((amax > 0) & torch.isfinite(amax))
    return torch.reciprocal(torch.where(keep, torch.reciprocal(scale), factor))


def compute_float8_amax_history(x, amax_history):
    """The amax history with ``max|x|`` written in: the history rolled one step towards the
    front (its first entry goes to the end) and the new maximum written at index 0.

    Example:
        >>> import torch
        >>> from plait.quantizers import compute_float8_amax_history
        >>> compute_float8_amax_history(torch.tensor([-5.0, 2.0]), torch.tensor([1.0, 2.0, 3.0]))
        tensor([5., 3., 1.])
    """
    history = as_tensor(amax_history)
    peak = as_tensor(x).abs().max().to(history.dtype)
    return torch.cat([peak.reshape(1), torch.roll(history, -1)[1:]])


def quantize_and_dequantize(inputs, scale, quantized_dtype, compute_dtype):
    """``inputs / scale`` clipped to the float8 range, cast to ``quantized_dtype``
    (``"float8_e4m3fn"`` or ``"float8_e5m2"``) and back, times ``scale``, in ``compute_dtype``.

    Example:
        >>> import torch
        >>> from plait.quantizers import quantize_and_dequantize
        >>> quantize_and_dequantize(torch.tensor([0.3, 1000.0]), torch.tensor(1.0), "float8_e4m3fn", "float32").tolist()
        [0.3125, 448.0]
    """
    compute, target = torch_dtype(compute_dtype), torch_dtype(quantized_dtype)
    scale = as_tensor(scale).to(compute)
    top = torch.finfo(target).max
    x = (as_tensor(inputs) / scale).clamp(-top, top).to(target)
    return x.to(compute) * scale


def _check_int4_dtype(dtype):
    if dtype not in ("int8", "uint8"):
        raise ValueError(f"Expected dtype to be 'int8' or 'uint8', but got '{dtype}'.")


def pack_int4(arr, axis=0, dtype="int8"):
    """Pack int4 values (int8 in ``[-8, 7]``) two per byte along ``axis``: the first of each
    pair in the low nibble, the second in the high one (an odd length is padded with 0).

    Args:
        arr: ``int8`` (or ``uint8``, with ``dtype="uint8"``) tensor of int4 values.
        axis: the axis halved (default 0).
        dtype: ``"int8"`` (default) or ``"uint8"``, of the input and the result.

    Returns:
        ``(packed, packed_shape, original_length)``.

    Example:
        >>> import torch
        >>> from plait.quantizers import pack_int4, unpack_int4
        >>> packed, shape, n = pack_int4(torch.tensor([[-3, 7], [2, -8], [1, 0]], dtype=torch.int8))
        >>> packed.tolist(), shape, n
        ([[45, -121], [1, 0]], (2, 2), 3)
        >>> unpack_int4(packed, n).tolist()
        [[-3, 7], [2, -8], [1, 0]]
    """
    _check_int4_dtype(dtype)
    x = as_tensor(arr)
    if keras_dtype(x.dtype) != dtype:
        raise TypeError(f"Expected {dtype} tensor for packing, got {keras_dtype(x.dtype)}.")
    x = x.movedim(axis, 0)
    n = x.shape[0]
    if n % 2:
        x = torch.cat([x, x.new_zeros((1, *x.shape[1:]))])
    # Nibbles in int16 so the high one's shift cannot overflow; the byte is then reinterpreted.
    nibbles = x.to(torch.int16) & 0x0F
    packed = (nibbles[0::2] | (nibbles[1::2] << 4)).to(torch.uint8)
    packed = packed.view(torch.int8) if dtype == "int8" else packed
    packed = packed.movedim(0, axis).contiguous()
    return packed, tuple(packed.shape), n


def unpack_int4(packed, orig_len, axis=0, dtype="int8"):
    """Reverse :func:`pack_int4`: the int4 values (as ``dtype``) with the padding removed.

    Args:
        packed: ``int8`` or ``uint8`` tensor from :func:`pack_int4`.
        orig_len: the original length of ``axis``.
        axis: the packed axis (default 0).
        dtype: ``"int8"`` (default: signed values in ``[-8, 7]``) or ``"uint8"`` (``[0, 15]``).
    """
    _check_int4_dtype(dtype)
    p = as_tensor(packed)
    if p.dtype not in (torch.int8, torch.uint8):
        raise TypeError(f"Expected int8 or uint8 tensor for unpacking, got {keras_dtype(p.dtype)}")
    p = p.movedim(axis, 0).to(torch.int16) & 0xFF
    low, high = p & 0x0F, p >> 4
    if dtype == "int8":  # nibbles 8..15 are the negatives
        low, high = (low ^ 8) - 8, (high ^ 8) - 8
    values = torch.stack([low, high], dim=1).reshape(-1, *p.shape[1:])[:orig_len]
    return values.to(torch_dtype(dtype)).movedim(0, axis)
