"""Random image augmentation layers (Keras 3's): ``RandomFlip``, ``RandomRotation``,
``RandomZoom``, ``RandomTranslation``, ``RandomContrast``, ``RandomCrop``.

They transform only in training (``fit``, ``layer(x, training=True)`` or ``module.train()``) and
are the identity at inference, like every plait layer called without ``training=``. (A Keras
layer called directly, outside a model, defaults to ``training=True``.) Inputs are cast to
float32, as Keras casts them to its compute dtype.

Every image layer also takes Keras's dict ``{"images": ..., "bounding_boxes": {"boxes": ...,
"labels": ...}, "segmentation_masks": ..., "labels": ...}`` and transforms all of it with one
random draw (see ``ImageLayer``): the geometric layers move boxes (in ``bounding_box_format``,
clipped to the image, a box left without area labelled -1) and masks (nearest sampling), the
colour layers leave both as they are. Each layer's box rule is Keras 3.15's, except where Keras's
does not follow its own pixels: its rotation reads and its perspective writes boxes as ``xyxy``
whatever the format, and its ``RandomCrop`` swaps the offsets; plait converts and crops right.

``seed`` makes the draws reproducible: the layer then draws from its own ``torch.Generator``;
without one it draws from torch's global generator (``torch.manual_seed``). The numbers drawn
are torch's, not Keras's, but each transform, given its random factor, is Keras's formula:
rotations, zooms and translations are Keras's affine maps sampled the way Keras's
``map_coordinates`` samples (its fill modes act on each interpolation neighbour's index).
"""

import math

import torch

from plait.layers.preprocessing.image import ImageLayer
from plait.layers.validation import one_of, positive_int
from plait.utils import bounding_boxes
from plait.utils.bounding_boxes.geometry import clip_xyxy, drop_empty
from plait.utils.image_utils import aspect_crop_box, resize_nchw

_FILL_MODES = ("reflect", "wrap", "constant", "nearest")
_INTERPOLATIONS = ("nearest", "bilinear")


def _fixed_index(index, size, fill_mode):
    """Where a neighbour outside the image reads from, for Keras's fill modes ("wrap",
    "reflect", "nearest"; "constant" reads the nearest and is masked by the caller)."""
    if fill_mode == "wrap":
        return index % size
    if fill_mode == "reflect":  # (d c b a | a b c d | d c b a)
        s = 2 * size
        mirrored = torch.abs((2 * index + 1 + s) % (2 * s) - s)
        return torch.div(mirrored - 1, 2, rounding_mode="floor")
    return index.clamp(0, size - 1)  # "nearest", and "constant" (masked below)


def affine_transform(images, matrix, interpolation, fill_mode, fill_value):
    """Keras's ``ops.image.affine_transform`` on ``(batch, channels, height, width)`` images.

    ``matrix`` is ``(batch, 8)``: ``[a0, a1, a2, b0, b1, b2, c0, c1]`` maps an output pixel
    ``(x, y)`` to the input point ``(a0 x + a1 y + a2, b0 x + b1 y + b2)`` (``c0 = c1 = 0``).
    """
    batch, channels, height, width = images.shape
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=images.dtype, device=images.device),
        torch.arange(width, dtype=images.dtype, device=images.device),
        indexing="ij",
    )
    m = matrix.to(images.dtype).reshape(batch, 8, 1, 1)
    src_x = m[:, 0] * xs + m[:, 1] * ys + m[:, 2]
    src_y = m[:, 3] * xs + m[:, 4] * ys + m[:, 5]
    if interpolation == "nearest":  # torch.round: half to even, as Keras
        nodes_y, nodes_x = [(torch.round(src_y).long(), 1.0)], [(torch.round(src_x).long(), 1.0)]
    else:
        y0, x0 = torch.floor(src_y), torch.floor(src_x)
        nodes_y = [(y0.long(), 1 - (src_y - y0)), (y0.long() + 1, src_y - y0)]
        nodes_x = [(x0.long(), 1 - (src_x - x0)), (x0.long() + 1, src_x - x0)]
    flat = images.reshape(batch, channels, height * width)
    out = torch.zeros_like(images)
    for iy, wy in nodes_y:
        for ix, wx in nodes_x:
            index = _fixed_index(iy, height, fill_mode) * width + _fixed_index(ix, width, fill_mode)
            values = flat.gather(2, index.reshape(batch, 1, -1).expand(-1, channels, -1)).reshape(images.shape)
            if fill_mode == "constant":
                inside = ((iy >= 0) & (iy < height) & (ix >= 0) & (ix < width)).unsqueeze(1)
                values = torch.where(inside, values, torch.as_tensor(fill_value, dtype=images.dtype))
            weight = wy * wx
            out = out + (weight.unsqueeze(1) if torch.is_tensor(weight) else weight) * values
    return out


