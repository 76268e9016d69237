"""Calibration for GPTQ and AWQ: the token windows, the block-by-block walk through the model
with forward hooks gathering each layer's input statistics, and the entry points
``model.quantize("gptq" | "awq")`` calls once the layers hold their placeholder variables.

The walk follows Keras 3.15: the calibration windows run through the ``pre_block_layers``; then
each of the ``sequential_blocks`` in turn has its quantizable layers observed (a forward
pre-hook on each: the GPTQ Hessian, or AWQ's largest input magnitudes), quantized, and the
block's outputs (first item of the batch, as Keras takes ``block(x)[0]``) become the next
block's inputs, so later blocks see the error of the earlier ones.

Example:
    >>> from plait.quantizers.calibration import calibration_windows
    >>> windows = calibration_windows([list(range(10))], tokenizer=None, sequence_length=4, num_samples=3)
    >>> windows.shape, windows.dtype
    ((3, 1, 4), dtype('int32'))
"""

import math
import re
import zlib

import numpy as np
import torch

from plait.quantizers.awq import ActivationMaxima, awq_quantize_matrix
from plait.quantizers.gptq import HessianEstimate, gptq_quantize_matrix, inverse_hessian_factor

# The first window's start, before the modulo: a fixed number (Keras 3.15 uses a salted hash).
WINDOW_SEED = zlib.crc32(b"gptq-calib:42")


