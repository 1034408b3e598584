"""docs/errors.md, generated from these tests: every bad input gives one stderr line and the
exit code of its kind (convnet/errors.py).

Each case runs through ``convnet.cli.main`` in a fresh folder; paths under that folder are written
as ``DIR`` so the messages are comparable from one run to the next. Without
``CONVNET_WRITE_ERRORS_DOC=1`` the tests check that docs/errors.md holds every message (the doc
cannot go stale); with it, the last test rewrites the doc:

    CONVNET_WRITE_ERRORS_DOC=1 .venv/bin/python -m pytest tests/test_errors_doc.py
"""

import gzip
import json
import os
import pickle
import shutil
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from convnet import runs
from convnet.cli import main
from convnet.registry import create_model

from conftest import synthetic_digits, write_idx_split

DOC = Path(__file__).resolve().parents[1] / "docs" / "errors.md"
WRITE = os.environ.get("CONVNET_WRITE_ERRORS_DOC") == "1"


@dataclass
class Case:
    command: str               # the subcommand, for the table
    input: str                 # what is wrong, in words
    argv: Callable             # (Workdir) -> argv list
    code: int                  # expected exit code


class Work:
    """A fresh folder (shown as DIR) with a copy of the tiny data and run made on demand."""

    def __init__(self, root: Path, tiny_data: Path, tiny_run: Path):
        self.root, self._data, self._run = root, tiny_data, tiny_run
        self.held = None  # a run lock this case holds while the command runs

    def locked_run(self) -> Path:
        """The run, locked as a live training process would hold it."""
        self.held = runs.RunLock(self.run())
        return self.run()

    def other_data(self) -> Path:
        """Another dataset under the run's file names (train images of another seed)."""
        path = self.root / "other-data"
        shutil.copytree(self._data, path)
        write_idx_split(path / "mnist", "train", *synthetic_digits(600, seed=99))
        return path

    def symlink(self) -> Path:
        (self.root / "precious.txt").write_text("keep me")
        (self.root / "model.onnx").symlink_to(self.root / "precious.txt")
        return self.root / "model.onnx"

    def data(self) -> Path:
        path = self.root / "data"
        if not path.exists():
            shutil.copytree(self._data, path)
        return path

    def run(self) -> Path:
        path = self.root / "run"
        if not path.exists():
            shutil.copytree(self._run, path)
        return path

    def image(self) -> Path:
        a = np.zeros((28, 28), np.uint8)
        a[9:11, 6:22] = 255
        path = self.root / "digit.png"
        Image.fromarray(a).save(path)
        return path

    def damaged_idx(self, damage) -> Path:
        data = self.data()
        path = data / "mnist" / "train-images-idx3-ubyte.gz"
        path.write_bytes(damage(path.read_bytes()))
        return data

    def file(self, name: str, content: bytes) -> Path:
        path = self.root / name
        path.write_bytes(content)
        return path


def train(w: Work, *extra, data: Path | None = None) -> list:
    return ["train", "lenet5", "--data", data or w.data(), "--out", w.root / "r", "--quiet",
            *extra]


def fewer_labels(raw: bytes) -> bytes:  # a labels file declaring and holding 10 fewer labels
    body = gzip.decompress(raw)
    n = struct.unpack(">I", body[4:8])[0] - 10
    return gzip.compress(body[:4] + struct.pack(">I", n) + body[8:8 + n])


def label_mismatch(w: Work) -> list:
    path = w.data() / "mnist" / "train-labels-idx1-ubyte.gz"
    path.write_bytes(fewer_labels(path.read_bytes()))
    return train(w)


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares width x height pixels and holds none of them."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def other_model_checkpoint(w: Work) -> Path:
    run = w.run()
    runs.save_checkpoint(run, create_model("seed4"), None, {"epoch": 1})
    return run


def weights_file(w: Work, content: bytes) -> Path:
    run = w.run()
    (run / runs.WEIGHTS).write_bytes(content)
    return run


