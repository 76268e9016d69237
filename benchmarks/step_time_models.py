"""The seed's three models, their data and compile arguments, for ``step_time.py`` (and
``check_overhead.py``): built with plait's or Keras's own layers, or as a hand-written torch
module.

This module imports neither torch nor Keras at the top: it also runs in the Keras-jax
environment, which has no torch.
"""

# name -> (batch size, steps per epoch, epochs of the short fit)
MODELS = {"mlp": (128, 60, 3), "qa": (128, 10, 3), "conv": (64, 4, 3)}
# the long fit's total steps per model (``--long-steps``): thousands, hundreds, tens
LONG_STEPS = {"mlp": 15360, "qa": 260, "conv": 32}

COMPILE = {
    "mlp": dict(loss="categorical_crossentropy"),
    "qa": dict(loss="categorical_crossentropy"),
    "conv": dict(loss=["mse", "binary_crossentropy", "categorical_crossentropy"], loss_weights=[0.25, 10.0, 1.0]),
}


def build(lib, name):
    """The seed's models, with the library's own layers (``lib`` is plait or keras)."""
    L = lib.layers
    if name == "mlp":
        inputs = lib.Input(shape=(64,))
        x = L.Dense(32, activation="relu")(inputs)
        x = L.Dense(32, activation="relu")(x)
        return lib.Model(inputs, L.Dense(10, activation="softmax")(x))
    if name == "qa":
        text = lib.Input(shape=(None,), dtype="int32", name="text")
        question = lib.Input(shape=(None,), dtype="int32", name="question")
        a = L.LSTM(32)(L.Embedding(10000, 64)(text))
        b = L.LSTM(16)(L.Embedding(10000, 32)(question))
        return lib.Model([text, question], L.Dense(500, activation="softmax")(L.concatenate([a, b], axis=-1)))
    posts = lib.Input(shape=(None,), dtype="int32", name="posts")
    x = L.Embedding(50000, 256)(posts)
    x = L.Conv1D(128, 5, activation="relu")(x)
    x = L.MaxPooling1D(5)(x)
    x = L.Conv1D(256, 5, activation="relu")(x)
    x = L.Conv1D(256, 5, activation="relu")(x)
    x = L.MaxPooling1D(5)(x)
    x = L.Conv1D(256, 5, activation="relu")(x)
    x = L.Conv1D(256, 5, activation="relu")(x)
    x = L.GlobalMaxPooling1D()(x)
    x = L.Dense(128, activation="relu")(x)
    heads = [
        L.Dense(1, name="age")(x),
        L.Dense(1, activation="sigmoid", name="sex")(x),
        L.Dense(10, activation="softmax", name="income")(x),
    ]
    return lib.Model(posts, heads)


def data(name, steps=None, batch=None):
    """Synthetic data of the seed's shapes, ``steps`` batches of ``batch`` (default: the model's).

    The MLP's labels come from a fixed linear teacher, so that its loss falls and equal learning
    shows in the final loss.
    """
    import numpy as np

    default_batch, default_steps, _ = MODELS[name]
    n = (batch or default_batch) * (steps or default_steps)
    rng = np.random.default_rng(0)
    if name == "mlp":
        x = rng.normal(size=(n, 64)).astype("float32")
        labels = (x @ rng.normal(size=(64, 10))).argmax(-1)
        return x, np.eye(10, dtype="float32")[labels]
    if name == "qa":
        xs = [rng.integers(1, 10000, (n, 100)).astype("int32") for _ in range(2)]
        return xs, np.eye(500, dtype="float32")[rng.integers(0, 500, n)]
    x = rng.integers(1, 50000, (n, 500)).astype("int32")
    age = rng.uniform(18, 70, (n, 1)).astype("float32")
    sex = rng.integers(0, 2, (n, 1)).astype("float32")
    return x, [age, sex, np.eye(10, dtype="float32")[rng.integers(0, 10, n)]]


def conv_gflop_per_step(batch=64):
    """Multiply-adds x 2 of the conv model's forward pass, x 3 for forward and backward."""
    length, flops, channels = 500, 0, 256
    for filters, pool in ((128, 5), (256, 1), (256, 5), (256, 1), (256, 1)):
        length -= 4  # kernel 5, padding "valid"
        flops += 2 * batch * length * 5 * channels * filters
        channels = filters
        length //= pool
    return 3 * flops / 1e9


def torch_net(name):
    """The hand-written torch module of model ``name``: ``(module, loss_fn)``.

    ``module(*inputs)`` takes int64 or float tensors as ``data`` gives them (in Keras's order)
    and returns logits (the conv model: a tuple of three heads); ``loss_fn(out, targets)`` is
    the seed's loss in its log-softmax / with-logits form.
    """
    import torch
    import torch.nn.functional as F
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            if name == "mlp":
                self.body = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 10))
            elif name == "qa":
                self.e1, self.l1 = nn.Embedding(10000, 64), nn.LSTM(64, 32, batch_first=True)
                self.e2, self.l2 = nn.Embedding(10000, 32), nn.LSTM(32, 16, batch_first=True)
                self.answer = nn.Linear(48, 500)
            else:
                self.emb = nn.Embedding(50000, 256)
                self.convs = nn.ModuleList(
                    [nn.Conv1d(256, 128, 5)] + [nn.Conv1d(c, 256, 5) for c in (128, 256, 256, 256)]
                )
                self.dense, self.heads = nn.Linear(256, 128), nn.Linear(128, 12)

        def forward(self, *inputs):
            if name == "mlp":
                return self.body(inputs[0])
            if name == "qa":
                _, (h1, _) = self.l1(self.e1(inputs[0]))
                _, (h2, _) = self.l2(self.e2(inputs[1]))
                return self.answer(torch.cat([h1[0], h2[0]], -1))
            h = self.emb(inputs[0]).transpose(1, 2)
            for i, conv in enumerate(self.convs):
                h = F.relu(conv(h))
                if i in (0, 2):
                    h = F.max_pool1d(h, 5)
            out = self.heads(F.relu(self.dense(h.amax(-1))))
            return out[:, :1], out[:, 1:2], out[:, 2:]

    def loss_fn(out, targets):
        if name != "conv":
            return F.cross_entropy(out, targets[0])
        age, sex, income = out
        return (
            0.25 * F.mse_loss(age, targets[0])
            + 10 * F.binary_cross_entropy_with_logits(sex, targets[1])
            + F.cross_entropy(income, targets[2])
        )

    return Net(), loss_fn


def torch_tensors(name, x, y, device):
    """``data``'s arrays as lists of torch tensors on ``device``: ``(inputs, targets)``."""
    import torch

    xs = [torch.as_tensor(v, device=device) for v in (x if isinstance(x, list) else [x])]
    if name != "mlp":
        xs = [t.long() for t in xs]  # token ids
    ys = [torch.as_tensor(v, device=device) for v in (y if isinstance(y, list) else [y])]
    return xs, ys
