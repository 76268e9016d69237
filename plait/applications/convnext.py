"""ConvNeXt Tiny/Small/Base/Large/XLarge (Liu et al., 2022): `A ConvNet for the 2020s
<https://arxiv.org/abs/2201.03545>`_.

A 4x4 stride-4 "patchify" stem, then four stages of ConvNeXt blocks (7x7 depthwise convolution,
LayerNorm, a 4x-wide GELU MLP on the channels, :class:`LayerScale`, residual sum) with a
LayerNorm + 2x2 stride-2 convolution between stages. The stem and the downsampling steps are
nested ``Sequential`` models, as in Keras, so Keras's weight files and ``.keras`` files load. The
model normalizes its [0, 255] input itself (``include_preprocessing=True``), so
:func:`preprocess_input` returns its input unchanged, as Keras's does.

Example:
    >>> from plait.applications import ConvNeXtTiny
    >>> model = ConvNeXtTiny(weights=None, include_top=False, input_shape=(32, 32, 3), pooling="avg")
    >>> model.output.shape, model.count_params()
    ((None, 768), 27820128)
"""

import torch

from plait import initializers, layers
from plait.applications import _build, imagenet_utils
from plait.layers import Layer
from plait.layers.serialization import register_builtin_classes
from plait.models import Sequential

# variant: (blocks per stage, channels per stage, sha256 of the weights with top and without).
_VARIANTS = {
    "tiny": (
        (3, 3, 9, 3),
        (96, 192, 384, 768),
        (
            "8ae6e78ce2933352b1ef4008e6dd2f17bc40771563877d156bc6426c7cf503ff",
            "d547c096cabd03329d7be5562c5e14798aa39ed24b474157cef5e85ab9e49ef1",
        ),
    ),
    "small": (
        (3, 3, 27, 3),
        (96, 192, 384, 768),
        (
            "ce1277d8f1ee5a0ef0e171469089c18f5233860ceaf9b168049cb9263fd7483c",
            "6fc8009faa2f00c1c1dfce59feea9b0745eb260a7dd11bee65c8e20843da6eab",
        ),
    ),
    "base": (
        (3, 3, 27, 3),
        (128, 256, 512, 1024),
        (
            "52cbb006d3dadd03f6e095a8ca1aca47aecdd75acb4bc74bce1f5c695d0086e6",
            "40a20c5548a5e9202f69735ecc06c990e6b7c9d2de39f0361e27baeb24cb7c45",
        ),
    ),
    "large": (
        (3, 3, 27, 3),
        (192, 384, 768, 1536),
        (
            "070c5ed9ed289581e477741d3b34beffa920db8cf590899d6d2c67fba2a198a6",
            "96f02b6f0753d4f543261bc9d09bed650f24dd6bc02ddde3066135b63d23a1cd",
        ),
    ),
    "xlarge": (
        (3, 3, 27, 3),
        (256, 512, 1024, 2048),
        (
            "c1f5ccab661354fc3a79a10fa99af82f0fbf10ec65cb894a3ae0815f17a889ee",
            "de3f8a54174130e0cecdc71583354753d557fcf1f4487331558e2a16ba0cfe05",
        ),
    ),
}
_EPSILON = 1e-6
# ImageNet's channel statistics on the [0, 255] scale.
_MEAN = [255 * m for m in (0.485, 0.456, 0.406)]
_VARIANCE = [(255 * s) ** 2 for s in (0.229, 0.224, 0.225)]


class _ShapeKeeping(Layer):
    """Base of ConvNeXt's two layers: the output has the input's shape, and Keras finds its
    twin class in ``keras.src.applications.convnext`` when it loads a file plait wrote."""

    keras_module = "keras.src.applications.convnext"

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


