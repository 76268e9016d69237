"""One process of the multi-process tests in test_distribution.py (run as a script, N copies).

``python dist_worker.py SCENARIO RANK WORLD PORT OUTDIR``: joins a gloo process group, runs
the scenario, and writes what it measured to ``OUTDIR/<scenario>_<rank>.npz`` (arrays only,
read back without pickle). The model builders are shared with the test, which runs the same
fits in one process as the reference.
"""

import os
import sys
import time
import warnings

import numpy as np
import torch

import plait
from plait import Input, Model, Sequential, distribution
from plait.layers import (
    LSTM,
    BatchNormalization,
    Conv1D,
    Dense,
    Embedding,
    GlobalAveragePooling1D,
    GlobalMaxPooling1D,
    MaxPooling1D,
    ReLU,
    concatenate,
)


# ---------------------------------------------------------------------- models and data
def build_mlp():
    """The seed's MLP, small."""
    return Sequential(
        [Dense(16, activation="relu", input_shape=(8,)), Dense(16, activation="relu"), Dense(4, activation="softmax")]
    )


def build_bn_dict():
    """Two named inputs, BatchNormalization between Dense layers."""
    a, b = Input(shape=(6,), name="a"), Input(shape=(3,), name="b")
    x = BatchNormalization()(Dense(8)(concatenate([a, b])))
    return Model({"a": a, "b": b}, Dense(1)(ReLU()(x)))


def build_multi_output():
    """The seed's multi-output model, small."""
    posts = Input(shape=(None,), dtype="int32", name="posts")
    x = Embedding(input_dim=30, output_dim=8)(posts)
    x = Conv1D(8, 3, activation="relu")(x)
    x = MaxPooling1D(2)(x)
    x = Conv1D(8, 3, activation="relu")(x)
    x = GlobalMaxPooling1D()(x)
    x = Dense(8, activation="relu")(x)
    return Model(
        posts,
        [
            Dense(1, name="age")(x),
            Dense(1, activation="sigmoid", name="sex")(x),
            Dense(3, activation="softmax", name="income")(x),
        ],
    )


def build_qa():
    """The seed's question-answering model, small."""
    text, question = (
        Input(shape=(None,), dtype="int32", name="text"),
        Input(shape=(None,), dtype="int32", name="question"),
    )
    t = LSTM(8)(Embedding(input_dim=30, output_dim=8)(text))
    q = LSTM(4)(Embedding(input_dim=30, output_dim=4)(question))
    return Model([text, question], Dense(5, activation="softmax")(concatenate([t, q], axis=-1)))


def build_sharded():
    """Embedding and Dense layers for ModelParallel."""
    ids = Input(shape=(5,), dtype="int32")
    x = GlobalAveragePooling1D()(Embedding(input_dim=20, output_dim=8)(ids))
    x = Dense(8, activation="relu")(x)
    return Model(ids, Dense(4, activation="softmax")(x))


def data(name, n):
    rng = np.random.default_rng(0)
    if name in ("mlp", "mlp_spe", "sharded"):
        x = rng.normal(size=(n, 8)).astype("float32") if name != "sharded" else rng.integers(0, 20, size=(n, 5))
        y = np.eye(4, dtype="float32")[rng.integers(0, 4, size=n)]
        return x, y
    if name == "bn_dict":
        x = {"a": rng.normal(size=(n, 6)).astype("float32"), "b": rng.normal(size=(n, 3)).astype("float32")}
        return x, (x["a"].sum(1, keepdims=True) - x["b"][:, :1]).astype("float32")
    if name == "multi_output":
        x = rng.integers(0, 30, size=(n, 12))
        y = {
            "age": rng.normal(size=(n, 1)).astype("float32"),
            "sex": rng.integers(0, 2, size=(n, 1)).astype("float32"),
            "income": np.eye(3, dtype="float32")[rng.integers(0, 3, size=n)],
        }
        return x, y
    x = [rng.integers(0, 30, size=(n, 7)), rng.integers(0, 30, size=(n, 4))]
    return x, np.eye(5, dtype="float32")[rng.integers(0, 5, size=n)]


