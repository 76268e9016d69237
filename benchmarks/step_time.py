"""Median training-step time of the seed's models: plait, a hand-written torch loop, and Keras 3
(torch backend, when installed), side by side in one run on this machine.

This is the first piece of the performance work (issue: "faster than Keras 3 on every
backend"): Keras's jax and tensorflow backends, compile latency, memory and the write-up in
docs/benchmarks.md are still to come.

Run: ``.venv/bin/python benchmarks/step_time.py [--steps N]``
"""

import argparse
import os
import statistics
import time

import numpy as np
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")


def seed_models(lib):
    L = lib.layers
    inputs = lib.Input(shape=(64,))
    x = L.Dense(32, activation="relu")(inputs)
    x = L.Dense(32, activation="relu")(x)
    mlp = lib.Model(inputs, L.Dense(10, activation="softmax")(x))
    text = lib.Input(shape=(None,), dtype="int32", name="text")
    question = lib.Input(shape=(None,), dtype="int32", name="question")
    a = L.LSTM(32)(L.Embedding(10000, 64)(text))
    b = L.LSTM(16)(L.Embedding(10000, 32)(question))
    qa = lib.Model([text, question], L.Dense(500, activation="softmax")(L.concatenate([a, b], axis=-1)))
    return {"mlp": mlp, "qa": qa}


def batches(name, steps, rng):
    if name == "mlp":
        return [
            (rng.normal(size=(128, 64)).astype("float32"), np.eye(10, dtype="float32")[rng.integers(0, 10, 128)])
            for _ in range(steps)
        ]
    return [
        (
            [rng.integers(1, 10000, (128, 100)).astype("int32"), rng.integers(1, 10000, (128, 100)).astype("int32")],
            np.eye(500, dtype="float32")[rng.integers(0, 500, 128)],
        )
        for _ in range(steps)
    ]


def time_steps(step, data, warmup=5):
    for x, y in data[:warmup]:
        step(x, y)
    times = []
    for x, y in data[warmup:]:
        start = time.perf_counter()
        step(x, y)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


class TorchQA(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.e1, self.l1 = torch.nn.Embedding(10000, 64), torch.nn.LSTM(64, 32, batch_first=True)
        self.e2, self.l2 = torch.nn.Embedding(10000, 32), torch.nn.LSTM(32, 16, batch_first=True)
        self.out = torch.nn.Linear(48, 500)

    def forward(self, text, question):
        _, (h1, _) = self.l1(self.e1(text))
        _, (h2, _) = self.l2(self.e2(question))
        return self.out(torch.cat([h1[0], h2[0]], -1))


def hand_written(name):
    model = (
        torch.nn.Sequential(
            torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10)
        )
        if name == "mlp"
        else TorchQA()
    )
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7, foreach=True)

    def step(x, y):
        xs = [torch.from_numpy(v).long() for v in x] if isinstance(x, list) else [torch.from_numpy(x)]
        loss = torch.nn.functional.cross_entropy(model(*xs), torch.from_numpy(y))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    import plait

    rows = []
    try:
        import keras
    except ImportError:
        keras = None
    for name in ("mlp", "qa"):
        data = batches(name, args.steps, np.random.default_rng(0))
        results = {}
        model = seed_models(plait)[name]
        model.compile("rmsprop", "categorical_crossentropy")
        results["plait"] = time_steps(model.train_on_batch, data)
        results["torch (hand-written)"] = time_steps(hand_written(name), data)
        if keras is not None and keras.backend.backend() == "torch":
            k_model = seed_models(keras)[name]
            k_model.compile("rmsprop", "categorical_crossentropy")
            results["keras 3 (torch)"] = time_steps(k_model.train_on_batch, data)
        rows.append((name, results))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; median ms per training step (batch 128)")
    for name, results in rows:
        best_peer = min(v for k, v in results.items() if k != "plait")
        cells = ", ".join(f"{k}: {v:.2f}" for k, v in results.items())
        print(f"{name:4s} {cells}; plait / best peer = {results['plait'] / best_peer:.2f}")


if __name__ == "__main__":
    main()
