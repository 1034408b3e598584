"""Fuzzing the dataset readers: random and mutated files either load or raise DataError.

In-process and quick; tests/test_fuzz_cifar.py runs the CIFAR readers on crafted attacks in a
subprocess, where a crash by signal is a failure rather than the end of the test run.
"""

import gzip
import pickle
import struct

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convnet.data.cifar import read_batch, read_bin_batch
from convnet.data.idx import read_images, read_labels
from convnet.data.semeion import load_semeion
from convnet.errors import DataError
from test_cifar import bin_batch, py2_batch

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def valid_idx_images(n=3) -> bytes:
    return struct.pack(">IIII", 2051, n, 28, 28) + bytes(range(256)) * 9 + bytes(n * 784 - 2304)


def valid_cifar_batch(n=2, original=False) -> bytes:
    """A Python 3 re-pickle (protocol 2), or the original Python 2 layout."""
    data = np.arange(n * 3072, dtype=np.uint32).astype(np.uint8).reshape(n, 3072)
    if original:
        return py2_batch(data, [1] * n)
    return pickle.dumps({b"data": data, b"labels": [1] * n}, protocol=2)


def valid_semeion(n=2) -> bytes:
    line = " ".join(["1.0000"] * 8 + ["0.0000"] * 248) + " " + " ".join("0100000000") + " \r\n"
    return (line * n).encode()


def mutate(data: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    """Overwrite bytes at positions (mod length) and optionally truncate."""
    b = bytearray(data)
    for pos, value in edits:
        if b:
            b[pos % len(b)] = value
    return bytes(b[:cut] if cut is not None else b)


EDITS = st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6)
CUT = st.none() | st.integers(0, 4000)


def loads_or_data_error(reader, path, data: bytes) -> None:
    path.write_bytes(data)
    try:
        reader(path)
    except DataError as e:
        assert "\n" not in str(e)


@SETTINGS
@given(EDITS, CUT, st.booleans())
def test_mutated_idx_files(tmp_path, edits, cut, gz):
    data = mutate(valid_idx_images(), edits, cut)
    name = "train-images-idx3-ubyte" + (".gz" if gz else "")
    loads_or_data_error(read_images, tmp_path / name, gzip.compress(data) if gz else data)


@SETTINGS
@given(st.binary(max_size=3000))
def test_random_bytes_as_idx_labels_and_gz(tmp_path, data):
    loads_or_data_error(read_labels, tmp_path / "t10k-labels-idx1-ubyte", data)
    loads_or_data_error(read_images, tmp_path / "t10k-images-idx3-ubyte.gz", data)


@SETTINGS
@given(EDITS, CUT, st.booleans())
def test_mutated_cifar_batches(tmp_path, edits, cut, original):
    loads_or_data_error(read_batch, tmp_path / "data_batch_1",
                        mutate(valid_cifar_batch(original=original), edits, cut))


@SETTINGS
@given(EDITS, st.none() | st.integers(0, 7000))
def test_mutated_cifar_binary_batches(tmp_path, edits, cut):
    images = np.arange(2 * 3072, dtype=np.uint32).astype(np.uint8).reshape(2, 3, 32, 32)
    loads_or_data_error(read_bin_batch, tmp_path / "data_batch_1.bin",
                        mutate(bin_batch(images, [3, 9]), edits, cut))


@SETTINGS
@given(EDITS, CUT)
def test_mutated_semeion_files(tmp_path, edits, cut):
    loads_or_data_error(load_semeion, tmp_path / "semeion.data",
                        mutate(valid_semeion(), edits, cut))
