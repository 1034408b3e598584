"""Small teaching models: TinyVGG, the network CNN Explainer animates (Wang et al. 2020)."""

from __future__ import annotations

from .registry import register_model
from .network import Network


@register_model("tinyvgg", input_shape=(3, 32, 32), recipes={
    "photos": {"epochs": 30, "batch_size": 128, "lr": 3e-3, "optimizer": "adam",
               "weight_decay": 0.0, "precision": "auto"},
    "digits": {"epochs": 6, "lr": 3e-3, "shift": 2, "precision": "bf16"}})
def tinyvgg(num_classes: int = 10, in_chans: int = 3, img_size: int = 32) -> Network:
    """TinyVGG: two blocks of [conv 10@3x3 + ReLU, conv 10@3x3 + ReLU, 2x2 max pool], then
    flatten, one dense layer and softmax; unpadded ("valid") convolutions, as CNN Explainer.

    CNN Explainer runs it on 64x64x3 images (10 classes of Tiny ImageNet); it is registered here
    at 32x32 (CIFAR-10; MNIST padded to 32) and ``img_size`` builds the other sizes:
    32 -> 30 -> 28 -> 14 -> 12 -> 10 -> 5 (250 inputs to the dense layer), 28 -> ... -> 4 (160),
    64 -> ... -> 13 (1,690).

    Args:
        num_classes (int): outputs of the dense layer. Default: 10.
        in_chans (int): input channels (1 for MNIST, 3 for colour). Default: 3.
        img_size (int): input side; the spatial size must stay even before each pool.
            Default: 32.

    >>> sum(p.numel() for p in tinyvgg(img_size=64).parameters())   # CNN Explainer's model
    19920
    >>> import torch
    >>> tinyvgg(in_chans=1, img_size=28)(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """
    spec = ("conv10@3x3 relu conv10@3x3 relu maxpool2 conv10@3x3 relu conv10@3x3 relu maxpool2 "
            f"fc{num_classes} softmax")
    return Network.from_spec(spec, (in_chans, img_size, img_size))
