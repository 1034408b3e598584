"""A run's checkpoint: the weights as a plain state_dict, and the optimizer state beside them.

    RUNDIR/model.safetensors      the model's ``state_dict()`` and nothing else, so plain PyTorch
                                  loads it: ``net.load_state_dict(load_file(path))``. Metadata:
                                  the epoch and its metrics row, and the id of its optimizer state
    RUNDIR/optimizer.safetensors  ``torch.optim``'s state: a tensor ``<param>.<slot>`` per
                                  moment (``0.exp_avg``), the param_groups and the id in metadata

The id is a SHA-256 of the optimizer state, so a pair is either the one written together or
refused. Two files cannot be replaced in one step, so a checkpoint is three atomic ones: the
optimizer state to ``optimizer.pending.safetensors``, then ``model.safetensors`` (the commit:
from here readers see the new weights), then pending renamed to ``optimizer.safetensors``.
A kill between any two leaves weights whose optimizer state is in one of the two files; a
resume takes that one and finishes the rename. Weights and an optimizer state of different
checkpoints (a file copied from another run) are refused with one line, never paired.

Runs written before this layout keep both in model.safetensors (``model.<weight>`` and
``optim.<param>.<slot>`` tensors, format ``convnet-run/1``): they load, predict, export and
resume as before, and a resume writes its next checkpoint in this layout.

Every file's header (metadata, tensor names and shapes) is checked before its tensors are read.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from ..errors import RunError
from .files import OPTIMIZER, PENDING, WEIGHTS, atomic_rename, atomic_write, remove_stale_temps
from .schema import (
    CHECKPOINT_META, OPTIMIZER_HEADER, WEIGHTS_HEADER, check, check_checkpoint,
    check_optimizer_names)

LEGACY_FORMAT = "convnet-run/1"  # weights and optimizer in one file (runs before this layout)
WEIGHTS_FORMAT = "convnet-weights/1"
OPTIMIZER_FORMAT = "convnet-optimizer/1"
SLOTS_PER_WEIGHT = 3  # the most an optimizer keeps per weight: Adam's amsgrad (3 moments)


# --- writing --------------------------------------------------------------------------------------

def save_weights(path: Path, model: torch.nn.Module | dict, meta: dict | None = None,
                 optimizer_id: str = "") -> None:
    """A plain state_dict in one safetensors file, written atomically (whole or not at all).

    ``meta`` (e.g. the epoch and its metrics row) goes into the file's metadata, where
    ``load_state_dict`` never looks. ``runs.load_checkpoint`` and ``load_weights`` read it.

    Args:
        path (Path): the file to (re)place, e.g. RUNDIR/model.safetensors or a best epoch's.
        model (nn.Module | dict): the model, or its state_dict.
        meta (dict | None): JSON-able; checked on reading as ``{"epoch", "metrics"}``.
        optimizer_id (str): the id of the optimizer state saved with it ("" for none).

    Raises:
        WriteError: one line naming ``path`` (disk full, read-only...); the previous file stays.
    """
    state = model.state_dict() if isinstance(model, torch.nn.Module) else model
    tensors = {k: v.detach().contiguous().cpu() for k, v in state.items()}
    header = {"format": WEIGHTS_FORMAT, "meta": json.dumps(meta or {}),
              "optimizer_id": optimizer_id}
    remove_stale_temps(Path(path))
    atomic_write(Path(path), lambda tmp: save_file(tensors, tmp, metadata=header), own_file=True)


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict, str]:
    """torch.optim's state as ({"<param>.<slot>": tensor}, param_groups as JSON)."""
    state = optimizer.state_dict()
    tensors = {f"{pid}.{slot}": torch.as_tensor(value).detach().contiguous().cpu()
               for pid, slots in state["state"].items() for slot, value in slots.items()}
    return tensors, json.dumps({"param_groups": state["param_groups"]})


def state_id(tensors: dict[str, torch.Tensor], groups: str) -> str:
    """SHA-256 (first 16 hex digits) of an optimizer state: its groups, names, dtypes, bytes.

    Example:
        >>> len(state_id({"0.step": torch.tensor(3.0)}, '{"param_groups": []}'))
        16
    """
    digest = hashlib.sha256(groups.encode())
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy())  # any dtype, as its bytes
    return digest.hexdigest()[:16]


