"""plait.distribution on 2 CPU processes (gloo): the numbers of one process, on every process.

Each scenario launches ``dist_worker.py`` twice (ranks 0 and 1, as torchrun would), once for
all of its fits, since importing torch dominates; the reference fits run here, in one process
without any process group.
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import dist_worker as worker
import numpy as np
import pytest

import plait
from plait import distribution

WORKER = Path(__file__).with_name("dist_worker.py")
TOLERANCE = 1e-4
MIXED_TOLERANCE = {"mixed_bfloat16": 1e-2, "mixed_float16": 1e-3}  # measured: 2e-3 and 1.2e-4 (one ulp of p)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(scenario, outdir, world=2):
    port = str(_free_port())
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    return [
        subprocess.Popen(
            [sys.executable, str(WORKER), scenario, str(rank), str(world), port, str(outdir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
        )
        for rank in range(world)
    ]


def _results(scenario, outdir, timeout=600, meanwhile=None, world=2):
    """Run a scenario on ``world`` processes; ``meanwhile()`` (the reference fits) runs here while they do."""
    procs = _launch(scenario, outdir, world)
    extra = meanwhile() if meanwhile is not None else None
    logs = [p.communicate(timeout=timeout)[0] for p in procs]
    for rank, (p, log) in enumerate(zip(procs, logs)):
        assert p.returncode == 0, f"rank {rank} failed:\n{log[-4000:]}"
    results = [dict(np.load(outdir / f"{scenario}_{rank}.npz", allow_pickle=False)) for rank in range(len(procs))]
    return results if meanwhile is None else (results, extra)


def _references():
    """The one-process fits the scenario "fits" is compared with."""
    refs = {(name, jit): worker.run_fit(name, jit) for name, jit in worker.FITS + [("sharded", False)]}
    plait.utils.set_random_seed(7)
    model = worker.build_sharded()
    model.compile(**worker.COMPILE["sharded"])
    model.fit(*worker.data("sharded", worker.N), batch_size=worker.BATCH, epochs=1, shuffle=False, verbose=0)
    refs["sharded_1_epoch"] = model.get_weights()
    return refs


@pytest.fixture(scope="module")
def fits(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("distribution")
    results, refs = _results("fits", outdir, meanwhile=_references)
    return results, outdir, refs


def _compare(got, want, prefix, tolerance=TOLERANCE):
    keys = sorted(k for k in want)
    assert sorted(k[len(prefix) :] for k in got if k.startswith(prefix) and not k.startswith(prefix + "time")) == keys
    worst = 0.0
    for key in keys:
        diff = np.max(np.abs(np.asarray(got[prefix + key], dtype=np.float64) - want[key]))
        assert diff < tolerance, f"{prefix}{key}: max abs diff {diff}"
        worst = max(worst, diff)
    return worst


@pytest.mark.parametrize("name,jit", worker.FITS, ids=[f"{n}-{'jit' if j else 'eager'}" for n, j in worker.FITS])
def test_data_parallel_matches_one_process(fits, name, jit):
    """Weights, History, evaluate() and predict() of a 2-process DataParallel fit (global batch
    16, the last batch split 3/3) equal one process's, on both processes."""
    results, _, refs = fits
    want = refs[(name, jit)]
    for rank in (0, 1):
        _compare(results[rank], want, f"{name}_{jit}_")


