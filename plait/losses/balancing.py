"""Loss balancing for multi-output models: ``compile(loss_weights="auto")``, and weights that change.

A multi-output model minimises ``sum_k w_k * L_k``. With fixed ``w_k`` the output whose loss
has the largest scale (an MSE on ages in years) drives the shared layers, and the user must
guess the weights by hand. A balancer sets them during training instead. Every balancer moves
the model along ``sum_k w_k * grad(L_k)`` with the ``w_k`` held constant within a step; they
differ in how they pick the ``w_k``:

* :class:`FixedWeights`: the user's numbers (``loss_weights={"age": 0.25, ...}``); assignable
  between epochs through ``model.loss_weights["age"] = 0.5``.
* :class:`UncertaintyWeighting` (Kendall, Gal and Cipolla, CVPR 2018): a learned log-variance
  per output. No extra gradients.
* :class:`GradNorm` (Chen et al., ICML 2018): weights that equalise the outputs' gradient norms
  at the last shared layer. One partial backward pass per output and step.
* :class:`DWA`, Dynamic Weight Average (Liu, Johns and Davison, CVPR 2019): weights from how
  fast each loss fell over the last two epochs. No extra gradients.
* :class:`FAMO` (Liu et al., NeurIPS 2023): weights that make every output's log-loss fall at
  the same rate. No extra gradients.

``"auto"`` picks :class:`UncertaintyWeighting`, the best overall in
``benchmarks/loss_balancing.py`` (see ``docs/loss-balancing.md``).

A balancer's own parameters (log-variances, GradNorm's weights, FAMO's logits) are trained by
its own small Adam, not by the model's optimizer, so they are not model weights: they do not
appear in ``summary()`` or ``state_dict()``. ``model.save`` stores the balancer's state with the
optimizer's.

Example:
    >>> import plait
    >>> from plait.layers import Dense
    >>> x = plait.Input(shape=(4,))
    >>> h = Dense(8, activation="relu")(x)
    >>> model = plait.Model(x, [Dense(1, name="age")(h), Dense(1, activation="sigmoid", name="sex")(h)])
    >>> model.compile("adam", loss={"age": "mse", "sex": "binary_crossentropy"}, loss_weights="auto")
    >>> model.loss_balancer
    UncertaintyWeighting(learning_rate=0.01, initial_log_variance=None)
"""

import math

import torch

from plait.distribution import collectives
from plait.utils.registry import ConfigObject, get_object, serialize_object, with_class_names


