"""Gradient descent updates, with torch.optim's formulas so one step matches it number for number.

An optimizer holds the network's ``params`` dict ({name: array}) and updates those arrays in
place, so the network sees the new weights; ``lr`` is a plain attribute the trainer may set
before every step (a learning-rate schedule).

Example:
    >>> w = {"w": np.array([1.0, 2.0])}
    >>> opt = SGD(w, lr=0.1)
    >>> opt.step({"w": np.array([10.0, -10.0])})
    >>> w["w"].tolist()   # w - lr * g
    [0.0, 3.0]
"""

from __future__ import annotations

import numpy as np


class SGD:
    """Stochastic gradient descent, with optional momentum and L2 weight decay (torch.optim.SGD).

    For each parameter p with gradient g:
        g = g + weight_decay * p
        v = g on the first step, then v = momentum * v + g      (only when momentum > 0)
        p = p - lr * v                                            (v = g without momentum)

    Args:
        params (dict[str, ndarray]): the arrays to update in place.
        lr (float): learning rate (step size).
        momentum (float): how much of the previous step is kept. Default: 0.
        weight_decay (float): L2 penalty coefficient added to the gradient. Default: 0.
    """

    def __init__(self, params: dict[str, np.ndarray], lr: float, momentum: float = 0.0,
                 weight_decay: float = 0.0):
        self.params, self.lr = params, lr
        self.momentum, self.weight_decay = momentum, weight_decay
        self.velocity: dict[str, np.ndarray] = {}

    def step(self, grads: dict[str, np.ndarray]) -> None:
        for name, g in grads.items():
            p = self.params[name]
            if self.weight_decay:
                g = g + self.weight_decay * p
            if self.momentum:
                v = self.velocity.get(name)
                v = g.copy() if v is None else self.momentum * v + g
                self.velocity[name] = g = v
            p -= self.lr * g


class Adam:
    """Adam (Kingma & Ba 2015), as torch.optim.Adam (weight decay added to the gradient).

    For each parameter p with gradient g, at step t = 1, 2, ...:
        g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g          (running mean of the gradient)
        v = beta2 * v + (1 - beta2) * g^2        (running mean of its square)
        p = p - lr / (1 - beta1^t) * m / (sqrt(v / (1 - beta2^t)) + eps)

    Args:
        params (dict[str, ndarray]): the arrays to update in place.
        lr (float): learning rate. Default: 1e-3.
        betas (tuple[float, float]): decay rates of m and v. Default: (0.9, 0.999).
        eps (float): keeps the denominator away from zero. Default: 1e-8.
        weight_decay (float): L2 penalty coefficient. Default: 0.
    """

    def __init__(self, params: dict[str, np.ndarray], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        self.params, self.lr = params, lr
        self.betas, self.eps, self.weight_decay = betas, eps, weight_decay
        self.t = 0
        self.m = {name: np.zeros_like(p) for name, p in params.items()}
        self.v = {name: np.zeros_like(p) for name, p in params.items()}

    def step(self, grads: dict[str, np.ndarray]) -> None:
        beta1, beta2 = self.betas
        self.t += 1
        step_size = self.lr / (1 - beta1 ** self.t)
        root_correction = (1 - beta2 ** self.t) ** 0.5
        for name, g in grads.items():
            p, m, v = self.params[name], self.m[name], self.v[name]
            if self.weight_decay:
                g = g + self.weight_decay * p
            m += (1 - beta1) * (g - m)
            v *= beta2
            v += (1 - beta2) * g * g
            p -= step_size * m / (np.sqrt(v) / root_correction + self.eps)
