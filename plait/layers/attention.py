"""Attention layers: ``MultiHeadAttention`` with Keras 3's weight shapes."""

import math

import torch
import torch.nn.functional as F

from plait import initializers
from plait.layers.base import Layer, WeightOptions
from plait.layers.validation import positive_int, rate

_LARGE_NEGATIVE = -1e9  # Keras's masked-softmax filler for float32


class MultiHeadAttention(Layer):
    """Multi-head attention (Vaswani et al. 2017), Keras 3's math and weights.

    ``layer(query, value, key=None, ...)``: queries attend to keys/values over the attention
    axes. Masks carried by ``query``/``value``/``key`` (``Embedding(mask_zero=True)``,
    ``Masking``) or given as ``query_mask``/``value_mask``/``key_mask`` combine with
    ``attention_mask``, ``use_causal_mask`` and ``sliding_window`` as Keras combines them.
    Without dropout or returned scores, torch's ``scaled_dot_product_attention`` runs.

    Args:
        num_heads: number of heads. key_dim: size of each query/key head.
        value_dim: size of each value head (default ``key_dim``).
        dropout: dropout on the attention probabilities. use_bias: default True.
        output_shape: the output's trailing shape (an int or a tuple; default: the query's
            last dim).
        attention_axes: the axes attended over (default: every axis between the batch and the
            features); the others are batch-like.
        sliding_window: attend only to keys within ``sliding_window - 1`` steps (a band).
        flash_attention: accepted as Keras's; torch's SDPA picks its kernel itself.
        use_gate: a sigmoid gate from the query on each head's output (Keras's ``use_gate``).
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
        kernel_constraint, bias_constraint: as in ``Dense``, for every projection.

    Call arguments:
        query ``(B, T, dim)``, value ``(B, S, dim)``, key (default ``value``), query_mask
        ``(B, T)``, value_mask / key_mask ``(B, S)``, attention_mask ``(B, T, S)`` (True =
        attend), return_attention_scores, training, use_causal_mask. A masked query step
        attends to nothing (its probabilities are 0, as Keras's masked softmax makes them). As
        in Keras 3.15, the query mask is the query's own (``query._keras_mask``, or the mask its
        graph carries): an explicit ``query_mask=`` in an eager call is replaced by it.

    Weights (Keras order and shapes): query kernel ``(dim, heads, key_dim)`` and bias
    ``(heads, key_dim)``; key; gate (with ``use_gate``); value; output kernel
    ``(heads, value_dim, *output_shape)`` and bias.

    Example:
        >>> import plait
        >>> x = plait.Input(shape=(10, 16))
        >>> plait.layers.MultiHeadAttention(num_heads=2, key_dim=8)(x, x).shape
        (None, 10, 16)
    """

    supports_masking = True

    def __init__(
        self,
        num_heads,
        key_dim,
        value_dim=None,
        dropout=0.0,
        use_bias=True,
        output_shape=None,
        attention_axes=None,
        sliding_window=None,
        flash_attention=None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        use_gate=False,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.weight_options = WeightOptions(
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
        )
        who = f"MultiHeadAttention layer '{self.name}'"
        self.num_heads, self.key_dim = positive_int(who, "num_heads", num_heads), positive_int(who, "key_dim", key_dim)
        self.value_dim = positive_int(who, "value_dim", value_dim) if value_dim is not None else self.key_dim
        self.dropout, self.use_bias = rate(who, "dropout", dropout), bool(use_bias)
        if output_shape is not None and not isinstance(output_shape, int):
            output_shape = tuple(output_shape)
        self._output_shape = output_shape
        if isinstance(attention_axes, int):
            attention_axes = (attention_axes,)
        self.attention_axes = tuple(attention_axes) if attention_axes is not None else None
        if sliding_window is not None:
            sliding_window = positive_int(who, "sliding_window", sliding_window)
        self.sliding_window, self.use_gate = sliding_window, bool(use_gate)
        if flash_attention and self.dropout > 0:
            raise ValueError(f"{who}: flash attention does not support dropout. Received: dropout={dropout}")
        self.flash_attention = flash_attention
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.seed = seed

    @property
    def output_dim(self):
        """The output's trailing shape as given (an int, a tuple, or None for the query's dim)."""
        return self._output_shape

    def build(self, query_shape, value_shape, key_shape=None):
        heads, kd, vd = self.num_heads, self.key_dim, self.value_dim
        key_shape = key_shape if key_shape is not None else value_shape
        rank = len(query_shape)
        axes = self.attention_axes if self.attention_axes is not None else tuple(range(1, rank - 1))
        self._axes = tuple(a % rank for a in axes)
        dims = {"query": query_shape[-1], "key": key_shape[-1], "gate": query_shape[-1], "value": value_shape[-1]}
        kernel, bias = self.weight_options("kernel"), self.weight_options("bias")
        projections = (("query", kd), ("key", kd), *((("gate", vd),) if self.use_gate else ()), ("value", vd))
        for name, size in projections:
            init = initializers.fresh(self.kernel_initializer)  # one copy per projection, as Keras's
            self.add_weight(f"{name}_kernel", (dims[name], heads, size), init, **kernel)
            if self.use_bias:
                self.add_weight(f"{name}_bias", (heads, size), self.bias_initializer, **bias)
        out = self._trailing_output(query_shape)
        self.add_weight("output_kernel", (heads, vd, *out), initializers.fresh(self.kernel_initializer), **kernel)
        if self.use_bias:
            self.add_weight("output_bias", out, self.bias_initializer, **bias)

    def _trailing_output(self, query_shape):
        if self._output_shape is None:
            return (query_shape[-1],)
        return (self._output_shape,) if isinstance(self._output_shape, int) else self._output_shape

    def _project(self, x, name):
        y = torch.tensordot(x, getattr(self, f"{name}_kernel"), dims=1)  # (..., heads, size)
        return y + getattr(self, f"{name}_bias") if self.use_bias else y

    def _fill_masks(self, args, kwargs, masks):
        # Keras 3.15 reads the query's mask from the query itself and ignores an explicit
        # `query_mask=` (the keras-io translation example relies on it: its numbers need this).
        return super()._fill_masks(args, {**kwargs, "query_mask": None}, masks)

    def _attention_mask(self, query, value, query_mask, value_mask, key_mask, attention_mask, use_causal_mask):
        """Keras's combined boolean mask ``(B, T, S)`` (None when nothing is masked)."""
        full = None

        def both(mask, extra):
            return extra if mask is None else mask & extra

        if query_mask is not None:
            full = both(full, query_mask.bool()[:, :, None])
        for mask in (value_mask, key_mask):
            if mask is not None:
                full = both(full, mask.bool()[:, None, :])
        steps_q, steps_v = query.shape[1], value.shape[1]
        if use_causal_mask:
            full = both(full, torch.ones(steps_q, steps_v, dtype=torch.bool, device=query.device).tril()[None])
        if self.sliding_window is not None:
            rows = torch.arange(steps_q, device=query.device)[:, None]
            cols = torch.arange(steps_v, device=query.device)[None, :]
            full = both(full, ((rows - cols).abs() < self.sliding_window)[None])
        if attention_mask is not None:
            full = attention_mask.bool() if full is None else attention_mask.bool() & full
        return full

    def call(
        self,
        query,
        value,
        key=None,
        query_mask=None,
        value_mask=None,
        key_mask=None,
        attention_mask=None,
        return_attention_scores=False,
        training=None,
        use_causal_mask=False,
    ):
        if return_attention_scores and self.flash_attention:
            raise ValueError(
                f"MultiHeadAttention layer '{self.name}': attention scores cannot be returned with flash attention "
                "enabled. Received: flash_attention=True, return_attention_scores=True"
            )
        key = value if key is None else key
        mask = self._attention_mask(query, value, query_mask, value_mask, key_mask, attention_mask, use_causal_mask)
        gate = torch.sigmoid(self._project(query, "gate")) if self.use_gate else None
        q, k, v = self._project(query, "query"), self._project(key, "key"), self._project(value, "value")
        # Attention runs on (batch..., heads, steps, size): the attention axes flattened into one
        # step axis, the other axes (batch and any axis not attended over) in front.
        q_flat, batch_dims, q_steps = self._to_heads(q)
        k_flat, _, k_steps = self._to_heads(k)
        v_flat, _, _ = self._to_heads(v)
        training = self.training if training is None else bool(training)
        dropout = self.dropout if training else 0.0
        if mask is not None:  # (batch..., query steps..., key steps...) -> (batch..., 1, Lq, Lk)
            mask = mask.expand(*batch_dims, *q_steps, *k_steps).reshape(*batch_dims, 1, q_flat.shape[-2], -1)
        scale = 1.0 / math.sqrt(self.key_dim)
        scores = None
        if return_attention_scores or dropout > 0:
            logits = torch.matmul(q_flat * scale, k_flat.transpose(-1, -2))
            if mask is not None:
                logits = logits.masked_fill(~mask, _LARGE_NEGATIVE)
            scores = torch.softmax(logits, dim=-1)
            if mask is not None:  # as Keras's masked softmax: a fully masked row attends to nothing
                scores = scores.masked_fill(~mask, 0.0)
            attended = torch.matmul(F.dropout(scores, dropout, True) if dropout > 0 else scores, v_flat)
        else:
            # A boolean mask as Keras's -1e9 filler (a fully masked row stays uniform, not NaN).
            bias = None if mask is None else (~mask).to(q_flat.dtype) * _LARGE_NEGATIVE
            # (A fully masked row averages every value here, as Keras's fused path does; the
            # explicit path above zeroes it, as Keras's masked softmax does.)
            attended = F.scaled_dot_product_attention(q_flat, k_flat, v_flat, attn_mask=bias, scale=scale)
        attended = self._from_heads(attended, q, batch_dims, q_steps)  # (..., heads, value_dim) in query's layout
        if gate is not None:
            attended = attended * gate
        out = torch.tensordot(attended, self.output_kernel, dims=2)
        if self.use_bias:
            out = out + self.output_bias
        if return_attention_scores:
            scores = scores.reshape(*batch_dims, self.num_heads, *q_steps, *k_steps)
            return out, scores
        return out

    def _order(self, rank):
        """Axes of a projected ``(B, ..., heads, size)`` tensor: batch-like ones, heads, attended, size."""
        batch = [a for a in range(rank - 2) if a not in self._axes]
        return batch + [rank - 2] + list(self._axes) + [rank - 1]

    def _to_heads(self, x):
        order = self._order(x.dim())
        x = x.permute(order)  # (batch..., heads, attended..., size)
        n_batch = x.dim() - 2 - len(self._axes)
        batch_dims, steps = tuple(x.shape[:n_batch]), tuple(x.shape[n_batch + 1 : -1])
        return x.reshape(*x.shape[: n_batch + 1], -1, x.shape[-1]), batch_dims, steps

    def _from_heads(self, attended, like, batch_dims, steps):
        order = self._order(like.dim())
        attended = attended.reshape(*batch_dims, self.num_heads, *steps, attended.shape[-1])
        return attended.permute([order.index(i) for i in range(like.dim())])

    def produces_mask(self, input_masks):
        return bool(input_masks) and input_masks[0]

    def compute_mask(self, inputs, mask=None):
        return mask[0] if isinstance(mask, (list, tuple)) else mask

    def compute_output_spec(self, query, value, key=None, **kwargs):
        out = (*query.shape[:-1], *self._trailing_output(query.shape))
        if kwargs.get("return_attention_scores"):
            rank = len(query.shape)
            axes = [a % rank for a in (self.attention_axes or range(1, rank - 1))]
            batch = [query.shape[a] for a in range(rank - 1) if a not in axes]
            scores = (*batch, self.num_heads, *(query.shape[a] for a in axes), *(value.shape[a] for a in axes))
            return [(out, self.torch_dtype), (scores, self.torch_dtype)]
        return (out, self.torch_dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "key_dim": self.key_dim,
            "value_dim": self.value_dim,
            "dropout": self.dropout,
            "use_bias": self.use_bias,
            "output_shape": self._output_shape,
            "attention_axes": self.attention_axes,
            "sliding_window": self.sliding_window,
            "flash_attention": self.flash_attention,
            "use_gate": self.use_gate,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            **self.weight_options.get_config(),
            "seed": self.seed,
        }


class Attention(Layer):
    """Dot-product attention (Luong style), Keras's ``Attention``: ``layer([query, value(, key)])``.

    Args:
        use_scale: learn a scalar that multiplies the scores (initialised to 1).
        score_mode: ``"dot"`` (default) or ``"concat"`` (``sum(tanh(q + k))``).
        dropout: dropout on the attention weights.

    Masks of the query and value (from ``Embedding(mask_zero=True)``/``Masking``) and
    ``use_causal_mask`` are respected; masked query steps output zeros, as in Keras.
    """

    supports_masking = True
    additive = False

    def __init__(self, use_scale=False, score_mode="dot", dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if score_mode not in ("dot", "concat"):
            raise ValueError(
                f"Invalid value for argument score_mode. Expected one of {{'dot', 'concat'}}. "
                f"Received: score_mode={score_mode}"
            )
        self.use_scale, self.score_mode = bool(use_scale), score_mode
        self.dropout, self.seed = rate(f"{type(self).__name__} '{self.name}'", "dropout", dropout), seed

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) not in (2, 3):
            raise ValueError(
                f"Layer '{self.name}' expects [query, value] or [query, value, key]. Received: {input_shape}"
            )
        self.scale = self.add_weight("scale", (), "ones") if self.use_scale else None
        self.concat_score_weight = (
            self.add_weight("concat_score_weight", (), "ones") if self.score_mode == "concat" else None
        )

    def _scores(self, q, k):
        if self.score_mode == "dot":
            scores = torch.matmul(q, k.transpose(-1, -2))
            return scores * self.scale if self.scale is not None else scores
        summed = q.unsqueeze(-2) + k.unsqueeze(-3)
        if self.scale is not None:
            summed = self.scale * summed
        return self.concat_score_weight * torch.tanh(summed).sum(-1)

    def call(self, inputs, mask=None, return_attention_scores=False, use_causal_mask=False):
        q, v = inputs[0], inputs[1]
        k = inputs[2] if len(inputs) > 2 else v
        q_mask = mask[0] if mask else None
        v_mask = mask[1] if mask else None
        scores = self._scores(q, k)
        keep = v_mask[:, None, :] if v_mask is not None else None
        if use_causal_mask:
            causal = torch.ones(scores.shape[-2:], dtype=torch.bool, device=scores.device).tril()
            keep = causal if keep is None else keep & causal
        if keep is not None:
            scores = torch.where(keep, scores, scores - 1e9)
        weights = torch.softmax(scores, dim=-1)
        used = F.dropout(weights, self.dropout, True) if self.training and self.dropout > 0 else weights
        out = torch.matmul(used, v)
        if q_mask is not None:
            out = torch.where(q_mask.unsqueeze(-1), out, torch.zeros_like(out))
        return [out, weights] if return_attention_scores else out

    def produces_mask(self, input_masks):
        return bool(input_masks) and input_masks[0]

    def compute_mask(self, inputs, mask=None):
        return mask[0] if mask else None

    def compute_output_spec(self, inputs, **kwargs):
        q, v = inputs[0], inputs[1]
        out = (*q.shape[:-1], v.shape[-1])
        if kwargs.get("return_attention_scores"):
            return [(out, self.torch_dtype), ((q.shape[0], q.shape[1], v.shape[1]), self.torch_dtype)]
        return (out, self.torch_dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "use_scale": self.use_scale,
            "score_mode": self.score_mode,
            "dropout": self.dropout,
            "seed": self.seed,
        }


class AdditiveAttention(Attention):
    """Additive (Bahdanau) attention, Keras's ``AdditiveAttention``: scores
    ``sum(scale * tanh(q + k))`` with a learned ``scale`` vector (``use_scale=True``, default)."""

    def __init__(self, use_scale=True, dropout=0.0, **kwargs):
        super().__init__(use_scale=use_scale, score_mode="dot", dropout=dropout, **kwargs)

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) not in (2, 3):
            raise ValueError(
                f"Layer '{self.name}' expects [query, value] or [query, value, key]. Received: {input_shape}"
            )
        self.scale = self.add_weight("scale", (input_shape[0][-1],), "glorot_uniform") if self.use_scale else None
        self.concat_score_weight = None

    def _scores(self, q, k):
        summed = torch.tanh(q.unsqueeze(-2) + k.unsqueeze(-3))
        return (summed * self.scale).sum(-1) if self.scale is not None else summed.sum(-1)

    def get_config(self):
        config = super().get_config()
        config.pop("score_mode", None)
        return config