class LossBalancer(ConfigObject):
    """Base class: chooses the weights ``w_k`` of the per-output losses ``L_k``.

    Subclasses implement :meth:`weights` (the weights for given losses, no state change) and,
    when they adapt, :meth:`step` (one training step: update the state, return the weights
    this step uses) and/or :meth:`on_epoch_end`. Their state lives in tensors named in
    ``_state`` plus an optional ``_optimizer``, so saving and device moves are generic.
    """

    adaptive = True
    changed = False  # FixedWeights: whether the user assigned new weights (then they are logged)
    _state = ()
    _args = ()  # constructor arguments, for get_config

    def get_config(self):
        return {name: getattr(self, name) for name in self._args}

    def build(self, names, losses):
        """Set up for the outputs ``names`` (those with a loss) and their loss objects."""
        if self.adaptive and len(names) < 2:
            raise ValueError(
                f"{type(self).__name__} balances the losses of several outputs, but the model has "
                f"{len(names)} output(s) with a loss: {names}. Use fixed `loss_weights` instead."
            )
        self.names = list(names)
        self._optimizer = None
        self._epoch_sum, self._epoch_steps = torch.zeros(len(names)), 0
        self._last = torch.ones(len(names))
        self.initialized = torch.tensor(0.0)  # a tensor so that it saves; `_ready` mirrors it
        self._ready = False
        self._batch_size = 1  # the samples of the current step's losses (see combine)

    def _mark_ready(self):
        # The flag lives in a tensor for saving, and in Python so the step never reads the device.
        if not self._ready:
            self.initialized.fill_(1.0)
            self._ready = True

    # ---- the step
    def combine(self, losses, training, batch_size=None):
        """``sum_k w_k * L_k`` for the per-output losses (``None`` where a batch had no target).

        ``batch_size``: the number of samples the losses are the mean over. Under
        ``DataParallel`` the balancer's own step sees the global batch's losses (each process's
        weighted by its ``batch_size``; equal weights if None), so the weights are the same on
        every process and equal to one process's with the same global batch.
        """
        present = [i for i, loss in enumerate(losses) if loss is not None]
        stacked = torch.stack([losses[i] for i in present])
        self._to_device(stacked.device)
        if training and len(present) == len(losses):
            self._batch_size = 1 if batch_size is None else int(batch_size)
            weights = self.step(collectives.global_mean(stacked.detach().float(), self._batch_size), losses)
            self._last = weights
            self._epoch_sum = self._epoch_sum + weights
            self._epoch_steps += 1
        else:
            # Evaluation, or a batch where some output has no target: the latest training
            # step's weights, so that `val_loss` weighs the outputs as `loss` does.
            weights = self._last[present]
        return (weights.to(stacked.dtype) * stacked).sum()

    def weights(self, losses):
        """The weights (a tensor of ``len(names)``) the state gives for the detached per-output
        ``losses``; no state change."""
        raise NotImplementedError

    def step(self, losses, graph_losses):
        """One training step: ``losses`` detached, ``graph_losses`` the list still attached to
        the model's graph. Updates the state; returns the weights this step trains with
        (evaluation then reuses them)."""
        return self.weights(losses)

    def on_epoch_end(self, mean_losses):
        """Called by ``fit`` with each output's mean training loss over the epoch."""

    def epoch_weights(self):
        """``{name: mean weight}`` over this epoch's training steps; starts a new epoch."""
        steps, total = self._epoch_steps, self._epoch_sum
        mean = (total / steps) if steps else self._last
        self._epoch_sum, self._epoch_steps = torch.zeros_like(total), 0
        return dict(zip(self.names, mean.tolist()))

    @property
    def current(self):
        """``{name: weight}``: the weights of the latest training step (what evaluation uses)."""
        return dict(zip(self.names, self._last.tolist()))

    def set_weight(self, name, value):
        raise ValueError(
            f"The loss weights of this model are set by {type(self).__name__}; they cannot be assigned. "
            "Compile with fixed `loss_weights` (a dict or list of floats) to set them by hand."
        )

    # ---- state: tensors only, so it saves to safetensors
    def _to_device(self, device):
        if self._last.device == device:
            return
        for name in self._state:
            setattr(self, name, getattr(self, name).to(device))
        self._last, self._epoch_sum = self._last.to(device), self._epoch_sum.to(device)
        if self._optimizer is not None:
            saved = self._optimizer.state_dict()
            self._optimizer.build([getattr(self, self._state[0])])
            self._optimizer.load_state_dict(saved)

    def _adam(self, param, learning_rate):
        from plait.optimizers import Adam

        self._optimizer = Adam(learning_rate)
        self._optimizer.build([param])

    def state_dict(self):
        state = {name: getattr(self, name) for name in self._state}
        state["last_weights"] = self._last
        if self._optimizer is not None:
            for key, value in self._optimizer.state_dict().items():
                state[f"optimizer.{key}"] = value if torch.is_tensor(value) else torch.tensor(float(value))
        return state

    def load_state_dict(self, state):
        expected = set(self.state_dict())
        if set(state) != expected:
            raise ValueError(f"{type(self).__name__} state has keys {sorted(state)}, expected {sorted(expected)}.")
        with torch.no_grad():
            for name in self._state:
                getattr(self, name).copy_(state[name])
            self._last = state["last_weights"].clone().to(self._last.device)
        self._ready = bool(self.initialized)
        if self._optimizer is not None:
            opt = {k[len("optimizer.") :]: v for k, v in state.items() if k.startswith("optimizer.")}
            opt["iterations"] = int(opt["iterations"])
            self._optimizer.load_state_dict(opt)


