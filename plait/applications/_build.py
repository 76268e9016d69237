"""What the application families are built with.

Every family module describes its network as data (stage and block tables, naming patterns) and
hands it to the few builders here:

* :func:`application` — the frame every model shares: argument checks, the image input, the
  family's body, then the classifier (``include_top``) or the global pooling, the ``Model`` and
  its weights.
* :func:`conv_unit` / :func:`norm_act` — a convolution (plain, depthwise or separable) followed by
  BatchNormalization and an activation, or the pre-activation pair alone.
* :func:`inverted_residual` — the expand / depthwise / squeeze-excite / project block of
  MobileNetV2, MobileNetV3 and both EfficientNets, in each family's naming style.

Layer names, argument values and the order in which layers are created are Keras's: Keras's
weight files match layers by name, and layers without a name get automatic ones
(``conv2d_12``) counted in creation order.
"""

import dataclasses

from plait import layers
from plait.applications import imagenet_utils
from plait.models import Model


@dataclasses.dataclass
class Options:
    """The arguments every application takes, as the user passed them."""

    include_top: bool = True
    weights: object = "imagenet"
    input_tensor: object = None
    input_shape: object = None
    pooling: object = None
    classes: int = 1000
    classifier_activation: object = "softmax"
    name: str = None

    @classmethod
    def split(cls, arguments):
        """``(Options, the family's own arguments)`` from a public function's arguments."""
        own = dict(arguments)
        common = {field.name: own.pop(field.name) for field in dataclasses.fields(cls) if field.name in own}
        return cls(**common), own


def public(title, default_name, build, summary):
    """A public application function with Keras's common signature (``include_top`` ...
    ``name``) that returns ``build(options)``; ``summary`` starts its docstring."""

    def application(
        include_top=True,
        weights="imagenet",
        input_tensor=None,
        input_shape=None,
        pooling=None,
        classes=1000,
        classifier_activation="softmax",
        name=default_name,
    ):
        return build(
            Options(include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation, name)
        )

    application.__name__ = application.__qualname__ = title
    application.__module__ = getattr(build, "func", build).__module__
    application.__doc__ = f"Instantiates the {title} architecture (Keras's ``keras.applications.{title}``); {summary}\n"
    application.__doc__ += imagenet_utils.ARGS_DOC
    return application


def names(prefix, *suffixes):
    """``prefix + suffix`` for each suffix; all None (automatic names) when ``prefix`` is None,
    and None for a suffix that is None."""
    return tuple(None if prefix is None or suffix is None else prefix + suffix for suffix in suffixes)


def activate(x, act, name=None):
    """Apply ``act``: an activation name (an ``Activation`` layer), a function ``(x, name) -> x``
    or None (nothing)."""
    if act is None:
        return x
    if callable(act):
        return act(x, name)
    return layers.Activation(act, name=name)(x)


_CONVOLUTIONS = {"conv": layers.Conv2D, "depthwise": layers.DepthwiseConv2D, "separable": layers.SeparableConv2D}


def conv_unit(x, filters, kernel, unit_names=(None, None, None), *, kind="conv", norm=None, act=None, **conv):
    """Convolution -> BatchNormalization (``norm``: its arguments; None: no normalization) ->
    activation (see :func:`activate`).

    Args:
        x: the input tensor ``(N, H, W, C)``.
        filters: output channels (ignored for ``kind="depthwise"``).
        kernel: kernel size.
        unit_names: names of the convolution, the normalization and the activation.
        kind: ``"conv"``, ``"depthwise"`` or ``"separable"``.
        norm: BatchNormalization arguments, or None.
        act: the activation.
        **conv: the convolution's other arguments (strides, padding, use_bias, initializers).
    """
    conv_name, norm_name, act_name = unit_names
    if kind != "depthwise":
        conv["filters"] = filters
    x = _CONVOLUTIONS[kind](kernel_size=kernel, name=conv_name, **conv)(x)
    if norm is not None:
        x = layers.BatchNormalization(name=norm_name, **norm)(x)
    return activate(x, act, act_name)


