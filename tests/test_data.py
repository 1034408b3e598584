"""convnet.data: readers on small files written in the real formats, every corruption ->
DataError, the real MNIST / Fashion-MNIST when ../shared/datasets is present, and downloads
over loopback only."""

import gzip
import hashlib
import io
import os
import pickle
import re
import shutil
import struct
import tarfile
import tracemalloc
import warnings
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convnet.data import DATASETS, ChecksumWarning, Dataset, load_dataset
from convnet.data import download as dl
from convnet.data.cifar import restricted_loads
from convnet.data.download import DownloadError, RemoteFile
from convnet.errors import DataError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer",
               "dog", "frog", "horse", "ship", "truck"]
CLOSED = "http://127.0.0.1:9/"  # the discard port: nothing listens, connections are refused


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    """No test may reach the real network or the real ~/.cache, or see the user's CONVNET_DATA."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("CONVNET_DATA", raising=False)
    for name, source in dl.SOURCES.items():
        monkeypatch.setitem(dl.SOURCES, name, replace(source, mirrors=(CLOSED,)))


# --- writers for the real formats ----------------------------------------------------------------
def idx_bytes(magic: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    return struct.pack(f">{1 + len(dims)}I", magic, *dims) + payload


def write_mnist(folder: Path, split="train", n=5, gz=True, spelling="{p}-{k}-{i}-ubyte", seed=0,
                images=None, labels=None, images_file=None):
    """Write an IDX image/label pair. images/labels replace the decompressed contents;
    images_file replaces the image file's bytes on disk verbatim."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    classes = (np.arange(n) % 10).astype(np.uint8)
    prefix = "train" if split == "train" else "t10k"
    folder.mkdir(parents=True, exist_ok=True)
    if images is None:
        images = idx_bytes(2051, (n, 28, 28), pixels.tobytes())
    if labels is None:
        labels = idx_bytes(2049, (n,), classes.tobytes())
    blobs = {"images": images, "labels": labels}
    for kind, idx in (("images", "idx3"), ("labels", "idx1")):
        path = folder / (spelling.format(p=prefix, k=kind, i=idx) + (".gz" if gz else ""))
        path.write_bytes(gzip.compress(blobs[kind]) if gz else blobs[kind])
        if kind == "images" and images_file is not None:
            path.write_bytes(images_file)
    return pixels, classes


