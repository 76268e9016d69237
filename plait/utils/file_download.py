"""``get_file``: download a file once into Keras's cache (``~/.keras/datasets``), check its hash,
optionally extract a tar or zip archive, as Keras's ``keras.utils.get_file``.

Example:
    >>> import hashlib, pathlib, tempfile
    >>> from plait.utils import get_file
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "data.txt").write_text("hello")
    >>> digest = hashlib.sha256(b"hello").hexdigest()
    >>> path = get_file(origin=(folder / "data.txt").as_uri(), file_hash=digest, cache_dir=str(folder / "cache"))
    >>> pathlib.Path(path).read_text(), pathlib.Path(path).parent.name
    ('hello', 'datasets')
"""

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.parse
import urllib.request
import zipfile


def keras_home():
    """Where Keras keeps downloads: ``$KERAS_HOME``, else ``~/.keras``."""
    return os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")


def hash_file(fpath, algorithm="sha256", chunk_size=1 << 16):
    """The hex digest of a file (``"sha256"`` or ``"md5"``)."""
    if algorithm not in ("sha256", "md5"):
        raise ValueError(f"hash_algorithm must be 'sha256', 'md5' or 'auto'. Received: {algorithm!r}")
    digest = hashlib.new(algorithm)
    with open(fpath, "rb") as file:
        for chunk in iter(lambda: file.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _algorithm(file_hash, hash_algorithm):
    # As Keras: "auto" reads a 64-digit hash as sha256, anything else as md5.
    if hash_algorithm == "auto":
        return "sha256" if len(file_hash) == 64 else "md5"
    return hash_algorithm


def validate_file(fpath, file_hash, algorithm="auto"):
    """Whether the file's digest equals ``file_hash``."""
    return hash_file(fpath, _algorithm(file_hash, algorithm)) == file_hash


def _extract(archive, target, archive_format):
    formats = {"auto": ("tar", "zip"), "tar": ("tar",), "zip": ("zip",), None: ()}[archive_format]
    for kind in formats:
        if kind == "tar" and tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tar:
                tar.extractall(target, filter="data")  # refuses paths that leave the target
            return True
        if kind == "zip" and zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zipped:
                for member in zipped.namelist():
                    resolved = os.path.realpath(os.path.join(target, member))
                    if not resolved.startswith(os.path.realpath(target) + os.sep):
                        raise ValueError(f"The zip archive {archive} holds a path outside its folder: {member}")
                zipped.extractall(target)
            return True
    return False


def _targets(fname, origin, datadir, extracting):
    """(where the download goes, where an archive is extracted), by Keras's naming."""
    given = bool(fname)
    fname = os.fspath(fname) if fname else os.path.basename(urllib.parse.urlsplit(origin).path)
    if not fname:
        raise ValueError(f"Cannot take a file name from origin={origin!r}; pass `fname`.")
    if os.sep in fname:
        raise ValueError(f"`fname` is a file name, not a path (use `cache_dir`). Received: fname={fname!r}")
    if not extracting:
        return os.path.join(datadir, fname), None
    if given and "." in fname:
        stem = fname[: fname.index(".")]
        return os.path.join(datadir, fname), os.path.join(datadir, f"{stem}_extracted")
    return os.path.join(datadir, f"{fname}_archive"), os.path.join(datadir, fname)


def get_file(
    fname=None,
    origin=None,
    untar=False,
    md5_hash=None,
    file_hash=None,
    cache_subdir="datasets",
    hash_algorithm="auto",
    extract=False,
    archive_format="auto",
    cache_dir=None,
    force_download=False,
):
    """Download ``origin`` into the cache unless a good copy is there; return its local path.

    Args:
        fname: the file's name in the cache (default: the URL's last part).
        origin: the URL (``https://``, ``http://`` or ``file://``).
        untar: Keras 2's ``extract=True, archive_format="tar"``.
        md5_hash: Keras 2's ``file_hash=..., hash_algorithm="md5"``.
        file_hash: the expected sha256 or md5 digest; a cached file that does not match is
            downloaded again, a download that does not match is a ValueError.
        cache_subdir: the folder under ``cache_dir`` (``"datasets"``).
        hash_algorithm: ``"auto"``, ``"sha256"`` or ``"md5"``.
        extract: extract the archive and return the folder it went to.
        archive_format: ``"auto"`` (tar or zip), ``"tar"``, ``"zip"`` or None.
        cache_dir: the cache root (default ``$KERAS_HOME`` or ``~/.keras``).
        force_download: download even when a good copy is cached.

    Returns:
        the path of the file, or of the extracted folder when extracting.
    """
    if origin is None:
        raise ValueError('get_file needs the "origin" argument: the URL of the file to download.')
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    root = os.path.expanduser(cache_dir or keras_home())
    if not os.access(root, os.W_OK) and os.path.exists(root):
        root = os.path.join(tempfile.gettempdir(), ".keras")  # a read-only home, as Keras falls back
    datadir = os.path.join(root, cache_subdir)
    os.makedirs(datadir, exist_ok=True)
    download, extracted = _targets(fname, origin, datadir, extract or untar)

    fresh = force_download or not os.path.exists(download)
    if not fresh and file_hash is not None and not validate_file(download, file_hash, hash_algorithm):
        fresh = True  # a stale or corrupted cached copy
    if fresh:
        partial = download + ".part"
        try:
            with urllib.request.urlopen(origin) as response, open(partial, "wb") as out:
                shutil.copyfileobj(response, out)
        except (OSError, ValueError) as error:
            if os.path.exists(partial):
                os.remove(partial)
            raise Exception(f"Failed to download {origin}: {error}") from error
        if file_hash is not None and not validate_file(partial, file_hash, hash_algorithm):
            os.remove(partial)
            raise ValueError(
                f"The file downloaded from {origin} is incomplete or corrupted: its "
                f"{_algorithm(file_hash, hash_algorithm)} hash does not match {file_hash}."
            )
        os.replace(partial, download)  # the cache never holds a half-written file
    if extracted is None:
        return download
    if fresh or not os.path.exists(extracted):
        if not _extract(download, extracted, "tar" if untar else archive_format):
            raise ValueError(f"Could not extract {download} as {archive_format!r}.")
    return extracted