def norm_act(x, norm, act, unit_names=(None, None)):
    """BatchNormalization(**norm) then the activation: a pre-activation pair."""
    x = layers.BatchNormalization(name=unit_names[0], **norm)(x)
    return activate(x, act, unit_names[1])


def global_pool(x, mode, pool_names=(None, None)):
    """``"avg"`` / ``"max"`` global pooling (named ``pool_names[0]`` / ``[1]``); else x as is."""
    if mode == "avg":
        return layers.GlobalAveragePooling2D(name=pool_names[0])(x)
    if mode == "max":
        return layers.GlobalMaxPooling2D(name=pool_names[1])(x)
    return x


def dense_classifier(pool_name="avg_pool", dropout=None, dropout_name=None, **dense):
    """The usual top: global average pooling, optional dropout, ``Dense(classes)`` named
    ``predictions``; returns ``head(x, options)`` for :func:`application`."""

    def head(x, options):
        x = layers.GlobalAveragePooling2D(name=pool_name)(x)
        if dropout:
            x = layers.Dropout(dropout, name=dropout_name)(x)
        return layers.Dense(options.classes, activation=options.classifier_activation, name="predictions", **dense)(x)

    return head


def application(
    options,
    body,
    *,
    default_size,
    min_size=32,
    head=None,
    pool_names=(None, None),
    weight_file=None,
    shape=None,
    headless=None,
):
    """Build an application model around ``body``.

    Args:
        options: the user's :class:`Options`.
        body: ``body(x, input_shape) -> x``: the network from the image input to the last
            feature map.
        default_size: the image side the ImageNet weights were trained at.
        min_size: the smallest image side accepted.
        head: ``head(x, options) -> x``: the classifier with ``include_top`` (default
            :func:`dense_classifier`'s).
        pool_names: names of the avg / max pooling layers without the top.
        weight_file: ``weight_file(include_top) -> (file_name, url, file_hash)``: Keras's
            published ImageNet weights file, or None where there is none.
        shape: the input shape when the family resolved it by its own rules (else Keras's
            common rules resolve ``options.input_shape``).
        headless: ``headless(x, options) -> x`` without the top (default: the global pooling
            that ``options.pooling`` asks for, named ``pool_names``).

    Returns:
        the :class:`plait.Model`, with weights loaded as ``options.weights`` asks.
    """
    imagenet_utils.check_weights(options.weights, options.include_top, options.classes)
    if shape is None:
        shape = imagenet_utils.obtain_input_shape(
            options.input_shape,
            default_size=default_size,
            min_size=min_size,
            data_format=None,
            require_flatten=options.include_top,
            weights=options.weights,
        )
    image = imagenet_utils.image_input(options.input_tensor, shape)
    x = body(image, shape)
    if options.include_top:
        imagenet_utils.validate_activation(options.classifier_activation, options.weights)
        x = (head or dense_classifier())(x, options)
    elif headless is not None:
        x = headless(x, options)
    else:
        x = global_pool(x, options.pooling, pool_names)
    model = Model(imagenet_utils.model_inputs(options.input_tensor, image), x, name=options.name)
    published = (None, None, None)
    if options.weights == "imagenet" and weight_file is not None:
        published = weight_file(options.include_top)
    imagenet_utils.load_weights(model, options.weights, *published)
    return model


def tf_kernels_file(folder, key, hashes):
    """Keras's ``{key}_weights_tf_dim_ordering_tf_kernels[_notop].h5`` files in ``folder``;
    ``hashes`` is ``(with top, without top)``."""

    def weight_file(include_top):
        file_name = f"{key}_weights_tf_dim_ordering_tf_kernels{'' if include_top else '_notop'}.h5"
        return file_name, f"{imagenet_utils.WEIGHTS_URL}{folder}/{file_name}", hashes[0 if include_top else 1]

    return weight_file


