"""Keras 3's optimizers: each ``_update`` is its ``update_step``, over all parameters at once."""

import math

import torch

from plait.optimizers.base import Optimizer, scale_add_, scale_addcdiv_


class SGD(Optimizer):
    """Stochastic gradient descent, Keras form: ``m = momentum*m - lr*g; w += m``
    (nesterov: ``w += momentum*m - lr*g``).

    Args:
        learning_rate: default 0.01. momentum: default 0. nesterov: default False.
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        if not isinstance(momentum, (int, float)) or not 0 <= momentum <= 1:
            raise ValueError(f"`momentum` must be a float between [0, 1]. Received: momentum={momentum}")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)
        self._slots = ("momentum",) if self.momentum else ()

    def _update(self, params, grads, state, s):
        if not self.momentum:
            scale_add_(params, grads, -s["lr"])
            return
        m = state["momentum"]
        torch._foreach_mul_(m, self.momentum)
        scale_add_(m, grads, -s["lr"])
        if self.nesterov:
            torch._foreach_add_(params, m, alpha=self.momentum)
            scale_add_(params, grads, -s["lr"])
        else:
            torch._foreach_add_(params, m)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class RMSprop(Optimizer):
    """RMSprop, Keras form: ``v = rho*v + (1-rho)*g²; w -= lr*g / sqrt(v + epsilon)``.

    Args:
        learning_rate: default 0.001. rho: default 0.9. momentum: default 0.
        epsilon: default 1e-7 (inside the square root). centered: default False.
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho, self.momentum, self.epsilon, self.centered = rho, momentum, epsilon, centered
        self._slots = (
            ("velocity",) + (("momentum",) if momentum > 0 else ()) + (("average_gradient",) if centered else ())
        )

    def _update(self, params, grads, state, s):
        v = state["velocity"]
        torch._foreach_mul_(v, self.rho)
        torch._foreach_addcmul_(v, grads, grads, value=1 - self.rho)
        if self.centered:
            avg = state["average_gradient"]
            torch._foreach_mul_(avg, self.rho)
            torch._foreach_add_(avg, grads, alpha=1 - self.rho)
            denom = torch._foreach_addcmul(v, avg, avg, value=-1)
            torch._foreach_add_(denom, self.epsilon)
        else:
            denom = torch._foreach_add(v, self.epsilon)
        torch._foreach_sqrt_(denom)
        if self.momentum > 0:
            m = state["momentum"]
            torch._foreach_mul_(m, self.momentum)
            scale_addcdiv_(m, grads, denom, s["lr"])
            torch._foreach_sub_(params, m)
        else:
            scale_addcdiv_(params, grads, denom, -s["lr"])

    def get_config(self):
        return {
            **super().get_config(),
            "rho": self.rho,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "centered": self.centered,
        }


class Adam(Optimizer):
    """Adam, Keras form ("epsilon hat"): ``alpha = lr*sqrt(1-b2^t)/(1-b1^t);
    w -= alpha*m / (sqrt(v) + epsilon)``.

    Args:
        learning_rate: default 0.001. beta_1: 0.9. beta_2: 0.999. epsilon: 1e-7. amsgrad: False.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = beta_1, beta_2, epsilon, amsgrad
        self._slots = ("momentum", "velocity") + (("velocity_hat",) if amsgrad else ())

    def _step_scalars(self, lr, t):
        return {"lr": lr, "alpha": lr * math.sqrt(1 - self.beta_2**t) / (1 - self.beta_1**t)}

    def _update(self, params, grads, state, s):
        m, v = state["momentum"], state["velocity"]
        torch._foreach_lerp_(m, grads, 1 - self.beta_1)
        torch._foreach_mul_(v, self.beta_2)
        torch._foreach_addcmul_(v, grads, grads, value=1 - self.beta_2)
        if self.amsgrad:
            torch._foreach_maximum_(state["velocity_hat"], v)
            v = state["velocity_hat"]
        denom = torch._foreach_sqrt(v)
        torch._foreach_add_(denom, self.epsilon)
        scale_addcdiv_(params, m, denom, -s["alpha"])

    def get_config(self):
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "amsgrad": self.amsgrad,
        }


class AdamW(Adam):
    """Adam with decoupled weight decay (default ``weight_decay=0.004``, Keras's)."""

    def __init__(
        self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs
    ):
        if weight_decay is None:
            raise ValueError("Argument `weight_decay` must be a float. Received: weight_decay=None")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay=weight_decay, **kwargs)


