"""The documentation site: every Python example on its pages runs, and the site builds in strict
mode (broken links and API references fail the build)."""

import contextlib
import importlib.util
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import plait

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
FENCE = re.compile(r"^```python\n(.*?)^```\n", re.S | re.M)


def python_blocks(page):
    return FENCE.findall(page.read_text())


PAGES = sorted(page for page in DOCS.glob("*.md") if python_blocks(page))


def test_every_guide_has_runnable_examples():
    names = {page.name for page in PAGES}
    for guide in (
        "index.md",
        "getting-started.md",
        "functional-api.md",
        "training.md",
        "custom-steps.md",
        "saving.md",
        "loss-balancing.md",
        "mixed-precision.md",
        "distributed.md",
    ):
        assert guide in names


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
@pytest.mark.filterwarnings("ignore::DeprecationWarning:keras")  # Keras's own np.array(tensor) when it saves
def test_examples_run(page, tmp_path, monkeypatch):
    """A page's blocks run in order in one namespace, as a reader would paste them, in an empty
    working directory (files they write land there)."""
    if page.name == "saving.md":
        os.environ.setdefault("KERAS_BACKEND", "torch")  # as the page sets it, before Keras is imported
        pytest.importorskip("keras")
        pytest.importorskip("onnxruntime")
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the examples' models are small: a second thread only waits on a busy machine
    try:
        for number, block in enumerate(python_blocks(page), start=1):
            code = compile(block, f"{page.name}, python block {number}", "exec")
            with contextlib.redirect_stdout(io.StringIO()):
                exec(code, namespace)
    finally:
        torch.set_num_threads(threads)
        plait.mixed_precision.set_global_policy("float32")


def test_getting_started_prints_the_seed_summaries():
    page = (DOCS / "getting-started.md").read_text()
    for line in ("Total params: 3,466", "Total params: 1,000,052", "concatenate (Concatenate)"):
        assert line in page


def test_readme_links_to_the_docs():
    readme = (ROOT / "README.md").read_text()
    assert "mkdocs build --strict" in readme and "docs/index.md" in readme


def test_site_builds_in_strict_mode(tmp_path):
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("mkdocstrings") is None:
        pytest.skip('mkdocs and mkdocstrings are not installed (pip install ".[docs]"; the test extra has them)')
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    site = tmp_path / "site"
    api = (site / "api" / "utils" / "index.html").read_text()
    assert 'id="plait.utils.plot_model"' in api and 'id="plait.utils.plot_history"' in api
    assert 'id="plait.callbacks.TensorBoard"' in (site / "api" / "callbacks" / "index.html").read_text()
    assert "Unreleased" in (site / "changelog" / "index.html").read_text()
