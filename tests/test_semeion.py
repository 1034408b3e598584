"""convnet.data.semeion: the real UCI file, and every corruption -> DataError with a line number."""

import hashlib
import re
import time
from pathlib import Path

import numpy as np
import pytest

from convnet.data.semeion import load_semeion
from convnet.errors import DataError

SEMEION = (Path(__file__).resolve().parents[2] / "shared" / "datasets" / "extra" / "semeion"
           / "semeion.data")
SHA256 = "f43228ae3da5ea6a3c95069d53450b86166770e3b719dcc333182128fe08d4b1"  # SOURCES.md


def _line(label: int = 3, pixels: np.ndarray | None = None, onehot: list | None = None) -> str:
    """One line in the UCI format: 256 x ``0.0000``/``1.0000``, one-hot, trailing space, CRLF."""
    if pixels is None:
        pixels = np.zeros((16, 16))
        pixels[3:13, 6:10] = 1
    onehot = onehot if onehot is not None else [int(k == label) for k in range(10)]
    return (" ".join(f"{v:.4f}" for v in np.ravel(pixels)) + " "
            + " ".join(str(v) for v in onehot) + " \r\n")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "semeion.data"
    path.write_bytes(text.encode("latin-1"))
    return path


def test_real_file():
    if not SEMEION.exists():
        pytest.skip(f"Semeion not present at {SEMEION}")
    start = time.perf_counter()
    ds = load_semeion(SEMEION)
    assert time.perf_counter() - start < 3.0
    assert (ds.name, ds.split, ds.framing) == ("semeion", "test", "mnist")
    assert ds.images.shape == (1593, 1, 28, 28) and ds.images.dtype == np.uint8
    assert ds.labels.dtype == np.int64
    assert np.bincount(ds.labels).tolist() == [161, 162, 159, 159, 161, 159, 161, 158, 155, 158]
    assert ds.classes == [str(k) for k in range(10)]
    assert ds.files == {"semeion.data": SHA256}
    # MNIST framing: white ink on black, longer side 20, centre of mass at (14, 14)
    assert ds.images[:, :, 0].max() == 0 and ds.images.max() == 255
    ys, xs = np.indices((28, 28))
    a = ds.images[:, 0].astype(np.float64)
    mass = a.sum((1, 2))
    assert np.abs((a * ys).sum((1, 2)) / mass - 14).max() <= 0.5
    assert np.abs((a * xs).sum((1, 2)) / mass - 14).max() <= 0.5
    assert load_semeion(SEMEION, split="train").images.shape == (1593, 1, 28, 28)


def test_small_file_loads_crlf_or_lf(tmp_path):
    text = _line(0) + _line(7) + _line(9)
    for variant in (text, text.replace("\r\n", "\n"), text + "\r\n\r\n"):
        ds = load_semeion(_write(tmp_path, variant))
        assert ds.labels.tolist() == [0, 7, 9] and ds.images.shape == (3, 1, 28, 28)
    bar = ds.images[0, 0]
    rows, cols = np.flatnonzero(bar.any(1)), np.flatnonzero(bar.any(0))
    assert rows[-1] - rows[0] + 1 == 20 and cols[-1] - cols[0] + 1 == 8  # 10x4 -> 20x8


@pytest.mark.parametrize("text,message", [
    ("", "the file is empty"),
    (" \r\n\r\n", "the file is empty"),
    (_line() + _line().replace(" 1.0000", "", 1), "line 2: expected 266 values (256 pixels + 10 "
                                                  "label digits), got 265"),
    (_line() + "\r\n" + _line(), "line 2: expected 266 values"),
    (_line() * 2 + _line().replace("0.0000", "abc", 1), "line 3: value 'abc' is not a number"),
    (_line() + _line().replace("0.0000", "0.5000", 1), "line 2: pixel values must be 0 or 1, "
                                                       "got 0.5"),
    (_line(onehot=[0, 1, 0, 0, 0, 0, 0, 0, 1, 0]), "line 1: the label must be one-hot (exactly "
                                                   "one 1 in the last 10 values), got [0 1 0"),
    (_line() + _line(onehot=[0] * 10), "line 2: the label must be one-hot"),
    (_line() + _line(onehot=[0, 2, 0, 0, 0, 0, 0, 0, 0, 0]), "line 2: the label must be one-hot"),
    (_line() + _line(pixels=np.zeros(256)), "line 2: the digit has no ink"),
    (_line() + "\xe9", "not a Semeion text file (non-ASCII byte at offset"),
])
def test_corrupt_files(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(DataError, match=re.escape(message)) as info:
        load_semeion(path)
    assert str(info.value).startswith(str(path))


def test_missing_file_and_bad_split(tmp_path):
    with pytest.raises(DataError, match="cannot read the file"):
        load_semeion(tmp_path / "nope.data")
    with pytest.raises(DataError, match="unknown split 'val' for semeion"):
        load_semeion(_write(tmp_path, _line()), split="val")


def test_files_records_the_sha256(tmp_path):
    path = _write(tmp_path, _line(5))
    ds = load_semeion(path, split="train")
    assert ds.split == "train"
    assert ds.files == {"semeion.data": hashlib.sha256(path.read_bytes()).hexdigest()}