class Adagrad(Optimizer):
    """Adagrad, Keras form: ``acc += g²; w -= lr*g / sqrt(acc + epsilon)``.

    Args:
        learning_rate: default 0.001. initial_accumulator_value: 0.1. epsilon: 1e-7.
    """

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value, self.epsilon = initial_accumulator_value, epsilon
        self._slots = ("accumulator",)

    def _init_slot(self, slot, param):
        return torch.full_like(param, self.initial_accumulator_value)

    def _update(self, params, grads, state, s):
        acc = state["accumulator"]
        torch._foreach_addcmul_(acc, grads, grads)
        denom = torch._foreach_add(acc, self.epsilon)
        torch._foreach_sqrt_(denom)
        scale_addcdiv_(params, grads, denom, -s["lr"])

    def get_config(self):
        return {
            **super().get_config(),
            "initial_accumulator_value": self.initial_accumulator_value,
            "epsilon": self.epsilon,
        }


class Adadelta(Optimizer):
    """Adadelta, Keras form (with a learning rate, default 0.001; rho 0.95; epsilon 1e-7)."""

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho, self.epsilon = rho, epsilon
        self._slots = ("accumulated_grad", "accumulated_delta_var")

    def _update(self, params, grads, state, s):
        acc_g, acc_d = state["accumulated_grad"], state["accumulated_delta_var"]
        torch._foreach_mul_(acc_g, self.rho)
        torch._foreach_addcmul_(acc_g, grads, grads, value=1 - self.rho)
        num = torch._foreach_add(acc_d, self.epsilon)
        torch._foreach_sqrt_(num)
        den = torch._foreach_add(acc_g, self.epsilon)
        torch._foreach_sqrt_(den)
        delta = torch._foreach_mul(num, grads)
        torch._foreach_div_(delta, den)  # delta_var = -delta
        torch._foreach_mul_(acc_d, self.rho)
        torch._foreach_addcmul_(acc_d, delta, delta, value=1 - self.rho)
        scale_add_(params, delta, -s["lr"])

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class Adamax(Optimizer):
    """Adamax, Keras form: ``u = max(b2*u, |g|); w -= lr*m / ((1-b1^t) * (u + epsilon))``."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self._slots = ("m", "u")

    def _step_scalars(self, lr, t):
        return {"lr": lr, "alpha": lr / (1 - self.beta_1**t)}

    def _update(self, params, grads, state, s):
        m, u = state["m"], state["u"]
        torch._foreach_lerp_(m, grads, 1 - self.beta_1)
        torch._foreach_mul_(u, self.beta_2)
        torch._foreach_maximum_(u, torch._foreach_abs(grads))
        denom = torch._foreach_add(u, self.epsilon)
        scale_addcdiv_(params, m, denom, -s["alpha"])

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Nadam(Optimizer):
    """Nadam, Keras form (momentum schedule ``u_t = b1*(1 - 0.5*0.96^t)``)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self._slots = ("momentum", "velocity")
        self._u_product = 1.0

    def _step_scalars(self, lr, t):
        u_t = self.beta_1 * (1.0 - 0.5 * 0.96**t)
        u_t_1 = self.beta_1 * (1.0 - 0.5 * 0.96 ** (t + 1))
        self._u_product *= u_t
        return {
            "lr": lr,
            "m_scale": u_t_1 / (1 - self._u_product * u_t_1),
            "g_scale": (1 - u_t) / (1 - self._u_product),
            "v_correction": 1 - self.beta_2**t,
        }

    def _update(self, params, grads, state, s):
        m, v = state["momentum"], state["velocity"]
        torch._foreach_lerp_(m, grads, 1 - self.beta_1)
        torch._foreach_mul_(v, self.beta_2)
        torch._foreach_addcmul_(v, grads, grads, value=1 - self.beta_2)
        m_hat = torch._foreach_mul(m, s["m_scale"])
        scale_add_(m_hat, grads, s["g_scale"])
        denom = torch._foreach_div(v, s["v_correction"])
        torch._foreach_sqrt_(denom)
        torch._foreach_add_(denom, self.epsilon)
        scale_addcdiv_(params, m_hat, denom, -s["lr"])

    def state_dict(self):
        return {**super().state_dict(), "u_product": self._u_product}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self._u_product = float(state["u_product"])

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}
