"""``ContrastLimitedAdaptiveHistogramEqualization`` (Keras 3's CLAHE) on torch tensors."""

import torch
import torch.nn.functional as F

from plait.layers.preprocessing.color import value_range_pair
from plait.layers.preprocessing.image import ImageLayer
from plait.utils.color_utils import rescale_range


class ContrastLimitedAdaptiveHistogramEqualization(ImageLayer):
    """Contrast-limited adaptive histogram equalization (CLAHE), per image and channel.

    The image (on the ``[0, 255]`` scale) is cut into a ``tile_grid_size`` grid of tiles (the
    bottom and right edges repeated to fit, as Keras pads on torch); each tile's 256-level histogram is clipped at
    ``clip_limit`` times its mean count (floored to a whole count, as Keras computes it on
    torch), the excess spread evenly over all levels, and turned
    into a mapping by its cumulative sum. Each pixel takes the bilinear blend of the mappings of
    the four tiles whose centres surround it. Applied in training and at inference, as in Keras.

    Args:
        value_range: the images' range, default ``(0, 255)``.
        clip_limit: the histogram clip, in mean counts (default 4.0; 0 or less: no clipping).
        tile_grid_size: ``(rows, columns)`` of tiles (default ``(8, 8)``). data_format.

    Example:
        >>> import torch, plait
        >>> layer = plait.layers.ContrastLimitedAdaptiveHistogramEqualization(tile_grid_size=(2, 2))
        >>> layer(torch.rand(1, 16, 16, 3) * 255).shape
        torch.Size([1, 16, 16, 3])
    """

    def __init__(self, value_range=(0, 255), clip_limit=4.0, tile_grid_size=(8, 8), data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        who = f"ContrastLimitedAdaptiveHistogramEqualization layer '{self.name}'"
        self.value_range = value_range_pair(who, value_range)
        grid = tuple(tile_grid_size) if isinstance(tile_grid_size, (list, tuple)) else ()
        if len(grid) != 2 or not all(isinstance(g, int) and g > 0 for g in grid):
            raise ValueError(
                f"{who}: `tile_grid_size` should be two positive integers. Received: tile_grid_size={tile_grid_size!r}"
            )
        self.tile_grid_size, self.clip_limit = grid, float(clip_limit)

    def _mappings(self, levels, tile_h, tile_w):
        """Each tile's level mapping ``(batch, channels, rows + 2, cols + 2, 256)``, the border
        tiles repeated once around the grid."""
        batch, channels = levels.shape[:2]
        rows, cols = self.tile_grid_size
        tiles = levels.reshape(batch, channels, rows, tile_h, cols, tile_w).transpose(3, 4)
        tiles = tiles.reshape(batch, channels, rows, cols, tile_h * tile_w)
        hist = torch.zeros(batch, channels, rows, cols, 256, device=levels.device)
        hist.scatter_add_(-1, tiles, torch.ones_like(tiles, dtype=hist.dtype))
        count = tile_h * tile_w
        if self.clip_limit > 0:
            # Keras on torch counts in integers, so its limit is floored to a whole count.
            clipped = hist.clamp(max=float(int(self.clip_limit * count / 256.0)))
            hist = clipped + (hist - clipped).sum(-1, keepdim=True) / 256.0
        cdf = hist.cumsum(-1)
        cdf_min = cdf.amin(-1, keepdim=True)
        span = count - cdf_min
        span = torch.where(span == 0, torch.ones_like(span), span)
        mapping = ((cdf - cdf_min) * 255.0 / span).clamp(0, 255)
        flat = mapping.permute(0, 1, 4, 2, 3).reshape(batch, channels * 256, rows, cols)
        flat = F.pad(flat, (1, 1, 1, 1), mode="replicate")
        return flat.reshape(batch, channels, 256, rows + 2, cols + 2).permute(0, 1, 3, 4, 2)

    @staticmethod
    def _axis_blend(length, tile, tiles, device):
        """For each padded row (or column): the two surrounding tile centres and the weight of
        the second, in the padded grid's coordinates."""
        position = (torch.arange(length, dtype=torch.float32, device=device) - tile / 2.0) / tile + 1.0
        low = torch.floor(position)
        weight = position - low
        return low.clamp(0, tiles + 1).long(), (low + 1).clamp(0, tiles + 1).long(), weight

    keeps_dtype = True

    def transform(self, x):
        batch, channels, height, width = x.shape
        rows, cols = self.tile_grid_size
        tile_h, tile_w = -(-height // rows), -(-width // cols)
        scaled = rescale_range(x, self.value_range, (0, 255))
        # Keras asks for symmetric padding, which its torch backend performs as edge replication.
        scaled = F.pad(scaled, (0, tile_w * cols - width, 0, tile_h * rows - height), mode="replicate")
        levels = scaled.clamp(0, 255).long()
        mappings = self._mappings(levels, tile_h, tile_w).reshape(batch, channels, -1)
        y0, y1, wy = self._axis_blend(tile_h * rows, tile_h, rows, x.device)
        x0, x1, wx = self._axis_blend(tile_w * cols, tile_w, cols, x.device)

        def look_up(ys, xs):
            tile = (ys[:, None] * (cols + 2) + xs[None, :]) * 256  # (padded height, padded width)
            index = (tile + levels).reshape(batch, channels, -1)
            return mappings.gather(2, index).reshape(levels.shape)

        wx, wy = wx[None, :], wy[:, None]
        top = look_up(y0, x0) * (1 - wx) + look_up(y0, x1) * wx
        bottom = look_up(y1, x0) * (1 - wx) + look_up(y1, x1) * wx
        result = (top * (1 - wy) + bottom * wy)[..., :height, :width]
        return rescale_range(result, (0, 255), self.value_range)

    def get_config(self):
        return {
            **super().get_config(),
            "value_range": list(self.value_range),
            "clip_limit": self.clip_limit,
            "tile_grid_size": list(self.tile_grid_size),
        }