def save_checkpoint(rundir: Path, model: torch.nn.Module, optimizer, meta: dict) -> None:
    """Weights (RUNDIR/model.safetensors) and optimizer state (RUNDIR/optimizer.safetensors)
    of one epoch, written so that a kill at any point leaves a pair that belongs together."""
    rundir = Path(rundir)
    for name in (WEIGHTS, OPTIMIZER, PENDING):
        remove_stale_temps(rundir / name)
    if optimizer is None:
        save_weights(rundir / WEIGHTS, model, meta)
        for name in (OPTIMIZER, PENDING):  # a checkpoint without one: none to pair
            (rundir / name).unlink(missing_ok=True)
        return
    tensors, groups = optimizer_tensors(optimizer)
    ident = state_id(tensors, groups)
    header = {"format": OPTIMIZER_FORMAT, "id": ident, "optimizer": groups}
    atomic_write(rundir / PENDING, lambda tmp: save_file(tensors, tmp, metadata=header),
                 own_file=True)
    save_weights(rundir / WEIGHTS, model, meta, ident)  # the commit
    atomic_rename(rundir / PENDING, rundir / OPTIMIZER)


# --- reading --------------------------------------------------------------------------------------

def read_header(path: Path) -> tuple[dict, dict[str, tuple[int, ...]]]:
    """(metadata, {tensor: shape}) of a safetensors file, without reading any tensor."""
    try:
        with safe_open(path, "pt") as f:
            return f.metadata() or {}, {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise RunError(f"{path}: not a readable safetensors file ({e})") from None


def _tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError) as e:  # changed since its header was read
        raise RunError(f"{path}: not a readable safetensors file ({e})") from None


def _json(header: dict, key: str, path: Path):
    try:
        return json.loads(header.get(key, "{}"))
    except (ValueError, RecursionError) as e:
        raise RunError(f"{path}: its metadata is not JSON ({str(e)[:80]})") from None


