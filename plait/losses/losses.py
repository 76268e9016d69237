"""The built-in ``Loss`` classes (one per loss function), with Keras's constructor signatures, and
the lookups: ``get`` (Keras's), ``resolve`` (always a Loss, for ``compile``), ``serialize`` and
``deserialize``."""

import inspect

from plait.losses.functions import (
    binary_crossentropy,
    binary_focal_crossentropy,
    categorical_crossentropy,
    categorical_focal_crossentropy,
    categorical_generalized_cross_entropy,
    categorical_hinge,
    cosine_similarity,
    hinge,
    huber,
    kl_divergence,
    log_cosh,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    poisson,
    sparse_categorical_crossentropy,
    squared_hinge,
)
from plait.losses.loss import Loss, LossFunctionWrapper
from plait.losses.overlap import circle, dice, tversky
from plait.losses.sequence import ctc
from plait.utils import custom_objects
from plait.utils.registry import by_name, with_class_names

_COMMON = {"reduction": "sum_over_batch_size", "dtype": None}


def _loss_class(name, fn, *params, doc=None):
    """A :class:`Loss` subclass computing ``fn`` whose constructor takes Keras's arguments in
    Keras's order, so positional calls carry over (``Huber(2.0)``, ``Tversky(0.3, 0.7)``).

    ``params``: ``(argument, default)`` pairs for ``fn``'s arguments, and the names
    ``"reduction"``, ``"name"``, ``"dtype"`` where Keras places them (at the end when absent);
    ``"name"`` comes as ``("name", default name)``.
    """
    order = [p if isinstance(p, tuple) else (p, _COMMON[p]) for p in params]
    for common in ("reduction", "name", "dtype"):
        if common not in dict(order):
            order.append((common, _COMMON[common] if common != "name" else fn.__name__))
    signature = inspect.Signature(
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        + [inspect.Parameter(arg, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=d) for arg, d in order]
    )
    fn_args = [arg for arg, _ in order if arg not in ("reduction", "name", "dtype")]

    def __init__(self, *args, **kwargs):
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError as error:
            raise TypeError(f"{type(self).__name__}(): {error}") from None
        bound.apply_defaults()
        given = bound.arguments
        Loss.__init__(self, given["name"], given["reduction"], given["dtype"], **{a: given[a] for a in fn_args})

    __init__.__signature__ = signature
    __init__.__qualname__ = f"{name}.__init__"  # (not a "<locals>" name, which the docs cannot resolve)
    summary = doc or f"The loss of :func:`~plait.losses.{fn.__name__}`, reduced over the batch."
    arguments = ", ".join(f"``{arg}={default!r}``" for arg, default in order)
    namespace = {"fn": staticmethod(fn), "__init__": __init__, "__doc__": f"{summary}\n\nArguments: {arguments}."}
    return type(name, (Loss,), namespace)


MeanSquaredError = _loss_class("MeanSquaredError", mean_squared_error)
MeanAbsoluteError = _loss_class("MeanAbsoluteError", mean_absolute_error)
MeanAbsolutePercentageError = _loss_class("MeanAbsolutePercentageError", mean_absolute_percentage_error)
MeanSquaredLogarithmicError = _loss_class("MeanSquaredLogarithmicError", mean_squared_logarithmic_error)
Huber = _loss_class("Huber", huber, ("delta", 1.0), "reduction", ("name", "huber_loss"))
LogCosh = _loss_class("LogCosh", log_cosh)
_CROSSENTROPY = (("from_logits", False), ("label_smoothing", 0.0), ("axis", -1))
BinaryCrossentropy = _loss_class("BinaryCrossentropy", binary_crossentropy, *_CROSSENTROPY)
CategoricalCrossentropy = _loss_class("CategoricalCrossentropy", categorical_crossentropy, *_CROSSENTROPY)


