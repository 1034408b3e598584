"""Data parallelism: one model per process, every global batch split across the processes.

Each process (a *rank*) holds the whole dataset and draws the same shuffled global batch, with
the same random shifts, as a single process would; it keeps only its own slice of the batch
(``shard``), so the ranks together see exactly the single-process batch. PyTorch's
DistributedDataParallel (gloo on CPU, NCCL on GPU) averages the gradients across ranks during
``backward``; each rank's loss is weighted by its share of the batch, so the averaged gradient
is the gradient of the global batch's mean loss, and the update equals the single-process one
up to float rounding (tested in tests/test_distributed.py). Rank 0 evaluates, logs and writes
the checkpoints; epoch metrics are summed over the ranks first.

Two ways to start:

    convnet train lenet5 --distributed 2              # spawns 2 processes on this machine
    torchrun --nproc-per-node 2 -m convnet train lenet5   # the world comes from torchrun's env

Batch norm statistics stay per rank (no SyncBatchNorm), so models with batch norm match a
single process only approximately; LeNet-5 has none.
"""

from __future__ import annotations

import gc
import os
import socket
import warnings
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from . import errors


class Logits(nn.Module):
    """The training forward (``model.train_logits``, the same numbers as ``model.logits``,
    faster) as a forward(), which is what DistributedDataParallel wraps."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        train_logits = getattr(self.model, "train_logits", self.model.logits)  # any nn.Module
        return train_logits(x)


def world() -> tuple[int, int]:
    """(rank, number of ranks) of this process: from torchrun's environment, else (0, 1)."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def setup(device: torch.device) -> torch.device:
    """Join the process group torchrun or ``launch`` described; this rank's device."""
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return device


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """The training forward pass (``Logits``): in DDP when there are several ranks."""
    if world()[1] == 1:
        return Logits(model)
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(Logits(model), device_ids=ids)


def shard(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
    """This rank's slice of a global batch, and its loss weight (n_rank * ranks / n_global).

    DDP averages gradients over ranks; weighting each rank's mean loss by its share makes that
    average the gradient of the global mean, also for a last batch that does not split evenly.
    """
    rank, size = world()
    if size == 1:
        return x, y, 1.0
    xs, ys = torch.tensor_split(x, size)[rank], torch.tensor_split(y, size)[rank]
    return xs, ys, len(ys) * size / max(1, len(y))


def total(*values: torch.Tensor) -> list[torch.Tensor]:
    """Each tensor summed over all ranks (identity with one rank)."""
    if world()[1] == 1:
        return list(values)
    out = []
    for v in values:
        v = v.clone()
        dist.all_reduce(v)
        out.append(v)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, target, cfg, size: int, port: int, results) -> None:
    """One spawned rank: join the group, run ``target(cfg)``, send rank 0's result home."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(size),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // size))  # the cores are shared
    if rank:
        warnings.simplefilter("ignore")  # rank 0 speaks for all: each warning once
    else:  # a spawned process starts with Python's multi-line format, not the CLI's
        errors.one_line_warnings()
    try:
        result = target(cfg)
        if rank == 0:
            results.put(("ok", result))
        finish()
    except errors.ConvnetError as e:
        results.put((type(e).__name__, str(e)))
        finish(wait=False)  # the other ranks may never get here: do not wait for them


def finish(wait: bool = True) -> None:
    """Leave the process group cleanly (no-op with one rank).

    Without this, a gloo rank that exits while its DDP reducer is still alive can abort at
    interpreter shutdown ("terminate called without an active exception", SIGABRT), which
    fails the whole launch after the training itself succeeded.
    """
    if not dist.is_initialized():
        return
    if wait:
        dist.barrier()  # no rank tears its connections down while another still uses them
    gc.collect()  # DDP's reducer sits in reference cycles: free it while gloo is still up
    dist.destroy_process_group()


def launch(target: Callable[[Any], dict], cfg, processes: int) -> dict:
    """Run ``target(cfg)`` on ``processes`` ranks on this machine; rank 0's result.

    ``target`` is the training entry point (``train.train_config``); it is passed in, not
    imported, so that this module stays below the trainer, and it must be a module-level
    function (the ranks are spawned processes and receive it by name).

    Raises:
        ConvnetError (the worker's own subclass): a rank failed with a convnet error.
        RunError: a rank died without one (killed, out of memory...).
    """
    import torch.multiprocessing as mp

    ctx = mp.get_context("spawn")
    results = ctx.SimpleQueue()
    cfg = replace(cfg, distributed=processes)  # rank 0 alone draws the progress bar
    try:
        mp.start_processes(_worker, (target, cfg, processes, free_port(), results),
                           nprocs=processes, start_method="spawn")
    except mp.ProcessRaisedException as e:
        raise errors.RunError(f"a training process failed: {str(e).strip().splitlines()[-1]}") \
            from None
    except mp.ProcessExitedException as e:
        raise errors.RunError(f"a training process died: {e}") from None
    status, value = results.get() if not results.empty() else ("RunError", "no result")
    if status != "ok":
        raise getattr(errors, status, errors.ConvnetError)(value)
    return value
