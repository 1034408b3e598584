"""Non-linearities: ReLU (the tutorials' choice), tanh, sigmoid, LeNet's scaled tanh, softmax."""

from __future__ import annotations

import torch
from torch import nn

ReLU, Tanh, Sigmoid = nn.ReLU, nn.Tanh, nn.Sigmoid


class ScaledTanh(nn.Module):
    """LeNet-1998's squashing function f(a) = A·tanh(S·a), A = 1.7159, S = 2/3.

    LeCun chose A and S so that f(1) = 1 and f(-1) = -1, and the second derivative is largest at
    ±1 (LeCun et al. 1998, Appendix A).

    Shape:
        Any shape -> the same shape.

    Example:
        >>> round(ScaledTanh()(torch.tensor([1.0])).item(), 4)
        1.0
    """

    amplitude, slope = 1.7159, 2.0 / 3.0
    __constants__ = ["amplitude", "slope"]  # class attributes torch.jit.script can read

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.amplitude * torch.tanh(self.slope * x)


class Softmax(nn.Softmax):
    """Softmax over classes: exp(z_i) / sum_j exp(z_j); outputs are in (0, 1) and sum to 1.

    Shape:
        Input (N, K) -> Output (N, K).

    Example:
        >>> p = Softmax()(torch.tensor([[1.0, 2.0, 3.0]]))
        >>> [round(v, 3) for v in p[0].tolist()], round(p.sum().item(), 6)
        ([0.09, 0.245, 0.665], 1.0)
    """

    def __init__(self):
        super().__init__(dim=1)

