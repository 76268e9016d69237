"""Math ops (Keras 3's ``keras.ops.math``) on torch: segment reductions, top_k, FFTs, ...

Example:
    >>> import plait
    >>> plait.ops.math.logsumexp([0.0, 0.0])
    tensor(0.6931)
"""

from plait.ops import _math as _impl
from plait.ops._op import op as _op

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

cdist = _op(_impl.cdist, "math")
erf = _op(_impl.erf, "math")
erfc = _op(_impl.erfc, "math")
erfinv = _op(_impl.erfinv, "math")
extract_sequences = _op(_impl.extract_sequences, "math")
fft = _op(_impl.fft, "math")
fft2 = _op(_impl.fft2, "math")
ifft2 = _op(_impl.ifft2, "math")
in_top_k = _op(_impl.in_top_k, "math")
irfft = _op(_impl.irfft, "math")
istft = _op(_impl.istft, "math")
logdet = _op(_impl.logdet, "math")
logsumexp = _op(_impl.logsumexp, "math")
rfft = _op(_impl.rfft, "math")
rsqrt = _op(_impl.rsqrt, "math")
segment_max = _op(_impl.segment_max, "math")
segment_min = _op(_impl.segment_min, "math")
segment_prod = _op(_impl.segment_prod, "math")
segment_sum = _op(_impl.segment_sum, "math")
stft = _op(_impl.stft, "math")
top_k = _op(_impl.top_k, "math")
view_as_complex = _op(_impl.view_as_complex, "math")
view_as_real = _op(_impl.view_as_real, "math")