class FixedWeights(LossBalancer):
    """Constant weights, as Keras's ``loss_weights``, that can be reassigned between steps.

    Args:
        weights: one float per output with a loss (a list in output order), or a dict.

    Plain Python floats multiply the losses outside any compiled region, so assigning a new
    value never triggers a recompilation.
    """

    adaptive = False

    def __init__(self, weights=None):
        self.weights_config = weights

    def build(self, names, losses):
        super().build(names, losses)
        given = self.weights_config
        if isinstance(given, dict):
            values = [float(given.get(n, 1.0)) for n in names]
        elif given is None:
            values = [1.0] * len(names)
        else:
            values = [float(v) for v in given]
        self.values = values
        self.changed = False

    def combine(self, losses, training, batch_size=None):
        total = 0.0
        for w, loss in zip(self.values, losses):
            if loss is not None:
                total = total + w * loss
        return total

    def epoch_weights(self):
        return dict(zip(self.names, self.values))

    @property
    def current(self):
        return dict(zip(self.names, self.values))

    def set_weight(self, name, value):
        if name not in self.names:
            raise KeyError(f"No output with a loss is named '{name}'. Outputs with a loss: {self.names}")
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise ValueError(f"A loss weight must be a finite number. Received: loss_weights['{name}']={value!r}")
        self.values[self.names.index(name)] = float(value)
        self.changed = True

    def get_config(self):
        return {"weights": dict(zip(self.names, self.values)) if hasattr(self, "names") else self.weights_config}

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


_REGRESSION_LOSSES = (
    "MeanSquaredError",
    "MeanAbsoluteError",
    "Huber",
    "LogCosh",
    "MeanSquaredLogarithmicError",
    "MeanAbsolutePercentageError",
)


class UncertaintyWeighting(LossBalancer):
    """Kendall, Gal and Cipolla (CVPR 2018): each output's loss is weighted by a learned
    homoscedastic uncertainty.

    The balancer minimises ``sum_k c_k exp(-s_k) L_k + s_k / 2`` over the log-variances
    ``s_k = log(sigma_k^2)``, with ``c_k = 1/2`` for regression losses (Gaussian likelihood,
    the paper's eq. 5) and ``c_k = 1`` for classification (its eq. 10). The model trains with
    ``w_k = c_k exp(-s_k)``. For fixed ``L_k`` the optimum is ``w_k = 1 / (2 L_k)``: every
    output contributes equally, whatever its loss's scale.

    Args:
        learning_rate: Adam's learning rate for ``s``. The paper trains ``s`` with the model's
            optimizer; its own rate lets ``s`` follow losses that shrink by orders of magnitude.
        initial_log_variance: a float for every ``s_k`` (the paper uses 0.0), or ``None``
            (default) to start each ``s_k`` at its optimum for the first batch,
            ``log(2 c_k L_k)``. Starting at 0 with an MSE in the thousands takes hundreds of
            steps of ``s`` before the other outputs count.

    The step uses the weights from before its own update of ``s``. The gradient of the
    objective in ``s_k`` is ``1/2 - c_k exp(-s_k) L_k``, computed from the loss values, so
    no extra backward pass is needed.
    """

    _args = ("learning_rate", "initial_log_variance")
    _state = ("log_variance", "initialized")

    def __init__(self, learning_rate=0.01, initial_log_variance=None):
        if not learning_rate > 0:
            raise ValueError(f"`learning_rate` must be positive. Received: learning_rate={learning_rate!r}")
        self.learning_rate, self.initial_log_variance = learning_rate, initial_log_variance

    def build(self, names, losses):
        super().build(names, losses)
        start = 0.0 if self.initial_log_variance is None else float(self.initial_log_variance)
        self.log_variance = torch.full((len(names),), start)
        if self.initial_log_variance is not None:
            self._mark_ready()
        self.scale = torch.tensor([0.5 if type(loss).__name__ in _REGRESSION_LOSSES else 1.0 for loss in losses])
        self._adam(self.log_variance, self.learning_rate)
        self._last = self.weights(torch.ones(len(names)))

    def _to_device(self, device):
        super()._to_device(device)
        self.scale = self.scale.to(device)

    def weights(self, losses):
        return self.scale * torch.exp(-self.log_variance)

    def step(self, losses, graph_losses):
        if not self._ready:
            self.log_variance.copy_(torch.log(2 * self.scale * losses.clamp(min=1e-12)))
            self._mark_ready()
        weights = self.weights(losses)
        self._optimizer.apply([self.gradient(losses)])
        return weights

    def gradient(self, losses):
        """``d/ds_k [c_k exp(-s_k) L_k + s_k / 2] = 1/2 - c_k exp(-s_k) L_k``."""
        return 0.5 - self.weights(losses) * losses


