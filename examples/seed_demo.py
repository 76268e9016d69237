"""The seed tutorial's three models, built with plait, summarised, and trained on real tasks.

1. The Sequential and functional MLP (64-32-32-10) on the 8x8 handwritten digits.
2. The two-input question-answering model (two LSTMs) on generated stories and questions.
3. The multi-output model (Conv1D stack, three heads) on generated posts: age, sex, income.

By default each model trains for a few minutes in all on a 2-core CPU; ``--full`` runs the long
training (several minutes more), where the multi-output model's income
head also learns. Each section says what it trains and how long it should take; a line is
printed at least every few seconds, also when the output goes to a file or a pipe.

Run: ``./scripts/demo.sh`` (sets up .venv first) or ``python examples/seed_demo.py [--full]``.
"""

import argparse
import gzip
import sys
import threading
import time
from pathlib import Path

import _startup  # first: reports progress while the imports below load torch and plait
import numpy as np
import torch

import plait
from plait import Input, datasets
from plait.layers import (
    LSTM,
    Conv1D,
    Dense,
    Embedding,
    GlobalMaxPooling1D,
    MaxPooling1D,
    concatenate,
)
from plait.models import Model, Sequential
from plait.utils import to_categorical

DIGITS = Path(__file__).resolve().parent / "data" / "digits.csv.gz"

# How much each model trains: digits epochs, QA (samples, epochs, padded length), posts (samples,
# epochs). "quick" is the default; "tiny" is for the tests (the same program on a few samples,
# to check what it prints). The generated stories have at most 16 words: padded to 40 instead of
# the seed's 100, the same model learns them in less than half the time.
SIZES = {
    "tiny": {"digits_epochs": 2, "qa": (256, 1, 40), "posts": (128, 1)},
    "quick": {"digits_epochs": 30, "qa": (8000, 16, 40), "posts": (1600, 6)},
    "full": {"digits_epochs": 30, "qa": (10000, 16, 100), "posts": (3000, 12)},
}


def section(title, what):
    print("\n" + "#" * 78 + f"\n# {title}\n" + "#" * 78)
    print(what)


def plural(count, noun):
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def duration(seconds):
    seconds = round(seconds)
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


class Heartbeat(plait.callbacks.Callback):
    """Keeps a watcher informed during ``fit``.

    After the first epoch it prints how long the remaining epochs should take. When stdout is
    not a terminal (a log file, a pipe), where the progress bar prints only at the end of each
    epoch, a thread prints the current epoch and step every ``every`` seconds; on a terminal the
    bar moves in place, and the thread speaks only if nothing moved for ``every`` seconds (the
    first steps of a fit may compile).
    """

    def __init__(self, every=5.0):
        super().__init__()
        self.every = every
        self.piped = not sys.stdout.isatty()
        self.state = "starting"
        self.last_progress = time.perf_counter()
        self.done = threading.Event()

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = time.perf_counter()
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        loss_text = f", loss {float(loss):.4f}" if loss is not None else ""
        epochs, steps = self.params["epochs"], self.params.get("steps") or "?"
        self.state = f"epoch {self.epoch + 1}/{epochs}, step {batch + 1}/{steps}{loss_text}"
        self.last_progress = time.perf_counter()

    def on_test_begin(self, logs=None):
        self.state = f"epoch {self.epoch + 1}/{self.params['epochs']}, validating"

    def on_epoch_end(self, epoch, logs=None):
        self.last_progress = time.perf_counter()
        left = self.params["epochs"] - epoch - 1
        if epoch == 0 and left:
            took = time.perf_counter() - self.epoch_start
            print(
                f"    (epoch 1 took {duration(took)}: about {duration(took * left)} for the other {left})", flush=True
            )

    def on_train_end(self, logs=None):
        self.done.set()
        self.thread.join()

    def _watch(self):
        while not self.done.wait(self.every):
            quiet_for = time.perf_counter() - self.last_progress
            if self.piped or quiet_for >= self.every:
                elapsed = time.perf_counter() - self.start
                prefix = "\n" if not self.piped else ""  # start below a bar drawn in place
                print(f"{prefix}    [{duration(elapsed)}] {self.state}", flush=True)


