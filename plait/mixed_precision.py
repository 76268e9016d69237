"""Mixed precision, as ``keras.mixed_precision``: float32 weights, float16/bfloat16 compute.

``set_global_policy("mixed_bfloat16")`` (or ``"mixed_float16"``) before building a model
gives its layers that policy, as in Keras. A model with a mixed policy runs its forward pass
under ``torch.autocast``: matmuls and convolutions compute in the low precision while torch
keeps precision-sensitive ops (softmax, norms, reductions) in float32 -- torch's per-op lists
rather than Keras's per-layer casts, which is the form torch's kernels are built for. Losses
are computed in float32. The weights and the optimizer's state stay float32.

With ``"mixed_float16"``, ``compile`` wraps the optimizer in :class:`LossScaleOptimizer`
(Keras does the same): the loss is multiplied by a dynamic scale before ``backward`` so small
float16 gradients do not flush to zero, and a step whose gradients overflow is skipped.

Example:
    >>> import plait
    >>> plait.mixed_precision.set_global_policy("mixed_bfloat16")
    >>> plait.layers.Dense(4).dtype_policy
    <DTypePolicy "mixed_bfloat16">
    >>> plait.mixed_precision.set_global_policy("float32")
"""

import torch

_POLICIES = {
    "float32": (torch.float32, torch.float32),
    "mixed_float16": (torch.float16, torch.float32),
    "mixed_bfloat16": (torch.bfloat16, torch.float32),
}


class DTypePolicy:
    """A layer's dtype policy: the dtype it computes in and the dtype of its weights.

    Args:
        name: ``"float32"``, ``"mixed_float16"`` or ``"mixed_bfloat16"``.
    """

    def __init__(self, name="float32"):
        if isinstance(name, DTypePolicy):
            name = name.name
        if name not in _POLICIES:
            raise ValueError(
                f"Unknown dtype policy {name!r}. plait supports {sorted(_POLICIES)}; for weights "
                "in another dtype, pass `dtype=` to the layers."
            )
        self.name = name
        self.compute_dtype, self.variable_dtype = _POLICIES[name]

    @property
    def is_mixed(self):
        return self.compute_dtype != self.variable_dtype

    @property
    def quantization_mode(self):
        """None: plait's policies are float policies (Keras's attribute)."""
        return None

    def get_config(self):
        return {"name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __eq__(self, other):
        return isinstance(other, DTypePolicy) and other.name == self.name

    def __hash__(self):
        return hash(self.name)

    def __repr__(self):
        return f'<DTypePolicy "{self.name}">'


Policy = DTypePolicy  # Keras 2's name
_global_policy = DTypePolicy("float32")


def set_global_policy(policy):
    """Set the policy of layers created from now on (``"float32"``, ``"mixed_float16"``,
    ``"mixed_bfloat16"`` or a :class:`DTypePolicy`)."""
    global _global_policy
    _global_policy = DTypePolicy(policy)


def global_policy():
    """The policy new layers get."""
    return _global_policy


# Keras 3's newer names for the same two functions (``keras.mixed_precision.dtype_policy``).
dtype_policy = global_policy
set_dtype_policy = set_global_policy


def autocast_dtype(model):
    """The low-precision dtype a model computes in (its layers' mixed policy), or None."""
    for module in model.modules():
        policy = getattr(module, "dtype_policy", None)
        if policy is not None and policy.is_mixed:
            return policy.compute_dtype
    return None


class LossScaleOptimizer:
    """Dynamic loss scaling around an optimizer, with Keras 3's rule.

    The step multiplies the loss by ``scale`` before ``backward``; :meth:`apply` unscales the
    gradients (torch's fused non-finite check) and, if all are finite, applies them with the
    inner optimizer, doubling ``scale`` after ``dynamic_growth_steps`` finite steps in a row;
    otherwise it skips the step and halves ``scale``.

    Args:
        inner_optimizer: the optimizer to wrap.
        initial_scale: the starting scale (Keras: ``2**15``).
        dynamic_growth_steps: finite steps before the scale doubles (Keras: 2000).
    """

    dynamic_loss_scaling = True  # skips overflowing steps itself (see Optimizer.dynamic_loss_scaling)

    def __init__(self, inner_optimizer, initial_scale=2.0**15, dynamic_growth_steps=2000):
        self.inner_optimizer = inner_optimizer
        self.initial_scale, self.dynamic_growth_steps = float(initial_scale), int(dynamic_growth_steps)
        self.scale = torch.tensor(self.initial_scale)
        self.step_counter = 0

    def __getattr__(self, name):  # learning_rate, iterations, _params, build, get_config, ...
        if name == "inner_optimizer":
            raise AttributeError(name)
        return getattr(self.inner_optimizer, name)

    def scale_loss(self, loss):
        return loss * self.scale.to(loss.device)

    @torch.no_grad()
    def apply(self, grads, params=None):
        present = [g for g in grads if g is not None]
        device = present[0].device if present else torch.device("cpu")
        self.scale = self.scale.to(device)
        found_inf = torch.zeros((), device=device)
        if present:
            torch._amp_foreach_non_finite_check_and_unscale_(present, found_inf, 1.0 / self.scale)
        if found_inf.item():  # one sync per step, as torch's GradScaler does
            self.scale /= 2
            self.step_counter = 0
            return
        self.inner_optimizer.apply(grads, params)
        self.step_counter += 1
        if self.step_counter >= self.dynamic_growth_steps:
            self.scale *= 2
            self.step_counter = 0

    def state_dict(self):
        return {**self.inner_optimizer.state_dict(), "loss_scale": self.scale.cpu(), "step_counter": self.step_counter}

    def load_state_dict(self, state):
        state = dict(state)
        self.scale = torch.as_tensor(state.pop("loss_scale"), dtype=torch.float32).clone()
        self.step_counter = int(state.pop("step_counter"))
        self.inner_optimizer.load_state_dict(state)

    def __repr__(self):
        return f"LossScaleOptimizer({self.inner_optimizer!r}, scale={float(self.scale)})"
