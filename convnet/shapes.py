"""Shape arithmetic, with no torch: output sizes, same-padding, parameters, multiply-adds.

Every layer, the spec builder and the summary table compute sizes here (through each layer
kind, ``convnet/kinds``), so the formula lives in one place:

    H_out = floor((H + pad_before + pad_after - k) / s) + 1

With symmetric padding p this is the familiar ``floor((H + 2p - k) / s) + 1``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import SpecError

# Bounds checked before a layer is allocated: a spec such as "conv999999@5x5" or
# "fc100000 fc100000" is refused with its size instead of taking the machine's memory.
MAX_PARAMS = 500_000_000  # weights of one network: 2 GB in float32, 3.5x VGG-19's 144 M
MAX_VALUES = 50_000_000  # values one layer outputs per image: 200 MB in float32 (VGG-16's
#   largest is 64x224x224 = 3.2 M; the image sizes predict accepts end at 50 M pixels too)


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


def window_output_size(size: int, kernel: int, stride: int, pad: tuple[int, int], where: str,
                       what: str) -> int:
    """``conv_output_size`` for the spec builder: the SpecError names the layer and the sizes,
    and a stride that leaves input unused is refused unless the layer is padded.

    Example:
        >>> window_output_size(33, 2, 2, (0, 0), "layer 2 'maxpool2'", "window")
        Traceback (most recent call last):
        ...
        convnet.errors.SpecError: layer 2 'maxpool2': stride 2 does not tile the 33x33 input: \
