"""Recurrent cells and the generic ``RNN`` layer that runs one over a sequence (Keras's
``layers.RNN``): ``SimpleRNNCell``, ``GRUCell``, ``LSTMCell``, ``StackedRNNCells``, and any cell a
user writes.

A cell is a layer whose ``call(inputs, states)`` takes one step's inputs ``(batch, features)``
and the list of states and returns ``(output, new_states)``; it declares ``state_size`` (an int,
or one per state) and may declare ``output_size`` and ``get_initial_state(batch_size)``. The
built-in cells share their weights and step math with ``SimpleRNN``/``GRU``/``LSTM``
(:mod:`plait.layers.recurrent`), so ``RNN(LSTMCell(n))`` and ``LSTM(n)`` hold the same weights
and give the same numbers; without a mask or dropout, ``RNN`` over a built-in cell runs torch's
fused kernel as the layer does.
"""

import inspect

import torch

from plait.layers.base import Layer
from plait.layers.recurrent import _cell_options, _CellSettings, _GRUMath, _LSTMMath, _Recurrent, _SimpleRNNMath
from plait.layers.serialization import layer_from_config, layer_to_config
from plait.utils import nest


def _as_layer(value):
    """A cell given as a config (Keras's or plait's) becomes a layer; a layer stays itself."""
    return layer_from_config(value) if isinstance(value, dict) else value


def _check_cell(cell, who):
    if not callable(getattr(cell, "call", None)):
        raise ValueError(f"{who}: a cell needs a `call(inputs, states)` method. Received: cell={cell!r:.80}")
    if getattr(cell, "state_size", None) is None:
        raise ValueError(
            f"{who}: a cell needs a `state_size` attribute (an int, or a list of ints, one per state). "
            f"Received: cell={cell!r:.80}"
        )


def _output_size(cell):
    size = getattr(cell, "output_size", None)
    if size is not None:
        return size
    state = cell.state_size
    return state[0] if isinstance(state, (list, tuple)) else state


def _zero_states(cell, batch_size, dtype=torch.float32):
    """A cell's initial states: its own ``get_initial_state`` if it has one, else zeros."""
    if callable(getattr(cell, "get_initial_state", None)):
        states = cell.get_initial_state(batch_size=batch_size)
        return list(states) if isinstance(states, (list, tuple)) else [states]
    sizes = cell.state_size if isinstance(cell.state_size, (list, tuple)) else [cell.state_size]
    return [torch.zeros(batch_size, size, dtype=dtype) for size in sizes]


def _takes_training(cell):
    return "training" in inspect.signature(cell.call).parameters


