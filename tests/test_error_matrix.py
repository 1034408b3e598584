"""Every reader and every run file, damaged every way, through the CLI: a documented exit code
and one line on stderr, never an internal error (70) and never a signal.

The matrix is generated: each TARGET is a file a command reads (an IDX, CIFAR or Semeion file, an
image, an image folder, run.json, the checkpoint's two files and their metadata, metrics.jsonl,
an exported .onnx)
with the commands that read it; each is damaged by the byte MUTATIONS (truncated, empty, garbage
at the start, in the middle, after the end, all random), by its format's own (an IDX header whose
sizes overflow, a CIFAR meta file that is not UTF-8...) and, for JSON, by giving every field
another type or a huge number. A new reader, file or mutation is one more row and is crossed
with the rest.

All cases run in one worker process (one torch import), one after another, each in its own
folder; a case that kills the worker (a crash by signal, or the address-space limit a memory
bomb hits) is recorded, and a new worker goes on with the next case. A case passes with exit 0
(the damage left a usable file) or an exit code of ``convnet/errors.py`` and exactly one line.
"""

from __future__ import annotations

import gzip
import json
import os
import pickle
import shutil
import struct
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from convnet import errors
from convnet.cli import main
from test_cifar import bin_batch, bin_meta, py2_batch, py2_meta

REPO = Path(__file__).resolve().parents[1]
ADDRESS_SPACE = 8 << 30  # a memory bomb dies here (MemoryError: exit 70), not in the machine


def documented_codes() -> set[int]:
    """0, argparse's 2, and the exit code of every ConvnetError subclass (docs/errors.md)."""
    codes, todo = {0, 2}, [errors.ConvnetError]
    while todo:
        cls = todo.pop()
        codes.add(cls.exit_code)
        todo += cls.__subclasses__()
    return codes


# --------------------------------------------------------------------------- mutations

RNG = np.random.default_rng(12)


def _random(n: int) -> bytes:
    return RNG.integers(0, 256, n, dtype=np.uint8).tobytes()


