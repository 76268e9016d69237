"""What ``compile`` resolves for each output of a model: its loss, its metrics, its log names.

One :class:`OutputHead` per output holds the loss, the (unweighted) ``metrics`` and the
``weighted_metrics``, the tracker of its loss (``"<output>_loss"`` on multi-output models) and,
when the output layer ends in softmax/sigmoid and its loss is the matching cross-entropy, the
logits form of that loss. :class:`CompileMetrics` gathers the heads' metrics into Keras's
``compile_metrics`` entry of ``model.metrics``: one metric whose ``result()`` is a dict.

Metrics that depend on the targets' shapes (``"accuracy"`` becomes binary, categorical or
sparse categorical accuracy) are resolved from the first batch, as Keras does.
"""

import copy

from plait import activations
from plait import losses as losses_module
from plait import metrics as metrics_module


class OutputHead:
    """One output's loss and metrics.

    Args:
        name: the output's name (the log prefix on multi-output models).
        loss: a ``plait.losses.Loss`` or None (the output is not trained).
        metric_specs: what ``metrics`` named for this output (unweighted, as Keras's).
        weighted_specs: what ``weighted_metrics`` named (they take sample weights).
    """

    def __init__(self, name, loss, metric_specs=(), weighted_specs=()):
        self.name, self.loss = name, loss
        self.metric_specs, self.weighted_specs = list(metric_specs), list(weighted_specs)
        self.metrics, self.weighted_metrics = [], []
        self.tracker = None  # Mean of this output's loss, on multi-output models
        self.logits_activation = None  # set when the step feeds this loss logits
        self.train_loss = loss

    def resolve(self, y, pred_shape):
        """Build the metrics for targets ``y`` (a tensor or None) and predictions of shape
        ``pred_shape`` (a tuple, None where unknown)."""
        if self.loss is not None and y is not None and pred_shape is not None:
            check_target(self, y, pred_shape)
        self.metrics = [resolve_metric(m, self.loss, y, pred_shape) for m in self.metric_specs]
        self.weighted_metrics = [resolve_metric(m, self.loss, y, pred_shape) for m in self.weighted_specs]

    def use_logits(self, activation):
        """Train on the output layer's logits: the loss in its logits form, metrics after
        ``activation``."""
        self.logits_activation = activation
        self.train_loss = self.loss.with_logits()

    def fuses_with(self, activation):
        """Whether this head's loss has a logits form for an output ending in ``activation``."""
        loss = self.loss
        if loss is None or loss.from_logits:
            return False
        categorical = (losses_module.CategoricalCrossentropy, losses_module.SparseCategoricalCrossentropy)
        return (isinstance(loss, categorical) and activation is activations.softmax) or (
            isinstance(loss, losses_module.BinaryCrossentropy) and activation is activations.sigmoid
        )

    def __repr__(self):
        return f"OutputHead({self.name!r}, loss={self.loss!r}, metrics={self.metric_specs!r})"


def build_heads(model_name, names, loss, metrics, weighted_metrics):
    """The heads of a model with outputs ``names`` for ``compile``'s arguments."""
    losses = per_output(model_name, loss, "loss", names)
    plain = per_output_metrics(model_name, metrics, names, "metrics")
    weighted = per_output_metrics(model_name, weighted_metrics, names, "weighted_metrics")
    for spec in (m for specs in plain + weighted for m in specs):
        if not _is_accuracy(spec):
            metrics_module.get(spec)  # fail now, not at the first step, on an unknown name
    heads = [
        OutputHead(n, None if loss_ is None else losses_module.resolve(loss_), m, w)
        for n, loss_, m, w in zip(names, losses, plain, weighted)
    ]
    if loss is not None and all(h.loss is None for h in heads):
        raise ValueError(f"No loss was given for any output of model '{model_name}'. Outputs: {names}")
    if len([h for h in heads if h.loss is not None]) > 1:
        for h in heads:
            if h.loss is not None:
                h.tracker = metrics_module.Mean(name=f"{h.name}_loss")
    return heads


