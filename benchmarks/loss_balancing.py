"""Loss balancing on the seed's multi-output model: fixed weights against the balancers.

The seed's architecture (Embedding 50000x256, five Conv1D, Dense 128, heads age / sex /
income) and its compile: RMSprop, MSE on the age *in years*, binary and categorical
cross-entropy. On generated posts (``plait.datasets.posts``) the age, sex and income group are
recoverable from a few words; the raw losses start near 2000 (age), 0.7 (sex) and 2.3
(income). Each configuration trains with the same epochs, data and seeds:

* ``equal``: ``loss_weights`` 1 / 1 / 1; ``seed``: the tutorial's hand-tuned 0.25 / 10 / 1;
* ``uncertainty``, ``gradnorm``, ``dwa``, ``famo``: ``plait.losses.balancing``.

It reports each head's validation metric after the last epoch (age MAE in years, sex and
income accuracy) as mean +- standard deviation over the seeds, and the time per training step
relative to fixed weights, measured in a separate phase that alternates the configurations.

    python benchmarks/loss_balancing.py                 # 3 seeds, writes docs/loss-balancing.*
    python benchmarks/loss_balancing.py --seeds 1 --epochs 2 --samples 300   # a smoke run

Needs matplotlib for the plot (``pip install -e ".[bench]"``).
"""

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

import plait
from plait import datasets
from plait.utils import to_categorical

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
from seed_demo import build_multi_output_model  # noqa: E402

CONFIGS = {
    "equal": {"age": 1.0, "sex": 1.0, "income": 1.0},
    "seed": {"age": 0.25, "sex": 10.0, "income": 1.0},
    "uncertainty": "uncertainty",
    "gradnorm": "gradnorm",
    "dwa": "dwa",
    "famo": "famo",
}
LOSSES = {"age": "mse", "sex": "binary_crossentropy", "income": "categorical_crossentropy"}
METRICS = {"age": ["mae"], "sex": ["acc"], "income": ["acc"]}
HEADS = [
    ("val_age_mae", "age MAE (years)", "lower"),
    ("val_sex_acc", "sex acc", "higher"),
    ("val_income_acc", "income acc", "higher"),
]


def make_model(name, seed):
    plait.utils.set_random_seed(seed)
    model = build_multi_output_model()
    model.compile(optimizer="rmsprop", loss=LOSSES, loss_weights=CONFIGS[name], metrics=METRICS)
    return model


def data(samples, length, seed):
    x, (age, sex, income) = datasets.posts(samples, length=length, seed=seed)
    return x, [age, sex.astype("float32"), to_categorical(income, 10)]


def train(name, seed, args, train_data, val_data):
    model = make_model(name, seed)
    history = model.fit(
        *train_data, epochs=args.epochs, batch_size=args.batch_size, validation_data=val_data, verbose=0
    ).history
    return {key: history[key] for key in history}


def step_times(args, train_data, rounds=5, steps=4):
    """Median seconds per training step per configuration, configurations alternating."""
    x, ys = train_data
    batch = (x[: args.batch_size], [y[: args.batch_size] for y in ys])
    models = {name: make_model(name, 0) for name in CONFIGS}
    for model in models.values():
        model.train_on_batch(*batch)  # warm-up: first-step setup, allocator
    times = {name: [] for name in CONFIGS}
    for _ in range(rounds):
        for name, model in models.items():
            for _ in range(steps):
                start = time.perf_counter()
                model.train_on_batch(*batch)
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def summarize(runs):
    rows = {}
    for name, per_seed in runs.items():
        rows[name] = {}
        for key, _, _ in HEADS:
            finals = [h[key][-1] for h in per_seed]
            rows[name][key] = (statistics.mean(finals), statistics.pstdev(finals), finals)
    return rows


def table(rows, times, baseline_mae):
    fixed = times["equal"]
    lines = [
        "| loss_weights | " + " | ".join(label for _, label, _ in HEADS) + " | ms/step | vs fixed |",
        "|---|" + "---|" * (len(HEADS) + 2),
    ]
    for name, row in rows.items():
        cells = [f"{row[key][0]:.3f} ± {row[key][1]:.3f}" for key, _, _ in HEADS]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {1000 * times[name]:.0f} | {times[name] / fixed:.2f}x |")
    lines.append("")
    lines.append(
        f"Predicting the mean age gives an MAE of {baseline_mae:.2f} years; chance is 0.5 (sex), 0.1 (income)."
    )
    return "\n".join(lines)


def plot(runs, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(HEADS), figsize=(15, 4))
    for ax, (key, label, better) in zip(axes, HEADS):
        for name, per_seed in runs.items():
            curves = np.array([h[key] for h in per_seed])
            epochs = np.arange(1, curves.shape[1] + 1)
            ax.plot(epochs, curves.mean(0), label=name)
            ax.fill_between(epochs, curves.min(0), curves.max(0), alpha=0.15)
        ax.set_title(f"validation {label} ({better} is better)")
        ax.set_xlabel("epoch")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--length", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "docs"))
    args = parser.parse_args()
    names = args.configs.split(",")
    train_data = data(args.samples, args.length, seed=3)
    val_data = data(500, args.length, seed=4)
    baseline_mae = float(np.abs(val_data[1][0] - train_data[1][0].mean()).mean())

    times = step_times(args, train_data)
    print("ms/step:", {k: round(1000 * v, 1) for k, v in times.items()}, flush=True)
    runs = {name: [] for name in names}
    for seed in range(args.seeds):  # seeds outermost: an interrupted run still compares all configs
        for name in names:
            start = time.time()
            runs[name].append(train(name, seed, args, train_data, val_data))
            final = {key: round(runs[name][-1][key][-1], 3) for key, _, _ in HEADS}
            print(f"{name} seed {seed}: {final} ({time.time() - start:.0f} s)", flush=True)

    report = table(summarize(runs), times, baseline_mae)
    print(report)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "loss-balancing.json"), "w") as f:
        json.dump({"args": vars(args), "step_seconds": times, "runs": runs, "baseline_mae": baseline_mae}, f)
    try:
        plot(runs, os.path.join(args.out, "loss-balancing.png"))
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib)")


if __name__ == "__main__":
    main()
