"""What a :class:`~plait.distillation.Distiller` minimises besides the student's own loss.

A distillation loss compares what the teacher produced with what the student produced for the
same batch: the final outputs (``LogitsDistillation``, ``FeatureDistillation`` without layer
names) or the outputs of two named intermediate layers (``FeatureDistillation`` with layer
names). Each returns one scalar; the distiller weights and sums them.

The loss entries follow Keras 3's rules: a name resolves through :func:`plait.losses.get` (so
``"kl_divergence"`` is the *function*, not the ``KLDivergence`` class), an entry may be a
nested structure matching the outputs, and ``None`` leaves an output out.
"""

import numbers

import torch

from plait import losses as losses_module
from plait import tree


def _resolve_loss(entry, who):
    """One loss entry as Keras's distillation reads it: None, a callable, or a name."""
    if entry is None or callable(entry):
        return entry
    if isinstance(entry, str):
        try:
            return losses_module.get(entry)
        except ValueError as error:
            raise ValueError(f"{who}: unknown loss function '{entry}'. ({error})") from None
    raise TypeError(f"{who}: a loss must be a name, a loss object or function, or None. Received: {entry!r}")


def _resolve_losses(loss, who):
    resolved = tree.map_structure(lambda entry: _resolve_loss(entry, who), loss)
    if all(entry is None for entry in tree.flatten(resolved)):
        raise ValueError(f"{who}: `loss` must hold at least one loss that is not None. Received: loss={loss!r}")
    return resolved


def _serialize_losses(loss):
    return tree.map_structure(lambda entry: None if entry is None else losses_module.serialize(entry), loss)


def _deserialize_losses(config):
    # A serialized loss is a dict with "class_name"; anything else is a container of them.
    if config is None:
        return None
    if isinstance(config, dict) and "class_name" in config:
        return losses_module.deserialize(config)
    if isinstance(config, dict):
        return {key: _deserialize_losses(value) for key, value in config.items()}
    if isinstance(config, (list, tuple)):
        return type(config)(_deserialize_losses(value) for value in config)
    return losses_module.get(config)


def _scalar_sum(values):
    """The sum of per-output losses (plain 0.0 where an output has no loss) as one tensor."""
    tensors = [v for v in values if isinstance(v, torch.Tensor)]
    total = sum(v for v in values if not isinstance(v, torch.Tensor))
    for value in tensors:
        total = value + total
    return total if tensors else torch.tensor(float(total))


def _check_structure(loss, teacher_outputs, student_outputs, who):
    try:
        tree.assert_same_structure(teacher_outputs, student_outputs)
    except ValueError as error:
        raise ValueError(f"{who}: the teacher's and the student's outputs differ in structure: {error}") from None
    try:
        tree.assert_same_structure(loss, teacher_outputs)
    except ValueError as error:
        raise ValueError(
            f"{who}: the structure of `loss` does not match the outputs' (one loss, or None, per output). "
            f"Received: loss={loss!r}; {error}"
        ) from None


class DistillationLoss:
    """Base class of distillation losses: subclass it and define :meth:`compute_loss`.

    Example:
        >>> import torch, plait
        >>> class L1Distillation(plait.distillation.DistillationLoss):
        ...     def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        ...         return torch.mean(torch.abs(teacher_outputs - student_outputs))
        >>> L1Distillation().compute_loss(torch.ones(2, 3), torch.zeros(2, 3))
        tensor(1.)
    """

    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        """The scalar loss between the teacher's and the student's outputs (a tensor or a nested
        structure of tensors, as the models return them)."""
        raise NotImplementedError(f"{type(self).__name__} must define compute_loss(teacher_outputs, student_outputs).")

    def validate_outputs(self, teacher_outputs, student_outputs):
        """Raise a ValueError if the two models' outputs cannot be compared (by default: they
        must have the same structure)."""
        try:
            tree.assert_same_structure(teacher_outputs, student_outputs)
        except ValueError as error:
            raise ValueError(
                f"{type(self).__name__}: the teacher's and the student's outputs differ in structure: {error}"
            ) from None

    def validate_model_compatibility(self, teacher, student):
        """Raise a ValueError if this loss cannot work with these two models (the
        :class:`~plait.distillation.Distiller` calls it when it is built). Accepts any by default."""

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items() if key != "loss")
        return f"{type(self).__name__}({args})"