def shapes(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    """{name: shape} of ``model``'s state_dict: what its checkpoint's header must list."""
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def check_fits(expected: dict[str, tuple], found: dict[str, tuple], source: Path) -> None:
    """One line naming the first weight missing, unexpected or of another shape."""
    if expected == found:
        return
    missing = sorted(set(expected) - set(found))
    wrong = sorted(k for k in expected.keys() & found.keys() if expected[k] != found[k])
    detail = (f"missing {missing[0]}" if missing else
              f"{wrong[0]} is {found[wrong[0]]} not {expected[wrong[0]]}" if wrong else
              f"unexpected {sorted(set(found) - set(expected))[0][:60]}")
    raise RunError(f"{source}: checkpoint is for a different model ({detail})")


def check_optimizer_sizes(found: dict[str, tuple], weights: dict[str, tuple], source) -> None:
    """Refuse optimizer tensors that no optimizer of these weights could hold, before reading
    them: one larger than the largest weight, or more values than SLOTS_PER_WEIGHT per weight."""
    sizes = [math.prod(s) for s in weights.values()]
    largest, limit = max(sizes, default=0), SLOTS_PER_WEIGHT * sum(sizes) + len(found)
    for name, shape in found.items():
        if math.prod(shape) > max(largest, 1):
            raise RunError(f"{source}: optimizer tensor {name[:60]!r} of shape {shape} is larger "
                           f"than any weight of the model ({largest:,} values)")
    if sum(math.prod(s) for s in found.values()) > limit:
        raise RunError(f"{source}: its optimizer tensors hold more values than "
                       f"{SLOTS_PER_WEIGHT} per weight")


def _optimizer_state(tensors: dict, opt_meta: dict, prefix: str = "") -> dict:
    """{"state": {param: {slot: tensor}}, "param_groups": [...]}, torch.optim's layout."""
    if not opt_meta:
        return {}
    state: dict = {}
    for key, value in tensors.items():
        if key.startswith(prefix):
            pid, slot = key[len(prefix):].split(".", 1)
            state.setdefault(int(pid), {})[slot] = value
    return {"state": state, "param_groups": opt_meta["param_groups"]}


def _legacy(path: Path, header: dict, shapes: dict, with_optimizer: bool):
    """(weights, optimizer state, meta) of a model.safetensors from before this layout."""
    meta, opt_meta = _json(header, "meta", path), _json(header, "optimizer", path)
    check_checkpoint(meta, opt_meta, list(shapes), str(path))
    check_optimizer_sizes({k: s for k, s in shapes.items() if k.startswith("optim.")},
                          {k: s for k, s in shapes.items() if k.startswith("model.")}, path)
    tensors = _tensors(path)
    weights = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    optim = _optimizer_state(tensors, opt_meta, "optim.") if with_optimizer else {}
    return weights, optim, meta


def _read_optimizer(rundir: Path, ident: str, weights: dict[str, tuple], epoch: int) -> dict:
    """The optimizer state whose id is ``ident``: optimizer.safetensors, or the pending one a
    kill left after its checkpoint's commit."""
    for name in (OPTIMIZER, PENDING):
        path = rundir / name
        if path.is_file():
            header, shapes = read_header(path)
            if header.get("id") == ident:
                break
    else:
        raise RunError(f"{rundir / OPTIMIZER}: no optimizer state for the weights in {WEIGHTS} "
                       f"(epoch {epoch}); the files are from different checkpoints (copied?): "
                       f"restore both, or repeat the run with --from-manifest")
    check(header, OPTIMIZER_HEADER, f"{path} metadata")
    opt_meta = _json(header, "optimizer", path)
    check_optimizer_names(opt_meta, list(shapes), str(path))
    check_optimizer_sizes(shapes, weights, path)
    tensors = _tensors(path)
    if state_id(tensors, header["optimizer"]) != ident:
        raise RunError(f"{path}: its tensors are not the state its id names (a damaged or edited "
                       f"file); restore it, or repeat the run with --from-manifest")
    return _optimizer_state(tensors, opt_meta)


def load_checkpoint(rundir: Path, with_optimizer: bool = True,
                    expected: dict[str, tuple] | None = None,
                    name: str = WEIGHTS) -> tuple[dict, dict, dict]:
    """(weights, optimizer state dict or {}, meta) of a run's last checkpoint, either layout.

    Args:
        name (str): the weights file in ``rundir``: model.safetensors (the last epoch's), or
            best.safetensors (the epoch a validation split chose; it has no optimizer state).
        with_optimizer (bool): read the optimizer state too (what a resume needs; readers such
            as predict leave it). Default: True.
        expected (dict | None): {name: shape} of the model the weights are for: checked
            against the file's header before any tensor is read.

    Raises:
        RunError: one line: no weights file, not safetensors, another format, metadata or
            tensors the schema refuses, weights of another model, or an optimizer state that
            is missing, of another checkpoint or damaged.
    """
    rundir, path = Path(rundir), Path(rundir) / name
    if not path.is_file():
        raise RunError(f"{path}: no weights file; is {rundir} a finished or started run?")
    header, shapes = read_header(path)
    if header.get("format") == LEGACY_FORMAT:
        if expected is not None:
            check_fits(expected, {k[6:]: s for k, s in shapes.items()
                                  if k.startswith("model.")}, path)
        return _legacy(path, header, shapes, with_optimizer)
    if header.get("format") != WEIGHTS_FORMAT:
        raise RunError(f"{path}: written by another program or version "
                       f"(format {header.get('format')!r}, expected {WEIGHTS_FORMAT!r})")
    check(header, WEIGHTS_HEADER, f"{path} metadata")
    meta = check(_json(header, "meta", path), CHECKPOINT_META, f"{path} metadata 'meta'")
    if expected is not None:
        check_fits(expected, shapes, path)
    optim = {}
    if with_optimizer and header["optimizer_id"]:
        optim = _read_optimizer(rundir, header["optimizer_id"], shapes, meta.get("epoch", 0))
    return _tensors(path), optim, meta


def finish_checkpoint(rundir: Path) -> None:
    """The rename a kill interrupted after a checkpoint's commit (by the run's own writer)."""
    pending, weights = Path(rundir) / PENDING, Path(rundir) / WEIGHTS
    if pending.is_file() and weights.is_file():
        ident = read_header(weights)[0].get("optimizer_id")
        if ident and read_header(pending)[0].get("id") == ident:
            atomic_rename(pending, Path(rundir) / OPTIMIZER)


def load_weights(model: torch.nn.Module, weights: dict, source: Path) -> None:
    """Load weights, refusing with one clear line a checkpoint made for another model, or one
    holding NaN or infinite values (training stops before it would save such weights: every
    number they give is NaN, and argmax makes that class 0)."""
    check_fits(shapes(model), {k: tuple(v.shape) for k, v in weights.items()}, source)
    for name, value in weights.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise RunError(f"{source}: {name[:60]} holds NaN or infinite values; the weights "
                           f"are damaged (an edited file?): restore them or train again")
    model.load_state_dict(weights)


def load_optimizer(optimizer: torch.optim.Optimizer, state: dict) -> None:
    """Optimizer state from a checkpoint, each moment in its parameter's memory layout (as an
    uninterrupted run has them: channels-last weights have channels-last moments)."""
    if not state:
        return
    try:
        optimizer.load_state_dict(state)
    except (ValueError, KeyError, RuntimeError) as e:  # a state that does not fit this model
        raise RunError(f"the optimizer state in the checkpoint does not fit the model "
                       f"({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    for param, slots in optimizer.state.items():
        for key, value in slots.items():
            if torch.is_tensor(value) and value.shape == param.shape:
                slots[key] = torch.empty_like(param).copy_(value)
