"""``GPTQConfig``: the settings of ``model.quantize("gptq", config=...)`` (Keras 3's
``keras.quantizers.GPTQConfig``, same arguments, defaults, checks and config dict).

Example:
    >>> from plait.quantizers.gptq_config import GPTQConfig
    >>> config = GPTQConfig(dataset=[[1, 2, 3]], tokenizer=None, weight_bits=8, group_size=-1)
    >>> config.mode, config.dtype_policy_string(), config.get_config()["hessian_damping"]
    ('gptq', 'gptq/8/-1', 0.01)
"""

from plait.quantizers.config import QuantizationConfig


def check_calibration_sizes(owner, num_samples, sequence_length, group_size):
    """The checks GPTQ and AWQ share: positive sample count and length, a group size of -1 or
    a positive integer (raises ValueError naming ``owner`` and the value received)."""
    if not isinstance(num_samples, int) or num_samples <= 0:
        raise ValueError(f"{owner}: num_samples must be a positive integer. Received: num_samples={num_samples!r}")
    if not isinstance(sequence_length, int) or sequence_length <= 0:
        raise ValueError(
            f"{owner}: sequence_length must be a positive integer. Received: sequence_length={sequence_length!r}"
        )
    if not isinstance(group_size, int) or group_size < -1 or group_size == 0:
        raise ValueError(
            f"{owner}: group_size must be -1 (one group per output channel) or a positive integer. "
            f"Received: group_size={group_size!r}"
        )


class GPTQConfig(QuantizationConfig):
    """GPTQ post-training weight quantization: each Dense/EinsumDense kernel of the model's
    sequential blocks is quantized column by column, the rounding error of each column pushed
    onto the columns not yet quantized through the inverse of the layer's input Hessian
    ``2/N · XᵀX``, estimated on calibration data.

    Args:
        dataset: the calibration data: an iterable of strings (read with ``tokenizer``) or of
            token-id arrays (any shape; flattened and joined).
        tokenizer: an object with ``tokenize(text)`` returning token ids; Keras requires one
            even for token-id data, and so does plait.
        weight_bits: 2, 3, 4 or 8 (default 4); 4-bit kernels are stored two values per byte.
        num_samples: calibration windows (default 128).
        per_channel: one scale per output channel (default True); False uses one per group of
            the whole tensor.
        sequence_length: tokens per calibration window (default 512).
        hessian_damping: share of the Hessian's mean diagonal added to its diagonal before
            inversion, in [0, 1] (default 0.01).
        group_size: input rows sharing a scale and zero point (default 128; -1: one group).
        symmetric: zero point fixed at the middle of the range (default False).
        activation_order: quantize the input rows by decreasing Hessian diagonal (default False).
        quantization_layer_structure: ``{"pre_block_layers": [...], "sequential_blocks": [...]}``;
            None asks ``model.get_quantization_layer_structure("gptq")``.
    """

    def __init__(
        self,
        dataset,
        tokenizer,
        *,
        weight_bits=4,
        num_samples=128,
        per_channel=True,
        sequence_length=512,
        hessian_damping=0.01,
        group_size=128,
        symmetric=False,
        activation_order=False,
        quantization_layer_structure=None,
    ):
        super().__init__()
        if weight_bits not in (2, 3, 4, 8):
            raise ValueError(f"GPTQConfig: weight_bits must be 2, 3, 4 or 8. Received: weight_bits={weight_bits!r}")
        check_calibration_sizes("GPTQConfig", num_samples, sequence_length, group_size)
        if not 0 <= hessian_damping <= 1:
            raise ValueError(f"GPTQConfig: hessian_damping must be in [0, 1]. Received: {hessian_damping!r}")
        self.dataset, self.tokenizer = dataset, tokenizer
        self.weight_bits, self.num_samples, self.per_channel = weight_bits, num_samples, per_channel
        self.sequence_length, self.hessian_damping = sequence_length, hessian_damping
        self.group_size, self.symmetric, self.activation_order = group_size, symmetric, activation_order
        self.quantization_layer_structure = quantization_layer_structure

    @property
    def mode(self):
        return "gptq"

    def dtype_policy_string(self):
        """The mode part of the quantized layers' dtype policy, ``"gptq/<bits>/<group_size>"``."""
        return f"gptq/{self.weight_bits}/{self.group_size}"

    def get_config(self):
        # The dataset and tokenizer serve the one calibration only: saved as None, as Keras does.
        names = ("weight_bits", "num_samples", "per_channel", "sequence_length", "hessian_damping", "group_size")
        names += ("symmetric", "activation_order", "quantization_layer_structure")
        return {"dataset": None, "tokenizer": None, **{name: getattr(self, name) for name in names}}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"GPTQConfig(weight_bits={self.weight_bits}, group_size={self.group_size}, symmetric={self.symmetric})"
