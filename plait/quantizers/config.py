"""Quantization configs (Keras 3's ``keras.quantizers.*QuantizationConfig``): which quantizers
``quantize(...)`` uses for a mode, and :func:`resolve` turning ``(mode, config)`` into one config.

Example:
    >>> from plait.quantizers import Int4QuantizationConfig
    >>> config = Int4QuantizationConfig(block_size=64)
    >>> config.mode, config.get_config()["block_size"]
    ('int4', 64)
"""

from plait.quantizers.quantizers import AbsMaxQuantizer, Quantizer

QUANTIZATION_MODES = ("int8", "float8", "int4", "gptq", "awq")


def _serialize_quantizer(quantizer):
    if quantizer is None:
        return None
    return {
        "module": "keras.quantizers",
        "class_name": type(quantizer).__name__,
        "config": quantizer.get_config(),
        "registered_name": None,
    }


def _deserialize_quantizer(config):
    if config is None or isinstance(config, Quantizer):
        return config
    from plait.quantizers import deserialize

    return deserialize(config)


class QuantizationConfig:
    """Base class of quantization configs: the weight and activation quantizers of a mode.

    Args:
        weight_quantizer: quantizer for the weights (None: the layer's default).
        activation_quantizer: quantizer for the inputs (None: inputs stay float).
    """

    def __init__(self, weight_quantizer=None, activation_quantizer=None):
        self.weight_quantizer = weight_quantizer
        self.activation_quantizer = activation_quantizer

    @property
    def mode(self):
        """The quantization mode (``"int8"``, ``"int4"``, ...), given by each subclass."""
        raise NotImplementedError(f"{type(self).__name__} has no mode: use one of its subclasses.")

    def get_config(self):
        return {
            "weight_quantizer": _serialize_quantizer(self.weight_quantizer),
            "activation_quantizer": _serialize_quantizer(self.activation_quantizer),
        }

    @classmethod
    def from_config(cls, config):
        return cls(
            weight_quantizer=_deserialize_quantizer(config.get("weight_quantizer")),
            activation_quantizer=_deserialize_quantizer(config.get("activation_quantizer")),
        )

    @staticmethod
    def weight_quantizer_or_default(config, default):
        """``config``'s weight quantizer, or ``default`` when it has none."""
        found = getattr(config, "weight_quantizer", None)
        return default if found is None else found

    @staticmethod
    def activation_quantizer_or_default(config, default):
        """``config``'s activation quantizer (None included), or ``default`` without a config."""
        return default if config is None else config.activation_quantizer

    def __repr__(self):
        return f"{type(self).__name__}(mode={self.mode!r})"


class Int8QuantizationConfig(QuantizationConfig):
    """int8 weights (per output channel) and, by default, int8 inputs (per row).

    Args:
        weight_quantizer: a quantizer with ``output_dtype="int8"`` (default: abs-max).
        activation_quantizer: default ``"default"``, an :class:`AbsMaxQuantizer` on the last
            axis; None keeps the inputs float.

    Example:
        >>> from plait.quantizers import Int8QuantizationConfig
        >>> Int8QuantizationConfig().activation_quantizer
        AbsMaxQuantizer(value_range=(-127, 127), epsilon=1e-07, output_dtype='int8')
    """

    def __init__(self, weight_quantizer=None, activation_quantizer="default"):
        default = isinstance(activation_quantizer, str) and activation_quantizer == "default"
        super().__init__(weight_quantizer, AbsMaxQuantizer() if default else activation_quantizer)
        if weight_quantizer is not None and weight_quantizer.output_dtype != "int8":
            raise ValueError(
                "Int8QuantizationConfig needs a weight_quantizer with output_dtype='int8'. "
                f"Received: output_dtype={weight_quantizer.output_dtype}"
            )

    @property
    def mode(self):
        return "int8"


