"""A run directory's files on disk: their names, writes that are whole or not at all, and
one writing process at a time.

Every write goes through ``atomic_write`` (temporary file, fsync, rename), which also refuses to
replace what must not be replaced: a run's own files from another command, a symlink, a device
node, a read-only file. ``RunLock`` makes a second process writing the same run stop with one
line. Errors are ``WriteError`` (exit 11: disk full, read-only, refused) or ``RunError`` (7).
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
import warnings
from contextlib import contextmanager
from pathlib import Path

from safetensors import SafetensorError

from ..errors import RunError, WriteError

try:
    import fcntl
except ImportError:  # Windows: no flock; a run directory is then not locked
    fcntl = None

MANIFEST, METRICS, WEIGHTS, LOCK = "run.json", "metrics.jsonl", "model.safetensors", "run.lock"
OPTIMIZER = "optimizer.safetensors"  # the optimizer state of the weights' epoch
PENDING = "optimizer.pending.safetensors"  # the next one, while a checkpoint is being written
CSV = "metrics.csv"  # metrics.jsonl's rows as CSV (convnet/logs.py)
BEST = "best.safetensors"  # with --val: the chosen epoch's weights (convnet/validation.py)
SNAPSHOTS = "snapshots.safetensors"  # with --snapshots: the first layer's filters over time
LIVE = "live.jsonl"  # a row of training loss and accuracy every few steps (runs/live.py)
# Only the run's own writers may replace these:
OWN_FILES = (MANIFEST, METRICS, WEIGHTS, LOCK, OPTIMIZER, PENDING, CSV, BEST, SNAPSHOTS, LIVE)


def reason(e: BaseException) -> str:
    """Why a write failed, in words: 'disk full: No space left on device', 'Permission denied'.

    Example:
        >>> reason(OSError(errno.ENOSPC, "No space left on device"))
        'disk full: No space left on device'
    """
    text = getattr(e, "strerror", None) or str(e)
    full = (getattr(e, "errno", None) in (errno.ENOSPC, errno.EDQUOT)
            or "No space left on device" in text)  # safetensors' own error has only the text
    return f"disk full: {text}" if full else text


def is_rundir(folder: Path) -> bool:
    return (Path(folder) / MANIFEST).is_file() or os.path.lexists(Path(folder) / WEIGHTS)


def refuse_to_replace(path: Path, own_file: bool = False) -> None:
    """Refuse (one line) to replace anything but a writable regular file, or a run's own file.

    A rename replaces whatever is at ``path``: a symlink or a device node would become a
    regular file (``--out /dev/null`` as root), and a read-only file would lose its content.

    Raises:
        WriteError: ``path`` is one of a run's own files (unless ``own_file``: the run's own
            writers), a symlink, a directory, a device, a pipe or a socket, or read-only.
    """
    path = Path(path)
    if not own_file and path.name in OWN_FILES and is_rundir(path.parent):
        raise WriteError(f"{path} is the run's own {path.name}; convnet never replaces it from "
                         "another command: choose another file name")
    try:
        st = os.lstat(path)
    except OSError:  # nothing there (or unreadable: the write itself will say why)
        return
    kind = ("a symlink" if stat.S_ISLNK(st.st_mode) else "a directory" if stat.S_ISDIR(st.st_mode)
            else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
            else None if stat.S_ISREG(st.st_mode) else "a pipe or socket")
    if kind:
        raise WriteError(f"{path} is {kind}, not a regular file; convnet only replaces regular "
                         "files: choose another path")
    if not st.st_mode & 0o222 or not os.access(path, os.W_OK):  # mode bits: root passes access()
        raise WriteError(f"{path} is read-only; convnet will not replace it: make it writable "
                         "or choose another path")


def atomic_write(path: Path, write, own_file: bool = False) -> None:
    """Write through a temporary file in the same directory, fsync, then rename over ``path``.

    A crash (even kill -9) or a full disk mid-write leaves the previous file intact: rename is
    atomic. The new file gets the replaced file's permissions, else those of any new file.

    Args:
        path (Path): the file to (re)place; see ``refuse_to_replace`` for what is refused.
        write (callable): ``write(tmp)`` writes the whole content to the path ``tmp``.
        own_file (bool): the caller is the run's own writer (checkpoint, manifest, metrics).
            Default: False.

    Raises:
        WriteError: one line naming ``path`` and why (``disk full: ...``, read-only...).
    """
    path, tmp = Path(path), None
    refuse_to_replace(path, own_file)
    try:
        tmp = _new_temp(path)
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except (OSError, SafetensorError) as e:  # disk full, read-only, permissions...
        _discard(tmp)
        raise WriteError(f"{path}: could not write it ({reason(e)}); "
                         f"the previous version, if any, is intact") from None
    except BaseException:
        _discard(tmp)
        raise
    _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    try:  # a rename survives a power cut once the folder is on disk
        fd = os.open(folder, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
    except OSError:  # not every file system syncs a folder; the write itself is done
        pass


def atomic_rename(source: Path, path: Path) -> None:
    """Rename the whole file ``source`` over ``path`` (the run's own writer only), durably.

    Raises:
        WriteError: one line naming ``path``; ``source`` and the previous ``path`` stay.
    """
    refuse_to_replace(path, own_file=True)
    try:
        os.replace(source, path)
    except OSError as e:
        raise WriteError(f"{path}: could not rename {Path(source).name} over it "
                         f"({reason(e)})") from None
    _sync_folder(Path(path).parent)


def _new_temp(path: Path) -> str:
    """An empty ``.NAME.XXXXXXXX.tmp`` beside ``path``: the umask's mode (mkstemp's is 0600),
    or the replaced file's."""
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        if path.is_file():
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        return str(tmp)


