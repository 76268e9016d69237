"""``plait.visualization``: Keras 3's image drawing helpers (``draw_segmentation_masks``,
``plot_image_gallery``, ...), on numpy and matplotlib.

The functions take channels-last batches (numpy arrays or tensors) and return numpy arrays or
draw matplotlib figures; matplotlib is imported only by the plotting functions.

Example:
    >>> import numpy as np
    >>> from plait.visualization import draw_segmentation_masks
    >>> images = np.full((1, 2, 2, 3), 100, dtype="float32")
    >>> masks = np.array([[[0], [1]], [[2], [-1]]]).reshape(1, 2, 2, 1)
    >>> draw_segmentation_masks(images, masks, num_classes=3, alpha=0.5)[0, :, :, 0]
    array([[ 50,  50],
           [ 51, 100]], dtype=uint8)
"""

import math

import numpy as np
import torch

# Keras's class colours: class k gets (k * these) % 255 per channel.
_PALETTE_STEP = np.array([2**25 - 1, 2**15 - 1, 2**21 - 1])


def _numpy(x):
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _channels_last(x, data_format, name):
    if data_format not in (None, "channels_last", "channels_first"):
        raise ValueError(f"`data_format` must be 'channels_last' or 'channels_first'. Received: {data_format!r}")
    return np.moveaxis(x, 1, -1) if data_format == "channels_first" else x


def draw_segmentation_masks(
    images,
    segmentation_masks,
    num_classes=None,
    color_mapping=None,
    alpha=0.8,
    blend=True,
    ignore_index=-1,
    data_format=None,
):
    """Paint each pixel's class colour over ``images``, as Keras's.

    Args:
        images: ``(batch, height, width, channels)`` values in ``[0, 255]``.
        segmentation_masks: ``(batch, height, width, 1)`` integer class ids.
        num_classes: classes that get a colour (default: the largest id in the masks + 1; Keras's
            default, the largest id itself, fails on its torch backend).
        color_mapping: ``{class_id: (r, g, b)}`` instead of Keras's palette.
        alpha: the colours' weight when blending.
        blend: blend the colours with the images (uint8 result) or return the painted images
            (float32).
        ignore_index: the id of pixels left unpainted when blending.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Returns:
        a numpy array shaped like ``images`` (channels last).
    """
    images = _channels_last(_numpy(images), data_format, "images").astype("float32")
    masks = _channels_last(_numpy(segmentation_masks), data_format, "segmentation_masks")
    if images.ndim != 4:
        raise ValueError(f"`images` must be a batched 4D array. Received: images.shape={images.shape}")
    if not np.issubdtype(masks.dtype, np.integer):
        raise TypeError(f"`segmentation_masks` must be integers. Received: segmentation_masks.dtype={masks.dtype}")
    labels = masks[..., 0]
    if num_classes is None:
        num_classes = int(labels.max()) + 1
    painted = images.copy()
    for k in range(num_classes):
        colour = color_mapping[k] if color_mapping is not None else (k * _PALETTE_STEP) % 255
        painted[labels == k] = np.asarray(colour, dtype="float32")
    if not blend:
        return painted
    mixed = images * (1 - alpha) + painted * alpha
    mixed = np.where((labels != ignore_index)[..., None], mixed, images)
    return mixed.astype("uint8")  # truncates, as Keras's cast does


def _to_0_255(images, value_range):
    low, high = value_range
    return (images.astype("float32") - low) * (255.0 / (high - low))


