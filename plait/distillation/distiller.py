"""``Distiller``: a model that trains a student on its labels and on a frozen teacher's outputs."""

import numbers
import warnings

import torch

from plait import metrics as metrics_module
from plait import tree
from plait.distillation import losses as distillation_losses_module
from plait.layers.serialization import register_builtin_classes
from plait.models import Model
from plait.saving import deserialize_keras_object, serialize_keras_object
from plait.utils.custom_objects import CustomObjectScope, registered_name

_FINAL = "final_output"  # the key of a model's own output among the extracted features


class Distiller(Model):
    """Knowledge distillation (Keras 3's ``keras.distillation.Distiller``).

    The teacher is frozen (``trainable = False``) and runs in inference mode; the student
    learns from the labels and from the teacher. Per batch, with ``w = student_loss_weight``:

    ``total = w * student_loss + (1 - w) * sum_k(weight_k * distillation_loss_k)``

    where ``student_loss`` is the ``loss`` given to ``compile`` (averaged to a scalar; sample
    weights are not used, as in Keras) and each distillation loss compares the teacher's and the
    student's outputs or intermediate features. ``fit``/``evaluate`` log ``loss`` and the three
    trackers ``student_loss``, ``distillation_loss`` and ``total_loss`` (means over the batches);
    ``predict`` and ``distiller(x)`` return the student's outputs.

    Args:
        teacher: a trained ``plait.Model``.
        student: the ``plait.Model`` to train; it must take the teacher's inputs and give
            outputs of the teacher's shapes and dtypes.
        distillation_losses: a :class:`DistillationLoss` or a list of them.
        distillation_loss_weights: one weight per distillation loss (default 1.0 each; ignored,
            as in Keras, when a single loss is given without a list).
        student_loss_weight: ``w`` above, in [0, 1] (default 0.5). With 1.0 the teacher is not
            run; with 0.0 the labels are not used.
        name: the model's name (default ``"distiller"``).

    Attributes:
        teacher, student: the two models; ``distiller.student`` is the trained model to keep.

    Example:
        >>> import numpy as np, plait
        >>> def mlp(units):
        ...     inputs = plait.Input((4,))
        ...     hidden = plait.layers.Dense(units, activation="relu", name="hidden")(inputs)
        ...     return plait.Model(inputs, plait.layers.Dense(3)(hidden))
        >>> distiller = plait.distillation.Distiller(
        ...     teacher=mlp(16), student=mlp(4),
        ...     distillation_losses=plait.distillation.LogitsDistillation(temperature=3.0))
        >>> distiller.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        >>> x, y = np.random.rand(8, 4).astype("float32"), np.arange(8) % 3
        >>> sorted(distiller.fit(x, y, epochs=1, verbose=0).history)
        ['distillation_loss', 'loss', 'student_loss', 'total_loss']
    """

    def __init__(
        self,
        teacher,
        student,
        distillation_losses,
        distillation_loss_weights=None,
        student_loss_weight=0.5,
        name="distiller",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        _check_models(teacher, student)
        self.teacher = teacher
        self.student = student
        if isinstance(student_loss_weight, bool) or not isinstance(student_loss_weight, numbers.Real):
            raise ValueError(
                "Distiller: `student_loss_weight` must be a number. "
                f"Received: student_loss_weight={student_loss_weight!r}"
            )
        if not 0.0 <= student_loss_weight <= 1.0:
            raise ValueError(
                "Distiller: `student_loss_weight` must be between 0.0 and 1.0. "
                f"Received: student_loss_weight={student_loss_weight!r}"
            )
        self.student_loss_weight = student_loss_weight
        self.distillation_losses, self.distillation_loss_weights = _losses_and_weights(
            distillation_losses, distillation_loss_weights
        )
        for loss in self.distillation_losses:
            loss.validate_model_compatibility(teacher, student)
        # Kept out of the module tree: the extractors share the models' layers, which the
        # distiller already holds through `teacher` and `student`.
        self.__dict__["_extractors"] = {
            "teacher": _feature_extractor(
                teacher, [getattr(loss, "teacher_layer_name", None) for loss in self.distillation_losses]
            ),
            "student": _feature_extractor(
                student, [getattr(loss, "student_layer_name", None) for loss in self.distillation_losses]
            ),
        }
        self.teacher.trainable = False
        self.student_loss_tracker = metrics_module.Mean(name="student_loss")
        self.distillation_loss_tracker = metrics_module.Mean(name="distillation_loss")
        self.total_loss_tracker = metrics_module.Mean(name="total_loss")

    # ------------------------------------------------------------------ training
    def compile(self, optimizer="adam", loss=None, metrics=None, **kwargs):
        """Set the optimizer, the student's supervised ``loss`` (required: a name, loss object
        or function, or a structure of them matching the student's outputs) and ``metrics`` (a
        list or tuple, computed on the student's outputs); other arguments go to
        ``Model.compile``."""
        if loss is None:
            raise ValueError("Distiller.compile: `loss` (the student's loss on the labels) cannot be None.")
        if metrics is not None and not isinstance(metrics, (list, tuple)):
            raise ValueError(
                f"Distiller.compile: `metrics` must be a list or tuple. Received: {type(metrics).__name__}"
            )
        self._student_loss = tree.map_structure(
            lambda entry: distillation_losses_module._resolve_loss(entry, "Distiller.compile"), loss
        )
        self._student_loss_given = loss
        super().compile(optimizer=optimizer, loss=None, metrics=metrics, **kwargs)

    def get_compile_config(self):
        """``compile``'s arguments, with the student's ``loss`` (which Keras leaves out of its
        file, so that a Keras distiller is loaded uncompiled); a loaded file compiles again."""
        config = super().get_compile_config()
        if config is not None:
            config["loss"] = self.__dict__.get("_student_loss_given")
        return config

    def compile_from_config(self, config):
        """Compile from a file's compile config; a config without the student's loss (as Keras
        writes it) leaves the distiller uncompiled, with a warning, as Keras does."""
        if config.get("loss") is None:
            warnings.warn(
                f"Distiller '{self.name}' was loaded uncompiled: the file holds no student loss. "
                "Call `compile(optimizer=..., loss=...)` before training it again.",
                stacklevel=2,
            )
            return
        super().compile_from_config(config)

    @property
    def output_names(self):
        """The student's output names (where ``fit`` sends the targets)."""
        return list(self.student.output_names)

    def call(self, inputs, training=None, **kwargs):
        """The student's outputs."""
        return self.student(inputs, training=training, **kwargs)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The distillation objective of a batch (see the class); also updates the trackers."""
        if y_pred is None:
            y_pred = self(x, training=training)
        student_loss = 0.0
        if self.student_loss_weight > 0.0 and y is not None:
            student_loss = self._student_term(y, y_pred)
        distillation_loss = 0.0
        if self.student_loss_weight < 1.0:
            distillation_loss = self._distillation_term(x, y_pred)
        w = self.student_loss_weight
        total = w * student_loss + (1.0 - w) * distillation_loss
        if not isinstance(total, torch.Tensor):
            total = torch.tensor(float(total))
        for tracker, value in (
            (self.student_loss_tracker, student_loss),
            (self.distillation_loss_tracker, distillation_loss),
            (self.total_loss_tracker, total),
        ):
            tracker.update_state(value.detach() if isinstance(value, torch.Tensor) else value)
        return total

    def _student_term(self, y, y_pred):
        if not hasattr(self, "_student_loss"):
            raise RuntimeError("Distiller: call `compile()` before computing the loss.")
        values = tree.flatten(
            tree.map_structure(lambda fn, target, pred: fn(target, pred), self._student_loss, y, y_pred)
        )
        loss = values[0] if len(values) == 1 else distillation_losses_module._scalar_sum(values)
        return torch.mean(loss) if loss.dim() > 0 else loss

    def _distillation_term(self, x, y_pred):
        teacher_features = self._features("teacher", x, training=False, own_output=None)
        # As Keras: the student's extractor runs in training mode (a second forward pass).
        student_features = self._features("student", x, training=True, own_output=y_pred)
        total = 0.0
        for loss, weight in zip(self.distillation_losses, self.distillation_loss_weights):
            if getattr(loss, "teacher_layer_name", None) is not None:
                teacher_out = _pick(teacher_features, loss.teacher_layer_name, loss, "teacher")
                student_out = _pick(student_features, loss.student_layer_name or _FINAL, loss, "student")
            else:
                teacher_out, student_out = teacher_features[_FINAL], y_pred
            loss.validate_outputs(teacher_out, student_out)
            value = loss.compute_loss(teacher_out, student_out)
            if isinstance(value, torch.Tensor) and value.dim() > 0:
                raise ValueError(
                    f"Distiller: {type(loss).__name__}.compute_loss returned a loss of shape {tuple(value.shape)}; "
                    "it must return a scalar."
                )
            total = total + weight * value
        return total

    def _features(self, role, x, training, own_output):
        extractor = self._extractors[role]
        if extractor is not None:
            return extractor(x, training=training)
        model = self.teacher if role == "teacher" else self.student
        return {_FINAL: model(x, training=training) if own_output is None else own_output}

    # ------------------------------------------------------------------ configs
    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "teacher": serialize_keras_object(self.teacher),
                "student": serialize_keras_object(self.student),
                "distillation_losses": [_serialize_distillation_loss(loss) for loss in self.distillation_losses],
                "distillation_loss_weights": list(self.distillation_loss_weights),
                "student_loss_weight": self.student_loss_weight,
            }
        )
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        with CustomObjectScope(custom_objects or {}):
            for key in ("teacher", "student"):
                if isinstance(config.get(key), dict):
                    config[key] = deserialize_keras_object(config[key])
            with CustomObjectScope(_OWN_LOSSES):
                config["distillation_losses"] = [
                    deserialize_keras_object(loss) if isinstance(loss, dict) else loss
                    for loss in config["distillation_losses"]
                ]
            return cls(**config)


_OWN_LOSSES = {
    "DistillationLoss": distillation_losses_module.DistillationLoss,
    "LogitsDistillation": distillation_losses_module.LogitsDistillation,
    "FeatureDistillation": distillation_losses_module.FeatureDistillation,
}


def _serialize_distillation_loss(loss):
    """A distillation loss as Keras's ``serialize_keras_object`` writes it."""
    registered = registered_name(type(loss))
    own = _OWN_LOSSES.get(type(loss).__name__) is type(loss)
    return {
        "module": "keras.distillation" if own else type(loss).__module__,
        "class_name": type(loss).__name__,
        "config": loss.get_config(),
        "registered_name": registered if registered is not None else (None if own else type(loss).__name__),
    }


def _check_models(teacher, student):
    """The teacher and the student must be plait models taking the same inputs and giving
    outputs of the same shapes and dtypes (checked where both have a graph)."""
    for role, model in (("teacher", teacher), ("student", student)):
        if not isinstance(model, Model):
            raise ValueError(f"Distiller: the {role} must be a plait.Model. Received: {type(model).__name__}")
    if not (teacher.has_graph and student.has_graph):
        return
    for kind in ("input", "output"):
        mine, theirs = getattr(teacher, f"{kind}s"), getattr(student, f"{kind}s")
        if len(mine) != len(theirs):
            raise ValueError(
                f"Distiller: the teacher has {len(mine)} {kind}(s) and the student {len(theirs)}; they must match."
            )
        for t, s in zip(mine, theirs):
            compatible = len(t.shape) == len(s.shape) and all(
                a is None or b is None or a == b for a, b in zip(t.shape, s.shape)
            )
            if not compatible:
                raise ValueError(
                    f"Distiller: the teacher's and the student's {kind} shapes are incompatible. "
                    f"Teacher: {t.shape}, student: {s.shape}. All dimensions must match."
                )
            if t.dtype != s.dtype:
                raise ValueError(
                    f"Distiller: the teacher's and the student's {kind} dtypes must match. "
                    f"Teacher: {t.dtype}, student: {s.dtype}."
                )


def _losses_and_weights(losses, weights):
    if losses is None:
        raise ValueError(
            "Distiller: `distillation_losses` cannot be None. Give a distillation loss (e.g. LogitsDistillation "
            "or FeatureDistillation) or a list of them."
        )
    if not isinstance(losses, (list, tuple)):
        losses, weights = [losses], [1.0]  # as Keras: a single loss always weighs 1.0
    else:
        losses = list(losses)
        if weights is None:
            weights = [1.0] * len(losses)
        elif len(weights) != len(losses):
            raise ValueError(
                f"Distiller: `distillation_loss_weights` has {len(weights)} entries but there are {len(losses)} "
                "distillation losses; give one weight per loss."
            )
    for loss in losses:
        if not isinstance(loss, distillation_losses_module.DistillationLoss):
            raise TypeError(
                "Distiller: every distillation loss must be a plait.distillation.DistillationLoss "
                f"(LogitsDistillation, FeatureDistillation or a subclass). Received: {type(loss).__name__}"
            )
    return losses, list(weights)


def _feature_extractor(model, layer_names):
    """A functional model returning ``{"final_output": ..., layer name: layer output}``, or None
    when no layer is named (the model's own call then gives its output)."""
    names = list(dict.fromkeys(name for name in layer_names if name))
    if not names:
        return None
    outputs = {_FINAL: model.output}
    for name in names:
        outputs[name] = model.get_layer(name=name).output
    return Model(inputs=model.inputs, outputs=outputs, name=f"{model.name}_multi_feature_extractor")


def _pick(features, name, loss, role):
    if name not in features:
        raise ValueError(
            f"Distiller: {type(loss).__name__} asks for the {role} features '{name}', which were not extracted. "
            f"Available: {list(features)}"
        )
    return features[name]


register_builtin_classes({"Distiller": Distiller})