class _BuiltinCell(_CellSettings, Layer):
    """What ``SimpleRNNCell``, ``GRUCell`` and ``LSTMCell`` share: Keras's arguments, the dropout
    masks (drawn at a sequence's first step and reused for all its steps, as Keras's
    ``DropoutRNNCell`` does) and the one-step call over the math of ``_*Math``."""

    num_states = 1

    def __init__(
        self,
        units,
        activation="tanh",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
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
        self._dropout_mask = self._recurrent_dropout_mask = None

    @property
    def state_size(self):
        return [self.units] * self.num_states if self.num_states > 1 else self.units

    @property
    def output_size(self):
        return self.units

    def get_initial_state(self, batch_size=None):
        """Zeros, one ``(batch_size, units)`` tensor per state."""
        return [torch.zeros(batch_size, self.units, dtype=self.torch_dtype) for _ in range(self.num_states)]

    def _draw(self, like, rate):
        return torch.empty_like(like).bernoulli_(1 - rate) / (1 - rate)

    def get_dropout_mask(self, step_input):
        """The input-dropout mask of the current sequence (drawn on first use)."""
        if self._dropout_mask is None and self.dropout > 0:
            self._dropout_mask = self._draw(step_input, self.dropout)
        return self._dropout_mask

    def get_recurrent_dropout_mask(self, step_input):
        """The recurrent-dropout mask of the current sequence (drawn on first use)."""
        if self._recurrent_dropout_mask is None and self.recurrent_dropout > 0:
            self._recurrent_dropout_mask = self._draw(step_input, self.recurrent_dropout)
        return self._recurrent_dropout_mask

    def reset_dropout_mask(self):
        self._dropout_mask = None

    def reset_recurrent_dropout_mask(self):
        self._recurrent_dropout_mask = None

    def call(self, inputs, states, training=None):
        training = self.training if training is None else training
        nested = isinstance(states, (list, tuple))
        states = list(states) if nested else [states]
        if training and self.dropout > 0:
            inputs = inputs * self.get_dropout_mask(inputs)
        keep = self.get_recurrent_dropout_mask(states[0]) if training and self.recurrent_dropout > 0 else None
        new = self._cell(self._project(inputs), states, keep)
        return new[0], new if nested or len(new) > 1 else new[0]

    def get_config(self):
        return {**super().get_config(), **self._cell_config()}


class SimpleRNNCell(_SimpleRNNMath, _BuiltinCell):
    """One step of ``SimpleRNN``: ``h = activation(x @ kernel + h @ recurrent_kernel + bias)``.

    Args:
        units, activation (default ``"tanh"``), use_bias, kernel_initializer,
        recurrent_initializer, bias_initializer, regularizers, constraints, dropout,
        recurrent_dropout, seed: as in ``SimpleRNN``.

    Call: ``cell(inputs, states)`` with inputs ``(batch, features)`` and ``states = [h]``;
    returns ``(h, [h])``.

    Example:
        >>> import plait
        >>> plait.layers.RNN(plait.layers.SimpleRNNCell(4))(plait.Input(shape=(None, 3))).shape
        (None, 4)
    """


class GRUCell(_GRUMath, _BuiltinCell):
    """One step of ``GRU`` (Keras 3's math and weights; ``reset_after=True`` by default).

    Args:
        units, activation, recurrent_activation, use_bias, initializers, regularizers,
        constraints, dropout, recurrent_dropout, reset_after, seed: as in ``GRU``.

    Example:
        >>> import torch, plait
        >>> cell = plait.layers.GRUCell(4)
        >>> h, states = cell(torch.zeros(2, 3), [torch.zeros(2, 4)])
        >>> tuple(h.shape), len(states)
        ((2, 4), 1)
    """


class LSTMCell(_LSTMMath, _BuiltinCell):
    """One step of ``LSTM`` (gates ``i, f, c, o``; states ``[h, c]``).

    Args:
        units, activation, recurrent_activation, use_bias, initializers, unit_forget_bias,
        regularizers, constraints, dropout, recurrent_dropout, seed: as in ``LSTM``.

    Example:
        >>> import plait
        >>> x = plait.Input(shape=(None, 3))
        >>> out, h, c = plait.layers.RNN(plait.layers.LSTMCell(5), return_state=True)(x)
        >>> out.shape, c.shape
        ((None, 5), (None, 5))
    """

    num_states = 2


class StackedRNNCells(Layer):
    """Cells run one after the other within each step, as one cell: cell ``k`` takes cell
    ``k-1``'s output. ``RNN([cell_a, cell_b])`` builds one.

    Args:
        cells: list of cells.

    ``state_size`` lists each cell's; the states are one entry per cell (itself a list for a
    cell with several states).

    Example:
        >>> import plait
        >>> cells = plait.layers.StackedRNNCells([plait.layers.GRUCell(8), plait.layers.LSTMCell(4)])
        >>> plait.layers.RNN(cells, return_sequences=True)(plait.Input(shape=(None, 3))).shape
        (None, None, 4)
    """

    def __init__(self, cells, **kwargs):
        super().__init__(**kwargs)
        cells = [_as_layer(c) for c in cells]
        for cell in cells:
            _check_cell(cell, f"StackedRNNCells '{self.name}'")
        self.cells = cells

    @property
    def state_size(self):
        return [c.state_size for c in self.cells]

    @property
    def output_size(self):
        return _output_size(self.cells[-1])

    def get_initial_state(self, batch_size=None):
        states = [_zero_states(c, batch_size, self.torch_dtype) for c in self.cells]
        return [s if isinstance(c.state_size, (list, tuple)) else s[0] for c, s in zip(self.cells, states)]

    def build(self, input_shape):
        for cell in self.cells:
            if isinstance(cell, Layer):
                cell.maybe_build(input_shape)
            input_shape = (input_shape[0], _output_size(cell))

    def call(self, inputs, states, training=None):
        training = self.training if training is None else training
        new_states = []
        for cell, state in zip(self.cells, states):
            nested = isinstance(state, (list, tuple))
            extra = {"training": training} if _takes_training(cell) else {}
            inputs, state = cell(inputs, list(state) if nested else [state], **extra)
            state = list(state) if isinstance(state, (list, tuple)) else [state]
            new_states.append(state if nested else state[0])
        return inputs, new_states

    def get_config(self):
        return {**super().get_config(), "cells": [layer_to_config(c) for c in self.cells]}


def _reset_dropout(cell):
    for inner in getattr(cell, "cells", [cell]):
        for reset in ("reset_dropout_mask", "reset_recurrent_dropout_mask"):
            if callable(getattr(inner, reset, None)):
                getattr(inner, reset)()


class RNN(_Recurrent):
    """Runs a recurrent cell over the steps of a sequence (Keras's generic ``RNN``).

    Args:
        cell: a cell (``LSTMCell``, ``GRUCell``, ``SimpleRNNCell``, a user's cell with
            ``call(inputs, states)`` and ``state_size``), or a list of cells (stacked).
        return_sequences: return every step's output ``(batch, steps, output_size)`` instead
            of the last one (default False).
        return_state: also return the final states: ``[output, *states]`` (a stacked cell's
            states flattened, one tensor each).
        go_backwards: run over the reversed sequence (and return the reversed outputs).
        stateful: each call starts from the previous call's final states (``layer.states``;
            ``reset_states()`` zeroes them).
        unroll: accepted for Keras compatibility (the step loop is Python's either way).
        zero_output_for_mask: masked steps output zeros instead of the previous output.

    Call: ``rnn(sequences, initial_state=None, mask=None)``; a mask (or the inputs' own, from
    ``Embedding(mask_zero=True)``/``Masking``) makes masked steps keep the previous states.

    Example:
        >>> import torch, plait
        >>> class MinimalCell(plait.layers.Layer):
        ...     def __init__(self, units, **kwargs):
        ...         super().__init__(**kwargs)
        ...         self.units, self.state_size = units, units
        ...     def build(self, input_shape):
        ...         self.kernel = self.add_weight(shape=(input_shape[-1], self.units))
        ...     def call(self, inputs, states):
        ...         output = inputs @ self.kernel + states[0]
        ...         return output, [output]
        >>> plait.layers.RNN(MinimalCell(4), return_sequences=True)(torch.ones(2, 5, 3)).shape
        torch.Size([2, 5, 4])
    """

    def __init__(
        self,
        cell,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        zero_output_for_mask=False,
        **kwargs,
    ):
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(cell)
        cell = _as_layer(cell)
        super().__init__(return_sequences, return_state, go_backwards, stateful, unroll, zero_output_for_mask, **kwargs)
        _check_cell(cell, f"RNN layer '{self.name}'")
        self.cell = cell
        self._cell_takes_training = _takes_training(cell)

    @property
    def state_size(self):
        size = self.cell.state_size
        return list(size) if isinstance(size, (list, tuple)) else [size]

    def build(self, sequences_shape):
        if isinstance(self.cell, Layer):
            self.cell.maybe_build((sequences_shape[0], *sequences_shape[2:]))

    def get_initial_state(self, batch_size):
        """The states a sequence starts from: the cell's ``get_initial_state``, else zeros."""
        return _zero_states(self.cell, batch_size, self.torch_dtype)

    def _zero_states(self, x):
        return nest.map_structure(lambda s: torch.as_tensor(s).to(x.device), self.get_initial_state(x.shape[0]))

    def _run(self, x, states, mask):
        dropping = self.training and (getattr(self.cell, "dropout", 0) or getattr(self.cell, "recurrent_dropout", 0))
        fused = getattr(self.cell, "_fused", None)
        if fused is not None and mask is None and not dropping:
            result = fused(x, states)
            if result is not None:
                return result
        extra = {"training": self.training} if self._cell_takes_training else {}

        def step(t, states):
            output, new = self.cell(x[:, t], states, **extra)
            return output, list(new) if isinstance(new, (list, tuple)) else [new]

        try:
            return self._loop(x, states, mask, step)
        finally:
            _reset_dropout(self.cell)

    def call(self, sequences, initial_state=None, mask=None):
        if initial_state is not None and not isinstance(initial_state, (list, tuple)):
            initial_state = [initial_state]
        result = super().call(sequences, initial_state, mask)
        if self.return_state:
            return [result[0], *nest.flatten(result[1:])]
        return result

    def _shapes(self, input_shape):
        batch = input_shape[0]
        states = [(batch, size) for size in nest.flatten(self.state_size)]
        return (batch, _output_size(self.cell)), states

    def get_config(self):
        return {**super().get_config(), "cell": layer_to_config(self.cell)}