def _factor_pair(who, name, factor, low, high, low_open=False):
    """``factor`` or ``(lower, upper)`` as Keras reads it: a number ``f`` means ``(-f, f)``,
    clipped to ``[low, high]``."""
    pair = tuple(factor) if isinstance(factor, (list, tuple)) else None
    values = pair if pair is not None else (factor,)
    bad = (
        (pair is not None and len(pair) != 2)
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        or any(v > high or v < low or (low_open and v == low) for v in values)
    )
    if bad:
        raise ValueError(
            f"{who}: `{name}` should be a number or a list of two numbers in the range "
            f"{'(' if low_open else '['}{low}, {high}]. Received: {name}={factor!r}"
        )
    if pair is not None:
        return tuple(sorted(float(v) for v in pair))
    return max(-abs(float(factor)), low), abs(float(factor))


class _RandomImageLayer(ImageLayer):
    def __init__(self, seed=None, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.seed = seed
        self._generator = None

    def _uniform(self, shape, low, high, device):
        """Uniform draws in ``[low, high)``, from the layer's seeded generator if it has one."""
        if self.seed is None:
            u = torch.rand(shape, device=device)
        else:
            if self._generator is None:
                self._generator = torch.Generator().manual_seed(int(self.seed))
            u = torch.rand(shape, generator=self._generator).to(device)
        return low + (high - low) * u

    def applies(self):
        return self.training

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


class _AffineLayer(_RandomImageLayer):
    def __init__(self, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0, **kwargs):
        super().__init__(seed=seed, **kwargs)
        who = f"{type(self).__name__} layer '{self.name}'"
        self.fill_mode = one_of(who, "fill_mode", fill_mode, _FILL_MODES)
        self.interpolation = one_of(who, "interpolation", interpolation, _INTERPOLATIONS)
        self.fill_value = float(fill_value)

    def transform(self, x, **draw):
        return affine_transform(x, self.matrix(x, **draw), self.interpolation, self.fill_mode, self.fill_value)

    def transform_masks(self, masks, draw):
        # Masks hold class ids: read the nearest pixel, never a blend of two classes.
        return affine_transform(masks, self.matrix(masks, **draw), "nearest", self.fill_mode, self.fill_value)

    def get_config(self):
        return {
            **super().get_config(),
            "fill_mode": self.fill_mode,
            "interpolation": self.interpolation,
            "fill_value": self.fill_value,
        }


class RandomFlip(_RandomImageLayer):
    """Flips each image with probability 1/2 in training.

    Args:
        mode: ``"horizontal"``, ``"vertical"`` or ``"horizontal_and_vertical"`` (default; one
            draw per image flips both ways, as in Keras).
        seed: makes the draws reproducible. data_format: as for ``Resizing``.
        bounding_box_format: the boxes' format when called on a dict with ``"bounding_boxes"``
            (``"xyxy"``, ``"rel_xyxy"``, ...; see ``plait.utils.bounding_boxes``), as for every
            image layer.

    Example:
        >>> import torch, plait
        >>> layer = plait.layers.RandomFlip("horizontal", seed=1)
        >>> layer(torch.ones(2, 4, 4, 3)).shape
        torch.Size([2, 4, 4, 3])
        >>> layer = plait.layers.RandomFlip("horizontal", bounding_box_format="xyxy")
        >>> layer.draw = lambda x: {"flips": torch.tensor(True).reshape(1, 1, 1, 1)}  # pin the draw
        >>> boxes = {"boxes": torch.tensor([[1.0, 0, 3, 2]]), "labels": torch.tensor([7])}
        >>> layer({"images": torch.ones(4, 10, 3), "bounding_boxes": boxes}, training=True)["bounding_boxes"]
        {'boxes': tensor([[7., 0., 9., 2.]]), 'labels': tensor([7])}
    """

    def __init__(self, mode="horizontal_and_vertical", seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.mode = one_of(
            f"RandomFlip layer '{self.name}'", "mode", mode, ("horizontal", "vertical", "horizontal_and_vertical")
        )

    def draw(self, x):
        return {"flips": self._uniform((x.shape[0], 1, 1, 1), 0.0, 1.0, x.device) <= 0.5}

    def transform(self, x, flips=None):
        flips = self.draw(x)["flips"] if flips is None else flips
        if self.mode != "vertical":
            x = torch.where(flips, x.flip(-1), x)
        if self.mode != "horizontal":
            x = torch.where(flips, x.flip(-2), x)
        return x

    def transform_masks(self, masks, draw):
        return self.transform(masks, **draw)

    def transform_boxes(self, boxes, labels, draw, size):
        # A pixel edge at x lands at width - x: the box's right edge becomes its left one.
        height, width = size
        flips = torch.as_tensor(draw["flips"], device=boxes.device).reshape(-1, 1, 1)
        x1, y1, x2, y2 = boxes.unbind(-1)
        if self.mode != "vertical":
            boxes = torch.where(flips, torch.stack([width - x2, y1, width - x1, y2], -1), boxes)
            x1, y1, x2, y2 = boxes.unbind(-1)
        if self.mode != "horizontal":
            boxes = torch.where(flips, torch.stack([x1, height - y2, x2, height - y1], -1), boxes)
        boxes = clip_xyxy(boxes, height, width)
        return boxes, drop_empty(labels, boxes)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


class RandomRotation(_AffineLayer):
    """Rotates each image by a random angle in training.

    Args:
        factor: a fraction of a full turn, ``f`` for ``[-f, f]`` or ``(lower, upper)``, in
            ``[-1, 1]`` (``0.1`` rotates by up to 36 degrees either way).
        fill_mode: ``"reflect"`` (default), ``"wrap"``, ``"constant"`` or ``"nearest"``.
        interpolation: ``"bilinear"`` (default) or ``"nearest"``.
        seed, fill_value (for ``"constant"``), data_format.

    Example:
        >>> import torch, plait
        >>> plait.layers.RandomRotation(0.1)(torch.ones(1, 8, 8, 3), training=True).shape
        torch.Size([1, 8, 8, 3])
    """

    def __init__(
        self,
        factor,
        fill_mode="reflect",
        interpolation="bilinear",
        seed=None,
        fill_value=0.0,
        data_format=None,
        **kwargs,
    ):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format=data_format, **kwargs)
        self.factor = _factor_pair(f"RandomRotation layer '{self.name}'", "factor", factor, -1.0, 1.0)

    def draw(self, x):
        """``angle``: degrees, one per image."""
        return {"angle": self._uniform((x.shape[0],), self.factor[0] * 360.0, self.factor[1] * 360.0, x.device)}

    def matrix(self, x, angle=None):
        """Keras's rotation about the image centre; ``angle`` in degrees, one per image."""
        batch, _, height, width = x.shape
        angle = self.draw(x)["angle"] if angle is None else angle
        angle = torch.as_tensor(angle, dtype=torch.float32, device=x.device) * (math.pi / 180.0)
        cos, sin = torch.cos(angle), torch.sin(angle)
        cx, cy = 0.5 * (width - 1), 0.5 * (height - 1)
        zero = torch.zeros_like(cos)
        return torch.stack([cos, -sin, cx - cx * cos + cy * sin, sin, cos, cy - cx * sin - cy * cos, zero, zero], dim=1)

    def transform_boxes(self, boxes, labels, draw, size):
        # Keras's box rule: the four corners rotated about the centre, then their bounding box.
        angle = torch.as_tensor(draw["angle"], dtype=boxes.dtype, device=boxes.device)
        zero = torch.zeros_like(angle)
        boxes = bounding_boxes.affine_transform(boxes, angle, zero, zero, zero + 1, zero, zero, *size)
        boxes = clip_xyxy(boxes, *size)
        return boxes, drop_empty(labels, boxes)

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor)}


