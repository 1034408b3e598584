"""One training step through the NumPy engine, for ``convnet train --engine numpy``.

``fit()`` keeps its loop, batches, augmentation and learning-rate schedule; only the step
(forward, loss, backward, update) runs here, on a ``NumpyNetwork`` copy of the torch model.
``sync()`` writes the weights and the optimizer moments back into the torch model and the
torch optimizer (in torch.optim's own state format), so checkpoints are the usual safetensors
file and a run can be resumed, evaluated or loaded by either engine.

Example:
    >>> import torch
    >>> from types import SimpleNamespace
    >>> from convnet import create_model
    >>> cfg = SimpleNamespace(optimizer="sgd", momentum=0.9, weight_decay=0.0,
    ...                       loss="cross-entropy", label_smoothing=0.0, seed=0)
    >>> _ = torch.manual_seed(0)  # the fresh weights: this example's numbers, whatever ran before
    >>> model = create_model("lenet5")
    >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
    >>> trainer = NumpyTrainer(cfg, model, opt)
    >>> loss, logits = trainer.step(torch.zeros(4, 1, 32, 32), torch.tensor([0, 1, 2, 3]), 0.1)
    >>> logits.shape, round(loss.item(), 1)   # about log 10 = 2.3 for a fresh network
    (torch.Size([4, 10]), 2.3)
"""

from __future__ import annotations

import numpy as np
import torch

from .losses import cross_entropy, sse
from .network import NumpyNetwork
from .optim import SGD, Adam


class NumpyTrainer:
    """The NumPy twin of a torch model + optimizer pair, stepped with torch tensors in and out.

    Args:
        cfg (TrainConfig): reads optimizer, momentum, weight_decay, loss, label_smoothing, seed;
            its names were checked by ``config.check_config`` (which refuses nesterov here).
        model (Network): the torch model; its current weights are copied in.
        torch_opt (torch.optim.Optimizer): its state (Adam moments, SGD momentum buffers), if
            any (a resumed run), is copied in; ``sync`` writes the NumPy state back to it.

    Raises:
        ModelError: for a model with a layer the NumPy engine does not have.
    """

    def __init__(self, cfg, model: torch.nn.Module, torch_opt: torch.optim.Optimizer):
        self.cfg, self.model, self.torch_opt = cfg, model, torch_opt
        self.net = NumpyNetwork.from_torch(model, seed=cfg.seed)
        self.opt = make_numpy_optimizer(cfg, self.net.params)
        self.torch_params = dict(model.named_parameters())
        load_optimizer_state(self.opt, torch_opt, self.torch_params)

    def step(self, x: torch.Tensor, y: torch.Tensor, lr: float
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward, loss, backward and update on one batch; (loss, logits) as torch tensors."""
        self.net.train(True)
        labels = y.cpu().numpy()
        logits = self.net.logits(x.detach().cpu().numpy())  # (N, C, H, W) -> (N, K)
        if self.cfg.loss == "sse":
            loss, dlogits = sse(logits, labels)
        else:  # cross-entropy, the only other loss check_config lets through
            loss, dlogits = cross_entropy(logits, labels, self.cfg.label_smoothing)
        self.net.backward(dlogits)
        self.opt.lr = lr
        self.opt.step(self.net.grads)
        return (torch.tensor(loss, device=x.device),
                torch.from_numpy(logits).to(x.device))

    def sync(self) -> None:
        """Copy the weights into the torch model and the moments into the torch optimizer."""
        device = next(self.model.parameters()).device
        self.net.copy_to(self.model.cpu())
        self.model.to(device)
        save_optimizer_state(self.opt, self.torch_opt, self.torch_params)


def make_numpy_optimizer(cfg, params: dict[str, np.ndarray]) -> SGD | Adam:
    """The NumPy twin of ``train.make_optimizer`` (its learning rate is set at every step) for
    adam, sgd or momentum (``config.check_config`` refuses the others with --engine numpy)."""
    if cfg.optimizer == "adam":
        return Adam(params, lr=0.0, weight_decay=cfg.weight_decay)
    momentum = cfg.momentum if cfg.optimizer == "momentum" else 0.0
    return SGD(params, lr=0.0, momentum=momentum, weight_decay=cfg.weight_decay)


def save_optimizer_state(opt: SGD | Adam, torch_opt: torch.optim.Optimizer,
                         params: dict[str, torch.nn.Parameter]) -> None:
    """Write Adam's (step, m, v) or SGD's momentum buffers into ``torch_opt.state``."""
    for name, p in params.items():
        if isinstance(opt, Adam) and opt.t:
            torch_opt.state[p] = {"step": torch.tensor(float(opt.t)),
                                  "exp_avg": torch.from_numpy(opt.m[name].copy()).to(p.device),
                                  "exp_avg_sq": torch.from_numpy(opt.v[name].copy()).to(p.device)}
        elif isinstance(opt, SGD) and name in opt.velocity:
            buf = torch.from_numpy(opt.velocity[name].copy()).to(p.device)
            torch_opt.state[p] = {"momentum_buffer": buf}


def load_optimizer_state(opt: SGD | Adam, torch_opt: torch.optim.Optimizer,
                         params: dict[str, torch.nn.Parameter]) -> None:
    """Read ``torch_opt.state`` (e.g. from a checkpoint) into the NumPy optimizer."""
    for name, p in params.items():
        state = torch_opt.state.get(p, {})
        if isinstance(opt, Adam) and "exp_avg" in state:
            opt.t = int(state["step"])
            opt.m[name][...] = state["exp_avg"].detach().cpu().numpy()
            opt.v[name][...] = state["exp_avg_sq"].detach().cpu().numpy()
        elif isinstance(opt, SGD) and state.get("momentum_buffer") is not None:
            opt.velocity[name] = state["momentum_buffer"].detach().cpu().numpy().copy()
