"""Files written atomically: a temporary file in the target's folder, flushed, then renamed over
the target, so a crash mid-save leaves the previous file intact; and the clean-up of the
temporary files that a killed save leaves behind.

Example:
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> def write(tmp):
    ...     with open(tmp, "w") as f:
    ...         f.write("hi")
    >>> atomic_write(os.path.join(folder, "a.txt"), write)
    >>> os.listdir(folder)
    ['a.txt']
"""

import errno
import os
import tempfile


def atomic_write(path, write):
    """Call ``write(tmp_path)`` and then move the result to ``path`` in one rename.

    The folder must exist (as in Keras, a missing folder is a ``FileNotFoundError``, so a typo in
    a path is not silently created). Temporary files that a killed save left in the folder are
    removed first; errors name ``path``, not the temporary file.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        if os.path.exists(folder):
            raise NotADirectoryError(errno.ENOTDIR, f"Cannot save to '{path}': '{folder}' is a file", path)
        raise FileNotFoundError(
            errno.ENOENT, f"Cannot save to '{path}': the folder '{folder}' does not exist (create it first)", path
        )
    remove_stale_temporaries(folder)
    fd, tmp = tempfile.mkstemp(prefix=f"{_TMP_PREFIX}{os.getpid()}-", suffix=os.path.basename(path), dir=folder)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        if os.path.exists(tmp):
            os.remove(tmp)
        if isinstance(error, OSError) and error.errno is not None and error.filename != path:
            raise type(error)(error.errno, f"Saving '{path}' failed: {error.strerror}", path) from error
        raise


_TMP_PREFIX = ".tmp-plait-"


def remove_stale_temporaries(folder):
    """Remove the temporary files of saves whose process is gone (a save killed mid-write)."""
    try:
        names = [n for n in os.listdir(folder) if n.startswith(_TMP_PREFIX)]
    except OSError:
        return
    for name in names:
        pid = name[len(_TMP_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            try:
                os.remove(os.path.join(folder, name))
            except OSError:
                pass  # another process cleaned it first


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed process that its parent has not reaped yet is a zombie: gone all the same
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
