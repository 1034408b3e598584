"""Gradient descent, one step at a time: the optimizer, its learning rate at each step, the error
being minimised, and one forward-backward-update on a batch (``torch_step``).

Every function is a pure function of the config and the step, so a resumed run takes exactly the
same steps (convnet/train.py runs the loop around them).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from .config import TrainConfig
from .layers.losses import sse
from .runs import eval_mode


def init_from_data(model: torch.nn.Module, images: torch.Tensor, count: int = 5000) -> None:
    """Data-dependent initialisation: every layer with an ``init_from_data`` method (airbench's
    patch whitening) sees the first ``count`` normalised training images, before training."""
    for layer in model.modules():
        if hasattr(layer, "init_from_data"):
            layer.init_from_data(images[:count])


def make_optimizer(cfg: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    """Adam, or SGD for sgd, momentum and nesterov (the names check_config lets through).

    Parameters are grouped by their ``lr_scale`` attribute (1 if absent; airbench's batch-norm
    shifts carry 64): a group learns ``lr_scale`` times faster, with its weight decay divided by
    the same factor so that the decay per step stays the same for every weight.
    """
    scales: dict[float, list] = {}
    for p in model.parameters():
        scales.setdefault(float(getattr(p, "lr_scale", 1.0)), []).append(p)
    params = [{"params": ps, "lr_scale": s, "weight_decay": cfg.weight_decay / s}
              for s, ps in scales.items()]
    if cfg.optimizer == "adam":
        # One fused kernel for every tensor's update instead of about ten operations per tensor:
        # LeNet-5's step spends 0.56 ms in it instead of 1.46 (torch.profiler, batch 128).
        fused = all(p.device.type in ("cpu", "cuda") for p in model.parameters())
        return torch.optim.Adam(params, lr=cfg.lr, fused=fused or None)
    momentum = cfg.momentum if cfg.optimizer != "sgd" else 0.0
    return torch.optim.SGD(params, lr=cfg.lr, momentum=momentum,
                           nesterov=cfg.optimizer == "nesterov")


def learning_rate(cfg: TrainConfig, step: int, total: int) -> float:
    """One-cycle: linear warm-up over the first 20 % of steps, then cosine decay to zero.

    A pure function of the step (no scheduler state), so a resumed run gets the same rates.
    """
    if cfg.schedule == "constant":
        return cfg.lr
    warm = max(1, int(0.2 * total))
    if step < warm:
        return cfg.lr * (step + 1) / warm
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))


def loss_fn(cfg: TrainConfig, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy, or ``sse`` (the names check_config lets through)."""
    if cfg.loss == "sse":  # the tutorials' total error, summed over classes, mean over images
        return sse(logits.softmax(dim=1), y)
    return F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing or 0.0)


def torch_step(cfg: TrainConfig, forward: Callable[[torch.Tensor], torch.Tensor],
               opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, lr: float,
               weight: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward, loss, backward and update on one batch with autograd; (loss, logits).

    ``forward`` maps images to logits (``distributed.wrap``: the model, or DDP around it);
    ``weight`` scales the loss that is differentiated (a rank's share of the global batch).
    """
    for group in opt.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)  # runs saved before groups had none
    if cfg.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    # No image (a rank's slice of a last batch smaller than the ranks): the forward runs in eval
    # mode, so that batch norm does not fold the mean of nothing (NaN) into its statistics, and
    # the loss is zero, not that NaN mean, so this rank adds zero gradients to the all-reduce.
    empty = eval_mode(forward) if not len(y) else contextlib.nullcontext()
    with empty, torch.autocast(x.device.type, torch.bfloat16, enabled=cfg.precision == "bf16"):
        logits = forward(x)
    loss = loss_fn(cfg, logits.float(), y) if len(y) else logits.float().sum() * 0.0
    opt.zero_grad(set_to_none=True)
    (loss * weight if weight != 1.0 else loss).backward()
    opt.step()
    return loss.detach(), logits.detach()


def epoch_generator(cfg: TrainConfig, epoch: int) -> torch.Generator:
    """Shuffling and augmentation depend only on (seed, epoch): resume replays them exactly."""
    torch.manual_seed(cfg.seed * 100_003 + epoch)  # dropout uses the global generator
    return torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
