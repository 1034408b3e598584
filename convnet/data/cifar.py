"""CIFAR-10 in its two official formats: the binary batches and the python (pickle) batches.

Binary (``cifar-10-batches-bin``): each ``.bin`` file is 10,000 records of 3,073 bytes, one label
byte then the 1,024 red, 1,024 green and 1,024 blue bytes of a 32x32 image; ``batches.meta.txt``
lists the class names, one per line. No header and no unpickling: the bytes are the array.

Python (``cifar-10-batches-py``): Python-2 pickles (protocol 2) of dicts: ``b'data'`` a uint8
array (N, 3072) holding the R, G and B planes of each image in turn, ``b'labels'`` a list of ints.
They are read through ``pickles.restricted_loads``, where numpy never rebuilds anything from
the file; the array is accepted only as shape (N, 3072), dtype ``|u1`` and exactly N x 3,072
raw bytes, which ``np.frombuffer`` then views.
"""

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..errors import DataError
from .dataset import Dataset
from .files import read_bytes
from .pickles import array_record, describe, restricted_loads

TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCHES = ("test_batch",)
META = "batches.meta"
BIN_META = "batches.meta.txt"
PIXELS = 3 * 32 * 32  # R, G, B planes of one image
RECORD = 1 + PIXELS   # binary: label byte + pixels


# --------------------------------------------------------------------------- checked values

def _pixels(obj, path: Path) -> np.ndarray:
    """The recorded ``data`` array as uint8 ``(N, 3072)``, checked before anything is allocated."""
    record = array_record(obj)
    if record is None or (record.code, record.endian) != ("u1", "|") or len(record.shape) != 2 \
            or record.shape[1] != PIXELS or record.shape[0] < 0:
        raise DataError(f"{path}: 'data' must be a uint8 array of shape N x 3072 "
                        f"(3 x 32 x 32), got a {describe(obj)}")
    n = record.shape[0]
    if len(record.raw) != n * PIXELS:
        raise DataError(f"{path}: 'data' declares {n:,} images ({n * PIXELS:,} bytes) but holds "
                        f"{len(record.raw):,} bytes; truncated or corrupt")
    pixels = np.frombuffer(record.raw, np.uint8)
    if record.fortran:  # column-major: the bytes run down each of the 3,072 columns
        return pixels.reshape(PIXELS, n).T  # (3072, N) -> (N, 3072)
    return pixels.reshape(n, PIXELS)


def _labels(labels, n: int, num_classes: int, path: Path) -> np.ndarray:
    """A list of N ints in 0..num_classes-1 as int64 ``(N,)``."""
    if not isinstance(labels, list) or any(type(x) is not int for x in labels):
        raise DataError(f"{path}: 'labels' must be a list of ints, got a {describe(labels)}"
                        + (" holding other values" if isinstance(labels, list) else ""))
    if len(labels) != n:
        raise DataError(f"{path}: {n} images but {len(labels)} labels; they must match")
    bad = next((i for i, x in enumerate(labels) if not 0 <= x < num_classes), None)
    if bad is not None:
        raise DataError(f"{path}: label values must be in 0..{num_classes - 1}, found "
                        f"{str(labels[bad])[:20]} at index {bad}")
    return np.array(labels, np.int64)


def _class_names(names, path: Path) -> list[str]:
    """1..256 distinct, non-empty UTF-8 names (a binary label is one byte)."""
    if not isinstance(names, (list, tuple)) or not 1 <= len(names) <= 256:
        raise DataError(f"{path}: expected 1..256 class names, got a {describe(names)}"
                        + (f" of {len(names)}" if isinstance(names, (list, tuple)) else ""))
    out = []
    for i, name in enumerate(names):
        try:
            text = name.decode("utf-8") if isinstance(name, bytes) else name
        except UnicodeDecodeError:
            raise DataError(f"{path}: class name {i} is not UTF-8 text") from None
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{path}: class name {i} must be non-empty text, got a "
                            f"{describe(name)}")
        out.append(text.strip())
    if len(set(out)) != len(out):
        raise DataError(f"{path}: class names must not repeat, got {out!r:.200}")
    return out


