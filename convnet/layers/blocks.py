"""The blocks the classic architectures repeat: conv+BN+ReLU, residual, dense, Inception, LRN.

Each block is a small module whose children have names (``conv1``, ``bn1``, ``branch2`` ...), so
a model built from them prints, summarises and hooks as ``layer1.0.conv1`` rather than ``3.2``.
The parameter-free glue (the residual ``+``, the dense and Inception concatenations) lives in
``forward`` and so has no row of its own in a summary.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from .conv import Conv2d
from .pool import AvgPool2d, MaxPool2d


class LocalResponseNorm(nn.LocalResponseNorm):
    """AlexNet's local response normalisation across ``size`` neighbouring maps.

    b_c = a_c / (k + alpha * sum_{c' near c} a_c'^2)^beta, the sum over ``size`` maps centred
    on c (Krizhevsky et al. 2012, section 3.3; ZF Net's "contrast normalisation" across maps).
    ``torch.nn.LocalResponseNorm`` (like Caffe) divides alpha by ``size``; we pass it
    ``alpha * size`` so that ``alpha`` here means the paper's alpha.

    Args:
        size (int): number of neighbouring maps n in each sum. Default: 5 (paper).
        alpha (float): the paper's alpha. Default: 1e-4.
        beta (float): exponent. Default: 0.75.
        k (float): additive constant. Default: 2.

    Shape:
        Input (N, C, H, W) -> Output (N, C, H, W); no parameters.

    Example:
        >>> x = torch.full((1, 5, 1, 1), 10.0)   # centre map: 10 / (2 + 1e-4 * 5 * 100)**0.75
        >>> round(LocalResponseNorm()(x)[0, 2, 0, 0].item(), 4), round(10 / 2.05 ** 0.75, 4)
        (5.8369, 5.8369)
    """

    def __init__(self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0):
        super().__init__(size, alpha * size, beta, k)
        self.paper_alpha = alpha

    def extra_repr(self) -> str:
        return f"size={self.size}, alpha={self.paper_alpha:g}, beta={self.beta:g}, k={self.k:g}"


class ConvBNAct(nn.Sequential):
    """Convolution (no bias: batch norm's shift replaces it), batch norm, then ReLU.

    Args:
        in_channels (int): input maps.
        out_channels (int): filters.
        kernel_size (int): filter side k. Default: 3.
        stride (int): step. Default: 1.
        padding (int | str | None): zeros per side; None means k // 2 (keeps H at stride 1).
        act (bool): end with ReLU (False for the last conv of a residual branch). Default: True.

    Shape:
        Input (N, C_in, H, W) -> Output (N, C_out, H_out, W_out), as Conv2d:
        H_out = floor((H + 2*padding - k) / stride) + 1. Parameters: k*k*C_in*C_out + 2*C_out.

    Example:
        >>> block = ConvBNAct(3, 16, 3)
        >>> [n for n, _ in block.named_children()], block(torch.zeros(2, 3, 8, 8)).shape
        (['conv', 'bn', 'act'], torch.Size([2, 16, 8, 8]))
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3,
                 stride: int = 1, padding: int | str | None = None, act: bool = True):
        padding = kernel_size // 2 if padding is None else padding
        layers = OrderedDict(conv=Conv2d(in_channels, out_channels, kernel_size, stride, padding,
                                         bias=False),
                             bn=nn.BatchNorm2d(out_channels))
        if act:
            layers["act"] = nn.ReLU()
        super().__init__(layers)


class ZeroPadShortcut(nn.Module):
    """He et al.'s option-A shortcut: subsample by ``stride``, append zero maps; no parameters.

    Shape:
        Input (N, C_in, H, W) -> Output (N, C_out, ceil(H / stride), ceil(W / stride)).

    Example:
        >>> ZeroPadShortcut(16, 32, 2)(torch.ones(1, 16, 8, 8)).shape
        torch.Size([1, 32, 4, 4])
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.extra, self.stride = out_channels - in_channels, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, ::self.stride, ::self.stride]  # (N, C, H, W) -> (N, C, H/s, W/s)
        return F.pad(x, (0, 0, 0, 0, 0, self.extra))  # (N, C, ...) -> (N, C + extra, ...)


def _shortcut(in_channels: int, out_channels: int, stride: int, option: str) -> nn.Module:
    """Identity when shapes match; else option "A" (zero maps) or "B" (1x1 conv + BN)."""
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    if option == "A":
        return ZeroPadShortcut(in_channels, out_channels, stride)
    return ConvBNAct(in_channels, out_channels, 1, stride, act=False)


class ResidualBlock(nn.Module):
    """ResNet's basic block: relu(x + bn2(conv2(relu(bn1(conv1(x)))))), two 3x3 convolutions.

    Args:
        in_channels (int): input maps.
        out_channels (int): maps of both convolutions and of the output.
        stride (int): stride of conv1 (2 halves H and W at a stage's first block). Default: 1.
        shortcut (str): when the shape changes, "B" projects x with a 1x1 conv + BN
            (torchvision's ResNet-18/34), "A" subsamples and pads with zero maps. Default: "B".

    Shape:
        Input (N, C_in, H, W) -> Output (N, C_out, ceil(H / stride), ceil(W / stride)).

    Example:
        >>> block = ResidualBlock(16, 32, stride=2)
        >>> block(torch.zeros(1, 16, 8, 8)).shape, [n for n, _ in block.named_children()]
        (torch.Size([1, 32, 4, 4]), ['conv1', 'bn1', 'relu1', 'conv2', 'bn2', 'shortcut', 'relu2'])
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, shortcut: str = "B"):
        super().__init__()
        self.conv1 = Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu1 = nn.ReLU()
        self.conv2 = Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = _shortcut(in_channels, out_channels, stride, shortcut)
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + self.shortcut(x))  # the residual sum: no module, no parameters


class Bottleneck(nn.Module):
    """ResNet-50's block: 1x1 reduce to ``width``, 3x3 (carrying the stride), 1x1 expand x4.

    The stride sits on the 3x3 convolution as in torchvision ("ResNet v1.5"); the paper put it on
    the first 1x1. The parameter count is the same either way.

    Args:
        in_channels (int): input maps.
        width (int): maps inside the block; the output has ``4 * width``.
        stride (int): stride of the 3x3 convolution. Default: 1.

    Shape:
        Input (N, C_in, H, W) -> Output (N, 4*width, ceil(H / stride), ceil(W / stride)).

    Example:
        >>> Bottleneck(64, 64)(torch.zeros(1, 64, 8, 8)).shape
        torch.Size([1, 256, 8, 8])
    """

    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int = 1):
        super().__init__()
        out_channels = width * self.expansion
        self.conv1 = Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu1 = nn.ReLU()
        self.conv2 = Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.relu2 = nn.ReLU()
        self.conv3 = Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.shortcut = _shortcut(in_channels, out_channels, stride, "B")
        self.relu3 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.relu2(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu3(out + self.shortcut(x))


class DenseLayer(nn.Module):
    """DenseNet-BC's layer: BN-ReLU-1x1 conv to ``bn_size*growth``, BN-ReLU-3x3 conv to
    ``growth`` new maps, then concatenated after its input (Huang et al. 2016).

    Args:
        in_channels (int): input maps (everything earlier in the block).
        growth (int): new maps k this layer adds.
        bn_size (int): width of the 1x1 bottleneck, in multiples of k. Default: 4.

    Shape:
        Input (N, C, H, W) -> Output (N, C + growth, H, W).

    Example:
        >>> DenseLayer(16, 12)(torch.zeros(1, 16, 8, 8)).shape
        torch.Size([1, 28, 8, 8])
    """

    def __init__(self, in_channels: int, growth: int, bn_size: int = 4):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.relu1 = nn.ReLU()
        self.conv1 = Conv2d(in_channels, bn_size * growth, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth)
        self.relu2 = nn.ReLU()
        self.conv2 = Conv2d(bn_size * growth, growth, 3, 1, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        new = self.conv1(self.relu1(self.norm1(x)))
        new = self.conv2(self.relu2(self.norm2(new)))
        return torch.cat([x, new], dim=1)  # (N, C, H, W) + (N, k, H, W) -> (N, C + k, H, W)


class DenseBlock(nn.Sequential):
    """``num_layers`` DenseLayers named denselayer1, denselayer2, ...: each sees every earlier map.

    Args:
        num_layers (int): layers in the block.
        in_channels (int): input maps C.
        growth (int): maps each layer adds (k). bn_size as DenseLayer. Default: 4.

    Shape:
        Input (N, C, H, W) -> Output (N, C + num_layers*growth, H, W).

    Example:
        >>> DenseBlock(6, 64, 32)(torch.zeros(1, 64, 4, 4)).shape   # 64 + 6*32
        torch.Size([1, 256, 4, 4])
    """

    def __init__(self, num_layers: int, in_channels: int, growth: int, bn_size: int = 4):
        super().__init__(OrderedDict(
            (f"denselayer{i + 1}", DenseLayer(in_channels + i * growth, growth, bn_size))
            for i in range(num_layers)))


class Transition(nn.Sequential):
    """DenseNet's transition between blocks: BN, ReLU, 1x1 conv (compression), 2x2 avg pool.

    Args:
        in_channels (int): input maps.
        out_channels (int): maps after the 1x1 conv (DenseNet-BC: half the input).

    Shape:
        Input (N, C_in, H, W) -> Output (N, C_out, floor(H / 2), floor(W / 2)).

    Example:
        >>> Transition(256, 128)(torch.zeros(1, 256, 8, 8)).shape
        torch.Size([1, 128, 4, 4])
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(OrderedDict(norm=nn.BatchNorm2d(in_channels), relu=nn.ReLU(),
                                     conv=Conv2d(in_channels, out_channels, 1, bias=False),
                                     pool=AvgPool2d(2)))


class Inception(nn.Module):
    """GoogLeNet's Inception module: four parallel branches concatenated along the maps.

    branch1: 1x1; branch2: 1x1 reduce then 3x3; branch3: 1x1 reduce then ``big_kernel``;
    branch4: 3x3 max pool (stride 1) then 1x1 projection. Every conv is a ConvBNAct.

    Args:
        in_channels (int): input maps.
        c1 (int): branch1 filters.
        c3_reduce, c3 (int): branch2 1x1 and 3x3 filters.
        c5_reduce, c5 (int): branch3 1x1 and big-kernel filters.
        pool_proj (int): branch4 filters.
        big_kernel (int): branch3's second kernel: 5 in the paper; torchvision's GoogLeNet uses
            3 (a known slip kept for its pretrained weights, pytorch/vision#906). Default: 5.

    Shape:
        Input (N, C_in, H, W) -> Output (N, c1 + c3 + c5 + pool_proj, H, W).

    Example:
        >>> Inception(192, 64, 96, 128, 16, 32, 32)(torch.zeros(1, 192, 28, 28)).shape
        torch.Size([1, 256, 28, 28])
    """

    def __init__(self, in_channels: int, c1: int, c3_reduce: int, c3: int, c5_reduce: int,
                 c5: int, pool_proj: int, big_kernel: int = 5):
        super().__init__()
        self.branch1 = ConvBNAct(in_channels, c1, 1)
        self.branch2 = nn.Sequential(ConvBNAct(in_channels, c3_reduce, 1),
                                     ConvBNAct(c3_reduce, c3, 3))
        self.branch3 = nn.Sequential(ConvBNAct(in_channels, c5_reduce, 1),
                                     ConvBNAct(c5_reduce, c5, big_kernel))
        self.branch4 = nn.Sequential(MaxPool2d(3, 1, 1), ConvBNAct(in_channels, pool_proj, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = [self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)]
        return torch.cat(branches, dim=1)  # 4 x (N, C_i, H, W) -> (N, sum C_i, H, W)