class RandomZoom(_AffineLayer):
    """Zooms each image in or out by a random factor in training.

    Args:
        height_factor: ``f`` for ``[-f, f]`` or ``(lower, upper)``, in ``(-1, 1]``; the vertical
            zoom is ``1 + factor`` (positive zooms out, negative zooms in, as in Keras).
        width_factor: the same for the width; None (default) zooms both axes by the same draw.
        fill_mode, interpolation, seed, fill_value, data_format: as for ``RandomRotation``.

    Example:
        >>> import torch, plait
        >>> plait.layers.RandomZoom(0.2, seed=0)(torch.ones(1, 8, 8, 3), training=True).shape
        torch.Size([1, 8, 8, 3])
    """

    def __init__(
        self,
        height_factor,
        width_factor=None,
        fill_mode="reflect",
        interpolation="bilinear",
        seed=None,
        fill_value=0.0,
        data_format=None,
        **kwargs,
    ):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format=data_format, **kwargs)
        who = f"RandomZoom layer '{self.name}'"
        self.height_factor, self.width_factor = height_factor, width_factor
        self._height = _factor_pair(who, "height_factor", height_factor, -1.0, 1.0, low_open=True)
        self._width = (
            None if width_factor is None else _factor_pair(who, "width_factor", width_factor, -1.0, 1.0, low_open=True)
        )

    def draw(self, x):
        """``zooms``: ``(batch, 2)`` width and height zoom factors (``1 + factor``)."""
        batch = x.shape[0]
        zy = self._uniform((batch,), 1 + self._height[0], 1 + self._height[1], x.device)
        zx = zy if self._width is None else self._uniform((batch,), 1 + self._width[0], 1 + self._width[1], x.device)
        return {"zooms": torch.stack([zx, zy], dim=1)}

    def matrix(self, x, zooms=None):
        """``zooms``: ``(batch, 2)`` width and height zoom factors (``1 + factor``)."""
        batch, _, height, width = x.shape
        zooms = self.draw(x)["zooms"] if zooms is None else zooms
        zx, zy = torch.as_tensor(zooms, dtype=torch.float32, device=x.device).unbind(1)
        zero = torch.zeros_like(zx)
        return torch.stack(
            [zx, zero, (width - 1) / 2 * (1 - zx), zero, zy, (height - 1) / 2 * (1 - zy), zero, zero], dim=1
        )

    def transform_boxes(self, boxes, labels, draw, size):
        # The output shows the input window [start, start + zoom * size) of each axis (Keras's
        # rule): boxes are cut to it and stretched from it to the whole image.
        height, width = size
        zooms = torch.as_tensor(draw["zooms"], dtype=boxes.dtype, device=boxes.device)
        zoom = zooms.repeat(1, 2).unsqueeze(1)  # (batch, 1, 4) as (zx, zy, zx, zy)
        extent = boxes.new_tensor([width, height, width, height])
        start = (extent - 1) / 2 * (1 - zoom)
        relative = (torch.minimum(torch.maximum(boxes, start), start + zoom * extent) - start) / (zoom * extent)
        relative = relative.clamp(0, 1)
        return relative * extent, drop_empty(labels, relative)

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}


