"""Colour-space helpers on ``(batch, channels, height, width)`` float images, shared by the image
layers (``plait.layers`` may not import ``plait.ops``)."""

import torch

# ITU-R 601 luma weights, the ones Keras's rgb_to_grayscale uses.
LUMA = (0.2989, 0.587, 0.114)


def rescale_range(x, source, target):
    """Maps values linearly from the ``source`` range to the ``target`` range."""
    if tuple(source) == tuple(target):
        return x
    scale = (target[1] - target[0]) / (source[1] - source[0])
    return (x - source[0]) * scale + target[0]


def grayscale_nchw(x):
    """Luma of RGB images as one channel, ``(batch, 1, height, width)``; one-channel images
    come back as they are."""
    if x.shape[1] == 1:
        return x
    if x.shape[1] != 3:
        raise ValueError(f"Expected RGB images (3 channels) or 1 channel. Received images of shape {tuple(x.shape)}.")
    weights = torch.tensor(LUMA, dtype=x.dtype, device=x.device).reshape(1, 3, 1, 1)
    return (x * weights).sum(1, keepdim=True)


def rgb_to_hsv_nchw(x):
    """Hue (in turns), saturation and value of RGB images, stacked on axis 1."""
    x = torch.where(x.abs() < torch.finfo(x.dtype).eps, torch.zeros_like(x), x)
    top, argmax = x.max(1)
    spread = top - x.min(1).values
    safe_spread = torch.where(spread > 0, spread, torch.ones_like(spread))
    r, g, b = x.unbind(1)
    # The hue's sector comes from whichever primary is largest; red takes ties, then green.
    sector = torch.stack([(g - b) / safe_spread, (b - r) / safe_spread + 2, (r - g) / safe_spread + 4])
    hue = sector.gather(0, argmax.unsqueeze(0)).squeeze(0) / 6.0
    hue = torch.where(spread > 0, torch.remainder(hue, 1.0), torch.zeros_like(hue))
    saturation = torch.where(top > 0, spread / torch.where(top > 0, top, torch.ones_like(top)), torch.zeros_like(top))
    return torch.stack([hue, saturation, top], 1)


def hsv_to_rgb_nchw(x):
    """RGB images from hue (in turns, wrapping), saturation and value stacked on axis 1."""
    hue, saturation, value = x.unbind(1)
    # Each primary k is v - v s max(0, min(p, 4 - p, 1)) with p = (k + 6 h) mod 6, k = 5, 3, 1.
    channels = []
    for k in (5.0, 3.0, 1.0):
        p = torch.remainder(k + 6.0 * hue, 6.0)
        channels.append(value - value * saturation * torch.clamp(torch.minimum(p, 4.0 - p), 0.0, 1.0))
    return torch.stack(channels, 1)
