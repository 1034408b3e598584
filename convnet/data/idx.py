"""MNIST / Fashion-MNIST IDX files: magic number, dimensions, counts; gzip or raw.

An IDX file is a big-endian header followed by the array bytes. The magic number's two low
bytes say the element type (0x08 = uint8) and the rank: images are 2051 (0x0803, N x rows x
cols) and labels 2049 (0x0801, N).

The header is read first and judged before anything is allocated: a declared size above
``MAX_BYTES``, or more than a gzip file of this size can inflate to, is refused. The array is
then inflated straight into one buffer of the declared size, a chunk at a time, so a small
file whose stream inflates to gigabytes costs the declared size and no more (the old reader
inflated a 3 MB file to 6.5 GB before looking at the header).
"""

import gzip
import hashlib
import io
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError
from .dataset import Dataset
from .files import read_bytes

IMAGES_MAGIC = 2051  # 0x00000803: uint8, 3 dimensions
LABELS_MAGIC = 2049  # 0x00000801: uint8, 1 dimension
_KIND = {IMAGES_MAGIC: "an IDX image file", LABELS_MAGIC: "an IDX label file"}
MAX_BYTES = 1_000_000_000  # 10^9 pixels: 21x MNIST's 47 MB training images; more is corrupt
MAX_DEFLATE_RATIO = 1032  # deflate's ceiling: one compressed byte never inflates to more
TRAILING_COUNTED = 1 << 20  # trailing bytes are counted up to 1 MiB, then "at least"
CHUNK = 1 << 20  # inflate 1 MiB at a time
CLASSES = {"mnist": [str(d) for d in range(10)],
           "fashion-mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                             "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]}


def _stream(raw: bytes):
    """The decompressed contents as a file: gzip when the bytes start with its magic."""
    data = io.BytesIO(raw)
    return gzip.GzipFile(fileobj=data, mode="rb") if raw[:2] == b"\x1f\x8b" else data


def _read(stream, n: int, name: str, on_disk: int) -> bytes:
    """Up to ``n`` bytes (fewer only at the end); DataError for a truncated or damaged gzip."""
    try:
        return stream.read(n)
    except EOFError:
        raise DataError(f"{name}: the gzip stream is truncated ({on_disk} bytes on disk); "
                        "the download was probably cut short") from None
    except (OSError, zlib.error, ValueError, struct.error) as exc:
        raise DataError(f"{name}: not a valid gzip file ({exc})") from None


def _header(stream, name: str, magic: int, on_disk: int) -> tuple[int, ...]:
    """The dimensions after a checked magic number."""
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    head = _read(stream, 4, name, on_disk)
    if len(head) < 4:
        raise DataError(f"{name}: only {len(head)} bytes; too short to be {_KIND[magic]}")
    got = struct.unpack(">I", head)[0]
    if got != magic:
        raise DataError(f"{name}: expected magic number {magic} ({_KIND[magic]}), got {got}"
                        f"{_describe_magic(got)}")
    rest = _read(stream, header - 4, name, on_disk)
    if len(rest) < header - 4:
        raise DataError(f"{name}: the {header}-byte header is cut short ({4 + len(rest)} bytes)")
    return struct.unpack(f">{ndim}I", rest)


def parse_idx(data: bytes, name: str, magic: int) -> np.ndarray:
    """Check an IDX header against the array it declares, then read that array.

    Args:
        data (bytes): the file's bytes as stored (gzip or raw).
        name (str): the file name, used in error messages.
        magic (int): the expected magic number, ``IMAGES_MAGIC`` or ``LABELS_MAGIC``.

    Shape:
        magic 2049 -> (N,); magic 2051 -> (N, rows, cols).

    Raises:
        DataError: wrong magic number, header cut short, a declared size above ``MAX_BYTES``
            (or more than the gzip file can hold), or a size that is not header +
            N x rows x cols bytes (truncated or with trailing bytes).

    Example:
        >>> import struct
        >>> parse_idx(struct.pack(">ii", 2049, 3) + bytes([7, 0, 9]), "labels", 2049)
        array([7, 0, 9], dtype=uint8)
        >>> short = struct.pack(">ii", 2049, 3) + bytes([7, 0])
        >>> parse_idx(short, "lab", 2049)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        convnet.errors.DataError: lab: the header declares 3 labels ... (truncated by 1 bytes)
        >>> huge = struct.pack(">4I", 2051, 2**32 - 1, 2**32 - 1, 2**32 - 1)  # 2^96 bytes
        >>> parse_idx(huge, "x", 2051)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        convnet.errors.DataError: x: the header declares ... more than any IDX file holds (10^9)...
    """
    on_disk, stream = len(data), _stream(data)
    dims = _header(stream, name, magic, on_disk)
    header = 4 + 4 * len(dims)
    expected = math.prod(dims)  # Python ints: no overflow, whatever the header says
    what = f"{dims[0]} labels" if len(dims) == 1 else f"{dims[0]} images of {dims[1]}x{dims[2]}"
    if expected > MAX_BYTES:
        raise DataError(f"{name}: the header declares {what} = {expected:,} bytes, more than any "
                        f"IDX file holds (10^9); the header is corrupt")
    gz = isinstance(stream, gzip.GzipFile)
    if (gz and expected > on_disk * MAX_DEFLATE_RATIO) or (not gz and expected > on_disk):
        can = on_disk * MAX_DEFLATE_RATIO if gz else on_disk - header
        raise DataError(f"{name}: the header declares {what} = {expected:,} bytes after the "
                        f"{header}-byte header, but the file can hold at most {can:,}; "
                        "truncated or corrupt")
    out, got, extra = _inflate(stream, expected, name, on_disk)
    if got != expected or extra:
        diff = (f"truncated by {expected - got} bytes" if got < expected else
                f"{extra} trailing bytes" if extra <= TRAILING_COUNTED else
                f"more than {TRAILING_COUNTED:,} trailing bytes")
        has = (got if got < expected else got + extra if extra <= TRAILING_COUNTED else
               f"more than {got + TRAILING_COUNTED:,}")
        raise DataError(f"{name}: the header declares {what} = {expected} bytes after the "
                        f"{header}-byte header, but the file has {has} ({diff})")
    return out.reshape(dims)


