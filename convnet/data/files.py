"""Reading a dataset file whole, with the two failures every reader reports the same way."""

from pathlib import Path

from ..errors import DataError


def read_bytes(path: Path) -> bytes:
    """The file's bytes; DataError for an unreadable or empty (0-byte) file.

    Example:
        >>> read_bytes(Path("/nonexistent/train-images-idx3-ubyte.gz"))
        Traceback (most recent call last):
        convnet.errors.DataError: /nonexistent/train-images-idx3-ubyte.gz: cannot read the file (No such file or directory)
    """
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    if not raw:
        raise DataError(f"{path}: the file is empty (0 bytes)")
    return raw
