"""Math ops on torch: the implementations behind :mod:`plait.ops.math`.

Most are one torch call. Keras's conventions that torch does not share are written here once:
complex numbers travel as ``(real, imag)`` pairs of float tensors; segment reductions drop ids
outside ``[0, num_segments)`` and leave empty segments at the reduction's identity; ``stft``
takes any leading batch dims and puts frames before frequency bins; ``istft`` outside torch's
own case normalizes the window as TensorFlow's ``inverse_stft_window_fn`` does.
"""

import torch
import torch.nn.functional as F

from plait.ops._backend import cast, convert_to_tensor, get_device, result_type, standardize_dtype

# ----------------------------------------------------------------------------- segments
# Each segment reduction: torch's scatter_reduce name and the value an empty segment keeps.
_SEGMENT_REDUCTIONS = {
    "sum": ("sum", lambda dtype: 0),
    "prod": ("prod", lambda dtype: 1),
    "max": ("amax", lambda dtype: -torch.inf if dtype.is_floating_point else torch.iinfo(dtype).min),
    "min": ("amin", lambda dtype: torch.inf if dtype.is_floating_point else torch.iinfo(dtype).max),
}


def _segment_reduce(kind, data, segment_ids, num_segments):
    data, ids = convert_to_tensor(data), convert_to_tensor(segment_ids)
    if ids.ndim != 1 or ids.shape[0] != data.shape[0]:
        raise ValueError(
            f"ops.segment_{kind}: `segment_ids` must be a vector with one id per row of `data`. "
            f"Received segment_ids.shape={tuple(ids.shape)}, data.shape={tuple(data.shape)}."
        )
    reduce, identity = _SEGMENT_REDUCTIONS[kind]
    # Half precision accumulates in float32 (as Keras); integers stay exact in their own dtype.
    work = data.to(torch.promote_types(data.dtype, torch.float32)) if data.is_floating_point() else data
    n = int(ids.max()) + 1 if num_segments is None else int(num_segments)
    # Ids outside [0, n) go to one extra row, dropped at the end.
    ids = torch.where((ids >= 0) & (ids < n), ids, n).long()
    out = torch.full((n + 1, *data.shape[1:]), identity(work.dtype), dtype=work.dtype, device=data.device)
    index = ids.reshape(-1, *(1,) * (data.ndim - 1)).expand(data.shape)
    return out.scatter_reduce_(0, index, work, reduce)[:n].to(data.dtype)


def segment_sum(data, segment_ids, num_segments=None, sorted=False):
    """Sum of the rows of ``data`` that share a segment id.

    Args:
        data: ``(n, ...)`` tensor.
        segment_ids: ``(n,)`` integer ids; ids outside ``[0, num_segments)`` are dropped.
        num_segments: number of segments (default ``max(segment_ids) + 1``).
        sorted: whether the ids are sorted (a hint; the result is the same).

    Returns:
        ``(num_segments, ...)``; an empty segment is 0.

    Example:
        >>> from plait.ops import math
        >>> math.segment_sum([1.0, 2.0, 10.0, 20.0], [0, 0, 1, 1])
        tensor([ 3., 30.])
    """
    return _segment_reduce("sum", data, segment_ids, num_segments)


def segment_max(data, segment_ids, num_segments=None, sorted=False):
    """Maximum of the rows of ``data`` that share a segment id (``-inf`` for an empty segment).

    Arguments as :func:`segment_sum`.

    Example:
        >>> from plait.ops import math
        >>> math.segment_max([1.0, 2.0, 10.0, 20.0], [0, 0, 2, 2])
        tensor([ 2., -inf, 20.])
    """
    return _segment_reduce("max", data, segment_ids, num_segments)


def segment_min(data, segment_ids, num_segments=None, sorted=False):
    """Minimum of the rows of ``data`` that share a segment id (``inf`` for an empty segment).

    Arguments as :func:`segment_sum`.

    Example:
        >>> from plait.ops import math
        >>> math.segment_min([1.0, 2.0, 10.0, 20.0], [0, 0, 1, 1])
        tensor([ 1., 10.])
    """
    return _segment_reduce("min", data, segment_ids, num_segments)


