"""Shape arithmetic, with no torch: output sizes, same-padding, parameters, multiply-adds.

Every layer and the summary table compute sizes here, so the formula lives in one place:

    H_out = floor((H + pad_before + pad_after - k) / s) + 1

With symmetric padding p this is the familiar ``floor((H + 2p - k) / s) + 1``.
"""

from __future__ import annotations

import math

from .errors import SpecError


def conv_output_size(size: int, kernel: int, stride: int = 1, pad: tuple[int, int] = (0, 0)) -> int:
    """Output length of a convolution or pooling window slid along one axis.

    Args:
        size (int): input length H (or W).
        kernel (int): window length k.
        stride (int): step s between windows. Default: 1.
        pad (tuple[int, int]): zeros added before and after. Default: (0, 0) ("valid").

    Shape:
        H_out = floor((H + pad_before + pad_after - k) / s) + 1

    Raises:
        SpecError: when the window is larger than the padded input.

    Example:
        >>> conv_output_size(32, 5)             # (32 + 2*0 - 5)/1 + 1
        28
        >>> conv_output_size(28, 2, stride=2)   # 2x2 max pooling, stride 2
        14
    """
    padded = size + pad[0] + pad[1]
    if kernel > padded:
        raise SpecError(f"window {kernel} is larger than its padded input {padded}")
    return (padded - kernel) // stride + 1


def same_padding(size: int, kernel: int, stride: int = 1) -> tuple[int, int]:
    """Zeros to add before and after so that H_out = ceil(H / s) ("same" padding).

    The total is ``max((ceil(H/s) - 1)*s + k - H, 0)``. When it is odd the extra pixel goes
    after (bottom/right), as in TensorFlow and Keras; PyTorch's ``padding="same"`` only accepts
    stride 1, which is why we pad explicitly.

    Example:
        >>> same_padding(28, 5)      # odd kernel: 2 each side
        (2, 2)
        >>> same_padding(28, 4)      # even kernel: 1 before, 2 after
        (1, 2)
        >>> same_padding(28, 3, 2)   # stride 2: out = 14, total 1 -> (0, 1)
        (0, 1)
    """
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def conv_params(kernel: int, c_in: int, c_out: int, bias: bool = True) -> int:
    """Learnable numbers in a convolution: k·k·C_in·C_out weights + C_out biases.

    Example:
        >>> conv_params(5, 1, 6)    # LeNet-5 C1: 5*5*1*6 + 6
        156
    """
    return kernel * kernel * c_in * c_out + (c_out if bias else 0)


def fc_params(n_in: int, n_out: int, bias: bool = True) -> int:
    """Learnable numbers in a fully connected layer: n_in·n_out weights + n_out biases.

    Example:
        >>> fc_params(400, 120)     # LeNet-5 F5: 16*5*5 inputs into 120 units
        48120
    """
    return n_in * n_out + (n_out if bias else 0)


def conv_mult_adds(kernel: int, c_in: int, c_out: int, h_out: int, w_out: int) -> int:
    """Multiply-adds of a convolution: each output number costs k·k·C_in of them.

    Example:
        >>> conv_mult_adds(5, 1, 6, 28, 28)   # 5*5*1 * 6*28*28
        117600
    """
    return kernel * kernel * c_in * c_out * h_out * w_out
