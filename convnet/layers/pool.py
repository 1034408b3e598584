"""Spatial pooling: max, average, sum, LeNet's trainable subsampling, and global average.

Pooling shrinks each feature map independently (the depth is unchanged) by summarising every
window with one number, which makes the representation smaller and more tolerant to small shifts.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MaxPool2d(nn.MaxPool2d):
    """Max pooling: each output is the largest value in its window.

    Args:
        kernel_size (int): side of the square window.
        stride (int, optional): step between windows. Default: kernel_size.
        padding (int): implicit -inf padding on every side. Default: 0.

    Shape:
        Input (N, C, H, W) -> Output (N, C, H_out, W_out), where
        H_out = floor((H + 2*padding - kernel_size) / stride) + 1, and likewise W_out.

    Example:
        >>> x = torch.tensor([[[[1., 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]]]])
        >>> MaxPool2d(2)(x).flatten().tolist()
        [6.0, 8.0, 3.0, 4.0]
    """


class AvgPool2d(nn.AvgPool2d):
    """Average pooling: each output is the mean of its window (padding zeros are counted).

    Args and Shape as MaxPool2d.

    Example:
        >>> x = torch.tensor([[[[1., 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]]]])
        >>> AvgPool2d(2)(x).flatten().tolist()
        [3.25, 5.25, 2.0, 2.0]
    """


class SumPool2d(nn.Module):
    """Sum pooling: each output is the sum of its window (the tutorials' third kind of pooling).

    No framework ships it; it is average pooling times the window area (zeros padded are counted
    as zeros, so the identity holds with padding too).

    Args and Shape as MaxPool2d.

    Example:
        >>> x = torch.tensor([[[[1., 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]]]])
        >>> SumPool2d(2)(x).flatten().tolist()
        [13.0, 21.0, 8.0, 8.0]
    """

    def __init__(self, kernel_size: int, stride: int | None = None, padding: int = 0):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride or kernel_size
        self.padding = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.window_sum(x)

    def window_sum(self, x: torch.Tensor) -> torch.Tensor:
        area = self.kernel_size * self.kernel_size
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding,
                            count_include_pad=True) * area

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class Subsample2d(SumPool2d):
    """LeNet-1998's subsampling layer (S2, S4): window sum × learned coefficient + learned bias.

    Each map c has its own coefficient a_c and bias b_c: y = a_c * sum(window) + b_c, so the layer
    has 2*C parameters (12 for S2, 32 for S4). The paper follows it with the squashing function.

    Args:
        channels (int): number of input maps C. Other arguments as SumPool2d.

    Shape:
        As SumPool2d.

    Example:
        >>> s2 = Subsample2d(6, 2)
        >>> s2(torch.zeros(1, 6, 28, 28)).shape, sum(p.numel() for p in s2.parameters())
        (torch.Size([1, 6, 14, 14]), 12)
    """

    def __init__(self, channels: int, kernel_size: int, stride: int | None = None,
                 padding: int = 0):
        super().__init__(kernel_size, stride, padding)
        # A window sum of k*k inputs: a coefficient of 1/(k*k) starts it as an average.
        self.weight = nn.Parameter(torch.full((channels,), 1.0 / (kernel_size * kernel_size)))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        summed = self.window_sum(x)  # not super().forward: torch.jit.script has no super()
        return summed * self.weight[:, None, None] + self.bias[:, None, None]


class GlobalAvgPool2d(nn.Module):
    """Global average pooling: one mean per map, (N, C, H, W) -> (N, C).

    Example:
        >>> GlobalAvgPool2d()(torch.ones(2, 3, 4, 4)).shape
        torch.Size([2, 3])
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))  # (N, C, H, W) -> (N, C)