class RandomTranslation(_AffineLayer):
    """Shifts each image by a random fraction of its size in training.

    Args:
        height_factor, width_factor: ``f`` for ``[-f, f]`` or ``(lower, upper)`` fractions of the
            height / width, in ``[-1, 1]``.
        fill_mode, interpolation, seed, fill_value, data_format: as for ``RandomRotation``.

    Example:
        >>> import torch, plait
        >>> plait.layers.RandomTranslation(0.1, 0.1)(torch.ones(1, 8, 8, 3), training=True).shape
        torch.Size([1, 8, 8, 3])
    """

    def __init__(
        self,
        height_factor,
        width_factor,
        fill_mode="reflect",
        interpolation="bilinear",
        seed=None,
        fill_value=0.0,
        data_format=None,
        **kwargs,
    ):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format=data_format, **kwargs)
        who = f"RandomTranslation layer '{self.name}'"
        self.height_factor, self.width_factor = height_factor, width_factor
        self._height = _factor_pair(who, "height_factor", height_factor, -1.0, 1.0)
        self._width = _factor_pair(who, "width_factor", width_factor, -1.0, 1.0)

    def draw(self, x):
        """``shifts``: ``(batch, 2)`` translations in pixels (width, height)."""
        batch, _, height, width = x.shape
        dy = self._uniform((batch,), *self._height, x.device) * height
        dx = self._uniform((batch,), *self._width, x.device) * width
        return {"shifts": torch.stack([dx, dy], dim=1)}

    def matrix(self, x, shifts=None):
        """``shifts``: ``(batch, 2)`` translations in pixels (width, height)."""
        shifts = self.draw(x)["shifts"] if shifts is None else shifts
        dx, dy = torch.as_tensor(shifts, dtype=torch.float32, device=x.device).unbind(1)
        one, zero = torch.ones_like(dx), torch.zeros_like(dx)
        return torch.stack([one, zero, -dx, zero, one, -dy, zero, zero], dim=1)

    def transform_boxes(self, boxes, labels, draw, size):
        shifts = torch.as_tensor(draw["shifts"], dtype=boxes.dtype, device=boxes.device)
        boxes = clip_xyxy(boxes + shifts.repeat(1, 2).unsqueeze(1), *size)
        return boxes, drop_empty(labels, boxes)

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}


