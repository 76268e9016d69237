"""``TensorBoard``: Keras's TensorBoard callback on ``torch.utils.tensorboard`` (no TensorFlow).

The event files have Keras's layout, so TensorBoard shows a plait run as it shows a Keras one:
``<log_dir>/train`` and ``<log_dir>/validation`` runs with ``epoch_loss``, ``epoch_<metric>``,
``epoch_learning_rate`` and, for adaptive loss balancing, ``epoch_<output>_loss_weight``;
``batch_<metric>`` every ``update_freq`` batches; ``<layer>/<weight>/histogram`` every
``histogram_freq`` epochs. The writer comes from the ``tensorboard`` package
(``pip install tensorboard`` or ``pip install "plait[tensorboard]"``).
"""

import io
import os
import time
import warnings
from contextlib import redirect_stdout

import numpy as np
import torch

from plait.callbacks.callback import Callback
from plait.distribution import collectives

_NO_TENSORBOARD = (
    "The TensorBoard callback writes with torch.utils.tensorboard, which needs the `tensorboard` "
    'package (not TensorFlow): `pip install tensorboard` or `pip install "plait[tensorboard]"`.'
)


class _NullWriter:
    """A SummaryWriter that writes nothing (on the processes other than process 0)."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def _summary_writer(log_dir):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as error:
        raise ImportError(_NO_TENSORBOARD) from error
    return SummaryWriter(log_dir)


def _parse_profile_batch(profile_batch):
    """``(start, stop)`` batches (1-based, inclusive) from Keras's forms: 0 (off), N, (N, M), "N,M"."""
    message = (
        "profile_batch must be a non-negative integer or 2-tuple of positive integers. A pair of "
        f"positive integers signifies a range of batches to profile. Found: {profile_batch}"
    )
    if isinstance(profile_batch, str):
        profile_batch = [int(part) for part in profile_batch.split(",")]
        profile_batch = profile_batch[0] if len(profile_batch) == 1 else profile_batch
    if isinstance(profile_batch, int) and not isinstance(profile_batch, bool):
        start, stop = profile_batch, profile_batch
    elif isinstance(profile_batch, (tuple, list)) and len(profile_batch) == 2:
        start, stop = profile_batch
    else:
        raise ValueError(message)
    if start < 0 or stop < start:
        raise ValueError(message)
    return start, stop


def _weight_image(value):
    """A weight as TensorBoard images (NHWC), reshaped as Keras's TensorBoard does; None if it
    has no image form (3D kernels and larger)."""
    image = np.squeeze(value)
    if image.ndim == 1:  # a bias
        image = image.reshape(1, image.shape[0], 1, 1)
    elif image.ndim == 2:  # a Dense kernel, drawn wide
        if image.shape[0] > image.shape[1]:
            image = image.T
        image = image.reshape(1, image.shape[0], image.shape[1], 1)
    elif image.ndim == 3:  # a Conv1D kernel (channels_last): one image per output channel
        image = np.transpose(image, (2, 0, 1))
        image = image.reshape(image.shape[0], image.shape[1], image.shape[2], 1)
    return image if image.ndim == 4 and image.shape[-1] in (1, 3, 4) else None


