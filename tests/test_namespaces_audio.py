"""``audio_dataset_from_directory``: WAV decoding against scipy's reader (exact for 16-bit
PCM after /32768), padding, cutting, labels and splits in the same order as plait's other
directory datasets (which follow Keras's). Keras's own version needs TensorFlow."""

import wave

import numpy as np
import pytest

import plait

scipy_wavfile = pytest.importorskip("scipy.io.wavfile")


def _write(path, samples, width=2, rate=8000):
    with wave.open(str(path), "wb") as file:
        file.setnchannels(samples.shape[1])
        file.setsampwidth(width)
        file.setframerate(rate)
        file.writeframes(samples.tobytes())


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    clips = {}
    for name in ("down", "up"):
        (tmp_path / name).mkdir()
        for i in range(3):
            clip = rng.integers(-32768, 32767, (int(rng.integers(4, 9)), 2)).astype("<i2")
            path = tmp_path / name / f"{i}.wav"
            _write(path, clip)
            (tmp_path / name / f"{i}.txt").write_text(str(path))  # the same files, as text
            clips[str(path)] = clip
    return tmp_path, clips


def test_decoding_padding_and_labels(folder):
    root, clips = folder
    ds = plait.utils.audio_dataset_from_directory(root, batch_size=6, shuffle=False, verbose=False)
    audio, labels = ds[0]
    assert labels.tolist() == [0, 0, 0, 1, 1, 1] and ds.class_names == ["down", "up"]
    assert audio.dtype == plait.ops.convert_to_tensor(np.float32(0)).dtype
    for row, path in zip(audio.numpy(), ds.file_paths):
        rate, reference = scipy_wavfile.read(path)
        assert rate == 8000
        np.testing.assert_array_equal(row[: len(reference)], reference / 32768.0)
        assert not row[len(reference) :].any()  # zero padding to the longest clip
    assert audio.shape[1] == max(len(c) for c in clips.values())
    cut = plait.utils.audio_dataset_from_directory(
        root, batch_size=6, shuffle=False, output_sequence_length=3, verbose=False
    )
    np.testing.assert_array_equal(cut[0][0].numpy(), audio.numpy()[:, :3])


def test_shuffle_and_split_follow_the_other_directory_datasets(folder):
    root, _ = folder
    kwargs = {"batch_size": 2, "seed": 5, "validation_split": 0.5, "subset": "both", "verbose": False}
    audio = plait.utils.audio_dataset_from_directory(root, **kwargs)
    texts = plait.utils.text_dataset_from_directory(root, **kwargs)
    for a, t in zip(audio, texts):
        assert [p[:-4] for p in a.file_paths] == [p[:-4] for p in t.file_paths]


def test_other_sample_widths_and_bad_arguments(tmp_path):
    (tmp_path / "a").mkdir()
    _write(tmp_path / "a" / "x.wav", np.array([[0], [128], [255]], dtype="u1"), width=1)
    audio = plait.utils.audio_dataset_from_directory(tmp_path, label_mode=None, verbose=False)[0]
    np.testing.assert_allclose(audio.numpy()[0, :, 0], [-1.0, 0.0, 127 / 128])
    with pytest.raises(ValueError, match="resample"):
        plait.utils.audio_dataset_from_directory(tmp_path, sampling_rate=16000, verbose=False)[0]
    with pytest.raises(ValueError, match="ragged"):
        plait.utils.audio_dataset_from_directory(tmp_path, ragged=True)
    with pytest.raises(ValueError, match="output_sequence_length"):
        plait.utils.audio_dataset_from_directory(tmp_path, output_sequence_length=0)
