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

    ``layer(query, value, key=None)``: queries attend to keys/values. Masks carried by ``query``
    and ``value`` (``Embedding(mask_zero=True)``, ``Masking``) are combined with
    ``attention_mask`` and ``use_causal_mask`` as Keras does. Without dropout or returned
    scores, torch's ``scaled_dot_product_attention`` runs.

    Args:
        num_heads: number of heads. key_dim: size of each query/key head.
        value_dim: size of each value head (default ``key_dim``).
        dropout: dropout on the attention probabilities. use_bias: default True.
        output_shape: last dim of the output (default: the query's).
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
        kernel_constraint, bias_constraint: as in ``Dense``, for all four projections.

    Call arguments:
        query ``(B, T, dim)``, value ``(B, S, dim)``, key (default ``value``), attention_mask
        ``(B, T, S)`` (True = attend), return_attention_scores, use_causal_mask.

    Weights (Keras order and shapes): query kernel ``(dim, heads, key_dim)`` and bias
    ``(heads, key_dim)``, then key, value, and output kernel ``(heads, value_dim, out)``, bias.

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
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        seed=None,
        attention_axes=None,
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
        if attention_axes not in (None, 1, [1], (1,)):
            raise ValueError(
                f"{who}: plait attends over the sequence axis (1) of (batch, steps, features) inputs. "
                f"Received: attention_axes={attention_axes}"
            )
        self.num_heads, self.key_dim = positive_int(who, "num_heads", num_heads), positive_int(who, "key_dim", key_dim)
        self.value_dim = positive_int(who, "value_dim", value_dim) if value_dim is not None else self.key_dim
        self.dropout, self.use_bias = rate(who, "dropout", dropout), bool(use_bias)
        self.output_dim = output_shape if output_shape is None or isinstance(output_shape, int) else output_shape[-1]
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.seed = seed

    def _build_for_call(self, args, kwargs):
        query = args[0]
        value = args[1] if len(args) > 1 else kwargs["value"]
        key = args[2] if len(args) > 2 else kwargs.get("key")
        if self.built:
            return
        heads, kd, vd = self.num_heads, self.key_dim, self.value_dim
        dims = {
            "query": query.shape[-1],
            "key": (key if key is not None else value).shape[-1],
            "value": value.shape[-1],
        }
        kernel, bias = self.weight_options("kernel"), self.weight_options("bias")
        for name, size in (("query", kd), ("key", kd), ("value", vd)):
            self.add_weight(f"{name}_kernel", (dims[name], heads, size), self.kernel_initializer, **kernel)
            if self.use_bias:
                self.add_weight(f"{name}_bias", (heads, size), self.bias_initializer, **bias)
        out = self.output_dim or dims["query"]
        self.add_weight("output_kernel", (heads, vd, out), self.kernel_initializer, **kernel)
        if self.use_bias:
            self.add_weight("output_bias", (out,), self.bias_initializer, **bias)
        self.built = True

    def _project(self, x, name):
        y = torch.einsum("btd,dhk->bthk", x, getattr(self, f"{name}_kernel"))
        return y + getattr(self, f"{name}_bias") if self.use_bias else y

    def call(
        self,
        query,
        value,
        key=None,
        mask=None,
        attention_mask=None,
        return_attention_scores=False,
        use_causal_mask=False,
    ):
        key = value if key is None else key
        masks = list(mask) if isinstance(mask, (list, tuple)) else [mask]
        query_mask, value_mask = masks[0], (masks[1] if len(masks) > 1 else None)
        key_mask = masks[2] if len(masks) > 2 else None
        full = attention_mask.bool() if attention_mask is not None else None
        for m in (
            query_mask[:, :, None] if query_mask is not None else None,
            value_mask[:, None, :] if value_mask is not None else None,
            key_mask[:, None, :] if key_mask is not None else None,
        ):
            if m is not None:
                full = m if full is None else full & m
        if use_causal_mask:
            causal = torch.ones(query.shape[1], value.shape[1], dtype=torch.bool, device=query.device).tril()
            full = causal if full is None else full & causal
        q = self._project(query, "query").transpose(1, 2)  # (B, heads, T, key_dim)
        k = self._project(key, "key").transpose(1, 2)
        v = self._project(value, "value").transpose(1, 2)
        adder = None
        if full is not None:
            adder = (1.0 - full.to(q.dtype)).unsqueeze(1) * _LARGE_NEGATIVE  # (B, 1, T, S)
        scale = 1.0 / math.sqrt(self.key_dim)
        scores = None
        if return_attention_scores or (self.training and self.dropout > 0):
            logits = torch.matmul(q * scale, k.transpose(-1, -2))
            scores = torch.softmax(logits + adder if adder is not None else logits, dim=-1)
            probs = F.dropout(scores, self.dropout, True) if self.training and self.dropout > 0 else scores
            attended = torch.matmul(probs, v)
        else:
            attended = F.scaled_dot_product_attention(q, k, v, attn_mask=adder, scale=scale)
        out = torch.einsum("bthv,hvo->bto", attended.transpose(1, 2), self.output_kernel)
        if self.use_bias:
            out = out + self.output_bias
        return [out, scores] if return_attention_scores else out

    def produces_mask(self, input_masks):
        return bool(input_masks) and input_masks[0]

    def compute_mask(self, inputs, mask=None):
        return mask[0] if isinstance(mask, (list, tuple)) else mask

    def compute_output_spec(self, query, value, key=None, **kwargs):
        out = (*query.shape[:-1], self.output_dim or query.shape[-1])
        if kwargs.get("return_attention_scores"):
            scores = (query.shape[0], self.num_heads, query.shape[1], value.shape[1])
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
            "output_shape": self.output_dim,
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
