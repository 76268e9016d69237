"""``audio_dataset_from_directory``: batches of the ``.wav`` files in a folder, labelled by
subfolder, as Keras's ``keras.utils.audio_dataset_from_directory``.

Files are found, labelled, shuffled and split as by ``image_dataset_from_directory`` (Keras's
order); each is decoded with the standard library's ``wave`` module to float32 samples in
``[-1, 1)``, shape ``(samples, channels)``, as ``tf.audio.decode_wav`` gives them. A batch is
zero-padded to its longest clip, or cut / padded to ``output_sequence_length``.

Example:
    >>> import pathlib, tempfile, wave
    >>> import numpy as np
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for name, length in (("no", 3), ("yes", 5)):
    ...     (root / name).mkdir()
    ...     with wave.open(str(root / name / "a.wav"), "wb") as f:
    ...         f.setnchannels(1); f.setsampwidth(2); f.setframerate(8000)
    ...         f.writeframes(np.full(length, 16384, "<i2").tobytes())
    >>> ds = audio_dataset_from_directory(root, batch_size=2, shuffle=False, verbose=False)
    >>> audio, labels = ds[0]
    >>> tuple(audio.shape), audio[0, :, 0].tolist(), labels.tolist()
    ((2, 5, 1), [0.5, 0.5, 0.5, 0.0, 0.0], [0, 1])
"""

import wave

import numpy as np
import torch

from plait.utils.directory_datasets import DirectoryDataset, index_directory, training_or_validation_split

# Sample width in bytes -> (numpy dtype, offset, scale): PCM integers to [-1, 1).
_PCM = {1: ("u1", 128.0, 128.0), 2: ("<i2", 0.0, 32768.0), 4: ("<i4", 0.0, 2.0**31)}


def read_wav(path):
    """A ``.wav`` file's ``(float32 samples (frames, channels), sampling rate)``."""
    with wave.open(str(path), "rb") as file:
        width, channels, rate = file.getsampwidth(), file.getnchannels(), file.getframerate()
        frames = file.readframes(file.getnframes())
    if width not in _PCM:
        raise ValueError(f"{path}: only 8, 16 and 32-bit PCM .wav files can be read. Received {8 * width}-bit samples.")
    dtype, offset, scale = _PCM[width]
    samples = (np.frombuffer(frames, dtype=dtype).astype("float32") - offset) / scale
    return samples.reshape(-1, channels), rate


def _loader(sampling_rate, output_sequence_length):
    def load(paths):
        clips = []
        for path in paths:
            samples, rate = read_wav(path)
            if sampling_rate is not None and rate != sampling_rate:
                raise ValueError(
                    f"{path} is sampled at {rate} Hz, not sampling_rate={sampling_rate}. plait does not "
                    "resample; resample the files first (torchaudio.functional.resample)."
                )
            clips.append(samples)
        channels = {clip.shape[1] for clip in clips}
        if len(channels) > 1:
            raise ValueError(f"The clips of a batch have different channel counts: {sorted(channels)}")
        length = output_sequence_length or max(len(clip) for clip in clips)
        batch = np.zeros((len(clips), length, channels.pop()), dtype="float32")
        for i, clip in enumerate(clips):
            batch[i, : min(length, len(clip))] = clip[:length]
        return torch.from_numpy(batch)

    return load


def audio_dataset_from_directory(
    directory,
    labels="inferred",
    label_mode="int",
    class_names=None,
    batch_size=32,
    sampling_rate=None,
    output_sequence_length=None,
    ragged=False,
    shuffle=True,
    seed=None,
    validation_split=None,
    subset=None,
    follow_links=False,
    verbose=True,
):
    """Batches ``(audio, labels)`` of the ``.wav`` files under ``directory``.

    Args:
        directory: the folder (one subfolder per class with ``labels="inferred"``).
        labels: ``"inferred"``, None, or a list of integer labels in file order.
        label_mode: ``"int"``, ``"categorical"``, ``"binary"`` or None.
        class_names: the subfolders to use, in label order.
        batch_size: clips per batch (None: one clip per element).
        sampling_rate: the rate every file must have (plait does not resample).
        output_sequence_length: cut or zero-pad every clip to this many samples (default: pad
            each batch to its longest clip).
        ragged: Keras's ragged batches need TensorFlow; only False is accepted.
        shuffle, seed, validation_split, subset, follow_links, verbose: as
            ``image_dataset_from_directory``.

    Returns:
        a ``DirectoryDataset`` of float32 ``(batch, samples, channels)`` audio (with labels), or
        a list of the training and validation datasets for ``subset="both"``.
    """
    if ragged:
        raise ValueError("ragged=True needs TensorFlow's ragged tensors; plait pads the clips (ragged=False).")
    if label_mode not in ("int", "categorical", "binary", None):
        raise ValueError(f'`label_mode` must be "int", "categorical", "binary" or None. Received: {label_mode!r}')
    for name, value in (("sampling_rate", sampling_rate), ("output_sequence_length", output_sequence_length)):
        if value is not None and (not isinstance(value, int) or value <= 0):
            raise ValueError(f"`{name}` must be a positive integer or None. Received: {value!r}")
    if subset not in (None, "training", "validation", "both"):
        raise ValueError(f'`subset` must be "training", "validation", "both" or None. Received: {subset!r}')
    if (validation_split is None) != (subset is None):
        raise ValueError("Pass `validation_split` and `subset` together (or neither).")
    if labels is None or label_mode is None:
        labels = label_mode = None
    if seed is None:
        seed = np.random.randint(1e6)
    paths, file_labels, class_names = index_directory(
        directory, labels, (".wav",), class_names=class_names, shuffle=shuffle, seed=seed,
        follow_links=follow_links, verbose=verbose,
    )  # fmt: skip
    if label_mode == "binary" and len(class_names) != 2:
        raise ValueError(f'label_mode="binary" needs exactly 2 classes. Received: class_names={class_names}')
    load = _loader(sampling_rate, output_sequence_length)

    def dataset(part, training_shuffle):
        part_paths, part_labels = training_or_validation_split(paths, file_labels, validation_split, part)
        if not part_paths:
            raise ValueError(f"No .wav files found in directory {directory} for this subset.")
        return DirectoryDataset(
            part_paths, part_labels, label_mode, class_names, batch_size, load, shuffle=training_shuffle, seed=seed
        )

    if subset == "both":
        return [dataset("training", shuffle), dataset("validation", False)]
    return dataset(subset, shuffle)