# --------------------------------------------------------------------------- python batches

def _read_dict(path: Path) -> tuple[dict, str]:
    """Load one batch/meta pickle as a dict; return it with the file's sha256."""
    raw = read_bytes(path)
    obj = restricted_loads(raw, str(path))
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a pickled dict, got {describe(obj)}")
    return obj, hashlib.sha256(raw).hexdigest()


def _get(d: dict, key: str, path: Path):
    """Look up ``key`` as bytes (Python 2 pickles) or str (re-pickled copies)."""
    for k in (key.encode(), key):
        if k in d:
            return d[k]
    found = ", ".join(repr(k)[:40] if isinstance(k, (str, bytes)) else describe(k)
                      for k in list(d)[:8])
    raise DataError(f"{path}: the dict has no {key!r} key (found: {found or 'no keys'})")


def read_meta(path: str | Path) -> tuple[list[str], str]:
    """Class names from ``batches.meta`` (``label_names``), plus the file's sha256.

    Raises:
        DataError: no ``label_names``, not 1..256 distinct names, or a name that is not UTF-8.
    """
    path = Path(path)
    meta, digest = _read_dict(path)
    return _class_names(_get(meta, "label_names", path), path), digest


def read_batch(path: str | Path, num_classes: int = 10) -> tuple[np.ndarray, np.ndarray, str]:
    """One batch as uint8 images ``(N, 3, 32, 32)``, int64 labels ``(N,)`` and its sha256.

    The images are a read-only view of the file's bytes (``load_cifar10`` copies them once).

    Raises:
        DataError: missing keys, data not a uint8 N x 3072 array with N x 3,072 bytes, labels
            not a list of N ints in 0..num_classes-1.

    Example:
        >>> import pickle, tempfile
        >>> batch = {b"data": np.arange(6144).astype(np.uint8).reshape(2, 3072), b"labels": [7, 1]}
        >>> f = Path(tempfile.mkdtemp()) / "data_batch_1"
        >>> _ = f.write_bytes(pickle.dumps(batch, protocol=2))
        >>> images, labels, _ = read_batch(f)
        >>> images.shape, labels.tolist(), int(images[0, 1, 0, 0])   # green plane starts at 1024
        ((2, 3, 32, 32), [7, 1], 0)
    """
    path = Path(path)
    batch, digest = _read_dict(path)
    pixels = _pixels(_get(batch, "data", path), path)
    labels = _labels(_get(batch, "labels", path), len(pixels), num_classes, path)
    return pixels.reshape(-1, 3, 32, 32), labels, digest  # (N, 3072) -> (N, 3, 32, 32): R, G, B


def load_cifar10(directory: str | Path, split: str = "train") -> Dataset:
    """Read a ``cifar-10-batches-py`` folder: train = data_batch_1..5, test = test_batch.

    Shape:
        images (N, 3, 32, 32) uint8; labels (N,) int64. ``files``: {file name: sha256}.

    Raises:
        DataError: a file is missing or malformed (see ``read_batch``).
    """
    directory = Path(directory)
    classes, meta_sha = read_meta(directory / META)
    names = TRAIN_BATCHES if split == "train" else TEST_BATCHES
    # Each batch is unpickled and hashed in its own thread (sha256 releases the GIL); each
    # returns a view of its file's bytes, so np.concatenate is the one copy of the pixels.
    parts = _in_threads(lambda name: read_batch(directory / name, len(classes)), names)
    images = np.concatenate([p[0] for p in parts])  # (sum N, 3, 32, 32), writable
    labels = np.concatenate([p[1] for p in parts])
    files = {META: meta_sha, **{n: p[2] for n, p in zip(names, parts)}}
    return Dataset("cifar10", split, images, labels, classes, files)


# --------------------------------------------------------------------------- binary batches

