"""The numbers a learner types, and how they are printed back: matrices, channels, vectors.

A matrix is rows separated by ';' and values by ',' or spaces; an image of several channels
(RGB) is matrices separated by '|'; a vector is values separated by ',' or spaces.

Example:
    >>> parse_channels("1,2;3,4 | 5,6;7,8")
    [[[1, 2], [3, 4]], [[5, 6], [7, 8]]]
    >>> parse_vector("0.2, 0.4 0.1,0.3", "--output")
    [0.2, 0.4, 0.1, 0.3]
    >>> print(grid([[1, -2.5], [30, 4]]))
         1 -2.5
        30    4
"""

from __future__ import annotations

import torch

from .. import notebook
from ..errors import SpecError
from ..kinds.units import tidy

Matrix = list[list[float]]
Channels = list[Matrix]  # (C, H, W) as nested lists
MAX_VALUE = 1e15  # |numbers| typed in: products and sums stay far inside float32's range
MAX_WINDOWS = 10_000  # a walk-through prints every window: beyond this it is no longer read


class Explained(dict):
    """What every ``explain_*`` returns: a plain dict (the CLI's --json and the page read it as
    one) that Jupyter shows as its matrices side by side, the walk-through folded under them."""

    def _repr_html_(self) -> str:
        from . import explain_text  # the package's table of modes, which imports this module

        return notebook.explain_html(self, explain_text(self))


def _numbers(text: str, values: list[str], name: str, example: str) -> list[float]:
    """Every value as a finite float of at most MAX_VALUE, or one SpecError echoing ``text``."""
    try:
        numbers = [float(v) for v in values]
    except ValueError:
        raise SpecError(f"{name} must hold numbers like {example!r}, got {text!r}") from None
    if not all(abs(v) <= MAX_VALUE for v in numbers):  # False for nan too
        raise SpecError(f"{name} must hold finite numbers of at most {MAX_VALUE:g}, got {text!r}")
    return [tidy(v) for v in numbers]


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
    matrix = [_numbers(text, row, name, "1,0;0,1") for row in rows]
    if not matrix or not matrix[0]:
        raise SpecError(f"{name} is empty: give rows separated by ';', got {text!r}")
    if any(len(row) != len(matrix[0]) for row in matrix):
        lengths = [len(row) for row in matrix]
        raise SpecError(f"{name} has rows of different lengths {lengths}: {text!r}")
    return matrix


def parse_channels(text: str, name: str = "--image") -> Channels:
    """Channels separated by '|', each a matrix: "R rows | G rows | B rows" -> (C, H, W).

    Raises:
        SpecError: as ``parse_matrix``, or channels of different sizes.
    """
    channels = [parse_matrix(part, name) for part in text.split("|")]
    sizes = [f"{len(m)}x{len(m[0])}" for m in channels]
    if len(set(sizes)) > 1:
        raise SpecError(f"{name} has channels of different sizes {', '.join(sizes)}: {text!r}")
    return channels


def parse_vector(text: str, name: str) -> list[float]:
    """Values separated by ',' or spaces: "0.2, 0.4, 0.1" -> [0.2, 0.4, 0.1].

    Raises:
        SpecError: for an empty vector or a value that is not a finite number.
    """
    values = _numbers(text, text.replace(",", " ").split(), name, "0.2, 0.4, 0.1, 0.3")
    if not values:
        raise SpecError(f"{name} is empty: give numbers separated by ',', got {text!r}")
    return values


def tensor(matrix: Matrix | Channels) -> torch.Tensor:
    """(H, W) or (C, H, W) nested lists -> a (1, C, H, W) float32 batch of one image."""
    t = torch.tensor(matrix, dtype=torch.float32)
    return t[None, None] if t.dim() == 2 else t[None]  # (H, W) or (C, H, W) -> (1, C, H, W)


def as_lists(t: torch.Tensor) -> Matrix:
    """A tensor holding one (H, W) map, e.g. (1, 1, H, W) -> nested lists of tidy numbers."""
    return [[tidy(v) for v in row] for row in t.reshape(t.shape[-2:]).tolist()]


def windows(x: torch.Tensor, size_h: int, size_w: int, stride: int):
    """(row, col, patch (C, size_h, size_w)) for every window of ``x`` (1, C, H, W), row-major,
    as the layers visit them."""
    _, _, h, w = x.shape
    for r in range(0, h - size_h + 1, stride):
        for c in range(0, w - size_w + 1, stride):
            yield r // stride, c // stride, x[0, :, r:r + size_h, c:c + size_w]


def check_windows(height: int, width: int, k: int, stride: int) -> None:
    """Refuse a stride beyond the (padded) input or more than ``MAX_WINDOWS`` windows, before
    any tensor of that size is made.

    Example:
        >>> check_windows(7, 7, 3, 10 ** 20)
        Traceback (most recent call last):
        ...
        convnet.errors.SpecError: --stride must be from 1 to 7 (the padded input's side), \
got 100000000000000000000
    """
    if stride > max(height, width):
        raise SpecError(f"--stride must be from 1 to {max(height, width)} (the padded input's "
                        f"side), got {stride}")
    count = ((height - k) // stride + 1) * ((width - k) // stride + 1)
    if count > MAX_WINDOWS:
        raise SpecError(f"{count:,} windows ({height}x{width} padded input, {k}x{k} window, "
                        f"stride {stride}) are too many to show; at most {MAX_WINDOWS:,}")


def check_same(shown: list[float], layer: list, scale: float) -> None:
    """The arithmetic shown must be what the layer computed, to float32's precision (the two
    may add the same products in another order); ``scale``: the largest sum of |products|."""
    got = torch.tensor(layer, dtype=torch.float64).flatten()
    want = torch.tensor(shown, dtype=torch.float64)
    assert torch.allclose(got, want, rtol=1e-5, atol=1e-5 * max(scale, 1.0)), "layer mismatch"


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
