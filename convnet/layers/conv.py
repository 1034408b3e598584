"""Convolution: a bank of filters slid over the input (the tutorials' first operation).

Each filter spans all input channels and adds one bias, so one output map is
``sum over channels of (input channel ⊛ filter slice) + bias``. The number of filters is the
depth of the output.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..shapes import same_padding


class Conv2d(nn.Conv2d):
    """2-D convolution with "valid", "same" or explicit zero-padding.

    Args:
        in_channels (int): channels of the input (every filter spans all of them).
        out_channels (int): number of filters = depth of the output.
        kernel_size (int): side k of each square filter.
        stride (int): step between filter positions. Default: 1.
        padding (str | int): "valid" (no zeros), "same" (output = ceil(H / stride); when the
            zeros needed are odd, the extra one goes bottom/right, as in TensorFlow/Keras) or a
            number of zeros on every side. Default: "valid".
        bias (bool): add one learnable bias per filter. Default: True.

    Shape:
        Input (N, C_in, H, W) -> Output (N, C_out, H_out, W_out), where
        H_out = floor((H + pad_top + pad_bottom - k) / stride) + 1, and likewise W_out.
        weight: (C_out, C_in, k, k), bias: (C_out,), both U(-1/sqrt(C_in k k), +1/sqrt(C_in k k)).

    Example:
        >>> conv = Conv2d(1, 6, 5)
        >>> conv(torch.zeros(1, 1, 32, 32)).shape
        torch.Size([1, 6, 28, 28])
        >>> Conv2d(1, 1, 4, padding="same")(torch.zeros(1, 1, 28, 28)).shape
        torch.Size([1, 1, 28, 28])
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: str | int = "valid", bias: bool = True):
        symmetric = padding if isinstance(padding, int) else 0
        super().__init__(in_channels, out_channels, kernel_size, stride, symmetric, bias=bias)
        self.mode = padding  # "valid", "same" or an int, as given (shown, explained)
        # forward reads a bool, not the str-or-int mode: TorchScript compares only like types,
        # so torch.jit.script works on every model ("same" is resolved per input size).
        self.same = padding == "same"

    def pads(self, height: int, width: int) -> tuple[int, int, int, int]:
        """Zeros (top, bottom, left, right) added to an input of this size."""
        if self.same:
            k, s = self.kernel_size[0], self.stride[0]
            return same_padding(height, k, s) + same_padding(width, k, s)
        p = self.padding[0]
        return (p, p, p, p)

    def effective_weight(self) -> torch.Tensor:
        return self.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.effective_weight()
        if self.same:
            top, bottom, left, right = self.pads(x.shape[-2], x.shape[-1])
            if top == bottom and left == right:  # symmetric: let the kernel pad (faster)
                return F.conv2d(x, weight, self.bias, self.stride, (top, left))
            x = F.pad(x, (left, right, top, bottom))  # (N, C, H, W) -> (N, C, H+t+b, W+l+r)
            return F.conv2d(x, weight, self.bias, self.stride)
        return F.conv2d(x, weight, self.bias, self.stride, self.padding)

    def extra_repr(self) -> str:
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size[0]}"
        if self.stride[0] != 1:
            text += f", stride={self.stride[0]}"
        if self.mode != "valid" and self.mode != 0:
            text += f", padding={self.mode!r}"
        return text + ("" if self.bias is not None else ", bias=False")


def lenet_c3_table() -> torch.Tensor:
    """LeNet-5's partial connection table between S2's 6 maps and C3's 16 (LeCun 1998, Table I).

    Maps 0-5 read 3 neighbouring S2 maps, 6-11 read 4 neighbouring, 12-14 read 4 non-neighbouring,
    and map 15 reads all 6: 60 connections. The paper's reason: break symmetry between maps and
    keep the number of connections "within reasonable bounds".

    Example:
        >>> t = lenet_c3_table()
        >>> tuple(t.shape), int(t.sum())
        ((16, 6), 60)
        >>> t[12].nonzero().flatten().tolist()
        [0, 1, 3, 4]
    """
    table = torch.zeros(16, 6)
    for out in range(6):
        table[out, [(out + i) % 6 for i in range(3)]] = 1
    for out in range(6, 12):
        table[out, [(out - 6 + i) % 6 for i in range(4)]] = 1
    for out, ins in zip((12, 13, 14), ([0, 1, 3, 4], [1, 2, 4, 5], [0, 2, 3, 5])):
        table[out, ins] = 1
    table[15] = 1
    return table  # (C_out, C_in)


class ConnectionTableConv2d(Conv2d):
    """A convolution where output map j only sees the input maps that ``table[j]`` marks.

    Args:
        table (Tensor): (C_out, C_in) of 0/1; the other arguments are as for Conv2d.

    Shape:
        As Conv2d. Only connected filter slices are learnable: the number of parameters is
        k*k*connections + C_out (1,516 for LeNet-5's C3).

    Example:
        >>> c3 = ConnectionTableConv2d(6, 16, 5, table=lenet_c3_table())
        >>> c3(torch.zeros(1, 6, 14, 14)).shape, c3.num_parameters()
        (torch.Size([1, 16, 10, 10]), 1516)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 table: torch.Tensor, stride: int = 1, padding: str | int = "valid",
                 bias: bool = True):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, bias)
        self.register_buffer("table", table.float().clone(), persistent=False)
        with torch.no_grad():  # unconnected weights start (and, masked, stay) at zero
            self.weight.mul_(self.table[:, :, None, None])

    def effective_weight(self) -> torch.Tensor:
        return self.weight * self.table[:, :, None, None]  # (C_out, C_in, k, k), zeros unconnected

    def num_parameters(self) -> int:
        k = self.kernel_size[0]
        bias = self.out_channels if self.bias is not None else 0
        return int(self.table.sum().item()) * k * k + bias
