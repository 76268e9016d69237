"""``compile`` / ``fit`` / ``evaluate`` / ``predict``: Keras's training API on a torch loop.

The loops read like Keras's ``trainer.py``: an :class:`~plait.training.epoch_iterator.EpochIterator`
hands out executions of ``steps_per_execution`` batches; each runs the training step, then
the batch callbacks and the progress bar once.

Keras's public contract holds: ``train_step(data)`` / ``test_step(data)`` /
``predict_step(data)`` receive ``(x, y)``, ``(x, y, sample_weight)`` or ``x`` as the user
passed them; ``compute_loss`` returns the scalar ``fit`` minimises; ``compute_metrics`` the
logs; ``model.metrics`` holds the ``loss`` tracker, Keras's ``compile_metrics`` and the
per-output loss trackers. A model that overrides none of these runs the built-in step
(:mod:`plait.training.step`): the same numbers without Keras's per-step overheads, and
compilable as one graph (:mod:`plait.training.compiled_step`).
"""

import functools
import inspect
import warnings

import torch

from plait import callbacks as callbacks_module
from plait import metrics as metrics_module
from plait import mixed_precision, optimizers
from plait.distribution import collectives, distribution_lib, sharding
from plait.losses import balancing
from plait.training import compiled_step, distributed, heads, threads
from plait.training import data as data_module
from plait.training.compiled_inference import InferenceJit
from plait.training.epoch_iterator import EpochIterator, match_target_rank, train_validation_split
from plait.training.fit_state import FitState
from plait.training.nonfinite import NonFinitePolicy, StepReport
from plait.training.runners import BuiltinSteps, CustomSteps
from plait.training.step import StepFunction, StepOutput, batch_size_of
from plait.utils import nest, settings
from plait.utils.data_utils import unpack_x_y_sample_weight
from plait.utils.progbar import Progbar