class GradNorm(LossBalancer):
    """Chen, Badrinarayanan, Lee and Rabinovich (ICML 2018): weights that give every output's
    loss a similar gradient norm at the last shared layer, adjusted by how fast it trains.

    At each step, with ``g_k = ||grad_W L_k||`` at the shared layer's weights ``W``,
    ``G_k = w_k g_k``, the mean ``G`` over outputs, the loss ratios ``L_k / L_k(0)`` and their
    relative rates ``r_k`` (ratio over mean ratio), the weights descend
    ``L_grad = sum_k |G_k - G * r_k ** alpha|`` with the target held constant:
    ``dL_grad/dw_k = sign(G_k - G r_k^alpha) g_k``. They are then renormalised to sum to the
    number of outputs. ``L_k(0)`` is the first training step's loss.

    Args:
        alpha: the restoring force towards equal training rates (the paper uses 0.12 to 3;
            1.5 for NYUv2).
        learning_rate: Adam's learning rate for the weights.
        shared_layer: the name of the last layer every output depends on; by default found
            from the graph (the deepest layer with trainable weights that all outputs with a
            loss share).
    """

    _args = ("alpha", "learning_rate", "shared_layer")
    _state = ("loss_weights", "initial_losses", "initialized")

    def __init__(self, alpha=1.5, learning_rate=0.025, shared_layer=None):
        if not learning_rate > 0:
            raise ValueError(f"`learning_rate` must be positive. Received: learning_rate={learning_rate!r}")
        self.alpha, self.learning_rate, self.shared_layer = float(alpha), learning_rate, shared_layer

    def build(self, names, losses):
        super().build(names, losses)
        self.loss_weights = torch.ones(len(names))
        self.initial_losses = torch.ones(len(names))
        self.shared_params = None
        self._adam(self.loss_weights, self.learning_rate)

    def weights(self, losses):
        return self.loss_weights.clone()  # a copy: the update must not touch a step's weights

    def step(self, losses, graph_losses):
        if self.shared_params is None:
            raise ValueError("GradNorm needs the model's shared layer; call `attach(model)` first.")
        if collectives.fully_sharded() is not None or any(hasattr(p, "to_local") for p in self.shared_params):
            raise ValueError(
                "GradNorm does not support sharded weights (FullyShardedDataParallel, ModelParallel): its gradient "
                "norms would be those of weight shards. Use DataParallel, or another balancer (loss_weights='auto', "
                "'famo' or 'dwa')."
            )
        if not self._ready:
            self.initial_losses.copy_(losses)
            self._mark_ready()
        weights = self.weights(losses)
        norms = _global_grad_norms(graph_losses, self.shared_params, self._batch_size)
        self._optimizer.apply([self.gradient(weights, norms, losses)])
        with torch.no_grad():
            self.loss_weights.clamp_(min=1e-6)
            self.loss_weights.mul_(len(self.names) / self.loss_weights.sum())
        return weights

    def gradient(self, weights, norms, losses):
        """``dL_grad/dw`` for weights ``w``, gradient norms ``g`` and losses ``L`` (see above)."""
        grad_norms = weights * norms
        ratios = losses / self.initial_losses
        target = grad_norms.mean() * (ratios / ratios.mean()) ** self.alpha
        return torch.sign(grad_norms - target) * norms

    def attach(self, model):
        """Find the shared layer's trainable parameters in ``model``."""
        layer = (
            _last_shared_layer(model, self.names) if self.shared_layer is None else model.get_layer(self.shared_layer)
        )
        self.shared_params = [p for p in layer.parameters() if p.requires_grad]
        if not self.shared_params:
            raise ValueError(f"GradNorm's shared layer '{layer.name}' has no trainable weights.")
        self.shared_layer_name = layer.name


def _global_grad_norms(losses, params, batch_size):
    """``||grad_params L_k||`` for each loss, the gradients those of the global batch under
    DataParallel (each process's scaled by its ``batch_size``, summed and divided by the global
    size, in one all-reduce for all the losses)."""
    grads = []
    for loss in losses:
        grads += [
            torch.zeros_like(p) if g is None else g
            for p, g in zip(params, torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True))
        ]
    if collectives.data_parallel() is not None:
        scale = collectives.loss_scale(batch_size)  # this process's share of the global batch
        grads = collectives.average_gradients([g * scale for g in grads])
    n = len(params)
    return torch.stack(
        [
            torch.sqrt(torch.stack([g.pow(2).sum() for g in grads[k * n : (k + 1) * n]]).sum())
            for k in range(len(losses))
        ]
    )


