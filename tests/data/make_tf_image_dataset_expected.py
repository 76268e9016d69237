"""Writes tf_image_dataset_expected.npz (test_image_text_datasets.py's TensorFlow reference):
Keras's image_dataset_from_directory on its default tf.data pipeline, on four PNGs made from the
stored ``input_*`` arrays. Run it where TensorFlow is installed (it was written with Keras 3.15.1
and TensorFlow 2.21): ``KERAS_BACKEND=tensorflow python make_tf_image_dataset_expected.py OUT.npz``.
"""


def main(path):
    import os
    import pathlib
    import tempfile

    import keras
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(7)
    shapes = {"a/0.png": (20, 30), "a/1.png": (7, 5), "b/0.png": (17, 31), "b/1.png": (12, 10)}
    out = {}
    root = pathlib.Path(tempfile.mkdtemp())
    for i, (rel, (h, w)) in enumerate(shapes.items()):
        x = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        out[f"input_{i}"] = x
        (root / rel).parent.mkdir(exist_ok=True)
        Image.fromarray(x).save(root / rel)
    runs = {
        "bilinear": {}, "nearest": {"interpolation": "nearest"}, "bicubic": {"interpolation": "bicubic"},
        "area": {"interpolation": "area"}, "pad_bilinear": {"pad_to_aspect_ratio": True},
        "pad_bicubic": {"pad_to_aspect_ratio": True, "interpolation": "bicubic"},
        "crop_area": {"crop_to_aspect_ratio": True, "interpolation": "area"}, "grayscale": {"color_mode": "grayscale"},
        **{m: {"interpolation": m} for m in ("lanczos3", "lanczos5", "gaussian", "mitchellcubic")},
    }  # fmt: skip
    for name, kw in runs.items():
        ds = keras.utils.image_dataset_from_directory(
            root, image_size=(12, 10), batch_size=3, shuffle=False, verbose=False, **kw
        )
        out[name] = np.concatenate([x.numpy() for x, _ in ds])
        out["labels"] = np.concatenate([y.numpy() for _, y in ds])
        out["paths"] = np.array([os.path.relpath(p, root) for p in ds.file_paths])
    np.savez_compressed(path, **out)


if __name__ == "__main__":
    import sys

    main(sys.argv[1])
