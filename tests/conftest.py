"""Shared fixtures: small datasets written in the real formats, and the real data when present.

CI and developers point at ``../shared/datasets`` (beside the repository); tests that need real
data skip cleanly without it. Nothing here touches the network or the user's ~/.cache.
"""

import gzip
import http.server
import struct
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image
import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def write_idx_split(folder: Path, prefix: str, images: np.ndarray, labels: np.ndarray) -> None:
    """Write images (N, 28, 28) uint8 and labels (N,) as gzipped IDX files, as MNIST ships them."""
    folder.mkdir(parents=True, exist_ok=True)
    n = len(images)
    head = struct.pack(">IIII", 2051, n, 28, 28)
    (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(
        gzip.compress(head + images.astype(np.uint8).tobytes()))
    (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(struct.pack(">II", 2049, n) + labels.astype(np.uint8).tobytes()))


def synthetic_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Learnable fake digits: class k is a bright bar at row 2 + 2k, with noise and jitter."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    images = rng.integers(0, 40, (n, 28, 28)).astype(np.uint8)
    for i, k in enumerate(labels):
        row = 3 + 2 * k + rng.integers(-1, 2)
        images[i, row:row + 2, 6:22] = 255
    return images, labels


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Downloads and caches go to a temporary folder, never ~/.cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """A data root holding a small MNIST-format dataset: DIR/mnist/*.gz (600 train, 200 test)."""
    root = tmp_path_factory.mktemp("tiny-data")
    for prefix, n, seed in (("train", 600, 1), ("t10k", 200, 2)):
        write_idx_split(root / "mnist", prefix, *synthetic_digits(n, seed))
    return root


@pytest.fixture(scope="session")
def real_data() -> Path:
    """../shared/datasets, or skip."""
    if not (SHARED / "mnist" / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("real MNIST not found in ../shared/datasets")
    return SHARED


@pytest.fixture(scope="session")
def tiny_run(tiny_data, tmp_path_factory) -> Path:
    """A finished 2-epoch lenet5 run on the tiny dataset (seconds to make)."""
    from convnet.train import TrainConfig, fit, start

    out = tmp_path_factory.mktemp("runs") / "tiny"
    fit(start(TrainConfig(data_dir=str(tiny_data), epochs=2, batch_size=64, out=str(out),
                          progress=False)))
    return out


@pytest.fixture(scope="session")
def mnist_run(real_data, tmp_path_factory) -> Path:
    """lenet5 trained for 1 epoch on the real MNIST (about 98.5 %); skipped without the data."""
    from convnet.train import TrainConfig, fit, start

    out = tmp_path_factory.mktemp("runs") / "mnist"
    fit(start(TrainConfig(data_dir=str(real_data), epochs=1, out=str(out), progress=False)))
    return out


def cli(capsys, *argv) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``convnet ARGV``; argparse errors exit via SystemExit."""
    from convnet.cli import main

    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def one_line(capsys) -> str:
    """The one line a command wrote to stderr (and no traceback)."""
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


@pytest.fixture(scope="module")
def one_thread():
    """Torch on one thread for a module (``pytestmark = pytest.mark.usefixtures("one_thread")``):
    on a busy 2-core machine a spinning pool costs 5x the CPU."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def fit_until_first_epoch(run, monkeypatch) -> None:
    """``train.fit(run)`` that dies (KeyboardInterrupt) right after epoch 1 is fully written."""
    from convnet import runs, train

    real_append = runs.append_metrics

    def append_then_crash(rundir, row):
        real_append(rundir, row)
        raise KeyboardInterrupt

    monkeypatch.setattr(runs, "append_metrics", append_then_crash)
    with pytest.raises(KeyboardInterrupt):
        train.fit(run)
    monkeypatch.setattr(runs, "append_metrics", real_append)


def wait_for_file(marker: Path, proc, what: str, timeout: float = 120) -> None:
    """Wait until a child process has written ``marker``; fail if it ends or ``what`` times out."""
    deadline = time.monotonic() + timeout
    while not marker.exists():
        assert proc.poll() is None, proc.communicate() if proc.stderr else "it ended early"
        assert time.monotonic() < deadline, f"{what} never happened"
        time.sleep(0.05)


@pytest.fixture
def digit(tmp_path) -> Path:
    """A 28x28 PNG of a horizontal bar (test files with their own digit override it)."""
    a = np.zeros((28, 28), np.uint8)
    a[9:11, 6:22] = 255
    Image.fromarray(a).save(tmp_path / "digit.png")
    return tmp_path / "digit.png"


@pytest.fixture
def www(tmp_path):
    """An http.server on 127.0.0.1 serving tmp_path/www (downloads over loopback); yields
    (base URL, folder)."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", root
    httpd.shutdown()
    httpd.server_close()