def round_to(value, divisor=8, minimum=None, keep=0.9):
    """``value`` rounded to the nearest multiple of ``divisor`` (at least ``minimum``, default
    ``divisor``), one ``divisor`` more if that lost more than ``1 - keep`` of it: the channel
    rule of MobileNet and EfficientNet (EfficientNetV2 passes ``keep=0``)."""
    floor = divisor if minimum is None else minimum
    rounded = max(floor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < keep * value else rounded


# ---------------------------------------------------------------- inverted residual blocks
@dataclasses.dataclass(frozen=True)
class BlockStyle:
    """How a family spells its inverted residual blocks.

    Args:
        names: role -> suffix after the block's prefix. Roles: ``expand``, ``expand_bn``,
            ``expand_act``, ``pad``, ``dw``, ``dw_bn``, ``dw_act``, ``project``, ``project_bn``,
            ``project_act``, ``drop``, ``add``. A role not listed gets an automatic name.
        norm: BatchNormalization arguments.
        init: extra arguments of every convolution (initializers); the depthwise convolution
            takes ``kernel_initializer`` as ``depthwise_initializer``.
        pad_strided: a stride-2 depthwise convolution pads explicitly (TF's "same" for even
            sizes, :func:`imagenet_utils.correct_pad`) and runs "valid"; else it runs "same".
        shortcut_first: the residual sum is ``Add([shortcut, x])`` (else ``[x, shortcut]``).
    """

    names: dict
    norm: dict
    init: dict = dataclasses.field(default_factory=dict)
    pad_strided: bool = True
    shortcut_first: bool = True

    def named(self, prefix, *roles):
        return tuple(None if self.names.get(role) is None else prefix + self.names[role] for role in roles)


def inverted_residual(
    x, style, prefix, *, filters, kernel=3, stride=1, expanded=None, act, se=None, drop=0.0, fused=False
):
    """An inverted residual block: 1x1 expansion to ``expanded`` channels (when given), a
    ``kernel`` depthwise convolution, squeeze-and-excite ``se(x, prefix, input_width)`` (when given), a 1x1
    linear projection to ``filters``, and the shortcut sum when the shapes allow it (with
    ``Dropout(drop)`` of whole samples, stochastic depth, before it).

    ``fused=True`` is EfficientNetV2's Fused-MBConv: one ``kernel`` convolution does the
    expansion and the depthwise part; without expansion, the projection takes the kernel and
    the stride and is followed by the activation.
    """
    shortcut, width = x, x.shape[-1]
    conv = dict(padding="same", use_bias=False, **style.init)
    if fused:
        if expanded:
            roles = style.named(prefix, "expand", "expand_bn", "expand_act")
            x = conv_unit(x, expanded, kernel, roles, strides=stride, norm=style.norm, act=act, **conv)
    else:
        if expanded:
            roles = style.named(prefix, "expand", "expand_bn", "expand_act")
            x = conv_unit(x, expanded, 1, roles, norm=style.norm, act=act, **conv)
        depthwise = dict(conv)
        if "kernel_initializer" in depthwise:
            depthwise["depthwise_initializer"] = depthwise.pop("kernel_initializer")
        if stride == 2 and style.pad_strided:
            pad = imagenet_utils.correct_pad(x, kernel)
            x = layers.ZeroPadding2D(padding=pad, name=style.named(prefix, "pad")[0])(x)
            depthwise["padding"] = "valid"
        roles = style.named(prefix, "dw", "dw_bn", "dw_act")
        x = conv_unit(x, None, kernel, roles, kind="depthwise", strides=stride, norm=style.norm, act=act, **depthwise)
    if se is not None:
        x = se(x, prefix, width)
    if fused and not expanded:  # the projection is the block's only convolution
        roles = style.named(prefix, "project", "project_bn", "project_act")
        x = conv_unit(x, filters, kernel, roles, strides=stride, norm=style.norm, act=act, **conv)
    else:
        roles = style.named(prefix, "project", "project_bn") + (None,)
        x = conv_unit(x, filters, 1, roles, norm=style.norm, **conv)
    if stride != 1 or width != filters:
        return x
    if drop:
        x = layers.Dropout(drop, noise_shape=(None, 1, 1, 1), name=style.named(prefix, "drop")[0])(x)
    pair = [shortcut, x] if style.shortcut_first else [x, shortcut]
    return layers.Add(name=style.named(prefix, "add")[0])(pair)
