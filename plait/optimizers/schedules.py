"""Learning-rate schedules (Keras 3's formulas): call with the step, get the learning rate.

Example:
    >>> from plait.optimizers.schedules import ExponentialDecay
    >>> ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)(10)
    0.05
"""

import math

from plait.utils import custom_objects as registry
from plait.utils.registry import ConfigObject, by_name


class LearningRateSchedule(ConfigObject):
    """Base class: ``schedule(step) -> float``."""

    def __call__(self, step):
        raise NotImplementedError


class ExponentialDecay(LearningRateSchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)`` (floored if ``staircase``)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name=None):
        if decay_steps <= 0:
            raise ValueError(f"Argument `decay_steps` must be > 0. Received: decay_steps={decay_steps}")
        self.initial_learning_rate, self.decay_steps = initial_learning_rate, decay_steps
        self.decay_rate, self.staircase, self.name = decay_rate, staircase, name

    def __call__(self, step):
        p = step / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_learning_rate * self.decay_rate**p


class CosineDecay(LearningRateSchedule):
    """Cosine decay to ``alpha * initial`` over ``decay_steps``, after an optional linear warmup."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name=None, warmup_target=None, warmup_steps=0):
        if decay_steps <= 0:
            raise ValueError(f"Argument `decay_steps` must be > 0. Received: decay_steps={decay_steps}")
        self.initial_learning_rate, self.decay_steps, self.alpha = initial_learning_rate, decay_steps, alpha
        self.name, self.warmup_target, self.warmup_steps = name, warmup_target, warmup_steps

    def __call__(self, step):
        if self.warmup_target is not None and step < self.warmup_steps:
            done = step / self.warmup_steps
            return self.initial_learning_rate + (self.warmup_target - self.initial_learning_rate) * done
        start = self.initial_learning_rate if self.warmup_target is None else self.warmup_target
        step = min(step - (self.warmup_steps if self.warmup_target is not None else 0), self.decay_steps)
        cosine = 0.5 * (1.0 + math.cos(math.pi * step / self.decay_steps))
        return start * ((1 - self.alpha) * cosine + self.alpha)


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[i]`` while ``boundaries[i-1] < step <= boundaries[i]``."""

    def __init__(self, boundaries, values, name=None):
        if len(values) != len(boundaries) + 1:
            raise ValueError(
                "The length of boundaries should be 1 less than the length of values. "
                f"Received: boundaries={boundaries}, values={values}"
            )
        self.boundaries, self.values, self.name = list(boundaries), list(values), name

    def __call__(self, step):
        for boundary, value in zip(self.boundaries, self.values):
            if step <= boundary:
                return value
        return self.values[-1]


class InverseTimeDecay(ExponentialDecay):
    """``initial / (1 + decay_rate * step / decay_steps)`` (ExponentialDecay's arguments)."""

    def __call__(self, step):
        p = step / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_learning_rate / (1 + self.decay_rate * p)


