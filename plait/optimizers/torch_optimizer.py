"""A PyTorch optimizer (and learning-rate scheduler) driven by ``fit``."""

import torch

from plait.optimizers.base import Optimizer, gradients_finite


class TorchOptimizer(Optimizer):
    """Runs a ``torch.optim.Optimizer`` in ``fit``: each training step sets the parameters'
    ``.grad`` and calls ``optimizer.step()``, as a hand-written torch loop does.
    ``model.compile(optimizer=torch_optimizer)`` wraps one without a scheduler.

    The optimizer may hold any subset of the model's trainable parameters, in any parameter
    groups (a learning rate per layer, ...), built from ``model.parameters()`` before
    ``compile``; parameters it does not hold are not trained (torch's rule). A tensor that is
    not one of the model's trainable parameters is an error when ``fit`` starts.

    The scheduler is stepped as in the usual torch loop: once after every epoch
    (``scheduler_interval="epoch"``, the default: ``StepLR(step_size=2)`` lowers the rate
    every two epochs), or after every optimizer step (``"step"``: ``OneCycleLR``,
    warmups counted in batches). ``ReduceLROnPlateau`` is stepped with the epoch's
    ``scheduler_monitor`` value (default ``"val_loss"``, else ``"loss"``).

    The training step runs eagerly (the torch optimizer's ``step()`` is not traced into the
    compiled whole step). ``learning_rate`` reads the first group's rate; setting it (e.g. by
    ``ReduceLROnPlateau`` the callback) scales every group's rate by the same factor, so
    per-group ratios stay.

    Args:
        optimizer: a ``torch.optim.Optimizer``.
        scheduler: a ``torch.optim.lr_scheduler`` scheduler of ``optimizer``, or None.
        scheduler_interval: ``"epoch"`` (default) or ``"step"``.
        scheduler_monitor: the log ``ReduceLROnPlateau`` reads; default ``"val_loss"``
            when there is validation data, else ``"loss"``.
        name: default the torch class's name, lowercase.

    Example:
        >>> import torch, plait
        >>> model = plait.Sequential([plait.Input((3,)), plait.layers.Dense(2, name="a"), plait.layers.Dense(1)])
        >>> opt = torch.optim.SGD([{"params": model.get_layer("a").parameters(), "lr": 0.1},
        ...                        {"params": model.layers[1].parameters()}], lr=0.01)
        >>> sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
        >>> model.compile(optimizer=plait.optimizers.TorchOptimizer(opt, sched), loss="mse")
        >>> _ = model.fit(torch.ones(4, 3), torch.ones(4, 1), epochs=2, verbose=0)
        >>> [group["lr"] for group in opt.param_groups]
        [0.025, 0.0025]
    """

    traceable = False  # the compiled whole step cannot run a torch optimizer's step()

    def __init__(self, optimizer, scheduler=None, scheduler_interval="epoch", scheduler_monitor=None, name=None):
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"TorchOptimizer wraps a torch.optim.Optimizer. Received: {optimizer!r}")
        if scheduler is not None and getattr(scheduler, "optimizer", optimizer) is not optimizer:
            raise ValueError("TorchOptimizer: the scheduler was built for another optimizer than the one given.")
        if scheduler_interval not in ("epoch", "step"):
            raise ValueError(
                f"`scheduler_interval` must be 'epoch' or 'step'. Received: scheduler_interval={scheduler_interval!r}"
            )
        super().__init__(learning_rate=0.0, name=name or type(optimizer).__name__.lower())
        self.optimizer, self.scheduler = optimizer, scheduler
        self.scheduler_interval, self.scheduler_monitor = scheduler_interval, scheduler_monitor

    @property
    def learning_rate(self):
        return float(self.optimizer.param_groups[0]["lr"])

    @learning_rate.setter
    def learning_rate(self, value):
        factor = float(value) / self.learning_rate if self.learning_rate else None
        for group in self.optimizer.param_groups:
            group["lr"] = group["lr"] * factor if factor is not None else float(value)

    def build(self, params):
        """Check that the torch optimizer holds only ``params`` (the model's trainable ones)."""
        params = list(params)
        known = {id(p) for p in params}
        foreign = [
            (g, tuple(p.shape))
            for g, group in enumerate(self.optimizer.param_groups)
            for p in group["params"]
            if id(p) not in known
        ]
        if foreign:
            listed = ", ".join(f"group {g}: shape {shape}" for g, shape in foreign[:5])
            raise ValueError(
                f"The torch optimizer {type(self.optimizer).__name__} holds {len(foreign)} tensor(s) that are not "
                f"trainable parameters of the model ({listed}). Build it from `model.parameters()` after the "
                "model has its weights, and before compile."
            )
        self._params = params
        self._state = {}

    @torch.no_grad()
    def apply(self, grads, params=None):
        """Set each parameter's ``.grad`` to ``grads`` and run ``optimizer.step()`` (and the
        scheduler, with ``scheduler_interval="step"``)."""
        grads = list(grads)
        if params is not None:
            params = list(params)
            if self._params is None or [id(p) for p in params] != [id(p) for p in self._params]:
                self.build(params)
        if self._params is None:
            raise ValueError(f"Optimizer '{self.name}' was never built: pass the variables, `apply(grads, variables)`.")
        if len(grads) != len(self._params):
            raise ValueError(f"Optimizer '{self.name}' got {len(grads)} gradients for {len(self._params)} variables.")
        present = [g for g in grads if g is not None]
        if self.skip_nonfinite and present and not gradients_finite(present):
            self.skipped = [
                getattr(p, "path", None) or f"variable {i}"
                for i, (p, g) in enumerate(zip(self._params, grads))
                if g is not None and not torch.isfinite(g).all()
            ]
            return
        for p, g in zip(self._params, grads):
            if g is not None and p.grad is not g:
                p.grad = g
        self.optimizer.step()
        self.iterations += 1
        if self.scheduler is not None and self.scheduler_interval == "step":
            self.scheduler.step()

    def on_epoch_end(self, epoch, logs=None):
        """Step the scheduler after an epoch (``scheduler_interval="epoch"``); ``fit`` calls it."""
        if self.scheduler is None or self.scheduler_interval != "epoch":
            return
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            logs = logs or {}
            monitor = self.scheduler_monitor or ("val_loss" if "val_loss" in logs else "loss")
            if monitor not in logs:
                raise ValueError(
                    f"ReduceLROnPlateau monitors {monitor!r}, which the epoch's logs lack: {sorted(logs)}."
                )
            self.scheduler.step(float(logs[monitor]))
        else:
            self.scheduler.step()

    def next_step_scalars(self):
        raise TypeError("A TorchOptimizer steps eagerly: it has no per-step numbers for a compiled step.")

    def state_dict(self):
        """torch's ``state_dict`` of the optimizer (and scheduler), with the step count."""
        state = {"iterations": self.iterations, "optimizer": self.optimizer.state_dict()}
        if self.scheduler is not None:
            state["scheduler"] = self.scheduler.state_dict()
        return state

    def load_state_dict(self, state):
        self.iterations = int(state["iterations"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and "scheduler" in state:
            self.scheduler.load_state_dict(state["scheduler"])

    def get_config(self):
        raise ValueError(
            "A model compiled with a torch.optim optimizer has no Keras optimizer config to save: save its "
            "weights (`model.save_weights`) and `torch.save(model.optimizer.state_dict())`, or compile with a "
            "plait optimizer."
        )

    def __repr__(self):
        return f"TorchOptimizer({self.optimizer.__class__.__name__}, scheduler={type(self.scheduler).__name__})"