def _inflate(stream, expected: int, name: str, on_disk: int) -> tuple[np.ndarray, int, int]:
    """(a buffer of ``expected`` bytes, bytes read into it, trailing bytes counted after it).

    Inflates a chunk at a time straight into the buffer; trailing bytes are counted (and
    dropped) up to just past ``TRAILING_COUNTED``, so a bomb costs the declared size, no more.
    """
    out = np.empty(expected, np.uint8)
    view, got = memoryview(out), 0
    while got < expected:
        chunk = _read(stream, min(CHUNK, expected - got), name, on_disk)
        if not chunk:
            break
        view[got:got + len(chunk)] = chunk
        got += len(chunk)
    extra = 0
    while got == expected and extra <= TRAILING_COUNTED:
        chunk = _read(stream, CHUNK, name, on_disk)  # to the end: the gzip CRC is checked too
        if not chunk:
            break
        extra += len(chunk)
    return out, got, extra


def _describe_magic(got: int) -> str:
    """A hint for a wrong magic number: another IDX kind, or not IDX at all."""
    if got == LABELS_MAGIC:
        return " (this is a label file: are the image and label files swapped?)"
    if got == IMAGES_MAGIC:
        return " (this is an image file: are the image and label files swapped?)"
    if got >> 16 == 0 and (got >> 8) & 0xFF == 0x08:
        return f" (a uint8 IDX array with {got & 0xFF} dimensions)"
    return " (not an uncompressed IDX file)"


def declared_size(path: str | Path) -> tuple[int, int]:
    """(rows, cols) that an IDX image file's header declares; reads only the header.

    Raises:
        DataError: the file cannot be read, or its header is wrong (see ``parse_idx``).
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            start = f.read(2)
            f.seek(0)
            stream = gzip.GzipFile(fileobj=f, mode="rb") if start == b"\x1f\x8b" else f
            dims = _header(stream, str(path), IMAGES_MAGIC, path.stat().st_size)
    except OSError as exc:
        raise DataError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    return dims[1], dims[2]


def read_images(path: str | Path) -> tuple[np.ndarray, str]:
    """Read an IDX image file (magic 2051) as uint8 ``(N, 1, rows, cols)`` plus its sha256.

    Raises:
        DataError: see ``parse_idx``; also an unreadable file or zero-sized images.
    """
    raw = read_bytes(Path(path))
    images = parse_idx(raw, str(path), IMAGES_MAGIC)
    if images.shape[1] == 0 or images.shape[2] == 0:
        raise DataError(f"{path}: images of size {images.shape[1]}x{images.shape[2]}; "
                        "expected at least 1x1")
    return images[:, None], hashlib.sha256(raw).hexdigest()  # (N, rows, cols) -> (N, 1, ...)


def read_labels(path: str | Path, num_classes: int = 10) -> tuple[np.ndarray, str]:
    """Read an IDX label file (magic 2049) as int64 ``(N,)`` plus its sha256.

    Raises:
        DataError: see ``parse_idx``; also a label outside 0..num_classes-1.
    """
    raw = read_bytes(Path(path))
    labels = parse_idx(raw, str(path), LABELS_MAGIC)
    bad = np.flatnonzero(labels >= num_classes)
    if bad.size:
        raise DataError(f"{path}: label values must be in 0..{num_classes - 1}, found "
                        f"{int(labels[bad[0]])} at index {int(bad[0])} ({bad.size} bad labels)")
    return labels.astype(np.int64), hashlib.sha256(raw).hexdigest()


def load_idx(images_path: str | Path, labels_path: str | Path, name: str = "mnist",
             split: str = "train") -> Dataset:
    """Read matching IDX image and label files as one split of MNIST or Fashion-MNIST.

    Args:
        images_path, labels_path (path): the split's ``*-images-idx3-ubyte[.gz]`` and
            ``*-labels-idx1-ubyte[.gz]`` files.
        name (str): "mnist" or "fashion-mnist": the class names (``CLASSES``), and MNIST's
            framing (centred white-on-black digits). Default: "mnist".
        split (str): "train" or "test", as recorded in the Dataset. Default: "train".

    Shape:
        images (N, 1, rows, cols) uint8; labels (N,) int64 in 0..9.

    Raises:
        DataError: either file is bad, or the image count differs from the label count.
    """
    classes = CLASSES[name]
    images, images_sha = read_images(images_path)
    labels, labels_sha = read_labels(labels_path, len(classes))
    if len(images) != len(labels):
        raise DataError(f"{images_path} has {len(images)} images but {labels_path} has "
                        f"{len(labels)} labels; they must match")
    files = {Path(images_path).name: images_sha, Path(labels_path).name: labels_sha}
    return Dataset(name, split, images, labels, list(classes), files,
                   framing="mnist" if name == "mnist" else None)
