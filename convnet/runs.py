"""A run directory: everything needed to inspect, resume, repeat or use a training run.

    RUNDIR/run.json          manifest: model, dataset + checksums, config, seed, versions, results
    RUNDIR/metrics.jsonl     one JSON object per epoch (train/test loss and accuracy, seconds)
    RUNDIR/model.safetensors weights (+ optimizer state for --resume), written atomically

Weights are only ever read through safetensors: a checkpoint cannot execute code.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .errors import ModelError, RunError, SpecError
from .models import Network
from .registry import create_model
from .version import __version__

FORMAT = "convnet-run/1"
MANIFEST, METRICS, WEIGHTS = "run.json", "metrics.jsonl", "model.safetensors"


def atomic_write(path: Path, write) -> None:
    """Write through a temporary file in the same directory, fsync, then rename over ``path``.

    A crash (even kill -9) mid-write leaves the previous file intact: rename is atomic.
    """
    path, tmp = Path(path), None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except (OSError, SafetensorError) as e:  # disk full, read-only, permissions...
        _discard(tmp)
        reason = getattr(e, "strerror", None) or str(e)
        raise RunError(f"{path}: could not write it ({reason}); "
                       f"the previous version, if any, is intact") from None
    except BaseException:
        _discard(tmp)
        raise


def _discard(tmp: str | None) -> None:
    if tmp:
        Path(tmp).unlink(missing_ok=True)


def remove_stale_temps(path: Path) -> None:
    """Delete temporary files that a killed ``atomic_write`` of ``path`` left behind.

    They are never read (only the renamed file is), so this is tidiness, not correctness.
    One writer per run directory is assumed: another process's in-flight write would be removed.
    """
    path = Path(path)
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        tmp.unlink(missing_ok=True)


def write_json(path: Path, data: dict) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(data, indent=2) + "\n"))


def describe_model(model: Network) -> dict:
    """What is needed to rebuild ``model``: its registry name or its spec, and its shapes."""
    return {"name": getattr(model, "name", None), "spec": model.spec,
            "input_shape": list(model.input_shape), "num_classes": model.num_classes}


def build_model(desc: dict) -> Network:
    """Rebuild a model from ``describe_model``'s output (registry name first, else the spec)."""
    try:
        c, h, w = desc["input_shape"]
        if desc.get("name"):
            return create_model(desc["name"], num_classes=desc["num_classes"], in_chans=c)
        return Network.from_spec(desc["spec"], (c, h, w))
    except (KeyError, TypeError, ValueError) as e:
        raise RunError(f"run manifest has an unusable model description: {e}") from None
    except (ModelError, SpecError) as e:
        raise RunError(f"run manifest names a model this version cannot build: {e}") from None


def save_checkpoint(rundir: Path, model: torch.nn.Module, optimizer, meta: dict) -> None:
    """Model weights + optimizer state in one safetensors file, so they can never disagree."""
    tensors = {f"model.{k}": v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    opt_meta = {}
    if optimizer is not None:
        state = optimizer.state_dict()
        for pid, slots in state["state"].items():
            for key, value in slots.items():
                tensors[f"optim.{pid}.{key}"] = torch.as_tensor(value).detach().contiguous().cpu()
        opt_meta = {"param_groups": state["param_groups"]}
    header = {"format": FORMAT, "meta": json.dumps(meta), "optimizer": json.dumps(opt_meta)}
    remove_stale_temps(Path(rundir) / WEIGHTS)
    atomic_write(Path(rundir) / WEIGHTS, lambda tmp: save_file(tensors, tmp, metadata=header))


def load_checkpoint(rundir: Path) -> tuple[dict, dict, dict]:
    """(model tensors, optimizer state dict or {}, meta) from RUNDIR/model.safetensors."""
    path = Path(rundir) / WEIGHTS
    if not path.is_file():
        raise RunError(f"{path}: no weights file; is {rundir} a finished or started run?")
    try:
        tensors = load_file(path)
        from safetensors import safe_open
        with safe_open(path, "pt") as f:
            header = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise RunError(f"{path}: not a readable safetensors file ({e})") from None
    if header.get("format") != FORMAT:
        raise RunError(f"{path}: written by another program or version "
                       f"(format {header.get('format')!r}, expected {FORMAT!r})")
    weights = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    opt_meta = json.loads(header.get("optimizer", "{}"))
    optim = {}
    if opt_meta:
        state: dict = {}
        for key, value in tensors.items():
            if key.startswith("optim."):
                _, pid, slot = key.split(".", 2)
                state.setdefault(int(pid), {})[slot] = value
        optim = {"state": state, "param_groups": opt_meta["param_groups"]}
    return weights, optim, json.loads(header.get("meta", "{}"))


def load_weights(model: torch.nn.Module, weights: dict, source: Path) -> None:
    """Load weights, refusing a checkpoint made for another model with one clear line."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in weights.items()}
    if expected != found:
        missing = sorted(set(expected) - set(found))
        wrong = sorted(k for k in expected.keys() & found.keys() if expected[k] != found[k])
        detail = (f"missing {missing[0]}" if missing else
                  f"{wrong[0]} is {found[wrong[0]]} not {expected[wrong[0]]}" if wrong else
                  f"unexpected {sorted(set(found) - set(expected))[0]}")
        raise RunError(f"{source}: checkpoint is for a different model ({detail})")
    model.load_state_dict(weights)


def read_manifest(rundir: Path) -> dict:
    path = Path(rundir) / MANIFEST
    if not path.is_file():
        raise RunError(f"{rundir}: not a run directory (no {MANIFEST})")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunError(f"{path}: corrupt manifest ({e})") from None
    if manifest.get("format") != FORMAT:
        raise RunError(f"{path}: run from another version (format {manifest.get('format')!r}, "
                       f"expected {FORMAT!r})")
    return manifest


def read_metrics(rundir: Path) -> list[dict]:
    path = Path(rundir) / METRICS
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_metrics(rundir: Path, rows: list[dict]) -> None:
    """Rewrite metrics.jsonl atomically (used on resume to drop epochs past the checkpoint)."""
    text = "".join(json.dumps(r) + "\n" for r in rows)
    atomic_write(Path(rundir) / METRICS, lambda tmp: Path(tmp).write_text(text))


def append_metrics(rundir: Path, row: dict) -> None:
    with open(Path(rundir) / METRICS, "a") as f:
        f.write(json.dumps(row) + "\n")
        f.flush()
        os.fsync(f.fileno())


def versions() -> dict:
    return {"convnet": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "platform": platform.platform()}


@contextmanager
def eval_mode(model: torch.nn.Module):
    """``model`` in eval mode inside the block; every submodule's own flag restored after it.

    Batch norm then uses its running statistics and dropout is off, whatever the caller's mode,
    and the caller's model leaves the block as it came (``model.train(flag)`` afterwards would
    not do: it sets every submodule to the root's flag).

    Example:
        >>> net = torch.nn.Sequential(torch.nn.BatchNorm1d(2)).train()
        >>> with eval_mode(net):
        ...     net[0].training
        False
        >>> net[0].training
        True
    """
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, flag in flags:
            m.training = flag


def load_model(rundir: Path) -> tuple[Network, dict]:
    """The trained model of a run, in eval mode (what every user path runs), and its manifest."""
    manifest = read_manifest(rundir)
    model = build_model(manifest["model"])
    weights, _, _ = load_checkpoint(rundir)
    load_weights(model, weights, Path(rundir) / WEIGHTS)
    return model.eval(), manifest
