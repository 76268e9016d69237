"""GPTQ and AWQ variables for ``Dense`` and ``EinsumDense`` (Keras 3.15's layout), and the
float kernel the quantized layer computes with.

``layer.quantize("gptq" | "awq", config)`` (through ``model.quantize``) gives the layer its
placeholder variables and keeps the float kernel until ``plait.quantizers.calibration``
replaces it: the layer runs on the float kernel until then, as Keras's does. The variables,
with Keras's names, shapes and file order:

- ``quantized_kernel`` (Keras name ``kernel``), uint8 ``(columns, rows)``: the transposed 2D
  kernel's values in ``[0, 2**bits - 1]``; 4-bit values packed two per byte along the first
  axis, ``((columns + 1) // 2, rows)``;
- ``kernel_scale`` ``(columns, n_groups)`` and the zero points, uint8, same shape (named
  ``kernel_zero`` in Dense, ``zero_point`` in EinsumDense);
- AWQ only: ``awq_scales`` ``(rows,)``, the per-row scales divided out after dequantization;
- ``g_idx`` ``(rows,)`` float: each row's group (its integer part; GPTQ stores
  ``position / group_size``).

``rows x columns`` is the kernel as a matrix: Dense's ``(input_dim, units)``; a 3D EinsumDense
kernel is read as Keras reads it, ``(d, h, k) -> (d, h*k)`` when its largest axis comes first,
``(h, k, d) -> (h*k, d)`` otherwise.

Keras 3.15 writes these layers' files without the zero points (and then cannot read them
back); plait writes all the variables, which Keras reads, and reads Keras's files, refilling
the zero points where the config makes them known (symmetric GPTQ).

Example:
    >>> import torch, plait
    >>> from plait.quantizers import GPTQConfig
    >>> layer = plait.layers.Dense(6)
    >>> _ = layer(torch.ones(2, 8))
    >>> layer.quantize("gptq", config=GPTQConfig(dataset=None, tokenizer=None, group_size=4))
    >>> layer.dtype_policy, tuple(layer.quantized_kernel.shape), tuple(layer.kernel_scale.shape)
    (<GPTQDTypePolicy "gptq/4/4_from_float32">, (3, 8), (6, 2))
"""

import math

import numpy as np
import torch

from plait import quantizers
from plait.quantizers import config as quantization_configs
from plait.quantizers.policies import quantized_policy
from plait.quantizers.zero_point import dequantize, spread_groups

CALIBRATED_MODES = ("gptq", "awq")


