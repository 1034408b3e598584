"""VGGNets (Simonyan & Zisserman 2014): only 3x3 convolutions (padding 1) and 2x2 max pools.

Two stacked 3x3 convolutions see a 5x5 window and three see 7x7, with fewer parameters and more
non-linearities than one big filter; depth is the only thing that changes between VGG-11 and
VGG-19. Each architecture is a cfg list (timm style) turned into a one-line spec.
"""

from __future__ import annotations

from .registry import register_model
from .network import Network

# Table 1 of the paper, columns A, B, D, E: filters of each 3x3 conv, "M" = 2x2 max pool.
VGG_CFGS = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
              512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"],
}


def vgg_spec(cfg: list, batch_norm: bool = False) -> str:
    """The feature part of a VGG as a spec line (with batch norm, whose shift replaces the
    convolution's bias).

    Example:
        >>> vgg_spec([64, "M"]), vgg_spec([64, "M"], batch_norm=True)
        ('conv64@3x3/p1 relu maxpool2', 'conv64@3x3/p1/nobias bn relu maxpool2')
    """
    conv = "conv{}@3x3/p1/nobias bn relu" if batch_norm else "conv{}@3x3/p1 relu"
    return " ".join("maxpool2" if c == "M" else conv.format(c) for c in cfg)


def _paper_vgg(name: str, num_classes: int, in_chans: int) -> Network:
    """224x224 input; five pools leave 512x7x7 = 25,088 inputs to FC 4096-4096-classes."""
    head = f"fc4096 relu dropout0.5 fc4096 relu dropout0.5 fc{num_classes} softmax"
    return Network.from_spec(f"{vgg_spec(VGG_CFGS[name])} {head}", (in_chans, 224, 224))


@register_model("vgg11", input_shape=(3, 224, 224), num_classes=1000)
def vgg11(num_classes: int = 1000, in_chans: int = 3) -> Network:
    """VGG-11 (configuration A): 8 convolutions + 3 fully connected layers.

    >>> sum(p.numel() for p in vgg11().parameters())
    132863336
    """
    return _paper_vgg("vgg11", num_classes, in_chans)


@register_model("vgg13", input_shape=(3, 224, 224), num_classes=1000)
def vgg13(num_classes: int = 1000, in_chans: int = 3) -> Network:
    """VGG-13 (configuration B): 10 convolutions + 3 fully connected layers.

    >>> sum(p.numel() for p in vgg13().parameters())
    133047848
    """
    return _paper_vgg("vgg13", num_classes, in_chans)


@register_model("vgg16", input_shape=(3, 224, 224), num_classes=1000)
def vgg16(num_classes: int = 1000, in_chans: int = 3) -> Network:
    """VGG-16 (configuration D): 13 convolutions + 3 fully connected layers.

    >>> sum(p.numel() for p in vgg16().parameters())
    138357544
    """
    return _paper_vgg("vgg16", num_classes, in_chans)


@register_model("vgg19", input_shape=(3, 224, 224), num_classes=1000)
def vgg19(num_classes: int = 1000, in_chans: int = 3) -> Network:
    """VGG-19 (configuration E): 16 convolutions + 3 fully connected layers.

    >>> sum(p.numel() for p in vgg19().parameters())
    143667240
    """
    return _paper_vgg("vgg19", num_classes, in_chans)


# VGG-11's layout at half the width (512 -> 256): five pools take 32x32 to 1x1.
VGG11_SMALL_CFG = [32, "M", 64, "M", 128, 128, "M", 256, 256, "M", 256, 256, "M"]


@register_model("vgg11-small", input_shape=(3, 32, 32), recipes={
    "photos": {"epochs": 5},
    "digits": {"epochs": 2, "lr": 3e-3, "shift": 2, "precision": "bf16"},
    "fashion-mnist": {"epochs": 3}})
def vgg11_small(num_classes: int = 10, in_chans: int = 3) -> Network:
    """VGG-11 for 32x32 images: configuration A at half width, batch norm after every conv
    (what lets it train quickly from scratch), FC 256-256-classes.

    Needs 32x32 input (pad 28x28 MNIST by 2, as the trainer does): the fifth pool ends at 1x1.

    >>> sum(p.numel() for p in vgg11_small().parameters())
    2441770
    """
    head = f"fc256 relu dropout0.5 fc256 relu dropout0.5 fc{num_classes} softmax"
    return Network.from_spec(f"{vgg_spec(VGG11_SMALL_CFG, batch_norm=True)} {head}",
                             (in_chans, 32, 32))
