"""``AWQConfig``: the settings of ``model.quantize("awq", config=...)`` (Keras 3's
``keras.quantizers.AWQConfig``, same arguments, defaults, checks and config dict).

Example:
    >>> from plait.quantizers.awq_config import AWQConfig
    >>> config = AWQConfig(dataset=[[1, 2, 3]], tokenizer=None, group_size=64)
    >>> config.mode, config.dtype_policy_string(), config.get_config()["num_grid_points"]
    ('awq', 'awq/4/64', 20)
"""

from plait.quantizers.config import QuantizationConfig
from plait.quantizers.gptq_config import check_calibration_sizes


class AWQConfig(QuantizationConfig):
    """AWQ (activation-aware) 4-bit weight quantization: each Dense/EinsumDense kernel of the
    model's sequential blocks has its input rows scaled by ``s = a^r`` before quantization (``a``
    the largest input magnitude seen per row on calibration data, ``r`` searched on a grid of
    ``[0, 1]`` for the least activation-weighted error) and divided back when the layer runs.

    Args:
        dataset: the calibration data: an iterable of strings (read with ``tokenizer``) or of
            token-id arrays.
        tokenizer: an object with ``tokenize(text)``; required, as in Keras.
        weight_bits: 4 only (default 4).
        num_samples: calibration windows (default 128).
        sequence_length: tokens per window (default 512).
        group_size: input rows sharing a scale and zero point (default 128; -1: one group).
        num_grid_points: steps of the ratio grid (default 20, i.e. r in 0, 0.05, ..., 1).
        quantization_layer_structure: ``{"pre_block_layers": [...], "sequential_blocks": [...]}``;
            None asks ``model.get_quantization_layer_structure("awq")``.
    """

    def __init__(
        self,
        dataset,
        tokenizer,
        *,
        weight_bits=4,
        num_samples=128,
        sequence_length=512,
        group_size=128,
        num_grid_points=20,
        quantization_layer_structure=None,
    ):
        super().__init__()
        if weight_bits != 4:
            raise ValueError(f"AWQConfig: AWQ supports 4-bit weights only. Received: weight_bits={weight_bits!r}")
        check_calibration_sizes("AWQConfig", num_samples, sequence_length, group_size)
        if not isinstance(num_grid_points, int) or num_grid_points <= 0:
            raise ValueError(
                f"AWQConfig: num_grid_points must be a positive integer. Received: num_grid_points={num_grid_points!r}"
            )
        self.dataset, self.tokenizer = dataset, tokenizer
        self.weight_bits, self.num_samples, self.sequence_length = weight_bits, num_samples, sequence_length
        self.group_size, self.num_grid_points = group_size, num_grid_points
        self.quantization_layer_structure = quantization_layer_structure

    @property
    def mode(self):
        return "awq"

    def dtype_policy_string(self):
        """The mode part of the quantized layers' dtype policy, ``"awq/4/<group_size>"``."""
        return f"awq/{self.weight_bits}/{self.group_size}"

    def get_config(self):
        names = ("weight_bits", "num_samples", "sequence_length", "group_size", "num_grid_points")
        config = {name: getattr(self, name) for name in names}
        return {
            "dataset": None,
            "tokenizer": None,
            **config,
            "quantization_layer_structure": self.quantization_layer_structure,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"AWQConfig(group_size={self.group_size}, num_grid_points={self.num_grid_points})"
