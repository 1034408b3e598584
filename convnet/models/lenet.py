"""LeNet-5: the tutorials' variant and LeCun et al.'s 1998 original."""

from __future__ import annotations

from .registry import register_model
from .network import Network


@register_model("lenet5", input_shape=(1, 32, 32), recipes={
    # No batch norm: Adam, not SGD at 0.2; fp32 (bf16 buys LeNet-5 nothing on a CPU).
    "photos": {"epochs": 30, "batch_size": 128, "lr": 3e-3, "optimizer": "adam",
               "weight_decay": 0.0, "precision": "auto"}})
def lenet5(num_classes: int = 10, in_chans: int = 1) -> Network:
    """LeNet-5 as the tutorials draw it: 32x32 input, ReLU, 2x2 max pooling, FC 120-100-10.

    >>> from convnet.summary import summarize
    >>> summarize(lenet5()).total_params   # conv 156 + 2,416; fc 48,120 + 12,100 + 1,010
    63802
    """
    spec = ("conv6@5x5 relu maxpool2 conv16@5x5 relu maxpool2 "
            f"fc120 relu fc100 relu fc{num_classes} softmax")
    return Network.from_spec(spec, (in_chans, 32, 32))


@register_model("lenet5-1998", input_shape=(1, 32, 32), recipes={
    "photos": {"epochs": 30, "batch_size": 128, "lr": 3e-3, "optimizer": "adam",
               "weight_decay": 0.0, "precision": "auto"}})
def lenet5_1998(num_classes: int = 10, in_chans: int = 1) -> Network:
    """LeNet-5 as LeCun et al. (1998) built it: scaled tanh, trainable subsampling, C3 table.

    C1 6@5x5, S2 (sum x coefficient + bias), C3 16@5x5 with Table I's 60 connections, S4,
    C5 120@5x5 (a convolution over a 5x5 input, i.e. fully connected), F6 84, then 10 outputs.
    The paper's last layer is 10 Euclidean RBF units over F6; we use fc10 + softmax, so it has
    850 parameters instead of 840 (biases).

    >>> from convnet.summary import summarize
    >>> summarize(lenet5_1998()).total_params  # 156+12+1,516+32+48,120+10,164+850
    60850
    """
    spec = ("conv6@5x5 stanh subsample2 stanh conv16@5x5/c3 stanh subsample2 stanh "
            f"conv120@5x5 stanh fc84 stanh fc{num_classes} softmax")
    return Network.from_spec(spec, (in_chans, 32, 32))


@register_model("seed4", input_shape=(3, 32, 32), num_classes=4, recipes={
    # The tutorials' boat gets 0.94: no label smoothing, which would cap confidence at 0.925.
    "photos": {"epochs": 100, "batch_size": 128, "lr": 3e-3, "optimizer": "adam",
               "weight_decay": 0.0, "label_smoothing": 0.0, "precision": "auto"}})
def seed4(num_classes: int = 4, in_chans: int = 3) -> Network:
    """The tutorials' dog/cat/boat/bird classifier: two conv+ReLU+pool stages, FC, softmax.

    >>> from convnet.summary import summarize
    >>> summarize(seed4()).total_params   # 456 + 2,416 + 48,120 + 10,164 + 340
    61496
    """
    spec = ("conv6@5x5 relu maxpool2 conv16@5x5 relu maxpool2 "
            f"fc120 relu fc84 relu fc{num_classes} softmax")
    return Network.from_spec(spec, (in_chans, 32, 32))
