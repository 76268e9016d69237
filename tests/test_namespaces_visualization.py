"""``plait.visualization`` against ``keras.visualization``: the same painted pixels (exact, uint8)
and the same gallery layout; the OpenCV-based box drawers refuse with the alternative named."""

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from plait import visualization  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_classes": 4},
        {"num_classes": 5, "alpha": 0.3},
        {"ignore_index": 2, "num_classes": 4},
        {"num_classes": 4, "color_mapping": {0: (1, 2, 3), 1: (200, 0, 9), 2: (0, 0, 0), 3: (9, 9, 9)}},
    ],
)
def test_draw_segmentation_masks_matches_keras(kwargs):
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (2, 5, 6, 3)).astype("float32")
    masks = rng.integers(-1, 4, (2, 5, 6, 1))
    ours = visualization.draw_segmentation_masks(images, masks, **kwargs)
    theirs = keras.visualization.draw_segmentation_masks(images, masks, **kwargs)
    assert ours.dtype == np.uint8
    np.testing.assert_array_equal(ours, np.asarray(theirs))


def test_unblended_and_channels_first_match_keras():
    rng = np.random.default_rng(1)
    images = rng.uniform(0, 255, (1, 3, 4, 4)).astype("float32")
    masks = rng.integers(0, 3, (1, 1, 4, 4))
    kwargs = {"num_classes": 3, "blend": False, "data_format": "channels_first"}
    ours = visualization.draw_segmentation_masks(images, masks, **kwargs)
    theirs = keras.visualization.draw_segmentation_masks(images, masks, **kwargs)
    # Keras's default num_classes (the largest id) fails on torch; plait's is the largest id + 1
    np.testing.assert_array_equal(
        visualization.draw_segmentation_masks(images, masks, data_format="channels_first"),
        visualization.draw_segmentation_masks(images, masks, **{**kwargs, "blend": True}),
    )
    np.testing.assert_allclose(ours, keras.ops.convert_to_numpy(theirs))
    with pytest.raises(TypeError, match="integers"):
        visualization.draw_segmentation_masks(images, masks.astype("float32"), data_format="channels_first")
    with pytest.raises(ValueError, match="4D"):
        visualization.draw_segmentation_masks(images[0], masks[0])


def test_image_gallery_layout_and_titles_match_keras(tmp_path):
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(2)
    images = rng.uniform(0, 1, (6, 8, 8, 3))
    labels = {0: "cat", 1: "dog"}
    y = np.array([0, 1, 0, 1, 1, 0])
    ours = visualization.plot_image_gallery(images, y_true=y, label_map=labels, value_range=(0, 1), show=False)
    keras.visualization.plot_image_gallery(images, y_true=y, label_map=labels, value_range=(0, 1), show=False)
    theirs = plt.gcf()  # Keras returns nothing
    assert len(ours.axes) == len(theirs.axes) == 6  # ceil(sqrt(6)) = 3 rows of 6 // 3 = 2
    assert [a.get_title() for a in ours.axes] == [a.get_title() for a in theirs.axes]
    for a, b in zip(ours.axes, theirs.axes):
        np.testing.assert_array_equal(a.get_images()[0].get_array(), b.get_images()[0].get_array())
    path = tmp_path / "gallery.png"
    visualization.plot_image_gallery(images[:4], path=str(path), value_range=(0, 1))
    assert path.stat().st_size > 0
    masks = rng.integers(0, 3, (2, 8, 8, 1))
    fig = visualization.plot_segmentation_mask_gallery(images[:2] * 255, num_classes=3, y_true=masks, show=False)
    assert len(fig.axes) == 4
    plt.close("all")


def test_box_drawers_refuse_and_every_keras_name_exists():
    with pytest.raises(NotImplementedError, match="torchvision.utils.draw_bounding_boxes"):
        visualization.draw_bounding_boxes(np.zeros((1, 4, 4, 3)), {}, "xyxy")
    names = [n for n in dir(keras.visualization) if not n.startswith("_")]
    assert [n for n in names if not hasattr(visualization, n)] == []