class SparseCategoricalCrossentropy(
    _loss_class(
        "SparseCategoricalCrossentropy",
        sparse_categorical_crossentropy,
        ("from_logits", False),
        ("ignore_class", None),
        "reduction",
        ("axis", -1),
    )
):
    """The loss of :func:`~plait.losses.sparse_categorical_crossentropy`; with ``ignore_class``
    the batch mean runs over the other targets only, as in Keras."""

    def output_mask(self, y_true, y_pred, values):
        if self.ignore_class is None:
            return None
        if y_true.dim() == y_pred.dim() and y_true.shape[-1] == 1:
            y_true = y_true.squeeze(-1)
        return y_true != self.ignore_class


BinaryFocalCrossentropy = _loss_class(
    "BinaryFocalCrossentropy",
    binary_focal_crossentropy,
    ("apply_class_balancing", False),
    ("alpha", 0.25),
    ("gamma", 2.0),
    *_CROSSENTROPY,
)
CategoricalFocalCrossentropy = _loss_class(
    "CategoricalFocalCrossentropy", categorical_focal_crossentropy, ("alpha", 0.25), ("gamma", 2.0), *_CROSSENTROPY
)
KLDivergence = _loss_class("KLDivergence", kl_divergence)
Poisson = _loss_class("Poisson", poisson)
Hinge = _loss_class("Hinge", hinge)
SquaredHinge = _loss_class("SquaredHinge", squared_hinge)
CategoricalHinge = _loss_class("CategoricalHinge", categorical_hinge)
CosineSimilarity = _loss_class("CosineSimilarity", cosine_similarity, ("axis", -1))
Dice = _loss_class("Dice", dice, "reduction", ("name", "dice"), ("axis", None))
Tversky = _loss_class(
    "Tversky", tversky, ("alpha", 0.5), ("beta", 0.5), "reduction", ("name", "tversky"), ("axis", None)
)
CTC = _loss_class(
    "CTC",
    ctc,
    doc="CTC loss of integer labels ``(batch, max_length)`` (0 pads and is the blank) and logits "
    "``(batch, time, classes)``; see :func:`~plait.losses.ctc`.",
)


