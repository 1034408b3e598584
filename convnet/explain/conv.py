"""Convolution, window by window: patch, element-wise products, sum over channels, bias.

The feature map is computed by ``layers.Conv2d`` and the arithmetic shown beside it is checked
against it, so the explanation is the implementation.

Example (the tutorials' 5x5 image ⊛ 3x3 kernel, then an RGB image ⊛ a 3x3x3 kernel + bias):
    >>> conv = explain_conv(TUTORIAL_IMAGE, TUTORIAL_KERNEL)
    >>> conv["feature_map"]
    [[4, 3, 4], [2, 4, 3], [2, 3, 4]]
    >>> conv["steps"][0]["channels"][0]["products"], conv["steps"][0]["sum"]
    ([[1, 0, 1], [0, 1, 0], [0, 0, 1]], 4)
    >>> rgb = explain_conv(RGB_IMAGE, RGB_KERNEL, padding="same", bias=RGB_BIAS)
    >>> [c["sum"] for c in rgb["steps"][0]["channels"]], rgb["steps"][0]["sum"]
    ([308, -498, 164], -25)
    >>> rgb["output_size"]["height"]
    '⌊(5 + 1 + 1 − 3)/1⌋ + 1 = 5'
"""

from __future__ import annotations

import torch

from .. import layers as L
from ..errors import SpecError
from ..kinds.units import tidy
from .matrix import (
    Channels,
    Explained,
    Matrix,
    as_lists,
    check_same,
    check_windows,
    grid,
    side_by_side,
    tensor,
    windows,
)

TUTORIAL_IMAGE = [[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0],
                  [0, 1, 1, 0, 0]]
TUTORIAL_KERNEL = [[1, 0, 1], [0, 1, 0], [1, 0, 1]]
# Saha's RGB figure: the top-left 5x5 of each channel (zero-padded by 1), the 3x3x3 kernel and
# bias 1; its first window gives 308 − 498 + 164 + 1 = −25, as the figure shows.
RGB_IMAGE = [[[156, 155, 156, 158, 158], [153, 154, 157, 159, 159], [149, 151, 155, 158, 159],
              [146, 146, 149, 153, 158], [145, 143, 143, 148, 158]],
             [[167, 166, 167, 169, 169], [164, 165, 168, 170, 170], [160, 162, 166, 169, 170],
              [156, 156, 159, 163, 168], [155, 153, 153, 158, 168]],
             [[163, 162, 163, 165, 165], [160, 161, 164, 166, 166], [156, 158, 162, 165, 166],
              [155, 155, 158, 162, 167], [154, 152, 152, 157, 167]]]
RGB_KERNEL = [[[-1, -1, 1], [0, 1, -1], [0, 1, 1]], [[1, 0, 0], [1, -1, -1], [1, 0, -1]],
              [[0, 1, 1], [0, 1, 0], [1, -1, 1]]]
RGB_BIAS = 1

# The tutorials' names for the paddings: narrow = valid (no zeros), wide = full (k − 1 zeros on
# every side: every overlap of kernel and image, the output grows by k − 1).
PADDINGS = {"valid": "valid", "narrow": "valid", "same": "same", "full": "full", "wide": "full"}


def parse_padding(text: str | int, k: int) -> tuple[str | int, str | int]:
    """-> (the padding's name or number, what ``layers.Conv2d`` takes) for a k x k kernel.

    Example:
        >>> parse_padding("wide", 3), parse_padding("narrow", 3), parse_padding("2", 3)
        (('full', 2), ('valid', 'valid'), (2, 2))
    """
    if text in PADDINGS:
        name = PADDINGS[text]
        return name, (k - 1 if name == "full" else name)
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        names = ", ".join(PADDINGS)
        raise SpecError(f"--padding must be one of {names} or a number >= 0, got {text!r}")
    return value, value


def output_size(size: int, k: int, stride: int, before: int, after: int) -> str:
    """The output-size formula with the numbers in (``shapes.conv_output_size``'s rule).

    Example:
        >>> output_size(5, 3, 2, 0, 0)
        '⌊(5 + 0 + 0 − 3)/2⌋ + 1 = 2'
    """
    out = (size + before + after - k) // stride + 1
    return f"⌊({size} + {before} + {after} − {k})/{stride}⌋ + 1 = {out}"


def _channels(x: Matrix | Channels) -> Channels:
    return x if isinstance(x[0][0], list) else [x]


def _check_kernel(image: Channels, kernel: Channels, stride: int) -> int:
    k = len(kernel[0])
    if len(kernel[0][0]) != k:
        raise SpecError(f"--kernel must be square, got {k}x{len(kernel[0][0])}")
    if len(kernel) != len(image):
        raise SpecError(f"--kernel has {len(kernel)} channel(s) but --image has {len(image)}; "
                        "a filter spans every input channel (separate channels with '|')")
    if stride < 1:
        raise SpecError(f"--stride must be >= 1, got {stride}")
    return k