class Trainer:
    """Mixin giving models Keras's training API (``plait.Model`` inherits it).

    What it needs from the model, all public: ``input_names``, ``output_names``,
    ``has_graph``, ``output_shapes``, ``training_forward``, ``output_activation``,
    ``weight_entries``, ``trainable_weights``, ``device`` and ``ensure_built``.
    """

    def __init__(self):
        self.optimizer = None
        self.compiled = False
        self.stop_training = False
        self.history = None
        self._heads = None
        self._step_fn = None
        self._builtin = None  # the BuiltinSteps runner, made with the step function
        self.fit_state = None  # the running fit's FitState (None outside fit)
        # What a step with a non-finite loss does: fit sets its policy; outside fit, none.
        self._policy = NonFinitePolicy()
        self._built_distribution = distribution_lib.distribution()  # checked by fit (Keras's rule)

    # ------------------------------------------------------------------ compile
    def compile(
        self,
        optimizer="rmsprop",
        loss=None,
        loss_weights=None,
        metrics=None,
        weighted_metrics=None,
        run_eagerly=False,
        steps_per_execution=1,
        jit_compile="auto",
        auto_scale_loss=True,
    ):
        """Configure training.

        Args:
            optimizer: name (``"rmsprop"``, ``"adam"``, ...) or optimizer instance.
            loss: a loss (name, ``Loss`` or function) for every output, a list in output order,
                or a dict by output name (an output missing from the dict has no loss).
            loss_weights: list or dict of floats; the total loss is ``sum(w_k * loss_k)``.
                Or a balancer that sets the weights during training: ``"auto"``,
                ``"uncertainty"``, ``"gradnorm"``, ``"dwa"``, ``"famo"``, or an instance from
                ``plait.losses.balancing``. ``model.loss_weights`` shows the weights in use;
                fixed ones can be reassigned between steps (``model.loss_weights["age"] = 0.5``).
            metrics: metrics computed without sample weights (as Keras's): a list for every
                output, a list of lists in output order, or a dict by output name.
                ``"acc"``/``"accuracy"`` resolve by the loss and shapes as Keras does (binary /
                categorical / sparse categorical).
            weighted_metrics: metrics that take the sample (and class) weights, same forms.
            run_eagerly: ``True`` never compiles anything (and overrides ``jit_compile``).
            steps_per_execution: batches per execution: the batch callbacks and the progress
                bar run once per execution, as in Keras; with a compiled whole step, one
                compiled call runs all of its steps.
            jit_compile: ``True`` compiles the whole training step (forward, losses, gradients,
                optimizer update, metrics) into one ``torch.compile`` graph after one eager
                step; a model it does not fit (an adaptive loss balancer, float16 loss
                scaling, activity regularizers, stateful layers) compiles only its forward pass
                and losses, and a recurrent model stays eager, with a warning. A custom
                ``train_step`` is refused with ``True`` (``torch.compile`` cannot trace its
                ``backward()`` and update reliably). ``False`` runs eagerly. ``"auto"`` (the
                default) runs eagerly unless the fit is long: it times the eager steps and,
                on the CPU, if the fit's remaining eager time exceeds 10 s, compiles the whole
                step in a background thread while training goes on, switching at a step
                boundary when it is ready (elsewhere: in the fit's thread, above two minutes);
                it keeps the compiled step only if it measures faster
                (``plait.training.compiled_step.JitPolicy``).
            auto_scale_loss: under the ``mixed_float16`` policy, wrap the optimizer in a
                ``LossScaleOptimizer`` (Keras's default).

        Example:
            >>> model.compile(optimizer="rmsprop", loss={"age": "mse", "sex": "binary_crossentropy"},
            ...               loss_weights={"age": 0.25, "sex": 10.0})  # doctest: +SKIP
        """
        if jit_compile not in (True, False, "auto"):
            raise ValueError(f"`jit_compile` must be True, False or 'auto'. Received: jit_compile={jit_compile!r}")
        spe = steps_per_execution
        if not isinstance(spe, int) or isinstance(spe, bool) or spe < 1:
            raise ValueError(f"`steps_per_execution` must be a positive integer. Received: steps_per_execution={spe!r}")
        self.optimizer = optimizers.get(optimizer)
        if (
            auto_scale_loss
            and mixed_precision.autocast_dtype(self) == torch.float16
            and not getattr(self.optimizer, "dynamic_loss_scaling", False)
        ):
            self.optimizer = mixed_precision.LossScaleOptimizer(self.optimizer)  # as Keras does for float16
        names = self.output_names
        self._compile_config = {
            "optimizer": self.optimizer,  # as Keras's compile config lists it
            "loss": loss,
            "loss_weights": loss_weights,
            "metrics": metrics,
            "weighted_metrics": weighted_metrics,
        }
        self._heads = heads.build_heads(self.name, names, loss, metrics, weighted_metrics)
        loss_names = [h.name for h in self._heads if h.loss is not None]
        if balancing.is_balancer_spec(loss_weights):
            balancer = balancing.get(loss_weights)
        else:
            weights = heads.per_output(self.name, loss_weights, "loss_weights", names, default=1.0)
            balancer = balancing.FixedWeights(
                [1.0 if w is None else float(w) for w, h in zip(weights, self._heads) if h.loss is not None]
            )
        balancer.build(loss_names, [h.loss for h in self._heads if h.loss is not None])
        self._balancer = balancer
        self._loss_tracker = metrics_module.Mean(name="loss")
        self._compile_metrics = heads.CompileMetrics(self._heads, names)
        if run_eagerly and jit_compile is True:
            jit_compile = False  # Keras: run_eagerly wins
        self.run_eagerly, self.jit_compile = bool(run_eagerly), jit_compile
        self._jit = compiled_step.JitPolicy(False if run_eagerly else jit_compile)
        self.steps_per_execution = steps_per_execution
        self._step_fn = self._builtin = None
        self._inference_jits = {}  # "evaluate"/"predict" -> InferenceJit
        self.compiled = True

    def get_compile_config(self):
        """``compile``'s arguments as given (Keras's ``get_compile_config``; None before it)."""
        return dict(self._compile_config) if self.compiled else None

    def compile_from_config(self, config):
        """Compile from a compile config (Keras's ``compile_from_config``): ``compile``'s arguments
        by name; other keys (a subclass's own, from its ``get_compile_config``) are left to the
        subclass. Loading a ``.keras`` file calls it with the optimizer, losses and metrics
        already rebuilt as plait objects.

        Example:
            >>> import plait
            >>> model = plait.Sequential([plait.Input((3,)), plait.layers.Dense(1)])
            >>> model.compile_from_config({"optimizer": "sgd", "loss": "mse", "note": "kept by a subclass"})
            >>> model.loss
            'mse'
        """
        accepted = inspect.signature(self.compile).parameters
        self.compile(**{key: value for key, value in config.items() if key in accepted})

    @property
    def loss(self):
        """The ``loss`` given to ``compile`` (Keras's ``model.loss``; None before it)."""
        if "_assigned_loss" in self.__dict__:
            return self.__dict__["_assigned_loss"]
        return self._compile_config.get("loss") if self.compiled else None

    @loss.setter
    def loss(self, value):
        # A subclass may keep its own `self.loss` (a plain attribute on a Keras model).
        self.__dict__["_assigned_loss"] = value

    @property
    def loss_output_names(self):
        """The names of the outputs that have a loss (every output before ``compile``): where
        targets go when fewer are given than there are outputs, as Keras matches them."""
        if not self.compiled:
            return list(self.output_names)
        return [name for name, head in zip(self.output_names, self._heads) if head.loss is not None]

    # ------------------------------------------------------------------ metrics
    @property
    def metrics(self):
        """Keras's ``model.metrics``: the ``loss`` tracker, ``compile_metrics`` (one metric for
        everything given to ``compile``; its ``result()`` is a dict), the per-output loss
        trackers, then metrics assigned as attributes of the model."""
        out = []
        if self.compiled:
            out = [self._loss_tracker, self._compile_metrics] + [h.tracker for h in self._heads if h.tracker]
        own = [v for v in vars(self).values() if isinstance(v, metrics_module.Metric) and v not in out]
        return out + own

    @property
    def metrics_names(self):
        return [m.name for m in self.metrics]

    def reset_metrics(self):
        for m in self.metrics:
            m.reset_state()

    def get_metrics_result(self):
        """``{name: tensor}`` of every metric in ``self.metrics`` (a dict result is merged in)."""
        results = {}
        for metric in self.metrics:
            result = metric.result()
            if isinstance(result, dict):
                results.update(result)
            else:
                results[metric.name] = result
        return results

    @property
    def loss_weights(self):
        """The weights of the outputs' losses as a live ``{output: weight}`` view (None before
        ``compile``). Fixed weights can be assigned: ``model.loss_weights["age"] = 0.5``."""
        balancer = getattr(self, "_balancer", None)
        return None if balancer is None else balancing.LossWeights(balancer)

    @loss_weights.setter
    def loss_weights(self, values):
        if getattr(self, "_balancer", None) is None:
            raise RuntimeError("Call `compile()` before assigning `loss_weights`.")
        balancing.LossWeights(self._balancer).update(values)

    @property
    def loss_balancer(self):
        """The object that sets the loss weights (``FixedWeights`` unless a balancer was compiled)."""
        return getattr(self, "_balancer", None)

    # ------------------------------------------------------------------ Keras's step contract
    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The scalar ``fit`` minimises: the compiled losses (weighted) plus regularization.

        Args:
            x: the inputs (unused by the default, as in Keras).
            y: targets: a tensor, a list in output order or a dict by output name.
            y_pred: the model's outputs as ``model(x)`` returns them (probabilities where the
                output layer applies softmax/sigmoid).
            sample_weight: per-sample weights (a tensor, or a list/dict per output).
            training: whether this is a training step (an adaptive loss balancer then takes
                its own step).

        Also updates the per-output loss trackers (``"<output>_loss"``), as Keras does.
        """
        if y_pred is None:
            raise ValueError(
                f"`compute_loss` of model '{self.name}' needs `y_pred`, the model's predictions: "
                "`y_pred = self(x, training=True)`, then `self.compute_loss(y=y, y_pred=y_pred)`."
            )
        self._assert_compiled("compute_loss")
        step_fn = self.step_function()
        names = self.output_names
        ys = heads.per_output_values(y, names)
        if ys is None:
            ys = [None] * len(names)
        preds = heads.per_output_values(y_pred, names)
        if len(preds) != len(names):
            raise ValueError(f"`y_pred` has {len(preds)} output(s), but model '{self.name}' has {len(names)}: {names}.")
        sws = heads.per_output_values(sample_weight, names)
        if sws is not None and len(sws) < len(preds):
            sws = [sws[0]] * len(preds)
        penalty = step_fn.penalty()
        if not any(h.loss is not None for h in self._heads):
            if penalty is None:
                raise ValueError("No loss to compute. Provide a `loss` argument in `compile()`.")
            return penalty
        ys = [self._match_target(i, t) for i, t in enumerate(ys)]
        per_output = step_fn.output_losses(ys, preds, sws)
        n = batch_size_of(preds)
        for head, value in zip(self._heads, per_output):
            if head.tracker is not None and value is not None:
                head.tracker.update_state(value.detach(), sample_weight=n)
        balancer = self._balancer
        return step_fn.combine(
            per_output, penalty, lambda losses: balancer.combine(losses, training and torch.is_grad_enabled(), n)
        )

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Update the compiled metrics with a batch; return ``get_metrics_result()`` (Keras's)."""
        del x  # as in Keras, the default does not use the inputs
        if self.compiled:
            self._compile_metrics.update_state(y, y_pred, sample_weight)
        return self.get_metrics_result()

    def train_step(self, data):
        """One training step on Keras's ``data``: ``(x, y)``, ``(x, y, sample_weight)`` or
        ``x``. Returns the logs (``{name: value}``). Override it for custom training, as in
        Keras; ``fit`` then calls it once per batch."""
        batch = self._batch_from_data(data)
        self._prepare(batch)
        if self._keras_step_overrides():
            return self._keras_train_step(data)
        for report in self._builtin.run([batch.lists()], self._policy):
            self._policy.note(report)  # inside a user's train_step: fit reports it for the batch
        return self.get_metrics_result()

    def test_step(self, data):
        """One evaluation step on Keras's ``data``; returns the logs."""
        batch = self._batch_from_data(data)
        self._prepare(batch)
        if self._keras_step_overrides():
            return self._keras_test_step(data)
        self._test_batch(batch.lists())
        return self.get_metrics_result()

    def predict_step(self, data):
        """The model's outputs for Keras's ``data`` (``x``, or a tuple whose first item is x)."""
        x = unpack_x_y_sample_weight(data)[0]
        with torch.no_grad():
            return self(x)

    def _keras_step_overrides(self):
        # A model that overrides compute_loss or compute_metrics runs Keras's own step, which
        # calls them; otherwise the built-in step computes the same numbers faster.
        cls = type(self)
        return cls.compute_loss is not Trainer.compute_loss or cls.compute_metrics is not Trainer.compute_metrics

    def _keras_train_step(self, data):
        """Keras's torch ``train_step``, line for line (for models overriding its parts)."""
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        self._clear_activity_losses()
        y_pred = self(x, training=True)
        self.zero_grad()
        loss = self._compute_loss(x, y, y_pred, sample_weight, training=True)
        self._loss_tracker.update_state(loss.detach(), sample_weight=batch_size_of(nest.flatten(x)))
        check = self._policy.check
        if check is not None and not check(loss.detach()):  # the update is not applied
            self._policy.note(StepReport(False, "the loss is not finite (NaN or inf)"))
            return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
        scale_loss = getattr(self.optimizer, "scale_loss", None)
        (loss if scale_loss is None else scale_loss(loss)).backward()
        trainable = self.trainable_weights
        with torch.no_grad():
            self.optimizer.apply([v.grad for v in trainable], trainable)
        self._step_fn.apply_constraints()
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def _keras_test_step(self, data):
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        self._clear_activity_losses()
        with torch.no_grad():
            y_pred = self(x, training=False)
            loss = self._compute_loss(x, y, y_pred, sample_weight, training=False)
        self._loss_tracker.update_state(loss, sample_weight=batch_size_of(nest.flatten(x)))
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    # ------------------------------------------------------------------ the built-in steps
    def _prepare(self, batch):
        """Set up the step on the first batch: the graph (a Sequential without an input shape
        is built from it), the metrics that depend on the targets' shapes, the step function."""
        self.ensure_built(batch.xs)
        if not self.has_graph and self.get_build_config() is None and type(self).forward is not torch.nn.Module.forward:
            self._build_by_call(batch.xs)
        distributed.check_model(self)
        if not self._compile_metrics.built and self.has_graph:
            self._compile_metrics.build([self._match_target(i, y) for i, y in enumerate(batch.ys)], self.output_shapes)
        self.step_function()
        self.prepare_optimizer()

    def _compute_loss(self, x, y, y_pred, sample_weight, training):
        # As Keras's: an override of compute_loss without a `training` argument is called without it.
        if _takes_training(type(self).compute_loss):
            return self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training)
        return self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight)

    def _build_by_call(self, xs):
        """A subclassed model makes its sublayers' weights on its first call. Make them before
        the step function lists the weights (their regularizers and constraints), as Keras builds
        a model on the first batch: one call on it in inference mode, without gradients, every
        layer's mode restored after."""
        modes = [(module, module.training) for module in self.modules()]
        self.eval()
        try:
            with torch.no_grad():
                self.training_forward()(xs)
        finally:
            for module, mode in modes:
                module.training = mode

    def step_function(self):
        """The compiled model's :class:`~plait.training.step.StepFunction` (its forward pass and
        losses as the built-in steps run them), made on first use."""
        if self._step_fn is None:
            self._step_fn = StepFunction(self, self._heads, fuse_logits=True)
            self._builtin = BuiltinSteps(self, self._step_fn, self._heads, self._jit)
            attach = getattr(self._balancer, "attach", None)
            if attach is not None:  # GradNorm needs the model's last shared layer
                attach(self)
        return self._step_fn

    def prepare_optimizer(self):
        """Build the optimizer for the trainable weights, unless it already is (``fit`` calls
        this; a loader calls it before restoring the optimizer's state)."""
        params = [p for p in self.parameters() if p.requires_grad]
        built = self.optimizer.params
        if built is None or len(built) != len(params) or any(a is not b for a, b in zip(built, params)):
            self.optimizer.build(params)

    def _match_target(self, i, y):
        return match_target_rank(self, i, y)

    def update_step_metrics(self, out, xs, ys, sws):
        """Record one built-in step: the loss trackers (weighted by the batch size, as Keras
        does) and the compiled metrics on the predictions. ``out`` is the step's
        :class:`~plait.training.step.StepOutput`; also called inside the compiled step."""
        step_fn = self._step_fn
        preds = step_fn.probabilities(out.y_pred)
        with torch.no_grad():
            n = batch_size_of(xs)
            self._loss_tracker.update_state(out.total.detach(), sample_weight=n)
            for head, value in zip(self._heads, out.per_output):
                if head.tracker is not None and value is not None:
                    head.tracker.update_state(value.detach(), sample_weight=n)
            if not self._compile_metrics.built:
                self._compile_metrics.build(ys, [tuple(p.shape) for p in preds])
            self._compile_metrics.update_flat(ys, preds, sws, out.masks)

    def _test_batch(self, data, terms=None):
        """The built-in test step on ``(xs, ys, sws)``; ``terms`` (an :class:`InferenceJit` of
        the forward pass and losses) may run them compiled."""
        xs, ys, sws = data
        balancer = self._balancer
        with torch.no_grad():
            y_pred, masks, per_output, penalty = (terms or self._step_fn.terms)(xs, ys, sws)
            total = self._step_fn.combine(per_output, penalty, lambda losses: balancer.combine(losses, False))
            self.update_step_metrics(StepOutput(total, per_output, y_pred, masks), xs, ys, sws)

    def _inference_jit(self, kind, fn, batches):
        """The :class:`InferenceJit` running ``evaluate``'s or ``predict``'s built-in step, as
        ``compile(jit_compile=...)`` says (``"auto"`` before ``compile``); it is told this run's
        number of batches. Distributed models run their inference eagerly."""
        jit = getattr(self, "_inference_jits", {}).get(kind)
        if jit is None:
            mode = self._jit.mode if self.compiled else "auto"
            if collectives.data_shards()[0] > 1 or sharding.distribution_of(self) is not None:
                mode = False  # the processes' steps must stay alike
            jit = InferenceJit(fn, mode)
            self.__dict__.setdefault("_inference_jits", {})[kind] = jit
        jit.plan(batches)
        return jit

    def _inference_terms(self, xs, ys, sws):
        return self._step_fn.terms(xs, ys, sws)

    def _inference_forward(self, *xs):
        return self(*xs)

    def _clear_activity_losses(self):
        for layer in self.step_function().activity_layers:
            layer.activity_losses.clear()

    def _batch_from_data(self, data):
        """Keras's ``data`` (as a custom step receives it) as a :class:`Batch`."""
        # ``data`` is already this process's part of the batch under a distribution.
        return self._single_batch(*unpack_x_y_sample_weight(data), distribute=False)

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        x=None,
        y=None,
        batch_size=None,
        epochs=1,
        verbose="auto",
        callbacks=None,
        validation_split=0.0,
        validation_data=None,
        shuffle=True,
        class_weight=None,
        sample_weight=None,
        initial_epoch=0,
        steps_per_epoch=None,
        validation_steps=None,
        validation_batch_size=None,
        validation_freq=1,
    ):
        """Train for ``epochs`` epochs; returns a ``History`` (``history.history["loss"]``, ...).

        Args:
            x: inputs: an array, a list (input order) or dict (input names) of arrays, a pandas
                DataFrame, a ``torch.utils.data`` Dataset/DataLoader, or a generator yielding
                ``(x, y)`` or ``(x, y, sample_weight)``.
            y: targets: an array, a list (output order) or dict (output names); None for
                datasets and generators.
            batch_size: default 32. epochs: number of epochs.
            verbose: ``"auto"``/1 progress bar, 2 one line per epoch, 0 silent.
            callbacks: list of ``plait.callbacks.Callback``.
            validation_split: fraction in [0, 1) of the arrays (the last samples) held out.
            validation_data: ``(x_val, y_val)`` or ``(x_val, y_val, sample_weight)``, or a
                dataset/generator.
            shuffle: shuffle array data every epoch.
            class_weight: ``{class: weight}``: each sample's loss (and weighted metrics) is
                weighted by its class's weight.
            sample_weight: per-sample weights (array, or list/dict per output).
            initial_epoch: the epoch to start from (epochs ``initial_epoch`` to ``epochs - 1``
                run; resumes a fit).
            steps_per_epoch: batches per epoch (default: all of the data). As in Keras, the
                next epoch carries on where one stopped; at the end of the data an epoch ends
                early (with a warning if short) and the next starts the data again.
            validation_steps: batches of the validation data per validation (default: all).
            validation_batch_size: batch size of the validation data (default ``batch_size``).
            validation_freq: validate every N epochs, or at the epochs in a list (1-based).

        Example:
            >>> import numpy as np, plait
            >>> model = plait.Sequential([plait.layers.Dense(1, input_shape=(3,))])
            >>> model.compile("sgd", "mse")
            >>> history = model.fit(np.ones((8, 3)), np.ones((8, 1)), epochs=2, verbose=0)
            >>> len(history.history["loss"])
            2
        """
        self._assert_compiled("fit")
        _check_fit_args(
            batch_size, epochs, initial_epoch, validation_split, validation_freq, class_weight, sample_weight
        )
        _check_steps("steps_per_epoch", steps_per_epoch)
        _check_steps("validation_steps", validation_steps)
        _check_batch_size(validation_batch_size, "validation_batch_size")
        if settings.cap("max_epochs", epochs) != epochs:  # plait.config.set_max_epochs, as Keras
            epochs = settings.cap("max_epochs", epochs)
            warnings.warn(f"Limiting epochs to {epochs}", stacklevel=2)
        if validation_split and validation_data is None:
            (x, y, sample_weight), validation_data = train_validation_split(self, x, y, sample_weight, validation_split)
        epoch_iterator = EpochIterator(
            self, x, y, sample_weight, batch_size, steps_per_epoch, shuffle, class_weight, self._execution_size()
        )
        val_iterator = None
        if validation_data is not None:  # checked now, not after the first epoch
            val_x, val_y, val_sw = _unpack_validation(validation_data)
            val_iterator = EpochIterator(
                self,
                val_x,
                val_y,
                val_sw,
                validation_batch_size or batch_size,
                validation_steps,
                False,
                steps_per_execution=self._execution_size(),
                source_name="The `validation_data` input",
            )
        steps = epoch_iterator.num_batches
        verbose = (1 if verbose == "auto" else verbose) if collectives.is_writer() else 0  # one process prints
        given = callbacks.callbacks if isinstance(callbacks, callbacks_module.CallbackList) else callbacks
        user = nest.flatten(given or [])
        progbar = callbacks_module.ProgbarLogger(verbose) if verbose else None
        # As in Keras: the user's callbacks first (they may add to the logs), then the progress
        # bar and History (the user's own History if the list has one; set as self.history).
        callback_list = callbacks_module.CallbackList(
            list(user) + ([progbar] if progbar else []),
            add_history=True,
            model=self,
            epochs=epochs,
            steps=steps,
            verbose=verbose,
        )
        self.stop_training = False
        fit_steps = (epochs - initial_epoch) * steps if steps else None
        self._jit.plan(fit_steps)
        run_steps = self._training_runner()
        state = self.fit_state = FitState(epoch_iterator, epochs, initial_epoch, NonFinitePolicy.for_fit(self, user))
        self._policy = state.nonfinite
        # torch's thread count, measured on this fit's steps (see plait.training.threads).
        tuner = threads.for_fit(self, fit_steps, epoch_iterator.loader_workers, pinned=self._jit.thread_count)
        was_training = self.training
        training_logs = {}
        try:
            callback_list.on_train_begin({})
            resume = state.take_resume_point()  # BackupAndRestore's
            if resume is not None:
                state.epoch = resume.epoch
                resume.apply(self, epoch_iterator)
            for epoch in range(state.epoch, epochs):
                state.epoch = epoch
                logs = self._train_epoch(state, run_steps, callback_list, progbar, tuner, resume)
                resume = None
                epoch_logs = self._end_epoch(state, logs)
                if val_iterator is not None and _should_validate(epoch, validation_freq):
                    val_logs = self._evaluate_iterator(val_iterator, callback_list)
                    epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
                if progbar:
                    progbar.bar_step = state.step
                callback_list.on_epoch_end(epoch, epoch_logs)
                epoch_end = getattr(self.optimizer, "on_epoch_end", None)  # a TorchOptimizer's scheduler
                if epoch_end is not None:
                    epoch_end(epoch, epoch_logs)
                training_logs = epoch_logs
                if self.stop_training:
                    break
            # Keras's end of fit: an optimizer with use_ema leaves its averages in the weights.
            finalize = getattr(self.optimizer, "finalize_variable_values", None)
            if finalize is not None and epochs > 0:
                finalize()
            callback_list.on_train_end(training_logs)
        finally:
            # An exception leaves the model as it was: its mode restored, the bar closed.
            tuner.close()
            self.train(was_training)
            self.fit_state = None
            if progbar:
                progbar.close()
        return self.history

    def _training_runner(self):
        """``chunk -> (step reports, logs)`` for this model: the user's ``train_step`` (logs
        checked), or the built-in steps (logs None: read from the metrics when needed)."""
        custom = self._custom_step("train_step")
        if custom is not None:
            steps = CustomSteps(custom, self.optimizer, self._prepare_once if self.compiled else None)

            def run_custom(chunk):
                reports, logs = steps.run(chunk, self._policy)
                return reports, _check_logs(logs, "train_step")

            return run_custom

        def run_builtin(chunk):
            self._prepare_once(chunk[0])
            return self._builtin.run([b.lists() for b in chunk], self._policy), None

        return run_builtin

    def _prepare_once(self, batch):
        if self._step_fn is None:
            self._prepare(batch)

    def _train_epoch(self, state, run_steps, callback_list, progbar, tuner, resume):
        """One epoch's training batches; returns the last execution's logs (None: the
        metrics'). A resumed epoch skips the batches that ran before the backup."""
        self.reset_metrics()
        callback_list.on_epoch_begin(state.epoch, {})
        self.train()
        state.iterator.set_epoch(state.epoch)
        logs, state.step = None, 0
        skip = resume.step if resume is not None else 0
        for begin, end, chunk in state.iterator:
            if skip:
                state.step = end + 1
                if state.step >= skip:
                    skip = 0
                    if self._custom_step("train_step") is None:
                        self._prepare_once(chunk[0])  # builds the metrics that depend on the targets
                    resume.restore_epoch_state(self)
                continue
            callback_list.on_train_batch_begin(begin, {})
            tuner.before()
            reports, logs = run_steps(chunk)
            tuner.after(len(chunk))
            state.step = end + 1
            state.nonfinite.after_execution(begin, reports)
            if callback_list.wants("on_train_batch_end"):
                callback_list.on_train_batch_end(end, self._logs_now(logs))
            if progbar:
                progbar.update(state.step, lambda logs=logs: self._logs_now(logs))
            if self.stop_training:
                break
        return logs

    def _end_epoch(self, state, logs):
        """The epoch's logs: every process's metrics reduced, the balancer's weights."""
        self.eval()
        if not state.step:
            return {}
        collectives.reduce_metrics(self.metrics)  # every process reports the global numbers
        epoch_logs = self._epoch_logs(logs)
        epoch_logs.update(self._balancer_epoch_end())
        return epoch_logs

    def _execution_size(self):
        return self.steps_per_execution if self.compiled else 1

    @property
    def nonfinite_message(self):
        """Why the last training execution skipped a step (its batch and what was not finite),
        or None; ``TerminateOnNaN`` prints it."""
        return self._policy.message

    def _custom_step(self, name):
        """The user's override of ``train_step``/``test_step``/``predict_step``, or None. A model
        that overrides ``compute_loss`` or ``compute_metrics`` only runs Keras's own steps, which
        call them (``train_step``/``test_step``)."""
        if getattr(type(self), name) is getattr(Trainer, name):
            return getattr(self, name) if name != "predict_step" and self._keras_step_overrides() else None
        if name == "train_step" and self._jit.mode is True:
            raise ValueError(
                f"Model '{self.name}' was compiled with jit_compile=True, which compiles plait's built-in "
                "training step; a custom `train_step` is not compiled: torch.compile cannot trace its "
                "backward() and optimizer update reliably across graph breaks. Compile with "
                "jit_compile=False (or 'auto'), and torch.compile parts of your step yourself if you wish."
            )
        return getattr(self, name)

    def _logs_now(self, logs):
        """The logs to show now: the step's own (a custom step), else the metrics."""
        return _pythonify(self.get_metrics_result() if logs is None else logs)

    def _epoch_logs(self, logs):
        # Keras's ``_get_metrics_result_or_logs``: the metrics when the step's logs name them.
        metric_logs = self.get_metrics_result()
        if logs is None or (isinstance(logs, dict) and set(logs) == set(metric_logs)):
            return _pythonify(metric_logs)
        return _pythonify(logs)

    def _balancer_epoch_end(self):
        """Give the balancer the epoch's mean losses; ``{<output>_loss_weight: w}`` for the logs
        when the weights are adaptive or were changed (fixed, unchanged weights are not logged,
        as in Keras)."""
        balancer = self._balancer
        trackers = [h.tracker for h in self._heads if h.loss is not None]
        if balancer.adaptive:
            balancer.on_epoch_end(torch.stack([t.result().float() for t in trackers]))
        if len(trackers) < 2 or not (balancer.adaptive or balancer.changed):
            return {}
        return {f"{name}_loss_weight": w for name, w in balancer.epoch_weights().items()}

    # ------------------------------------------------------------------ evaluate / predict
    def evaluate(
        self,
        x=None,
        y=None,
        batch_size=None,
        verbose="auto",
        sample_weight=None,
        steps=None,
        callbacks=None,
        return_dict=False,
    ):
        """Loss and metrics on data: a scalar (only the loss), a list in Keras's order, or a
        dict with ``return_dict``.

        Args:
            x, y, sample_weight, batch_size: as in ``fit``.
            verbose: ``"auto"``/1 progress bar, 2 one line, 0 silent.
            steps: evaluate this many batches (default: all of the data).
            callbacks: their ``on_test_*`` hooks run.
            return_dict: return ``{name: value}``.
        """
        self._assert_compiled("evaluate")
        _check_batch_size(batch_size)
        _check_steps("steps", steps)
        iterator = EpochIterator(self, x, y, sample_weight, batch_size, steps, False, None, self._execution_size())
        verbose = (1 if verbose == "auto" else verbose) if collectives.is_writer() else 0
        callback_list = _callback_list(callbacks, self, {"steps": iterator.num_batches, "verbose": verbose})
        logs = self._evaluate_iterator(iterator, callback_list, verbose)
        if return_dict:
            return logs
        return self._flatten_metrics_in_order(logs)

    def _evaluate_iterator(self, iterator, callback_list, verbose=0):
        was_training = self.training
        self.eval()
        bar = Progbar(iterator.num_batches, verbose=verbose) if verbose else None
        custom = self._custom_step("test_step")
        terms = (
            None if custom is not None else self._inference_jit("evaluate", self._inference_terms, iterator.num_batches)
        )
        logs = None
        iterator.reset()  # as Keras: an evaluation starts at the first batch
        try:
            callback_list.on_test_begin({})
            self.reset_metrics()
            for begin, end, chunk in iterator:
                callback_list.on_test_batch_begin(begin, {})
                for batch in chunk:
                    if custom is not None:
                        if self._step_fn is None:
                            self._prepare(batch)
                        logs = _check_logs(custom(batch.data()), "test_step")
                    else:
                        self._prepare_once(batch)
                        self._test_batch(batch.lists(), terms)
                if callback_list.wants("on_test_batch_end"):
                    callback_list.on_test_batch_end(end, self._logs_now(logs))
                if bar:
                    bar.update(end + 1, lambda logs=logs: self._logs_now(logs), finalize=False)  # the end: below
            collectives.reduce_metrics(self.metrics)
            logs = self._epoch_logs(logs)
            if bar:
                bar.update(bar.seen, logs, finalize=True)
            callback_list.on_test_end(logs)
        finally:
            self.train(was_training)
        return logs

    def _flatten_metrics_in_order(self, logs):
        """``logs`` as a list in ``metrics_names`` order, the rest sorted (Keras's order); a
        single value alone."""
        names = []
        for metric in self.metrics:
            if isinstance(metric, heads.CompileMetrics):
                names += [m.name for m in metric.metrics]
            else:
                names.append(metric.name)
        results = [logs[n] for n in names if n in logs]
        results += [logs[k] for k in sorted(logs) if k not in names]
        return results[0] if len(results) == 1 else results

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Outputs for ``x`` as numpy arrays, in the structure the model returns.

        Args:
            x: inputs, as in ``fit`` (a dataset or generator may yield ``x`` or ``(x, ...)``).
            batch_size: default 32.
            verbose: ``"auto"``/1 progress bar, 2 one line, 0 silent.
            steps: predict this many batches (default: all of the data).
            callbacks: their ``on_predict_*`` hooks run; ``on_predict_batch_end`` gets
                ``{"outputs": batch_outputs}``.
        """
        _check_batch_size(batch_size)
        _check_steps("steps", steps)
        iterator = EpochIterator(self, x, None, None, batch_size, steps, False, None, self._execution_size())
        verbose = (1 if verbose == "auto" else verbose) if collectives.is_writer() else 0
        callback_list = _callback_list(callbacks, self, {"steps": iterator.num_batches, "verbose": verbose})
        bar = Progbar(iterator.num_batches, verbose=verbose) if verbose else None
        custom = self._custom_step("predict_step")
        distributed.check_model(self)  # under a distribution: replicas hold process 0's weights
        forward = (
            None
            if custom is not None
            else self._inference_jit("predict", self._inference_forward, iterator.num_batches)
        )
        was_training = self.training
        self.eval()
        outputs = []
        try:
            callback_list.on_predict_begin({})
            for begin, end, chunk in iterator:
                callback_list.on_predict_batch_begin(begin, {})
                for batch in chunk:
                    self.ensure_built(batch.xs)
                    if custom is not None:
                        batch_outputs = custom(batch.data())
                    else:
                        with torch.no_grad():
                            batch_outputs = forward(*batch.xs)
                    outputs.append(batch_outputs)
                callback_list.on_predict_batch_end(end, {"outputs": batch_outputs})
                if bar:
                    bar.update(end + 1, {}, finalize=False)  # the last line is drawn once, below
            if bar:
                bar.update(bar.seen, {}, finalize=True)
            callback_list.on_predict_end({})
        finally:
            self.train(was_training)
        if not outputs:
            raise ValueError(
                f"`predict` of model '{self.name}' got no data: the input is empty or the generator yielded nothing."
            )
        return _concat_outputs(distributed.gather_predictions(outputs))

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One training step on one batch; returns the loss (and metrics) like ``evaluate``."""
        self._assert_compiled("train_on_batch")
        if class_weight is not None and sample_weight is not None:
            raise ValueError(
                "Arguments `sample_weight` and `class_weight` cannot be specified at the same time. "
                f"Received: sample_weight={sample_weight}, class_weight={class_weight}"
            )
        batch = self._single_batch(x, y, sample_weight, class_weight)
        self.reset_metrics()
        was_training = self.training
        self.train()
        try:
            self._prepare_once(batch)
            # As fit without callbacks: a step whose loss is not finite is not applied (a warning).
            self._policy = NonFinitePolicy.for_fit(self, [])
            reports, logs = self._training_runner()([batch])
            self._policy.after_execution(0, reports)
        finally:
            self.train(was_training)
        return self._batch_result(logs, return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """Loss (and metrics) on one batch, without updating weights."""
        self._assert_compiled("test_on_batch")
        batch = self._single_batch(x, y, sample_weight)
        self.reset_metrics()
        was_training = self.training
        self.eval()
        try:
            if self._step_fn is None:
                self._prepare(batch)
            custom = self._custom_step("test_step")
            logs = _check_logs(custom(batch.data()), "test_step") if custom else self._test_batch(batch.lists())
        finally:
            self.train(was_training)
        return self._batch_result(logs, return_dict)

    def predict_on_batch(self, x):
        """Outputs for one batch, as numpy."""
        return self.predict(x, batch_size=max(1, _num_samples(x)), verbose=0)

    def _single_batch(self, x, y, sample_weight, class_weight=None, distribute=True):
        """``x``, ``y``, ``sample_weight`` as one :class:`Batch` of all their samples."""
        if data_module.is_iterable_source(x):
            raise ValueError("`x` must be arrays (one batch) for train_on_batch/test_on_batch, not a dataset.")
        size = max(1, _num_samples(x))
        it = EpochIterator(self, x, y, sample_weight, size, class_weight=class_weight, distribute=distribute)
        return next(iter(it))[2][0]

    def _batch_result(self, logs, return_dict):
        collectives.reduce_metrics(self.metrics)  # the global batch's numbers on every process
        logs = self._epoch_logs(logs)
        return logs if return_dict else self._flatten_metrics_in_order(logs)

    def _assert_compiled(self, method):
        if not self.compiled:
            raise RuntimeError(f"You must call `compile()` before `{method}()` on model '{self.name}'.")


# ---------------------------------------------------------------------- helpers
def _num_samples(x):
    for leaf in nest.flatten(x):
        if hasattr(leaf, "shape") and len(leaf.shape):
            return int(leaf.shape[0])
        if hasattr(leaf, "__len__"):
            return len(leaf)
    return 1


def _pythonify(logs):
    """Logs as ``{name: float}``: tensors read once, nested dicts flattened (Keras's)."""
    out = {}
    for key, value in (logs or {}).items():
        if isinstance(value, dict):
            out.update(_pythonify(value))
        elif isinstance(value, torch.Tensor) and value.numel() == 1:
            out[key] = value.item()
        elif hasattr(value, "item") and getattr(value, "size", 2) == 1:
            out[key] = value.item()
        else:
            out[key] = value
    return out


def _check_logs(logs, where):
    if logs is None or isinstance(logs, dict):
        return logs
    raise TypeError(
        f"`{where}` must return a dict of logs (`{{'loss': value, ...}}`) or None. Received: {type(logs).__name__}"
    )


def _callback_list(callbacks, model, params):
    if isinstance(callbacks, callbacks_module.CallbackList):
        return callbacks
    return callbacks_module.CallbackList(nest.flatten(callbacks or []), model=model, epochs=1, **params)


def _unpack_validation(validation_data):
    if data_module.is_iterable_source(validation_data):
        return validation_data, None, None
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        raise ValueError(
            "`validation_data` must be (x_val, y_val) or (x_val, y_val, sample_weight), or a dataset. "
            f"Received: {type(validation_data).__name__}"
            + (f" of length {len(validation_data)}" if isinstance(validation_data, (tuple, list)) else "")
        )
    return unpack_x_y_sample_weight(tuple(validation_data))


def _should_validate(epoch, freq):
    if isinstance(freq, int):
        return (epoch + 1) % freq == 0
    return (epoch + 1) in freq


@functools.cache
def _takes_training(compute_loss):
    """Whether a ``compute_loss`` takes ``training`` (read once per function, not per step)."""
    return "training" in inspect.signature(compute_loss).parameters


def _check_batch_size(batch_size, name="batch_size"):
    if batch_size is not None and (not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1):
        raise ValueError(f"`{name}` must be a positive integer or None. Received: {name}={batch_size!r}")


def _check_steps(name, steps):
    if steps is not None and (not isinstance(steps, int) or isinstance(steps, bool) or steps < 1):
        raise ValueError(f"`{name}` must be a positive integer or None. Received: {name}={steps!r}")


def _check_fit_args(batch_size, epochs, initial_epoch, validation_split, validation_freq, class_weight, sample_weight):
    _check_batch_size(batch_size)
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 0:
        raise ValueError(f"`epochs` must be a non-negative integer. Received: epochs={epochs!r}")
    if not isinstance(initial_epoch, int) or isinstance(initial_epoch, bool) or initial_epoch < 0:
        raise ValueError(f"`initial_epoch` must be a non-negative integer. Received: initial_epoch={initial_epoch!r}")
    if not 0 <= validation_split < 1:
        raise ValueError(f"`validation_split` must be in [0, 1). Received: validation_split={validation_split}")
    if not (
        (isinstance(validation_freq, int) and not isinstance(validation_freq, bool) and validation_freq >= 1)
        or (isinstance(validation_freq, (list, tuple)) and all(isinstance(e, int) for e in validation_freq))
    ):
        raise ValueError(
            "Expected `validation_freq` to be a positive integer or a list of epochs. "
            f"Received: validation_freq={validation_freq!r}"
        )
    if class_weight is not None and sample_weight is not None:
        raise ValueError(
            "Arguments `sample_weight` and `class_weight` cannot be specified at the same time. "
            "Multiply the class weights into the sample weights instead."
        )
    if class_weight is not None and not isinstance(class_weight, dict):
        raise TypeError(f"`class_weight` must be a dict {{class: weight}}. Received: {type(class_weight).__name__}")


def _concat_outputs(chunks):
    chunks = nest.map_structure(lambda t: t.float() if t.dtype == torch.bfloat16 else t, chunks)  # numpy has no bf16
    first = chunks[0]
    if isinstance(first, dict):
        return {k: torch.cat([c[k] for c in chunks]).cpu().numpy() for k in first}
    if isinstance(first, (list, tuple)):
        return [torch.cat([c[i] for c in chunks]).cpu().numpy() for i in range(len(first))]
    return torch.cat(chunks).cpu().numpy()
