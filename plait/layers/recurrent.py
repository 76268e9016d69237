"""Recurrent layers: ``SimpleRNN``, ``GRU``, ``LSTM``, on torch's fused kernels where Keras's math
allows, a step loop with the same math otherwise; the sequence machinery they share with the
generic ``RNN`` (:mod:`plait.layers.rnn_cells`) and ``ConvLSTM`` (:mod:`plait.layers.conv_lstm`)."""

import torch
import torch.nn.functional as F

from plait import activations, initializers
from plait.layers.base import InputSpec, Layer, WeightOptions
from plait.layers.validation import positive_int, rate
from plait.utils import nest


def _where(valid, new, old):
    """``new`` where the step is valid (``valid`` of shape ``(batch,)``), else ``old``; both may
    be nested lists of tensors (a stacked cell's states)."""
    olds = iter(nest.flatten(old))

    def pick(n):
        return torch.where(valid.reshape(-1, *[1] * (n.dim() - 1)), n, next(olds))

    return nest.map_structure(pick, new)


class _Recurrent(Layer):
    """The sequence machinery every recurrent layer shares (the generic ``RNN``, ``SimpleRNN``,
    ``GRU``, ``LSTM``, ``ConvLSTM1D/2D/3D``): Keras's sequence arguments, initial and carried
    (stateful) states, masks, ``go_backwards``, output packing.

    ``is_recurrent`` tells the compiled training step that tracing would unroll the time loop.

    Subclasses give ``_zero_states(x)`` (the states a sequence starts from), ``_run(x, states,
    mask) -> (outputs, states)`` (every step's output and the final states), ``_prepare(x)`` (what
    happens to the whole sequence first, e.g. input dropout) and ``_shapes(input_shape) ->
    (step_output_shape, [state_shape, ...])`` (batch axis included).

    With a mask (from ``Embedding(mask_zero=True)`` or ``Masking``) a masked step keeps the
    previous states and output, as in Keras; a padded batch then gives each sample what it gives
    alone. A stateful layer starts each call from the previous call's final states, kept in
    ``layer.states`` (Keras's attribute) until ``reset_states()``.
    """

    is_recurrent = True

    def __init__(
        self,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        zero_output_for_mask=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.go_backwards, self.unroll = bool(go_backwards), bool(unroll)
        # Keras: with a mask, a masked step outputs the previous output (False) or zeros (True).
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.stateful = bool(stateful)
        # The final states of the last call of a stateful layer (Keras's ``layer.states``).
        self.states = None

    def _prepare(self, x):
        return x

    def reset_states(self):
        """Zero the carried states of a stateful layer (Keras's ``reset_states``)."""
        if self.states is not None:
            self.states = nest.map_structure(torch.zeros_like, self.states)

    reset_state = reset_states

    def produces_mask(self, input_masks):
        return self.return_sequences and bool(input_masks) and bool(input_masks[0])

    def compute_mask(self, inputs, mask=None):
        mask = mask[0] if isinstance(mask, (list, tuple)) else mask
        return mask if self.return_sequences else None

    def _carried_states(self, x):
        batch = nest.flatten(self.states)[0].shape[0]
        if batch != x.shape[0]:
            raise ValueError(
                f"Stateful layer '{self.name}' carries states for batch size {batch}, "
                f"but received a batch of {x.shape[0]}. Use a fixed batch size, or call reset_states()."
            )
        return list(self.states)

    def call(self, sequences, initial_state=None, mask=None):
        if mask is not None and tuple(mask.shape) != tuple(sequences.shape[:2]):
            raise ValueError(
                f"Layer '{self.name}' got a mask of shape {tuple(mask.shape)} for inputs of shape "
                f"{tuple(sequences.shape)}; expected (batch, steps) = {tuple(sequences.shape[:2])}."
            )
        x = sequences.flip(1) if self.go_backwards else sequences
        if mask is not None and self.go_backwards:
            mask = mask.flip(1)
        x = self._prepare(x)
        if initial_state is not None:
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        elif self.stateful and self.states is not None:
            states = self._carried_states(x)
        else:
            states = self._zero_states(x)
        outputs, states = self._run(x, states, mask)
        if self.stateful:
            self.states = nest.map_structure(torch.Tensor.detach, states)
        output = outputs if self.return_sequences else outputs[:, -1]
        return [output, *states] if self.return_state else output

    def _loop(self, x, states, mask, step):
        """Run ``step(t, states) -> (output, states)`` over the steps; a masked step keeps the
        previous states and output (or outputs zeros with ``zero_output_for_mask``)."""
        outputs, previous = [], None
        for t in range(x.shape[1]):
            output, new = step(t, states)
            if mask is not None:
                new = _where(mask[:, t], new, states)
                kept = torch.zeros_like(output) if previous is None or self.zero_output_for_mask else previous
                output = _where(mask[:, t], output, kept)
            states, previous = new, output
            outputs.append(output)
        if not outputs:
            raise ValueError(f"Layer '{self.name}' received a sequence of 0 steps.")
        return torch.stack(outputs, 1), states

    def compute_output_shape(self, input_shape):
        step, states = self._shapes(input_shape)
        output = (step[0], input_shape[1], *step[1:]) if self.return_sequences else step
        return [output, *states] if self.return_state else output

    def get_config(self):
        return {
            **super().get_config(),
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
        }


class _CellSettings:
    """The arguments of Keras's built-in recurrent cells (units, activations, initializers,
    dropouts, regularizers, constraints), shared by ``SimpleRNN``/``GRU``/``LSTM`` and their
    cells (:mod:`plait.layers.rnn_cells`); subclasses are layers."""

    def _init_cell(
        self,
        units,
        activation,
        use_bias,
        kernel_initializer,
        recurrent_initializer,
        bias_initializer,
        dropout,
        recurrent_dropout,
        seed,
        **options,
    ):
        self.weight_options = WeightOptions(**options)
        who = f"{type(self).__name__} layer '{self.name}'"
        self.units = positive_int(who, "units", units)
        self.activation, self.use_bias = activations.get(activation), bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.dropout = rate(who, "dropout", dropout)
        self.recurrent_dropout = rate(who, "recurrent_dropout", recurrent_dropout)
        self.seed = seed

    def _features(self, input_shape):
        if input_shape[-1] is None:
            raise ValueError(f"Layer '{self.name}' needs a known feature dim. Received: input_shape={input_shape}")
        return input_shape[-1]

    def _cell_config(self):
        return {
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
            **self.weight_options.get_config(),
        }


def _cell_options(
    kernel_regularizer=None,
    recurrent_regularizer=None,
    bias_regularizer=None,
    kernel_constraint=None,
    recurrent_constraint=None,
    bias_constraint=None,
):
    return {
        "kernel_regularizer": kernel_regularizer,
        "recurrent_regularizer": recurrent_regularizer,
        "bias_regularizer": bias_regularizer,
        "kernel_constraint": kernel_constraint,
        "recurrent_constraint": recurrent_constraint,
        "bias_constraint": bias_constraint,
    }


class _RNN(_CellSettings, _Recurrent):
    """What ``SimpleRNN``, ``GRU`` and ``LSTM`` share: input dropout (one mask for all timesteps,
    as Keras does), zero initial states, and the loop over a step whose math the subclass gives
    (shared with its cell, see ``_SimpleRNNMath`` & co.): ``build``, ``_fused(x, states)`` (torch's
    fused kernel, or None where Keras's math needs the loop), ``_project(x)`` (all timesteps'
    input projections at once) and ``_cell(projected_t, states, keep) -> states``.
    """

    num_states = 1

    def __init__(
        self,
        units,
        activation="tanh",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        dropout=0.0,
        recurrent_dropout=0.0,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        unroll=False,
        seed=None,
        zero_output_for_mask=False,
        stateful=False,
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(return_sequences, return_state, go_backwards, stateful, unroll, zero_output_for_mask, **kwargs)
        options = _cell_options(
            kernel_regularizer,
            recurrent_regularizer,
            bias_regularizer,
            kernel_constraint,
            recurrent_constraint,
            bias_constraint,
        )
        self._init_cell(
            units,
            activation,
            use_bias,
            kernel_initializer,
            recurrent_initializer,
            bias_initializer,
            dropout,
            recurrent_dropout,
            seed,
            **options,
        )
        self.input_spec = InputSpec(ndim=3)

    def _features(self, input_shape):
        features = super()._features(input_shape)
        self.input_spec = InputSpec(ndim=3, axes={-1: features})
        return features

    def _recurrent_keep(self, h):
        """The recurrent-dropout mask for this sequence, or None."""
        if self.training and self.recurrent_dropout > 0:
            return torch.empty_like(h).bernoulli_(1 - self.recurrent_dropout) / (1 - self.recurrent_dropout)
        return None

    def _prepare(self, x):
        if self.training and self.dropout > 0:
            keep = torch.empty(x.shape[0], 1, x.shape[-1], device=x.device, dtype=x.dtype).bernoulli_(1 - self.dropout)
            x = x * keep / (1 - self.dropout)
        return x

    def _zero_states(self, x):
        return [x.new_zeros(x.shape[0], self.units) for _ in range(self.num_states)]

    def _run(self, x, states, mask):
        keep = self._recurrent_keep(states[0])
        if mask is None and keep is None:
            fused = self._fused(x, states)
            if fused is not None:
                return fused
        projected = self._project(x)

        def step(t, states):
            new = self._cell(projected[:, t], states, keep)
            return new[0], new

        return self._loop(x, states, mask, step)

    def _shapes(self, input_shape):
        return (input_shape[0], self.units), [(input_shape[0], self.units)] * self.num_states

    def get_config(self):
        return {**super().get_config(), **self._cell_config()}


class _SimpleRNNMath(Layer):
    """``SimpleRNN``'s weights and step, shared by the layer and ``SimpleRNNCell``."""

    def build(self, input_shape):
        features, u = self._features(input_shape), self.units
        self.add_weight("kernel", (features, u), self.kernel_initializer, perm=(1, 0), **self.weight_options("kernel"))
        self.add_weight(
            "recurrent_kernel", (u, u), self.recurrent_initializer, perm=(1, 0), **self.weight_options("recurrent")
        )
        if self.use_bias:
            self.add_weight("bias", (u,), self.bias_initializer, **self.weight_options("bias"))
            # The fused kernel takes two biases; Keras has one. The second stays zero.
            self.register_buffer("_zero_bias", torch.zeros(u, dtype=self.torch_dtype), persistent=False)

    def _fused(self, x, states):
        fused = {activations.tanh: torch.rnn_tanh, activations.relu: torch.rnn_relu}.get(self.activation)
        if fused is None:
            return None
        weights = [self.kernel, self.recurrent_kernel] + ([self.bias, self._zero_bias] if self.use_bias else [])
        outputs, h = fused(x, states[0][None], weights, self.use_bias, 1, 0.0, self.training, False, True)
        return outputs, [h[0]]

    def _project(self, x):
        return F.linear(x, self.kernel, self.bias if self.use_bias else None)

    def _cell(self, projected, states, keep):
        h = states[0] if keep is None else states[0] * keep
        return [self.activation(projected + F.linear(h, self.recurrent_kernel))]


class SimpleRNN(_SimpleRNNMath, _RNN):
    """Fully-connected RNN: ``h = activation(x @ kernel + h @ recurrent_kernel + bias)``; torch's
    fused ``rnn_tanh``/``rnn_relu`` for tanh/relu, a step loop otherwise.

    Args:
        units, activation (default ``"tanh"``), use_bias, initializers, dropout,
        recurrent_dropout, return_sequences, return_state, go_backwards: as in ``LSTM``.

    Weights: ``kernel (features, units)``, ``recurrent_kernel (units, units)``, ``bias (units,)``.
    """


def _blocks(w, order, axis=-1):
    """Reorder the gate blocks of ``w`` along ``axis`` (e.g. Keras z,r,h -> torch r,z,n)."""
    parts = w.chunk(len(order), dim=axis)
    return torch.cat([parts[i] for i in order], dim=axis)


class _GRUMath(Layer):
    """``GRU``'s weights and step, shared by the layer and ``GRUCell``."""

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", reset_after=True, **kwargs):
        super().__init__(units, activation, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.reset_after = bool(reset_after)

    def build(self, input_shape):
        features, u = self._features(input_shape), self.units
        self.add_weight("kernel", (features, 3 * u), self.kernel_initializer, **self.weight_options("kernel"))
        self.add_weight("recurrent_kernel", (u, 3 * u), self.recurrent_initializer, **self.weight_options("recurrent"))
        if self.use_bias:
            self.add_weight(
                "bias",
                (2, 3 * u) if self.reset_after else (3 * u,),
                self.bias_initializer,
                **self.weight_options("bias"),
            )

    def _fused(self, x, states):
        if not (
            self.reset_after
            and self.activation is activations.tanh
            and self.recurrent_activation is activations.sigmoid
        ):
            return None
        order = (1, 0, 2)  # Keras z, r, h -> torch r, z, n
        weights = [_blocks(self.kernel, order).T, _blocks(self.recurrent_kernel, order).T]
        if self.use_bias:
            weights += [_blocks(self.bias[0], order), _blocks(self.bias[1], order)]
        outputs, h = torch.gru(x, states[0][None], weights, self.use_bias, 1, 0.0, self.training, False, True)
        return outputs, [h[0]]

    def _project(self, x):
        if not self.use_bias:
            return x @ self.kernel
        return x @ self.kernel + (self.bias[0] if self.reset_after else self.bias)

    def _cell(self, projected, states, keep):
        u, h = self.units, states[0]
        hd = h if keep is None else h * keep
        xz, xr, xh = projected.split(u, -1)
        if self.reset_after:
            recurrent = hd @ self.recurrent_kernel + (self.bias[1] if self.use_bias else 0)
            rz, rr, rh = recurrent.split(u, -1)
            z, r = self.recurrent_activation(xz + rz), self.recurrent_activation(xr + rr)
            candidate = self.activation(xh + r * rh)
        else:
            rz, rr = (hd @ self.recurrent_kernel[:, : 2 * u]).split(u, -1)
            z, r = self.recurrent_activation(xz + rz), self.recurrent_activation(xr + rr)
            candidate = self.activation(xh + (r * hd) @ self.recurrent_kernel[:, 2 * u :])
        return [z * h + (1 - z) * candidate]

    def get_config(self):
        return {
            **super().get_config(),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "reset_after": self.reset_after,
        }


class GRU(_GRUMath, _RNN):
    """Gated Recurrent Unit, Keras 3's math and weights (gates ``z, r, h``).

    With ``reset_after=True`` (the default) and the default activations, torch's fused GRU runs:
    it is the same math with the gate blocks in torch's ``r, z, n`` order. ``reset_after=False``
    (the reset gate applied before the recurrent matmul) runs as a step loop.

    Args:
        units, activation, use_bias, initializers, dropout, recurrent_dropout, return_sequences,
        return_state, go_backwards: as in ``LSTM``. recurrent_activation: default ``"sigmoid"``.
        reset_after: default True.

    Weights: ``kernel (features, 3*units)``, ``recurrent_kernel (units, 3*units)``, ``bias``
    ``(2, 3*units)`` with reset_after, else ``(3*units,)``.
    """


def lstm_bias_initializer(layer):
    """The initializer of an LSTM's ``(4 * units,)`` bias: ``layer.bias_initializer``, with the
    forget gate's block set to ones when ``layer.unit_forget_bias`` (Keras's rule)."""
    base = layer.bias_initializer
    if not layer.unit_forget_bias:
        return base

    def init(shape, dtype=torch.float32):
        units = shape[0] // 4
        return torch.cat([base((units,), dtype), torch.ones(units, dtype=dtype), base((2 * units,), dtype)])

    return init


class _LSTMMath(Layer):
    """``LSTM``'s weights and step, shared by the layer and ``LSTMCell``."""

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", unit_forget_bias=True, **kwargs):
        super().__init__(units, activation, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)

    def build(self, input_shape):
        features, u = self._features(input_shape), self.units
        self.add_weight(
            "kernel", (features, 4 * u), self.kernel_initializer, perm=(1, 0), **self.weight_options("kernel")
        )
        self.add_weight(
            "recurrent_kernel", (u, 4 * u), self.recurrent_initializer, perm=(1, 0), **self.weight_options("recurrent")
        )
        if self.use_bias:
            self.add_weight("bias", (4 * u,), lstm_bias_initializer(self), **self.weight_options("bias"))
            # The fused kernel takes two biases; Keras has one. The second stays zero.
            self.register_buffer("_zero_bias", torch.zeros(4 * u, dtype=self.torch_dtype), persistent=False)

    def _fused(self, x, states):
        if not (self.activation is activations.tanh and self.recurrent_activation is activations.sigmoid):
            return None
        h, c = states
        weights = [self.kernel, self.recurrent_kernel] + ([self.bias, self._zero_bias] if self.use_bias else [])
        outputs, h, c = torch.lstm(x, (h[None], c[None]), weights, self.use_bias, 1, 0.0, self.training, False, True)
        return outputs, [h[0], c[0]]

    def _project(self, x):
        return F.linear(x, self.kernel, self.bias if self.use_bias else None)

    def _cell(self, projected, states, keep):
        h, c = states
        z = projected + F.linear(h if keep is None else h * keep, self.recurrent_kernel)
        i, f, g, o = z.chunk(4, dim=-1)
        i, f, o = self.recurrent_activation(i), self.recurrent_activation(f), self.recurrent_activation(o)
        c = f * c + i * self.activation(g)
        return [o * self.activation(c), c]

    def get_config(self):
        return {
            **super().get_config(),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "unit_forget_bias": self.unit_forget_bias,
        }


class LSTM(_LSTMMath, _RNN):
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

    num_states = 2