class Py2Pickler(pickle._Pickler):
    """Writes str and bytes as Python 2 byte strings, as in CIFAR-10's original pickles."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_str8(self, obj):
        data = obj if isinstance(obj, bytes) else obj.encode("latin-1")
        size = len(data)
        self.write((pickle.SHORT_BINSTRING + bytes([size]) if size < 256
                    else pickle.BINSTRING + struct.pack("<i", size)) + data)
        self.memoize(obj)

    dispatch[bytes] = dispatch[str] = save_str8


def dumps(obj, fmt: str) -> bytes:
    """'py2': like the originals (byte strings, numpy 1.x's numpy.core globals); 'py3': a
    protocol-2 re-pickle from Python 3, bytes as _codecs.encode calls."""
    if fmt != "py2":
        return pickle.dumps(obj, protocol=2)
    buf = io.BytesIO()
    Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue().replace(b"numpy._core.multiarray", b"numpy.core.multiarray")


def cifar_batch(n: int, seed: int, fmt="py2") -> dict:
    rng = np.random.default_rng(seed)
    batch = {"batch_label": "training batch", "filenames": [f"img_{i}.png" for i in range(n)],
             "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
             "labels": [int(x) for x in rng.integers(0, 10, n)]}
    return batch if fmt != "py3" else {k.encode(): v for k, v in batch.items()}


def write_cifar(folder: Path, n=4, fmt="py2", overrides=None) -> Path:
    """cifar-10-batches-py/ as protocol-2 pickles of dicts; fmt: 'py2' (the originals),
    'py3' (bytes keys), 'py3-str' (str keys)."""
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"label_names": CIFAR_NAMES, "num_cases_per_batch": n, "num_vis": 3072}
    files = {"batches.meta": meta, "test_batch": cifar_batch(n, 99, fmt)}
    files.update({f"data_batch_{i}": cifar_batch(n, i, fmt) for i in range(1, 6)})
    files.update(overrides or {})
    for name, obj in files.items():
        (folder / name).write_bytes(obj if isinstance(obj, bytes) else dumps(obj, fmt))
    return folder


def save_image(path: Path, mode: str, size: tuple[int, int], value=100):
    path.parent.mkdir(parents=True, exist_ok=True)
    color = value if mode == "L" else (value, 255 - value, 7)
    Image.new(mode, size, color).save(path)


# --- IDX ------------------------------------------------------------------------------------
@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("spelling", ["{p}-{k}-{i}-ubyte", "{p}-{k}.{i}-ubyte"])
def test_idx_round_trip(tmp_path, gz, spelling):
    pixels, classes = write_mnist(tmp_path / "mnist", "test", n=7, gz=gz, spelling=spelling)
    with warnings.catch_warnings(record=True):  # tiny .gz files are not the canonical ones
        warnings.simplefilter("always")
        ds = load_dataset("mnist", "test", data_dir=tmp_path)
    assert ds.images.shape == (7, 1, 28, 28) and ds.images.dtype == np.uint8
    assert np.array_equal(ds.images[:, 0], pixels) and ds.labels.tolist() == classes.tolist()
    assert ds.labels.dtype == np.int64 and ds.classes == [str(d) for d in range(10)]
    assert ds.framing == "mnist" and len(ds) == 7
    name = spelling.format(p="t10k", k="images", i="idx3") + (".gz" if gz else "")
    assert ds.files[name] == hashlib.sha256((tmp_path / "mnist" / name).read_bytes()).hexdigest()


def test_idx_folder_itself_and_fashion_names(tmp_path):
    write_mnist(tmp_path, "train", n=3, gz=False)  # the user points at the files' own folder
    ds = load_dataset("fashion-mnist", data_dir=tmp_path)
    assert ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot" and ds.framing is None


_RANDOM_IMAGES = idx_bytes(2051, (5, 28, 28), np.random.default_rng(1).bytes(5 * 784))
CORRUPTIONS = [  # (id, write_mnist kwargs, substrings the message must contain)
    ("truncated-gzip", dict(images_file=gzip.compress(_RANDOM_IMAGES)[:-30]),
     ["train-images-idx3-ubyte.gz", "gzip stream is truncated"]),
    ("bad-gzip", dict(images_file=b"\x1f\x8b not really gzip"), ["not a valid gzip file"]),
    ("empty", dict(images_file=b""), ["the file is empty (0 bytes)"]),
    ("magic-swapped", dict(images=idx_bytes(2049, (5,), bytes(5))),
     ["expected magic number 2051", "got 2049", "swapped"]),
    ("rank-4", dict(images=idx_bytes(2052, (5, 28, 28, 1), bytes(5 * 784))),
     ["expected magic number 2051", "got 2052", "4 dimensions"]),
    ("not-idx", dict(images=b"GIF89a" + bytes(100)), ["got 1195984440", "not an uncompressed IDX"]),
    ("header-short", dict(images=idx_bytes(2051, (5,), b"")), ["16-byte header is cut short"]),
    ("truncated-data", dict(images=idx_bytes(2051, (5, 28, 28), bytes(5 * 784 - 10))),
     ["5 images of 28x28 = 3920 bytes", "has 3910", "truncated by 10 bytes"]),
    ("trailing-bytes", dict(images=idx_bytes(2051, (5, 28, 28), bytes(5 * 784 + 3))),
     ["3 trailing bytes"]),
    ("labels-magic", dict(labels=idx_bytes(2051, (5, 28, 28), bytes(5 * 784))),
     ["train-labels-idx1-ubyte.gz", "expected magic number 2049", "got 2051"]),
    ("count-mismatch", dict(labels=idx_bytes(2049, (4,), bytes(4))),
     ["has 5 images but", "has 4 labels"]),
    ("label-range", dict(labels=idx_bytes(2049, (5,), bytes([1, 2, 12, 3, 4]))),
     ["label values must be in 0..9, found 12 at index 2"]),
]


@pytest.mark.parametrize("kwargs,expected", [c[1:] for c in CORRUPTIONS],
                         ids=[c[0] for c in CORRUPTIONS])
def test_idx_corruption_raises_data_error(tmp_path, kwargs, expected):
    write_mnist(tmp_path / "mnist", n=5, **kwargs)
    with pytest.raises(DataError) as info:
        load_dataset("mnist", data_dir=tmp_path)
    message = str(info.value)
    assert "\n" not in message
    for part in expected:
        assert part in message, message


def _gz_stream(header: bytes, zeros: int) -> bytes:
    """A gzip file of ``header`` then ``zeros`` zero bytes, compressed a megabyte at a time."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [z.compress(header)]
    for _ in range(zeros >> 20):
        out.append(z.compress(bytes(1 << 20)))
    return b"".join(out) + z.flush()


def test_idx_bomb_inflates_no_more_than_declared(tmp_path):
    """A 64 KB .gz whose header declares 10 images and whose stream inflates to 64 MB: refused
    after the declared 7,840 bytes and a counted megabyte, never inflated whole."""
    bomb = _gz_stream(struct.pack(">IIII", 2051, 10, 28, 28), 64 << 20)
    assert len(bomb) < 100_000
    write_mnist(tmp_path / "mnist", n=10, images_file=bomb)
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match="more than 1,048,576 trailing bytes"):
            load_dataset("mnist", data_dir=tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"{peak:,} bytes"  # was 64 MB: gzip.decompress inflated it whole


@pytest.mark.parametrize("dims,words", [
    ((2 ** 31, 2 ** 31, 4), "more than any IDX file holds (10^9)"),  # 2^64: 0 once in int64
    ((2 ** 32 - 1,) * 3, "more than any IDX file holds (10^9)"),
    ((60000, 28, 28), "can hold at most"),  # 47 MB declared, 16 bytes given
])
def test_idx_header_sizes_are_checked_before_allocating(tmp_path, dims, words):
    for gz in (True, False):
        write_mnist(tmp_path / f"{gz}" / "mnist", n=5, gz=gz,
                    images=idx_bytes(2051, dims, b""))
        with pytest.raises(DataError, match=re.escape(words)):
            load_dataset("mnist", data_dir=tmp_path / f"{gz}")


def test_empty_one_class_and_mismatched_splits_are_refused(tmp_path):
    write_mnist(tmp_path / "empty" / "mnist", n=0)
    with pytest.raises(DataError, match="mnist train split has no images"):
        load_dataset("mnist", data_dir=tmp_path / "empty")
    write_mnist(tmp_path / "same" / "mnist", n=5, labels=idx_bytes(2049, (5,), bytes([3] * 5)))
    with pytest.raises(DataError, match="all 5 images are of class '3'; a classifier needs at "
                                        "least 2 classes"):
        load_dataset("mnist", data_dir=tmp_path / "same")
    folder = tmp_path / "sizes" / "mnist"
    write_mnist(folder, "train", n=5)
    write_mnist(folder, "test", n=5, images=idx_bytes(2051, (5, 32, 32), bytes(5 * 1024)))
    for split in ("train", "test"):
        with pytest.raises(DataError, match=r"holds (28x28|32x32) images but .* holds "
                                            r"(32x32|28x28); the train and test splits"):
            load_dataset("mnist", split, data_dir=tmp_path / "sizes")
    save_image(tmp_path / "one" / "cat" / "a.png", "L", (4, 4))
    with pytest.raises(DataError, match=r"1 class \['cat'\]; a classifier needs at least 2"):
        load_dataset(str(tmp_path / "one"))
    write_cifar(tmp_path / "c", n=4)
    with pytest.raises(DataError, match="at least 2 classes"):
        load_dataset("cifar10", data_dir=tmp_path / "c", classes=["cat"])


def test_cifar_labels_of_another_length_and_names_not_utf8(tmp_path):
    short = {b"data": np.zeros((3, 3072), np.uint8), b"labels": [0, 1]}
    folder = write_cifar(tmp_path / "py", n=3, overrides={"test_batch": short})
    with pytest.raises(DataError, match="3 images but 2 labels"):
        load_dataset("cifar10", "test", data_dir=folder)
    folder = write_cifar(tmp_path / "meta", n=3, overrides={
        "batches.meta": pickle.dumps({b"label_names": [b"\xff\xfe", b"cat"]}, protocol=2)})
    with pytest.raises(DataError, match="class name 0 is not UTF-8 text"):
        load_dataset("cifar10", "test", data_dir=folder)
    binary = tmp_path / "bin" / "cifar-10-batches-bin"
    binary.mkdir(parents=True)
    (binary / "batches.meta.txt").write_bytes(b"cat\n\xff\xfe\n")
    (binary / "test_batch.bin").write_bytes(bytes(3073))
    with pytest.raises(DataError, match="class name 1 is not UTF-8 text"):
        load_dataset("cifar10", "test", data_dir=tmp_path / "bin")


def test_checksum_warning_for_non_canonical_gz_only(tmp_path):
    write_mnist(tmp_path / "mnist", n=3)
    with pytest.warns(ChecksumWarning) as record:
        ds = load_dataset("mnist", data_dir=tmp_path)
    assert len(ds) == 3
    assert [str(w.message) for w in record] == [
        f"mnist/{f}: checksum differs from the canonical file (re-packed or edited copy?); "
        "structure is valid, using it"
        for f in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")]
    write_mnist(tmp_path / "raw" / "mnist", n=3, gz=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # raw files have no published checksum: no warning
        load_dataset("mnist", data_dir=tmp_path / "raw")


# --- real MNIST / Fashion-MNIST --------------------------------------------------------------
def real_root() -> Path:
    if not (SHARED / "mnist").is_dir():
        pytest.skip(f"real datasets not present at {SHARED}")
    return SHARED


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
@pytest.mark.parametrize("split,count", [("train", 60000), ("test", 10000)])
def test_real_datasets(name, split, count):
    root = real_root()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # canonical files: no ChecksumWarning
        ds = load_dataset(name, split, data_dir=root)
    assert ds.images.shape == (count, 1, 28, 28) and ds.images.dtype == np.uint8
    assert ds.labels.shape == (count,) and set(np.unique(ds.labels)) == set(range(10))
    assert ds.files[f"{'train' if split == 'train' else 't10k'}-images-idx3-ubyte.gz"] == \
        dl.canonical_sha256(name, f"{'train' if split == 'train' else 't10k'}-images-idx3-ubyte.gz")


def test_real_via_env_and_repacked_copy_warns(tmp_path, monkeypatch):
    root = real_root()
    monkeypatch.setenv("CONVNET_DATA", str(root))
    assert load_dataset("mnist", "test", download=False).labels[:3].tolist() == [7, 2, 1]
    copy = tmp_path / "mine" / "mnist"
    copy.mkdir(parents=True)
    shutil.copy(root / "mnist" / "t10k-images-idx3-ubyte.gz", copy)
    raw = gzip.decompress((root / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes())
    (copy / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(raw, 9, mtime=0))  # re-packed
    with pytest.warns(ChecksumWarning, match="t10k-labels-idx1-ubyte.gz: checksum differs") as rec:
        ds = load_dataset("mnist", "test", data_dir=tmp_path / "mine")
    assert len(rec) == 1 and ds.labels[:3].tolist() == [7, 2, 1]


# --- CIFAR-10 -------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["py2", "py3"])
def test_cifar_round_trip_layout(tmp_path, fmt):
    write_cifar(tmp_path / "cifar10" / "cifar-10-batches-py", n=4, fmt=fmt)
    train = load_dataset("cifar10", data_dir=tmp_path)
    test = load_dataset("cifar10", "test", data_dir=tmp_path)
    assert train.images.shape == (20, 3, 32, 32) and len(test) == 4 and train.classes == CIFAR_NAMES
    first = cifar_batch(4, 1)
    assert np.array_equal(train.images[0, 1].ravel(), first["data"][0, 1024:2048])  # green plane
    assert train.labels[:4].tolist() == first["labels"]
    assert set(train.files) == {"batches.meta"} | {f"data_batch_{i}" for i in range(1, 6)}


def test_cifar_str_keys_and_subset_relabel(tmp_path):
    write_cifar(tmp_path, n=30, fmt="py3-str")  # the folder itself, re-pickled with str keys
    full = load_dataset("cifar10", data_dir=tmp_path)
    ds = load_dataset("cifar10", data_dir=tmp_path, classes=["dog", "cat", "ship", "bird"])
    assert ds.classes == ["dog", "cat", "ship", "bird"]
    for new, old in enumerate([5, 3, 8, 2]):
        assert np.array_equal(ds.images[ds.labels == new], full.images[full.labels == old])
    with pytest.raises(DataError, match="unknown class 'dgo' for cifar10: valid names are "
                                        "airplane, automobile, bird"):
        load_dataset("cifar10", data_dir=tmp_path, classes=["dgo", "cat"])


def test_restricted_unpickler_refuses_code(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"echo pwned > {marker}",))

    evil = pickle.dumps(Evil(), protocol=2)
    folder = write_cifar(tmp_path / "c", overrides={"data_batch_3": evil})
    with pytest.raises(DataError,
                       match=r"data_batch_3: refusing to unpickle: global (posix|os)\.system"):
        load_dataset("cifar10", data_dir=folder)
    assert not marker.exists()
    for payload in (pickle.dumps(eval), pickle.dumps(io.BytesIO), pickle.dumps(Path("/"))):
        with pytest.raises(DataError, match="refusing to unpickle"):
            restricted_loads(payload)


CIFAR_CORRUPTIONS = [
    ({"data_batch_2": {b"data": np.zeros((2, 3072), np.uint8)}},
     "data_batch_2: the dict has no 'labels' key"),
    ({"test_batch": {b"data": np.zeros((2, 3000), np.uint8), b"labels": [0, 1]}},
     "'data' must be a uint8 array of shape N x 3072 (3 x 32 x 32), "
     "got a uint8 array of shape (2, 3000)"),
    ({"test_batch": {b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}},
     "got a float32 array"),
    ({"test_batch": {b"data": np.zeros((3, 3072), np.uint8), b"labels": [0, 1]}},
     "3 images but 2 labels"),
    ({"test_batch": {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}},
     "label values must be in 0..9, found 10 at index 1"),
    ({"test_batch": [1, 2]}, "expected a pickled dict, got list"),
    ({"test_batch": pickle.dumps({b"a": 1}, protocol=2)[:-5]}, "test_batch: not a valid pickle"),
    ({"test_batch": b""}, "the file is empty"),
    ({"batches.meta": {b"num_vis": 3072}}, "batches.meta: the dict has no 'label_names' key"),
]


@pytest.mark.parametrize("override,expected", CIFAR_CORRUPTIONS)
def test_cifar_corruption(tmp_path, override, expected):
    folder = write_cifar(tmp_path, n=2, overrides=override)
    split = "test" if "test_batch" in override else "train"
    with pytest.raises(DataError) as info:
        load_dataset("cifar10", split, data_dir=folder)
    assert expected in str(info.value) and "\n" not in str(info.value)


# --- image folders --------------------------------------------------------------------------
def test_folder_mixed_sizes_modes_and_holdout(tmp_path):
    for i in range(7):
        save_image(tmp_path / "cat" / f"{i:02d}.png", "RGB", (10 + i, 8), value=10 * i)
    save_image(tmp_path / "dog" / "a.jpg", "L", (40, 30))
    save_image(tmp_path / "dog" / "b.bmp", "L", (5, 5))
    (tmp_path / "dog" / "notes.txt").write_text("ignored")
    train = load_dataset(str(tmp_path), image_size=16)
    assert train.images.shape == (8, 3, 16, 16) and train.classes == ["cat", "dog"]
    assert train.labels.tolist() == [0] * 6 + [1, 1] and train.name == f"folder:{tmp_path}"
    test = load_dataset(f"folder:{tmp_path}", "test", image_size=16)
    assert list(test.files) == ["cat/05.png"] and test.images[0, 0, 0, 0] == 50  # every 6th
    gray = load_dataset(str(tmp_path), channels=1)
    assert gray.images.shape == (8, 1, 32, 32)


def test_folder_16bit_gray_is_scaled_not_clipped(tmp_path):
    for cls in ("a", "b"):  # a dataset needs two classes
        (tmp_path / cls).mkdir()
        Image.fromarray(np.full((4, 4), 32896, np.uint16)).save(tmp_path / cls / "x.png")
    ds = load_dataset(str(tmp_path), image_size=4)  # 32896 = 128 * 257
    assert ds.images.shape == (2, 1, 4, 4) and (ds.images == 128).all()


def test_folder_all_gray_and_explicit_splits(tmp_path):
    for split, n in (("train", 3), ("test", 1)):
        for cls in ("b", "a"):
            for i in range(n):
                save_image(tmp_path / split / cls / f"{i}.png", "L", (9, 9), value=200)
    train = load_dataset(str(tmp_path), image_size=9)
    assert train.images.shape == (6, 1, 9, 9) and (train.images == 200).all()
    assert train.classes == ["a", "b"] and len(load_dataset(str(tmp_path), "test")) == 2


def test_folder_errors(tmp_path):
    save_image(tmp_path / "cat" / "ok.png", "RGB", (4, 4))
    (tmp_path / "cat" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(DataError, match=r"cat/broken\.png' is not a readable image"):
        load_dataset(str(tmp_path))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images found in .*empty"):
        load_dataset(f"folder:{tmp_path / 'empty'}")
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(f"folder:{tmp_path / 'nope'}")
    (tmp_path / "cat" / "broken.png").unlink()
    with pytest.raises(DataError, match="has no test images"):
        load_dataset(str(tmp_path), "test")


# --- names, roots, downloads ----------------------------------------------------------------
def test_bad_names_and_missing_files(tmp_path):
    assert DATASETS == ("mnist", "fashion-mnist", "cifar10", "semeion")
    with pytest.raises(DataError,
                       match="unknown dataset 'mnits': expected one of mnist, fashion-mnist"):
        load_dataset("mnits")
    with pytest.raises(DataError, match="split must be 'train' or 'test', got 'val'"):
        load_dataset("mnist", "val")
    with pytest.raises(DataError, match=r"mnist test split: missing t10k-images-idx3-ubyte.gz, "
                                        r"t10k-labels-idx1-ubyte.gz in .*mnist"):
        load_dataset("mnist", "test", data_dir=tmp_path)  # a given data_dir never downloads
    with pytest.raises(DataError, match="download is off"):
        load_dataset("mnist", download=False)
    with pytest.raises(DataError, match="images must be uint8"):
        Dataset("x", "train", np.zeros((1, 2, 3, 3), np.uint8), np.zeros(1, np.int64), [], {})


@pytest.mark.parametrize("where", ["extra/semeion", "semeion", ""])
def test_semeion_is_found_and_read(tmp_path, where):
    """The search paths reach semeion.data; the reader returns a Dataset of the asked split."""
    one = " ".join(["1.0000"] * 256)  # an all-ink 16x16 digit, labelled 3 then 7
    text = "".join(f"{one} {' '.join(str(int(k == d)) for k in range(10))} \r\n" for d in (3, 7))
    (tmp_path / where).mkdir(parents=True, exist_ok=True)
    (tmp_path / where / "semeion.data").write_bytes(text.encode())
    with pytest.warns(ChecksumWarning, match="semeion/semeion.data: checksum differs"):
        ds = load_dataset("semeion", "test", data_dir=tmp_path)
    assert (ds.name, ds.split, ds.framing) == ("semeion", "test", "mnist")
    assert ds.labels.tolist() == [3, 7] and ds.images.shape == (2, 1, 28, 28)
    assert ds.files == {"semeion.data": hashlib.sha256(text.encode()).hexdigest()}


def test_cache_dir(monkeypatch, tmp_path):
    assert dl.cache_dir() == tmp_path / "xdg-cache" / "convnet"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert dl.cache_dir() == tmp_path / ".cache" / "convnet"




def test_download_file_http(www, tmp_path):
    base, www = www
    (www / "blob.bin").write_bytes(b"x" * 5000)
    good = hashlib.sha256(b"x" * 5000).hexdigest()
    out = tmp_path / "cache" / "blob.bin"
    # the first mirror 404s, the second serves it
    assert dl.download_file([base + "missing/", base + "blob.bin"], out, sha256=good) == out
    assert out.read_bytes() == b"x" * 5000 and os.listdir(out.parent) == ["blob.bin"]
    bad = tmp_path / "bad" / "blob.bin"
    with pytest.raises(DownloadError, match="checksum mismatch: expected sha256 0000"):
        dl.download_file([base + "blob.bin"], bad, sha256="0" * 64)
    assert os.listdir(bad.parent) == []  # neither the file nor a temp file is left
    with pytest.raises(DownloadError, match="checksum mismatch: expected md5"):
        dl.download_file([(www / "blob.bin").as_uri()], bad, md5="0" * 32)


def test_download_unreachable_is_one_line(tmp_path):
    with pytest.raises(DownloadError) as info:
        dl.download_file([CLOSED + "x.gz"], tmp_path / "x.gz", timeout=5)
    assert "\n" not in str(info.value) and "could not download x.gz" in str(info.value)
    with pytest.raises(DownloadError) as info:
        load_dataset("mnist")  # nothing anywhere -> download -> every (patched) mirror refuses
    message = str(info.value)
    assert "\n" not in message and message.startswith("could not download mnist (no network?)")
    assert "put the 4 files from http://yann.lecun.com/exdb/mnist/ in" in message
    assert "pass --data DIR or set CONVNET_DATA=DIR" in message


def test_download_dataset_mnist_end_to_end(www, monkeypatch):
    base, www = www
    root = real_root()
    shutil.copy(root / "mnist" / "t10k-labels-idx1-ubyte.gz", www)
    shutil.copy(root / "mnist" / "t10k-images-idx3-ubyte.gz", www)
    files = tuple(f for f in dl.MNIST_FILES if f.name.startswith("t10k"))
    monkeypatch.setitem(dl.SOURCES, "mnist", replace(dl.SOURCES["mnist"], mirrors=(CLOSED, base),
                                                     files=files))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = load_dataset("mnist", "test")  # not found -> downloaded into the (tmp) cache
    assert len(ds) == 10000 and (dl.cache_dir() / "mnist" / "t10k-images-idx3-ubyte.gz").is_file()


def _tar(path: Path, members: dict[str, bytes], link: str | None = None) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if link:
            info = tarfile.TarInfo(link)
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(info)


def test_cifar_download_extracts_safely(tmp_path, monkeypatch):
    src = write_cifar(tmp_path / "src" / "cifar-10-batches-py", n=2)
    members = {f"cifar-10-batches-py/{p.name}": p.read_bytes() for p in src.iterdir()}
    archive = tmp_path / "www" / "cifar-10-python.tar.gz"
    archive.parent.mkdir()
    _tar(archive, members)
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    python = replace(dl.CIFAR10_PYTHON, file=RemoteFile("cifar-10-python.tar.gz", md5),
                     members=())  # these small batches are not the canonical files
    monkeypatch.setitem(dl.SOURCES, "cifar10", replace(
        dl.SOURCES["cifar10"], mirrors=(archive.parent.as_uri() + "/",), archives=(python,)))
    assert len(load_dataset("cifar10", "test")) == 2  # file:// download, extracted, tarball removed
    assert sorted(os.listdir(dl.cache_dir() / "cifar10")) == ["cifar-10-batches-py"]
    for bad, link in (({"../evil": b"x"}, None), ({"/abs/evil": b"x"}, None), ({}, "c/link")):
        _tar(tmp_path / "bad.tar.gz", bad, link)
        with pytest.raises(DownloadError, match="refusing to extract"):
            dl.safe_extract_tar(tmp_path / "bad.tar.gz", tmp_path / "out")
    assert not (tmp_path / "evil").exists() and not (tmp_path / "out" / "c").exists()