class CalibratedQuantization:
    """Mixin: the GPTQ/AWQ side of a quantizable ``Dense`` or ``EinsumDense``, placed before
    :class:`~plait.layers.quantized.QuantizedLayer` in the layer's bases: its ``quantize``,
    ``build_quantized``, ``dequantized``, ``quantized_product`` and saving hooks take the
    ``"gptq"``/``"awq"`` modes and hand every other mode on.

    The layer gives ``zero_point_name`` (Keras's name of its zero points) and keeps its float
    kernel under the Keras name ``kernel``.
    """

    zero_point_name = "kernel_zero"

    # ------------------------------------------------------------------ the mode's entry points
    def quantize(self, mode=None, type_check=True, config=None):
        """Keras's ``layer.quantize``; for ``"gptq"``/``"awq"`` (a ``GPTQConfig``/``AWQConfig``
        required) the layer gets its placeholder variables and policy and keeps computing with
        the float kernel until calibration (``model.quantize``) fills them."""
        resolved = quantization_configs.resolve(mode, config)
        if resolved.mode not in CALIBRATED_MODES:
            return super().quantize(mode, type_check=type_check, config=config)
        who = f"Layer '{self.name}' ({type(self).__name__})"
        if type_check and "variable_serialization_spec" not in type(self).__dict__:
            raise NotImplementedError(
                f"{who} does not have a `quantize` method implemented for '{resolved.mode}': only plait's Dense "
                "and EinsumDense themselves are (pass type_check=False to try)."
            )
        if not self.built:
            raise ValueError(f"Cannot quantize a layer that isn't yet built. {who} is not built yet.")
        if self.quantization_mode is not None:
            raise ValueError(
                f"Layer '{self.name}' is already quantized with dtype_policy='{self.dtype_policy.name}'. "
                f"Received: mode={resolved.mode}"
            )
        self.calibrated_build(resolved.mode, resolved.weight_bits, resolved.group_size)
        # The structure's layers cannot go into a config file (Keras fails there): left out.
        kept = type(resolved).from_config({**resolved.get_config(), "quantization_layer_structure": None})
        self._set_quantization_config(kept)
        self.dtype_policy = quantized_policy(f"{resolved.dtype_policy_string()}_from_{self.dtype_policy.name}")

    def build_quantized(self):
        if self.quantization_mode not in CALIBRATED_MODES:
            return super().build_quantized()
        policy = self.dtype_policy
        self.calibrated_build(policy.quantization_mode, policy.weight_bits, policy.group_size, loading=True)

    def dequantized(self, name):
        if self.quantization_mode in CALIBRATED_MODES and name == "kernel":
            return self.calibrated_kernel()
        return super().dequantized(name)

    def quantized_product(self, x, name="kernel", equation=None, *args, **kwargs):
        if self.quantization_mode in CALIBRATED_MODES:
            kernel = self.calibrated_kernel().to(x.dtype)
            return x @ kernel if equation is None else torch.einsum(equation, x, kernel)
        return super().quantized_product(x, name, equation, *args, **kwargs)

    def save_own_variables(self, store):
        if self.quantization_mode not in CALIBRATED_MODES:
            return super().save_own_variables(store)
        for i, spec in enumerate(self.calibrated_file_entries()):
            store[str(i)] = spec.to_keras(spec.get(self)).cpu().numpy()

    def load_own_variables(self, store):
        if self.quantization_mode not in CALIBRATED_MODES:
            return super().load_own_variables(store)
        return self.load_calibrated_variables(store)

    # ------------------------------------------------------------------ shapes
    def _float_kernel_spec(self):
        for owner, spec in self.weight_entries():
            if owner is self and spec.name == "kernel" and spec.get(self).is_floating_point():
                return spec
        return None

    def calibration_shape(self):
        """``(rows, columns)``: the kernel read as a matrix (see the module docstring)."""
        shape = tuple(self.__dict__.get("_calibrated_kernel_shape") or self._float_kernel_spec().keras_shape)
        if len(shape) == 2:
            return shape
        if len(shape) == 3:
            first, second, third = shape
            if shape.index(max(shape)) == 0:
                return first, second * third
            return first * second, third
        raise ValueError(
            f"Layer '{self.name}': GPTQ/AWQ quantize 2D or 3D kernels only. Received a kernel of shape {shape}."
        )

    def calibration_matrix(self):
        """The float kernel as the ``(rows, columns)`` matrix the calibration quantizes."""
        spec = self._float_kernel_spec()
        if spec is None:
            raise ValueError(f"Layer '{self.name}' is already calibrated: its float kernel is gone.")
        return spec.to_keras(spec.get(self)).reshape(self.calibration_shape())

    @property
    def is_gptq_calibrated(self):
        """Whether the GPTQ variables hold the quantized kernel (Keras's flag)."""
        return self.quantization_mode == "gptq" and self._float_kernel_spec() is None

    @property
    def is_awq_calibrated(self):
        """Whether the AWQ variables hold the quantized kernel (Keras's flag)."""
        return self.quantization_mode == "awq" and self._float_kernel_spec() is None

    # ------------------------------------------------------------------ variables
    def calibrated_build(self, mode, weight_bits, group_size, loading=False):
        """Add the placeholder variables of ``mode`` (``"gptq"``/``"awq"``) for ``weight_bits``
        and ``group_size``; ``loading``: the layer is being rebuilt from a quantized config, so
        the float kernel goes at once."""
        spec = self._float_kernel_spec()
        self.__dict__["_calibrated_kernel_shape"] = tuple(spec.keras_shape)
        rows, columns = self.calibration_shape()
        groups = 1 if group_size == -1 else math.ceil(rows / group_size)
        packed = (columns + 1) // 2 if weight_bits == 4 else columns
        add = self.add_weight
        self.quantized_kernel = add(
            shape=(packed, rows), initializer="zeros", dtype="uint8", trainable=False, name="kernel"
        )
        self.kernel_scale = add(shape=(columns, groups), initializer="ones", trainable=False, name="kernel_scale")
        self.kernel_zero = add(
            shape=(columns, groups), initializer="zeros", dtype="uint8", trainable=False, name=self.zero_point_name
        )
        if mode == "awq":
            self.awq_scales = add(shape=(rows,), initializer="ones", trainable=False, name="awq_scales")
        self.g_idx = add(shape=(rows,), initializer="zeros", dtype="float32", trainable=False, name="g_idx")
        if loading:
            self._drop_float_kernel()

    def _drop_float_kernel(self):
        spec = self._float_kernel_spec()
        if spec is not None:
            self._weight_specs.remove(spec)
            self._parameters.pop(spec.attr, None)
            self._buffers.pop(spec.attr, None)

    def set_calibrated(self, quantized, scale, zero, g_idx, awq_scales=None):
        """Store the calibration's result and drop the float kernel.

        Args:
            quantized: uint8 ``(columns, rows)``, values in ``[0, 2**bits - 1]`` (packed here
                for 4 bits).
            scale, zero: ``(columns, n_groups)``.
            g_idx: ``(rows,)``.
            awq_scales: ``(rows,)`` (AWQ only).
        """
        if self.dtype_policy.weight_bits == 4:
            quantized = quantizers.pack_int4(quantized.to(torch.uint8), axis=0, dtype="uint8")[0]
        values = {"quantized_kernel": quantized, "kernel_scale": scale, "kernel_zero": zero, "g_idx": g_idx}
        if awq_scales is not None:
            values["awq_scales"] = awq_scales
        with torch.no_grad():
            for name, value in values.items():
                target = getattr(self, name)
                if tuple(value.shape) != tuple(target.shape):
                    raise ValueError(
                        f"Layer '{self.name}': the calibrated {name} has shape {tuple(value.shape)}, "
                        f"expected {tuple(target.shape)}."
                    )
                target.copy_(value.to(device=target.device, dtype=target.dtype))
        self._drop_float_kernel()

    def calibrated_kernel(self):
        """The float kernel the layer computes with, in Keras's layout: the float kernel before
        calibration, the dequantized one after (``scale * (q - zero)``, AWQ's scales divided out)."""
        spec = self._float_kernel_spec()
        if spec is not None:
            return spec.keras_view(spec.get(self))
        rows, columns = self.calibration_shape()
        q = self.quantized_kernel
        if self.dtype_policy.weight_bits == 4:
            q = quantizers.unpack_int4(q, columns, axis=0, dtype="uint8")
        scale = spread_groups(self.kernel_scale, self.g_idx)
        kernel = dequantize(q, scale, spread_groups(self.kernel_zero, self.g_idx)).T
        if self.quantization_mode == "awq":
            kernel = kernel / self.awq_scales.unsqueeze(-1)
        return kernel.reshape(self.__dict__["_calibrated_kernel_shape"])

    # ------------------------------------------------------------------ files
    def calibrated_file_entries(self):
        """The weight specs in Keras's file order: bias, kernel, scale, zero points, [AWQ
        scales], g_idx."""
        if self._float_kernel_spec() is not None:
            raise ValueError(
                f"Layer '{self.name}' was prepared for {self.quantization_mode.upper()} but never calibrated "
                "(it is in none of the quantization structure's sequential blocks, or calibration failed): "
                "its quantized variables hold no values to save. Leave it out of model.quantize with `filters`."
            )
        by_attr = {spec.attr: spec for owner, spec in self.weight_entries() if owner is self}
        order = ["bias", "quantized_kernel", "kernel_scale", "kernel_zero", "awq_scales", "g_idx"]
        return [by_attr[name] for name in order if name in by_attr and (name != "bias" or self.bias is not None)]

    def load_calibrated_variables(self, store):
        """Read the variables in :meth:`calibrated_file_entries`'s order; a Keras 3.15 file
        lacks the zero points, refilled from the config when it is symmetric GPTQ."""
        entries = self.calibrated_file_entries()
        values = [np.asarray(store[str(i)]) for i in range(len(store.keys()))]
        if len(values) == len(entries) - 1:
            values = self._refill_zero_points(entries, values)
        if len(values) != len(entries):
            raise ValueError(
                f"Layer '{self.name}' expected {len(entries)} variables, but received {len(values)} variables "
                f"during loading. Expected: {[spec.name for spec in entries]}"
            )
        with torch.no_grad():
            for spec, value in zip(entries, values):
                current = spec.get(self)
                if tuple(value.shape) != tuple(spec.keras_shape):
                    raise ValueError(
                        f"Weight '{self.name}/{spec.name}' has shape {tuple(spec.keras_shape)}, "
                        f"but the value given has shape {value.shape}."
                    )
                current.copy_(spec.to_storage(value).to(current.dtype))

    def _refill_zero_points(self, entries, values):
        config = self.quantization_config
        where = [spec.attr for spec in entries].index("kernel_zero")
        if self.quantization_mode == "gptq" and getattr(config, "symmetric", False):
            middle = 2 ** (self.dtype_policy.weight_bits - 1)
            zero = np.full(tuple(entries[where].keras_shape), middle, dtype=np.uint8)
            return [*values[:where], zero, *values[where:]]
        raise ValueError(
            f"Layer '{self.name}': this file holds no {self.zero_point_name} for the layer's "
            f"{self.quantization_mode.upper()} kernel (Keras 3.15 leaves the zero points out when it saves GPTQ/AWQ "
            "layers, and cannot load such files itself); only symmetric GPTQ's can be rebuilt. Quantize the model "
            "again, or save it with plait, which writes them."
        )
