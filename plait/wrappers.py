"""``plait.wrappers``: scikit-learn estimators around a plait model, as Keras's
``keras.wrappers`` (``SKLearnClassifier``, ``SKLearnRegressor``, ``SKLearnTransformer``).

Each takes either a compiled model (cloned with fresh weights at every ``fit``, so
scikit-learn's ``clone`` and cross-validation work) or a function ``model(X, y, **model_kwargs)``
that builds and compiles one. scikit-learn is imported when this module is.

Example:
    >>> import numpy as np, plait
    >>> from plait.wrappers import SKLearnRegressor
    >>> def build(X, y):
    ...     model = plait.Sequential([plait.Input((X.shape[1],)), plait.layers.Dense(y.shape[1])])
    ...     model.compile("sgd", "mse")
    ...     return model
    >>> X = np.random.default_rng(0).normal(size=(32, 3))
    >>> reg = SKLearnRegressor(build, fit_kwargs={"epochs": 2, "verbose": 0}).fit(X, X[:, 0])
    >>> reg.predict(X).shape
    (32,)
"""

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin
from sklearn.preprocessing import OneHotEncoder
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from plait.models import Model, clone_model


class _KerasEstimator(BaseEstimator):
    """What the three wrappers share: building the model, fitting it, predicting with it.

    Args:
        model: a compiled plait ``Model`` (cloned and recompiled for each ``fit``) or a callable
            ``model(X, y, **model_kwargs)`` returning a compiled model.
        warm_start: keep training the fitted model on later ``fit`` calls.
        model_kwargs: keyword arguments for the ``model`` callable.
        fit_kwargs: keyword arguments for ``model.fit`` (``epochs``, ``batch_size``, ...).
    """

    def __init__(self, model, warm_start=False, model_kwargs=None, fit_kwargs=None):
        self.model = model
        self.warm_start = warm_start
        self.model_kwargs = model_kwargs
        self.fit_kwargs = fit_kwargs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = True  # weights start random
        return tags

    def _build(self, X, y):
        if self.warm_start and hasattr(self, "model_"):
            return self.model_
        if isinstance(self.model, Model):
            built = clone_model(self.model)
            optimizer = getattr(self.model, "optimizer", None)
            if optimizer is not None:  # a fresh optimizer of the same kind, so fits do not share state
                fresh = type(optimizer).from_config(optimizer.get_config())
                built.compile(
                    optimizer=fresh, **{k: v for k, v in self.model.get_compile_config().items() if k != "optimizer"}
                )
        elif callable(self.model):
            built = self.model(X=X, y=y, **(self.model_kwargs or {}))
        else:
            raise TypeError(f"`model` must be a plait Model or a callable building one. Received: {self.model!r}")
        if not isinstance(built, Model) or getattr(built, "optimizer", None) is None:
            raise ValueError(f"{type(self).__name__} needs a compiled plait Model. Received: {built!r}")
        return built

    def _encode_target(self, y, reset):
        y = np.asarray(y)
        if reset:
            self.target_ndim_ = y.ndim
        return y.reshape(-1, 1) if y.ndim == 1 else y

    def _decode_output(self, output):
        return output.reshape(-1) if self.target_ndim_ == 1 and output.ndim == 2 and output.shape[1] == 1 else output

    def fit(self, X, y, **kwargs):
        """Fit the model on ``X`` (n_samples, n_features) and ``y``; ``kwargs`` go to ``model.fit``."""
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=not isinstance(self, ClassifierMixin))
        target = self._encode_target(y, reset=True)
        model = self._build(X, target)
        self.history_ = model.fit(X, target, **{**(self.fit_kwargs or {}), **kwargs})
        self.model_ = model
        return self

    def _raw_predict(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return np.asarray(self.model_.predict(X, verbose=0))

    def predict(self, X):
        """The model's predictions for ``X``, in the target's form."""
        return self._decode_output(self._raw_predict(X))


class SKLearnClassifier(ClassifierMixin, _KerasEstimator):
    """A scikit-learn classifier around a plait model whose last layer gives one score per class
    (labels are one-hot encoded for ``fit``; ``predict`` returns the top class's label).

    Args: as :class:`_KerasEstimator` (``model``, ``warm_start``, ``model_kwargs``, ``fit_kwargs``).
    """

    def _encode_target(self, y, reset):
        kind = type_of_target(y, raise_unknown=True)
        if kind not in ("binary", "multiclass"):
            raise ValueError(f"SKLearnClassifier supports binary and multiclass targets. Target type: {kind}")
        column = np.asarray(y).reshape(-1, 1)
        if reset:
            self.encoder_ = OneHotEncoder(sparse_output=False).fit(column)
            self.classes_ = self.encoder_.categories_[0]
            if len(self.classes_) < 2:
                raise ValueError("SKLearnClassifier cannot train on a single class.")
        return self.encoder_.transform(column).astype("float32")

    def decision_function(self, X):
        """The model's raw class scores, (n_samples, n_classes)."""
        return self._raw_predict(X)

    def predict(self, X):
        scores = self._raw_predict(X)  # checks that the estimator is fitted
        return self.classes_[np.argmax(scores, axis=1)]


class SKLearnRegressor(RegressorMixin, _KerasEstimator):
    """A scikit-learn regressor around a plait model (a 1-D target is fitted as one column and
    predicted back as 1-D).

    Args: as :class:`_KerasEstimator`.
    """


class SKLearnTransformer(TransformerMixin, _KerasEstimator):
    """A scikit-learn transformer: ``fit`` trains the model on ``(X, y)``, ``transform`` returns
    its outputs for ``X`` (an encoder's features, say).

    Args: as :class:`_KerasEstimator`.
    """

    def transform(self, X):
        """The model's outputs for ``X``."""
        return self._raw_predict(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = []  # the model computes in float32
        return tags


__all__ = ["SKLearnClassifier", "SKLearnRegressor", "SKLearnTransformer"]