def load_digits():
    """The 8x8 digits (1,797 images, 16 grey levels): UCI's "Optical Recognition of Handwritten
    Digits" test set (E. Alpaydin, C. Kaynak, 1998; CC BY 4.0), the copy scikit-learn bundles."""
    with gzip.open(DIGITS, "rt") as f:
        table = np.loadtxt(f, delimiter=",")
    return table[:, :64].astype("float32") / 16.0, table[:, 64].astype("int64")


def mlp_on_digits(epochs=30):
    section(
        "1. Sequential and functional MLP (64-32-32-10)",
        f"Classifies 8x8 images of handwritten digits (0-9): {plural(epochs, 'epoch')} on 1,437 images,\n"
        "checked on 360 others. About 10 s on an idle 2-core CPU.",
    )
    seq_model = Sequential()
    seq_model.add(Dense(32, activation="relu", input_shape=(64,)))
    seq_model.add(Dense(32, activation="relu"))
    seq_model.add(Dense(10, activation="softmax"))
    seq_model.summary()

    input_tensor = Input(shape=(64,))
    x = Dense(32, activation="relu")(input_tensor)
    x = Dense(32, activation="relu")(x)
    output_tensor = Dense(10, activation="softmax")(x)
    functional_model = Model(input_tensor, output_tensor)
    functional_model.summary()

    x, labels = load_digits()
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], to_categorical(labels[order], 10)
    functional_model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["acc"])
    history = functional_model.fit(
        x, y, epochs=epochs, batch_size=32, validation_split=0.2, verbose=2, callbacks=[Heartbeat()]
    )
    accuracy = history.history["val_acc"][-1]
    print(f"digits: validation accuracy {accuracy:.3f}")
    return {"accuracy": accuracy}


def build_qa_model():
    """The seed's question-answering model, exactly as the tutorial builds it."""
    text_vocabulary_size = 10000
    question_vocabulary_size = 10000
    answer_vocabulary_size = 500

    text_input = Input(shape=(None,), dtype="int32", name="text")
    embedded_text = Embedding(input_dim=text_vocabulary_size, output_dim=64)(text_input)
    encoded_text = LSTM(32)(embedded_text)
    question_input = Input(shape=(None,), dtype="int32", name="question")
    embedded_question = Embedding(input_dim=question_vocabulary_size, output_dim=32)(question_input)
    encoded_question = LSTM(16)(embedded_question)
    concatenated = concatenate([encoded_text, encoded_question], axis=-1)
    answer = Dense(answer_vocabulary_size, activation="softmax")(concatenated)
    return Model([text_input, question_input], answer)


