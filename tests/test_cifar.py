"""CIFAR-10: both official formats, written byte for byte as the originals, read alike; the real
binary files when ../shared/datasets has them; downloads of either format over loopback only.

``py2_pickle`` writes a batch as Python 2's cPickle (protocol 2) wrote the originals: memo
numbered from 1, labels appended 1,000 at a time, the array as ``numpy.core.multiarray
._reconstruct`` with dtype ``('u1', 0, 1)`` and state ``(3, '|', None, None, None, -1, -1, 0)``,
its bytes one BINSTRING. Up to those bytes it matches the real ``test_batch`` (checked below).
"""

import hashlib
import os
import pickle
import struct
import tarfile
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from convnet.data import ChecksumWarning, load_dataset
from convnet.data.cifar import (load_cifar10, load_cifar10_bin, read_batch, read_bin_batch,
                                read_bin_meta, read_meta)
from convnet.data import download as dl
from convnet.data.download import DownloadError, RemoteFile, canonical_sha256
from convnet.errors import DataError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
REAL_BIN = SHARED / "cifar10" / "cifar-10-batches-bin"
NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CLOSED = "http://127.0.0.1:9/"  # the discard port: nothing listens, connections are refused


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No test reaches the real network or sees the user's CONVNET_DATA (conftest isolates the
    cache)."""
    monkeypatch.delenv("CONVNET_DATA", raising=False)
    monkeypatch.setitem(dl.SOURCES, "cifar10", replace(dl.SOURCES["cifar10"], mirrors=(CLOSED,)))


# --- writers: the two formats as the originals are laid out --------------------------------------
class Py2Writer:
    """Emits the opcodes of Python 2's cPickle, protocol 2, for the CIFAR dicts."""

    def __init__(self):
        self.out, self.memo = bytearray(b"\x80\x02"), 0

    def put(self):  # cPickle numbers its memo from 1
        self.memo += 1
        self.out += b"q" + bytes([self.memo]) if self.memo < 256 else \
            b"r" + struct.pack("<I", self.memo)

    def string(self, data: bytes, memoize=True):
        self.out += (b"U" + bytes([len(data)]) if len(data) < 256
                     else b"T" + struct.pack("<i", len(data))) + data
        if memoize:
            self.put()

    def integer(self, n: int):
        self.out += (b"K" + bytes([n]) if 0 <= n < 256 else b"M" + struct.pack("<H", n)
                     if 0 <= n < 65536 else b"J" + struct.pack("<i", n))

    def sequence(self, items, each):
        self.out += b"]"
        self.put()
        for start in range(0, len(items), 1000):  # cPickle's batches of APPENDS
            self.out += b"("
            for item in items[start:start + 1000]:
                each(item)
            self.out += b"e"

    def array(self, data: np.ndarray):
        self.out += b"cnumpy.core.multiarray\n_reconstruct\n"
        self.put()
        self.out += b"cnumpy\nndarray\n"
        self.put()
        self.out += b"K\x00\x85U\x01b\x87R"  # (0,) 'b' -> _reconstruct(ndarray, (0,), 'b')
        self.put()
        self.out += b"(K\x01"  # state: (1, shape, dtype, False, raw)
        for n in data.shape:
            self.integer(n)
        self.out += b"\x86cnumpy\ndtype\n"
        self.put()
        self.out += b"U\x02u1K\x00K\x01\x87R"
        self.put()
        self.out += b"(K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89"
        self.string(data.tobytes(), memoize=False)
        self.out += b"tb"

    def mapping(self, items: list[tuple[bytes, object]]):
        self.out += b"}"
        self.put()
        self.out += b"("
        for key, value in items:
            self.string(key)
            self.value(value)
        self.out += b"u."
        return bytes(self.out)

    def value(self, v):
        if isinstance(v, bytes):
            self.string(v)
        elif isinstance(v, int):
            self.integer(v)
        elif isinstance(v, np.ndarray):
            self.array(v)
        else:
            self.sequence(v, self.value)