def segment_prod(data, segment_ids, num_segments=None, sorted=False):
    """Product of the rows of ``data`` that share a segment id (1 for an empty segment).

    Arguments as :func:`segment_sum`.

    Example:
        >>> from plait.ops import math
        >>> math.segment_prod([1.0, 2.0, 10.0, 20.0], [0, 0, 1, 1])
        tensor([  2., 200.])
    """
    return _segment_reduce("prod", data, segment_ids, num_segments)


# ----------------------------------------------------------------------------- ranking, reductions
def top_k(x, k, sorted=True):
    """The ``k`` largest values along the last axis and their indices.

    Args:
        x: input tensor.
        k: how many.
        sorted: return them in descending order.

    Returns:
        ``(values, indices)``, both ``(..., k)``.

    Example:
        >>> from plait.ops import math
        >>> math.top_k([5.0, 2.0, 7.0, 1.0], 2)
        torch.return_types.topk(
        values=tensor([7., 5.]),
        indices=tensor([2, 0]))
    """
    return torch.topk(convert_to_tensor(x), k, sorted=sorted)


def in_top_k(targets, predictions, k):
    """Whether each target's prediction is among the ``k`` largest of its row (ties count in).

    Args:
        targets: ``(batch,)`` class indices.
        predictions: ``(batch, classes)`` scores.
        k: how many top scores count.

    Returns:
        ``(batch,)`` booleans.

    Example:
        >>> from plait.ops import math
        >>> math.in_top_k([1, 0], [[0.2, 0.5, 0.3], [0.1, 0.1, 0.8]], 1)
        tensor([ True, False])
    """
    predictions = convert_to_tensor(predictions)
    targets = convert_to_tensor(targets).long()
    target_scores = predictions.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return target_scores >= torch.topk(predictions, k).values[..., -1]


def logsumexp(x, axis=None, keepdims=False):
    """``log(sum(exp(x)))`` over ``axis`` (all axes by default), computed without overflow.

    Example:
        >>> from plait.ops import math
        >>> math.logsumexp([[0.0, 0.0], [1.0, 1.0]], axis=1)
        tensor([0.6931, 1.6931])
    """
    x = convert_to_tensor(x)
    return torch.logsumexp(x, dim=tuple(range(x.ndim)) if axis is None else axis, keepdim=keepdims)


def cdist(x, y):
    """Euclidean distance between every row of ``x`` and every row of ``y``.

    Args:
        x: ``(..., p, d)``.
        y: ``(..., r, d)``; the leading dims broadcast with ``x``'s.

    Returns:
        ``(..., p, r)``.

    Example:
        >>> from plait.ops import math
        >>> math.cdist([[0.0, 0.0], [1.0, 1.0]], [[3.0, 4.0]])
        tensor([[5.0000],
                [3.6056]])
    """
    x, y = convert_to_tensor(x), convert_to_tensor(y)
    if x.ndim < 2 or y.ndim < 2 or x.shape[-1] != y.shape[-1]:
        raise ValueError(
            "ops.cdist: expected `x` (..., p, d) and `y` (..., r, d) with the same d. "
            f"Received x.shape={tuple(x.shape)}, y.shape={tuple(y.shape)}."
        )
    dtype = result_type(x.dtype, y.dtype, float)
    # Differences rather than torch's |x|^2 + |y|^2 - 2xy: exact, as Keras's numbers are.
    return torch.cdist(cast(x, dtype), cast(y, dtype), compute_mode="donot_use_mm_for_euclid_dist")


# ----------------------------------------------------------------------------- elementwise
def rsqrt(x):
    """``1 / sqrt(x)``, element-wise.

    Example:
        >>> from plait.ops import math
        >>> math.rsqrt([4.0, 0.25])
        tensor([0.5000, 2.0000])
    """
    return torch.rsqrt(convert_to_tensor(x))