def _last_shared_layer(model, names):
    """The deepest layer with trainable weights that every output in ``names`` depends on."""
    outputs = getattr(model, "outputs", None)
    if outputs is None:
        raise ValueError(
            f"GradNorm cannot find the shared layer of '{model.name}' (it has no graph); pass "
            "GradNorm(shared_layer='layer_name')."
        )

    def ancestors(node, seen):
        if id(node) not in seen:
            seen[id(node)] = node
            for parent in node.parent_nodes:
                ancestors(parent, seen)
        return seen

    per_output = [ancestors(t.node, {}) for t, n in zip(outputs, model.output_names) if n in names]
    common = set.intersection(*(set(a) for a in per_output))
    candidates = [per_output[0][i] for i in common if any(p.requires_grad for p in per_output[0][i].layer.parameters())]
    if not candidates:
        raise ValueError(f"The outputs {names} of '{model.name}' share no layer with trainable weights.")
    # The deepest shared node is the one with the most ancestors of its own.
    deepest = max(candidates, key=lambda node: len(ancestors(node, {})))
    return deepest.layer


class DWA(LossBalancer):
    """Dynamic Weight Average (Liu, Johns and Davison, CVPR 2019).

    ``w_k(t) = K exp(r_k / T) / sum_i exp(r_i / T)`` with ``r_k = L_k(t-1) / L_k(t-2)``, the
    ratio of output ``k``'s mean training loss over the last two epochs; ``w_k = 1`` for the
    first two epochs. An output whose loss falls slowly gets more weight. It only sees rates,
    not scales: losses of very different sizes stay unbalanced.

    Args:
        temperature: ``T``; the paper uses 2. Larger is closer to equal weights.

    The weights change at epoch ends (``fit``); ``train_on_batch`` alone keeps them.
    """

    _args = ("temperature",)
    _state = ("loss_weights", "history", "epochs_seen")

    def __init__(self, temperature=2.0):
        if not temperature > 0:
            raise ValueError(f"`temperature` must be positive. Received: temperature={temperature!r}")
        self.temperature = float(temperature)

    def build(self, names, losses):
        super().build(names, losses)
        self.loss_weights = torch.ones(len(names))
        self.history = torch.ones(2, len(names))  # mean losses of epochs t-2 and t-1
        self.epochs_seen = torch.tensor(0.0)

    def weights(self, losses):
        return self.loss_weights.clone()  # a copy: the epoch's end updates loss_weights in place

    def on_epoch_end(self, mean_losses):
        mean = mean_losses.to(self.history.device, torch.float32)
        self.history.copy_(torch.stack([self.history[1], mean]))
        self.epochs_seen += 1
        if self.epochs_seen >= 2:
            rates = self.history[1] / self.history[0]
            self.loss_weights.copy_(len(self.names) * torch.softmax(rates / self.temperature, 0))


class FAMO(LossBalancer):
    """Fast Adaptive Multitask Optimization (Liu, Liu, Jiang, Stone and Liu, NeurIPS 2023).

    With ``z = softmax(xi)`` the model follows the gradient of ``sum_k z_k log L_k / c``,
    ``c = sum_k z_k / L_k``: the weights are ``w_k = z_k / (c L_k)``, so each output's
    log-loss counts by ``z_k``, whatever its scale. The logits ``xi`` then descend
    ``J_softmax(xi)^T delta`` plus ``gamma * xi`` (the paper's regulariser), with ``delta_k``
    the decrease of ``log L_k``: an output whose loss falls fastest loses weight.

    Args:
        learning_rate: Adam's learning rate for ``xi`` (the paper's 0.025).
        gamma: the weight decay of ``xi`` (the paper's 0.01).

    The paper measures ``delta`` on the same batch before and after the update, at the cost of
    a second forward pass; here it is the change from the previous step's batch to this one,
    which costs nothing and averages out over an epoch.
    """

    _args = ("learning_rate", "gamma")
    _state = ("logits", "previous", "initialized")

    def __init__(self, learning_rate=0.025, gamma=0.01):
        if not learning_rate > 0:
            raise ValueError(f"`learning_rate` must be positive. Received: learning_rate={learning_rate!r}")
        self.learning_rate, self.gamma = learning_rate, float(gamma)

    def build(self, names, losses):
        super().build(names, losses)
        self.logits = torch.zeros(len(names))
        self.previous = torch.ones(len(names))
        self._adam(self.logits, self.learning_rate)

    def weights(self, losses):
        losses = losses.clamp(min=1e-8)
        z = torch.softmax(self.logits, 0)
        return z / ((z / losses).sum() * losses)

    def step(self, losses, graph_losses):
        current = losses.clamp(min=1e-8)
        if self._ready:
            self._optimizer.apply([self.gradient(torch.log(self.previous) - torch.log(current))])
        self.previous.copy_(current)
        self._mark_ready()
        return self.weights(losses)

    def gradient(self, delta):
        """The logits' gradient for log-loss decreases ``delta``: ``J^T delta + gamma * xi``."""
        z = torch.softmax(self.logits, 0)
        return z * (delta - (z * delta).sum()) + self.gamma * self.logits


