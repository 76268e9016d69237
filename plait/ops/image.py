"""Image ops (Keras 3's ``keras.ops.image``) on torch: resize, affine and perspective transforms,
colour spaces, blurs, edges, patches.

Example:
    >>> import torch, plait
    >>> plait.ops.image.resize(torch.ones(1, 4, 4, 3), (2, 2)).shape
    torch.Size([1, 2, 2, 3])
"""

from plait.ops import _image, _image_warp
from plait.ops._op import op as _op

__all__ = [
    "affine_transform",
    "crop_images",
    "elastic_transform",
    "extract_patches",
    "extract_patches_3d",
    "gaussian_blur",
    "hsv_to_rgb",
    "map_coordinates",
    "pad_images",
    "perspective_transform",
    "resize",
    "rgb_to_grayscale",
    "rgb_to_hsv",
    "scale_and_translate",
    "sobel_edges",
    "ssim",
]

affine_transform = _op(_image_warp.affine_transform, "image")
crop_images = _op(_image.crop_images, "image")
elastic_transform = _op(_image_warp.elastic_transform, "image")
extract_patches = _op(_image.extract_patches, "image")
extract_patches_3d = _op(_image.extract_patches_3d, "image")
gaussian_blur = _op(_image.gaussian_blur, "image")
hsv_to_rgb = _op(_image.hsv_to_rgb, "image")
map_coordinates = _op(_image_warp.map_coordinates, "image")
pad_images = _op(_image.pad_images, "image")
perspective_transform = _op(_image_warp.perspective_transform, "image")
resize = _op(_image.resize, "image")
rgb_to_grayscale = _op(_image.rgb_to_grayscale, "image")
rgb_to_hsv = _op(_image.rgb_to_hsv, "image")
scale_and_translate = _op(_image_warp.scale_and_translate, "image")
sobel_edges = _op(_image.sobel_edges, "image")
ssim = _op(_image.ssim, "image")
