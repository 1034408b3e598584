"""CIFAR-10 in its two official formats: the binary batches and the python (pickle) batches.

Binary (``cifar-10-batches-bin``): each ``.bin`` file is 10,000 records of 3,073 bytes, one label
byte then the 1,024 red, 1,024 green and 1,024 blue bytes of a 32x32 image; ``batches.meta.txt``
lists the class names, one per line. No header and no unpickling: the bytes are the array.

Python (``cifar-10-batches-py``): Python-2 pickles (protocol 2) of dicts: ``b'data'`` a uint8
array (N, 3072) holding the R, G and B planes of each image in turn, ``b'labels'`` a list of ints.
Numpy never rebuilds anything from the file (its ``dtype.__setstate__`` accepts an element size of
-1 and its scalar constructor then crashes the interpreter, so restricting ``find_class`` is not
enough): the opcodes are checked first (``_prescan``), numpy's globals become stand-ins that only
record their arguments (``_Recorded``), and the array is accepted only as shape (N, 3072), dtype
``|u1`` and exactly N x 3,072 raw bytes, which ``np.frombuffer`` then views.
"""

import codecs
import hashlib
import io
import os
import pickle
import pickletools
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..errors import DataError
from .files import read_bytes

TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCHES = ("test_batch",)
META = "batches.meta"
BIN_META = "batches.meta.txt"
PIXELS = 3 * 32 * 32  # R, G, B planes of one image
RECORD = 1 + PIXELS   # binary: label byte + pixels

# --------------------------------------------------------------------------- the pickle itself

# Every opcode that a protocol 2-5 pickle of dicts, lists, tuples, ints, strings and numpy arrays
# uses; anything else (NEWOBJ, INST, PERSID, EXT*, floats, sets...) is refused before unpickling.
_OPCODES = frozenset("""
    PROTO FRAME STOP MARK EMPTY_DICT DICT EMPTY_LIST LIST EMPTY_TUPLE TUPLE TUPLE1 TUPLE2 TUPLE3
    SETITEM SETITEMS APPEND APPENDS BININT BININT1 BININT2 LONG1 NONE NEWTRUE NEWFALSE
    SHORT_BINSTRING BINSTRING SHORT_BINUNICODE BINUNICODE BINUNICODE8 SHORT_BINBYTES BINBYTES
    BINBYTES8 BYTEARRAY8 GLOBAL STACK_GLOBAL REDUCE BUILD PUT BINPUT LONG_BINPUT MEMOIZE GET BINGET
    LONG_BINGET""".split())
_PUTS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})


class _Refused(pickle.UnpicklingError):
    """The pickle asks for something a CIFAR batch never needs (a global, an opcode...)."""


def _prescan(data: bytes) -> None:
    """Refuse opcodes outside ``_OPCODES``, and memo indices out of sequence, before unpickling.

    The C unpickler trusts two numbers from the file: a string's declared length (it allocates
    before reading) and a memo index (``LONG_BINPUT 0x40000000`` makes it fill a 16 GiB table).
    ``genops`` checks every length against the bytes left; picklers number the memo 0, 1, 2...
    (Python 2's cPickle from 1), so an index may be at most one past the count so far.
    """
    puts = 0
    for op, arg, pos in pickletools.genops(io.BytesIO(data)):
        if op.name not in _OPCODES:
            raise _Refused(f"opcode {op.name} at byte {pos} is not allowed")
        if op.name in _PUTS:
            if arg > puts + 1:
                raise _Refused(f"memo index {arg} at byte {pos} is out of sequence")
            puts += 1
        elif op.name == "MEMOIZE":
            puts += 1


class _Recorded:
    """A numpy call the pickle asked for, not made: its name, arguments and ``__setstate__`` state.

    Example:
        >>> r = _stand_in("dtype")("u1", False, True); r.__setstate__((3, "|")); r
        <numpy dtype('u1', False, True) not built>
    """

    __slots__ = ("call", "args", "state")

    def __init__(self, call: str, args: tuple):
        self.call, self.args, self.state = call, args, None

    def __setstate__(self, state) -> None:
        self.state = state

    def __repr__(self) -> str:
        args = ", ".join(repr(a) for a in self.args  # the short ones: never the pixels
                         if isinstance(a, (str, bytes)) and len(a) <= 40 or type(a) in (bool, int))
        return f"<numpy {self.call}({args}) not built>"


