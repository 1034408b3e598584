"""The tutorials' building blocks as torch modules (flat re-exports, timm style)."""

from torch.nn import BatchNorm1d, BatchNorm2d, Dropout, Flatten, Linear

from .activations import ReLU, ScaledTanh, Sigmoid, Softmax, Tanh
from .conv import Conv2d, ConnectionTableConv2d, lenet_c3_table
from .pool import AvgPool2d, GlobalAvgPool2d, MaxPool2d, Subsample2d, SumPool2d

__all__ = [
    "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "ConnectionTableConv2d", "Conv2d", "Dropout",
    "Flatten", "GlobalAvgPool2d", "Linear", "MaxPool2d", "ReLU", "ScaledTanh", "Sigmoid",
    "Softmax", "Subsample2d", "SumPool2d", "Tanh", "lenet_c3_table",
]
from .blocks import (
    Bottleneck,
    ConvBNAct,
    DenseBlock,
    DenseLayer,
    Inception,
    LocalResponseNorm,
    ResidualBlock,
    Transition,
    ZeroPadShortcut,
)

__all__ += ["Bottleneck", "ConvBNAct", "DenseBlock", "DenseLayer", "Inception",
            "LocalResponseNorm", "ResidualBlock", "Transition", "ZeroPadShortcut"]
