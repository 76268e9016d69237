"""Audio spectrogram layers (Keras 3's): ``STFTSpectrogram`` (a short-time Fourier transform as a
strided 1-D convolution with STFT kernels) and ``MelSpectrogram`` (``torch.stft``, a mel
filterbank and a decibel scale).
"""

import math

import torch
import torch.nn.functional as F

from plait.initializers import STFT
from plait.layers.base import Layer
from plait.layers.convolutional import same_padding
from plait.layers.validation import data_format as check_data_format
from plait.layers.validation import one_of

_EPSILON = 1e-7  # Keras's backend.epsilon(), the floor under magnitudes before sqrt and log
_MODES = ("log", "magnitude", "psd", "real", "imag", "angle", "stft")


class STFTSpectrogram(Layer):
    """The spectrogram of each channel of a batch of signals, by a convolution whose kernels are
    the windowed Fourier basis (``initializers.STFT``); the kernels are weights, so they can be
    trained, as in Keras.

    Args:
        mode: ``"log"`` (default: log magnitude), ``"magnitude"``, ``"psd"`` (power, the
            non-edge bins doubled), ``"real"``, ``"imag"``, ``"angle"`` or ``"stft"`` (real and
            imaginary parts concatenated on the frequency axis).
        frame_length: the window length (default 256). frame_step: the hop (default half the
            frame). fft_length: the FFT size (default the next power of two of the frame).
        window: a window name, values or None (default ``"hann"``). periodic: a periodic window
            (default False). scaling: ``"density"`` (default), ``"spectrum"`` or None.
        padding: ``"valid"`` (default) or ``"same"``.
        expand_dims: keep channels and frequencies on separate axes (default False: merged).
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Input shape:
        ``(batch, time, channels)`` (``(batch, channels, time)`` channels first), float.
    Output shape:
        ``(batch, frames, channels * bins)``; with ``expand_dims``, ``(batch, frames, bins,
        channels)``. ``bins`` is ``fft_length // 2 + 1`` (twice that for ``"stft"``).

    Example:
        >>> import torch, plait
        >>> layer = plait.layers.STFTSpectrogram(frame_length=64, frame_step=32)
        >>> layer(torch.randn(2, 256, 1)).shape
        torch.Size([2, 7, 33])
    """

    def __init__(
        self,
        mode="log",
        frame_length=256,
        frame_step=None,
        fft_length=None,
        window="hann",
        periodic=False,
        scaling="density",
        padding="valid",
        expand_dims=False,
        data_format=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        who = f"STFTSpectrogram layer '{self.name}'"
        self.mode = one_of(who, "mode", mode, _MODES)
        if not isinstance(frame_length, int) or frame_length < 1:
            raise ValueError(f"{who}: `frame_length` should be a positive integer. Received: {frame_length!r}")
        if frame_step is not None and not (isinstance(frame_step, int) and 1 <= frame_step <= frame_length):
            raise ValueError(
                f"{who}: `frame_step` should be a positive integer not greater than `frame_length` "
                f"({frame_length}). Received: frame_step={frame_step!r}"
            )
        if fft_length is not None and fft_length < frame_length:
            raise ValueError(
                f"{who}: `fft_length` should be at least `frame_length` ({frame_length}). "
                f"Received: fft_length={fft_length!r}"
            )
        if scaling not in (None, "density", "spectrum"):
            raise ValueError(f"{who}: `scaling` should be None, 'density' or 'spectrum'. Received: {scaling!r}")
        self.padding = one_of(who, "padding", padding, ("valid", "same"))
        self.frame_length, self.frame_step, self.fft_length = frame_length, frame_step, fft_length
        self.window, self.periodic, self.scaling = window, bool(periodic), scaling
        self.expand_dims = bool(expand_dims)
        self.data_format = check_data_format(who, data_format)
        self._step = frame_step or frame_length // 2
        self._n_fft = fft_length or 2 ** math.ceil(math.log2(frame_length))

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                f"STFTSpectrogram layer '{self.name}' expects inputs of rank 3 (batch, time, channels). "
                f"Received: shape={tuple(input_shape)}"
            )
        shape = (self.frame_length, 1, self._n_fft // 2 + 1)
        for side in ("real", "imag"):
            if self.mode != ("imag" if side == "real" else "real"):
                setattr(
                    self,
                    f"{side}_kernel",
                    self.add_weight(
                        name=f"{side}_kernel",
                        shape=shape,
                        initializer=STFT(side, self.window, self.scaling, self.periodic),
                    ),
                )

    def _frames(self, signals, kernel):
        """``(batch * channels, 1, time)`` signals through one kernel: ``(batch * channels, bins, frames)``."""
        if self.padding == "same":
            signals = F.pad(signals, same_padding(signals.shape[-1], self.frame_length, self._step))
        weight = kernel.to(signals.dtype).permute(2, 1, 0)  # Keras (taps, 1, bins) -> torch (bins, 1, taps)
        return F.conv1d(signals, weight, stride=self._step)

    def call(self, inputs):
        x = torch.as_tensor(inputs)
        if not x.is_floating_point():
            raise TypeError(f"STFTSpectrogram layer '{self.name}' expects float signals. Received dtype {x.dtype}.")
        if self.data_format == "channels_last":
            x = x.transpose(1, 2)
        batch, channels, _ = x.shape
        signals = x.reshape(batch * channels, 1, -1)
        real = self._frames(signals, self.real_kernel) if self.mode != "imag" else None
        imag = self._frames(signals, self.imag_kernel) if self.mode != "real" else None
        if self.mode == "real":
            out = real
        elif self.mode == "imag":
            out = imag
        elif self.mode == "angle":
            out = torch.atan2(imag, real)
        elif self.mode == "stft":
            out = torch.cat([real, imag], dim=1)
        else:
            power = real.square() + imag.square()
            if self.mode == "psd":
                # One-sided power: every bin but DC and Nyquist counts twice.
                out = power + F.pad(power[:, 1:-1], (0, 0, 1, 1))
            else:
                out = torch.sqrt(power.clamp_min(_EPSILON))
                out = torch.log(out.clamp_min(_EPSILON)) if self.mode == "log" else out
        out = out.reshape(batch, channels, out.shape[1], out.shape[2])  # (batch, channels, bins, frames)
        if self.expand_dims:
            return out.permute(0, 3, 2, 1) if self.data_format == "channels_last" else out.transpose(2, 3)
        out = out.reshape(batch, -1, out.shape[-1])
        return out.transpose(1, 2) if self.data_format == "channels_last" else out

    def compute_output_shape(self, input_shape):
        channels = input_shape[-1] if self.data_format == "channels_last" else input_shape[1]
        length = input_shape[1] if self.data_format == "channels_last" else input_shape[-1]
        bins = (self._n_fft // 2 + 1) * (2 if self.mode == "stft" else 1)
        if length is None:
            frames = None
        elif self.padding == "same":
            frames = math.ceil(length / self._step)
        else:
            frames = max(0, (length - self.frame_length) // self._step + 1)
        if self.expand_dims:
            if self.data_format == "channels_last":
                return (input_shape[0], frames, bins, channels)
            return (input_shape[0], channels, frames, bins)
        merged = None if channels is None else bins * channels
        return (
            (input_shape[0], frames, merged)
            if self.data_format == "channels_last"
            else (input_shape[0], merged, frames)
        )

    def get_config(self):
        return {
            **super().get_config(),
            "mode": self.mode,
            "frame_length": self.frame_length,
            "frame_step": self.frame_step,
            "fft_length": self.fft_length,
            "window": self.window,
            "periodic": self.periodic,
            "scaling": self.scaling,
            "padding": self.padding,
            "data_format": self.data_format,
            "expand_dims": self.expand_dims,
        }


def _hz_to_mel(hertz):
    """HTK's mel scale, ``1127 ln(1 + f / 700)``."""
    return 1127.0 * torch.log1p(hertz / 700.0)


def mel_filterbank(num_mel_bins, num_spectrogram_bins, sampling_rate, lower_hertz, upper_hertz, dtype=torch.float32):
    """Triangular mel filters (peak 1, HTK scale) as a ``(num_spectrogram_bins, num_mel_bins)``
    matrix that maps a linear-frequency spectrum to mel bands; the DC bin gets no weight."""
    nyquist = sampling_rate / 2.0
    bin_mel = _hz_to_mel(torch.linspace(0.0, nyquist, num_spectrogram_bins, dtype=dtype)[1:]).unsqueeze(1)
    edges = torch.linspace(
        float(_hz_to_mel(torch.tensor(float(lower_hertz)))),
        float(_hz_to_mel(torch.tensor(float(upper_hertz)))),
        num_mel_bins + 2,
        dtype=dtype,
    )
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bin_mel - lower) / (center - lower)
    falling = (upper - bin_mel) / (upper - center)
    weights = torch.clamp(torch.minimum(rising, falling), min=0.0)
    return F.pad(weights, (0, 0, 1, 0))


class MelSpectrogram(Layer):
    """The mel spectrogram of a batch of mono signals: ``torch.stft`` (centred, reflect
    padding), magnitude to the power ``mag_exp``, a mel filterbank, then optionally decibels.

    Args:
        fft_length: the FFT size (default 2048). sequence_stride: the hop (default 512).
        sequence_length: the window length (default ``fft_length``).
        window: ``"hann"`` (default), ``"hamming"`` or None (periodic windows).
        sampling_rate: the signals' rate in Hz (default 16000).
        num_mel_bins: the mel bands (default 128). min_freq, max_freq: their range in Hz
            (default 20 and half the sampling rate).
        power_to_db: convert to decibels (default True): ``10 log10(max(p, min_power))`` minus
            the reference's decibels, floored ``top_db`` (default 80) under the batch's maximum.
        mag_exp: the magnitude's exponent (default 2: power). min_power, ref_power: as above.

    Input shape:
        ``(batch, samples)`` or ``(samples,)``.
    Output shape:
        ``(batch, num_mel_bins, frames)`` with ``frames = samples // sequence_stride + 1``.

    Example:
        >>> import torch, plait
        >>> layer = plait.layers.MelSpectrogram(fft_length=256, sequence_stride=128, num_mel_bins=40)
        >>> layer(torch.randn(2, 1024)).shape
        torch.Size([2, 40, 9])
    """

    def __init__(
        self,
        fft_length=2048,
        sequence_stride=512,
        sequence_length=None,
        window="hann",
        sampling_rate=16000,
        num_mel_bins=128,
        min_freq=20.0,
        max_freq=None,
        power_to_db=True,
        top_db=80.0,
        mag_exp=2.0,
        min_power=1e-10,
        ref_power=1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        who = f"MelSpectrogram layer '{self.name}'"
        self.fft_length, self.sequence_stride = fft_length, sequence_stride
        self.sequence_length = sequence_length or fft_length
        if self.fft_length < self.sequence_length:
            raise ValueError(
                f"{who}: `fft_length` must be at least `sequence_length`. Received: "
                f"sequence_length={self.sequence_length}, fft_length={fft_length}"
            )
        if window not in ("hann", "hamming", None):
            raise ValueError(f"{who}: `window` should be 'hann', 'hamming' or None. Received: window={window!r}")
        self.window, self.sampling_rate, self.num_mel_bins = window, sampling_rate, num_mel_bins
        self.min_freq, self.max_freq = min_freq, max_freq or int(sampling_rate / 2)
        self.power_to_db, self.top_db, self.mag_exp = power_to_db, top_db, mag_exp
        self.min_power, self.ref_power = min_power, ref_power

    def _window(self, dtype, device):
        n = self.sequence_length
        if self.window == "hann":
            return torch.hann_window(n, periodic=True, dtype=dtype, device=device)
        if self.window == "hamming":
            return torch.hamming_window(n, periodic=True, dtype=dtype, device=device)
        return torch.ones(n, dtype=dtype, device=device)

    def call(self, inputs):
        x = torch.as_tensor(inputs)
        x = x if x.dtype in (torch.float32, torch.float64) else x.float()
        lead = x.shape[:-1]
        spectrum = torch.stft(
            x.reshape(-1, x.shape[-1]),
            n_fft=self.fft_length,
            hop_length=self.sequence_stride,
            win_length=self.sequence_length,
            window=self._window(x.dtype, x.device),
            center=True,
            return_complex=True,
        )  # (signals, bins, frames)
        power = spectrum.abs().pow(self.mag_exp)
        bank = mel_filterbank(
            self.num_mel_bins, power.shape[1], self.sampling_rate, self.min_freq, self.max_freq, x.dtype
        ).to(x.device)
        mel = torch.einsum("sbf,bm->smf", power, bank)
        if self.power_to_db:
            db = 10.0 * torch.log10(mel.clamp_min(self.min_power))
            db = db - 10.0 * math.log10(max(abs(self.ref_power), self.min_power))
            mel = torch.maximum(db, db.max() - self.top_db)  # the floor is under the whole batch's peak
        return mel.reshape(*lead, *mel.shape[1:])

    def compute_output_shape(self, input_shape):
        samples = input_shape[-1]
        frames = None if samples is None else samples // self.sequence_stride + 1
        return (*input_shape[:-1], self.num_mel_bins, frames)

    def get_config(self):
        return {
            **super().get_config(),
            "fft_length": self.fft_length,
            "sequence_stride": self.sequence_stride,
            "sequence_length": self.sequence_length,
            "window": self.window,
            "sampling_rate": self.sampling_rate,
            "num_mel_bins": self.num_mel_bins,
            "min_freq": self.min_freq,
            "max_freq": self.max_freq,
            "power_to_db": self.power_to_db,
            "top_db": self.top_db,
            "mag_exp": self.mag_exp,
            "min_power": self.min_power,
            "ref_power": self.ref_power,
        }
