"""The documentation site: every Python example on its pages and in the README runs, the
examples gallery's programs run on small data, the site builds in strict mode (broken links and
API references fail the build), and its API reference lists every public name of the package."""

import contextlib
import importlib
import importlib.util
import inspect
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
        "coming-from-keras.md",
        "coming-from-pytorch.md",
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


def test_readme_links_stay_inside_the_repository():
    """A newcomer reads the README in a clone: every link is a path in the repository."""
    readme = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)\s]+)\)", readme)
    assert targets, "the README links to its docs"
    for target in targets:
        assert "://" not in target and not target.startswith(("/", "..")), target
        assert (ROOT / target.split("#")[0]).exists(), target
    assert "seeds/" not in readme and "../shared/seeds" not in readme


@pytest.mark.filterwarnings("ignore::DeprecationWarning:keras")  # as test_examples_run
def test_readme_snippets_run(tmp_path, monkeypatch):
    """The README's Python snippets run as written, in order, in one namespace (a reader pasting
    them into one session), in an empty working directory."""
    pytest.importorskip("onnxscript")  # the saving snippet exports ONNX
    blocks = FENCE.findall((ROOT / "README.md").read_text())
    assert len(blocks) >= 4
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "readme"}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for number, block in enumerate(blocks, start=1):
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(block, f"README.md, python block {number}", "exec"), namespace)
    finally:
        torch.set_num_threads(threads)
        plait.distribution.set_distribution(None)
    assert {"model.plait", "model.keras", "model.weights.h5", "model.onnx", "model.pt2"} <= set(os.listdir(tmp_path))


GALLERY = ["image_classification", "text_classification", "time_series", "custom_train_step", "multi_gpu"]


def test_gallery_page_shows_every_example_program():
    page = (DOCS / "examples.md").read_text()
    programs = sorted(p.stem for p in (ROOT / "examples").glob("*.py") if not p.stem.startswith("_"))
    assert programs == sorted([*GALLERY, "seed_demo"])
    for program in programs:
        assert f'--8<-- "examples/{program}.py"' in page


@pytest.mark.parametrize("program", GALLERY)
def test_gallery_program_runs_on_small_data(program, tmp_path):
    """Each gallery program runs as a reader would run it, with --small (few samples, few
    epochs); the multi-process one under torchrun with two CPU processes (gloo)."""
    script = str(ROOT / "examples" / f"{program}.py")
    if program == "multi_gpu":
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", script]
    else:
        command = [sys.executable, script]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "error"}
    result = subprocess.run([*command, "--small"], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    last = result.stdout.strip().splitlines()[-1]
    expected = {
        "image_classification": "test accuracy:",
        "text_classification": "'dull and boring':",
        "time_series": "test MAE:",
        "custom_train_step": "validation reconstruction MSE:",
        "multi_gpu": "trained on 2 device(s)",
    }[program]
    assert expected in last, result.stdout[-2000:]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site, built once in strict mode (broken links, references and docstrings fail it)."""
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("mkdocstrings") is None:
        pytest.skip('mkdocs and mkdocstrings are not installed (pip install ".[docs]"; the test extra has them)')
    site = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return site


def reference_module():
    spec = importlib.util.spec_from_file_location("docs_reference_hook", DOCS / "hooks" / "reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_public_module_has_a_reference_page(site):
    pages = {module: page for page, module, _ in reference_module().reference_pages()}
    modules = {f"plait.{name}" for name in plait.__all__ if inspect.ismodule(getattr(plait, name))}
    assert modules <= set(pages), sorted(modules - set(pages))
    navigation = (site / "index.html").read_text()
    for module in modules:
        assert (site / "api" / pages[module] / "index.html").exists(), module
        assert f'href="api/{pages[module]}/"' in navigation, module


def test_reference_lists_every_public_name(site):
    """Every public name of every public module has its entry (an element with the name's id)
    on its reference page: names added to the package appear without editing the docs."""
    reference = reference_module()
    missing, count = [], 0
    for page, module_name, _ in reference.reference_pages():
        html = (site / "api" / page / "index.html").read_text()
        module = importlib.import_module(module_name)
        if hasattr(module, "__all__") and module_name != "plait":
            assert set(module.__all__) <= set(reference.public_names(module_name)), module_name
        for name in reference.public_names(module_name):
            obj = getattr(module, name)
            if module_name == "plait.ops" and not inspect.ismodule(obj):
                family = reference.families_of_ops().get(name)
                ids = [f"plait.ops.{family}.{name}" if family else f"plait.ops.{name}"]
            elif inspect.ismodule(obj):
                ids = [f"{obj.__name__}.{n}" for n in reference.public_names(obj.__name__)]
            else:
                ids = [f"{module_name}.{name}"]
            for anchor in ids:
                count += 1
                if f'id="{anchor}"' not in html:
                    missing.append(anchor)
    assert not missing, f"{len(missing)} of {count} public names have no reference entry: {missing[:20]}"
    assert count > 900  # layers, ops, losses, metrics, ... (a sanity floor)
    for family, _ in reference.OPS_FAMILIES:
        html = (site / "api" / "ops" / "index.html").read_text()
        assert all(f'id="plait.ops.{family}.{n}"' in html for n in reference.public_names(f"plait.ops.{family}"))


def test_factory_made_names_are_documented_with_their_docstrings(site):
    losses = (site / "api" / "losses" / "index.html").read_text()
    metrics = (site / "api" / "metrics" / "index.html").read_text()
    # Loss and metric classes made by factories, and an alias pointing at its class.
    assert 'id="plait.losses.MeanSquaredError"' in losses and 'id="plait.losses.mse"' in losses
    assert 'id="plait.metrics.Accuracy"' in metrics and "Streaming mean of" in metrics
    layers = (site / "api" / "layers" / "index.html").read_text()
    assert 'id="plait.layers.Conv2D"' in layers and 'id="plait.layers.concatenate"' in layers
    # "Example:" sections render as code, not as quoted text.
    assert "&gt;&gt;&gt;" in layers and "<blockquote>" not in layers


def test_site_builds_in_strict_mode(site):
    api = (site / "api" / "utils" / "index.html").read_text()
    assert 'id="plait.utils.plot_model"' in api and 'id="plait.utils.plot_history"' in api
    assert 'id="plait.callbacks.TensorBoard"' in (site / "api" / "callbacks" / "index.html").read_text()
    assert "Unreleased" in (site / "changelog" / "index.html").read_text()
