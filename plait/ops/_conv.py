"""Convolution, pooling and patch ops of :mod:`plait.ops.nn`: Keras's layouts on torch's kernels.

Keras lays images out channels_last, ``(batch, *spatial, channels)``, and conv kernels as
``(*spatial, in_channels, out_channels)``; torch wants ``(batch, channels, *spatial)`` and
``(out, in, *spatial)``. Both conversions are views: a channels_last batch moved to channels-first
is already in torch's ``channels_last`` memory format, which its conv kernels read without a copy.

Keras's ``padding="same"`` is TensorFlow's rule: the output has ``ceil(size / stride)`` steps and
the total padding, when odd, puts its extra step at the end. torch takes one symmetric padding per
axis, so the symmetric case goes to the kernel and the other is padded explicitly.
"""

import functools
import math

import torch.nn.functional as F

from plait.ops._backend import convert_to_tensor
from plait.ops._op import op
from plait.utils.image_utils import standardize_data_format

_nn_op = functools.partial(op, family="nn")

_CONV = (F.conv1d, F.conv2d, F.conv3d)
_CONV_TRANSPOSE = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)
_MAX_POOL = (F.max_pool1d, F.max_pool2d, F.max_pool3d)
_AVG_POOL = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)
_ADAPTIVE_MAX = (F.adaptive_max_pool1d, F.adaptive_max_pool2d, F.adaptive_max_pool3d)
_ADAPTIVE_AVG = (F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d)


# ----------------------------------------------------------------------------- layout helpers
def _channels_first(inputs, data_format, name):
    """``inputs`` as ``(batch, channels, *spatial)``, with the standardised data format."""
    x = convert_to_tensor(inputs)
    if not 3 <= x.ndim <= 5:
        raise ValueError(
            f"ops.{name} expects a batch of 1D, 2D or 3D inputs (rank 3, 4 or 5: batch, spatial axes "
            f"and channels). Received input of shape {tuple(x.shape)}."
        )
    data_format = standardize_data_format(data_format)
    return (x.movedim(-1, 1) if data_format == "channels_last" else x), data_format


def _restore(y, data_format):
    return y.movedim(1, -1) if data_format == "channels_last" else y


def _torch_kernel(kernel):
    # Keras (*spatial, a, b) -> torch (b, a, *spatial): conv's (in, out) becomes (out, in), and
    # conv_transpose's (out, in) becomes the (in, out) its torch kernel wants.
    kernel = convert_to_tensor(kernel)
    return kernel.permute(kernel.ndim - 1, kernel.ndim - 2, *range(kernel.ndim - 2))


def _tuple(value, rank, name):
    values = (value,) * rank if isinstance(value, int) else tuple(value)
    if len(values) != rank or not all(isinstance(v, int) and v > 0 for v in values):
        raise ValueError(
            f"`{name}` must be a positive int or a tuple of {rank} positive ints. Received: {name}={value}"
        )
    return values


def _check_padding(padding):
    padding = str(padding).lower()
    if padding not in ("valid", "same"):
        raise ValueError(f"`padding` must be 'valid' or 'same'. Received: padding={padding!r}")
    return padding


def same_padding(size, window, stride, dilation=1):
    """TensorFlow's ``"same"`` padding ``(before, after)`` of one axis; the odd step goes after."""
    span = (window - 1) * dilation + 1
    total = max((math.ceil(size / stride) - 1) * stride + span - size, 0)
    return total // 2, total - total // 2


def _pad(x, padding, windows, strides, dilations, mode):
    """``(x, padding for torch)``: 'same' as the kernel's symmetric padding where it can be,
    else padded here (``mode`` fills the extra steps) with 0 left for the kernel."""
    if padding == "valid":
        return x, 0
    pads = [same_padding(x.shape[2 + i], windows[i], strides[i], dilations[i]) for i in range(len(windows))]
    if all(before == after for before, after in pads):
        return x, tuple(before for before, _ in pads)
    flat = [p for before, after in reversed(pads) for p in (before, after)]  # F.pad: last axis first
    return F.pad(x, flat, mode=mode), 0


def _check_channels(name, x, channels, kernel_channels):
    if channels != kernel_channels:
        raise ValueError(
            f"ops.{name}: the input has {channels} channels but the kernel expects {kernel_channels} "
            f"(the kernel's input-channel axis). Received input of shape {tuple(x.shape)}."
        )


