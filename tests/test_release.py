"""Small release polish: the ONNX export names its extra when onnx/onnxscript are missing, and
plot_model does not print the Fontconfig warnings of pygraphviz's bundled Fontconfig."""

import importlib.util
import os

import pytest

import plait
from plait.utils import model_visualization


def small_model():
    inputs = plait.Input(shape=(4,), name="features")
    return plait.Model(inputs, plait.layers.Dense(2, name="logits")(inputs))


@pytest.mark.parametrize("missing", [{"onnxscript"}, {"onnx", "onnxscript"}])
def test_onnx_export_without_its_extra_names_the_extra(tmp_path, monkeypatch, missing):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in missing else find_spec(name, *a))
    with pytest.raises(ImportError, match=r'pip install "plait\[onnx\]"') as raised:
        small_model().export(tmp_path / "model.onnx")
    assert " and ".join(sorted(missing)) in str(raised.value)
    assert not (tmp_path / "model.onnx").exists()


def test_pt2_export_does_not_need_the_onnx_extra(tmp_path, monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "onnxscript" else find_spec(name, *a)
    )
    assert small_model().export(tmp_path / "model.pt2") == str(tmp_path / "model.pt2")


def test_fontconfig_lines_are_dropped_and_other_stderr_output_kept(capfd):
    with model_visualization._without_fontconfig_warnings():
        os.write(2, b'Fontconfig warning: "/etc/fonts/conf.d/05.conf", line 6: unknown element "reset-dirs"\n')
        os.write(2, b"Error: a real Graphviz problem\n")
    assert capfd.readouterr().err == "Error: a real Graphviz problem\n"


def test_plot_model_prints_nothing(tmp_path, capfd):
    pytest.importorskip("pygraphviz")
    plait.utils.plot_model(small_model(), to_file=tmp_path / "model.png", show_shapes=True)
    plait.utils.plot_model(small_model(), to_file=tmp_path / "model.svg")
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""
    assert (tmp_path / "model.png").read_bytes()[:4] == b"\x89PNG"
