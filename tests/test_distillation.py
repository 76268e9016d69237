"""plait.distillation against Keras 3's keras.distillation: the same teacher and student weights
and data give the same logged losses, evaluations and trained student weights; configs match
Keras's; files round-trip; bad arguments get clear errors."""

import os
import warnings

import numpy as np
import pytest
import torch

import plait
from plait import distillation

os.environ.setdefault("KERAS_BACKEND", "torch")  # the Keras reference runs on torch

# Keras's own Variable.numpy() under numpy 2 (not plait's code).
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept:DeprecationWarning")

RNG = np.random.default_rng(7)
X = RNG.random((24, 5)).astype("float32")
LABELS = np.arange(24) % 3
ONE_HOT = np.eye(3, dtype="float32")[LABELS]


def _keras():
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("the Keras reference runs on its torch backend")
    return keras


def _mlp(lib, hidden, seed, outputs=1):
    """A functional MLP with a named hidden layer; weights drawn from ``seed``."""
    inputs = lib.Input((5,))
    h = lib.layers.Dense(hidden, activation="relu", name="hid")(inputs)
    heads = [lib.layers.Dense(3, name=f"out{k}")(h) for k in range(outputs)]
    model = lib.Model(inputs, heads[0] if outputs == 1 else heads)
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0.0, 0.5, w.shape).astype("float32") for w in model.get_weights()])
    return model


# Each case: (distillation losses, Distiller keyword arguments, student loss, targets, outputs),
# built for either library (`lib` is plait or keras, `dist` its distillation module).
CASES = {
    "default_logits": lambda lib, dist: (
        dist.LogitsDistillation(),
        {},
        lib.losses.SparseCategoricalCrossentropy(from_logits=True),
        LABELS,
        1,
    ),
    "kl_object_temperature_2": lambda lib, dist: (
        dist.LogitsDistillation(temperature=2.0, loss=lib.losses.KLDivergence()),
        {"student_loss_weight": 0.3},
        "mse",
        ONE_HOT,
        1,
    ),
    "logits_and_hidden_features": lambda lib, dist: (
        [
            dist.LogitsDistillation(temperature=4.0, loss="categorical_crossentropy"),
            dist.FeatureDistillation(loss="mse", teacher_layer_name="hid", student_layer_name="hid"),
        ],
        {"distillation_loss_weights": [1.0, 0.5], "student_loss_weight": 0.6},
        lib.losses.CategoricalCrossentropy(from_logits=True),
        ONE_HOT,
        1,
    ),
    "features_of_outputs_mae": lambda lib, dist: (
        dist.FeatureDistillation(loss="mae"),
        {"student_loss_weight": 0.0},
        "mse",
        ONE_HOT,
        1,
    ),
    "labels_only": lambda lib, dist: (dist.LogitsDistillation(), {"student_loss_weight": 1.0}, "mse", ONE_HOT, 1),
}


def _train(lib, dist, case):
    losses, kwargs, student_loss, y, outputs = CASES[case](lib, dist)
    teacher, student = _mlp(lib, 8, 0, outputs), _mlp(lib, 8, 1, outputs)
    before = teacher.get_weights()
    distiller = dist.Distiller(teacher, student, losses, **kwargs)
    distiller.compile(optimizer=lib.optimizers.SGD(0.1), loss=student_loss)
    history = distiller.fit(X, y, batch_size=6, epochs=2, shuffle=False, verbose=0).history
    evaluation = distiller.evaluate(X, y, batch_size=8, verbose=0, return_dict=True)
    unchanged = all(np.array_equal(a, b) for a, b in zip(before, teacher.get_weights()))
    prediction = distiller.predict(X[:4], verbose=0)
    return history, evaluation, student.get_weights(), unchanged, prediction, student.predict(X[:4], verbose=0)


