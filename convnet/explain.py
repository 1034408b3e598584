"""Tutorial walk-throughs with numbers: convolution windows, ReLU, pooling, step by step.

Every result is computed by the library's own layers (``layers.Conv2d``, and the modules of
the layer kinds in ``convnet.kinds``: every pool without weights, every element-wise kind);
the per-window arithmetic shown beside it (the pool kind's ``value`` and ``formula``) is
checked against the layer's output, so the explanation is the implementation.

Example (the tutorials' 5x5 image ⊛ 3x3 kernel):
    >>> conv = explain_conv(TUTORIAL_IMAGE, TUTORIAL_KERNEL)
    >>> conv["feature_map"]
    [[4, 3, 4], [2, 4, 3], [2, 3, 4]]
    >>> conv["steps"][0]["products"], conv["steps"][0]["sum"]
    ([[1, 0, 1], [0, 1, 0], [0, 0, 1]], 4)
    >>> explain_pool(TUTORIAL_POOL, "avg")["output"]
    [[3.25, 5.25], [2, 2]]
    >>> explain_elementwise([[-2, 3]], "leakyrelu")["output"]
    [[-0.02, 3]]
"""

from __future__ import annotations

import torch

from . import kinds
from . import layers as L
from .errors import SpecError
from .kinds.units import tidy

TUTORIAL_IMAGE = [[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0],
                  [0, 1, 1, 0, 0]]
TUTORIAL_KERNEL = [[1, 0, 1], [0, 1, 0], [1, 0, 1]]
TUTORIAL_RELU = [[3, -1, 0], [-2, 5, -4], [1, -3, 2]]
TUTORIAL_POOL = [[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]]

Matrix = list[list[float]]
MAX_VALUE = 1e15  # |numbers| in --image/--kernel: products stay far inside float32's range


# ----------------------------------------------------------------------------- input

def parse_matrix(text: str, name: str = "--image") -> Matrix:
    """Rows separated by ';', values by ',' (or spaces): "1,0;0,1" -> [[1, 0], [0, 1]].

    Raises:
        SpecError: for an empty matrix, a non-number (nan and inf too), a number beyond
            ``MAX_VALUE``, or ragged rows, echoing the text.

    Example:
        >>> parse_matrix("1, 0.5; -2 3")
        [[1, 0.5], [-2, 3]]
        >>> parse_matrix("nan,1;1,1")
        Traceback (most recent call last):
        ...
        convnet.errors.SpecError: --image must hold finite numbers of at most 1e+15, got 'nan,1;1,1'
    """
    rows = [r.replace(",", " ").split() for r in text.strip().strip(";").split(";")]
    try:
        values = [[float(v) for v in row] for row in rows]
    except ValueError:
        raise SpecError(f"{name} must hold numbers like '1,0;0,1', got {text!r}") from None
    if not all(abs(v) <= MAX_VALUE for row in values for v in row):  # False for nan too
        raise SpecError(f"{name} must hold finite numbers of at most {MAX_VALUE:g}, got {text!r}")
    matrix = [[tidy(v) for v in row] for row in values]
    if not matrix or not matrix[0]:
        raise SpecError(f"{name} is empty: give rows separated by ';', got {text!r}")
    if any(len(row) != len(matrix[0]) for row in matrix):
        lengths = [len(row) for row in matrix]
        raise SpecError(f"{name} has rows of different lengths {lengths}: {text!r}")
    return matrix


def tensor(matrix: Matrix) -> torch.Tensor:
    """(H, W) nested lists -> a (1, 1, H, W) float32 batch of one single-channel image."""
    return torch.tensor(matrix, dtype=torch.float32)[None, None]  # (H, W) -> (1, 1, H, W)


def as_lists(t: torch.Tensor) -> Matrix:
    """(1, 1, H, W) or (H, W) tensor -> nested lists of tidy numbers."""
    return [[tidy(v) for v in row] for row in t.reshape(t.shape[-2:]).tolist()]


def parse_padding(text: str | int) -> str | int:
    """'valid', 'same' or a non-negative number of zeros."""
    if text in ("valid", "same"):
        return text
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise SpecError(f"--padding must be valid, same or a number >= 0, got {text!r}")
    return value


def windows(x: torch.Tensor, size_h: int, size_w: int, stride: int):
    """(row, col, patch) for every window position, row-major, as the layers visit them."""
    _, _, h, w = x.shape
    for r in range(0, h - size_h + 1, stride):
        for c in range(0, w - size_w + 1, stride):
            yield r // stride, c // stride, x[0, 0, r:r + size_h, c:c + size_w]