def erf(x):
    """The Gauss error function ``2/sqrt(pi) * integral_0^x exp(-t^2) dt``, element-wise.

    Example:
        >>> from plait.ops import math
        >>> math.erf([0.0, 1.0])
        tensor([0.0000, 0.8427])
    """
    return torch.erf(convert_to_tensor(x))


def erfc(x):
    """The complementary error function ``1 - erf(x)``, accurate for large ``x``.

    Example:
        >>> from plait.ops import math
        >>> math.erfc([0.0, 1.0])
        tensor([1.0000, 0.1573])
    """
    return torch.erfc(convert_to_tensor(x))


def erfinv(x):
    """The inverse error function on ``(-1, 1)``: ``erf(erfinv(x)) = x``.

    Example:
        >>> from plait.ops import math
        >>> math.erfinv([0.0, 0.5])
        tensor([0.0000, 0.4769])
    """
    return torch.erfinv(convert_to_tensor(x))


def logdet(x):
    """``log(det(x))`` of each square matrix in ``x`` (NaN where the determinant is negative).

    Example:
        >>> from plait.ops import math
        >>> math.logdet([[2.0, 0.0], [0.0, 3.0]])
        tensor(1.7918)
    """
    return torch.logdet(convert_to_tensor(x))


# ----------------------------------------------------------------------------- Fourier transforms
def complex_from_pair(x, name="fft"):
    """A complex tensor from Keras's ``(real, imag)`` pair of same-shape float tensors."""
    if not isinstance(x, (tuple, list)) or len(x) != 2:
        raise ValueError(f"ops.{name}: expected `x` as a pair (real, imag) of tensors. Received: x={x!r}")
    real, imag = convert_to_tensor(x[0]), convert_to_tensor(x[1])
    if real.shape != imag.shape or not (real.is_floating_point() and imag.is_floating_point()):
        raise ValueError(
            f"ops.{name}: the real and imaginary parts must be float tensors of one shape. Received "
            f"{standardize_dtype(real.dtype)} {tuple(real.shape)} and {standardize_dtype(imag.dtype)} "
            f"{tuple(imag.shape)}."
        )
    return torch.complex(real, imag)


def _pair(z):
    return z.real, z.imag


def fft(x):
    """1-D discrete Fourier transform over the last axis.

    Args:
        x: ``(real, imag)`` pair of float tensors.

    Returns:
        The transform as a ``(real, imag)`` pair of the same shape.

    Example:
        >>> from plait.ops import math
        >>> math.fft(([1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]))[0]
        tensor([4., 0., 0., 0.])
    """
    return _pair(torch.fft.fft(complex_from_pair(x, "fft")))


def fft2(x):
    """2-D discrete Fourier transform over the last two axes (``(real, imag)`` in and out).

    Example:
        >>> import torch
        >>> from plait.ops import math
        >>> math.fft2((torch.ones(2, 2), torch.zeros(2, 2)))[0]
        tensor([[4., 0.],
                [0., 0.]])
    """
    return _pair(torch.fft.fft2(complex_from_pair(x, "fft2")))


def ifft2(x):
    """Inverse 2-D discrete Fourier transform over the last two axes (``(real, imag)`` in and out).

    Example:
        >>> import torch
        >>> from plait.ops import math
        >>> math.ifft2((torch.full((2, 2), 4.0), torch.zeros(2, 2)))[0]
        tensor([[4., 0.],
                [0., 0.]])
    """
    return _pair(torch.fft.ifft2(complex_from_pair(x, "ifft2")))


def rfft(x, fft_length=None):
    """1-D Fourier transform of a real signal over the last axis: the ``fft_length // 2 + 1``
    non-negative frequencies, as a ``(real, imag)`` pair.

    Args:
        x: real tensor ``(..., samples)``.
        fft_length: transform length (the signal is cropped or zero-padded to it; default:
            ``samples``).

    Example:
        >>> from plait.ops import math
        >>> math.rfft([1.0, 2.0, 3.0, 4.0])[0]
        tensor([10., -2., -2.])
    """
    return _pair(torch.fft.rfft(convert_to_tensor(x), n=fft_length))