class CategoricalGeneralizedCrossEntropy(
    _loss_class("CategoricalGeneralizedCrossEntropy", categorical_generalized_cross_entropy, ("q", 0.5))
):
    """The loss of :func:`~plait.losses.categorical_generalized_cross_entropy` (``q`` in ``(0, 1)``,
    default 0.5), reduced over the batch."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not 0 < self.q < 1:
            raise ValueError(f"CategoricalGeneralizedCrossEntropy: `q` must be in (0, 1). Received: q={self.q!r}")


class Circle(_loss_class("Circle", circle, ("gamma", 80.0), ("margin", 0.4), ("remove_diagonal", True))):
    """The loss of :func:`~plait.losses.circle`; as in Keras, the batch mean runs over the samples
    whose loss is positive."""

    def output_mask(self, y_true, y_pred, values):
        return values > 0


_CLASSES = {
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError,
    "mae": MeanAbsoluteError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "mape": MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "msle": MeanSquaredLogarithmicError,
    "huber": Huber,
    "huber_loss": Huber,
    "log_cosh": LogCosh,
    "logcosh": LogCosh,
    "binary_crossentropy": BinaryCrossentropy,
    "bce": BinaryCrossentropy,
    "binary_focal_crossentropy": BinaryFocalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "categorical_focal_crossentropy": CategoricalFocalCrossentropy,
    "categorical_generalized_cross_entropy": CategoricalGeneralizedCrossEntropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "kl_divergence": KLDivergence,
    "kld": KLDivergence,
    "kullback_leibler_divergence": KLDivergence,
    "poisson": Poisson,
    "hinge": Hinge,
    "squared_hinge": SquaredHinge,
    "categorical_hinge": CategoricalHinge,
    "cosine_similarity": CosineSimilarity,
    "dice": Dice,
    "tversky": Tversky,
    "circle": Circle,
    "ctc": CTC,
}
with_class_names(_CLASSES)
_CLASSES.update(BCE=BinaryCrossentropy, MSE=MeanSquaredError, MAE=MeanAbsoluteError, MAPE=MeanAbsolutePercentageError)
_CLASSES.update(MSLE=MeanSquaredLogarithmicError, KLD=KLDivergence)

# What Keras's ``losses.get`` gives for a lowercase name: the function itself.
_FUNCTIONS = {
    fn.__name__: fn
    for fn in (
        mean_squared_error,
        mean_absolute_error,
        mean_absolute_percentage_error,
        mean_squared_logarithmic_error,
        huber,
        log_cosh,
        binary_crossentropy,
        binary_focal_crossentropy,
        categorical_crossentropy,
        categorical_focal_crossentropy,
        sparse_categorical_crossentropy,
        kl_divergence,
        poisson,
        hinge,
        squared_hinge,
        categorical_hinge,
        cosine_similarity,
        dice,
        tversky,
        circle,
        ctc,
    )
}
_FUNCTIONS.update(
    mse=mean_squared_error,
    mae=mean_absolute_error,
    mape=mean_absolute_percentage_error,
    msle=mean_squared_logarithmic_error,
    kld=kl_divergence,
    bce=binary_crossentropy,
)


def get(identifier):
    """What Keras's ``losses.get`` returns: a lowercase name gives the loss *function*
    (``"mse"`` -> :func:`mean_squared_error`), a class name or class an instance, a config dict
    the object it describes; a Loss or function is returned as is, None stays None.

    Example:
        >>> get("mse").__name__, type(get("MeanSquaredError")).__name__
        ('mean_squared_error', 'MeanSquaredError')
    """
    if identifier is None or isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        if identifier in _FUNCTIONS:
            return _FUNCTIONS[identifier]
        identifier = by_name(_CLASSES, identifier, "loss function")
    if isinstance(identifier, type):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret loss identifier: {identifier!r}")


def resolve(identifier):
    """Always a :class:`Loss`, what ``compile(loss=...)`` trains with: a name gives its class's
    instance (``"mse"`` -> ``MeanSquaredError()``), a function is wrapped in a
    :class:`LossFunctionWrapper`.

    Example:
        >>> resolve("mse")
        MeanSquaredError(name='mean_squared_error', reduction='sum_over_batch_size')
    """
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        found = by_name(_CLASSES, identifier, "loss function")
        return found() if isinstance(found, type) else resolve(found)  # a registered custom loss function
    if isinstance(identifier, dict):
        return resolve(deserialize(identifier))
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        return LossFunctionWrapper(identifier)
    raise TypeError(f"Could not interpret loss identifier: {identifier!r}")


def serialize(loss):
    """Keras's config of a loss: ``{"module", "class_name", "config", "registered_name"}`` for a
    Loss, Keras's function form for a built-in function (``keras.losses.deserialize`` reads both).

    Example:
        >>> serialize(Huber(2.0))["config"]
        {'name': 'huber_loss', 'reduction': 'sum_over_batch_size', 'delta': 2.0}
    """
    registered = custom_objects.registered_name(type(loss)) or custom_objects.registered_name(loss)
    if isinstance(loss, Loss):
        module = "keras.losses" if registered is None else None
        class_name = registered or type(loss).__name__
        return {"module": module, "class_name": class_name, "config": loss.get_config(), "registered_name": registered}
    name = getattr(loss, "__name__", None)
    if registered is None and _FUNCTIONS.get(name) is loss:
        return {"module": "builtins", "class_name": "function", "config": name, "registered_name": "function"}
    if registered is not None:
        return registered
    raise ValueError(f"Cannot serialize the loss {loss!r}: it is not a built-in loss or registered.")


def deserialize(config, custom_objects=None):
    """The loss a Keras config (or name) describes; ``custom_objects`` maps extra names to
    classes or functions.

    Example:
        >>> deserialize({"class_name": "Huber", "config": {"delta": 3.0}}).delta
        3.0
    """
    extra = custom_objects or {}
    if isinstance(config, str):
        return extra[config] if config in extra else get(config)
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(
            f"Could not deserialize loss: expected a name or a dict with 'class_name'. Received: {config!r}"
        )
    if config["class_name"] == "function":
        return deserialize(config["config"], custom_objects)
    cls = extra.get(config["class_name"]) or by_name(_CLASSES, config["class_name"], "loss")
    return cls.from_config(config.get("config", {}))