class TensorBoard(Callback):
    """Write logs for TensorBoard: losses and metrics, weight histograms, the graph, profiles.

    Args:
        log_dir: directory for the event files (default ``"logs"``); runs go to its ``train``
            and ``validation`` subdirectories. Don't share it with other callbacks.
        histogram_freq: every how many epochs to write weight histograms (0: never).
        write_graph: write the model's graph (traced by ``torch.jit``; a text summary is
            written always, and stands in when tracing fails).
        write_images: with ``histogram_freq``, also write weights as images.
        write_steps_per_second: log training steps per second (per epoch, and per batch with
            ``update_freq``).
        update_freq: ``"epoch"`` (default), ``"batch"`` (= 1) or N: also write ``batch_*``
            scalars every N batches.
        profile_batch: batch (``N``) or range of batches (``(N, M)``), 1-based, to record with
            ``torch.profiler``; the trace lands in ``<log_dir>/train/plugins/profile``
            (TensorBoard's PyTorch profiler plugin reads it). 0 (default) disables profiling.
        embeddings_freq: every how many epochs to write ``Embedding`` layers' matrices for
            TensorBoard's projector (0: never).
        embeddings_metadata: a file of labels (one per line, one line per row), or a dict
            ``{layer name: file}``.

    ``model.evaluate(..., callbacks=[tensorboard])`` also writes ``evaluation_<metric>_vs_iterations``
    to the validation run, as in Keras.

    Example:
        >>> import plait, tempfile
        >>> tensorboard = TensorBoard(log_dir=tempfile.mkdtemp(), histogram_freq=1)
        >>> # model.fit(x, y, validation_data=(x_val, y_val), callbacks=[tensorboard])
        >>> # then: tensorboard --logdir <log_dir>
    """

    def __init__(
        self,
        log_dir="logs",
        histogram_freq=0,
        write_graph=True,
        write_images=False,
        write_steps_per_second=False,
        update_freq="epoch",
        profile_batch=0,
        embeddings_freq=0,
        embeddings_metadata=None,
    ):
        super().__init__()
        if update_freq != "epoch" and update_freq != "batch" and not (isinstance(update_freq, int) and update_freq > 0):
            raise ValueError(f"update_freq must be 'epoch', 'batch' or a positive integer. Received: {update_freq!r}")
        for name, value in (("histogram_freq", histogram_freq), ("embeddings_freq", embeddings_freq)):
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer. Received: {name}={value!r}")
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq, self.write_graph, self.write_images = histogram_freq, write_graph, write_images
        self.write_steps_per_second = write_steps_per_second
        self.update_freq = 1 if update_freq == "batch" else update_freq
        self.embeddings_freq, self.embeddings_metadata = embeddings_freq, embeddings_metadata
        self._start_batch, self._stop_batch = _parse_profile_batch(profile_batch)
        self._should_trace = self._stop_batch > 0
        self._writers, self._profiler = {}, None
        self._global_train_batch = 0
        if self.update_freq != "epoch" or self._should_trace or write_steps_per_second:
            # The fit loop skips batch hooks that no callback overrides (it then computes no
            # per-batch logs); only a TensorBoard that needs them has them.
            self.__class__ = _BatchTensorBoard

    def __repr__(self):
        return (
            f"TensorBoard(log_dir={self.log_dir!r}, histogram_freq={self.histogram_freq}, "
            f"update_freq={self.update_freq!r})"
        )

    # ---------------------------------------------------------------- writers
    def _writer(self, run):
        if run not in self._writers:
            # Under a distribution process 0 writes the event files; the others write nothing.
            log_dir = os.path.join(self.log_dir, run)
            self._writers[run] = _summary_writer(log_dir) if collectives.is_writer() else _NullWriter()
        return self._writers[run]

    def _close_writers(self):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    # ---------------------------------------------------------------- hooks
    def on_train_begin(self, logs=None):
        self._global_train_batch = 0
        self._epoch_start = time.perf_counter()
        self._epoch_start_iterations = self._iterations()
        if self.write_graph:
            self._write_model_graph()

    def on_train_end(self, logs=None):
        self._stop_profiler()
        self._close_writers()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()
        self._epoch_start_iterations = self._iterations()

    def on_epoch_end(self, epoch, logs=None):
        self._log_epoch_metrics(epoch, logs or {})
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._log_weights(epoch)
        if self.embeddings_freq and epoch % self.embeddings_freq == 0:
            self._log_embeddings(epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_test_end(self, logs=None):
        # Called by model.evaluate(callbacks=[...]); fit's validation goes to epoch_* instead.
        optimizer = getattr(self.model, "optimizer", None)
        if not logs or optimizer is None:
            return
        writer = self._writer("validation")
        for name, value in logs.items():
            writer.add_scalar(f"evaluation_{name}_vs_iterations", float(value), optimizer.iterations)
        writer.flush()

    # ---------------------------------------------------------------- what is written
    def _iterations(self):
        optimizer = getattr(self.model, "optimizer", None)
        return getattr(optimizer, "iterations", 0) if optimizer is not None else 0

    def _learning_rates(self):
        optimizer = getattr(self.model, "optimizer", None)
        optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # under a LossScaleOptimizer
        try:
            return {"learning_rate": float(optimizer.learning_rate)}
        except (AttributeError, TypeError):
            return {}

    def _log_epoch_metrics(self, epoch, logs):
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        validation = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
        train.update(self._learning_rates())
        if self.write_steps_per_second:
            seconds = time.perf_counter() - self._epoch_start
            train["steps_per_second"] = (self._iterations() - self._epoch_start_iterations) / max(seconds, 1e-9)
        for run, values in (("train", train), ("validation", validation)):
            if values:
                writer = self._writer(run)
                for name, value in values.items():
                    writer.add_scalar(f"epoch_{name}", float(value), epoch)

    def _named_weights(self):
        """``("<layer>/<weight>", tensor in Keras's layout)`` for every weight of every layer."""
        for layer in getattr(self.model, "layers", []):
            entries = getattr(layer, "_weight_entries", None)
            if entries is not None:
                for owner, spec in entries():
                    yield f"{owner.name}/{spec.name}", spec.to_keras(spec.get(owner))
            else:
                for name, tensor in layer.named_parameters():
                    yield f"{getattr(layer, 'name', type(layer).__name__)}/{name.replace('.', '/')}", tensor.detach()

    def _log_weights(self, epoch):
        writer = self._writer("train")
        for path, value in self._named_weights():
            value = value.float().cpu()
            writer.add_histogram(f"{path}/histogram", value, epoch)
            if self.write_images:
                image = _weight_image(value.numpy())
                if image is not None:
                    writer.add_images(f"{path}/image", image, epoch, dataformats="NHWC")

    def _log_embeddings(self, epoch):
        from plait.layers import Embedding

        metadata = self.embeddings_metadata
        for layer in getattr(self.model, "layers", []):
            if not isinstance(layer, Embedding):
                continue
            path = metadata if isinstance(metadata, (str, os.PathLike)) else (metadata or {}).get(layer.name)
            labels = None
            if path is not None:
                with open(path) as f:
                    labels = [line.rstrip("\n") for line in f]
            matrix = torch.as_tensor(layer.get_weights()[0])
            self._writer("train").add_embedding(matrix, metadata=labels, tag=layer.name, global_step=epoch)

    def _example_inputs(self):
        """Zeros shaped like the model's inputs (unknown dims 2), for tracing its graph."""
        inputs = getattr(self.model, "inputs", None)
        if not inputs:
            return None
        return tuple(torch.zeros([2 if d is None else d for d in t.shape], dtype=t.torch_dtype) for t in inputs)

    def _write_model_graph(self):
        writer = self._writer("train")
        summary = io.StringIO()
        with redirect_stdout(summary):
            self.model.summary()
        writer.add_text("model_summary", "```\n" + summary.getvalue() + "```", 0)
        example = self._example_inputs()
        if example is None:
            return  # a subclassed model: no input spec to trace with; the summary stands in
        device = next((p.device for p in self.model.parameters()), torch.device("cpu"))
        was_training = self.model.training
        self.model.eval()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch.jit's tracer warnings are about its own internals
                writer.add_graph(self.model, tuple(t.to(device) for t in example), use_strict_trace=False)
        except Exception as error:  # tracing is best effort: the text summary is already written
            writer.add_text("model_graph", f"The graph could not be traced: {type(error).__name__}: {error}", 0)
        finally:
            self.model.train(was_training)

    # ---------------------------------------------------------------- profiler
    def _start_profiler(self):
        activities = [torch.profiler.ProfilerActivity.CPU]
        if torch.cuda.is_available():
            activities.append(torch.profiler.ProfilerActivity.CUDA)
        trace_dir = os.path.join(self.log_dir, "train", "plugins", "profile")
        self._profiler = torch.profiler.profile(
            activities=activities, on_trace_ready=torch.profiler.tensorboard_trace_handler(trace_dir)
        )
        self._profiler.start()

    def _stop_profiler(self):
        if self._profiler is not None:
            profiler, self._profiler = self._profiler, None
            profiler.stop()


class _BatchTensorBoard(TensorBoard):
    """A TensorBoard that writes per batch (``update_freq``, ``profile_batch`` or
    ``write_steps_per_second``): the same callback with the batch hooks defined."""

    def on_train_batch_begin(self, batch, logs=None):
        self._global_train_batch += 1
        if self.write_steps_per_second:
            self._batch_start = time.perf_counter()
        if self._should_trace and self._global_train_batch == self._start_batch and self._profiler is None:
            self._start_profiler()

    def on_train_batch_end(self, batch, logs=None):
        step = self._global_train_batch
        if self.update_freq != "epoch" and step % self.update_freq == 0:
            writer = self._writer("train")
            for name, value in (logs or {}).items():
                writer.add_scalar(f"batch_{name}", float(value() if callable(value) else value), step)
            if self.write_steps_per_second:
                seconds = max(time.perf_counter() - self._batch_start, 1e-9)
                writer.add_scalar("batch_steps_per_second", 1.0 / seconds, step)
        if self._profiler is not None and step >= self._stop_batch:
            self._stop_profiler()