# ----------------------------------------------------------------------------- operations

def explain_conv(image: Matrix, kernel: Matrix, stride: int = 1,
                 padding: str | int = "valid") -> dict:
    """Slide ``kernel`` over ``image`` with ``layers.Conv2d``; every window's patch, products, sum.

    Shape:
        H_out = floor((H + pad_top + pad_bottom - k) / stride) + 1, and likewise W_out.

    Raises:
        SpecError: non-square kernel, stride < 1, or a kernel larger than the padded image.
    """
    k = len(kernel)
    if len(kernel[0]) != k:
        raise SpecError(f"--kernel must be square, got {k}x{len(kernel[0])}")
    if stride < 1:
        raise SpecError(f"--stride must be >= 1, got {stride}")
    conv = L.Conv2d(1, 1, k, stride=stride, padding=parse_padding(padding), bias=False)
    top, bottom, left, right = conv.pads(len(image), len(image[0]))
    if min(len(image) + top + bottom, len(image[0]) + left + right) < k:
        raise SpecError(f"--kernel {k}x{k} is larger than the {len(image)}x{len(image[0])} "
                        f"image (padding {conv.mode!r}); use a smaller kernel or more padding")
    with torch.no_grad():
        conv.weight.copy_(tensor(kernel))
        out = conv(tensor(image))
    padded = torch.nn.functional.pad(tensor(image), (left, right, top, bottom))  # zeros around
    w = tensor(kernel)[0, 0]
    steps = []
    for r, c, patch in windows(padded, k, k, stride):
        products = patch * w
        steps.append({"position": [r, c], "patch": as_lists(patch),
                      "products": as_lists(products), "sum": tidy(products.sum())})
    feature_map = as_lists(out)
    _check_same([s["sum"] for s in steps], feature_map,
                float(padded.abs().max() * w.abs().max()) * k * k)
    return {"operation": "conv", "image": image, "kernel": kernel, "stride": stride,
            "padding": {"mode": conv.mode, "top": top, "bottom": bottom, "left": left,
                        "right": right},
            "padded": as_lists(padded), "steps": steps, "feature_map": feature_map}


def explain_relu(matrix: Matrix) -> dict:
    """ReLU element-wise with the relu kind's module: negatives become 0, the rest pass."""
    out = as_lists(kinds.RELU.new()(tensor(matrix)))
    changed = [[r, c] for r, row in enumerate(matrix) for c, v in enumerate(row) if v < 0]
    return {"operation": "relu", "input": matrix, "output": out, "zeroed": changed}


def explain_elementwise(matrix: Matrix, kind: str) -> dict:
    """Any element-wise kind (relu, tanh, sigmoid, stanh, leakyrelu ...) on every element.

    Raises:
        SpecError: for a kind that is not element-wise.
    """
    found = kinds.find(kind)
    if not isinstance(found, kinds.Elementwise) or found.form is None:
        names = [k.name for k in kinds.registered()
                 if isinstance(k, kinds.Elementwise) and k.form]
        raise SpecError(f"{kind!r} is not an element-wise layer; expected one of "
                        f"{', '.join(names)}")
    module = found.new().eval()  # dropout: what predicting does
    return {"operation": "elementwise", "kind": kind, "title": found.title,
            "formula": found.formula_of(module), "input": matrix,
            "output": as_lists(module(tensor(matrix)))}


def pool_kinds() -> dict[str, kinds.Pool]:
    """The pools a bare matrix can show, by mode: max, avg, sum (subsample has weights)."""
    return {k.mode: k for k in kinds.registered() if isinstance(k, kinds.Pool) and not k.learned}


def explain_pool(matrix: Matrix, mode: str = "max", size: int = 2,
                 stride: int | None = None) -> dict:
    """Max, average or sum pooling with the pool kinds' layers; every window and its result.

    Shape:
        H_out = floor((H - size) / stride) + 1, and likewise W_out (stride defaults to size).

    Raises:
        SpecError: unknown mode, size or stride < 1, or a window larger than the matrix.
    """
    pools = pool_kinds()
    if mode not in pools:
        modes = list(pools)
        raise SpecError(f"--mode must be {', '.join(modes[:-1])} or {modes[-1]}, got {mode!r}")
    stride = size if stride is None else stride
    if size < 1 or stride < 1:
        raise SpecError(f"--size and --stride must be >= 1, got {size} and {stride}")
    if size > min(len(matrix), len(matrix[0])):
        raise SpecError(f"--size {size} window is larger than the "
                        f"{len(matrix)}x{len(matrix[0])} input")
    kind = pools[mode]
    out = as_lists(kind.new(1, size, stride)(tensor(matrix)))
    steps = [{"position": [r, c], "window": as_lists(patch),
              "value": tidy(kind.value(None, 0, patch))}
             for r, c, patch in windows(tensor(matrix), size, size, stride)]
    _check_same([s["value"] for s in steps], out, float(tensor(matrix).abs().max()) * size * size)
    return {"operation": "pool", "mode": mode, "size": size, "stride": stride,
            "input": matrix, "steps": steps, "output": out}


