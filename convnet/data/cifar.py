"""CIFAR-10 in its two official formats: the binary batches and the python (pickle) batches.

Binary (``cifar-10-batches-bin``): each ``.bin`` file is 10,000 records of 3,073 bytes, one label
byte then the 1,024 red, 1,024 green and 1,024 blue bytes of a 32x32 image; ``batches.meta.txt``
lists the class names, one per line. No header and no unpickling: the bytes are the array.

Python (``cifar-10-batches-py``): the batches are Python-2 pickles of dicts: ``b'data'`` a uint8 array (N, 3072) holding the
red, green and blue 32x32 planes of each image in turn, ``b'labels'`` a list of ints. A plain
``pickle.load`` would run any callable a tampered file names, so ``restricted_loads`` allows
only the few numpy globals that rebuild arrays; everything else raises DataError.
"""

import codecs
import hashlib
import io
import pickle
from pathlib import Path

import numpy as np

from ..errors import DataError
from .files import read_bytes

TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCHES = ("test_batch",)
META = "batches.meta"
BIN_META = "batches.meta.txt"
RECORD = 1 + 3 * 32 * 32  # label byte + R, G, B planes
# What numpy's ndarray/dtype __reduce__ emits (numpy 1.x writes "numpy.core", 2.x "numpy._core").
_ALLOWED_GLOBALS = frozenset({
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
})


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    """Python 3 writes bytes into protocol-2 pickles as ``_codecs.encode(text, 'latin1')``."""
    if encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"_codecs.encode with encoding {encoding!r} is not allowed")
    return codecs.encode(text, "latin1")


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only numpy's array-rebuilding globals."""

    def find_class(self, module: str, name: str):
        if (module, name) == ("_codecs", "encode"):
            return _latin1_encode
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR batch")


def restricted_loads(data: bytes, name: str = "pickle"):
    """Unpickle numpy arrays and plain containers only; Python 2 strings stay bytes.

    Args:
        data (bytes): the pickle.
        name (str): the file name, used in error messages.

    Raises:
        DataError: the pickle names any other global (e.g. ``os.system``) or is malformed.

    Example:
        >>> restricted_loads(pickle.dumps({b"labels": [3, 5]}, protocol=2))
        {b'labels': [3, 5]}
        >>> import os
        >>> class Evil:
        ...     def __reduce__(self):
        ...         return (os.system, ("echo pwned",))
        >>> restricted_loads(pickle.dumps(Evil()), "evil.pkl")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        convnet.errors.DataError: evil.pkl: refusing to unpickle: global posix.system is not ...
    """
    try:
        return _RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    except pickle.UnpicklingError as exc:
        if "is not allowed" in str(exc):
            raise DataError(f"{name}: refusing to unpickle: {exc}") from None
        raise DataError(f"{name}: not a valid pickle ({exc})") from None
    except Exception as exc:  # noqa: BLE001 -- fuzzing found numpy raising SystemError and
        # RuntimeError on mutated array headers; any failure here means a corrupt file
        raise DataError(f"{name}: not a valid pickle ({type(exc).__name__}: {exc})") from None


def _read_dict(path: Path) -> tuple[dict, str]:
    """Load one batch/meta pickle as a dict; return it with the file's sha256."""
    raw = read_bytes(path)
    obj = restricted_loads(raw, str(path))
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a pickled dict, got {type(obj).__name__}")
    return obj, hashlib.sha256(raw).hexdigest()


def _get(d: dict, key: str, path: Path):
    """Look up ``key`` as bytes (Python 2 pickles) or str (re-pickled copies)."""
    for k in (key.encode(), key):
        if k in d:
            return d[k]
    found = ", ".join(repr(k) for k in list(d)[:8])
    raise DataError(f"{path}: the dict has no {key!r} key (found: {found or 'no keys'})")


def read_meta(path: str | Path) -> tuple[list[str], str]:
    """Class names from ``batches.meta`` (``label_names``), plus the file's sha256."""
    path = Path(path)
    meta, digest = _read_dict(path)
    names = _get(meta, "label_names", path)
    if not isinstance(names, (list, tuple)) or not names:
        raise DataError(f"{path}: label_names must be a non-empty list, got {names!r:.60}")
    return [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in names], digest


def read_batch(path: str | Path, num_classes: int = 10) -> tuple[np.ndarray, np.ndarray, str]:
    """One batch as uint8 images ``(N, 3, 32, 32)``, int64 labels ``(N,)`` and its sha256.

    Raises:
        DataError: missing keys, data not a uint8 N x 3072 array, a label count that differs
            from N, or a label outside 0..num_classes-1.
    """
    path = Path(path)
    batch, digest = _read_dict(path)
    data, labels = _get(batch, "data", path), _get(batch, "labels", path)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != 3072:
        what = (f"{data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray)
                else type(data).__name__)
        raise DataError(f"{path}: 'data' must be a uint8 array of shape N x 3072 "
                        f"(3 x 32 x 32), got a {what}")
    labels = np.asarray(labels)
    if labels.ndim != 1 or (labels.size and labels.dtype.kind not in "iu"):
        raise DataError(f"{path}: 'labels' must be a list of ints, got {labels.dtype} "
                        f"with shape {labels.shape}")
    if len(labels) != len(data):
        raise DataError(f"{path}: {len(data)} images but {len(labels)} labels; they must match")
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if bad.size:
        raise DataError(f"{path}: label values must be in 0..{num_classes - 1}, found "
                        f"{int(labels[bad[0]])} at index {int(bad[0])}")
    images = data.reshape(-1, 3, 32, 32)  # (N, 3072) -> (N, 3, 32, 32): R, G, B planes
    return images, labels.astype(np.int64), digest


