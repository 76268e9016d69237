"""Math ops (Keras 3's ``keras.ops.math``) on torch: segment reductions, top_k, FFTs, ...

Example:
    >>> import plait
    >>> plait.ops.math.logsumexp([0.0, 0.0])
    tensor(0.6931)
"""

from plait.ops import _math as _impl
from plait.ops._op import op as _op


def _math(fn):
    return _op(fn, "math")


cdist = _math(_impl.cdist)
erf = _math(_impl.erf)
erfc = _math(_impl.erfc)
erfinv = _math(_impl.erfinv)
extract_sequences = _math(_impl.extract_sequences)
fft = _math(_impl.fft)
fft2 = _math(_impl.fft2)
ifft2 = _math(_impl.ifft2)
in_top_k = _math(_impl.in_top_k)
irfft = _math(_impl.irfft)
istft = _math(_impl.istft)
logdet = _math(_impl.logdet)
logsumexp = _math(_impl.logsumexp)
rfft = _math(_impl.rfft)
rsqrt = _math(_impl.rsqrt)
segment_max = _math(_impl.segment_max)
segment_min = _math(_impl.segment_min)
segment_prod = _math(_impl.segment_prod)
segment_sum = _math(_impl.segment_sum)
stft = _math(_impl.stft)
top_k = _math(_impl.top_k)

__all__ = [
    "cdist",
    "erf",
    "erfc",
    "erfinv",
    "extract_sequences",
    "fft",
    "fft2",
    "ifft2",
    "in_top_k",
    "irfft",
    "istft",
    "logdet",
    "logsumexp",
    "rfft",
    "rsqrt",
    "segment_max",
    "segment_min",
    "segment_prod",
    "segment_sum",
    "stft",
    "top_k",
    "view_as_complex",
    "view_as_real",
]


# ---- front ends (keras/src/ops/math.py)
@_math
def view_as_complex(x):
    x = _impl.convert_to_tensor(x)
    if x.ndim < 1 or x.shape[-1] != 2:
        raise ValueError(
            f"Last dimension of input must be size 2 (real and imaginary). Received shape: {tuple(x.shape)}"
        )
    return x[..., 0].to(_impl.torch.complex64) + 1j * x[..., 1].to(_impl.torch.complex64)


@_math
def view_as_real(x):
    x = _impl.convert_to_tensor(x)
    return _impl.torch.stack((_impl.torch.real(x), _impl.torch.imag(x)), dim=-1)
