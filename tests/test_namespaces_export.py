"""``plait.export.ExportArchive`` on torch.export: endpoints written to a ``.pt2`` compute what
the model computes (tolerance 1e-6), with dynamic dims where the signature says None."""

import os

import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import plait  # noqa: E402
from plait.export import ExportArchive, load_endpoints  # noqa: E402


def _model():
    inputs = plait.Input((4,))
    return plait.Model(inputs, plait.layers.Dense(2, activation="tanh")(plait.layers.Dense(8)(inputs)))


def test_one_endpoint_round_trips_through_torch_export_load(tmp_path):
    model = _model()
    archive = ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", model, input_signature=[keras.InputSpec(shape=(None, 4), dtype="float32")])
    path = archive.write_out(tmp_path / "m.pt2")
    program = torch.export.load(path)
    for batch in (1, 7):  # the batch dim is dynamic
        x = torch.randn(batch, 4)
        torch.testing.assert_close(program.module()(x), model(x), rtol=1e-6, atol=1e-6)


def test_several_endpoints_and_a_variable_collection(tmp_path):
    model = _model()
    archive = ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", model, input_signature=[plait.Input((4,))])
    archive.add_endpoint("double", lambda x: 2 * model(x), input_signature=[torch.zeros(5, 4)])
    archive.add_variable_collection("weights", model.weights)
    path = archive.write_out(str(tmp_path / "m.pt2"))
    programs = load_endpoints(path)
    assert sorted(programs) == ["double", "serve"]
    x = torch.randn(5, 4)
    torch.testing.assert_close(programs["double"].module()(x), 2 * model(x), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(programs["serve"].module()(x), model(x), rtol=1e-6, atol=1e-6)


def test_bad_uses_are_clear_errors(tmp_path):
    archive = ExportArchive()
    with pytest.raises(ValueError, match="Track a model"):
        archive.add_endpoint("serve", len, input_signature=[torch.zeros(1)])
    with pytest.raises(TypeError, match="track expects"):
        archive.track("model")
    model = _model()
    archive.track(model)
    with pytest.raises(ValueError, match="input_signature"):
        archive.add_endpoint("serve", model)
    with pytest.raises(ValueError, match="identifier"):
        archive.add_endpoint("my endpoint", model, input_signature=[plait.Input((4,))])
    with pytest.raises(ValueError, match="No endpoints"):
        archive.write_out(tmp_path / "m.pt2")
    archive.add_endpoint("serve", model, input_signature=[plait.Input((4,))])
    with pytest.raises(ValueError, match="already exists"):
        archive.add_endpoint("serve", model, input_signature=[plait.Input((4,))])
    with pytest.raises(ValueError, match="SavedModel needs TensorFlow"):
        archive.write_out(tmp_path / "saved_model", format="tf_saved_model")


def test_every_keras_export_name_exists():
    names = [n for n in dir(keras.export) if not n.startswith("_")]
    assert [n for n in names if not hasattr(plait.export, n)] == []


def test_variable_collections_read_back(tmp_path):
    from plait.export import load_variable_collection

    model = _model()
    archive = ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", model, input_signature=[plait.Input((4,))])
    archive.add_variable_collection("weights", model.weights)
    path = archive.write_out(tmp_path / "m.pt2")
    for saved, weight in zip(load_variable_collection(path, "weights"), model.weights):
        torch.testing.assert_close(saved, weight.detach())
    with pytest.raises(ValueError, match="no variable collection"):
        load_variable_collection(path, "other")
