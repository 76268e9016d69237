"""Exports: torch.export programs and ONNX files give plait's outputs, with dynamic dims."""

import numpy as np
import pytest
import torch
from test_seed import build_multi_output

from plait import Input, layers
from plait.models import Model


def test_torch_export_with_dynamic_batch_and_length(tmp_path):
    model = build_multi_output()
    path = model.export(tmp_path / "m.pt2")
    program = torch.export.load(path)
    for batch, length in ((2, 300), (5, 411)):
        x = torch.randint(0, 50000, (batch, length), dtype=torch.int32)
        for got, want in zip(program.module()(x), model(x)):
            torch.testing.assert_close(got, want)


def test_lstm_models_export_at_the_example_length(tmp_path):
    x = Input(shape=(None, 3))
    model = Model(x, layers.Dense(2)(layers.LSTM(4)(x)))
    example = torch.randn(2, 12, 3)
    program = torch.export.load(model.export(tmp_path / "l.pt2", example_inputs=[example]))
    data = torch.randn(7, 12, 3)  # the batch stays dynamic
    torch.testing.assert_close(program.module()(data), model(data))


@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch's exporter's own pytree deprecation
def test_onnx_export_runs_in_onnxruntime(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    model = build_multi_output()
    path = model.export(tmp_path / "m.onnx")
    session = ort.InferenceSession(str(path))
    assert [i.name for i in session.get_inputs()] == ["posts"]
    for batch, length in ((2, 300), (3, 350)):
        x = np.random.randint(0, 50000, (batch, length)).astype("int32")
        for got, want in zip(session.run(None, {"posts": x}), model(x)):
            np.testing.assert_allclose(got, want.detach().numpy(), rtol=1e-4, atol=1e-5)


def test_export_errors(tmp_path):
    x = Input(shape=(3,))
    model = Model(x, layers.Dense(1)(x))
    with pytest.raises(ValueError, match="export format"):
        model.export(tmp_path / "m.bin")
