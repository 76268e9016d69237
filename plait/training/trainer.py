"""``compile`` / ``fit`` / ``evaluate`` / ``predict``: Keras's training API on a torch loop.

The default training step is what a hand-written torch loop does: the model's generated
forward, the losses, ``backward()``, one multi-tensor optimizer update. Metrics accumulate in
device tensors and are read back only when the progress bar draws or an epoch ends.

When an output layer ends in softmax (or sigmoid) and its loss is categorical (or binary)
cross-entropy on probabilities, the step asks the layer for its logits and uses the
log-softmax form of the loss: the same value away from Keras's 1e-7 clipping, numerically
stable, and cheaper.
"""

import copy

import numpy as np
import torch

from plait import activations, mixed_precision, optimizers
from plait import losses as losses_module
from plait import metrics as metrics_module
from plait.losses import balancing
from plait.training import compiled_step
from plait.training import data as data_module
from plait.utils import nest


class _OutputHead:
    """What compile resolved for one output: its loss, metrics, and the logits fusion (the loss
    weights live in the loss balancer)."""

    def __init__(self, name, loss, metric_specs):
        self.name, self.loss, self.metric_specs = name, loss, metric_specs
        self.metrics = []
        self.fused_activation = None  # softmax/sigmoid applied to logits for metrics