(33 - 2)/2 + 1 = 16.5; pad it or change the stride
    """
    padded = size + pad[0] + pad[1]
    if kernel > padded:
        raise SpecError(f"{where}: {what} {kernel}x{kernel} is larger than its {size}x{size} "
                        "input" + (f" (padded to {padded})" if padded != size else ""))
    if (padded - kernel) % stride and pad == (0, 0):
        raise SpecError(f"{where}: stride {stride} does not tile the {size}x{size} input: "
                        f"({size} - {kernel})/{stride} + 1 = {(padded - kernel) / stride + 1:.3g}; "
                        f"pad it or change the stride")
    return conv_output_size(size, kernel, stride, pad)


def size_arithmetic(size: int, kernel: int, stride: int, pad: tuple[int, int]) -> str:
    """The output-size formula with the numbers in, as the summary table shows it.

    Example:
        >>> size_arithmetic(32, 5, 1, (0, 0))   # LeNet-5's C1
        '(32 + 2·0 − 5)/1 + 1 = 28'
        >>> size_arithmetic(28, 4, 1, (1, 2))   # "same" with an even kernel
        '(28 + 1 + 2 − 4)/1 + 1 = 28'
    """
    before, after = pad
    padding = f"2·{before}" if before == after else f"{before} + {after}"
    return (f"({size} + {padding} − {kernel})/{stride} + 1 = "
            f"{conv_output_size(size, kernel, stride, pad)}")


def conv_params(kernel: int, c_in: int, c_out: int, bias: bool = True,
                links: int | None = None) -> int:
    """Learnable numbers in a convolution: k·k·C_in·C_out weights + C_out biases.

    Args:
        links (int | None): connected (input map, filter) pairs when a connection table
            leaves some out (LeNet-5's C3: 60 of 6·16); None: all C_in·C_out. Default: None.

    Example:
        >>> conv_params(5, 1, 6)    # LeNet-5 C1: 5*5*1*6 + 6
        156
        >>> conv_params(5, 6, 16, links=60)   # C3: 5*5*60 + 16
        1516
    """
    links = c_in * c_out if links is None else links
    return kernel * kernel * links + (c_out if bias else 0)


def fc_params(n_in: int, n_out: int, bias: bool = True) -> int:
    """Learnable numbers in a fully connected layer: n_in·n_out weights + n_out biases.

    Example:
        >>> fc_params(400, 120)     # LeNet-5 F5: 16*5*5 inputs into 120 units
        48120
    """
    return n_in * n_out + (n_out if bias else 0)


def conv_mult_adds(kernel: int, c_in: int, c_out: int, h_out: int, w_out: int,
                   links: int | None = None) -> int:
    """Multiply-adds of a convolution: each output number costs k·k·C_in of them.

    Args:
        links (int | None): connected (input map, filter) pairs, as for ``conv_params``.

    Example:
        >>> conv_mult_adds(5, 1, 6, 28, 28)   # 5*5*1 * 6*28*28
        117600
    """
    links = c_in * c_out if links is None else links
    return kernel * kernel * links * h_out * w_out


def check_size(where: str, params: int, shape: tuple[int, ...], used: int) -> None:
    """Refuse a layer of more than ``MAX_VALUES`` outputs per image, or one whose ``params``
    weights take the network (``used`` so far) past ``MAX_PARAMS``, before it is allocated.

    Example:
        >>> check_size("layer 2 'fc100000'", 100000 * 100001, (100000,), 102_500_000)
        Traceback (most recent call last):
        ...
        convnet.errors.SpecError: layer 2 'fc100000': 10,000,100,000 weights (10,102,600,000 in \
the network with it) is more than the 500,000,000 a network may have
    """
    values = math.prod(shape)
    if values > MAX_VALUES:
        raise SpecError(f"{where}: {'x'.join(map(str, shape))} = {values:,} values per image, "
                        f"more than the {MAX_VALUES:,} a layer may hold")
    if used + params > MAX_PARAMS:
        raise SpecError(f"{where}: {params:,} weights ({used + params:,} in the network with "
                        f"it) is more than the {MAX_PARAMS:,} a network may have")


@dataclass(frozen=True)
class Field:
    """Where one unit of a layer looks in the input image, along one axis: its receptive field.

    Unit i of the layer sees input pixels ``start + i·jump`` to ``start + i·jump + size − 1``
    (clip them to the image: ``span``). The input image itself is ``Field()``: each pixel sees
    itself. A window layer of kernel k, stride s, dilation d and p zeros before the input moves
    the field to

        size' = size + d·(k − 1)·jump,   jump' = jump·s,   start' = start − p·jump

    (the recurrence of Araujo et al., "Computing receptive fields of convolutional neural
    networks", Distill 2019); element-wise layers leave it as it is, and branches joined by a
    sum or a concatenation (ResNet, Inception) see the ``union`` of their fields.

    Example:
        >>> c1 = Field().window(5)          # LeNet-5's conv1: 5 pixels, one apart
        >>> c3 = c1.window(2, 2).window(5)  # 2x2 max pooling, then conv2
        >>> c1, c3
        (Field(size=5, jump=1, start=0), Field(size=14, jump=2, start=0))
        >>> c3.span(9, 32)                  # conv2's unit 9 sees pixels 18..31
        (18, 32)
        >>> Field().window(3, pad=1).span(0, 32)   # a padded 3x3 at the border: clipped
        (0, 2)
    """

    size: int = 1
    jump: int = 1
    start: int = 0

    def window(self, kernel: int, stride: int = 1, pad: int = 0, dilation: int = 1) -> Field:
        """The field after a convolution or pooling window (``pad``: zeros before the input)."""
        return Field(self.size + dilation * (kernel - 1) * self.jump, self.jump * stride,
                     self.start - pad * self.jump)

    def union(self, other: Field) -> Field | None:
        """The field of a sum or concatenation of two branches; None when their units step by
        different jumps (no single window then describes a unit).

        Example:
            >>> main = Field(3, 1, -1).window(3, 2, 1).window(3, 1, 1)  # a ResNet block's convs
            >>> main.union(Field(3, 1, -1).window(1, 2))                # with its 1x1 shortcut
            Field(size=9, jump=2, start=-4)
        """
        if self.jump != other.jump:
            return None
        start = min(self.start, other.start)
        end = max(self.start + self.size, other.start + other.size)
        return Field(end - start, self.jump, start)

    def span(self, index: int, length: int) -> tuple[int, int]:
        """Input pixels [lo, hi) that unit ``index`` sees in an image ``length`` pixels long."""
        lo = self.start + index * self.jump
        return max(lo, 0), min(lo + self.size, length)