class StochasticDepth(_ShapeKeeping):
    """Stochastic depth on a residual branch: in training, each sample's branch is dropped with
    probability ``drop_path_rate`` and kept ones are scaled by ``1 / (1 - rate)``; the identity
    at inference. Keras's ConvNeXt layer of the same name.

    Args:
        drop_path_rate: the probability of dropping a sample's branch, in [0, 1).

    Input shape: any ``(N, ...)``. Output shape: the same.

    Example:
        >>> import torch
        >>> StochasticDepth(0.5)(torch.ones(2, 3)).tolist()  # inference: unchanged
        [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    """

    def __init__(self, drop_path_rate, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= drop_path_rate < 1:
            raise ValueError(
                f"StochasticDepth '{self.name}': drop_path_rate must be in [0, 1). Received: {drop_path_rate!r}"
            )
        self.drop_path_rate = drop_path_rate

    def call(self, inputs, training=None):
        active = self.training if training is None else training
        if not active or not self.drop_path_rate:
            return inputs
        keep = 1.0 - self.drop_path_rate
        per_sample = (inputs.shape[0],) + (1,) * (inputs.dim() - 1)
        kept = torch.empty(per_sample, dtype=inputs.dtype, device=inputs.device).bernoulli_(keep)
        return inputs * (kept / keep)

    def get_config(self):
        return {**super().get_config(), "drop_path_rate": self.drop_path_rate}


class LayerScale(_ShapeKeeping):
    """A learned per-channel scale of the last axis (``gamma``, ``projection_dim`` values
    starting at ``init_values``). Keras's ConvNeXt layer of the same name.

    Args:
        init_values: the scale's initial value.
        projection_dim: the number of channels.

    Input shape: ``(..., projection_dim)``. Output shape: the same.

    Example:
        >>> import torch
        >>> LayerScale(0.5, 2)(torch.ones(1, 2))
        tensor([[0.5000, 0.5000]], grad_fn=<MulBackward0>)
    """

    def __init__(self, init_values, projection_dim, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(projection_dim, int) or projection_dim < 1:
            raise ValueError(
                f"LayerScale '{self.name}': projection_dim must be a positive integer. Received: {projection_dim!r}"
            )
        self.init_values, self.projection_dim = init_values, projection_dim

    def build(self, input_shape):
        if input_shape[-1] != self.projection_dim:
            raise ValueError(
                f"LayerScale '{self.name}' scales {self.projection_dim} channels; received input of shape "
                f"{tuple(input_shape)}"
            )
        self.add_weight("gamma", (self.projection_dim,), initializers.Constant(self.init_values))

    def call(self, inputs):
        return inputs * self.gamma

    def get_config(self):
        return {**super().get_config(), "init_values": self.init_values, "projection_dim": self.projection_dim}


# Keras's .keras files name these classes bare (module keras.src.applications.convnext).
register_builtin_classes({"LayerScale": LayerScale, "StochasticDepth": StochasticDepth})


def _block(x, dim, drop_rate, layer_scale, prefix):
    branch = layers.Conv2D(dim, 7, padding="same", groups=dim, name=f"{prefix}_depthwise_conv")(x)
    branch = layers.LayerNormalization(epsilon=_EPSILON, name=f"{prefix}_layernorm")(branch)
    branch = layers.Dense(4 * dim, name=f"{prefix}_pointwise_conv_1")(branch)
    branch = layers.Activation("gelu", name=f"{prefix}_gelu")(branch)
    branch = layers.Dense(dim, name=f"{prefix}_pointwise_conv_2")(branch)
    if layer_scale is not None:
        branch = LayerScale(layer_scale, dim, name=f"{prefix}_layer_scale")(branch)
    if drop_rate:
        branch = StochasticDepth(drop_rate, name=f"{prefix}_stochastic_depth")(branch)
    else:  # Keras keeps a named identity layer here
        branch = layers.Activation("linear", name=f"{prefix}_identity")(branch)
    return x + branch


def _downsampling(stage, dim, name):
    """The stem (stage 0: 4x4 patches, then LayerNorm) or a downsampling step (LayerNorm, then
    2x2 stride-2 convolution), as a nested Sequential."""
    if stage == 0:
        parts = [
            layers.Conv2D(dim, 4, strides=4, name=f"{name}_stem_conv"),
            layers.LayerNormalization(epsilon=_EPSILON, name=f"{name}_stem_layernorm"),
        ]
        return Sequential(parts, name=f"{name}_stem")
    i = stage - 1
    parts = [
        layers.LayerNormalization(epsilon=_EPSILON, name=f"{name}_downsampling_layernorm_{i}"),
        layers.Conv2D(dim, 2, strides=2, name=f"{name}_downsampling_conv_{i}"),
    ]
    return Sequential(parts, name=f"{name}_downsampling_block_{i}")


def convnext(options, variant, include_preprocessing, drop_path_rate=0.0, layer_scale=1e-6):
    """ConvNeXt ``variant`` (``"tiny"`` ... ``"xlarge"``)."""
    depths, dims, hashes = _VARIANTS[variant]
    name, key = options.name, f"convnext_{variant}"
    if options.weights == "imagenet" and key not in name:
        raise ValueError(
            f'Model name "{name}" does not match weights variant "{key}". When using imagenet '
            f'weights, model name must contain the weights variant (e.g., "{key}").'
        )
    # Stochastic depth grows linearly from 0 over all blocks (the original ConvNeXt recipe).
    total = sum(depths)
    rates = [drop_path_rate * i / (total - 1) if total > 1 else 0.0 for i in range(total)]

    def body(x, shape):
        if include_preprocessing and shape[2] == 3:
            x = layers.Normalization(mean=_MEAN, variance=_VARIANCE, name=f"{name}_prestem_normalization")(x)
        index = 0
        for stage, (depth, dim) in enumerate(zip(depths, dims)):
            x = _downsampling(stage, dim, name)(x)
            for j in range(depth):
                x = _block(x, dim, rates[index], layer_scale, f"{name}_stage_{stage}_block_{j}")
                index += 1
        return x

    def head(x, options):
        x = layers.GlobalAveragePooling2D(name=f"{name}_head_gap")(x)
        x = layers.LayerNormalization(epsilon=_EPSILON, name=f"{name}_head_layernorm")(x)
        return layers.Dense(options.classes, activation=options.classifier_activation, name=f"{name}_head_dense")(x)

    def headless(x, options):  # the final LayerNorm stays, pooled or not
        return layers.LayerNormalization(epsilon=_EPSILON)(_build.global_pool(x, options.pooling))

    def weight_file(top):
        file_name = name + (".h5" if top else "_notop.h5")
        return file_name, f"{imagenet_utils.WEIGHTS_URL}convnext/{file_name}", hashes[0 if top else 1]

    return _build.application(options, body, default_size=224, head=head, headless=headless, weight_file=weight_file)


def _public(variant):
    def build(
        include_top=True,
        include_preprocessing=True,
        weights="imagenet",
        input_tensor=None,
        input_shape=None,
        pooling=None,
        classes=1000,
        classifier_activation="softmax",
        name=f"convnext_{variant}",
    ):
        options = _build.Options(
            include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation, name
        )
        return convnext(options, variant, include_preprocessing)

    title = {"xlarge": "XLarge"}.get(variant, variant.capitalize())
    build.__name__ = build.__qualname__ = f"ConvNeXt{title}"
    build.__doc__ = (
        f"Instantiates the ConvNeXt{title} architecture (Keras's ``keras.applications.ConvNeXt{title}``): "
        "images in [0, 255], normalized by the model itself (``include_preprocessing=True``).\n"
        + imagenet_utils.ARGS_DOC
    )
    return build


ConvNeXtTiny = _public("tiny")
ConvNeXtSmall = _public("small")
ConvNeXtBase = _public("base")
ConvNeXtLarge = _public("large")
ConvNeXtXLarge = _public("xlarge")


preprocess_input = imagenet_utils.module_functions(__name__, "ConvNeXt", None)
decode_predictions = imagenet_utils.decode_predictions