def plot_image_gallery(
    images,
    y_true=None,
    y_pred=None,
    label_map=None,
    rows=None,
    cols=None,
    value_range=(0, 255),
    scale=2,
    path=None,
    show=None,
    transparent=True,
    dpi=60,
    legend_handles=None,
    data_format=None,
):
    """Show a grid of images (with optional true / predicted labels), as Keras's.

    Args:
        images: ``(batch, height, width, channels)`` (or one image).
        y_true, y_pred: label ids shown above each image through ``label_map``.
        label_map: ``{id: name}``.
        rows, cols: the grid (default: about square, Keras's rule).
        value_range: the images' value range, mapped to ``[0, 255]``.
        scale: inches per image.
        path: save the figure there instead of showing it.
        show: show the figure (default: when no ``path``).
        transparent, dpi: passed to ``savefig``.
        legend_handles: matplotlib handles for a legend under the grid.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Returns:
        the matplotlib figure.
    """
    import matplotlib.pyplot as plt

    images = _numpy(images)
    if images.ndim == 3:
        images = images[None]
    images = _channels_last(images, data_format, "images")
    batch = images.shape[0]
    rows = rows or int(math.ceil(math.sqrt(batch)))
    cols = cols or max(1, batch // rows)
    if rows * cols > batch:
        raise ValueError(f"A {rows}x{cols} gallery needs {rows * cols} images. Received: {batch}")
    if (y_true is not None or y_pred is not None) and label_map is None:
        raise ValueError("Pass `label_map` ({id: name}) to show `y_true` / `y_pred`.")
    pixels = _to_0_255(images[: rows * cols], value_range).clip(0, 255).astype("uint8")
    fig, axes = plt.subplots(rows, cols, figsize=(cols * scale, rows * scale), frameon=False, squeeze=False)
    fig.subplots_adjust(wspace=0, hspace=0)
    if legend_handles is not None:
        fig.legend(handles=legend_handles, loc="lower center")
    truths = None if y_true is None else _numpy(y_true).reshape(-1)
    preds = None if y_pred is None else _numpy(y_pred).reshape(-1)
    for index, axis in enumerate(axes.reshape(-1)):
        axis.imshow(pixels[index].squeeze(-1) if pixels.shape[-1] == 1 else pixels[index])
        axis.axis("off")
        title = []
        if truths is not None and index < len(truths):
            title.append(f"Label: {label_map.get(truths[index], 'Unknown')}")
        if preds is not None and index < len(preds):
            title.append(f"Pred: {label_map.get(preds[index], 'Unknown')}")
        if title:
            axis.set_title("  ".join(title), fontsize=8)
    if path is not None:
        fig.savefig(path, transparent=transparent, dpi=dpi)
    if show if show is not None else path is None:
        plt.show()
    return fig


def plot_segmentation_mask_gallery(
    images,
    num_classes,
    value_range=(0, 255),
    y_true=None,
    y_pred=None,
    color_mapping=None,
    blend=True,
    alpha=0.8,
    ignore_index=-1,
    data_format=None,
    **kwargs,
):
    """A gallery of ``images`` beside their masks drawn by :func:`draw_segmentation_masks`
    (``y_true`` and / or ``y_pred``, ``(batch, height, width, 1)``), one row per kind, as
    Keras's; ``kwargs`` go to :func:`plot_image_gallery`."""
    images = _channels_last(_numpy(images), data_format, "images")
    pixels = _to_0_255(images, value_range)
    rows = [pixels]
    for masks in (y_true, y_pred):
        if masks is not None:
            masks = _channels_last(_numpy(masks), data_format, "masks")
            drawn = draw_segmentation_masks(
                np.zeros_like(pixels), masks, num_classes, color_mapping, alpha, blend, ignore_index
            )
            rows.append(drawn.astype("float32"))
    gallery = np.concatenate(rows, axis=0)
    kwargs.setdefault("rows", len(rows))
    kwargs.setdefault("cols", len(images))
    return plot_image_gallery(gallery, value_range=(0, 255), **kwargs)


def _needs_opencv(name):
    def refuse(*args, **kwargs):
        raise NotImplementedError(
            f"plait.visualization.{name} is not available: Keras draws boxes and their labels with "
            "OpenCV (cv2), which plait does not depend on. Draw boxes with "
            "torchvision.utils.draw_bounding_boxes, or matplotlib.patches.Rectangle on "
            "plot_image_gallery's axes."
        )

    refuse.__name__ = name
    refuse.__doc__ = f"Keras's ``{name}``: refused on plait (it needs OpenCV); the error names what to use."
    return refuse


draw_bounding_boxes = _needs_opencv("draw_bounding_boxes")
plot_bounding_box_gallery = _needs_opencv("plot_bounding_box_gallery")

__all__ = [
    "draw_bounding_boxes",
    "draw_segmentation_masks",
    "plot_bounding_box_gallery",
    "plot_image_gallery",
    "plot_segmentation_mask_gallery",
]
