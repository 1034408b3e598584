"""Tutorial walk-throughs with numbers: convolution windows, ReLU, pooling, softmax, the total
error and one training step, each computed by the library's own layers and told step by step.

One file per tutorial concept: ``conv`` (windows, channels, bias, padding, output size),
``pool`` (ReLU, the element-wise kinds, pooling), ``output`` (softmax, total error), ``matrix``
(the numbers typed and printed); ``modes`` is the table ``convnet explain`` is built from.

Example (the tutorials' 5x5 image ⊛ 3x3 kernel; their boat's total error):
    >>> explain_conv(TUTORIAL_IMAGE, TUTORIAL_KERNEL)["feature_map"]
    [[4, 3, 4], [2, 4, 3], [2, 3, 4]]
    >>> explain_error([0.2, 0.4, 0.1, 0.3], [0, 0, 1, 0])["error"]
    0.55
"""

from ..kinds.units import tidy
from .conv import RGB_BIAS, RGB_IMAGE, RGB_KERNEL, TUTORIAL_IMAGE, TUTORIAL_KERNEL, explain_conv
from .matrix import MAX_VALUE, parse_channels, parse_matrix, parse_vector
from .modes import MODES, Mode
from .output import explain_error, explain_softmax
from .pool import TUTORIAL_POOL, TUTORIAL_RELU, explain_elementwise, explain_pool, explain_relu

__all__ = [
    "MAX_VALUE",
    "MODES",
    "RGB_BIAS",
    "RGB_IMAGE",
    "RGB_KERNEL",
    "TUTORIAL_IMAGE",
    "TUTORIAL_KERNEL",
    "TUTORIAL_POOL",
    "TUTORIAL_RELU",
    "Mode",
    "explain_conv",
    "explain_elementwise",
    "explain_error",
    "explain_pool",
    "explain_relu",
    "explain_softmax",
    "explain_text",
    "parse_channels",
    "parse_matrix",
    "parse_vector",
    "tidy",
]


def explain_text(e: dict) -> str:
    """The printable walk-through of any ``explain_*`` result (its mode's text)."""
    return MODES[e["operation"]].text(e)