def _discard(tmp: str | None) -> None:
    if tmp:
        Path(tmp).unlink(missing_ok=True)


def remove_stale_temps(path: Path) -> None:
    """Delete temporary files that a killed ``atomic_write`` of ``path`` left behind.

    They are never read (only the renamed file is), so this is tidiness, not correctness.
    Only the process holding the run's lock calls it, so no other write is in flight.
    """
    path = Path(path)
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        tmp.unlink(missing_ok=True)


def check_out(path: str | Path, folder: bool = False) -> Path:
    """A command's --out, checked before any work: a folder (or nothing yet) when ``folder``,
    else a path ``refuse_to_replace`` accepts (not a run's own file, a symlink, a device...)."""
    path = Path(path)
    if not folder:
        refuse_to_replace(path)
    elif path.exists() and not path.is_dir():
        raise WriteError(f"--out {path} is a file, not a folder: choose another --out")
    return path


def make_dir(path: Path, exist_ok: bool = True) -> Path:
    """``mkdir -p path``, or one line saying why not (a file is there, disk full, read-only).

    With ``exist_ok=False`` anything already at ``path`` raises FileExistsError (an atomic claim).
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=exist_ok)
    except FileExistsError:
        if not exist_ok:
            raise
        raise WriteError(f"{path} is a file, not a folder: choose another --out") from None
    except OSError as e:
        raise WriteError(f"{path}: could not create the folder ({reason(e)})") from None
    return path


# --- one writer per run ---------------------------------------------------------------------------


class RunLock:
    """An exclusive ``flock`` on RUNDIR/run.lock, held while one process writes the run.

    A second ``train --out`` or ``--resume`` of the same folder stops with one line instead of
    interleaving its metrics and weights with the first's. The kernel drops the lock when its
    process ends, even by kill -9, so a lock is never stale. Readers (predict, serve, show...)
    take none: every file they read is replaced whole.

    Raises:
        RunError: another process holds the lock. WriteError: the lock file cannot be made.
    """

    def __init__(self, rundir: Path):
        path, self.fd = Path(rundir) / LOCK, None
        refuse_to_replace(path, own_file=True)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as e:
            raise WriteError(f"{path}: could not create the run's lock ({reason(e)})") from None
        try:
            if fcntl:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunError(f"{rundir} is being written by another convnet process (its pid is in "
                           f"{path}); wait for it to end") from None
        except OSError as e:  # a file system without locks
            os.close(fd)
            raise WriteError(f"{path}: could not lock it ({reason(e)})") from None
        self.fd = fd
        try:  # who holds it, for a person looking (nothing reads it)
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError:
            pass

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the file drops the flock
            self.fd = None

    __del__ = release


@contextmanager
def released_on_error(lock: RunLock | None):
    """The block runs holding ``lock``, which it keeps on success and drops on any error."""
    try:
        yield lock
    except BaseException:
        if lock:
            lock.release()
        raise


def has_progress(rundir: Path) -> bool:
    """Whether a run got as far as a checkpoint (or logged an epoch): then only --resume it."""
    metrics = Path(rundir) / METRICS
    return os.path.lexists(Path(rundir) / WEIGHTS) or (metrics.is_file()
                                                         and metrics.stat().st_size > 0)


def claim_rundir(path: Path, numbered: bool = False) -> tuple[Path, RunLock]:
    """Make and lock a folder for a new run: ``path``, or with ``numbered`` the first free one of
    path, path-2, path-3... (mkdir is atomic: two runs started at once never share one).

    A run at ``path`` stopped before its first checkpoint (killed in epoch 1) is replaced.

    Raises:
        RunError: ``path`` holds a run with a checkpoint (resumed, never replaced), or another
            process is writing it. WriteError: the folder cannot be made.
    """
    stem, k = path, 1
    while numbered:
        try:
            make_dir(path, exist_ok=False)
            break
        except FileExistsError:
            k += 1
            path = Path(f"{stem}-{k}")
    lock = RunLock(make_dir(path))
    if (path / MANIFEST).exists():
        if has_progress(path):
            lock.release()
            raise RunError(f"{path} already holds a run: use --resume {path} or another --out")
        warnings.warn(f"{path} held a run stopped before its first checkpoint; starting it again")
        (path / METRICS).unlink(missing_ok=True)
        (path / PENDING).unlink(missing_ok=True)  # an epoch-1 checkpoint killed before its commit
        for name in (WEIGHTS, OPTIMIZER, PENDING):
            remove_stale_temps(path / name)
    return path, lock
