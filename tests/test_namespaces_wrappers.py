"""``plait.wrappers`` as scikit-learn estimators, with numbers compared with Keras's wrappers on
the same zero-initialized models and full-batch SGD (tolerance 1e-5)."""

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
sklearn = pytest.importorskip("sklearn")

import plait  # noqa: E402
from plait import wrappers  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

FIT = {"epochs": 5, "batch_size": 64, "shuffle": False, "verbose": 0}


def _builder(lib, activation=None):
    def build(X, y, units=None):
        model = lib.Sequential(
            [lib.Input((X.shape[1],)), lib.layers.Dense(units or y.shape[1], activation, kernel_initializer="zeros")]
        )
        model.compile(lib.optimizers.SGD(0.1), "categorical_crossentropy" if activation else "mse")
        return model

    return build


def _data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(60, 4)).astype("float32")
    return X, rng


def test_classifier_matches_keras_and_scores():
    X, _ = _data()
    y = np.array(["a", "b", "c"])[np.argmax(X[:, :3], axis=1)]
    ours = wrappers.SKLearnClassifier(_builder(plait, "softmax"), fit_kwargs=FIT).fit(X, y)
    theirs = keras.wrappers.SKLearnClassifier(_builder(keras, "softmax"), fit_kwargs=FIT).fit(X, y)
    np.testing.assert_allclose(ours.decision_function(X), theirs.decision_function(X), rtol=1e-5, atol=1e-5)
    assert list(ours.classes_) == list(theirs.classes_) == ["a", "b", "c"]
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    assert ours.score(X, y) == pytest.approx(theirs.score(X, y)) and ours.score(X, y) > 0.5
    with pytest.raises(ValueError, match="single class"):
        wrappers.SKLearnClassifier(_builder(plait, "softmax"), fit_kwargs=FIT).fit(X, np.zeros(60))


def test_regressor_and_transformer_match_keras():
    X, rng = _data(1)
    y = X @ np.array([1.0, -2.0, 0.5, 0.0], "float32") + 0.1
    ours = wrappers.SKLearnRegressor(_builder(plait), fit_kwargs=FIT).fit(X, y)
    theirs = keras.wrappers.SKLearnRegressor(_builder(keras), fit_kwargs=FIT).fit(X, y)
    assert ours.predict(X).shape == (60,)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-5, atol=1e-5)
    assert ours.score(X, y) == pytest.approx(theirs.score(X, y), rel=1e-5)
    ours_t = wrappers.SKLearnTransformer(_builder(plait), model_kwargs={"units": 2}, fit_kwargs=FIT).fit(X, y)
    theirs_t = keras.wrappers.SKLearnTransformer(_builder(keras), model_kwargs={"units": 2}, fit_kwargs=FIT).fit(X, y)
    assert ours_t.transform(X).shape == (60, 2)
    np.testing.assert_allclose(ours_t.transform(X), theirs_t.transform(X), rtol=1e-5, atol=1e-5)


def test_estimator_api_clone_params_pipeline_and_cross_validation():
    from sklearn.base import clone
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, _ = _data(2)
    y = (X[:, 0] > 0).astype(int)
    clf = wrappers.SKLearnClassifier(_builder(plait, "softmax"), model_kwargs={"units": 2}, fit_kwargs=FIT)
    params = clf.get_params()
    assert params["model_kwargs"] == {"units": 2} and params["warm_start"] is False
    copy = clone(clf)
    assert copy is not clf and copy.get_params()["fit_kwargs"] == FIT
    scores = cross_val_score(make_pipeline(StandardScaler(), clf), X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.6
    with pytest.raises(sklearn.exceptions.NotFittedError):
        clone(clf).predict(X)


def test_a_compiled_model_is_cloned_per_fit_and_warm_start_keeps_training():
    X, _ = _data(3)
    y = X[:, 0]
    model = _builder(plait)(X, y[:, None])
    reg = wrappers.SKLearnRegressor(model, fit_kwargs={**FIT, "epochs": 1}).fit(X, y)
    assert reg.model_ is not model and np.all(model.layers[0].kernel.detach().numpy() == 0)
    warm = wrappers.SKLearnRegressor(model, warm_start=True, fit_kwargs={**FIT, "epochs": 1}).fit(X, y)
    first = warm.model_
    assert warm.fit(X, y).model_ is first
    with pytest.raises(TypeError, match="callable"):
        wrappers.SKLearnRegressor(3).fit(X, y)


def test_every_keras_wrappers_name_exists():
    names = [n for n in dir(keras.wrappers) if not n.startswith("_")]
    assert [n for n in names if not hasattr(wrappers, n)] == []