def per_output(model_name, value, what, names, default=None):
    """``value`` given for all outputs, as a list (one entry per output in ``names``)."""
    if isinstance(value, dict):
        unknown = [k for k in value if k not in names]
        if unknown:
            raise ValueError(
                f"`{what}` names {unknown}, which match no output of model '{model_name}'. Valid output names: {names}"
            )
        return [value.get(n, default) for n in names]
    if isinstance(value, (list, tuple)):
        if len(value) != len(names):
            raise ValueError(
                f"`{what}` is a list of {len(value)} entries, but model '{model_name}' has "
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


def per_output_metrics(model_name, metrics, names, what="metrics"):
    """``metrics`` (one list for all outputs, a list of lists, or a dict) as one list per output."""
    if metrics is None:
        return [[] for _ in names]
    if isinstance(metrics, dict):
        per = per_output(model_name, metrics, what, names)
        return [[] if m is None else (list(m) if isinstance(m, (list, tuple)) else [m]) for m in per]
    if (
        isinstance(metrics, (list, tuple))
        and len(names) > 1
        and metrics
        and all(isinstance(m, (list, tuple)) or m is None for m in metrics)
    ):
        per = per_output(model_name, list(metrics), what, names)
        return [[] if m is None else list(m) for m in per]
    if not isinstance(metrics, (list, tuple)):
        raise TypeError(
            f"`{what}` must be a list or a dict of metrics. "
            f"Received: {what}={metrics!r} of type {type(metrics).__name__}"
        )
    return [list(metrics) for _ in names]


def _is_accuracy(spec):
    return isinstance(spec, str) and spec.lower() in ("acc", "accuracy")


def resolve_metric(spec, loss, y, pred_shape):
    """A metric object for ``spec``; ``"accuracy"`` picks binary / categorical / sparse
    categorical accuracy from the shapes, as Keras does. A metric object the user passed is
    copied, so that one object given for two outputs keeps two states."""
    if _is_accuracy(spec):
        y_rank = y.dim() if y is not None else len(pred_shape)
        y_last = y.shape[-1] if y is not None and y.dim() else None
        is_binary = pred_shape[-1] == 1
        is_sparse = y_rank < len(pred_shape) or (y_last == 1 and pred_shape[-1] not in (1, None))
        if isinstance(loss, losses_module.SparseCategoricalCrossentropy):
            is_sparse = True
        if is_binary:
            return metrics_module.BinaryAccuracy(name=spec)
        if is_sparse:
            return metrics_module.SparseCategoricalAccuracy(name=spec)
        return metrics_module.CategoricalAccuracy(name=spec)
    metric = metrics_module.get(spec)
    if metric is spec:
        metric = copy.deepcopy(spec)
    if isinstance(spec, str):
        metric.name = spec
    return metric


def check_target(head, y, pred_shape):
    """A clear error for targets that cannot fit the output's loss."""
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
    elif pred_shape[-1] not in (None, 1) and y.dim() == len(pred_shape) and y.shape[-1] not in (1, pred_shape[-1]):
        # (An output of size 1 broadcasts against wider targets: Keras computes that loss.)
        raise ValueError(f"Output '{head.name}' has shape {pred_shape}, but its targets have shape {tuple(y.shape)}.")


class CompileMetrics(metrics_module.Metric):
    """The metrics given to ``compile``, as one entry of ``model.metrics`` (Keras's
    ``compile_metrics``): ``update_state(y, y_pred, sample_weight)`` updates all of them and
    ``result()`` is a dict keyed by Keras's log names (``"mae"``; ``"<output>_mae"`` on
    multi-output models; ``"weighted_<name>"`` when a weighted metric repeats a name).

    Args:
        heads: the model's :class:`OutputHead` list.
        output_names: how ``y``/``y_pred`` dicts are keyed.
    """

    def __init__(self, heads, output_names):
        self.heads, self.output_names = heads, list(output_names)
        self.built = False
        super().__init__(name="compile_metrics")

    @property
    def metrics(self):
        """The metric objects, unweighted first (empty before the first batch)."""
        return [m for h in self.heads for m in h.metrics] + [m for h in self.heads for m in h.weighted_metrics]

    def build(self, ys, pred_shapes):
        for head, y, shape in zip(self.heads, ys, pred_shapes):
            head.resolve(y, shape)
        self.built = True

    def reset_state(self):
        for m in getattr(self, "heads", None) and self.metrics or ():
            m.reset_state()

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Keras's form: ``y_true``/``y_pred``/``sample_weight`` as one tensor, a list in output
        order or a dict by output name (predictions on probabilities, as the model returns)."""
        names = self.output_names
        ys, preds = per_output_values(y_true, names), per_output_values(y_pred, names)
        sws = per_output_values(sample_weight, names) if sample_weight is not None else [None] * len(ys)
        if len(sws) < len(ys):  # one weight array for every output, as Keras repeats it
            sws = [sws[0]] * len(ys)
        if not self.built:
            self.build(ys, [tuple(p.shape) for p in preds])
        self.update_flat(ys, preds, sws)

    def update_flat(self, ys, preds, sws, masks=None):
        """Update from lists in output order; ``masks`` (or None) weigh sequence outputs."""
        for i, head in enumerate(self.heads):
            y = ys[i]
            if y is None or not (head.metrics or head.weighted_metrics):
                continue
            pred = preds[i].detach()
            mask = masks[i] if masks is not None else None
            for m in head.metrics:
                m.update_state(y, pred, _mask_weight(None, mask))
            for m in head.weighted_metrics:
                m.update_state(y, pred, _mask_weight(sws[i], mask))

    def result(self):
        # Keras's naming: a repeated name gets "_1", "_2", ...; a weighted metric whose name is
        # taken becomes "weighted_<name>".
        prefix = (lambda head: f"{head.name}_") if len(self.heads) > 1 else (lambda head: "")
        results, counts = {}, {}

        def unique(name):
            if name not in counts:
                counts[name] = 1
                return name
            counts[name] += 1
            return f"{name}_{counts[name] - 1}"

        for head in self.heads:
            for m in head.metrics:
                results[unique(prefix(head) + m.name)] = m.result()
        for head in self.heads:
            for m in head.weighted_metrics:
                name = prefix(head) + m.name
                results[unique(name if name not in counts else prefix(head) + "weighted_" + m.name)] = m.result()
        return results


def per_output_values(values, names):
    """Targets, predictions or sample weights as a list in output order: a dict by output name
    (missing outputs None), a list, or one tensor for a single output; None stays None."""
    if values is None:
        return None
    if isinstance(values, dict):
        return [values.get(n) for n in names]
    if isinstance(values, (list, tuple)):
        return list(values)
    return [values]


def _mask_weight(weight, mask):
    """Masked steps do not count: Keras weighs metrics by the mask."""
    if mask is None:
        return weight
    if weight is None:
        return mask.float()
    weight = weight.float()
    return weight.reshape(weight.shape + (1,) * (mask.dim() - weight.dim())) * mask
