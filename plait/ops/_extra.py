"""``rearrange`` (einops patterns). (``vectorize`` is :mod:`plait.ops._vectorize`.)

Ported from Keras 3.15 (``keras/src/ops/einops.py``; Apache-2.0, the Keras authors).
"""

import math
import re

from plait.ops._backend import convert_to_tensor


# ---------------------------------------------------------------------------- rearrange
def _axes_map(axes, input_shape, axes_lengths):
    axes_map = {}
    for axis, dim in zip(axes, input_shape):
        grouped = re.match(r"\(([\w\s]+)\)", axis)
        if grouped:
            inner = grouped.group(1).split()
            known = [a for a in inner if a in axes_lengths]
            inferred = [a for a in inner if a not in axes_lengths]
            if inferred:
                axes_lengths[inferred[0]] = dim // math.prod(axes_lengths[a] for a in known)
            axes_map.update({a: axes_lengths[a] for a in inner})
        else:
            axes_map[axis] = dim
    return axes_map


def _grouped(axes):
    out = []
    for axis in axes:
        grouped = re.match(r"\(([\w\s]+)\)", axis)
        out.append(grouped.group(1).split() if grouped else [axis])
    return out


def rearrange(tensor, pattern, **axes_lengths):
    """einops-style ``"b (h w) c -> b h w c"`` reshapes and transposes.

    Example:
        >>> import torch
        >>> from plait import ops
        >>> ops.rearrange(torch.tensor([[1, 2, 3], [4, 5, 6]]), "h w -> w h")
        tensor([[1, 4],
                [2, 5],
                [3, 6]])
        >>> ops.rearrange(torch.arange(6).reshape(1, 6), "b (h w) -> b h w", h=2)
        tensor([[[0, 1, 2],
                 [3, 4, 5]]])
    """
    tensor = convert_to_tensor(tensor)
    input_pattern, output_pattern = re.split(r"\s*->\s*", pattern)
    input_axes = re.findall(r"\w+|\(.*?\)", input_pattern)
    output_axes = re.findall(r"\w+|\(.*?\)", output_pattern)
    axes_map = _axes_map(input_axes, tuple(tensor.shape), axes_lengths)
    grouped_output = _grouped(output_axes)
    flat_output = [a for group in grouped_output for a in group]
    # 1. Decompose grouped input axes.
    decomposed, names = [], []
    for axis in input_axes:
        if "(" in axis:
            inner = re.findall(r"\w+", axis)
            decomposed += [axes_lengths[a] for a in inner]
            names += inner
        else:
            decomposed.append(axes_map[axis])
            names.append(axis)
    if tuple(decomposed) != tuple(tensor.shape):
        tensor = tensor.reshape(decomposed)
    # 2. Transpose to the output order, 3. merge the output groups.
    tensor = tensor.permute([names.index(a) for a in flat_output])
    return tensor.reshape([math.prod(axes_map[a] for a in group) for group in grouped_output])