class Int4QuantizationConfig(QuantizationConfig):
    """int4 weights, two per byte; inputs stay float unless an activation quantizer is given.

    Args:
        weight_quantizer: a quantizer with ``value_range=(-8, 7)`` and ``output_dtype="int8"``
            (per-channel only).
        activation_quantizer: default ``"default"``, i.e. None (weight-only).
        block_size: rows per group of the grouped (asymmetric, zero-point) quantization
            (default 128); None or -1 for one symmetric scale per output channel.
    """

    def __init__(self, weight_quantizer=None, activation_quantizer="default", block_size=128):
        default = isinstance(activation_quantizer, str) and activation_quantizer == "default"
        super().__init__(weight_quantizer, None if default else activation_quantizer)  # weight-only by default
        if block_size not in (None, -1) and block_size <= 0:
            raise ValueError(f"block_size must be None, -1 or a positive integer. Received: block_size={block_size}")
        self.block_size = block_size
        grouped = block_size is not None and block_size > 0
        if grouped and (weight_quantizer is not None or self.activation_quantizer is not None):
            raise ValueError(
                "Int4 grouped quantization (block_size > 0) takes no custom quantizers: set block_size "
                f"to None or -1 for per-channel quantization, or drop the quantizers. Received: block_size={block_size}"
            )
        if weight_quantizer is not None:
            if tuple(weight_quantizer.value_range) != (-8, 7):
                raise ValueError(
                    "Int4QuantizationConfig needs a weight_quantizer with value_range=(-8, 7). "
                    f"Received: value_range={weight_quantizer.value_range}"
                )
            if weight_quantizer.output_dtype != "int8":
                raise ValueError(
                    "Int4QuantizationConfig needs a weight_quantizer with output_dtype='int8'. "
                    f"Received: output_dtype={weight_quantizer.output_dtype}"
                )

    @property
    def mode(self):
        return "int4"

    def get_config(self):
        return {**super().get_config(), "block_size": self.block_size}

    @classmethod
    def from_config(cls, config):
        return cls(
            weight_quantizer=_deserialize_quantizer(config.get("weight_quantizer")),
            activation_quantizer=_deserialize_quantizer(config.get("activation_quantizer")),
            block_size=config.get("block_size"),  # older files: per-channel
        )


class Float8QuantizationConfig(QuantizationConfig):
    """float8 training (inputs and kernel in ``float8_e4m3fn``, output gradients in
    ``float8_e5m2``, with delayed scaling); takes no quantizers."""

    def __init__(self):
        super().__init__()

    @property
    def mode(self):
        return "float8"

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls()


_DEFAULTS = {"int8": Int8QuantizationConfig, "int4": Int4QuantizationConfig, "float8": Float8QuantizationConfig}


def _check_mode(mode):
    if mode not in (None, *QUANTIZATION_MODES):
        raise ValueError(f"Invalid quantization mode. Expected one of {QUANTIZATION_MODES}. Received: mode={mode}")


def resolve(mode, config):
    """The config ``quantize(mode, config)`` runs with: ``config``, or the mode's default one.

    Raises ValueError for an unknown mode, a config that is not a :class:`QuantizationConfig`,
    a mode that contradicts the config's, and GPTQ/AWQ without their config.
    """
    if isinstance(config, str):  # quantize(config="int8"), as Keras accepts
        mode, config = config, None
    _check_mode(mode)
    if config is None:
        if mode in {"gptq", "awq"}:
            raise ValueError(f"For {mode.upper()}, pass a `{mode.upper()}Config` object as the `config` argument.")
        if mode is None:
            raise ValueError("quantize needs a `mode` or a `config`.")
        return _DEFAULTS[mode]()
    if not isinstance(config, QuantizationConfig):
        raise ValueError(
            f"Argument `config` must be a QuantizationConfig. Received: config={config!r} (of type {type(config)})"
        )
    if mode not in (None, config.mode):
        raise ValueError(f"Contradictory arguments: mode='{mode}' but config.mode='{config.mode}'")
    _check_mode(config.mode)
    return config