def _check_same(shown: list[float], layer: Matrix, scale: float) -> None:
    """The arithmetic shown must be what the layer computed, to float32's precision (the two
    may add the same products in another order); ``scale``: the largest sum of |products|."""
    got = torch.tensor([v for row in layer for v in row], dtype=torch.float64)
    want = torch.tensor(shown, dtype=torch.float64)
    assert torch.allclose(got, want, rtol=1e-5, atol=1e-5 * max(scale, 1.0)), "layer mismatch"


# ----------------------------------------------------------------------------- text

def grid(matrix: Matrix, indent: str = "  ") -> str:
    """Right-aligned rows, one per line."""
    cells = [[str(v) for v in row] for row in matrix]
    width = max(len(c) for row in cells for c in row)
    return "\n".join(indent + " ".join(c.rjust(width) for c in row) for row in cells)


def side_by_side(*blocks: tuple[str, Matrix]) -> str:
    """Titled matrices next to each other: patch | products."""
    rendered = [(title, grid(m, "").split("\n")) for title, m in blocks]
    widths = [max(len(title), *(len(line) for line in lines)) for title, lines in rendered]
    lines = ["  " + "   ".join(t.ljust(w) for (t, _), w in zip(rendered, widths))]
    for i in range(max(len(lines_) for _, lines_ in rendered)):
        lines.append("  " + "   ".join((ls[i] if i < len(ls) else "").ljust(w)
                                       for (_, ls), w in zip(rendered, widths)).rstrip())
    return "\n".join(lines)


def conv_text(e: dict) -> str:
    p = e["padding"]
    lines = ["Convolution: slide the kernel over the image; at each position multiply the",
             "overlapping numbers element-wise and add them up.", "", "image:", grid(e["image"]),
             "kernel:", grid(e["kernel"]),
             (f"stride {e['stride']}, padding {p['mode']!r} (top {p['top']}, "
              f"bottom {p['bottom']}, left {p['left']}, right {p['right']})")]
    if any(p[s] for s in ("top", "bottom", "left", "right")):
        lines += ["padded image:", grid(e["padded"])]
    for s in e["steps"]:
        r, c = s["position"]
        terms = " + ".join(str(v) for row in s["products"] for v in row)
        lines += ["", f"position ({r}, {c}):",
                  side_by_side(("patch", s["patch"]), ("patch x kernel", s["products"])),
                  f"  sum = {terms} = {s['sum']}"]
    return "\n".join(lines + ["", "feature map:", grid(e["feature_map"])])


def relu_text(e: dict) -> str:
    return "\n".join(["ReLU: max(0, x) for every element; negatives become 0.", "", "input:",
                      grid(e["input"]), "output = max(0, input):", grid(e["output"]),
                      f"{len(e['zeroed'])} negative values set to 0"])


def elementwise_text(e: dict) -> str:
    return "\n".join([f"{e['title']}: {e['formula']} for every element x.", "", "input:",
                      grid(e["input"]), f"output = {e['formula']}:", grid(e["output"])])


def pool_text(e: dict) -> str:
    name = pool_kinds()[e["mode"]].formula
    lines = [(f"{e['mode']} pooling: a {e['size']}x{e['size']} window moved by {e['stride']}; "
              f"each output = {name}."), "", "input:", grid(e["input"])]
    for s in e["steps"]:
        r, c = s["position"]
        lines += ["", f"window ({r}, {c}):", grid(s["window"]), f"  {e['mode']} = {s['value']}"]
    return "\n".join(lines + ["", "output:", grid(e["output"])])


TEXT = {"conv": conv_text, "relu": relu_text, "pool": pool_text,
        "elementwise": elementwise_text}


def explain_text(e: dict) -> str:
    """The printable walk-through of an ``explain_*`` result."""
    return TEXT[e["operation"]](e)