def _stand_in(call: str):
    def record(*args):
        return _Recorded(call, args)
    return record


def _latin1_encode(text, encoding: str = "utf-8") -> bytes:
    """Python 3 writes bytes into protocol-2 pickles as ``_codecs.encode(text, 'latin1')``."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise _Refused("_codecs.encode is allowed only on text, as 'latin1'")
    return codecs.encode(text, "latin1")


_NDARRAY = object()  # what numpy.ndarray resolves to: an argument only; no call, no BUILD
# What numpy's ndarray/dtype __reduce__ emits (numpy 1.x writes "numpy.core", 2.x "numpy._core").
_STAND_INS = {
    ("numpy", "ndarray"): _NDARRAY, ("numpy", "dtype"): _stand_in("dtype"),
    ("_codecs", "encode"): _latin1_encode,
    **{(f"numpy.{core}.multiarray", "_reconstruct"): _stand_in("_reconstruct")
       for core in ("core", "_core")},
    **{(f"numpy.{core}.numeric", "_frombuffer"): _stand_in("_frombuffer")  # protocol 5
       for core in ("core", "_core")},
}


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler whose only globals are the stand-ins above."""

    def find_class(self, module: str, name: str):
        if (module, name) in _STAND_INS:
            return _STAND_INS[module, name]
        raise _Refused(f"global {module}.{name} is not allowed in a CIFAR batch")