def irfft(x, fft_length=None):
    """Inverse of :func:`rfft`: a real signal from the ``(real, imag)`` pair of its non-negative
    frequencies (``fft_length`` samples; default ``2 * (bins - 1)``).

    Example:
        >>> from plait.ops import math
        >>> math.irfft(([10.0, -2.0, -2.0], [0.0, 2.0, 0.0]))
        tensor([1., 2., 3., 4.])
    """
    return torch.fft.irfft(complex_from_pair(x, "irfft"), n=fft_length)


_WINDOWS = {"hann": torch.hann_window, "hamming": torch.hamming_window}


def _window(window, length, dtype, name):
    """The analysis window as a tensor of ``length`` (periodic, as for spectral analysis)."""
    if window is None:
        return None
    if isinstance(window, str):
        if window not in _WINDOWS:
            raise ValueError(f"ops.{name}: `window` must be 'hann', 'hamming', a tensor or None. Received: {window!r}")
        return _WINDOWS[window](length, periodic=True, dtype=dtype, device=get_device())
    window = convert_to_tensor(window, dtype=standardize_dtype(dtype))
    if tuple(window.shape) != (length,):
        raise ValueError(
            f"ops.{name}: `window` must have shape ({length},) (sequence_length). Received: {tuple(window.shape)}."
        )
    return window


def stft(x, sequence_length, sequence_stride, fft_length, window="hann", center=True):
    """Short-time Fourier transform over the last axis.

    Args:
        x: float32 / float64 signal ``(..., samples)``.
        sequence_length: samples per frame (the window's length).
        sequence_stride: samples between frame starts.
        fft_length: transform length per frame (``>= sequence_length``; the windowed frame is
            zero-padded, centered).
        window: ``"hann"`` (default), ``"hamming"``, a ``(sequence_length,)`` tensor or ``None``.
        center: reflect-pad the signal by ``fft_length // 2`` on both sides first, so frame ``t``
            is centered at sample ``t * sequence_stride``.

    Returns:
        ``(real, imag)``, each ``(..., frames, fft_length // 2 + 1)``.

    Example:
        >>> import torch
        >>> from plait.ops import math
        >>> math.stft(torch.ones(2, 32), 8, 4, 8)[0].shape
        torch.Size([2, 9, 5])
    """
    x = convert_to_tensor(x)
    if x.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"ops.stft: `x` must be float32 or float64. Received: {standardize_dtype(x.dtype)}.")
    if fft_length < sequence_length:
        raise ValueError(
            f"ops.stft: `fft_length` must be >= `sequence_length`. Received fft_length={fft_length}, "
            f"sequence_length={sequence_length}."
        )
    win = _window(window, sequence_length, x.dtype, "stft")
    if win is None:
        win = torch.ones(sequence_length, dtype=x.dtype, device=x.device)
    # torch.stft takes one batch dim and puts bins before frames.
    spectrum = torch.stft(
        x.reshape(-1, x.shape[-1]),
        n_fft=fft_length,
        hop_length=sequence_stride,
        win_length=sequence_length,
        window=win,
        center=center,
        return_complex=True,
    )
    return _pair(spectrum.reshape(*x.shape[:-1], *spectrum.shape[-2:]).transpose(-2, -1))


def _overlap_add(frames, stride):
    """Sum of ``(..., n, length)`` frames placed ``stride`` samples apart: ``(..., (n - 1) * stride + length)``."""
    *batch, n, length = frames.shape
    total = (n - 1) * stride + length
    # fold is torch's overlap-add: each frame is one column of a (1, length) kernel's patches.
    columns = frames.reshape(-1, n, length).transpose(1, 2)
    return F.fold(columns, output_size=(1, total), kernel_size=(1, length), stride=(1, stride)).reshape(*batch, total)


