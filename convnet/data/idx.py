"""MNIST / Fashion-MNIST IDX files: magic number, dimensions, counts; gzip or raw.

An IDX file is a big-endian header followed by the array bytes. The magic number's two low
bytes say the element type (0x08 = uint8) and the rank: images are 2051 (0x0803, N x rows x
cols) and labels 2049 (0x0801, N). The whole array is read with one ``np.frombuffer``.
"""

import gzip
import hashlib
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError
from .files import read_bytes

IMAGES_MAGIC = 2051  # 0x00000803: uint8, 3 dimensions
LABELS_MAGIC = 2049  # 0x00000801: uint8, 1 dimension
_KIND = {IMAGES_MAGIC: "an IDX image file", LABELS_MAGIC: "an IDX label file"}


def read_file(path: str | Path) -> tuple[bytes, str]:
    """Read a file, gunzipping it when it starts with the gzip magic bytes.

    Returns:
        (contents, sha256 hex of the bytes on disk) — the digest is of the file as stored,
        so it can be compared with published checksums of the ``.gz``.

    Raises:
        DataError: the file is missing, empty, not valid gzip, or a truncated gzip stream.
    """
    path = Path(path)
    raw = read_bytes(path)
    digest = hashlib.sha256(raw).hexdigest()
    if raw[:2] != b"\x1f\x8b":
        return raw, digest
    try:
        return gzip.decompress(raw), digest
    except EOFError:
        raise DataError(f"{path}: the gzip stream is truncated ({len(raw)} bytes on disk); "
                        "the download was probably cut short") from None
    except (OSError, zlib.error) as exc:
        raise DataError(f"{path}: not a valid gzip file ({exc})") from None


def parse_idx(data: bytes, name: str, magic: int) -> np.ndarray:
    """Check an IDX header against the array it declares, then view the bytes as that array.

    Args:
        data (bytes): the (decompressed) file contents.
        name (str): the file name, used in error messages.
        magic (int): the expected magic number, ``IMAGES_MAGIC`` or ``LABELS_MAGIC``.

    Shape:
        magic 2049 -> (N,); magic 2051 -> (N, rows, cols).

    Raises:
        DataError: wrong magic number, header cut short, or a file size that is not
            header + N x rows x cols bytes (truncated or with trailing bytes).

    Example:
        >>> import struct
        >>> parse_idx(struct.pack(">ii", 2049, 3) + bytes([7, 0, 9]), "labels", 2049)
        array([7, 0, 9], dtype=uint8)
        >>> short = struct.pack(">ii", 2049, 3) + bytes([7, 0])
        >>> parse_idx(short, "lab", 2049)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        convnet.errors.DataError: lab: the header declares 3 labels ... (truncated by 1 bytes)
    """
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < 4:
        raise DataError(f"{name}: only {len(data)} bytes; too short to be {_KIND[magic]}")
    got = struct.unpack(">I", data[:4])[0]
    if got != magic:
        raise DataError(f"{name}: expected magic number {magic} ({_KIND[magic]}), got {got}"
                        f"{_describe_magic(got)}")
    if len(data) < header:
        raise DataError(f"{name}: the {header}-byte header is cut short ({len(data)} bytes)")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    expected = int(np.prod(dims, dtype=np.int64))
    actual = len(data) - header
    if actual != expected:
        what = f"{dims[0]} labels" if ndim == 1 else f"{dims[0]} images of {dims[1]}x{dims[2]}"
        diff = (f"truncated by {expected - actual} bytes" if actual < expected
                else f"{actual - expected} trailing bytes")
        raise DataError(f"{name}: the header declares {what} = {expected} bytes after the "
                        f"{header}-byte header, but the file has {actual} ({diff})")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _describe_magic(got: int) -> str:
    """A hint for a wrong magic number: another IDX kind, or not IDX at all."""
    if got == LABELS_MAGIC:
        return " (this is a label file: are the image and label files swapped?)"
    if got == IMAGES_MAGIC:
        return " (this is an image file: are the image and label files swapped?)"
    if got >> 16 == 0 and (got >> 8) & 0xFF == 0x08:
        return f" (a uint8 IDX array with {got & 0xFF} dimensions)"
    return " (not an uncompressed IDX file)"


def read_images(path: str | Path) -> tuple[np.ndarray, str]:
    """Read an IDX image file (magic 2051) as uint8 ``(N, 1, rows, cols)`` plus its sha256.

    Raises:
        DataError: see ``read_file`` and ``parse_idx``; also zero-sized images.
    """
    data, digest = read_file(path)
    images = parse_idx(data, str(path), IMAGES_MAGIC)
    if images.shape[1] == 0 or images.shape[2] == 0:
        raise DataError(f"{path}: images of size {images.shape[1]}x{images.shape[2]}; "
                        "expected at least 1x1")
    # copy(): frombuffer views are read-only, and torch.from_numpy warns on those.
    return images[:, None].copy(), digest  # (N, rows, cols) -> (N, 1, rows, cols)


def read_labels(path: str | Path, num_classes: int = 10) -> tuple[np.ndarray, str]:
    """Read an IDX label file (magic 2049) as int64 ``(N,)`` plus its sha256.

    Raises:
        DataError: see ``read_file`` and ``parse_idx``; also a label outside 0..num_classes-1.
    """
    data, digest = read_file(path)
    labels = parse_idx(data, str(path), LABELS_MAGIC)
    bad = np.flatnonzero(labels >= num_classes)
    if bad.size:
        raise DataError(f"{path}: label values must be in 0..{num_classes - 1}, found "
                        f"{int(labels[bad[0]])} at index {int(bad[0])} ({bad.size} bad labels)")
    return labels.astype(np.int64), digest


def read_idx_pair(images_path: str | Path, labels_path: str | Path,
                  num_classes: int = 10) -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
    """Read matching image and label files; return images, labels and {file name: sha256}.

    Raises:
        DataError: either file is bad, or the image count differs from the label count.
    """
    images, images_sha = read_images(images_path)
    labels, labels_sha = read_labels(labels_path, num_classes)
    if len(images) != len(labels):
        raise DataError(f"{images_path} has {len(images)} images but {labels_path} has "
                        f"{len(labels)} labels; they must match")
    return images, labels, {Path(images_path).name: images_sha, Path(labels_path).name: labels_sha}
