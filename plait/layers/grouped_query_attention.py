"""Grouped-query attention (Ainslie et al. 2023), Keras's ``GroupQueryAttention`` (whose class is
named ``GroupedQueryAttention``, as files name it): multi-head
attention whose keys and values have fewer heads than its queries, each key/value head shared
by a group of query heads (Llama 2/3, Mistral). It is :class:`MultiHeadAttention` with the key
and value projections' heads repeated up to the query heads', so the masks, the causal and
sliding-window rules, the gate, dropout and torch's ``scaled_dot_product_attention`` are
multi-head attention's.
"""

from plait import initializers
from plait.layers.attention import MultiHeadAttention
from plait.layers.base import Layer
from plait.layers.validation import positive_int


class GroupedQueryAttention(MultiHeadAttention):
    """Attention with ``num_query_heads`` query heads sharing ``num_key_value_heads`` key/value
    heads (Keras 3's math, weights and config).

    Args:
        head_dim: size of each head (queries, keys and values alike).
        num_query_heads: number of query heads.
        num_key_value_heads: number of key/value heads; must divide ``num_query_heads``.
        dropout: dropout on the attention probabilities (default 0).
        use_bias: default True.
        sliding_window: attend only to keys within ``sliding_window - 1`` steps (default None).
        flash_attention: accepted as Keras's; torch's SDPA picks its kernel itself.
        use_gate: a sigmoid gate from the query on each head's output (default False).
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
        kernel_constraint, bias_constraint: for every projection, as in ``Dense``.

    Call arguments:
        as ``MultiHeadAttention``'s: ``query (B, T, dim)``, ``value (B, S, dim)``, ``key``,
        the masks, ``return_attention_scores`` (scores ``(B, num_query_heads, T, S)``),
        ``use_causal_mask``.

    Weights (Keras's order and shapes): query kernel ``(dim, num_query_heads, head_dim)`` and
    bias; key and value kernels ``(dim, num_key_value_heads, head_dim)`` and biases (the gate's
    between them with ``use_gate``); output kernel ``(num_query_heads, head_dim, dim)`` and bias.

    Example:
        >>> import plait
        >>> x = plait.Input(shape=(10, 16))
        >>> gqa = plait.layers.GroupQueryAttention(head_dim=4, num_query_heads=4, num_key_value_heads=2)
        >>> gqa(x, x).shape, tuple(gqa.key_kernel.shape)
        ((None, 10, 16), (16, 2, 4))
    """

    def __init__(
        self,
        head_dim,
        num_query_heads,
        num_key_value_heads,
        dropout=0.0,
        use_bias=True,
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
        super().__init__(
            num_query_heads,
            head_dim,
            dropout=dropout,
            use_bias=use_bias,
            sliding_window=sliding_window,
            flash_attention=flash_attention,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            use_gate=use_gate,
            seed=seed,
            **kwargs,
        )
        who = f"GroupedQueryAttention layer '{self.name}'"
        self.num_key_value_heads = positive_int(who, "num_key_value_heads", num_key_value_heads)
        if self.num_heads % self.num_key_value_heads:
            raise ValueError(
                f"{who}: `num_query_heads` must be divisible by `num_key_value_heads`. "
                f"Received: num_query_heads={num_query_heads}, num_key_value_heads={num_key_value_heads}"
            )

    @property
    def head_dim(self):
        return self.key_dim

    @property
    def num_query_heads(self):
        return self.num_heads

    def build(self, query_shape, value_shape, key_shape=None):
        if len(query_shape) != 3:
            raise ValueError(
                f"GroupedQueryAttention layer '{self.name}' takes (batch, steps, features) inputs. "
                f"Received: query_shape={query_shape}"
            )
        self._axes = (1,)
        key_shape = key_shape if key_shape is not None else value_shape
        kernel, bias = self.weight_options("kernel"), self.weight_options("bias")
        heads = {"query": self.num_heads, "key": self.num_key_value_heads, "gate": self.num_heads}
        heads["value"] = self.num_key_value_heads
        dims = {"query": query_shape[-1], "key": key_shape[-1], "gate": query_shape[-1], "value": value_shape[-1]}
        for name in ("query", "key", *(("gate",) if self.use_gate else ()), "value"):
            init = initializers.fresh(self.kernel_initializer)
            self.add_weight(f"{name}_kernel", (dims[name], heads[name], self.key_dim), init, **kernel)
            if self.use_bias:
                self.add_weight(f"{name}_bias", (heads[name], self.key_dim), self.bias_initializer, **bias)
        out = (self.num_heads, self.key_dim, query_shape[-1])
        self.add_weight("output_kernel", out, initializers.fresh(self.kernel_initializer), **kernel)
        if self.use_bias:
            self.add_weight("output_bias", (query_shape[-1],), self.bias_initializer, **bias)

    def _project(self, x, name):
        projected = super()._project(x, name)
        if name in ("key", "value"):
            # Each key/value head serves num_query_heads / num_key_value_heads query heads in a
            # row (Keras's repeat: heads 0,0,1,1,... for two query heads per group).
            projected = projected.repeat_interleave(self.num_heads // self.num_key_value_heads, dim=-2)
        return projected

    def get_config(self):
        return {
            **Layer.get_config(self),
            "head_dim": self.key_dim,
            "num_query_heads": self.num_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "use_bias": self.use_bias,
            "use_gate": self.use_gate,
            "sliding_window": self.sliding_window,
            "dropout": self.dropout,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            **self.weight_options.get_config(),
            "seed": self.seed,
        }