COMPILE = {
    "mlp": dict(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"]),
    "mlp_spe": dict(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"], steps_per_execution=2),
    "sharded": dict(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"]),
    "bn_dict": dict(optimizer="sgd", loss="mse", metrics=["mae"]),
    "multi_output": dict(
        optimizer="adam",
        loss={"age": "mse", "sex": "binary_crossentropy", "income": "categorical_crossentropy"},
        metrics={"sex": ["accuracy"]},
    ),
    "qa": dict(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"]),
}
BUILD = {
    "mlp": build_mlp,
    "mlp_spe": build_mlp,
    "bn_dict": build_bn_dict,
    "multi_output": build_multi_output,
    "qa": build_qa,
    "sharded": build_sharded,
}
# (model, jit_compile): the DataParallel fits compared with one process.
# Compiling dominates (30-60 s a model on 2 loaded cores): one compiled model by default, the others marked slow.
FITS = [
    ("mlp", False),
    ("mlp_spe", False),
    ("bn_dict", False),
    ("bn_dict", True),
    ("multi_output", False),
    ("qa", False),
]
SLOW_FITS = [("mlp", True), ("multi_output", True)]
N, BATCH, EPOCHS = 70, 16, 2  # the last batch (6 samples) splits 3/3


def run_fit(name, jit, source="arrays", epochs=EPOCHS, policy=None, n=None, **compile_args):
    """Build, compile and fit one model; returns ``{key: array}`` of what the test compares.
    ``policy``: the global dtype policy the model is built under; ``compile_args`` override
    ``COMPILE[name]``."""
    plait.utils.set_random_seed(7)
    if policy is not None:
        plait.mixed_precision.set_global_policy(policy)
    try:
        model = BUILD[name]()
    finally:
        plait.mixed_precision.set_global_policy("float32")
    model.compile(jit_compile=jit, **{**COMPILE[name], **compile_args})
    x, y = data(name, n or N)
    val = data(name, 20)
    if source == "arrays":
        history = model.fit(x, y, batch_size=BATCH, epochs=epochs, shuffle=False, validation_data=val, verbose=0)
    elif source == "dataset":
        dataset = torch.utils.data.TensorDataset(torch.as_tensor(x), torch.as_tensor(y))
        history = model.fit(dataset, batch_size=BATCH, epochs=epochs, shuffle=False, validation_data=val, verbose=0)
    else:  # a generator of global batches, the same on every process
        history = model.fit(
            _batches(x, y), steps_per_epoch=-(-N // BATCH), epochs=EPOCHS, validation_data=val, verbose=0
        )
    out = {f"w{i}": w for i, w in enumerate(model.get_weights())}
    out.update({f"h_{k}": np.array(v) for k, v in history.history.items()})
    out.update({f"lw_{k}": np.array(v) for k, v in model.loss_weights.items()} if len(model.output_names) > 1 else {})
    out.update(
        {f"e_{k}": np.array(v) for k, v in model.evaluate(*val, batch_size=8, verbose=0, return_dict=True).items()}
    )
    predictions = model.predict(val[0], batch_size=8, verbose=0)
    for i, p in enumerate(predictions if isinstance(predictions, list) else [predictions]):
        out[f"p{i}"] = p
    return out


# Adaptive loss balancers (3 epochs: DWA's weights change from the third) and mixed precision
# under DataParallel; scenario "extras".
BALANCED = ["auto", "gradnorm", "famo", "dwa"]
MIXED = [("mlp", "mixed_bfloat16"), ("multi_output", "mixed_bfloat16"), ("mlp", "mixed_float16")]


def run_nan():
    """The MLP with a NaN sample in its second batch, in process 1's part under DataParallel:
    that step is skipped (eager, no TerminateOnNaN), by every process alike."""
    plait.utils.set_random_seed(7)
    model = build_mlp()
    model.compile(**COMPILE["mlp"])
    x, y = data("mlp", N)
    x = x.copy()
    x[BATCH + 12] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fit's warning naming the skipped batch
        model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    return {f"w{i}": w for i, w in enumerate(model.get_weights())}


def run_balanced(spec):
    return run_fit("multi_output", False, epochs=3, loss_weights=spec)


def run_mixed(name, policy):
    return run_fit(name, False, policy=policy)


def _batches(x, y):
    for _ in range(EPOCHS):
        for start in range(0, N, BATCH):
            yield x[start : start + BATCH], y[start : start + BATCH]


def layout_map(shape=(1, 2)):
    mesh = distribution.DeviceMesh(shape=shape, axis_names=("batch", "model"))
    layouts = distribution.LayoutMap(mesh)
    layouts[".*embedding.*/embeddings"] = (None, "model")
    layouts[".*dense.*/kernel"] = (None, "model")
    layouts[".*dense.*/bias"] = ("model",)
    return layouts


def error_of(fn):
    try:
        fn()
    except (ValueError, TypeError) as e:
        return np.array(str(e))
    return np.array("no error")


# ---------------------------------------------------------------------- scenarios
def scenario_fits(rank, outdir):
    """DataParallel fits, data sources, bad input, then ModelParallel (one spawn: torch's import dominates)."""
    out = {}
    with distribution.DataParallel().scope():
        for name, jit in FITS:
            t0 = time.perf_counter()
            out.update({f"{name}_{jit}_{k}": v for k, v in run_fit(name, jit).items()})
            out[f"time_{name}_{jit}"] = np.array(time.perf_counter() - t0)
        for source in ("dataset", "generator"):
            out.update({f"{source}_{k}": v for k, v in run_fit("mlp", False, source).items()})
        model = build_mlp()
        model.compile("sgd", "mse")
        x, y = data("mlp", N)
        out["err_batch"] = error_of(lambda: model.fit(x, y, batch_size=15, verbose=0))
        n = N if rank == 0 else N - 2
        out["err_sizes"] = error_of(lambda: model.fit(x[:n], y[:n], batch_size=16, verbose=0))
        model.save(os.path.join(outdir, "dp.plait"))
    early = build_mlp()
    early.compile("sgd", "mse")
    with distribution.DataParallel().scope():
        out["err_late"] = error_of(lambda: early.fit(x, y, batch_size=16, verbose=0))
    layouts = layout_map()
    layouts["nothing_matches/kernel"] = (None, "model")
    with distribution.ModelParallel(layout_map=layouts, batch_dim_name="batch").scope():
        bad = build_sharded()
        bad.compile("sgd", "mse")
        out["err_layout"] = error_of(lambda: bad.fit(*data("sharded", N), batch_size=16, verbose=0))
    with distribution.ModelParallel(layout_map=layout_map(), batch_dim_name="batch").scope():
        out.update({f"sharded_{k}": v for k, v in run_fit("sharded", False).items()})
        plait.utils.set_random_seed(7)
        model = build_sharded()
        model.compile(**COMPILE["sharded"])
        model.fit(*data("sharded", N), batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
        kernel = model.get_layer(index=3).kernel
        out["shard_shape"] = np.array(kernel.to_local().shape)
        model.save(os.path.join(outdir, "sharded.plait"))
    return out


def fit_with_backup(outdir, callbacks=()):
    """The resumable fit: 4 epochs, shuffled, backed up after every epoch."""
    from plait.callbacks import BackupAndRestore

    plait.utils.set_random_seed(7)
    model = build_mlp()
    model.compile(**COMPILE["mlp"])
    backup = BackupAndRestore(os.path.join(outdir, "backup"))
    history = model.fit(*data("mlp", N), batch_size=BATCH, epochs=4, callbacks=[*callbacks, backup], verbose=0)
    out = {f"w{i}": w for i, w in enumerate(model.get_weights())}
    out.update({f"h_{k}": np.array(v) for k, v in history.history.items()})
    return out


def scenario_fits_slow(rank, outdir):
    """The compiled fits of the slow tests."""
    out = {}
    with distribution.DataParallel().scope():
        for name, jit in SLOW_FITS:
            out.update({f"{name}_{jit}_{k}": v for k, v in run_fit(name, jit).items()})
    with distribution.ModelParallel(layout_map=layout_map(), batch_dim_name="batch").scope():
        # jit_compile=True: the forward pass and losses compile with the DTensor weights
        out.update({f"shardedjit_{k}": v for k, v in run_fit("sharded", True).items()})
    return out


def scenario_extras(rank, outdir):
    """Adaptive loss balancers and mixed precision under DataParallel, then FullyShardedDataParallel."""
    out = {}
    with distribution.DataParallel().scope():
        for spec in BALANCED:
            out.update({f"{spec}_{k}": v for k, v in run_balanced(spec).items()})
        for name, policy in MIXED:
            out.update({f"{name}_{policy}_{k}": v for k, v in run_mixed(name, policy).items()})
        # 69 samples: the last batch of 5 splits 3/2, through BatchNormalization's global moments
        out.update({f"uneven_{k}": v for k, v in run_fit("bn_dict", False, n=69).items()})
        out.update({f"nan_{k}": v for k, v in run_nan().items()})
    out.update(scenario_fsdp(rank, outdir))
    return out


def scenario_fsdp(rank, outdir):
    """FullyShardedDataParallel: the Embedding/Dense model and the BatchNormalization model."""
    out = {}
    with distribution.FullyShardedDataParallel().scope():
        for name in FSDP_FITS:
            out.update({f"fsdp_{name}_{k}": v for k, v in run_fit(name, False).items()})
        plait.utils.set_random_seed(7)
        model = build_sharded()
        model.compile(**COMPILE["sharded"])
        model.fit(*data("sharded", N), batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
        out["shard_shape"] = np.array(model.get_layer(index=1).embeddings.to_local().shape)
        out["class_name"] = np.array(type(model.get_layer(index=1)).__name__)
        model.save(os.path.join(outdir, "fsdp.plait"))
        with warnings.catch_warnings(record=True) as caught:  # jit_compile=True: eager, with a warning
            warnings.simplefilter("always")
            out.update({f"fsdpjit_{k}": v for k, v in run_fit("sharded", True).items()})
        out["jit_warning"] = np.array(" ".join(str(w.message) for w in caught))
    return out


FSDP_FITS = ["sharded", "bn_dict"]


def scenario_mesh(rank, outdir):
    """ModelParallel on a (2, 2) mesh of 4 processes: the batch split over "batch", the weights
    sharded over "model"."""
    out = {}
    with distribution.ModelParallel(layout_map=layout_map((2, 2)), batch_dim_name="batch").scope():
        out.update({f"sharded_{k}": v for k, v in run_fit("sharded", False).items()})
        plait.utils.set_random_seed(7)
        model = build_sharded()
        model.compile(**COMPILE["sharded"])
        model.fit(*data("sharded", N), batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
        out["shard_shape"] = np.array(model.get_layer(index=3).kernel.to_local().shape)
        model.save(os.path.join(outdir, "mesh.plait"))
    bn_layouts = distribution.LayoutMap(distribution.DeviceMesh(shape=(2, 2), axis_names=("batch", "model")))
    bn_layouts[".*batch_normalization.*/(gamma|beta)"] = ("model",)
    with distribution.ModelParallel(layout_map=bn_layouts, batch_dim_name="batch").scope():
        out.update({f"bn_dict_{k}": v for k, v in run_fit("bn_dict", False).items()})
    bad = distribution.LayoutMap(distribution.DeviceMesh(shape=(2, 2), axis_names=("batch", "model")))
    bad[".*embedding.*/embeddings"] = ("batch", None)
    with distribution.ModelParallel(layout_map=bad, batch_dim_name="batch").scope():
        model = build_sharded()
        model.compile("sgd", "mse")
        out["err_batch_axis"] = error_of(lambda: model.fit(*data("sharded", N), batch_size=16, verbose=0))
    return out


def scenario_kill(rank, outdir):
    """Process 1 dies when the third epoch begins (two backups written); process 0 must fail, not hang."""
    from plait.callbacks import LambdaCallback

    def die(epoch, logs):
        if rank == 1 and epoch == 2:
            os._exit(3)

    with distribution.DataParallel().scope():
        fit_with_backup(outdir, [LambdaCallback(on_epoch_begin=die)])
    return {}


def scenario_resume(rank, outdir):
    """The killed fit, restarted: it resumes from the backup of the second epoch."""
    with distribution.DataParallel().scope():
        return fit_with_backup(outdir)


def main():
    scenario, rank, world, port, outdir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
    torch.set_num_threads(1)
    timeout = float(os.environ.get("PLAIT_TEST_TIMEOUT", 60))
    distribution.initialize(job_addresses=f"127.0.0.1:{port}", num_processes=world, process_id=rank, timeout=timeout)
    out = globals()[f"scenario_{scenario}"](rank, outdir)
    np.savez(os.path.join(outdir, f"{scenario}_{rank}.npz"), **out)
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