class Trainer:
    """Mixin giving models Keras's training API."""

    def __init__(self):
        self.optimizer = None
        self.compiled = False
        self.stop_training = False
        self.history = None
        self._heads = None

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
            metrics: a list of metrics for every output, a list of lists in output order, or a
                dict by output name. ``"acc"``/``"accuracy"`` resolve by the loss and shapes
                as Keras does (binary / categorical / sparse categorical).
            weighted_metrics: metrics that also take sample weights (plait weights all metrics
                when sample weights are given; accepted for compatibility).
            steps_per_execution: batches per execution: the batch callbacks and the progress
                bar run once per execution, as in Keras; with a compiled whole step, one
                compiled call runs all of its steps.
            jit_compile: ``True`` compiles the whole training step (forward, losses, gradients,
                optimizer update, metrics) into one ``torch.compile`` graph after one eager
                step; a model it does not fit (an adaptive loss balancer, float16 loss
                scaling, activity regularizers, stateful layers) compiles only its forward pass
                and losses, and a recurrent model stays eager, with a warning. ``False`` runs
                eagerly. ``"auto"`` (the default) runs eagerly unless the fit is long: it times
                the eager steps, compiles if the fit's remaining eager time exceeds two
                minutes, and keeps the compiled step only if it measures faster (see
                ``plait.training.compiled_step.JitPolicy``); so it never costs more than one
                compilation. Each batch shape compiles its own graph when it comes back, up to
                4 shapes; inputs whose length changes every batch keep the eager step.
            run_eagerly: accepted for Keras compatibility (``jit_compile=False`` is plait's).

        Example:
            >>> model.compile(optimizer="rmsprop", loss={"age": "mse", "sex": "binary_crossentropy"},
            ...               loss_weights={"age": 0.25, "sex": 10.0})  # doctest: +SKIP
        """
        self.optimizer = optimizers.get(optimizer)
        if mixed_precision.autocast_dtype(self) == torch.float16 and not hasattr(self.optimizer, "scale_loss"):
            self.optimizer = mixed_precision.LossScaleOptimizer(self.optimizer)  # as Keras does for float16
        names = self.output_names
        self._loss_config = (loss, loss_weights, metrics, weighted_metrics)
        losses = self._per_output(loss, "loss", names)
        balancer_spec = loss_weights if balancing.is_balancer_spec(loss_weights) else None
        weights = self._per_output(None if balancer_spec else loss_weights, "loss_weights", names, default=1.0)
        metric_specs = self._per_output_metrics(metrics, names)
        if weighted_metrics:
            extra = self._per_output_metrics(weighted_metrics, names)
            metric_specs = [a + b for a, b in zip(metric_specs, extra)]
        for spec in (m for specs in metric_specs for m in specs):
            if not (isinstance(spec, str) and spec.lower() in ("acc", "accuracy")):
                metrics_module.get(spec)  # fail now, not at the first step, on an unknown name
        self._heads = [
            _OutputHead(n, None if loss_ is None else losses_module.get(loss_), m)
            for n, loss_, m in zip(names, losses, metric_specs)
        ]
        if all(h.loss is None for h in self._heads) and loss is not None:
            raise ValueError(f"No loss was given for any output of model '{self.name}'. Outputs: {names}")
        self._loss_heads = [i for i, h in enumerate(self._heads) if h.loss is not None]
        balancer = (
            balancing.get(balancer_spec)
            if balancer_spec is not None
            else balancing.FixedWeights([1.0 if weights[i] is None else float(weights[i]) for i in self._loss_heads])
        )
        balancer.build([self._heads[i].name for i in self._loss_heads], [self._heads[i].loss for i in self._loss_heads])
        self._balancer = balancer
        self.compiled = True
        self._step_ready = False
        if jit_compile not in (True, False, "auto"):
            raise ValueError(f"`jit_compile` must be True, False or 'auto'. Received: jit_compile={jit_compile!r}")
        self.jit_compile = jit_compile
        self._jit = compiled_step.JitPolicy(jit_compile)
        spe = steps_per_execution
        if not isinstance(spe, int) or isinstance(spe, bool) or spe < 1:
            raise ValueError(f"`steps_per_execution` must be a positive integer. Received: steps_per_execution={spe!r}")
        self.steps_per_execution = steps_per_execution
        self._compiled_loss_step = None

    def _per_output(self, value, what, names, default=None):
        if isinstance(value, dict):
            unknown = [k for k in value if k not in names]
            if unknown:
                raise ValueError(
                    f"`{what}` names {unknown}, which match no output of model '{self.name}'. "
                    f"Valid output names: {names}"
                )
            return [value.get(n, default) for n in names]
        if isinstance(value, (list, tuple)):
            if len(value) != len(names):
                raise ValueError(
                    f"`{what}` is a list of {len(value)} entries, but model '{self.name}' has "
                    f"{len(names)} outputs {names}."
                )
            return list(value)
        if value is None:
            return [default] * len(names)
        if what == "loss_weights":
            if len(names) != 1:
                raise ValueError(f"`loss_weights` must be a list or dict for a model with outputs {names}.")
            return [value]
        return [value] * len(names)

    def _per_output_metrics(self, metrics, names):
        if metrics is None:
            return [[] for _ in names]
        if isinstance(metrics, dict):
            per = self._per_output(metrics, "metrics", names)
            return [[] if m is None else (list(m) if isinstance(m, (list, tuple)) else [m]) for m in per]
        if (
            isinstance(metrics, (list, tuple))
            and len(names) > 1
            and metrics
            and all(isinstance(m, (list, tuple)) or m is None for m in metrics)
        ):
            per = self._per_output(list(metrics), "metrics", names)
            return [[] if m is None else list(m) for m in per]
        metrics = list(metrics) if isinstance(metrics, (list, tuple)) else [metrics]
        return [list(metrics) for _ in names]

    # ------------------------------------------------------------------ step setup
    def _prepare_step(self, ys):
        """Resolve metrics and the logits fusion once the targets' shapes are known."""
        if self._step_ready:
            return
        outputs = getattr(self, "outputs", None)
        for i, head in enumerate(self._heads):
            y = ys[i]
            pred_shape = outputs[i].shape if outputs is not None else None
            if head.loss is not None and y is not None and pred_shape is not None:
                _check_target(head, y, pred_shape)
            head.metrics = [self._resolve_metric(m, head, y, pred_shape) for m in head.metric_specs]
        self._fused = []
        if outputs is not None and hasattr(self, "_generate"):
            for i, head in enumerate(self._heads):
                layer = outputs[i].node.layer
                act = getattr(layer, "activation", None)
                if head.loss is None or head.loss.from_logits or not hasattr(layer, "call_logits"):
                    continue
                ok = (
                    isinstance(
                        head.loss, (losses_module.CategoricalCrossentropy, losses_module.SparseCategoricalCrossentropy)
                    )
                    and act is activations.softmax
                ) or (isinstance(head.loss, losses_module.BinaryCrossentropy) and act is activations.sigmoid)
                if ok and len(layer._inbound_nodes) == 1:
                    head.train_loss = head.loss.with_logits()
                    head.fused_activation = act
                    self._fused.append(i)
            # Sequence outputs that carry a mask (Embedding(mask_zero=True), Masking) get masked
            # losses and metrics, as in Keras: the training forward also returns the masks.
            self._masked_outputs = any(t.has_mask for t in outputs)
            fn, calls, consts = self._generate(logits_outputs=tuple(self._fused), return_masks=self._masked_outputs)
            self._train_fn, self._train_calls, self._train_consts = fn, calls, consts
        # Regularizers add to the loss; constraints run after each update (Keras's order).
        entries = self._weight_entries()
        self._regularized = [(layer, spec) for layer, spec in entries if spec.regularizer is not None]
        self._constrained = [(layer, spec) for layer, spec in entries if spec.constraint is not None]
        self._activity_layers = [m for m in self.modules() if getattr(m, "activity_regularizer", None) is not None]
        attach = getattr(self._balancer, "attach", None)
        if attach is not None:  # GradNorm needs the model's last shared layer
            attach(self)
        self._loss_tracker = metrics_module.Mean(name="loss")
        self._head_trackers = [
            metrics_module.Mean(name=f"{h.name}_loss") if h.loss is not None else None for h in self._heads
        ]
        self._step_ready = True

    def _resolve_metric(self, spec, head, y, pred_shape):
        if isinstance(spec, str) and spec.lower() in ("acc", "accuracy"):
            y_rank = y.dim() if y is not None else len(pred_shape)
            y_last = y.shape[-1] if y is not None and y.dim() else None
            is_binary = pred_shape[-1] == 1
            is_sparse = y_rank < len(pred_shape) or (y_last == 1 and pred_shape[-1] not in (1, None))
            if isinstance(head.loss, losses_module.SparseCategoricalCrossentropy):
                is_sparse = True
            cls = (
                metrics_module.BinaryAccuracy
                if is_binary
                else metrics_module.SparseCategoricalAccuracy
                if is_sparse
                else metrics_module.CategoricalAccuracy
            )
            metric = cls(name=spec)
        else:
            metric = metrics_module.get(spec)
            if metric is spec:  # the user's own object: rename a copy, keep theirs as given
                metric = copy.deepcopy(spec)
            if isinstance(spec, str):
                metric.name = spec
        if len(self._heads) > 1:
            metric.name = f"{head.name}_{metric.name}"
        return metric

    @property
    def metrics(self):
        """The metric objects (loss trackers first), as Keras's ``model.metrics``."""
        if not getattr(self, "_step_ready", False):
            return []
        out = [self._loss_tracker]
        if len(self._heads) > 1:
            out += [t for t in self._head_trackers if t is not None]
        return out + [m for h in self._heads for m in h.metrics]

    @property
    def metrics_names(self):
        return [m.name for m in self.metrics]

    def reset_metrics(self):
        for m in self.metrics:
            m.reset_state()

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

    def get_metrics_result(self):
        """``{name: float}`` of every metric (reads the device once per metric)."""
        return {m.name: float(m.result()) for m in self.metrics}

    # ------------------------------------------------------------------ the steps
    def _forward_for_loss(self, xs):
        for layer in getattr(self, "_activity_layers", ()):
            layer._activity_penalties.clear()
        out, self._output_masks = self._forward_outputs(xs)
        return out

    def _forward_outputs(self, xs):
        """The training forward: ``(outputs, masks)``, outputs a list in float32 (losses and
        metrics run in float32 under mixed precision, as Keras's), masks a list or None."""
        masks = None
        if hasattr(self, "_train_fn"):
            out = self._train_fn_call(xs)
            if getattr(self, "_masked_outputs", False):
                out, masks = out
                out = out if len(out) > 1 else out[0]
        else:
            out = self(*xs) if len(xs) > 1 else self(xs[0])
            if not hasattr(self, "_autocast"):  # a subclassed model: its layers' policy
                self._autocast = mixed_precision.autocast_dtype(self)
        out = (
            list(out)
            if isinstance(out, (list, tuple))
            else ([out] if not isinstance(out, dict) else list(out.values()))
        )
        if getattr(self, "_autocast", None) is not None:
            out = [o.float() if o.dtype in (torch.float16, torch.bfloat16) else o for o in out]
        return out, masks

    def _train_fn_call(self, xs):
        xs = [self._cast_input(x, t) for x, t in zip(xs, self.inputs)]
        return self._run_graph(self._train_fn, self._train_calls, self._train_consts, xs)

    @staticmethod
    def _cast_input(x, t):
        if x.dtype != t.dtype and x.is_floating_point() and t.dtype.is_floating_point:
            return x.to(t.dtype)
        return x

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, _fused=True):
        """Total loss ``sum(w_k * loss_k)`` plus regularization, and the per-output losses
        (unweighted, for logs). The weights come from the loss balancer; in a training step
        (``model.train()`` with gradients on) an adaptive balancer also takes its own step."""
        per_output = self._output_losses(y, y_pred, sample_weight, _fused, getattr(self, "_output_masks", None))
        return self._combine_losses(per_output, self._penalty()), per_output

    def _output_losses(self, y, y_pred, sample_weight, _fused=True, masks=None):
        per_output = []
        for i, head in enumerate(self._heads):
            if head.loss is None or y[i] is None:
                per_output.append(None)
                continue
            loss_fn = head.train_loss if (_fused and head.fused_activation is not None) else head.loss
            mask = masks[i] if masks is not None else None
            per_output.append(loss_fn(y[i], y_pred[i], None if sample_weight is None else sample_weight[i], mask=mask))
        if all(v is None for v in per_output):
            raise ValueError(f"No output of model '{self.name}' has both a loss and a target; nothing to train on.")
        return per_output

    def _penalty(self):
        penalties = [s.regularizer(s.keras_view(s.get(layer))) for layer, s in getattr(self, "_regularized", ())]
        for layer in getattr(self, "_activity_layers", ()):
            penalties += layer._activity_penalties
        return torch.stack(penalties).sum() if penalties else None

    def _combine_losses(self, per_output, penalty):
        # Runs eagerly even under jit_compile: balancers keep state, and fixed weights stay
        # Python floats that can change between steps without a recompilation.
        training = self.training and torch.is_grad_enabled()
        total = self._balancer.combine([per_output[i] for i in self._loss_heads], training)
        return total if penalty is None else total + penalty

    @torch.no_grad()
    def _apply_constraints(self):
        for layer, spec in getattr(self, "_constrained", ()):
            spec.constrain_(spec.get(layer))

    def _update_metrics(self, y_pred, ys, sws, total, per_output, masks):
        with torch.no_grad():
            self._loss_tracker.update_state(total.detach())
            for i, head in enumerate(self._heads):
                if per_output[i] is not None and self._head_trackers[i] is not None:
                    self._head_trackers[i].update_state(per_output[i].detach())
                if head.metrics and ys[i] is not None:
                    pred = y_pred[i].detach()
                    if head.fused_activation is not None:
                        pred = head.fused_activation(pred)
                    weight = sws[i]
                    mask = masks[i] if masks is not None else None
                    if mask is not None:  # masked steps do not count (Keras weights metrics by the mask)
                        weight = (
                            mask.float()
                            if weight is None
                            else weight.float().reshape(weight.shape + (1,) * (mask.dim() - weight.dim())) * mask
                        )
                    for m in head.metrics:
                        m.update_state(ys[i], pred, weight)

    def train_step(self, data):
        """One optimisation step on ``data = (xs, ys, sample_weights)`` (lists in input/output
        order). Override it for custom training; return ``self.get_metrics_result()``-style logs
        or nothing."""
        self._train_batches([data])

    def _train_batches(self, batches):
        """The default steps on a list of batches (``steps_per_execution`` of them in ``fit``):
        one compiled call for all when the whole step is compiled, else one step each."""
        whole = self._jit.whole_step(self, len(batches))
        if whole is not None and whole.accepts(batches):
            return whole(batches)  # also updates the metrics and applies the constraints
        for data in batches:
            if whole is not None and len(batches) > 1 and whole.accepts([data]):
                whole([data])
            else:
                self._eager_step(data)

    def _eager_step(self, data):
        xs, ys, sws = data
        if self._jit.compile_loss:
            if self._compiled_loss_step is None:
                self._compiled_loss_step = torch.compile(compiled_step.own_code(self._loss_step))
            y_pred, per_output, penalty = self._compiled_loss_step(xs, ys, sws)
        else:
            y_pred, per_output, penalty = self._loss_step(xs, ys, sws)
        total = self._combine_losses(per_output, penalty)
        for p in self._trainable_params:
            p.grad = None
        scale_loss = getattr(self.optimizer, "scale_loss", None)  # mixed_float16's loss scaling
        (total if scale_loss is None else scale_loss(total)).backward()
        self.optimizer.apply([p.grad for p in self._trainable_params])
        self._apply_constraints()
        self._update_metrics(y_pred, ys, sws, total, per_output, self._output_masks)

    def _loss_step(self, xs, ys, sws):
        """Forward pass, per-output losses and penalties of one step (what ``jit_compile=True``
        compiles; the weighting by the loss balancer follows eagerly)."""
        y_pred = self._forward_for_loss(xs)
        return y_pred, self._output_losses(ys, y_pred, sws, masks=self._output_masks), self._penalty()

    def test_step(self, data):
        """One evaluation step on ``data = (xs, ys, sample_weights)``."""
        xs, ys, sws = data
        with torch.no_grad():
            y_pred = self._forward_for_loss(xs)
            total, per_output = self.compute_loss(xs, ys, y_pred, sws)
            self._update_metrics(y_pred, ys, sws, total, per_output, self._output_masks)

    def predict_step(self, data):
        """Outputs for one batch of inputs ``data`` (a list in input order)."""
        with torch.no_grad():
            return self(*data) if len(data) > 1 else self(data[0])

    # ------------------------------------------------------------------ data
    def _device(self):
        for p in self.parameters():
            return p.device
        return torch.device("cpu")

    def _to_device(self, batch, device):
        if device.type == "cpu":
            return batch
        return tuple([None if t is None else t.to(device, non_blocking=True) for t in part] for part in batch)

    def _make_batches(self, x, y, sample_weight, batch_size, shuffle, steps, class_weight=None):
        if data_module.is_iterable_source(x):
            if y is not None:
                raise ValueError("`y` must be None when `x` is a dataset, loader or generator (it yields the targets).")
            source = x
            if isinstance(x, torch.utils.data.Dataset) and not isinstance(x, torch.utils.data.IterableDataset):
                source = torch.utils.data.DataLoader(x, batch_size=batch_size or 32, shuffle=shuffle)
            return data_module.IterableBatches(self, source, steps), None
        xs = data_module.structure_inputs(self, x)
        ys = data_module.structure_targets(self, y)
        sws = data_module.structure_sample_weights(self, sample_weight)
        n = data_module.check_sample_counts(xs, ys, sws, self.input_names, self.output_names)
        ys = [self._match_target_rank(i, t) for i, t in enumerate(ys)]
        if class_weight is not None:
            sws = self._class_weights(class_weight, ys, sws)
        return data_module.ArrayBatches(xs, ys, sws, batch_size or 32, shuffle), n

    def _match_target_rank(self, i, y):
        # Keras expands (N,) targets to (N, 1) for an output of shape (N, 1).
        outputs = getattr(self, "outputs", None)
        if y is None or outputs is None:
            return y
        shape = outputs[i].shape
        if y.dim() == len(shape) - 1 and shape[-1] == 1:
            return y.unsqueeze(-1)
        return y

    def _class_weights(self, class_weight, ys, sws):
        if len(ys) != 1:
            raise ValueError("`class_weight` is only supported for models with a single output.")
        y = ys[0]
        labels = y.argmax(-1) if y.dim() > 1 and y.shape[-1] > 1 else y.reshape(len(y), -1)[:, 0].round().long()
        table = torch.ones(int(max(max(class_weight), int(labels.max()))) + 1)
        for k, w in class_weight.items():
            table[int(k)] = float(w)
        weights = table[labels.long()]
        return [weights if sws[0] is None else sws[0] * weights]

    def _setup_training(self):
        """Collect the trainable parameters; (re)build the optimizer's state if they changed."""
        self._trainable_params = [p for p in self.parameters() if p.requires_grad]
        built = self.optimizer._params
        if built is None or [id(p) for p in built] != [id(p) for p in self._trainable_params]:
            self.optimizer.build(self._trainable_params)

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
            shuffle: shuffle array data every epoch. class_weight: ``{class: weight}``.
            sample_weight: per-sample weights (array, or list/dict per output).
            initial_epoch: epoch to start counting from. steps_per_epoch: batches per epoch.
            validation_freq: validate every N epochs, or at the epochs in a list (1-based).
        """
        from plait.callbacks import CallbackList, History, ProgbarLogger

        if not self.compiled:
            raise RuntimeError("You must call `compile()` before `fit()`.")
        if not 0 <= validation_split < 1:
            raise ValueError(f"`validation_split` must be in [0, 1). Received: validation_split={validation_split}")
        if validation_split and data_module.is_iterable_source(x):
            raise ValueError("`validation_split` is only supported for arrays, not datasets or generators.")
        self._ensure_built_for(x)
        if validation_split and validation_data is None:
            x, y, sample_weight, validation_data = _split(self, x, y, sample_weight, validation_split)
        train, _ = self._make_batches(x, y, sample_weight, batch_size, shuffle, steps_per_epoch, class_weight)
        val = None
        if validation_data is not None:
            val = self._validation_batches(validation_data, validation_batch_size or batch_size, validation_steps)
        steps = steps_per_epoch or len(train)
        verbose = 1 if verbose == "auto" else verbose
        self.history = History()
        cbs = list(callbacks or [])
        progbar = ProgbarLogger(verbose) if verbose else None
        # As in Keras: the user's callbacks first (they may add to the logs), then the progress
        # bar and History.
        cbs = cbs + ([progbar] if progbar else []) + [self.history]
        callback_list = CallbackList(cbs, self, {"epochs": epochs, "steps": steps, "verbose": verbose})
        self.stop_training = False
        device = self._device()
        self._setup_training()
        self._jit.plan((epochs - initial_epoch) * steps if steps else None)
        custom_step = type(self).train_step is not Trainer.train_step
        per_execution = 1 if custom_step else self.steps_per_execution
        callback_list.on_train_begin()
        logs = {}
        for epoch in range(initial_epoch, epochs):
            self.reset_metrics()
            callback_list.on_epoch_begin(epoch)
            self.train()
            step, chunk = 0, []
            for step, batch in enumerate(_with_last(train), start=1):
                batch, is_last = batch
                batch = self._to_device(batch, device)
                if not self._step_ready:
                    self._prepare_step(batch[1])
                    self.reset_metrics()
                chunk.append(batch)
                is_last = is_last or bool(steps_per_epoch and step >= steps_per_epoch)
                if len(chunk) < per_execution and not is_last:
                    continue
                # One execution: its batches, then the batch callbacks and the progress bar once
                # (Keras's steps_per_execution).
                if "on_train_batch_begin" in callback_list.batch_hooks:
                    callback_list.on_train_batch_begin(step - 1)
                result = self.train_step(chunk[0]) if custom_step else self._train_batches(chunk)
                chunk = []
                live = (lambda r=result: r) if (custom_step and isinstance(result, dict)) else self.get_metrics_result
                if "on_train_batch_end" in callback_list.batch_hooks:
                    callback_list.on_train_batch_end(step - 1, live())
                if progbar:
                    progbar.update(step, live)
                if self.stop_training or is_last:
                    break
            self.eval()
            logs = live() if step else {}
            logs.update(self._balancer_epoch_end() if step else {})
            if val is not None and _should_validate(epoch, validation_freq):
                val_logs = self._run_evaluation(val, callback_list=None)
                logs.update({f"val_{k}": v for k, v in val_logs.items()})
            if progbar:
                progbar.bar_step = step
            callback_list.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        self.eval()
        callback_list.on_train_end(logs)
        return self.history

    def _balancer_epoch_end(self):
        """Give the balancer the epoch's mean losses; ``{<output>_loss_weight: w}`` for the logs
        when the weights are adaptive or were changed (fixed, unchanged weights are not logged,
        as in Keras)."""
        balancer = self._balancer
        if balancer.adaptive:
            balancer.on_epoch_end(torch.stack([self._head_trackers[i].result().float() for i in self._loss_heads]))
        if len(self._loss_heads) < 2 or not (balancer.adaptive or balancer.changed):
            return {}
        return {f"{name}_loss_weight": w for name, w in balancer.epoch_weights().items()}

    def _ensure_built_for(self, x):
        ensure = getattr(self, "_ensure_graph", None)
        if ensure is not None and not ensure() and x is not None and not data_module.is_iterable_source(x):
            sample = x[0] if isinstance(x, (list, tuple)) else x
            self(sample[:1] if hasattr(sample, "__getitem__") else sample)

    def _validation_batches(self, validation_data, batch_size, steps):
        if data_module.is_iterable_source(validation_data):
            return data_module.IterableBatches(self, validation_data, steps)
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError("`validation_data` must be (x_val, y_val) or (x_val, y_val, sample_weight), or a dataset.")
        vx, vy = validation_data[0], validation_data[1]
        vsw = validation_data[2] if len(validation_data) == 3 else None
        batches, _ = self._make_batches(vx, vy, vsw, batch_size, False, steps)
        return batches

    def _run_evaluation(self, batches, callback_list):
        self.eval()
        self.reset_metrics()
        device = self._device()
        for step, batch in enumerate(batches):
            batch = self._to_device(batch, device)
            if not self._step_ready:
                self._prepare_step(batch[1])
            if callback_list is not None:
                callback_list.on_test_batch_begin(step)
            self.test_step(batch)
            if callback_list is not None:
                callback_list.on_test_batch_end(step, None)
        return self.get_metrics_result()

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
        """Loss and metrics on data; a scalar (only the loss), a list, or a dict with ``return_dict``."""
        from plait.callbacks import CallbackList

        if not self.compiled:
            raise RuntimeError("You must call `compile()` before `evaluate()`.")
        self._ensure_built_for(x)
        batches, _ = self._make_batches(x, y, sample_weight, batch_size, False, steps)
        callback_list = CallbackList(callbacks or [], self, {"steps": steps})
        callback_list.on_test_begin()
        logs = self._run_evaluation(batches, callback_list)
        callback_list.on_test_end(logs)
        if verbose:
            from plait.training.progbar import Progbar

            total = len(batches) if len(batches) is not None else 0
            Progbar(total, verbose=1 if verbose == "auto" else verbose).update(total, logs, finalize=True)
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Outputs for ``x`` as numpy arrays (a list, or a dict, for several outputs)."""
        self._ensure_built_for(x)
        self.eval()
        if data_module.is_iterable_source(x):
            batches = data_module.IterableBatches(self, x, steps)
        else:
            xs = data_module.structure_inputs(self, x)
            batches = data_module.ArrayBatches(xs, [None], [None], batch_size or 32, False)
        device = self._device()
        chunks = []
        for step, batch in enumerate(batches):
            xs = [t.to(device) for t in batch[0]]
            out = self.predict_step(xs)
            chunks.append(out)
            if steps is not None and step + 1 >= steps:
                break
        return _concat_outputs(chunks)

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One training step on one batch; returns the loss (and metrics) like ``evaluate``."""
        if not self.compiled:
            raise RuntimeError("You must call `compile()` before `train_on_batch()`.")
        self._ensure_built_for(x)
        batches, n = self._make_batches(x, y, sample_weight, None, False, None, class_weight)
        batches.batch_size = n
        batch = self._to_device(next(iter(batches)), self._device())
        if not self._step_ready:
            self._prepare_step(batch[1])
        self._setup_training()
        self.reset_metrics()
        self.train()
        try:
            self.train_step(batch)
        finally:
            self.eval()
        return self._batch_result(return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """Loss (and metrics) on one batch, without updating weights."""
        self._ensure_built_for(x)
        batches, n = self._make_batches(x, y, sample_weight, None, False, None)
        batches.batch_size = n
        batch = self._to_device(next(iter(batches)), self._device())
        if not self._step_ready:
            self._prepare_step(batch[1])
        self.reset_metrics()
        self.eval()
        self.test_step(batch)
        return self._batch_result(return_dict)

    def predict_on_batch(self, x):
        """Outputs for one batch, as numpy."""
        return self.predict(x, batch_size=len(data_module.structure_inputs(self, x)[0]))

    def save(self, filepath, overwrite=True):
        """Write the whole model (architecture, weights, optimizer state) to one safe file;
        read it back with ``plait.models.load_model``."""
        from plait.saving import save_model

        save_model(self, filepath, overwrite)

    def save_weights(self, filepath, overwrite=True):
        """Write all weights to a safetensors file (atomically: a crash keeps the old file)."""
        import os

        from plait.training.weights_io import save_weights

        if not overwrite and os.path.exists(filepath):
            raise FileExistsError(f"'{filepath}' exists and overwrite=False.")
        save_weights(self, filepath)

    def load_weights(self, filepath, skip_mismatch=False):
        """Read weights written by ``save_weights`` (by name, else by position; ``skip_mismatch``
        skips misfits), or a Keras ``.weights.h5`` file."""
        from plait.training.weights_io import load_weights

        if str(filepath).endswith(".h5"):  # Keras's .weights.h5
            from plait.saving.keras_file import load_keras_weights_file

            return load_keras_weights_file(self, filepath)
        load_weights(self, filepath, skip_mismatch)

    def _batch_result(self, return_dict):
        logs = self.get_metrics_result()
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values


def _check_target(head, y, pred_shape):
    loss = head.loss
    if isinstance(loss, losses_module.CategoricalCrossentropy):
        if pred_shape[-1] not in (None, 1) and (y.dim() < len(pred_shape) or y.shape[-1] != pred_shape[-1]):
            raise ValueError(
                f"Output '{head.name}' has shape {pred_shape} but its targets have shape "
                f"{tuple(y.shape)}: categorical_crossentropy expects one-hot targets. For integer class "
                "labels use loss='sparse_categorical_crossentropy', or one-hot encode them with "
                "plait.utils.to_categorical."
            )
    elif isinstance(loss, losses_module.SparseCategoricalCrossentropy):
        if y.is_floating_point() and y.dim() == len(pred_shape) and y.shape[-1] == pred_shape[-1] and y.shape[-1] > 1:
            raise ValueError(
                f"Output '{head.name}' got one-hot targets of shape {tuple(y.shape)}, but "
                "sparse_categorical_crossentropy expects integer class labels. Use "
                "loss='categorical_crossentropy', or pass labels with y.argmax(-1)."
            )
    elif pred_shape[-1] is not None and y.dim() == len(pred_shape) and y.shape[-1] not in (1, pred_shape[-1]):
        raise ValueError(f"Output '{head.name}' has shape {pred_shape}, but its targets have shape {tuple(y.shape)}.")


def _with_last(iterable):
    """``(item, is_last)`` pairs: the last item of an epoch flushes a partial execution."""
    iterator = iter(iterable)
    try:
        item = next(iterator)
    except StopIteration:
        return
    for following in iterator:
        yield item, False
        item = following
    yield item, True


def _should_validate(epoch, freq):
    if isinstance(freq, int):
        return (epoch + 1) % freq == 0
    return (epoch + 1) in freq


def _split(model, x, y, sample_weight, fraction):
    """Keras's validation_split: the last ``fraction`` of the samples, before shuffling."""
    xs = data_module.structure_inputs(model, x)
    ys = data_module.structure_targets(model, y)
    sws = data_module.structure_sample_weights(model, sample_weight)
    n = data_module.check_sample_counts(xs, ys, sws, model.input_names, model.output_names)
    cut = int(n * (1 - fraction))
    if cut == 0 or cut == n:
        raise ValueError(f"validation_split={fraction} leaves no training or no validation samples of {n}.")
    head = lambda ts: [None if t is None else t[:cut] for t in ts]  # noqa: E731
    tail = lambda ts: [None if t is None else t[cut:] for t in ts]  # noqa: E731
    sw_train = None if all(t is None for t in sws) else head(sws)
    sw_val = None if all(t is None for t in sws) else tail(sws)
    val = (tail(xs), tail(ys)) + ((sw_val,) if sw_val is not None else ())
    return head(xs), head(ys), sw_train, val


def _concat_outputs(chunks):
    chunks = nest.map_structure(lambda t: t.float() if t.dtype == torch.bfloat16 else t, chunks)  # numpy has no bf16
    first = chunks[0]
    if isinstance(first, dict):
        return {k: torch.cat([c[k] for c in chunks]).cpu().numpy() for k in first}
    if isinstance(first, (list, tuple)):
        return [torch.cat([c[i] for c in chunks]).cpu().numpy() for i in range(len(first))]
    return torch.cat(chunks).cpu().numpy() if chunks else np.zeros((0,))