@pytest.mark.parametrize("case", sorted(CASES))
def test_training_matches_keras(case):
    """Same weights and batches: every logged loss, the evaluation and the student's weights
    after 8 SGD steps agree with Keras to float32 rounding (rtol 1e-5; weights atol 1e-6)."""
    keras = _keras()
    mine = _train(plait, distillation, case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Keras's own numpy notices
        theirs = _train(keras, keras.distillation, case)
    assert sorted(mine[0]) == sorted(theirs[0]) == ["distillation_loss", "loss", "student_loss", "total_loss"]
    for key in theirs[0]:
        np.testing.assert_allclose(mine[0][key], theirs[0][key], rtol=1e-5, atol=1e-6, err_msg=key)
    assert sorted(mine[1]) == sorted(theirs[1])
    for key in theirs[1]:
        np.testing.assert_allclose(mine[1][key], theirs[1][key], rtol=1e-5, atol=1e-6, err_msg=key)
    for a, b in zip(mine[2], theirs[2]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert mine[3] and theirs[3]  # the teacher is frozen
    for got, student_out in zip(plait.tree.flatten(mine[4]), plait.tree.flatten(mine[5])):
        np.testing.assert_array_equal(got, student_out)  # predict gives the student's outputs


def test_two_output_models_by_hand():
    """A two-output student with a loss per output, the second output left out of the
    distillation: the total is w * (mse + mae) + (1 - w) * KL(softmaxes at T) * T**2 on the first.
    (Keras 3.15 cannot fit such a distiller: its tracked list of losses fails its own structure
    check, so the reference here is the formula.)"""
    teacher, student = _mlp(plait, 8, 0, 2), _mlp(plait, 8, 1, 2)
    kd = distillation.LogitsDistillation(loss=[plait.losses.KLDivergence(), None])
    d = distillation.Distiller(teacher, student, kd, student_loss_weight=0.25)
    d.compile(optimizer=plait.optimizers.SGD(0.1), loss=["mse", "mae"])
    x, y = torch.tensor(X), [torch.tensor(ONE_HOT), torch.tensor(ONE_HOT)]
    with torch.no_grad():
        t_out, s_out = teacher(x), student(x)
        total = d.compute_loss(x=x, y=y, y_pred=s_out)
    supervised = ((y[0] - s_out[0]) ** 2).mean() + (y[1] - s_out[1]).abs().mean()
    p, q = torch.softmax(t_out[0] / 3.0, -1), torch.softmax(s_out[0] / 3.0, -1)
    kl = (p * torch.log(p / q)).sum(-1).mean() * 9.0
    torch.testing.assert_close(total, 0.25 * supervised + 0.75 * kl)
    history = d.fit(X, [ONE_HOT, ONE_HOT], batch_size=6, epochs=2, verbose=0).history
    assert history["loss"][1] < history["loss"][0]


def test_loss_formulas_by_hand():
    """LogitsDistillation with a KLDivergence object: KL of the softmaxes at temperature T,
    times T**2; with the default "kl_divergence" function: KL of the clipped scaled logits, as
    Keras computes it. FeatureDistillation: the loss's mean, summed over outputs."""
    teacher = torch.tensor([[2.0, 1.0, -1.0], [0.5, 0.2, 3.0]])
    student = torch.tensor([[1.0, 1.5, 0.0], [0.0, 0.1, 1.0]])
    t = 2.5
    p, q = torch.softmax(teacher / t, -1), torch.softmax(student / t, -1)
    expected = (p * torch.log(p / q)).sum(-1).mean() * t**2
    kd = distillation.LogitsDistillation(temperature=t, loss=plait.losses.KLDivergence())
    torch.testing.assert_close(kd.compute_loss(teacher, student), expected)
    a, b = (teacher / 3.0).clamp(1e-7, 1.0), (student / 3.0).clamp(1e-7, 1.0)
    torch.testing.assert_close(
        distillation.LogitsDistillation().compute_loss(teacher, student), (a * torch.log(a / b)).sum(-1).mean()
    )
    fd = distillation.FeatureDistillation(loss=["mse", None, "mae"])
    got = fd.compute_loss([teacher, teacher, teacher], [student, teacher * 9, student])
    torch.testing.assert_close(got, ((teacher - student) ** 2).mean() + (teacher - student).abs().mean())


def test_loss_values_match_keras():
    keras = _keras()
    teacher = RNG.normal(size=(4, 6)).astype("float32")
    student = RNG.normal(size=(4, 6)).astype("float32")
    pairs = [
        (lambda d, lib: d.LogitsDistillation(), None),
        (lambda d, lib: d.LogitsDistillation(1.5, lib.losses.KLDivergence()), None),
        (lambda d, lib: d.LogitsDistillation(3.0, "categorical_crossentropy"), None),
        (lambda d, lib: d.FeatureDistillation("cosine_similarity"), None),
        (lambda d, lib: d.FeatureDistillation(lib.losses.Huber(0.5)), None),
    ]
    for make, _ in pairs:
        mine = make(distillation, plait).compute_loss(torch.tensor(teacher), torch.tensor(student))
        theirs = make(keras.distillation, keras).compute_loss(teacher, student)
        np.testing.assert_allclose(float(mine), float(theirs), rtol=1e-6)


def test_configs_match_keras_and_round_trip():
    keras = _keras()

    def losses(d, lib):
        return [
            d.LogitsDistillation(temperature=5.0, loss=[lib.losses.KLDivergence(), None]),
            d.FeatureDistillation(loss="cosine_similarity", teacher_layer_name="hid", student_layer_name="hid"),
        ]

    for mine, theirs in zip(losses(distillation, plait), losses(keras.distillation, keras)):
        assert mine.get_config() == theirs.get_config()
        again = type(mine).from_config(theirs.get_config())  # a Keras config builds plait's object
        assert again.get_config() == theirs.get_config()
    mine = distillation.Distiller(
        _mlp(plait, 8, 0, 2), _mlp(plait, 4, 1, 2), losses(distillation, plait), distillation_loss_weights=[2.0, 0.5]
    )
    theirs = keras.distillation.Distiller(
        _mlp(keras, 8, 0, 2),
        _mlp(keras, 4, 1, 2),
        losses(keras.distillation, keras),
        distillation_loss_weights=[2.0, 0.5],
    )
    config, keras_config = mine.get_config(), theirs.get_config()
    assert set(config) == set(keras_config)
    for key in ("name", "trainable", "distillation_losses", "distillation_loss_weights", "student_loss_weight"):
        assert config[key] == keras_config[key], key
    rebuilt = distillation.Distiller.from_config(config)
    assert rebuilt.get_config()["distillation_losses"] == keras_config["distillation_losses"]
    rebuilt.student.set_weights(mine.student.get_weights())  # a config holds no weights
    assert not rebuilt.teacher.trainable
    x = torch.tensor(X[:3])
    for a, b in zip(rebuilt(x), mine(x)):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("suffix", [".keras", ".plait"])
def test_save_and_load_keep_the_student_and_the_compile(tmp_path, suffix):
    distiller = distillation.Distiller(_mlp(plait, 8, 0), _mlp(plait, 4, 1), distillation.LogitsDistillation(2.0))
    distiller.compile(optimizer="sgd", loss=plait.losses.CategoricalCrossentropy(from_logits=True))
    distiller.fit(X, ONE_HOT, epochs=1, verbose=0)
    path = tmp_path / f"distiller{suffix}"
    distiller.save(path)
    loaded = plait.models.load_model(path)
    assert isinstance(loaded, distillation.Distiller) and loaded.compiled
    assert not loaded.teacher.trainable
    np.testing.assert_allclose(loaded.predict(X, verbose=0), distiller.predict(X, verbose=0), rtol=1e-6)
    again = loaded.fit(X, ONE_HOT, epochs=1, shuffle=False, verbose=0).history
    more = distiller.fit(X, ONE_HOT, epochs=1, shuffle=False, verbose=0).history
    np.testing.assert_allclose(again["loss"], more["loss"], rtol=1e-5)


def test_metrics_are_computed_on_the_student_outputs():
    keras = _keras()

    def run(lib, dist):
        d = dist.Distiller(_mlp(lib, 8, 0), _mlp(lib, 8, 1), dist.LogitsDistillation())
        d.compile(optimizer=lib.optimizers.SGD(0.05), loss="mse", metrics=["categorical_accuracy"])
        d.fit(X, ONE_HOT, batch_size=8, epochs=1, shuffle=False, verbose=0)
        return d.evaluate(X, ONE_HOT, verbose=0, return_dict=True)

    mine = run(plait, distillation)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        theirs = run(keras, keras.distillation)
    assert sorted(mine) == sorted(theirs)
    for key in theirs:
        # atol 1e-5: the default loss takes logs of logits clipped at 1e-7, which magnifies rounding.
        np.testing.assert_allclose(mine[key], theirs[key], rtol=1e-5, atol=1e-5, err_msg=key)


class _Subclassed(plait.Model):
    def __init__(self):
        super().__init__()
        self.dense = plait.layers.Dense(3)

    def call(self, x):
        return self.dense(x)


def test_custom_distillation_loss_and_subclassed_models():
    class L1(distillation.DistillationLoss):
        def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
            return torch.mean(torch.abs(teacher_outputs - student_outputs))

    teacher, student = _Subclassed(), _Subclassed()
    teacher(torch.tensor(X[:2]))
    student(torch.tensor(X[:2]))
    d = distillation.Distiller(teacher, student, L1(), student_loss_weight=0.0)
    d.compile(optimizer="sgd", loss="mse")
    x = torch.tensor(X)
    expected = torch.mean(torch.abs(teacher(x) - student(x)))
    total = d.compute_loss(x=x, y=torch.tensor(ONE_HOT), y_pred=student(x))
    torch.testing.assert_close(total, expected)


def _pair():
    return _mlp(plait, 8, 0), _mlp(plait, 4, 1)


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: distillation.LogitsDistillation(temperature=0.0), ValueError, "temperature.*positive"),
        (lambda: distillation.LogitsDistillation(temperature="3"), ValueError, "temperature.*number"),
        (lambda: distillation.LogitsDistillation(loss=[None, None]), ValueError, "at least one loss"),
        (lambda: distillation.FeatureDistillation(loss="no_such_loss"), ValueError, "no_such_loss"),
        (lambda: distillation.FeatureDistillation(loss=3), TypeError, "Received: 3"),
        (lambda: distillation.Distiller(*_pair(), None), ValueError, "cannot be None"),
        (lambda: distillation.Distiller(*_pair(), "kl"), TypeError, "DistillationLoss"),
        (
            lambda: distillation.Distiller(*_pair(), distillation.LogitsDistillation(), student_loss_weight=1.5),
            ValueError,
            "between 0.0 and 1.0",
        ),
        (
            lambda: distillation.Distiller(
                *_pair(), [distillation.LogitsDistillation()], distillation_loss_weights=[1.0, 2.0]
            ),
            ValueError,
            "one weight per loss",
        ),
        (
            lambda: distillation.Distiller(np.zeros(3), _mlp(plait, 4, 1), distillation.LogitsDistillation()),
            ValueError,
            "teacher must be a plait.Model",
        ),
        (
            lambda: distillation.Distiller(
                plait.Sequential([plait.Input((5,)), plait.layers.Dense(4)]),
                _mlp(plait, 4, 1),
                distillation.LogitsDistillation(),
            ),
            ValueError,
            "output shapes are incompatible",
        ),
        (
            lambda: distillation.Distiller(*_pair(), distillation.FeatureDistillation(teacher_layer_name="nope")),
            ValueError,
            "teacher model.*No such layer: nope",
        ),
        (
            lambda: distillation.Distiller(
                _Subclassed(), _Subclassed(), distillation.FeatureDistillation(teacher_layer_name="dense")
            ),
            ValueError,
            "subclassed",
        ),
    ],
)
def test_bad_arguments_get_clear_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_bad_compile_and_mismatched_structures():
    d = distillation.Distiller(*_pair(), distillation.LogitsDistillation())
    with pytest.raises(ValueError, match="`loss`.*cannot be None"):
        d.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="`metrics` must be a list or tuple"):
        d.compile(optimizer="sgd", loss="mse", metrics="accuracy")
    kd = distillation.LogitsDistillation(loss=["kl_divergence", "mse"])
    with pytest.raises(ValueError, match="structure of `loss`"):
        kd.compute_loss(torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="differ in structure"):
        distillation.FeatureDistillation().validate_outputs(torch.zeros(2, 3), [torch.zeros(2, 3)])
