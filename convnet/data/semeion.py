"""Semeion handwritten digits (UCI): 1,593 scanned digits, 16x16 binary, as an MNIST hold-out.

Each line of ``semeion.data`` holds 256 pixel values written ``0.0000``/``1.0000`` (row-major
16x16, 1 = ink) and then the label as a one-hot of 10 integers, space-separated, with a
trailing space and CRLF line ends. The digits were written by other people than MNIST's, so
an MNIST model evaluated on them shows how it does on digits it has never seen the like of.
They are framed as MNIST (ink 255 on black, ``mnist_frame``: 20x20 box, centre of mass at the
centre of 28x28), so the same model can read them unchanged.
"""

import hashlib
from pathlib import Path

import numpy as np

from ..errors import DataError
from .dataset import Dataset
from .mnist_framing import mnist_frame

SIDE = 16  # the scans were stretched to 16x16
PIXELS = SIDE * SIDE
FIELDS = PIXELS + 10  # 256 pixels + a one-hot label of 10


def _parse(text: str, path: Path) -> np.ndarray:
    """Text -> (N, 266) float array, naming the first bad line and what is wrong with it."""
    lines = text.splitlines()
    while lines and not lines[-1].strip():  # tolerate blank lines at the end only
        lines.pop()
    if not lines:
        raise DataError(f"{path}: the file is empty (no digit lines)")
    rows = [line.split() for line in lines]
    for n, row in enumerate(rows, 1):
        if len(row) != FIELDS:
            raise DataError(f"{path}: line {n}: expected {FIELDS} values (256 pixels + 10 label "
                            f"digits), got {len(row)}")
    try:
        return np.array(rows, dtype=np.float64)  # (N, 266); one C-level parse of all tokens
    except ValueError:
        pass
    for n, row in enumerate(rows, 1):  # the slow path, only to say where the bad token is
        for token in row:
            try:
                float(token)
            except ValueError:
                raise DataError(f"{path}: line {n}: value {token!r} is not a number") from None
    raise DataError(f"{path}: the values could not be parsed")  # pragma: no cover


def _check(values: np.ndarray, path: Path) -> np.ndarray:
    """Pixels must be 0/1 and the label exactly one 1 among ten 0s; returns the labels."""
    pixels, onehot = values[:, :PIXELS], values[:, PIXELS:]
    bad = ~np.isin(pixels, (0.0, 1.0)).all(1)
    if bad.any():
        n = int(np.argmax(bad))
        v = pixels[n][~np.isin(pixels[n], (0.0, 1.0))][0]
        raise DataError(f"{path}: line {n + 1}: pixel values must be 0 or 1, got {v:g}")
    blank = ~pixels.any(1)
    if blank.any():  # mnist_frame could not centre it: say which line, not "image is blank"
        raise DataError(f"{path}: line {int(np.argmax(blank)) + 1}: the digit has no ink "
                        "(all 256 pixels are 0)")
    bad = ~(np.isin(onehot, (0.0, 1.0)).all(1) & (onehot.sum(1) == 1))
    if bad.any():
        n = int(np.argmax(bad))
        got = " ".join(f"{v:g}" for v in onehot[n])
        raise DataError(f"{path}: line {n + 1}: the label must be one-hot (exactly one 1 in the "
                        f"last 10 values), got [{got}]")
    return onehot.argmax(1).astype(np.int64)


def load_semeion(path: Path, split: str = "test") -> Dataset:
    """Load ``semeion.data`` as MNIST-framed 28x28 digits (an evaluation set).

    Args:
        path (Path): the ``semeion.data`` file.
        split (str): "train" or "test"; Semeion has no official split, so both return all
            1,593 digits. Default: "test".

    Shape:
        images (N, 1, 28, 28) uint8, white ink on black; labels (N,) int64 in 0..9.

    Raises:
        DataError: missing or unreadable file, not ASCII, empty, a line without 266 values,
            a token that is not a number, a pixel not 0/1, a digit without ink, or a label that
            is not one-hot.
            Messages read ``<path>: line <n>: <what is wrong>``.

    Example:
        >>> import tempfile
        >>> digit = np.zeros((16, 16)); digit[2:14, 7:9] = 1  # a "1"
        >>> line = " ".join(f"{v:.4f}" for v in digit.ravel()) + " 0 1 0 0 0 0 0 0 0 0 \\r\\n"
        >>> with tempfile.TemporaryDirectory() as d:
        ...     _ = (Path(d) / "semeion.data").write_text(line, newline="")
        ...     ds = load_semeion(Path(d) / "semeion.data")
        >>> ds.images.shape, ds.labels.tolist(), ds.framing
        ((1, 1, 28, 28), [1], 'mnist')
    """
    path = Path(path)
    if split not in ("train", "test"):
        raise DataError(f"unknown split {split!r} for semeion: expected 'train' or 'test'")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not a Semeion text file (non-ASCII byte at offset "
                        f"{exc.start})") from None
    values = _parse(text, path)
    labels = _check(values, path)
    ink = (values[:, :PIXELS] * 255).astype(np.uint8)
    ink = ink.reshape(-1, SIDE, SIDE)  # (N, 256) -> (N, 16, 16)
    images = np.stack([mnist_frame(digit) for digit in ink])  # (N, 28, 28)
    images = images[:, None]  # (N, 28, 28) -> (N, 1, 28, 28)
    return Dataset(name="semeion", split=split, images=images, labels=labels,
                   classes=[str(k) for k in range(10)],
                   files={path.name: hashlib.sha256(raw).hexdigest()}, framing="mnist")