CASES = [
    Case("summary", "unknown model name", lambda w: ["summary", "nosuchnet"], 9),
    Case("summary", "kernel larger than its input",
         lambda w: ["summary", "conv6@7x7 fc10", "--input-shape", "1x5x5"], 3),
    Case("summary", "pooling window larger than its input",
         lambda w: ["summary", "conv6@5x5 maxpool9 fc10", "--input-shape", "1x12x12"], 3),
    Case("summary", "stride that does not tile the input",
         lambda w: ["summary", "conv6@5x5 maxpool2 fc10", "--input-shape", "1x33x33"], 3),
    Case("summary", "unknown token in a spec", lambda w: ["summary", "conv6@5x5 foo"], 3),
    Case("summary", "zero feature maps", lambda w: ["summary", "conv0@5x5 fc10"], 3),
    Case("summary", "malformed --input-shape",
         lambda w: ["summary", "lenet5", "--input-shape", "1x32"], 3),
    Case("summary", "unknown flag", lambda w: ["summary", "lenet5", "--bogus"], 2),
    Case("(none)", "unknown command", lambda w: ["nosuchcommand"], 2),
    Case("train", "no model, --resume or --from-manifest",
         lambda w: ["train", "--data", w.data(), "--quiet"], 1),
    Case("train", "unknown model name",
         lambda w: ["train", "nosuchnet", "--data", w.data(), "--out", w.root / "r", "--quiet"], 9),
    Case("train", "dataset folder without the MNIST files",
         lambda w: ["train", "lenet5", "--data", w.root, "--out", w.root / "r", "--quiet"], 4),
    Case("train", "truncated IDX file",
         lambda w: train(w, data=w.damaged_idx(lambda raw: raw[:len(raw) // 2])), 4),
    Case("train", "IDX file with the wrong magic number",
         lambda w: train(w, data=w.damaged_idx(
             lambda raw: gzip.compress(b"\x00\x00\x08\x01" + gzip.decompress(raw)[4:]))), 4),
    Case("train", "image and label counts differ", label_mismatch, 4),
    Case("train", "loss becomes NaN (learning rate far too high)",
         lambda w: train(w, "--limit", "256", "--batch-size", "16", "--epochs", "1",
                         "--lr", "1e10"), 8),
    Case("train", "zero epochs", lambda w: train(w, "--epochs", "0"), 1),
    Case("train", "a negative learning rate", lambda w: train(w, "--lr", "-0.1"), 1),
    Case("train", "--out already holds a run",
         lambda w: ["train", "lenet5", "--data", w.data(), "--out", w.run(), "--quiet"], 7),
    Case("train", "--resume of a folder that is not a run",
         lambda w: ["train", "--resume", w.root, "--quiet"], 7),
    Case("train", "--resume with fewer --epochs than done",
         lambda w: ["train", "--resume", w.run(), "--epochs", "1", "--quiet"], 7),
    Case("train", "--resume with a changed flag (only --epochs, --data, --device, "
         "--tensorboard may change)",
         lambda w: ["train", "--resume", w.run(), "--lr", "0.1", "--quiet"], 7),
    Case("train", "--resume on other data under the same file names",
         lambda w: ["train", "--resume", w.run(), "--epochs", "3", "--data", w.other_data(),
                    "--quiet"], 7),
    Case("train", "--init from a run of another architecture",
         lambda w: ["train", "resnet20", "--data", w.data(), "--out", w.root / "r", "--init",
                    w.run(), "--quiet"], 7),
    Case("train", "--init of a folder that is not a run",
         lambda w: train(w, "--init", w.root), 7),
    Case("train", "--freeze without --init", lambda w: train(w, "--freeze", "features"), 1),
    Case("train", "--resume and --from-manifest together",
         lambda w: ["train", "--resume", w.run(), "--from-manifest", w.run() / "run.json",
                    "--quiet"], 1),
    Case("train", "--out of a run another process is writing",
         lambda w: ["train", "lenet5", "--data", w.data(), "--out", w.locked_run(), "--quiet"], 7),
    Case("train", "--resume of a run another process is writing",
         lambda w: ["train", "--resume", w.locked_run(), "--epochs", "3", "--quiet"], 7),
    Case("export", "--out is one of the run's own files",
         lambda w: ["export", w.run(), "--out", w.run() / "model.safetensors"], 11),
    Case("export", "--out is a symlink",
         lambda w: ["export", w.run(), "--out", w.symlink()], 11),
    Case("report", "--out is the run's manifest",
         lambda w: ["report", w.run(), "--out", w.run() / "run.json"], 11),
    Case("show", "--out is a file, not a folder",
         lambda w: ["show", w.run(), w.image(), "--out", w.file("taken", b"a file")], 11),
    Case("evaluate", "not a run directory", lambda w: ["evaluate", w.root], 7),
    Case("evaluate", "torch pickle instead of safetensors weights",
         lambda w: ["evaluate", weights_file(w, pickle.dumps({"conv1.weight": [0.0]}))], 7),
    Case("predict", "checkpoint of another model",
         lambda w: ["predict", other_model_checkpoint(w), w.image()], 7),
    Case("predict", "empty weights file",
         lambda w: ["predict", weights_file(w, b""), w.image()], 7),
    Case("predict", "not an image",
         lambda w: ["predict", w.run(), w.file("notes.png", b"just some text\n")], 6),
    Case("predict", "--top 0", lambda w: ["predict", w.run(), w.image(), "--top", "0"], 1),
    Case("predict", "empty image file", lambda w: ["predict", w.run(), w.file("empty.png", b"")],
         6),
    Case("predict", "image file not found", lambda w: ["predict", w.run(), w.root / "gone.png"],
         6),
    Case("predict", "image declaring 100000x100000 pixels",
         lambda w: ["predict", w.run(), w.file("huge.png", png_header(100_000, 100_000))], 6),
    Case("report", "--indices that are not indices",
         lambda w: ["report", w.run(), "--out", w.root / "r.html", "--indices", "a,b"], 1),
    Case("report", "--indices index outside the test split",
         lambda w: ["report", w.run(), "--out", w.root / "r.html", "--data", w.data(),
                    "--indices", "0,99999"], 1),
    Case("features", "--layer that the model does not have",
         lambda w: ["features", w.run(), "--out", w.root / "f.png", "--layer", "conv9"], 1),
    Case("features", "--layer that is not a convolution",
         lambda w: ["features", w.run(), "--out", w.root / "f.png", "--layer", "relu1"], 1),
    Case("features", "run directory not found",
         lambda w: ["features", w.root / "nothing", "--out", w.root / "f.png"], 7),
    Case("models", "a pattern that matches no model", lambda w: ["models", "xyz*"], 9),
    Case("summary", "a block-built model at an input size it cannot take",
         lambda w: ["summary", "densenet121", "--input-shape", "3x16x16"], 9),
    Case("predict", "a glob that matches no file",
         lambda w: ["predict", w.run(), w.root / "*.jpg"], 6),
]


# --- issue 12: readers and run files (kept apart from the rows above) ------------------------
def idx_header(w: Work, dims: tuple, name: str = "train-images-idx3-ubyte.gz") -> Path:
    """The tiny data with an IDX file whose header declares ``dims`` (and its old payload)."""
    path = w.data() / "mnist" / name
    body = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(body[:4] + struct.pack(f">{len(dims)}I", *dims)
                                   + body[4 + 4 * len(dims):]))
    return w.data()


def photos_of_one_class(w: Work) -> Path:
    folder = w.root / "photos" / "cat"
    folder.mkdir(parents=True)
    for i in range(6):
        Image.new("L", (8, 8), 10 * i).save(folder / f"{i}.png")
    return folder.parent


def edited_manifest(w: Work, change) -> Path:
    run = w.run()
    path = run / runs.MANIFEST
    path.write_text(json.dumps(change(json.loads(path.read_text()))))
    return run


def field(section: str, key: str, value):
    return lambda m: {**m, section: {**m[section], key: value}}


def edited_checkpoint(w: Work, meta: dict | None = None, tensor: str | None = None,
                      name: str = runs.WEIGHTS) -> Path:
    """The run with its weights (or optimizer) file's metadata changed, or one tensor more."""
    run = w.run()
    path = run / name
    tensors = load_file(path)
    with safe_open(path, "pt") as f:
        header = f.metadata()
    if tensor:
        tensors[tensor] = next(iter(tensors.values())).clone()
    save_file(tensors, path, metadata={**header, **(meta or {})})
    return run


def edited_onnx(w: Work, key: str, value: str) -> Path:
    import onnx

    path = w.root / "model.onnx"
    assert main(["export", str(w.run()), "--out", str(path)]) == 0
    model = onnx.load(path)
    props = {p.key: p.value for p in model.metadata_props}
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, {**props, f"convnet.{key}": value})
    onnx.save(model, path)
    return path


TRUST_CASES = [
    Case("train", "IDX header whose sizes overflow (2^31 x 2^31 x 4 = 2^64 bytes)",
         lambda w: train(w, data=idx_header(w, (2 ** 31, 2 ** 31, 4))), 4),
    Case("train", "empty test split (IDX files of 0 images)",
         lambda w: train(w, data=empty_test_split(w)), 4),
    Case("train", "an image folder of one class",
         lambda w: ["train", "lenet5", "--dataset", photos_of_one_class(w), "--out",
                    w.root / "r", "--quiet"], 4),
    Case("evaluate", "test images of another size than the training images",
         lambda w: ["evaluate", w.run(), "--data", idx_header(w, (200, 14, 56),
                                                              "t10k-images-idx3-ubyte.gz")], 4),
    Case("predict", "run.json that is a list",
         lambda w: ["predict", edited_manifest(w, lambda m: [m]), w.image()], 7),
    Case("predict", "run.json without \"model\"",
         lambda w: ["predict", edited_manifest(w, lambda m: {k: v for k, v in m.items()
                                                            if k != "model"}), w.image()], 7),
    Case("predict", "run.json with a text mean",
         lambda w: ["predict", edited_manifest(w, field("dataset", "mean", "0.13")),
                    w.image()], 7),
    Case("predict", "run.json with std 0 (was exit 6)",
         lambda w: ["predict", edited_manifest(w, field("dataset", "std", [0])), w.image()], 7),
    Case("predict", "run.json with an unknown framing (was exit 6)",
         lambda w: ["predict", edited_manifest(w, field("dataset", "framing", "cifar")),
                    w.image()], 7),
    Case("predict", "run.json with 3 class names for 10 outputs",
         lambda w: ["predict", edited_manifest(w, field("dataset", "classes", ["a", "b", "c"])),
                    w.image()], 7),
    Case("predict", "run.json declaring 10^9 classes",
         lambda w: ["predict", edited_manifest(w, field("model", "num_classes", 10 ** 9)),
                    w.image()], 7),
    Case("predict", "run.json with \"invert\": \"yes\" (was taken as true)",
         lambda w: ["predict", edited_manifest(w, field("dataset", "invert", "yes")),
                    w.image()], 7),
    Case("predict", "checkpoint metadata that is not JSON",
         lambda w: ["predict", edited_checkpoint(w, {"meta": "{epoch: 2"}), w.image()], 7),
    Case("train", "--resume with an unknown tensor in optimizer.safetensors",
         lambda w: ["train", "--resume", edited_checkpoint(w, tensor="junk",
                                                           name=runs.OPTIMIZER), "--quiet"], 7),
    Case("train", "--resume of weights whose optimizer state is another checkpoint's",
         lambda w: ["train", "--resume", edited_checkpoint(w, {"optimizer_id": "0" * 16}),
                    "--quiet"], 7),
    Case("train", "--resume with a garbage line in metrics.jsonl",
         lambda w: ["train", "--resume", garbage_metrics(w), "--quiet"], 7),
    Case("predict", ".onnx metadata that is not JSON",
         lambda w: ["predict", edited_onnx(w, "mean", "[0.13"), w.image()], 7),
    Case("predict", ".onnx metadata with 2 class names for 10 outputs",
         lambda w: ["predict", edited_onnx(w, "classes", '["0", "1"]'), w.image()], 7),
    Case("predict", ".onnx metadata with a text mean",
         lambda w: ["predict", edited_onnx(w, "mean", '"0.13"'), w.image()], 7),
    Case("summary", "a layer too large to allocate (784 M values per image)",
         lambda w: ["summary", "conv999999@5x5 fc10"], 3),
    Case("summary", "a network too large to allocate (10^10 weights)",
         lambda w: ["summary", "fc100000 fc100000 fc10"], 3),
    Case("summary", "padding that makes a layer too large",
         lambda w: ["summary", "conv6@5x5/p99999 fc10"], 3),
    Case("explain", "a matrix holding nan",
         lambda w: ["explain", "conv", "--image", "nan,1;1,1"], 3),
    Case("explain", "a kernel of 2 channels on an image of 1",
         lambda w: ["explain", "conv", "--kernel", "1,0;0,1|1,1;1,1"], 3),
    Case("explain", "output and target of different lengths",
         lambda w: ["explain", "error", "--output", "0.2,0.8", "--target", "0,0,1"], 3),
    Case("explain", "train-step --target that is not a class of the run",
         lambda w: ["explain", "train-step", w.run(), w.image(), "--target", "giraffe"], 1),
    Case("evaluate", "--plot in a format matplotlib does not write",
         lambda w: ["evaluate", w.run(), "--plot", w.root / "cm.xyz"], 1),
    Case("evaluate", "--plot into a folder that does not exist",
         lambda w: ["evaluate", w.run(), "--plot", w.root / "nope" / "cm.png"], 1),
]


def empty_test_split(w: Work) -> Path:
    folder = w.data() / "mnist"
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(
        gzip.compress(struct.pack(">IIII", 2051, 0, 28, 28)))
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(struct.pack(">II", 2049, 0)))
    return folder.parent


def garbage_metrics(w: Work) -> Path:
    run = w.run()
    path = run / runs.METRICS
    path.write_bytes(path.read_bytes() + b"\x00garbage\n")
    return run


CASES += TRUST_CASES

ROWS: dict[int, tuple] = {}


def cell(text: str) -> str:
    return "`" + text.replace("|", "\\|").replace("`", "'") + "`"


def row(case: Case, argv: list[str], line: str, root: Path) -> str:
    shown = " ".join(a if " " not in a else f"'{a}'" for a in argv).replace(str(root), "DIR")
    return (f"| {case.command} | {case.input} | {cell('convnet ' + shown)} | {case.code} | "
            f"{cell(line)} |")


@pytest.mark.parametrize("i", range(len(CASES)),
                         ids=[f"{c.command}-{c.input}".replace(" ", "-") for c in CASES])
def test_bad_input_is_one_line_and_its_exit_code(i, tiny_data, tiny_run, tmp_path, capsys):
    case, root = CASES[i], tmp_path / "w"
    root.mkdir()
    work = Work(root, tiny_data, tiny_run)  # kept to the end: it may hold a run's lock
    argv = [str(a) for a in case.argv(work)]
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's usage errors
        code = e.code
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert code == case.code, err
    assert out == "" and len(lines) == 1 and "Traceback" not in err, err
    assert "error: " in lines[0]
    line = lines[0].replace(str(root), "DIR")
    ROWS[i] = row(case, argv, line, root)
    if not WRITE:
        assert DOC.is_file(), f"{DOC} is missing: run with CONVNET_WRITE_ERRORS_DOC=1"
        assert cell(line) in DOC.read_text(encoding="utf-8"), (
            f"docs/errors.md does not have this message (regenerate it with "
            f"CONVNET_WRITE_ERRORS_DOC=1): {line}")


HEADER = """# Errors

Every input the user can get wrong stops `convnet` with **one line on stderr** and an exit code
that says what kind of thing was wrong (no traceback unless `--debug`). `convnet predict` over
many files gives such a line for each file that fails, still predicts the others, and exits with
the first failure's code. The codes:

| code | kind | meaning |
|---|---|---|
| 1 | `ConvnetError` | anything else the user can fix (bad flag value, missing argument) |
| 2 | usage | argparse: unknown flag or command, missing argument |
| 3 | `SpecError` | an impossible or unparseable network definition |
| 4 | `DataError` | a dataset file is missing, corrupt, truncated or inconsistent |
| 5 | `DownloadError` | a dataset could not be fetched, or its checksum did not match |
| 6 | `ImageError` | a user image cannot be read (not an image, empty, absurd size) |
| 7 | `RunError` | a run directory or checkpoint is missing, corrupt, or of another model |
| 8 | `TrainingError` | training cannot go on (the loss became NaN or infinite) |
| 9 | `ModelError` | an unknown model name or impossible model arguments |
| 10 | `ExportError` | a model cannot be exported, or the export disagrees with torch |
| 11 | `WriteError` | a file cannot be written (disk full, read-only file system), or must not be replaced: a run's own file from another command, a symlink, a device, a read-only file |
| 70 | internal | a bug in convnet (the line says to rerun with `--debug`) |
| 130 | interrupted | Ctrl-C |

The cases below are generated by `tests/test_errors_doc.py`, which runs each one and checks its
line and code; `DIR` stands for the folder the case ran in. Regenerate after changing a message:

    CONVNET_WRITE_ERRORS_DOC=1 .venv/bin/python -m pytest tests/test_errors_doc.py

| command | bad input | command line | exit | the line on stderr |
|---|---|---|---|---|
"""


def test_doc_covers_every_case():
    """With CONVNET_WRITE_ERRORS_DOC=1 (and every case run), rewrite docs/errors.md."""
    if not WRITE:
        assert DOC.is_file() and DOC.read_text(encoding="utf-8").startswith("# Errors")
        return
    missing = sorted(set(range(len(CASES))) - ROWS.keys())
    assert not missing, f"cases not run, doc not written: {missing}"
    DOC.write_text(HEADER + "".join(ROWS[i] + "\n" for i in range(len(CASES))), encoding="utf-8")