class RandomContrast(_RandomImageLayer):
    """Scales each image's contrast by a random factor in training:
    ``(x - mean) * c + mean`` per channel, clipped to ``value_range``.

    Args:
        factor: ``f`` or ``(lower, upper)`` in ``[0, 1]``; ``c`` is drawn from
            ``[1 - lower, 1 + upper]`` (Keras reads a single ``f`` as ``(0, f)``).
        value_range: the images' range, default ``(0, 255)``. seed, data_format.

    Example:
        >>> import torch, plait
        >>> plait.layers.RandomContrast(0.5)(torch.ones(1, 4, 4, 3), training=True).shape
        torch.Size([1, 4, 4, 3])
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.factor = _factor_pair(f"RandomContrast layer '{self.name}'", "factor", factor, 0.0, 1.0)
        self.value_range = tuple(value_range)

    def transform(self, x, contrast=None):
        if contrast is None:
            contrast = self._uniform((x.shape[0], 1, 1, 1), 1 - self.factor[0], 1 + self.factor[1], x.device)
        mean = x.mean(dim=(-2, -1), keepdim=True)
        return ((x - mean) * contrast + mean).clamp(self.value_range[0], self.value_range[1])

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor), "value_range": list(self.value_range)}


class RandomCrop(_RandomImageLayer):
    """Crops a random ``(height, width)`` window of each batch in training (one window for the
    whole batch, as Keras draws it); an image smaller than that is cropped to the target's aspect
    ratio and resized. At inference the images pass unchanged, as in Keras 3. Boxes are shifted
    by the window, clipped to it and scaled with the resize (Keras 3.15 swaps the x and y
    offsets and skips the clip and the scale; plait's boxes follow the pixels).

    Args:
        height, width: the crop size. seed, data_format.

    Example:
        >>> import torch, plait
        >>> plait.layers.RandomCrop(4, 4, seed=0)(torch.ones(2, 8, 8, 3), training=True).shape
        torch.Size([2, 4, 4, 3])
    """

    def __init__(self, height, width, seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        who = f"RandomCrop layer '{self.name}'"
        self.height, self.width = positive_int(who, "height", height), positive_int(who, "width", width)

    def draw(self, x):
        """``start``: the window's ``(top, left)``, one for the batch."""
        height, width = x.shape[-2:]
        if height > self.height and width > self.width:
            top = int(self._uniform((), 0.0, float(height - self.height + 1), "cpu"))
            left = int(self._uniform((), 0.0, float(width - self.width + 1), "cpu"))
            return {"start": (top, left)}
        return {"start": aspect_crop_box(height, width, self.height, self.width)[:2]}

    def transform(self, x, start=None):
        top, left = self.draw(x)["start"] if start is None else start
        x = x[:, :, top : top + self.height, left : left + self.width]
        if tuple(x.shape[-2:]) != (self.height, self.width):
            x = resize_nchw(x, (self.height, self.width))
        return x

    def transform_masks(self, masks, draw):
        return self.transform(masks, **draw)

    def transform_boxes(self, boxes, labels, draw, size):
        # The window actually cut (smaller than the target where the image is), then resized.
        top, left = (int(v) for v in draw["start"])
        cut_height, cut_width = min(self.height, size[0] - top), min(self.width, size[1] - left)
        boxes = bounding_boxes.crop(boxes, top, left, cut_height, cut_width)
        boxes = boxes * boxes.new_tensor([self.width / cut_width, self.height / cut_height] * 2)
        return boxes, drop_empty(labels, boxes)

    def compute_image_shape(self, input_shape):
        shape = list(input_shape)
        h, w = self._hw_axes()
        shape[h], shape[w] = self.height, self.width
        return tuple(shape)

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}