def question_answering(samples=10000, epochs=16, story_length=100, estimate="about 3 minutes"):
    max_length, answer_vocabulary_size = 100, 500
    section(
        "2. Multi-input question-answering model (two Embedding + LSTM branches)",
        "First the seed's own cells: one epoch on random words, given as a list and as a dict.\n"
        f"Then a task it can learn: {samples:,} generated stories that mention a place and an\n"
        'object, each with a question asking "where" or "what"; the answer is the place or the\n'
        f"object. {plural(epochs, 'epoch')}, checked on 1,000 new stories.\n"
        f"{estimate.capitalize()} on an idle 2-core CPU.",
    )
    model = build_qa_model()
    model.summary()

    # The seed's random-data cell, both input forms (its dict cell, fixed: a positional argument
    # cannot follow a keyword one in Python).
    num_samples = 1000
    text = np.random.randint(1, 10000, size=(num_samples, max_length))
    question = np.random.randint(1, 10000, size=(num_samples, max_length))
    answers = to_categorical(np.random.randint(0, answer_vocabulary_size, size=num_samples))
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["acc"])
    model.fit(x=[text, question], y=answers, epochs=1, batch_size=128, callbacks=[Heartbeat()])
    model.fit(x={"text": text, "question": question}, y=answers, epochs=1, batch_size=128, callbacks=[Heartbeat()])

    # A task the architecture can represent: where is the place, what is the object.
    (text, question), answers = datasets.question_answering(samples, max_length=story_length, seed=1)
    (val_text, val_question), val_answers = datasets.question_answering(1000, max_length=story_length, seed=2)
    model = build_qa_model()  # fresh weights: the random-data epochs taught it nothing useful
    model.compile(optimizer=plait.optimizers.RMSprop(0.005), loss="categorical_crossentropy", metrics=["acc"])
    history = model.fit(
        [text, question],
        to_categorical(answers, answer_vocabulary_size),
        epochs=epochs,
        batch_size=128,
        verbose=1,  # on a terminal the bar moves within each epoch
        validation_data=([val_text, val_question], to_categorical(val_answers, answer_vocabulary_size)),
        callbacks=[Heartbeat()],
    )
    accuracy = history.history["val_acc"][-1]
    print(f"question answering: validation accuracy {accuracy:.3f}")
    return {"accuracy": accuracy}


def build_multi_output_model():
    """The seed's multi-output model, exactly as the tutorial builds it."""
    vocabulary_size = 50000
    num_income_groups = 10
    posts_input = Input(shape=(None,), dtype="int32", name="posts")
    embedded_posts = Embedding(input_dim=vocabulary_size, output_dim=256)(posts_input)
    x = Conv1D(filters=128, kernel_size=5, activation="relu")(embedded_posts)
    x = MaxPooling1D(5)(x)
    x = Conv1D(256, 5, activation="relu")(x)
    x = Conv1D(256, 5, activation="relu")(x)
    x = MaxPooling1D(5)(x)
    x = Conv1D(256, 5, activation="relu")(x)
    x = Conv1D(256, 5, activation="relu")(x)
    x = GlobalMaxPooling1D()(x)
    x = Dense(128, activation="relu")(x)
    age_prediction = Dense(1, name="age")(x)
    sex_prediction = Dense(1, activation="sigmoid", name="sex")(x)
    income_prediction = Dense(num_income_groups, activation="softmax", name="income")(x)
    return Model(posts_input, [age_prediction, sex_prediction, income_prediction])


def multi_output(length=300, samples=3000, epochs=12, optimizer="adam", loss_weights=None, estimate="about 5 minutes"):
    """Trains the seed's multi-output model; returns its History dict, with the validation age
    MAE in years as ``val_age_mae_years``."""
    section(
        "3. Multi-output model: age, sex and income group from posts (Conv1D stack, three heads)",
        f"{samples:,} generated posts of {length} words, a few of which reveal the author's age decade,\n"
        f"sex and income group. {plural(epochs, 'epoch')} of the seed's 14.1M-weight model, checked on 500\n"
        f"new posts. {estimate.capitalize()} on an idle 2-core CPU.",
    )
    num_income_groups = 10
    model = build_multi_output_model()
    model.compile(
        optimizer=optimizer,
        loss={"age": "mse", "sex": "binary_crossentropy", "income": "categorical_crossentropy"},
        # The seed's {"age": 0.25, "sex": 10.0, "income": 1.0} suits an age MSE of 3 to 5; on a
        # standardised age (below) every loss starts near 1, so equal weights balance them.
        loss_weights=loss_weights or {"age": 1.0, "sex": 1.0, "income": 1.0},
        metrics={"age": ["mae"], "sex": ["acc"], "income": ["acc"]},
    )
    model.summary()

    posts, (age, sex, income) = datasets.posts(samples, length=length, seed=3)
    val_posts, (val_age, val_sex, val_income) = datasets.posts(500, length=length, seed=4)
    # Ages are learned standardised: in raw years the MSE (hundreds) drowns the other losses --
    # the very problem the seed's last section describes -- and a target far from zero makes the
    # age head inflate the shared features. Predictions convert back to years.
    mean, std = age.mean(), age.std()
    history = model.fit(
        posts,
        [(age - mean) / std, sex, to_categorical(income, num_income_groups)],
        epochs=epochs,
        batch_size=64,
        verbose=1,
        validation_data=(val_posts, [(val_age - mean) / std, val_sex, to_categorical(val_income, 10)]),
        callbacks=[Heartbeat()],
    )
    h = history.history
    h["val_age_mae_years"] = [std * v for v in h["val_age_mae"]]
    h["baseline_age_mae_years"] = float(np.abs(val_age - mean).mean())
    print(
        f"posts: validation age MAE {h['val_age_mae_years'][-1]:.2f} years (predicting the mean: "
        f"{h['baseline_age_mae_years']:.2f}), sex accuracy {h['val_sex_acc'][-1]:.3f} (chance 0.5), "
        f"income accuracy {h['val_income_acc'][-1]:.3f} (chance 0.1)"
    )
    return h