@pytest.fixture(scope="module")
def slow_fits(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("distribution_slow")

    def references():
        refs = {key: worker.run_fit(*key) for key in worker.SLOW_FITS}
        refs["sharded"] = worker.run_fit("sharded", False)
        return refs

    return _results("fits_slow", outdir, meanwhile=references)


@pytest.mark.slow
@pytest.mark.parametrize("name,jit", worker.SLOW_FITS, ids=[f"{n}-jit" for n, _ in worker.SLOW_FITS])
def test_data_parallel_compiled_matches_one_process(slow_fits, name, jit):
    """The seed's MLP and multi-output model with the compiled whole step (slow: compiling)."""
    results, refs = slow_fits
    for rank in (0, 1):
        _compare(results[rank], refs[(name, jit)], f"{name}_{jit}_")


@pytest.mark.slow
def test_model_parallel_compiled_forward_matches_one_process(slow_fits):
    """jit_compile=True under ModelParallel compiles the forward pass and losses with the DTensor
    weights (torch.func cannot differentiate DTensors, so the whole step does not compile):
    the numbers of one process (slow: compiling takes over a minute on 2 loaded cores)."""
    results, refs = slow_fits
    for rank in (0, 1):
        _compare(results[rank], refs["sharded"], "shardedjit_")


def test_data_parallel_sources(fits):
    """A map-style Dataset (each process loads its own samples) and a generator of global
    batches train exactly as arrays do."""
    results, _, refs = fits
    want = refs[("mlp", False)]
    for rank in (0, 1):
        _compare(results[rank], want, "dataset_")
        _compare(results[rank], want, "generator_")


def _sharded_one_epoch():
    plait.utils.set_random_seed(7)
    model = worker.build_sharded()
    model.compile(**worker.COMPILE["sharded"])
    model.fit(*worker.data("sharded", worker.N), batch_size=worker.BATCH, epochs=1, shuffle=False, verbose=0)
    return model.get_weights()


@pytest.fixture(scope="module")
def extras(tmp_path_factory):
    """One 2-process run: balancers, mixed precision, FullyShardedDataParallel."""
    outdir = tmp_path_factory.mktemp("distribution_extras")

    def references():
        refs = {spec: worker.run_balanced(spec) for spec in worker.BALANCED}
        refs.update({key: worker.run_mixed(*key) for key in worker.MIXED})
        refs.update({f"fsdp_{name}": worker.run_fit(name, False) for name in worker.FSDP_FITS})
        refs["sharded_1_epoch"] = _sharded_one_epoch()
        refs["uneven"] = worker.run_fit("bn_dict", False, n=69)
        refs["nan"] = worker.run_nan()
        return refs

    results, refs = _results("extras", outdir, meanwhile=references)
    return results, refs, outdir


@pytest.mark.parametrize("spec", worker.BALANCED)
def test_adaptive_loss_balancer_matches_one_process(extras, spec):
    """A balancer's own step sees the global batch's losses (and GradNorm the global gradient
    norms): the loss weights, logged in History as ``<output>_loss_weight``, and the trained
    weights are those of one process, on both processes."""
    results, refs, _ = extras
    want = refs[spec]
    assert {"h_age_loss_weight", "lw_age", "lw_income"} <= set(want)
    if spec != "dwa":  # the weights move every step (DWA's from the third epoch)
        assert np.ptp(want["h_sex_loss_weight"]) > 1e-4
    for rank in (0, 1):
        _compare(results[rank], want, f"{spec}_")


def test_uneven_last_batch_matches_one_process(extras):
    """A last batch of 5 split 3/2: each process's loss counts by its share of the global batch,
    also through BatchNormalization's cross-process moments."""
    results, refs, _ = extras
    for rank in (0, 1):
        _compare(results[rank], refs["uneven"], "uneven_")


def test_a_nan_batch_on_one_process_is_skipped_by_all(extras):
    """A NaN sample in process 1's part of a batch (eager, no TerminateOnNaN): the all-reduced
    gradients are NaN on both processes, so both skip that step, as one process skips it."""
    results, refs, _ = extras
    assert all(np.isfinite(w).all() for k, w in refs["nan"].items())
    for rank in (0, 1):
        _compare(results[rank], refs["nan"], "nan_")


@pytest.mark.parametrize("name,policy", worker.MIXED, ids=[f"{n}-{p}" for n, p in worker.MIXED])
def test_mixed_precision_matches_one_process(extras, name, policy):
    """A model built under a mixed policy trains under DataParallel as in one process: each
    process computes its rows in the low precision, so only the rounding of different-sized
    matmuls and the order of the gradient sums differ (measured: see MIXED_TOLERANCE)."""
    results, refs, _ = extras
    for rank in (0, 1):
        _compare(results[rank], refs[(name, policy)], f"{name}_{policy}_", MIXED_TOLERANCE[policy])


@pytest.mark.parametrize("name", ["sharded", "bn_dict"])
def test_fully_sharded_matches_one_process(extras, name):
    """FullyShardedDataParallel (torch's FSDP, ``fully_shard`` per layer) on 2 processes: weights,
    History, evaluate() and predict() of one process; each process holds half of every weight."""
    results, refs, _ = extras
    for rank in (0, 1):
        _compare(results[rank], refs[f"fsdp_{name}"], f"fsdp_{name}_")
        if name == "sharded":  # jit_compile=True trains eagerly under FSDP, with a warning
            _compare(results[rank], refs["fsdp_sharded"], "fsdpjit_")
            assert "sharded by FSDP (FullyShardedDataParallel)" in str(results[rank]["jit_warning"])
        assert results[rank]["shard_shape"].tolist() == [10, 8]  # the (20, 8) embeddings, half per process
        assert str(results[rank]["class_name"]) == "Embedding"  # FSDP's subclass keeps the name


def test_fully_sharded_checkpoint_loads_in_one_process(extras):
    """``save`` under FSDP gathers the whole weights: the file loads in one process."""
    _, refs, outdir = extras
    loaded = plait.models.load_model(outdir / "fsdp.plait")
    for a, b in zip(loaded.get_weights(), refs["sharded_1_epoch"], strict=True):
        assert a.shape == b.shape and np.max(np.abs(a - b)) < TOLERANCE


@pytest.fixture(scope="module")
def mesh(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("distribution_mesh")

    def references():
        refs = {name: worker.run_fit(name, False) for name in ("sharded", "bn_dict")}
        refs["sharded_1_epoch"] = _sharded_one_epoch()
        return refs

    results, refs = _results("mesh", outdir, meanwhile=references, world=4)
    return results, refs, outdir


def test_data_and_model_parallel_mesh_matches_one_process(mesh):
    """ModelParallel on a (batch 2, model 2) mesh of 4 processes: each pair along "model" holds
    half of every sharded weight and reads half of each global batch; the numbers are one
    process's on all four (BatchNormalization, its gamma and beta sharded, with the global
    batch's moments), and the saved file holds the whole weights."""
    results, refs, outdir = mesh
    for rank in range(4):
        _compare(results[rank], refs["sharded"], "sharded_")
        _compare(results[rank], refs["bn_dict"], "bn_dict_")
        assert results[rank]["shard_shape"].tolist() == [4, 8]
        assert "shard a weight over the batch axis 'batch'" in str(results[rank]["err_batch_axis"])
    loaded = plait.models.load_model(outdir / "mesh.plait")
    for a, b in zip(loaded.get_weights(), refs["sharded_1_epoch"], strict=True):
        assert a.shape == b.shape and np.max(np.abs(a - b)) < TOLERANCE


def test_bad_input_fails_on_every_process(fits):
    results = fits[0]
    for rank in (0, 1):
        r = results[rank]
        assert "batch_size=15 is the global batch size" in str(r["err_batch"])
        assert "differs between the processes: [70, 68]" in str(r["err_sizes"])
        assert "was built before the distribution" in str(r["err_late"])
        assert "['nothing_matches/kernel'] name no weight" in str(r["err_layout"])


def test_model_parallel_matches_one_process(fits):
    """Embedding and Dense weights sharded over 2 processes: the numbers of one process, the
    weights sharded in memory, and the saved file holds the whole weights (it loads in one)."""
    results, outdir, refs = fits
    want = refs[("sharded", False)]
    for rank in (0, 1):
        _compare(results[rank], want, "sharded_")
        assert results[rank]["shard_shape"].tolist() == [4, 8]  # an (8, 8) kernel, half per process
    loaded = plait.models.load_model(outdir / "sharded.plait")
    for a, b in zip(loaded.get_weights(), refs["sharded_1_epoch"], strict=True):
        assert a.shape == b.shape and np.max(np.abs(a - b)) < TOLERANCE
    assert plait.models.load_model(outdir / "dp.plait").count_params() == worker.build_mlp().count_params()


def test_dead_process_fails_the_others_and_backup_resumes(tmp_path):
    """Process 1 exits when the third epoch begins: process 0 fails with an error within 60 s
    instead of waiting forever. Restarted, the fit resumes from BackupAndRestore's backup of the
    second epoch and ends as a fit that was never interrupted (one process, same global batch)."""
    procs = _launch("kill", tmp_path)
    procs[1].communicate(timeout=300)
    assert procs[1].returncode == 3
    died = time.monotonic()
    log = procs[0].communicate(timeout=60)[0]
    assert time.monotonic() - died < 60
    assert procs[0].returncode != 0
    assert "Error" in log
    assert (tmp_path / "backup").is_dir()
    resumed, want = _results("resume", tmp_path, meanwhile=lambda: worker.fit_with_backup(tmp_path / "uninterrupted"))
    for rank in (0, 1):
        _compare(resumed[rank], want, "")


def test_api_in_one_process():
    """The Keras API objects, without any process group."""
    assert distribution.list_devices("cpu") == ["cpu:0"]
    mesh = distribution.DeviceMesh((1,), ("batch",), devices=["cpu:0"])
    layouts = distribution.LayoutMap(mesh)
    layouts[".*dense.*kernel"] = (None, "batch")
    layouts[".*dense.*bias"] = distribution.TensorLayout(("batch",))
    assert layouts["dense_1/kernel"].axes == (None, "batch") and layouts["conv/kernel"] is None
    assert layouts["dense/bias"].device_mesh is mesh
    with pytest.raises(ValueError, match="already exist"):
        layouts[".*dense.*kernel"] = (None, None)
    layouts["dense_1/.*"] = (None, None)
    with pytest.raises(ValueError, match="matches multiple layout"):
        layouts["dense_1/kernel"]
    with pytest.raises(ValueError, match="Invalid axis names"):
        distribution.TensorLayout(("model",), mesh)
    with pytest.raises(ValueError, match="Shape does not match the number of devices"):
        distribution.DeviceMesh((2,), ("batch",), devices=["cpu:0"])
    with pytest.raises(ValueError, match="You must specify a layout_map"):
        distribution.ModelParallel()
    dp = distribution.DataParallel()
    assert distribution.distribution() is None
    with dp.scope():
        assert distribution.distribution() is dp
    assert distribution.distribution() is None
    with pytest.raises(TypeError, match="takes a Distribution"):
        distribution.set_distribution("data")
    with pytest.raises(ValueError, match="found no process rank"):
        for key in ("RANK", "WORLD_SIZE", "SLURM_PROCID", "SLURM_NTASKS"):
            assert key not in os.environ
        distribution.initialize()
