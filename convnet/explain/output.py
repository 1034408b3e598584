"""The output layer: softmax turns scores into probabilities, the total error compares them
with the target (the tutorials' ½Σ(target − output)², or cross-entropy).

Example (the tutorials' boat: output [0.2, 0.4, 0.1, 0.3] against target [0, 0, 1, 0]):
    >>> explain_error(TUTORIAL_OUTPUT, TUTORIAL_TARGET)["error"]   # ½(0.04+0.16+0.81+0.09)
    0.55
    >>> explain_softmax([2, 1, 0.1])["probabilities"]
    [0.659001, 0.242433, 0.0985659]
"""

from __future__ import annotations

import math

import torch

from .. import layers as L
from ..errors import SpecError
from ..kinds.units import tidy
from ..layers.losses import sse
from .matrix import Explained, check_same

TUTORIAL_CLASSES = ["dog", "cat", "boat", "bird"]
TUTORIAL_OUTPUT = [0.2, 0.4, 0.1, 0.3]  # the first forward pass of the tutorials' boat image
TUTORIAL_TARGET = [0, 0, 1, 0]
TUTORIAL_LOGITS = [2, 1, 0.1]
LOSSES = {"sse": "E = ½ Σ (target − output)²", "cross-entropy": "E = −Σ target · ln(output)"}


def explain_softmax(logits: list[float]) -> dict:
    """p_i = e^(z_i − max z) / Σ_j e^(z_j − max z), with ``layers.Softmax``; every term shown.

    Subtracting the largest score leaves p unchanged (the factor e^(−max z) cancels) and keeps
    e^z from overflowing: the layer does the same.
    """
    top = max(logits)
    exps = [math.exp(z - top) for z in logits]
    total = sum(exps)
    probs = L.Softmax()(torch.tensor([logits], dtype=torch.float64))[0].tolist()  # (1, K)
    check_same([e / total for e in exps], probs, 1.0)
    return Explained(operation="softmax", logits=logits, max=tidy(top),
                     shifted=[tidy(z - top) for z in logits], exp=[tidy(e) for e in exps],
                     sum=tidy(total), probabilities=[tidy(p) for p in probs])


def one_hot(target: list[float], k: int) -> list[float]:
    """A target given as one class index (``2`` of 4 classes) -> [0, 0, 1, 0]; a vector as is."""
    if len(target) == 1 and k > 1 and float(target[0]).is_integer() and 0 <= target[0] < k:
        return [1 if i == target[0] else 0 for i in range(k)]
    return target


def explain_error(output: list[float], target: list[float], loss: str = "sse",
                  classes: list[str] | None = None) -> dict:
    """The total error of ``output`` (probabilities) against ``target``, term by term.

    Args:
        output (list[float]): the network's K outputs (softmax probabilities).
        target (list[float]): K target values (one-hot: 1 for the right class), or the index
            of the right class.
        loss (str): "sse" (½Σ(t − o)², the tutorials') or "cross-entropy" (−Σ t·ln o).
        classes (list[str] | None): K class names for the text. Default: 0..K-1.

    Raises:
        SpecError: vectors of different lengths, an unknown loss, or ln of an output <= 0.
    """
    target = one_hot(target, len(output))
    if len(target) != len(output):
        raise SpecError(f"--target has {len(target)} values but --output has {len(output)}; "
                        "give one per class (or the right class's index)")
    if loss not in LOSSES:
        raise SpecError(f"--loss must be {' or '.join(LOSSES)}, got {loss!r}")
    if loss == "sse":
        terms = [(t - o) ** 2 for t, o in zip(target, output)]
        error = 0.5 * sum(terms)
    else:
        if any(t and o <= 0 for t, o in zip(target, output)):
            raise SpecError(f"--output must be > 0 where --target is not 0 (ln 0 is -inf), "
                            f"got {output}")
        terms = [-t * math.log(o) if t else 0.0 for t, o in zip(target, output)]
        error = sum(terms)
    if sorted(target) == [0] * (len(target) - 1) + [1] and loss == "sse":  # one-hot: the layer
        check_same([error], [sse(torch.tensor([output], dtype=torch.float64),
                                 torch.tensor([target.index(1)])).item()], 1.0)
    return Explained(operation="error", loss=loss, formula=LOSSES[loss],
                     classes=classes or [str(i) for i in range(len(output))], output=output,
                     target=target, terms=[tidy(t) for t in terms], sum=tidy(sum(terms)),
                     error=tidy(error), output_sum=tidy(sum(output)))


# ----------------------------------------------------------------------------- text

def _table(header: list[str], columns: list[list]) -> list[str]:
    cells = [header] + [[str(v) for v in row] for row in zip(*columns)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return ["  " + "  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in cells]


def softmax_text(e: dict) -> str:
    m = e["max"]
    lines = [("Softmax: p_i = e^(z_i) / Σ_j e^(z_j); every p_i is between 0 and 1, and they add "
             "up to 1."), (f"Subtracting the largest score first (z_i − {m}) leaves p unchanged "
             "and keeps e^z from overflowing."), ""]
    lines += _table(["i", "z_i", f"z_i − {m}", f"e^(z_i − {m})", "p_i"],
                    [list(range(len(e["logits"]))), e["logits"], e["shifted"], e["exp"],
                     e["probabilities"]])
    return "\n".join(lines + ["", (f"Σ_j e^(z_j − {m}) = {' + '.join(map(str, e['exp']))} = "
                              f"{e['sum']}"), f"p_i = e^(z_i − {m}) / {e['sum']}"])


def error_text(e: dict) -> str:
    sse_loss = e["loss"] == "sse"
    term = "(target − output)²" if sse_loss else "−target · ln(output)"
    lines = [f"Total error ({e['loss']}): {e['formula']} over the classes.", ""]
    lines += _table(["class", "target", "output", term],
                    [e["classes"], e["target"], e["output"], e["terms"]])
    added = " + ".join(map(str, e["terms"]))
    total = (f"E = ½ ({added}) = ½ × {e['sum']} = {e['error']}" if sse_loss
             else f"E = {added} = {e['error']}")
    lines += ["", total]
    if abs(e["output_sum"] - 1) > 1e-6:
        lines.append(f"note: the outputs add up to {e['output_sum']}, not 1 as softmax "
                     "probabilities do")
    return "\n".join(lines)
