"""LoRA (low-rank adaptation) for plait's weight layers, with Keras 3's rules.

A layer with LoRA keeps its weight (``kernel``, or ``embeddings``) frozen and learns two small
float32 factors ``a`` (the weight's shape with its last axis set to ``rank``) and ``b``
``(rank, last axis)``; the layer runs on ``weight + (lora_alpha / lora_rank) * a @ b``. In a
``.keras`` file the layer keeps Keras's variable list: the merged weight in the weight's place,
no factors; loading one zeroes the factors (the merged weight already holds them).
"""

import torch

from plait import initializers


class LoraLayer:
    """Mixin giving a layer Keras's ``lora_rank``/``lora_alpha`` and ``enable_lora``.

    A layer sets ``lora_target`` (the adapted weight's name) and ``lora_factor_names``, calls
    :meth:`_init_lora` in ``__init__`` and :meth:`_build_lora` at the end of ``build``, and
    runs on :meth:`lora_weight` (storage layout) where it read the weight.
    """

    lora_target = "kernel"
    lora_factor_names = ("lora_kernel_a", "lora_kernel_b")
    # Keras's Dense and Embedding build with ``enable_lora(lora_rank)``: the constructor's
    # lora_alpha is dropped for the rank then; EinsumDense passes it on.
    lora_alpha_kept_on_build = False
    lora_constraint_kind = "kernel"  # Keras's word for the weight in its constraint error

    def _init_lora(self, lora_rank, lora_alpha):
        self.lora_rank = lora_rank
        self.lora_alpha = lora_alpha if lora_alpha is not None else lora_rank
        self.lora_enabled = False
        self._configured_lora_alpha = self.lora_alpha  # see restore_saved_lora_alpha

    def restore_saved_lora_alpha(self):
        """Run with the ``lora_alpha`` of the config the layer was made from.

        A plait model file keeps the trained factors (a ``.keras`` file merges them into the
        kernel), so a layer loaded from one must scale them as the saved layer did, not by the
        rank Keras's Dense and Embedding fall back to when they build.
        """
        if self.lora_enabled and self._configured_lora_alpha is not None:
            self.lora_alpha = self._configured_lora_alpha

    def _build_lora(self):
        if self.lora_rank:
            self.built = True  # the weights are all there: enable_lora refuses an unbuilt layer
            self.enable_lora(self.lora_rank, self.lora_alpha if self.lora_alpha_kept_on_build else None)

    def _lora_spec(self):
        return next(spec for spec in self._weight_specs if spec.name == self.lora_target)

    def enable_lora(self, rank, lora_alpha=None, a_initializer="he_uniform", b_initializer="zeros"):
        """Freeze the layer's weight and add trainable low-rank factors (Keras's ``enable_lora``).

        Args:
            rank: the factors' inner size.
            lora_alpha: the update's scale is ``lora_alpha / rank`` (default: ``rank``, i.e. 1).
            a_initializer: the first factor's initializer (default ``"he_uniform"``).
            b_initializer: the second factor's (default ``"zeros"``: the layer starts unchanged).

        Raises:
            ValueError: a weight constraint, an unbuilt layer, LoRA already on.
            NotImplementedError: a quantized layer (plait has no LoRA on quantized weights yet).

        Example:
            >>> import plait
            >>> layer = plait.layers.Dense(3)
            >>> layer.build((None, 4))
            >>> layer.enable_lora(2)
            >>> [w.name for w in layer.trainable_weights]
            ['bias', 'lora_kernel_a', 'lora_kernel_b']
        """
        options = self.weight_options(self.lora_target)
        if options["constraint"] is not None:
            raise ValueError(
                f"Lora is incompatible with {self.lora_constraint_kind} constraints. "
                "In order to enable lora on this layer, "
                f"remove the `{self.lora_target}_constraint` argument."
            )
        if not self.built:
            raise ValueError("Cannot enable lora on a layer that isn't yet built.")
        if self.lora_enabled:
            raise ValueError("lora is already enabled. This can only be done once per layer.")
        if self.quantization_mode is not None:
            raise NotImplementedError(
                f"Layer '{self.name}': plait does not support LoRA on a quantized layer "
                f"(quantization mode {self.quantization_mode!r}) yet."
            )
        spec = self._lora_spec()
        regularizer = options["regularizer"]
        shapes = ((*spec.keras_shape[:-1], rank), (rank, spec.keras_shape[-1]))
        for name, shape, init in zip(self.lora_factor_names, shapes, (a_initializer, b_initializer)):
            # float32 whatever the layer's dtype, as Keras: small updates must not underflow.
            weight = self.add_weight(
                shape=shape, initializer=initializers.get(init), dtype="float32", regularizer=regularizer, name=name
            )
            setattr(self, name, weight)
        spec.trainable = False
        spec.get(self).requires_grad_(False)
        self.lora_enabled = True
        self.lora_rank = rank
        self.lora_alpha = lora_alpha if lora_alpha is not None else rank

    def lora_delta(self):
        """``(lora_alpha / lora_rank) * a @ b`` in Keras's layout of the weight."""
        a, b = (getattr(self, name) for name in self.lora_factor_names)
        return (self.lora_alpha / self.lora_rank) * torch.matmul(a, b)

    def lora_weight(self):
        """The weight the layer runs on, in storage layout: merged with the LoRA update when on."""
        spec = self._lora_spec()
        weight = spec.get(self)
        if not self.lora_enabled:
            return weight
        merged = spec.keras_view(weight) + self.lora_delta()
        # Back to the storage layout (``to_storage`` would detach the factors from the graph).
        if spec.perm is not None:
            merged = merged.permute(spec.perm)
        return merged.to(weight.dtype)

    def _file_values(self):
        # Keras's file holds the merged weight in the weight's place, and no factors.
        values = super()._file_values()
        if not self.lora_enabled:
            return values
        spec = self._lora_spec()
        with torch.no_grad():
            merged = (spec.to_keras(spec.get(self)) + self.lora_delta()).cpu().numpy()
        return [
            merged if entry.name == self.lora_target else value for entry, value in zip(self._file_entries(), values)
        ]

    def load_own_variables(self, store):
        super().load_own_variables(store)
        # The file's weight already holds the update (see ``_file_values``): start the factors at zero.
        if self.lora_enabled:
            with torch.no_grad():
                for name in self.lora_factor_names:
                    getattr(self, name).zero_()

    def quantize(self, mode=None, type_check=True, config=None):
        if self.lora_enabled:
            raise NotImplementedError(f"Layer '{self.name}': plait does not quantize a layer with LoRA enabled yet.")
        return super().quantize(mode, type_check=type_check, config=config)

    def lora_config(self):
        return {"lora_rank": self.lora_rank, "lora_alpha": self.lora_alpha} if self.lora_rank else {}