# ----------------------------------------------------------------------------- convolutions
@_nn_op
def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """N-D convolution (1D, 2D or 3D, from the input's rank) with a Keras-layout kernel.

    A kernel whose input-channel axis is a divisor of the input's channels makes a grouped
    convolution (``channels // kernel.shape[-2]`` groups).

    Args:
        inputs: ``(batch, *spatial, channels)`` (channels_last) or ``(batch, channels, *spatial)``.
        kernel: ``(*kernel_size, in_channels // groups, out_channels)``.
        strides: int or tuple, the step between windows. Defaults to 1.
        padding: ``"valid"`` (no padding) or ``"same"`` (``ceil(size / stride)`` outputs,
            TensorFlow's padding). Defaults to ``"valid"``.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        dilation_rate: int or tuple, the spacing of kernel taps. Defaults to 1.

    Returns:
        ``(batch, *out_spatial, out_channels)`` in the input's data format.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.conv(torch.ones(1, 5, 5, 2), torch.ones(3, 3, 2, 4), strides=2, padding="same").shape
        torch.Size([1, 3, 3, 4])
    """
    x, data_format = _channels_first(inputs, data_format, "conv")
    weight = _torch_kernel(kernel)
    rank = x.ndim - 2
    if weight.ndim != x.ndim:
        raise ValueError(
            f"ops.conv: a rank-{x.ndim} input needs a rank-{x.ndim} kernel (*kernel_size, in, out). "
            f"Received kernel of shape {tuple(convert_to_tensor(kernel).shape)}."
        )
    strides, dilation = _tuple(strides, rank, "strides"), _tuple(dilation_rate, rank, "dilation_rate")
    channels, per_group = x.shape[1], weight.shape[1]
    if channels % per_group:
        raise ValueError(
            f"ops.conv: the input's {channels} channels are not a multiple of the kernel's "
            f"{per_group} input channels. Received kernel of shape {tuple(convert_to_tensor(kernel).shape)}."
        )
    x, pad = _pad(x, _check_padding(padding), weight.shape[2:], strides, dilation, "constant")
    y = _CONV[rank - 1](x, weight, None, strides, pad, dilation, channels // per_group)
    return _restore(y, data_format)


@_nn_op
def depthwise_conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """Depthwise convolution: each input channel is convolved with its own
    ``depth_multiplier`` filters, and their outputs stacked channel by channel.

    Args:
        inputs: ``(batch, *spatial, channels)`` (channels_last) or ``(batch, channels, *spatial)``.
        kernel: ``(*kernel_size, channels, depth_multiplier)``.
        strides: int or tuple. Defaults to 1.
        padding: ``"valid"`` or ``"same"``. Defaults to ``"valid"``.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        dilation_rate: int or tuple. Defaults to 1.

    Returns:
        ``(batch, *out_spatial, channels * depth_multiplier)`` in the input's data format.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.depthwise_conv(torch.ones(1, 4, 4, 3), torch.ones(2, 2, 3, 2)).shape
        torch.Size([1, 3, 3, 6])
    """
    x = convert_to_tensor(inputs)
    kernel = convert_to_tensor(kernel)
    data_format = standardize_data_format(data_format)
    _check_channels("depthwise_conv", x, x.shape[-1 if data_format == "channels_last" else 1], kernel.shape[-2])
    # A grouped conv with one group per channel: (*k, channels, m) -> (*k, 1, channels * m).
    grouped = kernel.reshape(*kernel.shape[:-2], 1, kernel.shape[-2] * kernel.shape[-1])
    return conv(x, grouped, strides, padding, data_format, dilation_rate)


@_nn_op
def separable_conv(
    inputs, depthwise_kernel, pointwise_kernel, strides=1, padding="valid", data_format=None, dilation_rate=1
):
    """Separable convolution: a :func:`depthwise_conv`, then a 1x1 :func:`conv` mixing its channels.

    Args:
        inputs: ``(batch, *spatial, channels)`` (channels_last) or ``(batch, channels, *spatial)``.
        depthwise_kernel: ``(*kernel_size, channels, depth_multiplier)``.
        pointwise_kernel: ``(*ones, channels * depth_multiplier, out_channels)``.
        strides: int or tuple, of the depthwise step. Defaults to 1.
        padding: ``"valid"`` or ``"same"``, of the depthwise step. Defaults to ``"valid"``.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        dilation_rate: int or tuple, of the depthwise step. Defaults to 1.

    Returns:
        ``(batch, *out_spatial, out_channels)`` in the input's data format.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.separable_conv(torch.ones(1, 4, 4, 3), torch.ones(3, 3, 3, 2), torch.ones(1, 1, 6, 5)).shape
        torch.Size([1, 2, 2, 5])
    """
    depthwise = depthwise_conv(inputs, depthwise_kernel, strides, padding, data_format, dilation_rate)
    return conv(depthwise, pointwise_kernel, 1, "valid", data_format, dilation_rate)


def _transpose_crop(window, stride, dilation, padding, output_padding):
    """``(before, after)`` steps to cut from torch's full transposed output (negative: zeros to add).

    torch's unpadded ``conv_transpose`` gives ``(size - 1) * stride + span`` steps. Keras's
    "valid" keeps them from the start and ends ``output_padding`` steps after them (by default
    ``max(stride - span, 0)``, so the output covers every stride); "same" gives ``size * stride``
    steps by default, and ``(size - 1) * stride + span % 2 + output_padding`` when it is set,
    centred with the odd step cut from the start, as TensorFlow and JAX do.
    """
    span = (window - 1) * dilation + 1
    if padding == "valid":
        extra = max(stride - span, 0) if output_padding is None else output_padding
        return 0, -extra
    total = stride + span - 2 if output_padding is None else span + span % 2 - 2 + output_padding
    before = min((total + 1) // 2, span - 1)  # the padding of the equivalent forward conv
    return span - 1 - before, span - 1 - (total - before)


@_nn_op
def conv_transpose(inputs, kernel, strides=1, padding="valid", output_padding=None, data_format=None, dilation_rate=1):
    """Transposed convolution (the gradient of :func:`conv` with respect to its input), used to
    upsample: each input step spreads over ``strides`` output steps.

    Args:
        inputs: ``(batch, *spatial, channels)`` (channels_last) or ``(batch, channels, *spatial)``.
        kernel: ``(*kernel_size, out_channels, in_channels)`` (Keras's transposed layout).
        strides: int or tuple, the upsampling factor. Defaults to 1.
        padding: ``"valid"`` or ``"same"`` (``size * strides`` outputs). Defaults to ``"valid"``.
        output_padding: int, tuple or ``None``, steps added at the end of each axis (must be
            smaller than the stride). ``None`` (default) infers it.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        dilation_rate: int or tuple. Defaults to 1.

    Returns:
        ``(batch, *out_spatial, out_channels)`` in the input's data format.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.conv_transpose(torch.ones(1, 4, 4, 3), torch.ones(3, 3, 8, 3), strides=2, padding="same").shape
        torch.Size([1, 8, 8, 8])
    """
    x, data_format = _channels_first(inputs, data_format, "conv_transpose")
    weight = _torch_kernel(kernel)
    _check_channels("conv_transpose", x, x.shape[1], weight.shape[0])
    rank = x.ndim - 2
    strides, dilation = _tuple(strides, rank, "strides"), _tuple(dilation_rate, rank, "dilation_rate")
    extras = (output_padding,) * rank if output_padding is None or isinstance(output_padding, int) else output_padding
    padding = _check_padding(padding)
    y = _CONV_TRANSPOSE[rank - 1](x, weight, None, strides, 0, 0, 1, dilation)
    crops = [_transpose_crop(weight.shape[2 + i], strides[i], dilation[i], padding, extras[i]) for i in range(rank)]
    if any(crops_i != (0, 0) for crops_i in crops):
        # F.pad with negative amounts cuts; positive ones add zeros (valid's output_padding).
        y = F.pad(y, [-c for before, after in reversed(crops) for c in (before, after)])
    return _restore(y, data_format)


# ----------------------------------------------------------------------------- pooling
def _pool(name, kernels, inputs, pool_size, strides, padding, data_format, **options):
    x, data_format = _channels_first(inputs, data_format, name)
    rank = x.ndim - 2
    window = _tuple(pool_size, rank, "pool_size")
    strides = window if strides is None else _tuple(strides, rank, "strides")
    # The extra 'same' step repeats the edge value, as Keras on torch does: it never wins a max
    # (a max pool equals TensorFlow's), and in an average it counts as a copy of its neighbour.
    x, pad = _pad(x, _check_padding(padding), window, strides, (1,) * rank, "replicate")
    return _restore(kernels[rank - 1](x, window, strides, pad, **options), data_format)


@_nn_op
def max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """Max pooling: the largest value of each ``pool_size`` window.

    Args:
        inputs: ``(batch, *spatial, channels)`` (channels_last) or ``(batch, channels, *spatial)``,
            1 to 3 spatial axes.
        pool_size: int or tuple, the window.
        strides: int or tuple, the step between windows. Defaults to ``pool_size``.
        padding: ``"valid"`` or ``"same"`` (``ceil(size / stride)`` outputs). Defaults to ``"valid"``.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.max_pool(torch.arange(6.0).reshape(1, 6, 1), 2).flatten()
        tensor([1., 3., 5.])
    """
    return _pool("max_pool", _MAX_POOL, inputs, pool_size, strides, padding, data_format)


@_nn_op
def average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """Average pooling: the mean of each ``pool_size`` window.

    With ``padding="same"``, a symmetric padding is left out of the mean (``count_include_pad``
    off); when the padding is uneven, the extra step at the end repeats the edge value, which
    Keras's torch backend counts in the mean.

    Args:
        inputs: ``(batch, *spatial, channels)`` (channels_last) or ``(batch, channels, *spatial)``,
            1 to 3 spatial axes.
        pool_size: int or tuple, the window.
        strides: int or tuple, the step between windows. Defaults to ``pool_size``.
        padding: ``"valid"`` or ``"same"``. Defaults to ``"valid"``.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.average_pool(torch.arange(6.0).reshape(1, 6, 1), 3).flatten()
        tensor([1., 4.])
    """
    return _pool("average_pool", _AVG_POOL, inputs, pool_size, strides, padding, data_format, count_include_pad=False)


def _adaptive(name, kernels, inputs, output_size, data_format):
    x, data_format = _channels_first(inputs, data_format, name)
    size = _tuple(output_size, x.ndim - 2, "output_size")
    return _restore(kernels[x.ndim - 3](x, size), data_format)


@_nn_op
def adaptive_max_pool(inputs, output_size, data_format=None):
    """Adaptive max pooling: the max over ``output_size`` windows that tile the spatial axes
    (window bounds ``floor(i * size / out)`` to ``ceil((i + 1) * size / out)``).

    Args:
        inputs: ``(batch, *spatial, channels)`` (channels_last) or ``(batch, channels, *spatial)``.
        output_size: int or tuple, the spatial shape of the output.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.adaptive_max_pool(torch.arange(5.0).reshape(1, 5, 1), 2).flatten()
        tensor([2., 4.])
    """
    return _adaptive("adaptive_max_pool", _ADAPTIVE_MAX, inputs, output_size, data_format)


@_nn_op
def adaptive_average_pool(inputs, output_size, data_format=None):
    """Adaptive average pooling: the mean over ``output_size`` windows that tile the spatial
    axes (window bounds ``floor(i * size / out)`` to ``ceil((i + 1) * size / out)``).

    Args:
        inputs: ``(batch, *spatial, channels)`` (channels_last) or ``(batch, channels, *spatial)``.
        output_size: int or tuple, the spatial shape of the output.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.adaptive_average_pool(torch.arange(5.0).reshape(1, 5, 1), 2).flatten()
        tensor([1., 3.])
    """
    return _adaptive("adaptive_average_pool", _ADAPTIVE_AVG, inputs, output_size, data_format)


# ----------------------------------------------------------------------------- patches
@_nn_op
def unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    """Extracts sliding ``kernel_size`` patches of a channels-first image batch (im2col).

    Args:
        x: ``(batch, channels, height, width)``.
        kernel_size: int or ``(kh, kw)``.
        dilation: int or tuple, the spacing of patch elements. Defaults to 1.
        padding: int or tuple, zeros added on both sides. Defaults to 0.
        stride: int or tuple, the step between patches. Defaults to 1.

    Returns:
        ``(batch, channels * kh * kw, patches)``.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.unfold(torch.ones(1, 2, 4, 4), 2).shape
        torch.Size([1, 8, 9])
    """
    return F.unfold(convert_to_tensor(x), kernel_size, dilation, padding, stride)


@_nn_op
def fold(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Sums sliding patches back into a channels-first image batch (col2im, the inverse layout
    of :func:`unfold`; overlapping values add up).

    Args:
        x: ``(batch, channels * kh * kw, patches)``.
        output_size: int or ``(height, width)`` of the image.
        kernel_size: int or ``(kh, kw)``.
        dilation: int or tuple. Defaults to 1.
        padding: int or tuple. Defaults to 0.
        stride: int or tuple. Defaults to 1.

    Returns:
        ``(batch, channels, height, width)``.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.fold(torch.ones(1, 4, 9), (4, 4), 2)[0, 0]
        tensor([[1., 2., 2., 1.],
                [2., 4., 4., 2.],
                [2., 4., 4., 2.],
                [1., 2., 2., 1.]])
    """
    return F.fold(convert_to_tensor(x), output_size, kernel_size, dilation, padding, stride)


def _check_block(name, x, block_size, channels_per_block=None):
    if x.ndim != 4:
        raise ValueError(f"ops.{name} expects a rank-4 image batch. Received input of shape {tuple(x.shape)}.")
    if channels_per_block is not None and channels_per_block % (block_size * block_size):
        raise ValueError(
            f"ops.{name}: the channels ({channels_per_block}) must be a multiple of "
            f"block_size**2 = {block_size * block_size}. Received input of shape {tuple(x.shape)}."
        )


@_nn_op
def depth_to_space(x, block_size, data_format="channels_last"):
    """Moves channels into ``block_size x block_size`` spatial blocks (TensorFlow's
    ``depth_to_space``, torch's ``pixel_shuffle``).

    Args:
        x: ``(batch, height, width, channels)`` (channels_last) or channels-first.
        block_size: the side of the blocks; ``channels`` must be a multiple of its square.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Returns:
        ``(batch, height * b, width * b, channels / b²)`` in the input's data format.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.depth_to_space(torch.arange(4.0).reshape(1, 1, 1, 4), 2)[0, :, :, 0]
        tensor([[0., 1.],
                [2., 3.]])
    """
    x = convert_to_tensor(x)
    if standardize_data_format(data_format) == "channels_first":
        _check_block("depth_to_space", x, block_size, x.shape[1])
        return F.pixel_shuffle(x, block_size)
    _check_block("depth_to_space", x, block_size, x.shape[-1])
    n, h, w, c = x.shape
    # TensorFlow orders the depth (row in block, column in block, channel); pixel_shuffle wants
    # (channel, row, column).
    depth_major = x.reshape(n, h, w, block_size * block_size, -1).transpose(-1, -2).reshape(n, h, w, c)
    return F.pixel_shuffle(depth_major.movedim(-1, 1), block_size).movedim(1, -1)


@_nn_op
def space_to_depth(x, block_size, data_format="channels_last"):
    """Moves ``block_size x block_size`` spatial blocks into channels (TensorFlow's
    ``space_to_depth``, torch's ``pixel_unshuffle``); the inverse of :func:`depth_to_space`.

    Args:
        x: ``(batch, height, width, channels)`` (channels_last) or channels-first; height and
            width must be multiples of ``block_size``.
        block_size: the side of the blocks.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Returns:
        ``(batch, height / b, width / b, channels * b²)`` in the input's data format.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.space_to_depth(torch.arange(4.0).reshape(1, 2, 2, 1), 2).flatten()
        tensor([0., 1., 2., 3.])
    """
    x = convert_to_tensor(x)
    _check_block("space_to_depth", x, block_size)
    if standardize_data_format(data_format) == "channels_first":
        return F.pixel_unshuffle(x, block_size)
    blocks = F.pixel_unshuffle(x.movedim(-1, 1), block_size).movedim(1, -1)  # depth (channel, row, column)
    n, h, w, c = blocks.shape
    return blocks.reshape(n, h, w, -1, block_size * block_size).transpose(-1, -2).reshape(n, h, w, c)
