"""``plait.datasets`` loaders against Keras's on the same small files written in Keras's
formats. plait downloads them through ``get_file`` from a ``file://`` origin (cache and hash
check included); Keras is handed the same local file. No network."""

import gzip
import hashlib
import importlib
import io
import os
import pathlib
import pickle
import tarfile

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from plait import datasets  # noqa: E402
from plait.utils import get_file  # noqa: E402


def _read(path, mode="r"):
    with open(path, mode) as file:
        return file.read()


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _ragged(rng, n, vocab=40):
    out = np.empty(n, dtype="object")
    out[:] = [list(map(int, rng.integers(1, vocab, rng.integers(2, 12)))) for _ in range(n)]
    return out


@pytest.fixture
def serve(tmp_path, monkeypatch):
    """Point a plait dataset module at a local file, and Keras's at the same file."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))

    def serve(name, source):
        ours = getattr(datasets, name)
        monkeypatch.setattr(ours, "ORIGIN", source.as_uri(), raising=False)
        monkeypatch.setattr(ours, "FILE_HASH", _sha256(source), raising=False)
        theirs = importlib.import_module(f"keras.src.datasets.{name}")
        if name.startswith("cifar"):
            folder = tmp_path / f"{name}_keras"
            with tarfile.open(source) as tar:
                tar.extractall(folder, filter="data")
            monkeypatch.setattr(theirs, "get_file", lambda *a, **k: str(folder))
        else:
            monkeypatch.setattr(theirs, "get_file", lambda *a, **k: str(source))
        return ours, getattr(keras.datasets, name)

    return serve


def _assert_same(ours, theirs):
    for a, b in zip(np.asarray(ours, dtype=object).ravel(), np.asarray(theirs, dtype=object).ravel()):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert np.shape(ours) == np.shape(theirs)


def _assert_splits(ours, theirs):
    for our_part, their_part in zip(ours, theirs):
        for a, b in zip(our_part, their_part):
            _assert_same(a, b)


def test_mnist_matches_keras_and_caches(tmp_path, serve):
    rng = np.random.default_rng(0)
    source = tmp_path / "mnist.npz"
    np.savez(
        source,
        x_train=rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
        y_train=rng.integers(0, 10, 6, dtype=np.uint8),
        x_test=rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        y_test=rng.integers(0, 10, 3, dtype=np.uint8),
    )
    ours, theirs = serve("mnist", source)
    _assert_splits(ours.load_data(), theirs.load_data())
    cached = tmp_path / "home" / "datasets" / "mnist.npz"
    assert cached.exists()
    source.unlink()  # the second load reads the cache
    assert ours.load_data()[0][0].shape == (6, 28, 28)


def test_housing_splits_match_keras(tmp_path, serve):
    rng = np.random.default_rng(1)
    for name, features in [("boston_housing", 13), ("california_housing", 8)]:
        source = tmp_path / f"{name}.npz"
        np.savez(source, x=rng.normal(size=(700, features)), y=rng.normal(size=700))
        ours, theirs = serve(name, source)
        _assert_splits(ours.load_data(test_split=0.3, seed=7), theirs.load_data(test_split=0.3, seed=7))
    _assert_splits(ours.load_data(version="small"), theirs.load_data(version="small"))
    with pytest.raises(ValueError, match="version"):
        ours.load_data(version="medium")


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"num_words": 20, "skip_top": 2}, {"maxlen": 9, "oov_char": None}, {"start_char": None, "index_from": 0}],
)
def test_imdb_and_reuters_match_keras(tmp_path, serve, kwargs):
    rng = np.random.default_rng(2)
    imdb_file = tmp_path / "imdb.npz"
    np.savez(
        imdb_file,
        x_train=_ragged(rng, 12),
        y_train=rng.integers(0, 2, 12),
        x_test=_ragged(rng, 8),
        y_test=rng.integers(0, 2, 8),
    )
    ours, theirs = serve("imdb", imdb_file)
    _assert_splits(ours.load_data(**kwargs), theirs.load_data(**kwargs))
    reuters_file = tmp_path / "reuters.npz"
    np.savez(reuters_file, x=_ragged(rng, 20), y=rng.integers(0, 46, 20))
    ours, theirs = serve("reuters", reuters_file)
    _assert_splits(ours.load_data(test_split=0.25, **kwargs), theirs.load_data(test_split=0.25, **kwargs))
    assert ours.get_label_names() == theirs.get_label_names()


def _cifar_tar(path, inner, batches):
    with tarfile.open(path, "w:gz") as tar:
        for name, batch in batches.items():
            data = pickle.dumps(batch)
            info = tarfile.TarInfo(f"{inner}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _cifar_batch(rng, n, **labels):
    return {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), **{k.encode(): v for k, v in labels.items()}}


def test_cifar_matches_keras(tmp_path, serve):
    rng = np.random.default_rng(3)
    source = tmp_path / "cifar-10-python.tar.gz"
    batches = {
        f"data_batch_{i}": _cifar_batch(rng, 2, labels=[int(v) for v in rng.integers(0, 10, 2)]) for i in range(1, 6)
    }
    batches["test_batch"] = _cifar_batch(rng, 3, labels=[int(v) for v in rng.integers(0, 10, 3)])
    _cifar_tar(source, "cifar-10-batches-py", batches)
    ours, theirs = serve("cifar10", source)
    (x_train, y_train), _ = loaded = ours.load_data()
    assert x_train.shape == (10, 32, 32, 3) and y_train.shape == (10, 1)
    # Keras fills a 50000-row buffer; compare the rows these small batches fill.
    (kx, ky), (kx_test, ky_test) = _keras_cifar10_rows(theirs, 10)
    _assert_splits(loaded, ((kx, ky), (kx_test, ky_test)))

    source = tmp_path / "cifar-100-python.tar.gz"
    coarse = {
        "fine_labels": [int(v) for v in rng.integers(0, 100, 4)],
        "coarse_labels": [int(v) for v in rng.integers(0, 20, 4)],
    }
    _cifar_tar(
        source, "cifar-100-python", {"train": _cifar_batch(rng, 4, **coarse), "test": _cifar_batch(rng, 4, **coarse)}
    )
    ours, theirs = serve("cifar100", source)
    for mode in ("fine", "coarse"):
        _assert_splits(ours.load_data(mode), theirs.load_data(mode))
    with pytest.raises(ValueError, match="label_mode"):
        ours.load_data("medium")


def _keras_cifar10_rows(theirs, rows):
    # Keras's cifar10 reads each batch into a fixed 10000-row slot; read the batches itself.
    from keras.src.datasets.cifar import load_batch

    folder = os.path.join(importlib.import_module("keras.src.datasets.cifar10").get_file(), "cifar-10-batches-py")
    parts = [load_batch(os.path.join(folder, f"data_batch_{i}")) for i in range(1, 6)]
    x = np.concatenate([p[0] for p in parts]).transpose(0, 2, 3, 1)
    y = np.concatenate([p[1] for p in parts]).reshape(-1, 1)
    x_test, y_test = load_batch(os.path.join(folder, "test_batch"))
    return (x[:rows], y[:rows]), (x_test.transpose(0, 2, 3, 1), np.reshape(y_test, (-1, 1)))


def test_fashion_mnist_reads_idx_files(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    rng = np.random.default_rng(4)
    served = tmp_path / "served"
    served.mkdir()
    arrays = {}
    for name, n in [("train", 5), ("t10k", 2)]:
        images, labels = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8)
        arrays[name] = (images, labels)
        # IDX: magic and sizes, big-endian, then the bytes
        (served / f"{name}-labels-idx1-ubyte.gz").write_bytes(
            gzip.compress(b"\0\0\x08\x01" + n.to_bytes(4, "big") + labels.tobytes())
        )
        header = b"\0\0\x08\x03" + b"".join(v.to_bytes(4, "big") for v in (n, 28, 28))
        (served / f"{name}-images-idx3-ubyte.gz").write_bytes(gzip.compress(header + images.tobytes()))
    monkeypatch.setattr(datasets.fashion_mnist, "BASE", served.as_uri() + "/")
    (x_train, y_train), (x_test, y_test) = datasets.fashion_mnist.load_data()
    np.testing.assert_array_equal(x_train, arrays["train"][0])
    np.testing.assert_array_equal(y_test, arrays["t10k"][1])
    assert (tmp_path / "home" / "datasets" / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz").exists()


def test_get_file_checks_hashes_and_extracts(tmp_path):
    payload = tmp_path / "payload.txt"
    payload.write_text("abc")
    cache = str(tmp_path / "cache")
    md5 = hashlib.md5(b"abc").hexdigest()
    path = get_file("p.txt", payload.as_uri(), md5_hash=md5, cache_dir=cache)
    assert _read(path) == "abc" and path.endswith(os.path.join("datasets", "p.txt"))
    with pytest.raises(ValueError, match="hash does not match"):
        get_file("q.txt", payload.as_uri(), file_hash="0" * 64, cache_dir=cache)
    assert not os.path.exists(os.path.join(cache, "datasets", "q.txt"))  # nothing half-valid is cached
    # a cached copy with the wrong content is fetched again
    pathlib.Path(path).write_text("stale")
    assert _read(get_file("p.txt", payload.as_uri(), file_hash=md5, cache_dir=cache)) == "abc"
    archive = tmp_path / "bundle.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(payload, arcname="inner/payload.txt")
    folder = get_file("bundle.tar.gz", archive.as_uri(), extract=True, cache_dir=cache)
    assert folder.endswith("bundle_extracted") and _read(os.path.join(folder, "inner", "payload.txt")) == "abc"
    with pytest.raises(ValueError, match="origin"):
        get_file("x")
    with pytest.raises(Exception, match="Failed to download"):
        get_file("missing.txt", (tmp_path / "missing.txt").as_uri(), cache_dir=cache)


def test_get_file_over_local_http(tmp_path):
    import functools
    import http.server
    import threading

    (tmp_path / "served.bin").write_bytes(b"\x00\x01\x02")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/served.bin"
        path = get_file(
            origin=url, file_hash=hashlib.sha256(b"\x00\x01\x02").hexdigest(), cache_dir=str(tmp_path / "c")
        )
        assert _read(path, "rb") == b"\x00\x01\x02"
    finally:
        server.shutdown()
        server.server_close()


def test_every_keras_dataset_exists():
    names = [n for n in dir(keras.datasets) if not n.startswith("_")]
    assert [n for n in names if not hasattr(datasets, n)] == []
    for name in names:
        module = getattr(keras.datasets, name)
        public = [n for n in dir(module) if not n.startswith("_")]
        assert [n for n in public if not hasattr(getattr(datasets, name), n)] == [], name
