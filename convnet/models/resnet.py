"""ResNets (He et al. 2015): stacks of residual blocks, each adding its input to its output.

The shortcut lets a block learn a correction F(x) to x instead of a whole mapping, which is what
made 34-, 50- and 152-layer networks trainable. ImageNet models follow torchvision (stride on the
3x3 of a bottleneck, option-B projection shortcuts); ``resnet20`` is the paper's CIFAR network.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from .. import layers as L
from .registry import register_model
from .network import Network

# (block, blocks per stage); the stages have 64, 128, 256, 512 inner maps (Table 1 of the paper).
IMAGENET_CFGS = {
    "resnet18": (L.ResidualBlock, (2, 2, 2, 2)),
    "resnet34": (L.ResidualBlock, (3, 4, 6, 3)),
    "resnet50": (L.Bottleneck, (3, 4, 6, 3)),
}


def make_stage(block: type, in_channels: int, width: int, blocks: int, stride: int,
               **kwargs) -> tuple[nn.Sequential, int]:
    """``blocks`` blocks named 0, 1, ...; only the first changes the stride and width.

    Returns the stage and its output maps (``width``, or ``4 * width`` for Bottleneck).
    """
    expansion = getattr(block, "expansion", 1)
    layers = []
    for i in range(blocks):
        layers.append(block(in_channels, width, stride if i == 0 else 1, **kwargs))
        in_channels = width * expansion
    return nn.Sequential(*layers), in_channels


def _head(in_features: int, num_classes: int) -> nn.Sequential:
    """Global average pooling, one fully connected layer, softmax (logits() stops before it)."""
    return nn.Sequential(OrderedDict(gap=L.GlobalAvgPool2d(),  # (N, C, H, W) -> (N, C)
                                     fc1=L.Linear(in_features, num_classes),
                                     softmax=L.Softmax()))


def _imagenet_resnet(name: str, num_classes: int, in_chans: int) -> Network:
    """Stem (7x7/2 conv, BN, ReLU, 3x3/2 max pool), four stages, then the head."""
    block, depths = IMAGENET_CFGS[name]
    features = OrderedDict(conv1=L.Conv2d(in_chans, 64, 7, 2, 3, bias=False),
                           bn1=L.BatchNorm2d(64), relu1=L.ReLU(), maxpool1=L.MaxPool2d(3, 2, 1))
    channels = 64
    for i, (width, depth) in enumerate(zip((64, 128, 256, 512), depths), 1):
        stride = 1 if i == 1 else 2  # the stem already divided 224 by 4
        features[f"layer{i}"], channels = make_stage(block, channels, width, depth, stride)
    return Network(nn.Sequential(features), _head(channels, num_classes), (in_chans, 224, 224))


@register_model("resnet18", input_shape=(3, 224, 224), num_classes=1000)
def resnet18(num_classes: int = 1000, in_chans: int = 3) -> Network:
    """ResNet-18 (He et al. 2015, Table 1): basic blocks [2, 2, 2, 2], as torchvision.

    >>> sum(p.numel() for p in resnet18().parameters())
    11689512
    """
    return _imagenet_resnet("resnet18", num_classes, in_chans)


@register_model("resnet34", input_shape=(3, 224, 224), num_classes=1000)
def resnet34(num_classes: int = 1000, in_chans: int = 3) -> Network:
    """ResNet-34 (He et al. 2015, Table 1): basic blocks [3, 4, 6, 3], as torchvision.

    >>> sum(p.numel() for p in resnet34().parameters())
    21797672
    """
    return _imagenet_resnet("resnet34", num_classes, in_chans)


@register_model("resnet50", input_shape=(3, 224, 224), num_classes=1000)
def resnet50(num_classes: int = 1000, in_chans: int = 3) -> Network:
    """ResNet-50 (He et al. 2015, Table 1): bottleneck blocks [3, 4, 6, 3], as torchvision.

    >>> sum(p.numel() for p in resnet50().parameters())
    25557032
    """
    return _imagenet_resnet("resnet50", num_classes, in_chans)


@register_model("resnet20", input_shape=(3, 32, 32), recipes={
    # CIFAR-10: the epochs that fit 30 minutes of training on a 2-core CPU (docs/models.md).
    "photos": {"epochs": 26},
    "digits": {"epochs": 3, "lr": 3e-3, "shift": 2, "precision": "bf16"},
    "fashion-mnist": {"epochs": 6}})
def resnet20(num_classes: int = 10, in_chans: int = 3) -> Network:
    """ResNet-20 for 32x32 images (He et al. 2015, section 4.2): 3x3 conv with 16 maps, then
    3 stages x 3 basic blocks with 16, 32, 64 maps (32x32, 16x16, 8x8), global average pool, fc.

    Shortcuts are option A, as in the paper's CIFAR experiments: where a stage halves the size
    and doubles the maps, the input is subsampled and padded with zero maps, so shortcuts add no
    parameters (0.27 M in all). Any H, W works (28x28 MNIST too); it is registered at 32x32.

    >>> sum(p.numel() for p in resnet20().parameters())
    269722
    """
    features = OrderedDict(conv1=L.Conv2d(in_chans, 16, 3, 1, 1, bias=False),
                           bn1=L.BatchNorm2d(16), relu1=L.ReLU())
    channels = 16
    for i, width in enumerate((16, 32, 64), 1):
        features[f"layer{i}"], channels = make_stage(L.ResidualBlock, channels, width, 3,
                                                     1 if i == 1 else 2, shortcut="A")
    return Network(nn.Sequential(features), _head(channels, num_classes), (in_chans, 32, 32))
