"""Recurrent layers: ``LSTM`` on torch's fused kernel."""

import torch

from plait import activations, initializers
from plait.layers.base import InputSpec, Layer
from plait.layers.validation import positive_int, rate


class LSTM(Layer):
    """Long Short-Term Memory layer (Hochreiter 1997), Keras 3's math and weights.

    Gates ``i, f, c, o`` (Keras's order, also torch's): with ``z = x @ kernel + h @
    recurrent_kernel + bias``, ``c' = f*c + i*tanh(z_c)`` and ``h' = o*tanh(c')``. With the
    default activations (tanh, sigmoid) and no recurrent dropout, torch's fused LSTM kernel runs
    (its second bias is fixed at zero); otherwise a step loop runs the same math.

    Args:
        units: size of the hidden state.
        activation: default ``"tanh"``; recurrent_activation: default ``"sigmoid"``.
        use_bias: default True.
        kernel_initializer: default ``"glorot_uniform"``; recurrent_initializer: default
            ``"orthogonal"``; bias_initializer: default ``"zeros"``.
        unit_forget_bias: add 1 to the forget gate's bias at initialisation (default True).
        dropout: fraction of the inputs dropped in training (one mask for all timesteps).
        recurrent_dropout: fraction of the hidden state dropped in training (step loop).
        return_sequences: return every step's output, ``(batch, steps, units)``.
        return_state: also return the final ``h`` and ``c``: ``[output, h, c]``.
        go_backwards: process the sequence in reverse (and return the reversed sequence).
        unroll, seed: accepted for Keras compatibility (no effect).

    Input shape:
        ``(batch, steps, features)``; ``steps`` may be None.
    Output shape:
        ``(batch, units)``, or ``(batch, steps, units)`` with return_sequences.

    Weights: ``kernel (features, 4*units)``, ``recurrent_kernel (units, 4*units)``,
    ``bias (4*units,)``.

    Example:
        >>> import plait
        >>> x = plait.Input(shape=(None, 64))
        >>> plait.layers.LSTM(32)(x).shape
        (None, 32)
    """

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        unit_forget_bias=True,
        dropout=0.0,
        recurrent_dropout=0.0,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        unroll=False,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        who = f"LSTM layer '{self.name}'"
        self.units = positive_int(who, "units", units)
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.dropout = rate(who, "dropout", dropout)
        self.recurrent_dropout = rate(who, "recurrent_dropout", recurrent_dropout)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.unroll = bool(unroll)
        self.seed = seed
        self.input_spec = InputSpec(ndim=3)

    def build(self, input_shape):
        features, u = input_shape[-1], self.units
        if features is None:
            raise ValueError(f"Layer '{self.name}' needs a known feature dim. Received: input_shape={input_shape}")
        self.add_weight("kernel", (features, 4 * u), self.kernel_initializer, perm=(1, 0))
        self.add_weight("recurrent_kernel", (u, 4 * u), self.recurrent_initializer, perm=(1, 0))
        if self.use_bias:
            if self.unit_forget_bias:
                base = self.bias_initializer

                def bias_init(shape, dtype=torch.float32):
                    return torch.cat([base((u,), dtype), torch.ones(u, dtype=dtype), base((2 * u,), dtype)])

                self.add_weight("bias", (4 * u,), bias_init)
            else:
                self.add_weight("bias", (4 * u,), self.bias_initializer)
            # The fused kernel takes two biases; Keras has one. The second stays zero.
            self.register_buffer("_zero_bias", torch.zeros(4 * u, dtype=self.dtype), persistent=False)
        self.input_spec = InputSpec(ndim=3, axes={-1: features})

    @property
    def _fused(self):
        return (
            self.activation is activations.tanh
            and self.recurrent_activation is activations.sigmoid
            and not (self.training and self.recurrent_dropout > 0)
        )

    def call(self, sequences, initial_state=None):
        x = sequences.flip(1) if self.go_backwards else sequences
        batch = x.shape[0]
        if self.training and self.dropout > 0:
            keep = torch.empty(batch, 1, x.shape[-1], device=x.device, dtype=x.dtype).bernoulli_(1 - self.dropout)
            x = x * keep / (1 - self.dropout)
        if initial_state is None:
            h = c = x.new_zeros(batch, self.units)
        else:
            h, c = initial_state
        if self._fused:
            weights = [self.kernel, self.recurrent_kernel]
            if self.use_bias:
                weights += [self.bias, self._zero_bias]
            outputs, h, c = torch.lstm(
                x, (h[None], c[None]), weights, self.use_bias, 1, 0.0, self.training, False, True
            )
            h, c = h[0], c[0]
        else:
            outputs, h, c = self._step_loop(x, h, c)
        output = outputs if self.return_sequences else h
        return [output, h, c] if self.return_state else output

    def _step_loop(self, x, h, c):
        gates_x = torch.nn.functional.linear(x, self.kernel, self.bias if self.use_bias else None)
        keep = None
        if self.training and self.recurrent_dropout > 0:
            keep = torch.empty_like(h).bernoulli_(1 - self.recurrent_dropout) / (1 - self.recurrent_dropout)
        outputs = []
        for t in range(x.shape[1]):
            z = gates_x[:, t] + torch.nn.functional.linear(h if keep is None else h * keep, self.recurrent_kernel)
            i, f, g, o = z.chunk(4, dim=-1)
            i, f, o = self.recurrent_activation(i), self.recurrent_activation(f), self.recurrent_activation(o)
            c = f * c + i * self.activation(g)
            h = o * self.activation(c)
            outputs.append(h)
        seq = torch.stack(outputs, 1) if outputs else x.new_zeros(x.shape[0], 0, self.units)
        return seq, h, c

    def compute_output_shape(self, input_shape):
        batch, steps = input_shape[0], input_shape[1]
        output = (batch, steps, self.units) if self.return_sequences else (batch, self.units)
        if self.return_state:
            return [output, (batch, self.units), (batch, self.units)]
        return output

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "unit_forget_bias": self.unit_forget_bias,
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "unroll": self.unroll,
            "seed": self.seed,
        }