def print_table(rows):
    """What each model learned, one row per result."""
    headers = ("Model", "Learned to", "Validation result", "Guessing gets", "Time")
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]
    line = "+-" + "-+-".join("-" * w for w in widths) + "-+"
    print("\n" + line)
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |")
    print(line)
    for row in rows:
        print("| " + " | ".join(str(v).ljust(w) for v, w in zip(row, widths)) + " |")
    print(line)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="the long training (several minutes more)")
    parser.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # the tests' few-sample run
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # lines reach a pipe or a log file as they are printed
    _startup.done()
    size = SIZES["tiny" if args.tiny else "full" if args.full else "quick"]
    qa_estimate = "about 3 minutes" if args.full else "about 1 minute"
    posts_estimate = "about 5 minutes" if args.full else "about 90 s"
    run = "full run" if args.full else "quick run (--full: the long training)"
    print(f"plait {plait.__version__} on torch {torch.__version__}: the seed tutorial's three models, {run}.")
    plait.utils.set_random_seed(0)
    start = time.perf_counter()
    times = []

    digits = mlp_on_digits(size["digits_epochs"])
    times.append(time.perf_counter() - start)
    qa = question_answering(*size["qa"], estimate=qa_estimate)
    times.append(time.perf_counter() - start - sum(times))
    samples, epochs = size["posts"]
    h = multi_output(samples=samples, epochs=epochs, estimate=posts_estimate)
    times.append(time.perf_counter() - start - sum(times))

    print_table(
        [
            ("1. MLP", "read a handwritten digit", f"accuracy {digits['accuracy']:.3f}", "0.100", duration(times[0])),
            (
                "2. Question answering",
                "answer where/what from a story",
                f"accuracy {qa['accuracy']:.3f}",
                "0.050 (right kind of word)",
                duration(times[1]),
            ),
            (
                "3. Multi-output: age",
                "tell the author's age",
                f"mean error {h['val_age_mae_years'][-1]:.1f} years",
                f"{h['baseline_age_mae_years']:.1f} years (the mean)",
                duration(times[2]),
            ),
            ("   Multi-output: sex", "tell the author's sex", f"accuracy {h['val_sex_acc'][-1]:.3f}", "0.500", ""),
            (
                "   Multi-output: income",
                "tell the income group",
                f"accuracy {h['val_income_acc'][-1]:.3f}",
                "0.100",
                "",
            ),
        ]
    )
    if not args.full:
        print("The income head learns last: its ten groups need the longer training of --full.")
    print(f"\nDemo finished in {duration(time.perf_counter() - start)}.")


if __name__ == "__main__":
    main()