def py2_batch(data: np.ndarray, labels, label: bytes = b"training batch 1 of 5",
              filenames=None) -> bytes:
    """A data_batch_N / test_batch pickle in the original key order and layout."""
    filenames = filenames or [b"img_%d.png" % i for i in range(len(data))]
    return Py2Writer().mapping([(b"batch_label", label), (b"labels", [int(x) for x in labels]),
                             (b"data", data), (b"filenames", filenames)])


def py2_meta(names=NAMES, per_batch=10000) -> bytes:
    return Py2Writer().mapping([(b"num_cases_per_batch", per_batch),
                             (b"label_names", [n.encode() for n in names]),
                             (b"num_vis", 3072)])


def bin_batch(images: np.ndarray, labels) -> bytes:
    """Records of 1 label byte + the 3,072 R, G, B bytes."""
    flat = images.reshape(len(images), -1)  # (N, 3, 32, 32) -> (N, 3072)
    return np.concatenate([np.asarray(labels, np.uint8)[:, None], flat], axis=1).tobytes()


def bin_meta(names=NAMES) -> bytes:
    return ("\n".join(names) + "\n\n").encode()  # one per line, one empty line at the end


def sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8), rng.integers(0, 10, n)


def write_both(root: Path, n=7) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The same images as cifar-10-batches-py/ and cifar-10-batches-bin/ under root."""
    py, bn = root / "cifar-10-batches-py", root / "cifar-10-batches-bin"
    py.mkdir(parents=True)
    bn.mkdir(parents=True)
    (py / "batches.meta").write_bytes(py2_meta(per_batch=n))
    (bn / "batches.meta.txt").write_bytes(bin_meta())
    written = {}
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        images, labels = sample(n + i, seed=i)  # batches of different sizes
        (py / name).write_bytes(py2_batch(images.reshape(len(images), -1), labels))
        (bn / f"{name}.bin").write_bytes(bin_batch(images, labels))
        written[name] = images, labels
    return written


# --- both formats agree -----------------------------------------------------------------------
def test_both_formats_agree_image_for_image(tmp_path):
    written = write_both(tmp_path)
    for split, names in (("train", [f"data_batch_{k}" for k in range(1, 6)]),
                         ("test", ["test_batch"])):
        py = load_cifar10(tmp_path / "cifar-10-batches-py", split)
        bn = load_cifar10_bin(tmp_path / "cifar-10-batches-bin", split)
        expected = np.concatenate([written[n][0] for n in names])
        assert np.array_equal(py.images, expected) and np.array_equal(bn.images, expected)
        assert py.labels.tolist() == bn.labels.tolist() == np.concatenate(
            [written[n][1] for n in names]).tolist()
        assert py.classes == bn.classes == NAMES
        assert (py.name, py.split) == (bn.name, bn.split) == ("cifar10", split)
        for images in (py.images, bn.images):  # one writable, contiguous copy, not file views
            assert images.flags.c_contiguous and images.flags.writeable
        assert py.labels.dtype == bn.labels.dtype == np.int64


def test_load_dataset_prefers_binary_and_reads_either(tmp_path):
    write_both(tmp_path / "cifar10")
    ds = load_dataset("cifar10", "test", data_dir=tmp_path)
    assert set(ds.files) == {"batches.meta.txt", "test_batch.bin"}
    for path in (tmp_path / "cifar10" / "cifar-10-batches-bin").iterdir():
        path.unlink()
    py = load_dataset("cifar10", "test", data_dir=tmp_path)
    assert set(py.files) == {"batches.meta", "test_batch"}
    assert np.array_equal(py.images, ds.images) and py.labels.tolist() == ds.labels.tolist()


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_python3_repickles_of_any_protocol(tmp_path, protocol):
    """numpy 2 writes numpy._core._reconstruct (protocols 2-4, bytes as _codecs.encode under 2)
    and numpy._core.numeric._frombuffer (protocol 5); str keys; both read alike."""
    images, labels = sample(3, 0)
    data = images.reshape(3, -1)
    (tmp_path / "b").write_bytes(pickle.dumps({"data": data, "labels": labels.tolist()},
                                              protocol=protocol))
    got, got_labels, _ = read_batch(tmp_path / "b")
    assert np.array_equal(got, images) and got_labels.tolist() == labels.tolist()
    (tmp_path / "f").write_bytes(pickle.dumps({b"data": np.asfortranarray(data),
                                               b"labels": labels.tolist()}, protocol=protocol))
    assert np.array_equal(read_batch(tmp_path / "f")[0], images)  # column-major bytes


def test_py2_pickle_is_what_the_old_reader_and_numpy_read(tmp_path):
    """The hand-written opcodes are a real pickle: plain pickle + numpy rebuild the same array."""
    images, labels = sample(4, 3)
    blob = py2_batch(images.reshape(4, -1), labels)
    plain = pickle.loads(blob, encoding="bytes")  # trusted test bytes: numpy may rebuild them
    assert np.array_equal(plain[b"data"], images.reshape(4, -1))
    assert plain[b"labels"] == labels.tolist() and plain[b"batch_label"] == b"training batch 1 of 5"
    assert pickle.loads(py2_meta(), encoding="bytes")[b"label_names"][9] == b"truck"


# --- one-line DataErrors for the python format's meta and labels --------------------------------
META_ERRORS = [
    ([b"airplane", b"\xff\xfeoops"], "class name 1 is not UTF-8 text"),
    ([], "expected 1..256 class names, got a list of 0"),
    ([b"cat", b"cat"], "class names must not repeat"),
    ([b"cat", 3], "class name 1 must be non-empty text, got a int"),
]


@pytest.mark.parametrize("names,expected", META_ERRORS)
def test_meta_errors(tmp_path, names, expected):
    w = Py2Writer()
    (tmp_path / "batches.meta").write_bytes(w.mapping([(b"label_names", names)]))
    with pytest.raises(DataError) as info:
        read_meta(tmp_path / "batches.meta")
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_bin_meta_not_utf8_and_labels_out_of_range(tmp_path):
    (tmp_path / "m.txt").write_bytes(b"cat\n\xff\xfe\n")
    with pytest.raises(DataError, match="class name 1 is not UTF-8 text"):
        read_bin_meta(tmp_path / "m.txt")
    images, _ = sample(3, 1)
    (tmp_path / "b.bin").write_bytes(bin_batch(images, [1, 10, 2]))
    with pytest.raises(DataError, match="label values must be in 0..9, found 10 at record 1"):
        read_bin_batch(tmp_path / "b.bin")


BATCH_ERRORS = [
    (lambda d, lab: py2_batch(d, lab[:-1]), "3 images but 2 labels; they must match"),
    (lambda d, lab: py2_batch(d, [1, 2, 10]), "label values must be in 0..9, found 10 at index 2"),
    (lambda d, lab: Py2Writer().mapping([(b"data", d), (b"labels", [1, 2, b"x"])]),
     "'labels' must be a list of ints, got a list holding other values"),
    (lambda d, lab: Py2Writer().mapping([(b"data", d), (b"labels", 5)]),
     "'labels' must be a list of ints, got a int"),
    (lambda d, lab: py2_batch(d, lab).replace(b"U\x02u1", b"U\x02f4"),
     "'data' must be a uint8 array of shape N x 3072 (3 x 32 x 32), got a float32 array of "
     "shape (3, 3072)"),
    (lambda d, lab: py2_batch(d, lab).replace(b"K\x03M\x00\x0c", b"K\x04M\x00\x0c"),
     "'data' declares 4 images (12,288 bytes) but holds 9,216 bytes"),
]


@pytest.mark.parametrize("make,expected", BATCH_ERRORS)
def test_batch_errors(tmp_path, make, expected):
    images, labels = sample(3, 2)
    (tmp_path / "b").write_bytes(make(images.reshape(3, -1), labels))
    with pytest.raises(DataError) as info:
        read_batch(tmp_path / "b")
    assert expected in str(info.value) and "\n" not in str(info.value)


# --- the real files -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def real_bin() -> Path:
    if not (REAL_BIN / "test_batch.bin").is_file():
        pytest.skip(f"real CIFAR-10 binary batches not present at {REAL_BIN}")
    return SHARED


def test_real_binary_train_and_test(real_bin):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the canonical files: no ChecksumWarning
        train = load_dataset("cifar10", "train", data_dir=real_bin)
        test = load_dataset("cifar10", "test", data_dir=real_bin)
    assert train.images.shape == (50000, 3, 32, 32) and test.images.shape == (10000, 3, 32, 32)
    assert train.classes == test.classes == NAMES
    assert np.bincount(train.labels).tolist() == [5000] * 10
    assert np.bincount(test.labels).tolist() == [1000] * 10
    mean = train.images.mean(axis=(0, 2, 3), dtype=np.float64)  # per channel R, G, B
    assert np.allclose(mean, [125.31, 122.95, 113.87], atol=0.01)
    for name, sha in {**train.files, **test.files}.items():
        assert sha == canonical_sha256("cifar10", name), name
    assert test.labels[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]


def test_repacked_binary_file_warns(real_bin, tmp_path):
    folder = tmp_path / "cifar10" / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    (folder / "batches.meta.txt").write_bytes((REAL_BIN / "batches.meta.txt").read_bytes())
    with open(REAL_BIN / "test_batch.bin", "rb") as f:
        (folder / "test_batch.bin").write_bytes(f.read(100 * 3073))  # the first 100 images
    with pytest.warns(ChecksumWarning, match="cifar10/test_batch.bin: checksum differs") as rec:
        ds = load_dataset("cifar10", "test", data_dir=tmp_path)
    assert len(rec) == 1 and len(ds) == 100  # the meta file is canonical: no warning for it


# SHA-256 of the first 512 KiB of the original python test_batch (dict header, all 10,000 labels,
# the array header and the first ~164 images), from a truncated copy of it: ArielFuentesC/
# Custom_Vision_Dataset, commit 31e06635, data/cifar-10-batches-py/test_batch.
REAL_PY_TEST_PREFIX = "33b746a6303c9ffe8725f63705f8e5e097a28b6a1535115f55bfd794222104cc"


def test_py2_writer_matches_the_original_layout(real_bin, tmp_path):
    """Python test_batch rebuilt from test_batch.bin: the same bytes as the original's start,
    and the two readers agree on all 10,000 images."""
    images, labels, _ = read_bin_batch(REAL_BIN / "test_batch.bin")
    blob = py2_batch(images.reshape(10000, -1), labels, label=b"testing batch 1 of 1")
    assert hashlib.sha256(blob[:512 * 1024]).hexdigest() == REAL_PY_TEST_PREFIX
    (tmp_path / "test_batch").write_bytes(blob)
    py_images, py_labels, _ = read_batch(tmp_path / "test_batch")
    assert np.array_equal(py_images, images) and py_labels.tolist() == labels.tolist()


def test_py2_meta_is_the_original():
    assert hashlib.md5(py2_meta()).hexdigest() == "5ff9c542aee3614f3951f8cda6e48888"  # torchvision


# --- downloads of either format, over loopback --------------------------------------------------


def tarball(path: Path, folder: Path) -> str:
    """Pack folder/ as <folder name>/<files> (as the published tarballs); return its MD5."""
    with tarfile.open(path, "w:gz") as tar:
        for f in sorted(folder.iterdir()):
            tar.add(f, arcname=f"{folder.name}/{f.name}")
    return hashlib.md5(path.read_bytes()).hexdigest()


def serve_both(tmp_path: Path, www_root: Path, corrupt: str | None = None) -> tuple:
    """Both tarballs of small batches in www_root; Archives whose digests are theirs."""
    write_both(tmp_path / "src")
    archives = []
    for archive in (dl.CIFAR10_BINARY, dl.CIFAR10_PYTHON):
        folder = tmp_path / "src" / archive.folder
        members = tuple(RemoteFile(f.name, hashlib.md5(f.read_bytes()).hexdigest())
                        for f in sorted(folder.iterdir()))
        if corrupt and (folder / corrupt).is_file():
            (folder / corrupt).write_bytes((folder / corrupt).read_bytes()[:-3073])
        md5 = tarball(www_root / archive.file.name, folder)
        archives.append(replace(archive, file=RemoteFile(archive.file.name, md5),
                                members=members))
    return tuple(archives)


def test_default_download_is_binary_then_python_on_request(tmp_path, www, monkeypatch):
    base, root = www
    archives = serve_both(tmp_path, root)
    monkeypatch.setitem(dl.SOURCES, "cifar10", replace(
        dl.SOURCES["cifar10"], mirrors=(CLOSED, base), archives=archives))
    ds = load_dataset("cifar10", "test")  # nothing found: downloads the binary tarball
    cache = dl.cache_dir() / "cifar10"
    assert sorted(os.listdir(cache)) == ["cifar-10-batches-bin"]  # tarball and temp gone
    assert set(ds.files) == {"batches.meta.txt", "test_batch.bin"} and len(ds) == 12
    assert dl.download_dataset("cifar10", format="python") == cache
    assert sorted(os.listdir(cache)) == ["cifar-10-batches-bin", "cifar-10-batches-py"]
    py = load_cifar10(cache / "cifar-10-batches-py", "test")
    assert np.array_equal(py.images, ds.images) and py.labels.tolist() == ds.labels.tolist()
    with pytest.raises(DataError, match="format 'pickle' is not one cifar10 is published in: "
                                        "expected binary or python"):
        dl.download_dataset("cifar10", format="pickle")


def test_unpacked_file_with_wrong_checksum_is_refused(tmp_path, monkeypatch):
    """The tarball matches its MD5 but a file inside does not match its own: nothing is kept."""
    (tmp_path / "www").mkdir()  # served as file:// URLs this time
    archives = serve_both(tmp_path, tmp_path / "www", corrupt="data_batch_3.bin")
    monkeypatch.setitem(dl.SOURCES, "cifar10", replace(
        dl.SOURCES["cifar10"], mirrors=((tmp_path / "www").as_uri() + "/",), archives=archives))
    with pytest.raises(DownloadError) as info:
        load_dataset("cifar10")
    message = str(info.value)
    assert "\n" not in message and message.startswith("could not download cifar10: ")
    assert "cifar-10-batches-bin/data_batch_3.bin: checksum mismatch: expected md5" in message
    assert "put the cifar-10-batches-bin/ folder of cifar-10-binary.tar.gz from" in message
    assert os.listdir(dl.cache_dir() / "cifar10") == []  # no tarball, no temp, no folder


def test_unreachable_cifar_download_is_one_line(tmp_path):
    with pytest.raises(DownloadError) as info:
        load_dataset("cifar10", "test")
    message = str(info.value)
    assert "\n" not in message and "could not download cifar10 (no network?)" in message
    assert "cifar-10-binary.tar.gz" in message


def test_published_checksums_match_the_real_files(real_bin):
    """The table in download.py is the one the real unpacked tarball passes."""
    dl._verify_members(dl.CIFAR10_BINARY, REAL_BIN)
    assert dl.CIFAR10_BINARY.file.md5 == "c32a1d4ab5d03f1284b67883e8d87530"