def istft(x, sequence_length, sequence_stride, fft_length, length=None, window="hann", center=True):
    """Inverse short-time Fourier transform: the signal whose :func:`stft` is ``x``.

    Args:
        x: ``(real, imag)`` pair, each ``(..., frames, fft_length // 2 + 1)``.
        sequence_length, sequence_stride, fft_length, window, center: as given to :func:`stft`.
        length: crop the output to this many samples (default: all the frames cover, less the
            ``center`` padding).

    Returns:
        ``(..., samples)`` real signal.

    Example:
        >>> import torch
        >>> from plait.ops import math
        >>> signal = torch.sin(torch.arange(32.0))
        >>> back = math.istft(math.stft(signal, 8, 4, 8), 8, 4, 8)
        >>> torch.allclose(back, signal, atol=1e-5)
        True
    """
    spectrum = complex_from_pair(x, "istft")
    win = _window(window, sequence_length, spectrum.real.dtype, "istft")
    if win is not None and center and sequence_length == fft_length:
        # torch's own inverse (what Keras's torch backend calls here): it divides by the summed
        # squared windows at each output sample.
        flat = spectrum.reshape(-1, *spectrum.shape[-2:]).transpose(-2, -1)
        signal = torch.istft(flat, fft_length, sequence_stride, sequence_length, win, center=True, length=length)
        return signal.reshape(*spectrum.shape[:-2], signal.shape[-1])
    frames = torch.fft.irfft(spectrum, n=fft_length)
    if win is not None:
        # TensorFlow's inverse window (Keras's rule elsewhere): the window, zero-padded to
        # fft_length and centered, over the sum of the squared windows that overlap each phase
        # of the stride.
        left = (fft_length - sequence_length) // 2
        win = F.pad(win, (left, fft_length - sequence_length - left))
        phases = -(-fft_length // sequence_stride) * sequence_stride
        overlap = F.pad(win.square(), (0, phases - fft_length)).reshape(-1, sequence_stride).sum(0)
        frames = frames * (win / overlap.repeat(phases // sequence_stride)[:fft_length])
    signal = _overlap_add(frames, sequence_stride)
    start = fft_length // 2 if center else 0
    if length is not None:
        return signal[..., start : start + length]
    return signal[..., start : signal.shape[-1] - start]


def extract_sequences(x, sequence_length, sequence_stride):
    """Frames of ``sequence_length`` samples every ``sequence_stride`` samples of the last axis.

    Returns:
        ``(..., frames, sequence_length)``, ``frames = 1 + (samples - sequence_length) // stride``.

    Example:
        >>> from plait.ops import math
        >>> math.extract_sequences([1.0, 2.0, 3.0, 4.0, 5.0], 3, 2)
        tensor([[1., 2., 3.],
                [3., 4., 5.]])
    """
    # A copy, not unfold's view: writing into one frame must not change its neighbours.
    return convert_to_tensor(x).unfold(-1, sequence_length, sequence_stride).clone()


def view_as_complex(x):
    """A complex64 tensor from a real one whose last axis (size 2) holds (real, imag).

    Example:
        >>> from plait.ops import math
        >>> math.view_as_complex([[1.0, 2.0], [3.0, 4.0]])
        tensor([1.+2.j, 3.+4.j])
    """
    x = convert_to_tensor(x)
    if x.ndim < 1 or x.shape[-1] != 2:
        raise ValueError(
            f"ops.view_as_complex: the last axis must have size 2 (real, imag). Received shape {tuple(x.shape)}."
        )
    # Keras's result is complex64 whatever the input's precision.
    return torch.complex(x[..., 0].float(), x[..., 1].float())


def view_as_real(x):
    """A real tensor ``(..., 2)`` holding the real and imaginary parts of complex ``x``.

    Example:
        >>> import torch
        >>> from plait.ops import math
        >>> math.view_as_real(torch.tensor([1 + 2j]))
        tensor([[1., 2.]])
    """
    x = convert_to_tensor(x)
    if not x.is_complex():
        raise TypeError(f"ops.view_as_real: expected a complex tensor. Received {standardize_dtype(x.dtype)}.")
    return torch.view_as_real(x.resolve_conj()).clone()  # a copy, as Keras's stack gives