class PolynomialDecay(LearningRateSchedule):
    """``(initial - end) * (1 - step / decay_steps) ** power + end``; held at ``end`` after
    ``decay_steps``, or with ``cycle`` restarted over the next multiple of ``decay_steps``.

    Args:
        initial_learning_rate: the rate at step 0.
        decay_steps: steps to reach ``end_learning_rate`` (> 0).
        end_learning_rate: default 0.0001.
        power: default 1.0 (linear).
        cycle: default False.
        name: default ``"PolynomialDecay"``.

    Example:
        >>> round(PolynomialDecay(0.1, decay_steps=10, end_learning_rate=0.0)(5), 6)
        0.05
    """

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        end_learning_rate=0.0001,
        power=1.0,
        cycle=False,
        name="PolynomialDecay",
    ):
        if decay_steps <= 0:
            raise ValueError(f"Argument `decay_steps` must be > 0. Received: decay_steps={decay_steps}")
        self.initial_learning_rate, self.decay_steps = initial_learning_rate, decay_steps
        self.end_learning_rate, self.power, self.cycle, self.name = end_learning_rate, power, cycle, name

    def __call__(self, step):
        span = self.decay_steps
        if self.cycle:  # the span grows to the first multiple of decay_steps at or past the step
            span *= max(1, math.ceil(step / self.decay_steps))
        else:
            step = min(step, span)
        left = (1 - step / span) ** self.power
        return (self.initial_learning_rate - self.end_learning_rate) * left + self.end_learning_rate


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR, Loshchilov & Hutter 2017): period ``i`` lasts
    ``first_decay_steps * t_mul**i`` steps and starts from ``initial * m_mul**i``; each decays
    to ``alpha`` times the initial rate.

    Args:
        initial_learning_rate: the rate at step 0.
        first_decay_steps: length of the first period (> 0).
        t_mul: growth of the periods' lengths; default 2.0.
        m_mul: decay of the rate at each restart; default 1.0.
        alpha: the floor, as a fraction of ``initial_learning_rate``; default 0.
        name: default ``"SGDRDecay"`` (Keras's).

    Example:
        >>> s = CosineDecayRestarts(1.0, first_decay_steps=10, m_mul=0.5)
        >>> round(s(5), 6), s(10), round(s(20), 6)
        (0.5, 0.5, 0.25)
    """

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0, name="SGDRDecay"):
        if first_decay_steps <= 0:
            raise ValueError(
                f"Argument `first_decay_steps` must be > 0. Received: first_decay_steps={first_decay_steps}"
            )
        self.initial_learning_rate, self.first_decay_steps = initial_learning_rate, first_decay_steps
        self.t_mul, self.m_mul, self.alpha, self.name = t_mul, m_mul, alpha, name

    def __call__(self, step):
        done = step / self.first_decay_steps  # in units of the first period
        if self.t_mul == 1.0:
            period = math.floor(done)
            done -= period
        else:
            # Periods 0..i-1 cover (t_mul**i - 1) / (t_mul - 1) first periods: solve for i.
            period = math.floor(math.log(1.0 - done * (1.0 - self.t_mul)) / math.log(self.t_mul))
            done = (done - (1.0 - self.t_mul**period) / (1.0 - self.t_mul)) / self.t_mul**period
        cosine = 0.5 * self.m_mul**period * (1.0 + math.cos(math.pi * done))
        return self.initial_learning_rate * ((1 - self.alpha) * cosine + self.alpha)


_SCHEDULES = {
    cls.__name__: cls
    for cls in (
        CosineDecay,
        CosineDecayRestarts,
        ExponentialDecay,
        InverseTimeDecay,
        PiecewiseConstantDecay,
        PolynomialDecay,
    )
}


def serialize(schedule):
    """Keras's config of a schedule (``{"module", "class_name", "config", "registered_name"}``,
    which ``keras.optimizers.schedules.deserialize`` reads).

    Example:
        >>> serialize(PolynomialDecay(0.1, 100))["config"]["end_learning_rate"]
        0.0001
    """
    registered = registry.registered_name(type(schedule))
    if not isinstance(schedule, LearningRateSchedule):
        raise TypeError(f"Expected a LearningRateSchedule. Received: {schedule!r}")
    builtin = _SCHEDULES.get(type(schedule).__name__) is type(schedule)
    return {
        "module": "keras.optimizers.schedules" if builtin else None,
        "class_name": type(schedule).__name__ if builtin else registered,
        "config": schedule.get_config(),
        "registered_name": None if builtin else registered,
    }


def deserialize(config, custom_objects=None):
    """The schedule a config (Keras's or plait's) describes; ``custom_objects`` maps
    more names to classes.

    Example:
        >>> deserialize({"class_name": "ExponentialDecay", "config": {
        ...     "initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5}})(10)
        0.05
    """
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Could not deserialize a schedule: expected a dict with 'class_name'. Received: {config!r}")
    name = config["class_name"]
    cls = registry.lookup(name, custom_objects) or by_name(_SCHEDULES, name, "learning-rate schedule")
    return cls.from_config(config.get("config", {}))