def calibration_windows(dataset, tokenizer, sequence_length, num_samples):
    """``num_samples`` windows of ``sequence_length`` tokens cut from the joined dataset.

    Strings are read with ``tokenizer.tokenize``; anything else is taken as token ids. A
    dataset too short is repeated. Windows start at evenly strided offsets (Keras's layout)
    from a first start of ``WINDOW_SEED % (last start + 1)``. Keras 3.15 takes that number from
    ``hash(("gptq-calib", 42))``, which Python salts per process (unless ``PYTHONHASHSEED`` is
    set), so its windows change from run to run; plait's are the same every run.

    Returns:
        int32 array ``(num_samples, 1, sequence_length)``.
    """
    if isinstance(dataset, (str, bytes)) or not hasattr(dataset, "__iter__"):
        raise TypeError(
            "The calibration `dataset` must be an iterable of strings or of token-id arrays (a list, a "
            f"generator, a NumPy array). Received: {type(dataset).__name__}"
        )
    items = list(dataset)
    if not items:
        raise ValueError("The calibration `dataset` is empty.")
    if isinstance(items[0], str):
        if not hasattr(tokenizer, "tokenize"):
            raise TypeError(
                f"A dataset of strings needs a tokenizer with a `tokenize` method. Received: tokenizer={tokenizer!r}"
            )
        pieces = [_as_numpy(tokenizer.tokenize(text)).reshape(-1) for text in items]
    else:
        pieces = [_as_numpy(item).reshape(-1) for item in items]
    tokens = np.concatenate(pieces).astype(np.int32, copy=False)
    needed = num_samples * sequence_length
    if tokens.size < needed:
        tokens = np.tile(tokens, math.ceil(needed / max(1, tokens.size)))
    last_start = tokens.size - sequence_length
    if last_start < 0:
        raise ValueError(f"Not enough tokens to form one sample of length {sequence_length} (have {tokens.size}).")
    stride = max(1, (last_start + 1) // num_samples)
    offset = WINDOW_SEED % (last_start + 1)
    starts = (offset + np.arange(num_samples, dtype=np.int64) * stride) % (last_start + 1)
    windows = np.lib.stride_tricks.sliding_window_view(tokens, sequence_length)[starts]
    return windows.astype(np.int32)[:, None, :]


def _as_numpy(value):
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def selected(layer, filters):
    """Whether ``filters`` (None, a regex, a list of them, or a callable) selects ``layer``."""
    if filters is None:
        return True
    if isinstance(filters, str):
        return re.search(filters, layer.name) is not None
    if isinstance(filters, (list, tuple)):
        return any(re.search(pattern, layer.name) for pattern in filters)
    return bool(filters(layer))


def _targets(block, mode, filters):
    """The layers of ``block`` (itself included) waiting for ``mode``'s calibration."""
    found = {}
    for name, module in block.named_modules():
        if getattr(module, "quantization_mode", None) == mode and hasattr(module, "calibration_matrix"):
            if selected(module, filters):
                found[name or module.name] = module
    return found


class _GPTQObserver:
    def __init__(self, layer, config):
        self.layer, self.config = layer, config
        self.rows = layer.calibration_matrix().shape[0]
        self.estimate = HessianEstimate(self.rows)

    def observe(self, inputs):
        self.estimate.update(inputs.reshape(-1, self.rows))

    def finish(self):
        config = self.config
        weights = self.layer.calibration_matrix().detach().to(torch.float32).cpu()
        factor, diagonal = inverse_hessian_factor(self.estimate.hessian, config.hessian_damping)
        quantized, scale, zero, g_idx = gptq_quantize_matrix(
            weights.T,
            factor,
            bits=config.weight_bits,
            group_size=config.group_size,
            symmetric=config.symmetric,
            per_channel=config.per_channel,
            activation_order=config.activation_order,
            order_metric=diagonal,
        )
        self.layer.set_calibrated(quantized, scale, zero, g_idx)


class _AWQObserver:
    def __init__(self, layer, config):
        self.layer, self.config = layer, config
        self.rows = layer.calibration_matrix().shape[0]
        self.maxima = ActivationMaxima(self.rows)

    def observe(self, inputs):
        self.maxima.update(inputs.reshape(-1, self.rows))

    def finish(self):
        weights = self.layer.calibration_matrix().detach().to(torch.float32).cpu()
        quantized, scale, zero, awq_scales, g_idx = awq_quantize_matrix(
            weights.T,
            self.maxima.maxima,
            num_grid_points=self.config.num_grid_points,
            group_size=self.config.group_size,
        )
        self.layer.set_calibrated(quantized, scale, zero, g_idx, awq_scales=awq_scales)


_OBSERVERS = {"gptq": _GPTQObserver, "awq": _AWQObserver}


def _observing(observer):
    def hook(module, args, kwargs):
        observer.observe(args[0] if args else kwargs["inputs"])

    return hook


def _batched(x):
    return x.unsqueeze(0) if x.dim() == 2 else x


def check_request(config, structure):
    """Check a GPTQ/AWQ request before any layer changes: the config has a dataset and a
    tokenizer, and :func:`check_structure`."""
    if config.dataset is None or config.tokenizer is None:
        raise ValueError(
            f"{config.mode.upper()} quantization requires a dataset and a tokenizer: pass both in the "
            f"{type(config).__name__} (received dataset={type(config.dataset).__name__}, "
            f"tokenizer={type(config.tokenizer).__name__})."
        )
    return check_structure(config.mode, structure)


def check_structure(mode, structure):
    """``structure`` as a dict with a non-empty ``sequential_blocks`` list (ValueError otherwise)."""
    if structure is None:
        raise ValueError(
            f"For mode='{mode}', a valid quantization structure must be provided either via "
            "`config.quantization_layer_structure` or by overriding `model.get_quantization_layer_structure(mode)`. "
            "The structure should be a dictionary with keys 'pre_block_layers' and 'sequential_blocks'."
        )
    if not isinstance(structure, dict):
        raise TypeError(
            f"The quantization structure for mode='{mode}' must be a dict with keys 'pre_block_layers' and "
            f"'sequential_blocks'. Received: {type(structure).__name__}"
        )
    if not structure.get("sequential_blocks"):
        raise ValueError(
            f"No sequential blocks found in the quantization structure for mode='{mode}' "
            f"(its 'sequential_blocks' is empty). Received keys: {sorted(structure)}"
        )
    return structure


@torch.no_grad()
def calibrate(config, structure, filters=None):
    """Calibrate and quantize the layers of ``structure``'s blocks (``config.mode``: ``"gptq"``
    or ``"awq"``); the layers must hold the mode's placeholder variables (``layer.quantize``).

    Args:
        config: a :class:`~plait.quantizers.GPTQConfig` or :class:`~plait.quantizers.AWQConfig`.
        structure: ``{"pre_block_layers": [...], "sequential_blocks": [...]}``.
        filters: as ``model.quantize``'s: layers it rejects are left alone.
    """
    mode = config.mode
    structure = check_request(config, structure)
    windows = calibration_windows(config.dataset, config.tokenizer, config.sequence_length, config.num_samples)
    inputs = []
    for window in windows[: config.num_samples]:
        x = torch.as_tensor(window, dtype=torch.int32)
        for layer in structure.get("pre_block_layers", []):
            x = layer(x)
        inputs.append(x)
    blocks = structure["sequential_blocks"]
    for index, block in enumerate(blocks):
        observers = {name: _OBSERVERS[mode](layer, config) for name, layer in _targets(block, mode, filters).items()}
        handles = [
            observer.layer.register_forward_pre_hook(_observing(observer), with_kwargs=True)
            for observer in observers.values()
        ]
        try:
            for x in inputs:
                block(_batched(x))
        finally:
            for handle in handles:
                handle.remove()
        for observer in observers.values():
            observer.finish()
        if index < len(blocks) - 1:
            inputs = [block(_batched(x))[0] for x in inputs]
