"""One unit's source window and its arithmetic, as numbers and as the panel's lines.

The page renders every kind's arithmetic the same way: ``lines`` is a list of lines, each
``{"text": parts}``, ``{"eq": parts}`` (an equation), ``{"note": parts}`` or ``{"row": [parts,
...]}`` (a table row; consecutive rows share a table). A part is a string, a number, or
``{"matrix": rows, "mark": [r, c] | None, "colour": k | None}``; colour k matches the page's
k-th outlined window (a convolution's k-th listed input map), and a window's ``layer`` names
the layer it lies in when that is not the unit's source (a residual sum's two operands).

Example:
    >>> src = torch.arange(16.).reshape(1, 4, 4)   # one 4x4 map
    >>> window(src, 0, 3, -1, 2, 2)               # a window half outside the map is clipped
    {'channel': 0, 'y': 3, 'x': 0, 'h': 1, 'w': 1}
    >>> rows(padded_patch(src, 0, 3, -1, 2, 2))   # and padded with zeros
    [[0, 12], [0, 0]]
    >>> text("x = ", tidy(0.1000000015), " → ", 0)
    {'text': ['x = ', 0.1, ' → ', 0]}
"""

from __future__ import annotations

import torch


def tidy(value) -> int | float:
    """A number as the tutorials write it: 4.0 -> 4, 0.1000000015 (float32) -> 0.1.

    Example:
        >>> tidy(4.0), tidy(torch.tensor(0.1)), tidy(-2.5)
        (4, 0.1, -2.5)
    """
    value = float(f"{float(value):.6g}")
    return int(value) if value.is_integer() else value


def rows(t: torch.Tensor) -> list[list]:
    """A (h, w) tensor as nested lists of tidy numbers (-inf padding becomes None)."""
    return [[tidy(v) if abs(v) != float("inf") else None for v in r] for r in t.tolist()]


def window(src: torch.Tensor, c: int, top: int, left: int, h: int, w: int) -> dict:
    """A window in map c of ``src`` (C, H, W), clipped to the map (padding lies outside it)."""
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + h, src.shape[-2]), min(left + w, src.shape[-1])
    return {"channel": c, "y": y0, "x": x0, "h": max(y1 - y0, 0), "w": max(x1 - x0, 0)}


def padded_patch(src: torch.Tensor, c: int, top: int, left: int, kh: int, kw: int,
                 fill: float = 0.0) -> torch.Tensor:
    """The kh x kw patch of map c whose top-left corner is (top, left), ``fill`` outside."""
    patch = torch.full((kh, kw), fill)
    w = window(src, c, top, left, kh, kw)
    patch[w["y"] - top:w["y"] - top + w["h"], w["x"] - left:w["x"] - left + w["w"]] = \
        src[c, w["y"]:w["y"] + w["h"], w["x"]:w["x"] + w["w"]]
    return patch


def at(index: list[int], src: torch.Tensor) -> dict:
    """The one input an element-wise unit reads: a 1x1 window in a map, or a vector entry."""
    if len(index) == 3:
        return {"windows": [window(src, index[0], index[1], index[2], 1, 1)]}
    return {"inputs": [index[0]]}


# ----------------------------------------------------------------------------- the panel's lines
def matrix(values: list[list], mark: list[int] | None = None, colour: int | None = None) -> dict:
    return {"matrix": values, "mark": mark, "colour": colour}


def text(*parts) -> dict:
    return {"text": list(parts)}


def eq(*parts) -> dict:
    return {"eq": list(parts)}


def note(*parts) -> dict:
    return {"note": list(parts)}


def row(*cells: list) -> dict:
    return {"row": [list(cell) for cell in cells]}