def read_bin_meta(path: str | Path) -> tuple[list[str], str]:
    """Class names from ``batches.meta.txt`` (one per line, blank lines ignored), plus sha256.

    Raises:
        DataError: not 1..256 distinct names, or a line that is not UTF-8.
    """
    path = Path(path)
    raw = read_bytes(path)
    lines = [line for line in raw.splitlines() if line.strip()]
    return _class_names(lines, path), hashlib.sha256(raw).hexdigest()


def read_bin_batch(path: str | Path, num_classes: int = 10) -> tuple[np.ndarray, np.ndarray, str]:
    """One binary batch as uint8 images ``(N, 3, 32, 32)``, int64 labels ``(N,)`` and its sha256.

    The images are a read-only view of the file's bytes.

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
    records = _records(raw, path, num_classes)
    images = records[:, 1:].reshape(-1, 3, 32, 32)  # (N, 3072) -> (N, 3, 32, 32), still a view
    return images, records[:, 0].astype(np.int64), hashlib.sha256(raw).hexdigest()


def _records(raw: bytes, path: Path, num_classes: int) -> np.ndarray:
    """The file's bytes as a (N, 3073) view, checked: whole records, labels in range."""
    if len(raw) % RECORD:
        raise DataError(f"{path}: {len(raw):,} bytes is not a whole number of {RECORD:,}-byte "
                        "records (1 label byte + 3,072 pixel bytes); truncated or not a CIFAR "
                        "binary batch")
    records = np.frombuffer(raw, np.uint8).reshape(-1, RECORD)  # (N, 3073)
    bad = np.flatnonzero(records[:, 0] >= num_classes)
    if bad.size:
        raise DataError(f"{path}: label values must be in 0..{num_classes - 1}, found "
                        f"{int(records[bad[0], 0])} at record {int(bad[0])}")
    return records


def load_cifar10_bin(directory: str | Path, split: str = "train") -> Dataset:
    """Read a ``cifar-10-batches-bin`` folder: train = data_batch_1..5.bin, test = test_batch.bin.

    The record counts follow from the file sizes, so the split's arrays are allocated once and
    each file is read, hashed and copied into its slice by its own thread (reading, sha256 and
    numpy copies release the GIL): one copy of the pixels, and every core at work.

    Shape:
        images (N, 3, 32, 32) uint8; labels (N,) int64. ``files``: {file name: sha256}.

    Raises:
        DataError: a file is missing or malformed (see ``read_bin_batch``).
    """
    directory = Path(directory)
    classes, meta_sha = read_bin_meta(directory / BIN_META)
    names = [f"{n}.bin" for n in (TRAIN_BATCHES if split == "train" else TEST_BATCHES)]
    paths = [directory / n for n in names]
    # A missing file or a bad size is reported by the read below, in the usual words.
    counts = [p.stat().st_size // RECORD if p.is_file() else 0 for p in paths]
    starts = np.cumsum([0] + counts).tolist()
    images = np.empty((starts[-1], 3, 32, 32), np.uint8)
    labels = np.empty(starts[-1], np.int64)

    def fill(i: int) -> str:
        raw = read_bytes(paths[i])
        records = _records(raw, paths[i], len(classes))
        if len(records) != counts[i]:
            raise DataError(f"{paths[i]}: the file changed size while it was being read")
        images[starts[i]:starts[i + 1]] = records[:, 1:].reshape(-1, 3, 32, 32)  # (n, 3072) ->
        labels[starts[i]:starts[i + 1]] = records[:, 0]                          # (n, 3, 32, 32)
        return hashlib.sha256(raw).hexdigest()

    digests = _in_threads(fill, range(len(paths)))
    files = {BIN_META: meta_sha, **dict(zip(names, digests))}
    return Dataset("cifar10", split, images, labels, classes, files)


def _in_threads(fn, items) -> list:
    """``[fn(x) for x in items]``, one thread per core; the first exception is raised."""
    items = list(items)
    with ThreadPoolExecutor(max_workers=max(1, min(len(items), os.cpu_count() or 1))) as pool:
        return list(pool.map(fn, items))
