"""The package: its metadata, and a wheel that installs into a fresh venv and trains the seed
demo's first model there."""

import email
import importlib.metadata
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import plait

ROOT = Path(__file__).resolve().parent.parent


def run(*command, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, **kwargs)
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_version_is_the_package_metadata():
    assert plait.__version__ == importlib.metadata.version("plait")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The wheel, built from a copy of the sources (the checkout stays free of build output) by
    the PEP 517 backend that pyproject.toml names, called directly: no network, no isolated build
    environment (what `python -m build --no-isolation` does)."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "plait", source / "plait", ignore=shutil.ignore_patterns("__pycache__"))
    build = f"from setuptools import build_meta; build_meta.build_wheel({str(tmp / 'dist')!r})"
    run(sys.executable, "-c", build, cwd=source)
    (path,) = (tmp / "dist").glob("plait-*.whl")
    return path


def test_wheel_metadata(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = email.message_from_bytes(archive.read(f"plait-{plait.__version__}.dist-info/METADATA"))
    assert metadata["Name"] == "plait" and metadata["Version"] == plait.__version__
    assert metadata["License-Expression"] == "Apache-2.0" and metadata["License"] is None
    requires = metadata.get_all("Requires-Dist")
    assert "torch>=2.4" in requires and not any(r.startswith("torch==") for r in requires)
    assert {"viz", "tensorboard", "docs", "onnx", "test"} <= set(metadata.get_all("Provides-Extra"))
    assert "plait/utils/model_visualization.py" in names and "plait/callbacks/tensorboard.py" in names
    assert not any(name.startswith("tests/") for name in names)


def test_wheel_carries_the_license_classifiers_and_the_all_extra(wheel):
    info = f"plait-{plait.__version__}.dist-info"
    with zipfile.ZipFile(wheel) as archive:
        license_text = archive.read(f"{info}/licenses/LICENSE").decode()
        metadata = email.message_from_bytes(archive.read(f"{info}/METADATA"))
    assert license_text == (ROOT / "LICENSE").read_text()
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    assert metadata.get_all("License-File") == ["LICENSE"]
    classifiers = metadata.get_all("Classifier")
    assert "Programming Language :: Python :: 3.11" in classifiers
    assert "Topic :: Scientific/Engineering :: Artificial Intelligence" in classifiers
    # PEP 639: the license is the SPDX expression alone, never also a classifier.
    assert not any(c.startswith("License ::") for c in classifiers)
    assert 'plait[image,onnx,tensorboard,viz]; extra == "all"' in metadata.get_all("Requires-Dist")


def test_each_command_sets_up_what_it_needs():
    """The demo installs plait alone (torch through the constraint), the tests the test extra;
    CI runs the README's test command."""
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert 'demo) spec="."' in setup and 'test) spec=".[test]"' in setup
    assert "bash scripts/setup.sh demo" in (ROOT / "scripts" / "demo.sh").read_text()
    assert "bash scripts/setup.sh test" in (ROOT / "scripts" / "test.sh").read_text()
    assert "scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


def test_setup_is_instant_when_nothing_changed(tmp_path):
    """A second run of the set-up finds its stamp newer than pyproject.toml and the constraints
    and installs nothing: a copy of the scripts with a stamped .venv whose pip would fail."""
    for name in ("pyproject.toml",):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "scripts").mkdir()
    for name in ("setup.sh", "constraints.txt"):
        shutil.copy(ROOT / "scripts" / name, tmp_path / "scripts" / name)
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").write_text("#!/bin/sh\necho pip ran >&2\nexit 1\n")
    (bin_dir / "python").chmod(0o755)
    (tmp_path / ".venv" / ".plait-test").touch()
    for what in ("test", "demo"):  # the test set-up covers the demo's
        result = subprocess.run(["bash", "scripts/setup.sh", what], cwd=tmp_path, capture_output=True, text=True)
        assert result.returncode == 0 and result.stdout == "" and result.stderr == "", result
    os.utime(tmp_path / "pyproject.toml")  # pyproject changed: the set-up runs again (and here fails)
    future = (tmp_path / ".venv" / ".plait-test").stat().st_mtime + 10
    os.utime(tmp_path / "pyproject.toml", (future, future))
    result = subprocess.run(["bash", "scripts/setup.sh", "test"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 1 and "[setup] installing plait with its test extra" in result.stdout
    assert "pip ran" in result.stderr


def test_setup_script_installs_through_the_torch_constraint():
    # A plain `torch` requirement would resolve to a multi-GB CUDA build; setup.sh always passes
    # the pin of the local CPU build.
    assert "torch==2.13.0" in (ROOT / "scripts" / "constraints.txt").read_text().split("\n")
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    installs = [line for line in setup.splitlines() if "pip install" in line and "-e" in line]
    assert installs and all("-c scripts/constraints.txt" in line for line in installs)


def test_wheel_installs_into_a_fresh_venv_and_trains_the_seed_mlp(wheel, tmp_path):
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", str(venv))
    python = venv / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel))
    # plait's dependencies (torch, numpy, ...) come from this environment's site-packages, added
    # after the venv's own: nothing is downloaded, and plait itself is the wheel's copy (the
    # editable install's hooks here are .pth files, which a path added this way does not run).
    site = run(str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
    here = [p for p in sys.path if p.endswith("site-packages")]
    Path(site, "dependencies.pth").write_text("\n".join(here) + "\n")
    # The seed demo's first model (examples/seed_demo.py, mlp_on_digits), with fewer epochs.
    script = f"""
import importlib.metadata
import numpy as np
import plait
from plait import Input
from plait.layers import Dense
from plait.models import Model, Sequential
from plait.utils import to_categorical
from sklearn.datasets import load_digits

assert plait.__file__.startswith({str(venv)!r}), plait.__file__
assert plait.__version__ == importlib.metadata.version("plait") == {plait.__version__!r}
seq_model = Sequential()
seq_model.add(Dense(32, activation="relu", input_shape=(64,)))
seq_model.add(Dense(32, activation="relu"))
seq_model.add(Dense(10, activation="softmax"))
seq_model.summary()
input_tensor = Input(shape=(64,))
x = Dense(32, activation="relu")(input_tensor)
x = Dense(32, activation="relu")(x)
functional_model = Model(input_tensor, Dense(10, activation="softmax")(x))
functional_model.summary()
plait.utils.set_random_seed(0)
digits = load_digits()
x, y = (digits.data / 16.0).astype("float32"), to_categorical(digits.target, 10)
order = np.random.default_rng(0).permutation(len(x))
functional_model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["acc"], jit_compile=False)
history = functional_model.fit(x[order], y[order], epochs=8, batch_size=32, validation_split=0.2, verbose=0)
print("validation accuracy", history.history["val_acc"][-1])
"""
    # One intra-op thread: the MLP's ops are tiny, and a second thread only waits on a busy machine.
    env = {**os.environ, "PYTHONPATH": "", "OMP_NUM_THREADS": "1"}
    output = run(str(python), "-c", script, cwd=tmp_path, env=env)
    assert output.count("Total params: 3,466") == 2
    accuracy = float(output.rsplit("validation accuracy", 1)[1].split()[0])
    assert accuracy > 0.85  # the seed's MLP learns the 8x8 digits with the installed package