BYTES: dict[str, Callable[[bytes], bytes]] = {
    "empty": lambda raw: b"",
    "truncated-half": lambda raw: raw[:len(raw) // 2],
    "truncated-head": lambda raw: raw[:12],
    "garbage-start": lambda raw: _random(32) + raw[32:],
    "garbage-middle": lambda raw: raw[:len(raw) // 2] + _random(256) + raw[len(raw) // 2 + 256:],
    "trailing-garbage": lambda raw: raw + _random(512),
    "all-random": lambda raw: _random(len(raw)),
}

WRONG_VALUES = ["text", [1, "a"], {"k": 1}, None, 10 ** 12, -1, 1e308, True, 0]


def json_paths(value, prefix=()) -> list[tuple]:
    """Every field of a JSON document, as a key path (containers before their contents)."""
    paths = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            paths += json_paths(item, prefix + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value[:3]):  # the first items stand for the rest
            paths += json_paths(item, prefix + (i,))
    return paths


def replaced(doc, path: tuple, value):
    """A deep copy of ``doc`` with the field at ``path`` set to ``value``."""
    doc = json.loads(json.dumps(doc))
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


def json_mutations(doc, skip: tuple[str, ...] = (), per_field: int = 2) -> dict[str, object]:
    """{name: mutated document}: each field given ``per_field`` wrong values, in turn."""
    out, k = {}, 0
    for path in json_paths(doc):
        if path[0] in skip and len(path) > 1:  # free-form sections: only the container
            continue
        for _ in range(per_field):
            value = WRONG_VALUES[k % len(WRONG_VALUES)]
            k += 1
            out[".".join(map(str, path)) + "=" + json.dumps(value)] = replaced(doc, path, value)
    return out


# --------------------------------------------------------------------------- the world

@dataclass
class Target:
    """A file a command reads: how to lay out a case (``setup`` -> the file to damage), the
    damage to apply, and the commands that read it (each: case folder -> argv)."""

    name: str
    setup: Callable[[Path], Path]
    mutations: dict[str, Callable[[bytes], bytes] | FileEdit]
    commands: dict[str, Callable[[Path], list]]
    spread: bool = False  # True: each mutation through one command in turn, not all of them


class World:
    """The undamaged materials every case starts from (built once per test session)."""

    def __init__(self, root: Path, tiny_data: Path, tiny_run: Path):
        self.root, self.data, self.run = root, tiny_data, tiny_run
        self.image = root / "digit.png"
        digit = np.zeros((28, 28), np.uint8)
        digit[6:22, 12:16] = 255
        Image.fromarray(digit).save(self.image)
        Image.fromarray(np.full((40, 30, 3), 90, np.uint8)).save(root / "photo.jpg", quality=90)
        self.cifar = self._cifar(root / "cifar")
        self.semeion = self._semeion(root / "semeion")
        self.folder = self._folder(root / "folder")
        self.onnx = root / "model.onnx"
        assert main(["export", str(tiny_run), "--out", str(self.onnx)]) == 0

    @staticmethod
    def _cifar(root: Path) -> Path:
        rng = np.random.default_rng(0)
        bn, py = root / "cifar10" / "cifar-10-batches-bin", root / "cifar10" / "cifar-10-batches-py"
        bn.mkdir(parents=True)
        py.mkdir(parents=True)
        (bn / "batches.meta.txt").write_bytes(bin_meta())
        (py / "batches.meta").write_bytes(py2_meta(per_batch=6))
        for name in [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]:
            images = rng.integers(0, 256, (6, 3, 32, 32), dtype=np.uint8)
            labels = np.arange(6) % 3
            (bn / f"{name}.bin").write_bytes(bin_batch(images, labels))
            (py / name).write_bytes(py2_batch(images.reshape(6, -1), labels))
        return root

    @staticmethod
    def _semeion(root: Path) -> Path:
        root.mkdir()
        lines = []
        for k in range(10):
            digit = np.zeros((16, 16))
            digit[2:14, 4 + k // 2:8 + k // 2] = 1
            onehot = " ".join("1" if i == k else "0" for i in range(10))
            lines.append(" ".join(f"{v:.4f}" for v in digit.ravel()) + f" {onehot} \r\n")
        (root / "semeion.data").write_text("".join(lines), newline="")
        return root

    @staticmethod
    def _folder(root: Path) -> Path:
        for k, cls in enumerate(("dark", "light")):
            (root / cls).mkdir(parents=True)
            for i in range(6):
                Image.new("L", (12, 10), 40 + 150 * k + i).save(root / cls / f"{i}.png")
        return root


def copy_run(world: World, case: Path) -> Path:
    """The tiny run in the case's folder (weights hard-linked: only ever replaced, not edited)."""
    run = case / "run"
    run.mkdir()
    for item in world.run.iterdir():
        if item.name in ("model.safetensors", "optimizer.safetensors"):
            os.link(item, run / item.name)
        elif item.is_file():
            shutil.copy(item, run / item.name)
    return run


def copy_tree(source: Path, case: Path, name: str) -> Path:
    shutil.copytree(source, case / name)
    return case / name


def _gz_inner(change: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    """An IDX damage applied inside the gzip stream (so the reader gets past gzip)."""
    return lambda raw: gzip.compress(change(gzip.decompress(raw)), compresslevel=1)


def _idx_dims(*dims: int) -> Callable[[bytes], bytes]:
    return lambda body: body[:4] + struct.pack(f">{len(dims)}I", *dims) + body[4 + 4 * len(dims):]


def _zeros_bomb(raw: bytes) -> bytes:
    """The real header, then 64 MB of zeros: a 64 KB file."""
    body = gzip.decompress(raw)
    return gzip.compress(body[:16] + bytes(64 << 20), compresslevel=1)


IDX_MUTATIONS = {
    **BYTES,
    "dims-overflow": _gz_inner(_idx_dims(2 ** 31, 2 ** 31, 4)),   # 2^64 bytes: 0 in int64
    "dims-max": _gz_inner(_idx_dims(2 ** 32 - 1, 2 ** 32 - 1, 2 ** 32 - 1)),
    "zero-images": _gz_inner(lambda body: body[:4] + struct.pack(">I", 0) + body[8:16]),
    "other-size": _gz_inner(_idx_dims(600 * 28 * 28 // (14 * 56), 14, 56)),
    "bomb": _zeros_bomb,
    "magic-labels": _gz_inner(lambda body: struct.pack(">I", 2049) + body[4:]),
}
LABEL_MUTATIONS = {
    **BYTES,
    "count-huge": _gz_inner(lambda body: body[:4] + struct.pack(">I", 2 ** 32 - 1) + body[8:]),
    "one-class": _gz_inner(lambda body: body[:8] + bytes(len(body) - 8)),
    "label-range": _gz_inner(lambda body: body[:8] + bytes([200]) * (len(body) - 8)),
}


def _pickled(obj) -> Callable[[bytes], bytes]:
    return lambda raw: pickle.dumps(obj, protocol=2)


CIFAR_PY_MUTATIONS = {
    **BYTES,
    "labels-short": _pickled({b"data": np.zeros((6, 3072), np.uint8), b"labels": [0, 1, 2]}),
    "labels-text": _pickled({b"data": np.zeros((6, 3072), np.uint8), b"labels": "012345"}),
    "data-float": _pickled({b"data": np.zeros((6, 3072), np.float32), b"labels": [0] * 6}),
    "not-a-dict": _pickled([1, 2, 3]),
    "one-image": _pickled({b"data": np.zeros((1, 3072), np.uint8), b"labels": [0]}),
}
CIFAR_META_MUTATIONS = {
    **BYTES,
    "not-utf8": lambda raw: b"\xff\xfe\xfa\n" * 10,
    "one-class": lambda raw: b"cat\n",
    "repeated": lambda raw: b"cat\ncat\n",
}
PY_META_MUTATIONS = {
    **BYTES,
    "not-utf8": lambda raw: py2_meta_bytes([b"\xff\xfe", b"cat"]),
    "one-class": lambda raw: py2_meta_bytes([b"cat"]),
    "names-ints": _pickled({b"label_names": [1, 2, 3]}),
}


def py2_meta_bytes(names: list[bytes]) -> bytes:
    return pickle.dumps({b"label_names": names}, protocol=2)


SEMEION_MUTATIONS = {**BYTES, "not-ascii": lambda raw: raw[:100] + "é".encode() + raw[102:],
                     "one-class": lambda raw: b"".join([raw.splitlines(True)[0]] * 10)}


def _png_header(width: int, height: int) -> bytes:
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0,
                                                             0, 0)) + chunk(b"IEND", b""))


IMAGE_MUTATIONS = {**BYTES, "huge-header": lambda raw: _png_header(100_000, 100_000),
                   "zero-width": lambda raw: _png_header(0, 10),
                   "text": lambda raw: b"just some text\n"}


# ----------------------------------------------------------------------------- run files

def _json_file(change: Callable[[dict], object]) -> Callable[[bytes], bytes]:
    return lambda raw: json.dumps(change(json.loads(raw))).encode()


def _edit(doc: dict, path: str, value) -> dict:
    return replaced(doc, tuple(int(p) if p.isdigit() else p for p in path.split(".")), value)


MANIFEST_MUTATIONS = {
    **BYTES,
    "a-list": _json_file(lambda m: [m]),
    "no-model": _json_file(lambda m: {k: v for k, v in m.items() if k != "model"}),
    "no-dataset": _json_file(lambda m: {k: v for k, v in m.items() if k != "dataset"}),
    "mean-text": _json_file(lambda m: _edit(m, "dataset.mean", "abc")),
    "std-zero": _json_file(lambda m: _edit(m, "dataset.std", [0])),
    "few-classes": _json_file(lambda m: _edit(m, "dataset.classes", ["0", "1", "2"])),
    "1e9-classes": _json_file(lambda m: _edit(m, "model.num_classes", 10 ** 9)),
    "framing-unknown": _json_file(lambda m: _edit(m, "dataset.framing", "polaroid")),
    "invert-yes": _json_file(lambda m: _edit(m, "dataset.invert", "yes")),
    "deep-nesting": lambda raw: b"[" * 100_000 + b"]" * 100_000,
    "huge-int": lambda raw: b'{"format": ' + b"9" * 5000 + b"}",
}


@dataclass
class FileEdit:
    """A damage done to the file in place (``edit(path)``), not to its bytes."""

    edit: Callable[[Path], None]


def _checkpoint(change_meta: Callable[[dict], dict] | None = None,
                extra_tensor: str | None = None, shape: tuple = (6,)) -> FileEdit:
    """Rewrite RUN/model.safetensors (or optimizer.safetensors) with changed metadata or one
    more tensor (of ``shape``)."""
    def apply(path: Path) -> None:
        tensors = load_file(path)
        with safe_open(path, "pt") as f:
            meta = f.metadata()
        if change_meta:
            meta = change_meta(meta)
        if extra_tensor:
            tensors[extra_tensor] = torch.zeros(shape)
        path.unlink()  # a hard link to the shared run: write a new file, not into it
        save_file(tensors, path, metadata=meta)
    return FileEdit(apply)


def _meta_json(key: str, value) -> Callable[[dict], dict]:
    return lambda meta: {**meta, key: value if isinstance(value, str) else json.dumps(value)}


CHECKPOINT_EDITS = {
    "meta-not-json": _checkpoint(_meta_json("meta", "{epoch: 2")),
    "meta-a-list": _checkpoint(_meta_json("meta", [2])),
    "epoch-text": _checkpoint(_meta_json("meta", {"epoch": "two"})),
    "epoch-huge": _checkpoint(_meta_json("meta", {"epoch": 10 ** 30})),
    "no-format": _checkpoint(lambda meta: {k: v for k, v in meta.items() if k != "format"}),
    "no-optimizer-id": _checkpoint(lambda m: {k: v for k, v in m.items() if k != "optimizer_id"}),
    "other-optimizer-id": _checkpoint(lambda meta: {**meta, "optimizer_id": "0" * 16}),
    "unknown-tensor": _checkpoint(extra_tensor="junk"),
    "huge-tensor": _checkpoint(extra_tensor="features.conv1.bias", shape=(10 ** 6,)),
}

OPTIMIZER_EDITS = {  # RUN/optimizer.safetensors
    "optimizer-not-json": _checkpoint(_meta_json("optimizer", "[[[")),
    "param-groups-text": _checkpoint(_meta_json("optimizer", {"param_groups": "x"})),
    "betas-text": _checkpoint(lambda meta: {**meta, "optimizer": json.dumps(replaced(
        json.loads(meta["optimizer"]), ("param_groups", 0, "betas"), "ab"))}),
    "no-id": _checkpoint(lambda meta: {k: v for k, v in meta.items() if k != "id"}),
    "slot-of-no-parameter": _checkpoint(extra_tensor="999.exp_avg"),
    "no-slot": _checkpoint(extra_tensor="0"),
    "larger-than-any-weight": _checkpoint(extra_tensor="0.junk", shape=(10 ** 6,)),
    "same-id-other-numbers": _checkpoint(extra_tensor="0.exp_avg", shape=(6, 1, 5, 5)),
}

METRICS_MUTATIONS = {
    "garbage-line": lambda raw: raw.splitlines(True)[0] + b"\x00\xffgarbage\n" + raw,
    "torn-last-line": lambda raw: raw + b'{"epoch": 3, "train_lo',
    "a-list-line": lambda raw: raw + b"[1, 2]\n",
    "epoch-text": lambda raw: raw.replace(b'"epoch": 2', b'"epoch": "2"'),
    "no-accuracy": lambda raw: b"".join(json.dumps({k: v for k, v in json.loads(line).items()
                                                    if k != "test_accuracy"}).encode() + b"\n"
                                        for line in raw.splitlines()),
    "huge-epoch": lambda raw: raw.replace(b'"epoch": 2', b'"epoch": 1e400'),
    "not-utf8": lambda raw: raw + b"\xff\xfe\n",
    "empty": lambda raw: b"",
}


def _onnx_props(change: Callable[[dict], dict]) -> Callable[[bytes], bytes]:
    def apply(raw: bytes) -> bytes:
        import onnx

        model = onnx.load_from_string(raw)
        props = change({p.key: p.value for p in model.metadata_props})
        del model.metadata_props[:]
        onnx.helper.set_model_props(model, props)
        return model.SerializeToString()
    return apply


def _onnx_field(key: str, value) -> Callable[[bytes], bytes]:
    return _onnx_props(lambda p: {**p, f"convnet.{key}": json.dumps(value)})


ONNX_MUTATIONS = {
    **BYTES,
    "meta-not-json": _onnx_props(lambda p: {**p, "convnet.mean": "[0.1"}),
    "few-classes": _onnx_field("classes", ["0", "1"]),
    "mean-text": _onnx_field("mean", "abc"),
    "invert-yes": _onnx_field("invert", "yes"),
    "std-zero": _onnx_field("std", 0),
    "channels-3": _onnx_field("channels", 3),
    "input-other": _onnx_field("input_shape", [1, 28, 28]),
    "framing-other": _onnx_field("framing", "polaroid"),
    "no-metadata": _onnx_props(lambda p: {}),
}


# --------------------------------------------------------------------------- targets

def run_commands(world: World, which: tuple[str, ...]) -> dict[str, Callable[[Path], list]]:
    all_commands = {
        "predict": lambda c: ["predict", c / "run", world.image, "--backend", "torch"],
        "evaluate": lambda c: ["evaluate", c / "run", "--data", world.data],
        "resume": lambda c: ["train", "--resume", c / "run", "--quiet"],
        "export": lambda c: ["export", c / "run", "--out", c / "m.onnx"],
        "show": lambda c: ["show", c / "run", world.image, "--out", c / "shown"],
        "report": lambda c: ["report", c / "run", "--out", c / "r.html", "--indices", "0",
                             "--quiet"],
    }
    return {k: all_commands[k] for k in which}


def targets(world: World) -> list[Target]:
    """Every file a command reads, with its mutations and the commands that read it."""
    data_train = lambda data: ["train", "lenet5", "--data", data, "--out", data.parent / "out",  # noqa: E731
                               "--epochs", "1", "--limit", "32", "--batch-size", "16", "--quiet"]
    cifar_train = lambda c: ["train", "lenet5", "--dataset", "cifar10", "--data", c / "cifar",  # noqa: E731
                             "--out", c / "out", "--epochs", "1", "--batch-size", "8", "--quiet"]
    manifest_json = json.loads((world.run / "run.json").read_text())
    skip = ("versions", "recipe", "final", "files")
    with safe_open(world.run / "model.safetensors", "pt") as f:
        ckpt_meta = {k: json.loads(v) for k, v in f.metadata().items()
                     if k not in ("format", "optimizer_id")}
    metrics_row = json.loads((world.run / "metrics.jsonl").read_text().splitlines()[-1])
    onnx_meta = {"classes": [str(d) for d in range(10)], "mean": [0.1], "std": [0.3],
                 "framing": "mnist", "invert": "auto", "input_shape": [1, 32, 32], "channels": 1}

    def in_run(name: str) -> Callable[[Path], Path]:
        return lambda case: copy_run(world, case) / name

    def in_data(name: str) -> Callable[[Path], Path]:
        return lambda case: copy_tree(world.data, case, "data") / "mnist" / name

    def in_cifar(sub: str, name: str) -> Callable[[Path], Path]:
        return lambda case: copy_tree(world.cifar, case, "cifar") / "cifar10" / sub / name

    def as_json(docs: dict[str, object]) -> dict[str, Callable[[bytes], bytes]]:
        return {name: (lambda raw, d=doc: json.dumps(d).encode()) for name, doc in docs.items()}

    def ckpt_json(docs: dict[str, dict]) -> dict[str, FileEdit]:
        out = {}
        for name, doc in docs.items():
            meta = {k: json.dumps(v) for k, v in doc.items()}
            out[name] = _checkpoint(lambda m, meta=meta: {**m, **meta})
        return out

    def metrics_json(docs: dict[str, object]) -> dict[str, Callable[[bytes], bytes]]:
        return {name: (lambda raw, d=doc: raw + json.dumps(d).encode() + b"\n")
                for name, doc in docs.items()}

    def onnx_json(docs: dict[str, object]) -> dict[str, Callable[[bytes], bytes]]:
        return {name: _onnx_props(lambda p, d=doc: {**p, **{f"convnet.{k}": json.dumps(v)
                                                            for k, v in d.items()}})
                for name, doc in docs.items() if isinstance(doc, dict)}

    onnx_cmd = {"predict": lambda c: ["predict", c / "model.onnx", world.image]}
    folder_train = {"train": lambda c: ["train", "lenet5", "--dataset", f"folder:{c / 'folder'}",
                                        "--out", c / "out", "--epochs", "1", "--quiet"]}
    return [
        Target("idx-train-images", in_data("train-images-idx3-ubyte.gz"), IDX_MUTATIONS,
               {"train": lambda c: data_train(c / "data")}),
        Target("idx-test-labels", in_data("t10k-labels-idx1-ubyte.gz"), LABEL_MUTATIONS,
               {"evaluate": lambda c: ["evaluate", copy_run(world, c), "--data", c / "data"]}),
        Target("cifar-bin-test", in_cifar("cifar-10-batches-bin", "test_batch.bin"), BYTES,
               {"train": cifar_train}),
        Target("cifar-bin-meta", in_cifar("cifar-10-batches-bin", "batches.meta.txt"),
               CIFAR_META_MUTATIONS, {"train": cifar_train}),
        Target("cifar-py-batch", lambda c: _only_py(in_cifar("cifar-10-batches-py",
                                                              "data_batch_2")(c)),
               CIFAR_PY_MUTATIONS, {"train": cifar_train}),
        Target("cifar-py-meta", lambda c: _only_py(in_cifar("cifar-10-batches-py",
                                                             "batches.meta")(c)),
               PY_META_MUTATIONS, {"train": cifar_train}),
        Target("semeion", lambda c: copy_tree(world.semeion, c, "sem") / "semeion.data",
               SEMEION_MUTATIONS,
               {"evaluate": lambda c: ["evaluate", copy_run(world, c), "--dataset", "semeion",
                                       "--data", c / "sem"]}),
        Target("image-png", lambda c: Path(shutil.copy(world.image, c / "digit.png")),
               IMAGE_MUTATIONS,
               {"predict": lambda c: ["predict", world.run, c / "digit.png", "--backend",
                                      "torch"]}),
        Target("image-jpeg", lambda c: Path(shutil.copy(world.root / "photo.jpg",
                                                        c / "photo.jpg")), BYTES,
               {"predict": lambda c: ["predict", world.run, c / "photo.jpg", "--backend",
                                      "torch"]}),
        Target("folder-image", lambda c: copy_tree(world.folder, c, "folder") / "light" / "2.png",
               {**IMAGE_MUTATIONS, "only-class": _remove_class}, folder_train),
        Target("run.json", in_run("run.json"), MANIFEST_MUTATIONS,
               run_commands(world, ("predict", "evaluate", "resume", "export", "show",
                                    "report"))),
        Target("run.json-fields", in_run("run.json"), as_json(json_mutations(manifest_json, skip)),
               run_commands(world, ("predict", "evaluate", "resume")), spread=True),
        Target("model.safetensors", in_run("model.safetensors"),
               {k: BYTES[k] for k in ("empty", "truncated-half", "garbage-start")},
               run_commands(world, ("predict", "evaluate", "resume", "export", "show"))),
        Target("checkpoint-metadata", in_run("model.safetensors"), CHECKPOINT_EDITS,
               run_commands(world, ("predict", "evaluate", "resume", "export"))),
        Target("optimizer.safetensors", in_run("optimizer.safetensors"),
               {**{k: BYTES[k] for k in ("empty", "truncated-half", "garbage-start")},
                **OPTIMIZER_EDITS},
               run_commands(world, ("predict", "resume"))),
        Target("checkpoint-metadata-fields", in_run("model.safetensors"),
               ckpt_json(json_mutations(ckpt_meta, per_field=1)),
               run_commands(world, ("predict", "resume")), spread=True),
        Target("metrics.jsonl", in_run("metrics.jsonl"), METRICS_MUTATIONS,
               run_commands(world, ("resume",))),
        Target("metrics.jsonl-report", in_run("metrics.jsonl"),
               {k: METRICS_MUTATIONS[k] for k in ("garbage-line", "epoch-text")},
               run_commands(world, ("report",))),
        Target("metrics.jsonl-fields", in_run("metrics.jsonl"),
               metrics_json(json_mutations(metrics_row, per_field=1)),
               run_commands(world, ("resume",))),
        Target(".onnx", lambda c: Path(shutil.copy(world.onnx, c / "model.onnx")),
               ONNX_MUTATIONS, onnx_cmd),
        Target(".onnx-fields", lambda c: Path(shutil.copy(world.onnx, c / "model.onnx")),
               onnx_json(json_mutations(onnx_meta, per_field=1)), onnx_cmd),
    ]


def _only_py(path: Path) -> Path:
    """Keep only the python batches (the binary ones would be read first)."""
    shutil.rmtree(path.parent.parent / "cifar-10-batches-bin")
    return path


_remove_class = FileEdit(lambda path: shutil.rmtree(path.parent.parent / "dark"))


# --------------------------------------------------------------------------- running

RUNNER = r"""
import contextlib, io, json, os, resource, sys, warnings
limit = int(sys.argv[3])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from convnet.cli import main
from convnet.data import ChecksumWarning
cases = json.load(open(sys.argv[1]))
for i in range(int(sys.argv[2]), len(cases)):
    print("START", i, flush=True)
    os.chdir(cases[i]["cwd"])
    err, out = io.StringIO(), io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stderr(err), \
            contextlib.redirect_stdout(out):
        warnings.simplefilter("ignore", ChecksumWarning)
        try:
            code = main(cases[i]["argv"])
        except SystemExit as e:
            code = e.code
        except BaseException as e:
            code = f"raised {type(e).__name__}: {str(e)[:200]}"
    print("DONE", i, json.dumps({"code": code, "err": err.getvalue()[-2000:]}), flush=True)
"""


def run_all(cases: list[dict], workdir: Path, timeout: float = 600) -> list[dict]:
    """Run every case in worker processes; a crash or hang ends that case, the next goes on."""
    path = workdir / "cases.json"
    path.write_text(json.dumps(cases))
    results: list[dict | None] = [None] * len(cases)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    start = 0
    while start < len(cases):
        proc = subprocess.Popen([sys.executable, "-c", RUNNER, str(path), str(start),
                                 str(ADDRESS_SPACE)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env, cwd=workdir)
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
        last = start
        for line in stdout.splitlines():
            word, _, rest = line.partition(" ")
            if word not in ("START", "DONE"):  # a library's own print on fd 1
                continue
            index, _, outcome = rest.partition(" ")
            last = int(index)
            if word == "DONE":
                results[last] = json.loads(outcome)
        if proc.returncode == 0 and results[-1] is not None:
            break
        if results[last] is None:  # the case the worker was in when it died or hung
            why = (f"killed by signal {-proc.returncode}" if proc.returncode and
                   proc.returncode < 0 else f"worker ended ({proc.returncode}): "
                   f"{stderr.strip()[-300:]}")
            results[last] = {"code": why, "err": ""}
        start = last + 1
    return results


def judge(result: dict, allowed: set[int]) -> str | None:
    """None if the case kept the contract, else what was wrong."""
    code, lines = result["code"], result["err"].splitlines()
    if not isinstance(code, int) or code not in allowed:
        return f"exit {code}: {result['err'].strip()[-300:]}"
    if code != 0 and (len(lines) != 1 or "error: " not in lines[0]):
        return f"exit {code} with {len(lines)} stderr lines: {result['err'][-300:]}"
    if "Traceback" in result["err"] or "internal error" in result["err"]:
        return f"exit {code}: {result['err'][-300:]}"
    return None


@pytest.fixture(scope="module")
def matrix(tiny_data, tiny_run, tmp_path_factory) -> dict[str, list[tuple[str, str | None]]]:
    """{target: [(case name, what was wrong or None)]}: every case, run once."""
    root = tmp_path_factory.mktemp("matrix")
    (root / "world").mkdir()
    world = World(root / "world", tiny_data, tiny_run)
    cases, names = [], []
    for target in targets(world):
        commands = list(target.commands.items())
        for i, (mutation, damage) in enumerate(target.mutations.items()):
            chosen = [commands[i % len(commands)]] if target.spread else commands
            for command, argv in chosen:
                case = root / "cases" / f"{len(cases):05d}"
                case.mkdir(parents=True)
                victim = target.setup(case)
                if isinstance(damage, FileEdit):
                    damage.edit(victim)
                else:  # a new file: the weights are a hard link to the shared run's
                    data = damage(victim.read_bytes())
                    victim.unlink()
                    victim.write_bytes(data)
                cases.append({"argv": [str(a) for a in argv(case)], "cwd": str(case)})
                names.append((target.name, f"{mutation} | {command}"))
    results = run_all(cases, root)
    allowed = documented_codes()
    out: dict[str, list] = {}
    for (target, name), result in zip(names, results):
        out.setdefault(target, []).append((name, judge(result, allowed)))
    return out


TARGET_NAMES = ["idx-train-images", "idx-test-labels", "cifar-bin-test", "cifar-bin-meta",
                "cifar-py-batch", "cifar-py-meta", "semeion", "image-png", "image-jpeg",
                "folder-image", "run.json", "run.json-fields", "model.safetensors",
                "checkpoint-metadata", "optimizer.safetensors", "checkpoint-metadata-fields",
                "metrics.jsonl",
                "metrics.jsonl-report", "metrics.jsonl-fields", ".onnx", ".onnx-fields"]


@pytest.mark.parametrize("target", TARGET_NAMES)
def test_every_damage_is_one_line_and_a_documented_code(matrix, target):
    cases = matrix[target]
    assert cases, f"no cases for {target}"
    bad = [f"{name}: {why}" for name, why in cases if why]
    assert not bad, f"{len(bad)} of {len(cases)} cases broke the contract:\n" + "\n".join(bad)


def test_the_matrix_names_every_target(matrix):
    assert sorted(matrix) == sorted(TARGET_NAMES)


def test_full_disk_in_evaluate_plot_is_one_line(tiny_run, tmp_path, capsys, monkeypatch):
    """The confusion-matrix picture is written whole or not at all, like every other file."""
    import errno

    from matplotlib.figure import Figure

    def disk_full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", disk_full)
    (tmp_path / "plots").mkdir()
    code = main(["evaluate", str(tiny_run), "--plot", str(tmp_path / "plots" / "cm.png")])
    err = capsys.readouterr().err.splitlines()
    assert code in (7, 11) and len(err) == 1 and "No space left on device" in err[0], err
    assert not list((tmp_path / "plots").iterdir())  # no half-written picture, no temporary
