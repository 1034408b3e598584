"""ReLU, the other element-wise kinds and pooling on a matrix, with the layer kinds' modules.

Every result is computed by the modules of the layer kinds in ``convnet.kinds`` (every pool
without weights, every element-wise kind); the per-window arithmetic shown beside it (the pool
kind's ``value`` and ``formula``) is checked against the layer's output.

Example:
    >>> explain_pool(TUTORIAL_POOL, "avg")["output"]
    [[3.25, 5.25], [2, 2]]
    >>> explain_elementwise([[-2, 3]], "leakyrelu")["output"]
    [[-0.02, 3]]
"""

from __future__ import annotations

from .. import kinds
from ..errors import SpecError
from ..kinds.units import tidy
from .matrix import Explained, Matrix, as_lists, check_same, check_windows, grid, tensor, windows

TUTORIAL_RELU = [[3, -1, 0], [-2, 5, -4], [1, -3, 2]]
TUTORIAL_POOL = [[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]]


def explain_relu(matrix: Matrix) -> dict:
    """ReLU element-wise with the relu kind's module: negatives become 0, the rest pass."""
    out = as_lists(kinds.RELU.new()(tensor(matrix)))
    changed = [[r, c] for r, row in enumerate(matrix) for c, v in enumerate(row) if v < 0]
    return Explained(operation="relu", input=matrix, output=out, zeroed=changed)


def elementwise_kinds() -> list[str]:
    """The element-wise kinds a matrix can show: relu, tanh, sigmoid, stanh, leakyrelu ...

    Not ``bn``: a batch norm applies a trained layer's per-channel statistics, which a bare
    matrix does not have.
    """
    return [k.name for k in kinds.registered() if isinstance(k, kinds.Elementwise) and k.form
            and k is not kinds.BN]


def explain_elementwise(matrix: Matrix, kind: str) -> dict:
    """Any element-wise kind (relu, tanh, sigmoid, stanh, leakyrelu ...) on every element.

    Raises:
        SpecError: for a kind that is not element-wise, or needs trained statistics (bn).
    """
    found = kinds.find(kind)
    if kind not in elementwise_kinds():
        raise SpecError(f"{kind!r} is not an element-wise layer a bare matrix can show; "
                        f"expected one of "
                        f"{', '.join(elementwise_kinds())}")
    module = found.new().eval()  # dropout: what predicting does
    return Explained(operation="activation", kind=kind, title=found.title,
                     formula=found.formula_of(module), input=matrix,
                     output=as_lists(module(tensor(matrix))))


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
    check_windows(len(matrix), len(matrix[0]), size, stride)
    kind = pools[mode]
    out = as_lists(kind.new(1, size, stride)(tensor(matrix)))
    steps = [{"position": [r, c], "window": as_lists(patch),
              "value": tidy(kind.value(None, 0, patch[0]))}  # patch (1, size, size)
             for r, c, patch in windows(tensor(matrix), size, size, stride)]
    check_same([s["value"] for s in steps], out, float(tensor(matrix).abs().max()) * size * size)
    return Explained(operation="pool", mode=mode, size=size, stride=stride, input=matrix,
                     steps=steps, output=out)


# ----------------------------------------------------------------------------- text

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