def explain_conv(image: Matrix | Channels, kernel: Matrix | Channels, stride: int = 1,
                 padding: str | int = "valid", bias: float = 0) -> dict:
    """Slide ``kernel`` over ``image`` with ``layers.Conv2d``; every window's products and sums.

    Args:
        image: an (H, W) matrix or (C, H, W) channels (RGB: C = 3).
        kernel: one filter, (k, k) or (C, k, k): it spans every input channel.
        stride (int): step between windows. Default: 1.
        padding (str | int): valid (narrow), same, full (wide) or a number of zeros.
        bias (float): added once per output, after the channels' sums. Default: 0.

    Shape:
        H_out = floor((H + pad_top + pad_bottom - k) / stride) + 1, and likewise W_out.

    Raises:
        SpecError: a non-square kernel, channels that differ, stride < 1, or a kernel larger
            than the padded image.
    """
    image, kernel = _channels(image), _channels(kernel)
    k = _check_kernel(image, kernel, stride)
    name, pad = parse_padding(padding, k)
    conv = L.Conv2d(len(image), 1, k, stride=stride, padding=pad)
    h, w = len(image[0]), len(image[0][0])
    top, bottom, left, right = conv.pads(h, w)
    if min(h + top + bottom, w + left + right) < k:
        raise SpecError(f"--kernel {k}x{k} is larger than the {h}x{w} image (padding "
                        f"{name!r}); use a smaller kernel or more padding")
    check_windows(h + top + bottom, w + left + right, k, stride)
    x, weight = tensor(image), tensor(kernel)  # (1, C, H, W), (1, C, k, k): one filter
    with torch.no_grad():
        conv.weight.copy_(weight)
        conv.bias.fill_(bias)
        out = conv(x)
    padded = torch.nn.functional.pad(x, (left, right, top, bottom))  # zeros around each map
    steps = [_step(r, c, patch, weight[0], bias) for r, c, patch in windows(padded, k, k, stride)]
    feature_map = as_lists(out)
    check_same([s["sum"] for s in steps], feature_map,
               float(padded.abs().max() * weight.abs().max()) * weight.numel() + abs(bias))
    return Explained({
        "operation": "conv", "image": image, "kernel": kernel, "bias": tidy(bias),
        "stride": stride,
        "padding": {"mode": name, "top": top, "bottom": bottom, "left": left, "right": right},
        "output_size": {"formula": "⌊(H + top + bottom − k)/stride⌋ + 1",
                        "height": output_size(h, k, stride, top, bottom),
                        "width": output_size(w, k, stride, left, right)},
        "padded": [as_lists(m) for m in padded[0]], "steps": steps,
        "feature_map": feature_map})


def _step(r: int, c: int, patch: torch.Tensor, weight: torch.Tensor, bias: float) -> dict:
    """One window: per channel the patch, products and their sum; then the total + bias."""
    channels = [{"patch": as_lists(p), "products": as_lists(p * w), "sum": tidy((p * w).sum())}
                for p, w in zip(patch, weight)]  # (C, k, k) each
    total = (patch * weight).sum() + bias
    return {"position": [r, c], "channels": channels, "bias": tidy(bias), "sum": tidy(total)}


# ----------------------------------------------------------------------------- text

def _maps(title: str, maps: Channels) -> list[str]:
    if len(maps) == 1:
        return [f"{title}:", grid(maps[0])]
    return [line for c, m in enumerate(maps) for line in (f"{title}, channel {c}:", grid(m))]


def _step_text(s: dict, several: bool) -> list[str]:
    r, c = s["position"]
    lines = ["", f"position ({r}, {c}):"]
    for i, ch in enumerate(s["channels"]):
        terms = " + ".join(str(v) for row in ch["products"] for v in row)
        lines += [f"  channel {i}:"] if several else []
        lines += [side_by_side(("patch", ch["patch"]), ("patch x kernel", ch["products"])),
                  f"  sum = {terms} = {ch['sum']}"]
    if several or s["bias"]:
        sums = " + ".join(str(ch["sum"]) for ch in s["channels"])
        lines.append(f"  output = {sums} + {s['bias']} (bias) = {s['sum']}")
    return lines


def conv_text(e: dict) -> str:
    p, size = e["padding"], e["output_size"]
    several = len(e["image"]) > 1
    lines = ["Convolution: slide the kernel over the image; at each position multiply the",
             "overlapping numbers element-wise and add them up" +
             (" over every channel" if several else "") +
             (", then add the bias." if several or e["bias"] else "."), ""]
    lines += _maps("image", e["image"]) + _maps("kernel", e["kernel"])
    lines += [f"bias {e['bias']}"] if several or e["bias"] else []
    lines += [(f"stride {e['stride']}, padding {p['mode']!r} (top {p['top']}, "
              f"bottom {p['bottom']}, left {p['left']}, right {p['right']})"),
              f"output size: {size['formula']}",
              f"  height {size['height']}", f"  width  {size['width']}"]
    if any(p[s] for s in ("top", "bottom", "left", "right")):
        lines += _maps("padded image", e["padded"])
    for s in e["steps"]:
        lines += _step_text(s, several)
    return "\n".join(lines + ["", "feature map:", grid(e["feature_map"])])