AUTO = UncertaintyWeighting

_BALANCERS = with_class_names(
    {
        "fixed": FixedWeights,
        "uncertainty": UncertaintyWeighting,
        "uncertainty_weighting": UncertaintyWeighting,
        "gradnorm": GradNorm,
        "dwa": DWA,
        "famo": FAMO,
    }
)


def is_balancer_spec(value):
    """Whether ``compile(loss_weights=value)`` names a balancer (else it holds fixed floats)."""
    return isinstance(value, (str, LossBalancer)) or (isinstance(value, dict) and "class_name" in value)


def get(identifier):
    """A balancer from ``"auto"``, a name (``"uncertainty"``, ``"gradnorm"``, ``"dwa"``,
    ``"famo"``, or a class name), a ``{"class_name", "config"}`` dict, or an instance."""
    if identifier == "auto":
        return AUTO()
    if not is_balancer_spec(identifier):
        raise TypeError(f"Could not interpret loss balancer identifier: {identifier!r}")
    if isinstance(identifier, str) and identifier.lower() in _BALANCERS:
        identifier = identifier.lower()
    return get_object(identifier, _BALANCERS, "loss balancer", LossBalancer)


def serialize(balancer):
    return serialize_object(balancer, "loss balancer", LossBalancer)


class LossWeights:
    """``model.loss_weights``: a live ``{output: weight}`` view of the active balancer.

    Reading gives the weights of the latest training step; assigning (fixed weights only)
    takes effect at the next step, with no recompilation.

    Example:
        >>> import plait
        >>> from plait.layers import Dense
        >>> x = plait.Input(shape=(3,))
        >>> model = plait.Model(x, [Dense(1, name="a")(x), Dense(1, name="b")(x)])
        >>> model.compile("sgd", loss="mse", loss_weights={"a": 1.0, "b": 2.0})
        >>> model.loss_weights["b"] = 0.5
        >>> model.loss_weights
        LossWeights({'a': 1.0, 'b': 0.5}, balancer=FixedWeights)
    """

    def __init__(self, balancer):
        self._balancer = balancer

    def __getitem__(self, name):
        current = self._balancer.current
        if name not in current:
            raise KeyError(f"No output with a loss is named '{name}'. Outputs with a loss: {list(current)}")
        return current[name]

    def __setitem__(self, name, value):
        self._balancer.set_weight(name, value)

    def update(self, values):
        """Assign several weights: a mapping by output name, or a list in output order."""
        if hasattr(values, "items"):
            values = dict(values.items())
        else:
            values = list(values)
            if len(values) != len(self._balancer.names):
                raise ValueError(
                    f"Expected {len(self._balancer.names)} loss weights for {self._balancer.names}. Received: {values}"
                )
            values = dict(zip(self._balancer.names, values))
        for name, value in values.items():
            self[name] = value

    def keys(self):
        return list(self._balancer.names)

    def items(self):
        return list(self._balancer.current.items())

    def __iter__(self):
        return iter(self.keys())

    def __len__(self):
        return len(self._balancer.names)

    def __eq__(self, other):
        return dict(self.items()) == (dict(other.items()) if hasattr(other, "items") else other)

    def __repr__(self):
        return f"LossWeights({self._balancer.current}, balancer={type(self._balancer).__name__})"
