"""One training step on one image, told as the tutorials tell it.

Forward pass -> output probabilities -> total error E = ½Σ(target − output)² -> gradients of
every weight by backpropagation -> gradient descent w ← w − lr·∂E/∂w -> forward again: the
probability of the target class went up.

The step runs with the model in eval mode (dropout off, batch norm using its running
statistics), so that "before" and "after" differ only by the update and equal what ``predict``
shows for the same image; the caller's training flags are restored afterwards.
"""

from __future__ import annotations

import torch

from .config import check_choice
from .errors import ConvnetError
from .layers.losses import sse
from .runs import eval_mode


def step_error(probs: torch.Tensor, target: int, loss: str) -> torch.Tensor:
    """The tutorials' total error ½Σ(t − p)² (``sse``) or cross-entropy −log p_target (``loss``
    checked by ``explain_train_step``, against the same names as ``convnet train --loss``)."""
    if loss == "sse":
        return sse(probs, torch.tensor([target]))
    return -torch.log(probs[0, target].clamp_min(1e-12))


def resolve_target(target: str, classes: list[str]) -> int:
    """A class name ('7', 'ship', 'Ship') or an index ('2') -> the output index.

    A name is matched exactly first, then ignoring case; an index is tried last, so that a
    digit class such as '7' means the class named '7'.

    Example:
        >>> resolve_target("Ship", ["dog", "cat", "ship"]), resolve_target("3", list("ab12"))
        (2, 3)
    """
    folded = [c.casefold() for c in classes]
    if target in classes:
        return classes.index(target)
    if folded.count(target.casefold()) == 1:
        return folded.index(target.casefold())
    if target.isdigit() and int(target) < len(classes):
        return int(target)
    raise ConvnetError(f"--target {target!r} is not a class of this model; classes: "
                       f"{', '.join(classes)} (or an index 0..{len(classes) - 1})")


def explain_train_step(model, x: torch.Tensor, target: int, classes: list[str],
                       lr: float = 0.1, loss: str = "sse") -> dict:
    """Apply one gradient-descent step to ``model`` (in place) for input ``x`` (1, C, H, W).

    Returns before/after probabilities and errors, and per parameter the norms of the weight,
    its gradient and the update lr·gradient.

    Example:
        >>> from convnet import create_model
        >>> torch.manual_seed(0); net = create_model("lenet5")  # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> e = explain_train_step(net, torch.randn(1, 1, 32, 32), 3, list("0123456789"))
        >>> e["after"]["target_probability"] > e["before"]["target_probability"]
        True
    """
    check_choice("loss", loss)
    with eval_mode(model):  # displayed probabilities: batch norm on running statistics
        probs = model.probabilities(x)
        error = step_error(probs, target, loss)
        model.zero_grad(set_to_none=True)
        error.backward()
        rows = []
        with torch.no_grad():
            for name, p in model.named_parameters():
                grad = p.grad if p.grad is not None else torch.zeros_like(p)
                rows.append({"parameter": name, "shape": list(p.shape),
                             "weight_norm": p.norm().item(), "gradient_norm": grad.norm().item(),
                             "update_norm": (lr * grad).norm().item()})
                p -= lr * grad  # gradient descent: w <- w - lr * dE/dw
            after = model.probabilities(x)
    return {"target": classes[target], "loss": loss, "lr": lr, "parameters": rows,
            "before": _state(probs.detach(), target, loss, classes),
            "after": _state(after, target, loss, classes)}


def _state(probs: torch.Tensor, target: int, loss: str, classes: list[str]) -> dict:
    return {"probabilities": dict(zip(classes, probs[0].tolist())),
            "target_probability": probs[0, target].item(),
            "error": step_error(probs, target, loss).item()}


def train_step_text(e: dict) -> str:
    """The step as lines of text: probabilities, error, gradient norms, update, after."""
    def probs(state):
        return "  ".join(f"{k}: {v:.3f}" for k, v in state["probabilities"].items())

    error = "total error E = ½Σ(target − output)²" if e["loss"] == "sse" else "cross-entropy"
    lines = [f"1. forward pass: output probabilities\n   {probs(e['before'])}",
             f"2. target class {e['target']}: {error} = {e['before']['error']:.6f}",
             "3. backpropagation: gradient of the error for every weight",
             f"   {'parameter':<24} {'shape':<16} {'|w|':>9} {'|dE/dw|':>10} "
             f"{'|lr·dE/dw|':>11}"]
    for r in e["parameters"]:
        shape = "x".join(map(str, r["shape"]))
        lines.append(f"   {r['parameter']:<24} {shape:<16} {r['weight_norm']:9.4f} "
                     f"{r['gradient_norm']:10.6f} {r['update_norm']:11.6f}")
    lines += [f"4. gradient descent: w ← w − {e['lr']:g}·dE/dw for every weight",
              f"5. forward again: output probabilities\n   {probs(e['after'])}",
              f"   P({e['target']}) {e['before']['target_probability']:.4f} → "
              f"{e['after']['target_probability']:.4f}; error {e['before']['error']:.6f} → "
              f"{e['after']['error']:.6f}"]
    return "\n".join(lines)
