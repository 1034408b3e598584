"""airbench94: the fastest known network to 94 % on CIFAR-10 (Jordan 2024), trained here on a CPU.

Keller Jordan's airbench (github.com/KellerJordan/cifar10-airbench, "94% on CIFAR-10 in 3.29
seconds on a single GPU", arXiv:2404.00498) reaches 94.01 % mean accuracy in 3.83 s on an A100
with 0.36 PFLOP of training compute. Its network is a plain VGG-like stack of three conv groups
with batch norm, and almost all of its speed comes from the training around it. What this file
keeps from it, and where each trick lives:

====================================  ==========================================================
trick                                 here
====================================  ==========================================================
patch-whitening first layer           ``PatchWhitening``: 2x2 filters fixed to the whitening
                                      transform of the training images' 2x2 patches (the
                                      eigenvectors of their covariance, +/-), set from the data
                                      by ``init_from_data`` before training; not trained
identity ("dirac") conv init          ``conv3x3``: each conv starts as a pass-through of its first
                                      input maps, so the untrained net is nearly a shallow one
frozen batch-norm scales              ``batch_norm``: gamma stays 1, only beta is learnt, and beta
                                      learns 64x faster (``lr_scale``: the trainer scales the
                                      rate of any parameter that carries one)
scaled logits                         ``Scale(1/9)`` (on the fc's inputs: the same thing)
SGD, Nesterov 0.85, batch 1,024,      the model's ``photos`` recipe below (the learning rate and
label smoothing 0.2, 2-pixel shifts,  weight decay converted from airbench's per-1,024-image
flips, bf16                           "decoupled" form to PyTorch's mean-loss form)
test-time flips                       ``convnet evaluate --flip``; ``test_accuracy_flip`` rows
====================================  ==========================================================

Left out (measured or reasoned in docs/performance.md): the lookahead EMA, alternating flips,
reflect padding, the 1-pixel translation views of the test-time augmentation, and the
"whitening bias trained for 3 epochs" rule. The CPU budget pays for more epochs instead.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from .. import layers as L
from .network import Network
from .registry import register_model

WIDTHS = (64, 256, 256)  # the three conv groups' filters (airbench94: base width 64, then 4x)
BIAS_LR_SCALE = 64.0     # batch-norm shifts learn this much faster (airbench's bias_scaler)


class Scale(nn.Module):
    """Multiply by a fixed number: y = a * x (airbench's 1/9 on the logits; no parameters).

    Shape:
        Input (N, *) -> Output (N, *), same shape.

    Example:
        >>> Scale(0.5)(torch.tensor([2.0, -4.0])).tolist()
        [1.0, -2.0]
    """

    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor

    def extra_repr(self) -> str:
        return f"factor={self.factor:g}"


class PatchWhitening(L.Conv2d):
    """A k x k convolution whose filters whiten the image's k x k patches; fixed, not trained.

    For the training images' k*k*C-dimensional patches with covariance Sigma = V diag(lambda) V^T,
    filter i is v_i / sqrt(lambda_i + eps) (and its negative, so that a ReLU-like activation
    keeps both signs): the outputs are decorrelated with unit variance, the decorrelation that
    plain gradient descent would spend many steps learning. ``init_from_data`` sets them.

    Args:
        in_channels (int): image channels C.
        kernel_size (int): patch side k. Default: 2 (airbench94).
        eps (float): added to each eigenvalue (keeps near-zero directions from exploding).
            Default: 5e-4.

    Shape:
        Input (N, C, H, W) -> Output (N, 2*k*k*C, H - k + 1, W - k + 1).
        Parameters: (2*k*k*C)*(k*k*C) fixed weights + 2*k*k*C biases.

    Example:
        >>> w = PatchWhitening(3)
        >>> x = torch.randn(64, 3, 8, 8) * torch.tensor([1.0, 2.0, 3.0]).view(1, 3, 1, 1)
        >>> w.init_from_data(x)
        >>> y = w(x)[:, :12].permute(0, 2, 3, 1).reshape(-1, 12)  # the + half, (N*7*7, 12)
        >>> bool(torch.allclose(torch.cov(y.T), torch.eye(12), atol=0.05))
        True
    """

    def __init__(self, in_channels: int, kernel_size: int = 2, eps: float = 5e-4):
        dims = kernel_size * kernel_size * in_channels
        super().__init__(in_channels, 2 * dims, kernel_size, padding=0, bias=True)
        self.eps = eps
        self.weight.requires_grad_(False)
        nn.init.zeros_(self.bias)

    @torch.no_grad()
    def init_from_data(self, images: torch.Tensor) -> None:
        """Set the filters from normalised training images (N, C, H, W), float."""
        c, k = self.in_channels, self.kernel_size[0]
        patches = images.float().unfold(2, k, 1).unfold(3, k, 1)  # (N, C, H', W', k, k)
        patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, c * k * k)  # (N*H'*W', C*k*k)
        covariance = patches.T @ patches / len(patches)  # (C*k*k, C*k*k)
        eigenvalues, eigenvectors = torch.linalg.eigh(covariance)  # ascending
        filters = (eigenvectors.T / (eigenvalues + self.eps).sqrt()[:, None]).flip(0)
        filters = filters.reshape(-1, c, k, k)  # (C*k*k, C, k, k), the strongest first
        self.weight.copy_(torch.cat([filters, -filters]))


def conv3x3(in_channels: int, out_channels: int) -> L.Conv2d:
    """3x3 "same" convolution without bias (batch norm follows), started as a pass-through:
    filter i < in_channels copies input map i (``nn.init.dirac_``), the rest keep their
    default random start."""
    conv = L.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
    nn.init.dirac_(conv.weight.data[:in_channels])
    return conv


def batch_norm(channels: int) -> nn.BatchNorm2d:
    """Batch norm with gamma fixed at 1 and a fast-learning beta (see the module docstring).

    Running statistics move 0.4 of the way to each batch's (airbench's momentum 0.6), so the
    eval-mode statistics follow a short schedule's fast-changing weights.
    """
    bn = L.BatchNorm2d(channels, eps=1e-12, momentum=0.4)
    bn.weight.requires_grad_(False)
    bn.bias.lr_scale = BIAS_LR_SCALE
    return bn


def conv_group(in_channels: int, out_channels: int) -> nn.Sequential:
    """conv, 2x2 max pool, batch norm, GELU, conv, batch norm, GELU (halves H and W)."""
    return nn.Sequential(OrderedDict(
        conv1=conv3x3(in_channels, out_channels), pool=L.MaxPool2d(2),
        bn1=batch_norm(out_channels), gelu1=nn.GELU(),
        conv2=conv3x3(out_channels, out_channels), bn2=batch_norm(out_channels),
        gelu2=nn.GELU()))


@register_model("airbench94", input_shape=(3, 32, 32), recipes={
    # airbench94's hyperparameters: lr 11.5 and weight decay 0.0153 per 1,024 images with
    # Nesterov momentum 0.85, summed loss -> PyTorch's mean loss: lr 11.5 / (1 + 1/0.15) = 1.5,
    # weight decay 0.0153 / (1 + 1/0.15) / 1.5 = 1.33e-3. Epochs: see docs/performance.md.
    "photos": {"epochs": 15, "batch_size": 1024, "lr": 1.5, "optimizer": "nesterov",
               "momentum": 0.85, "weight_decay": 1.33e-3, "label_smoothing": 0.2, "shift": 2,
               "flip": True, "precision": "bf16"},
    "digits": {"epochs": 3, "batch_size": 1024, "lr": 1.5, "optimizer": "nesterov",
               "momentum": 0.85, "weight_decay": 1.33e-3, "label_smoothing": 0.2, "shift": 2,
               "precision": "bf16"}})
def airbench94(num_classes: int = 10, in_chans: int = 3) -> Network:
    """airbench94's network (Jordan 2024): patch whitening, three conv groups, max pool, fc.

    32x32 -> whitening 2x2 (24 maps, 31x31) -> GELU -> groups of 64, 256, 256 filters
    (31 -> 15 -> 7 -> 3) -> 3x3 max pool (256 values) -> x 1/9 -> fc (no bias) -> softmax.
    Its whitening layer must see normalised training images before training (``convnet train``
    calls every layer's ``init_from_data``).

    >>> net = airbench94()
    >>> sum(p.numel() for p in net.parameters())
    1972792
    >>> net(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """
    whitening = PatchWhitening(in_chans)
    features = OrderedDict(whitening=whitening, gelu=nn.GELU())
    channels = whitening.out_channels
    for i, width in enumerate(WIDTHS, 1):
        features[f"group{i}"] = conv_group(channels, width)
        channels = width
    features["pool"] = L.MaxPool2d(3)
    # x/9 before the fc is (W x)/9 after it, in value and in every gradient; placed first, it
    # leaves the fc to fix the output size that the layer kinds read (Network.num_classes).
    head = nn.Sequential(OrderedDict(flatten=L.Flatten(), scale=Scale(1 / 9),
                                     fc1=L.Linear(channels, num_classes, bias=False),
                                     softmax=L.Softmax()))
    return Network(nn.Sequential(features), head, (in_chans, 32, 32))