def restricted_loads(data: bytes, name: str = "pickle"):
    """Unpickle plain containers; numpy arrays come back as ``_Recorded`` calls, not arrays.

    Args:
        data (bytes): the pickle.
        name (str): the file name, used in error messages.

    Raises:
        DataError: the pickle names any other global (e.g. ``os.system``), uses an opcode
            outside ``_OPCODES``, or is malformed.

    Example:
        >>> restricted_loads(pickle.dumps({b"labels": [3, 5]}, protocol=2))
        {b'labels': [3, 5]}
        >>> restricted_loads(pickle.dumps(np.zeros(2, np.uint8), protocol=2))
        <numpy _reconstruct(b'b') not built>
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
        _prescan(data)
        return _RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    except _Refused as exc:
        raise DataError(f"{name}: refusing to unpickle: {_one_line(exc)}") from None
    except pickle.UnpicklingError as exc:
        raise DataError(f"{name}: not a valid pickle ({_one_line(exc)})") from None
    except Exception as exc:  # noqa: BLE001 -- no numpy code runs here; whatever the pickle
        # machinery raises on a mangled file (ValueError, TypeError, EOFError...) means corrupt
        raise DataError(f"{name}: not a valid pickle ({type(exc).__name__}: "
                        f"{_one_line(exc)})") from None


def _one_line(exc: Exception) -> str:
    """The message with line breaks escaped: STACK_GLOBAL can name a module 'os\\nx'."""
    return str(exc).encode("unicode_escape").decode("ascii")[:300]


# --------------------------------------------------------------------------- recorded arrays

class _ArrayRecord(NamedTuple):
    """What a pickled ndarray declares: shape, dtype code ('u1'), byte order, raw bytes, order."""

    shape: tuple
    code: str
    endian: str
    raw: bytes
    fortran: bool


_DTYPE_NAMES = {"b1": "bool", "i1": "int8", "u1": "uint8", "i2": "int16", "u2": "uint16",
                "i4": "int32", "u4": "uint32", "i8": "int64", "u8": "uint64",
                "f2": "float16", "f4": "float32", "f8": "float64", "O8": "object"}


def _text(value):
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _array_record(obj) -> _ArrayRecord | None:
    """The declared parts of a recorded ``_reconstruct``/``_frombuffer`` array, else None."""
    if not isinstance(obj, _Recorded):
        return None
    if obj.call == "_reconstruct" and isinstance(obj.state, tuple) and len(obj.state) == 5:
        version, shape, dtype, fortran, raw = obj.state  # ndarray.__reduce__'s state, version 1
        if version != 1:
            return None
    elif obj.call == "_frombuffer" and len(obj.args) == 4:
        raw, dtype, shape, order = obj.args
        fortran = _text(order) == "F"
    else:
        return None
    if not (isinstance(dtype, _Recorded) and dtype.call == "dtype" and dtype.args
            and isinstance(dtype.args[0], (str, bytes))):
        return None
    state = dtype.state if dtype.state is not None else (3, "|", None, None, None)
    # (version, byte order, subarray, names, fields, ...): a plain dtype has no subarray/fields
    if not isinstance(state, tuple) or len(state) < 5 or not isinstance(state[1], (str, bytes)) \
            or state[2:5] != (None, None, None):
        return None
    if not isinstance(shape, tuple) or not all(type(d) is int for d in shape):
        return None
    if not isinstance(raw, (bytes, bytearray)) or type(fortran) not in (bool, int) \
            or fortran not in (0, 1):
        return None
    return _ArrayRecord(shape, _text(dtype.args[0]), _text(state[1]), raw, bool(fortran))


def _describe(obj) -> str:
    """A few words on what a value is, for error messages; never its (huge) repr."""
    record = _array_record(obj)
    if record is not None:
        order = "big-endian " if record.endian == ">" else ""  # "<" is the usual, native order
        dtype = _DTYPE_NAMES.get(record.code) or repr(record.endian + record.code)[:20]
        return f"{order}{dtype} array of shape {record.shape[:4]}"
    if isinstance(obj, _Recorded):
        return f"malformed numpy {obj.call}"
    return type(obj).__name__


def _pixels(obj, path: Path) -> np.ndarray:
    """The recorded ``data`` array as uint8 ``(N, 3072)``, checked before anything is allocated."""
    record = _array_record(obj)
    if record is None or (record.code, record.endian) != ("u1", "|") or len(record.shape) != 2 \
            or record.shape[1] != PIXELS or record.shape[0] < 0:
        raise DataError(f"{path}: 'data' must be a uint8 array of shape N x 3072 "
                        f"(3 x 32 x 32), got a {_describe(obj)}")
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
        raise DataError(f"{path}: 'labels' must be a list of ints, got a {_describe(labels)}"
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
        raise DataError(f"{path}: expected 1..256 class names, got a {_describe(names)}"
                        + (f" of {len(names)}" if isinstance(names, (list, tuple)) else ""))
    out = []
    for i, name in enumerate(names):
        try:
            text = name.decode("utf-8") if isinstance(name, bytes) else name
        except UnicodeDecodeError:
            raise DataError(f"{path}: class name {i} is not UTF-8 text") from None
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{path}: class name {i} must be non-empty text, got a "
                            f"{_describe(name)}")
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
        raise DataError(f"{path}: expected a pickled dict, got {_describe(obj)}")
    return obj, hashlib.sha256(raw).hexdigest()


def _get(d: dict, key: str, path: Path):
    """Look up ``key`` as bytes (Python 2 pickles) or str (re-pickled copies)."""
    for k in (key.encode(), key):
        if k in d:
            return d[k]
    found = ", ".join(repr(k)[:40] if isinstance(k, (str, bytes)) else _describe(k)
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
        >>> import tempfile
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
    names = TRAIN_BATCHES if split == "train" else TEST_BATCHES
    # Each batch is unpickled and hashed in its own thread (sha256 releases the GIL); each
    # returns a view of its file's bytes, so np.concatenate is the one copy of the pixels.
    parts = _in_threads(lambda name: read_batch(directory / name, len(classes)), names)
    images = np.concatenate([p[0] for p in parts])  # (sum N, 3, 32, 32), writable
    labels = np.concatenate([p[1] for p in parts])
    return images, labels, classes, {META: meta_sha, **{n: p[2] for n, p in zip(names, parts)}}


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


def load_cifar10_bin(directory: str | Path, split: str = "train"
                     ) -> tuple[np.ndarray, np.ndarray, list[str], dict[str, str]]:
    """Read a ``cifar-10-batches-bin`` folder: train = data_batch_1..5.bin, test = test_batch.bin.

    The record counts follow from the file sizes, so the split's arrays are allocated once and
    each file is read, hashed and copied into its slice by its own thread (reading, sha256 and
    numpy copies release the GIL): one copy of the pixels, and every core at work.

    Returns:
        (images uint8 (N, 3, 32, 32), labels int64 (N,), class names, {file name: sha256}).

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
    return images, labels, classes, {BIN_META: meta_sha, **dict(zip(names, digests))}


def _in_threads(fn, items) -> list:
    """``[fn(x) for x in items]``, one thread per core; the first exception is raised."""
    items = list(items)
    with ThreadPoolExecutor(max_workers=max(1, min(len(items), os.cpu_count() or 1))) as pool:
        return list(pool.map(fn, items))