def load_cifar10(directory: str | Path, split: str = "train"
                 ) -> tuple[np.ndarray, np.ndarray, list[str], dict[str, str]]:
    """Read a ``cifar-10-batches-py`` folder: train = data_batch_1..5, test = test_batch.

    Returns:
        (images uint8 (N, 3, 32, 32), labels int64 (N,), class names, {file name: sha256}).

    Raises:
        DataError: a file is missing or malformed (see ``read_batch``).
    """
    directory = Path(directory)
    classes, meta_sha = read_meta(directory / META)
    files = {META: meta_sha}
    parts = []
    for name in TRAIN_BATCHES if split == "train" else TEST_BATCHES:
        images, labels, files[name] = read_batch(directory / name, len(classes))
        parts.append((images, labels))
    images = np.concatenate([p[0] for p in parts])  # also makes the arrays writable copies
    labels = np.concatenate([p[1] for p in parts])
    return images, labels, classes, files


# --------------------------------------------------------------------------- binary batches

def read_bin_meta(path: str | Path) -> tuple[list[str], str]:
    """Class names from ``batches.meta.txt`` (one per line, blank lines ignored), plus sha256."""
    path = Path(path)
    raw = read_bytes(path)
    try:
        names = [line.strip() for line in raw.decode("utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError:
        raise DataError(f"{path}: class names must be UTF-8 text, one per line") from None
    if not names or len(names) > 256:  # a label is one byte: at most 256 classes
        raise DataError(f"{path}: expected 1..256 class names, one per line, got {len(names)}")
    if len(set(names)) != len(names):
        raise DataError(f"{path}: class names must not repeat, got {names}")
    return names, hashlib.sha256(raw).hexdigest()


def read_bin_batch(path: str | Path, num_classes: int = 10) -> tuple[np.ndarray, np.ndarray, str]:
    """One binary batch as uint8 images ``(N, 3, 32, 32)``, int64 labels ``(N,)`` and its sha256.

    Raises:
        DataError: a size that is not a whole number of 3,073-byte records, or a label outside
            0..num_classes-1.

    Example:
        >>> import tempfile
        >>> rec = bytes([3]) + bytes(range(256)) * 12       # label 3, then 3,072 pixel bytes
        >>> f = Path(tempfile.mkdtemp()) / "b.bin"; _ = f.write_bytes(rec * 2)
        >>> images, labels, _ = read_bin_batch(f)
        >>> images.shape, labels.tolist(), int(images[0, 1, 0, 0])   # green plane starts at 0
        ((2, 3, 32, 32), [3, 3], 0)
    """
    path = Path(path)
    raw = read_bytes(path)
    if len(raw) % RECORD:
        raise DataError(f"{path}: {len(raw):,} bytes is not a whole number of {RECORD:,}-byte "
                        "records (1 label byte + 3,072 pixel bytes); truncated or not a CIFAR "
                        "binary batch")
    records = np.frombuffer(raw, np.uint8).reshape(-1, RECORD)  # (N, 3073)
    labels = records[:, 0].astype(np.int64)
    bad = np.flatnonzero(labels >= num_classes)
    if bad.size:
        raise DataError(f"{path}: label values must be in 0..{num_classes - 1}, found "
                        f"{int(labels[bad[0]])} at record {int(bad[0])}")
    images = records[:, 1:].reshape(-1, 3, 32, 32)  # (N, 3072) -> (N, 3, 32, 32): R, G, B
    return images, labels, hashlib.sha256(raw).hexdigest()


def load_cifar10_bin(directory: str | Path, split: str = "train"
                     ) -> tuple[np.ndarray, np.ndarray, list[str], dict[str, str]]:
    """Read a ``cifar-10-batches-bin`` folder: train = data_batch_1..5.bin, test = test_batch.bin.

    Returns:
        (images uint8 (N, 3, 32, 32), labels int64 (N,), class names, {file name: sha256}).
    """
    directory = Path(directory)
    classes, meta_sha = read_bin_meta(directory / BIN_META)
    files = {BIN_META: meta_sha}
    parts = []
    for name in TRAIN_BATCHES if split == "train" else TEST_BATCHES:
        images, labels, files[f"{name}.bin"] = read_bin_batch(directory / f"{name}.bin",
                                                              len(classes))
        parts.append((images, labels))
    images = np.concatenate([p[0] for p in parts])  # a writable copy, as the python reader's
    labels = np.concatenate([p[1] for p in parts])
    return images, labels, classes, files