class LogitsDistillation(DistillationLoss):
    """Distil the teacher's final outputs (logits) into the student's, softened by a temperature.

    Both models' outputs are divided by ``temperature``. A ``KLDivergence`` loss *object* then
    compares their softmaxes and is scaled by ``temperature ** 2`` (Hinton et al.); any other
    loss, including the default ``"kl_divergence"`` *function*, is applied to the scaled logits
    themselves, exactly as Keras 3.15 does. Each output's loss is averaged, then the outputs'
    losses are summed.

    Args:
        temperature: a positive number (default 3.0).
        loss: a loss name, object or function, or a nested structure of them (or None to skip
            an output) matching the models' outputs (default ``"kl_divergence"``).

    Shapes:
        teacher and student outputs of the same structure and shapes, e.g. ``(batch, classes)``.

    Example:
        >>> import torch, plait
        >>> kd = plait.distillation.LogitsDistillation(temperature=2.0, loss=plait.losses.KLDivergence())
        >>> float(kd.compute_loss(torch.tensor([[2.0, 0.0]]), torch.tensor([[2.0, 0.0]])))
        0.0
    """

    def __init__(self, temperature=3.0, loss="kl_divergence"):
        who = "LogitsDistillation"
        if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real):
            raise ValueError(f"{who}: `temperature` must be a number. Received: temperature={temperature!r}")
        if temperature <= 0:
            raise ValueError(f"{who}: `temperature` must be positive. Received: temperature={temperature!r}")
        self.temperature = temperature
        self.loss = _resolve_losses(loss, who)

    def _one_output(self, loss_fn, teacher_logits, student_logits):
        if loss_fn is None:
            return 0.0
        if isinstance(loss_fn, losses_module.KLDivergence):
            teacher_probs = torch.softmax(teacher_logits, dim=-1)
            student_probs = torch.softmax(student_logits, dim=-1)
            return torch.mean(loss_fn(teacher_probs, student_probs)) * self.temperature**2
        return torch.mean(loss_fn(teacher_logits, student_logits))

    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        """The scalar loss between the temperature-scaled outputs (see the class)."""
        _check_structure(self.loss, teacher_outputs, student_outputs, "LogitsDistillation")
        scale = lambda logits: logits / self.temperature  # noqa: E731
        values = tree.map_structure(
            self._one_output,
            self.loss,
            tree.map_structure(scale, teacher_outputs),
            tree.map_structure(scale, student_outputs),
        )
        return _scalar_sum(tree.flatten(values))

    def get_config(self):
        return {"temperature": self.temperature, "loss": _serialize_losses(self.loss)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["loss"] = _deserialize_losses(config.get("loss", "kl_divergence"))
        return cls(**config)


class FeatureDistillation(DistillationLoss):
    """Distil what a teacher layer outputs into what a student layer outputs.

    With layer names, the :class:`~plait.distillation.Distiller` reads the outputs of those
    layers (the models must then be functional or Sequential); without, the models' final
    outputs. Each output's loss is averaged, then the outputs' losses are summed.

    Args:
        loss: a loss name, object or function, or a nested structure of them (or None to skip
            an output) matching the features (default ``"mse"``).
        teacher_layer_name: the teacher layer whose output is distilled (default: the output).
        student_layer_name: the student layer whose output learns it (default: the output).

    Shapes:
        teacher and student features of the same structure; the loss decides which shapes it
        accepts (``"mse"`` wants equal shapes).

    Example:
        >>> import torch, plait
        >>> fd = plait.distillation.FeatureDistillation(loss="mae")
        >>> fd.compute_loss(torch.ones(2, 4), torch.zeros(2, 4))
        tensor(1.)
    """

    def __init__(self, loss="mse", teacher_layer_name=None, student_layer_name=None):
        self.teacher_layer_name = teacher_layer_name
        self.student_layer_name = student_layer_name
        self.loss = _resolve_losses(loss, "FeatureDistillation")

    def validate_model_compatibility(self, teacher, student):
        """Layer names need models with a graph, and the named layers must exist."""
        if self.teacher_layer_name is None and self.student_layer_name is None:
            return
        graphless = [role for role, model in (("teacher", teacher), ("student", student)) if not model.has_graph]
        if graphless:
            raise ValueError(
                f"FeatureDistillation with layer names needs functional or Sequential models, but the "
                f"{' and '.join(graphless)} model(s) are subclassed (no graph of layers to read an intermediate "
                "output from). Use functional models, leave the layer names out (to distill the final outputs), "
                "or use LogitsDistillation."
            )
        for role, model, name in (
            ("teacher", teacher, self.teacher_layer_name),
            ("student", student, self.student_layer_name),
        ):
            if name is not None:
                try:
                    model.get_layer(name=name)
                except ValueError as error:
                    raise ValueError(f"FeatureDistillation: in the {role} model '{model.name}': {error}") from None

    def validate_outputs(self, teacher_outputs, student_outputs):
        _check_structure(self.loss, teacher_outputs, student_outputs, "FeatureDistillation")

    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        """The scalar loss between the two models' features."""

        def one(loss_fn, teacher_features, student_features):
            return 0.0 if loss_fn is None else torch.mean(loss_fn(teacher_features, student_features))

        return _scalar_sum(tree.flatten(tree.map_structure(one, self.loss, teacher_outputs, student_outputs)))

    def get_config(self):
        return {
            "loss": _serialize_losses(self.loss),
            "teacher_layer_name": self.teacher_layer_name,
            "student_layer_name": self.student_layer_name,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["loss"] = _deserialize_losses(config.get("loss", "mse"))
        return cls(**config)
