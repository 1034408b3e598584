"""One training step on one image, numbered as the tutorials number it.

1 initialise the filters and weights (a run's trained values, or random ones), 2 forward
propagation -> output probabilities, 3 total error E = ½Σ(target − output)², 4 backpropagation
gives ∂E/∂w for every weight and gradient descent updates it, w ← w − lr·∂E/∂w (shown with the
numbers for some filter values), 5 repeat: forward again, the target's probability went up.

The step runs with the model in eval mode (dropout off, batch norm using its running
statistics), so that "before" and "after" differ only by the update and equal what ``predict``
shows for the same image; the caller's training flags are restored afterwards.
"""

from __future__ import annotations

import math

import torch

from .config import check_choice
from .errors import ConvnetError, TrainingError
from .layers.losses import sse
from .runs import eval_mode

TUTORIAL_CLASSES = ["dog", "cat", "boat", "bird"]  # seed4's outputs, as the tutorials name them
# Other words for one class: the tutorials' "boat" is CIFAR-10's "ship".
SYNONYMS = {"boat": "ship", "ship": "boat", "plane": "airplane", "airplane": "plane",
            "car": "automobile", "automobile": "car"}
INITIALISER = ("torch's default: U(−1/√fan_in, +1/√fan_in), fan_in = C_in·k·k for a filter "
               "(inputs for a fully connected layer); biases alike")
SHOWN = 3  # filter values shown in step 4, besides the one with the largest gradient


def step_error(probs: torch.Tensor, target: int, loss: str) -> torch.Tensor:
    """The tutorials' total error ½Σ(t − p)² (``sse``) or cross-entropy −log p_target (``loss``
    checked by ``explain_train_step``, against the same names as ``convnet train --loss``)."""
    if loss == "sse":
        return sse(probs, torch.tensor([target]))
    return -torch.log(probs[0, target].clamp_min(1e-12))


def resolve_target(target: str, classes: list[str]) -> int:
    """A class name ('7', 'ship', 'Ship', 'boat' for 'ship') or an index ('2') -> its output.

    A name is matched exactly first, then ignoring case, then by a synonym (``SYNONYMS``); an
    index is tried last, so that a digit class such as '7' means the class named '7'.

    Raises:
        ConvnetError: an unknown name or index, listing the classes (exit code 1).

    Example:
        >>> resolve_target("Ship", ["dog", "cat", "ship"]), resolve_target("3", list("ab12"))
        (2, 3)
        >>> resolve_target("boat", ["dog", "cat", "ship", "bird"])
        2
    """
    folded = [c.casefold() for c in classes]
    if target in classes:
        return classes.index(target)
    for name in (target.casefold(), SYNONYMS.get(target.casefold())):
        if name is not None and folded.count(name) == 1:
            return folded.index(name)
    if target.isdigit() and int(target) < len(classes):
        return int(target)
    raise ConvnetError(f"--target {target!r} is not a class of this model; classes: "
                       f"{', '.join(classes)} (or an index 0..{len(classes) - 1})")


def load_step_input(source: str, image: str, seed: int = 0):
    """A run directory, or a registered model name initialised at random with ``seed``, and
    the image prepared as its input -> (model, x (1, C, H, W), classes, how it was initialised).

    An untrained model's classes are the tutorials' dog, cat, boat, bird for a 4-output model
    (seed4) and the digits 0..K-1 otherwise (MNIST).
    """
    from .predict import Predictor
    from .registry import create_model, list_models

    if not 0 <= seed < 2 ** 63:  # what torch.manual_seed takes
        raise ConvnetError(f"--seed must be a whole number from 0 to 2^63 - 1, got {seed}")
    if source in list_models():
        torch.manual_seed(seed)
        model = create_model(source)
        k = model.num_classes
        classes = TUTORIAL_CLASSES if k == len(TUTORIAL_CLASSES) else [str(i) for i in range(k)]
        predictor = Predictor(model, classes)
        initialised = f"random values (--seed {seed}), {INITIALISER}"
    else:
        predictor = Predictor.from_run(source, backend="torch")
        initialised = f"the trained weights of {source}"
    x = torch.from_numpy(predictor.prepare(image))[None]  # (C, H, W) -> (1, C, H, W)
    return predictor.model, x, predictor.classes, initialised


def explain_train_step(model, x: torch.Tensor, target: int, classes: list[str],
                       lr: float = 0.1, loss: str = "sse", initialised: str = "") -> dict:
    """Apply one gradient-descent step to ``model`` (in place) for input ``x`` (1, C, H, W).

    Returns before/after probabilities and errors; per parameter the norms of the weight, its
    gradient and the update lr·gradient; and some values of the first convolution's filters
    before and after, beside their gradients (``values``: w, ∂E/∂w, w − lr·∂E/∂w).

    Raises:
        ConvnetError: an unknown ``loss``, or ``lr`` not a finite number > 0 (exit code 1).
        TrainingError: a step so large that the outputs became NaN or infinite (exit code 8).

    Example:
        >>> from convnet import create_model
        >>> torch.manual_seed(0); net = create_model("lenet5")  # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> e = explain_train_step(net, torch.randn(1, 1, 32, 32), 3, list("0123456789"))
        >>> e["after"]["target_probability"] > e["before"]["target_probability"]
        True
        >>> v = e["values"][0]
        >>> abs(v["after"] - (v["before"] - 0.1 * v["gradient"])) < 1e-6
        True
    """
    check_choice("loss", loss)
    if not (math.isfinite(lr) and lr > 0):
        raise ConvnetError(f"--lr must be a finite number > 0, got {lr!r}")
    with eval_mode(model):  # displayed probabilities: batch norm on running statistics
        probs = model.probabilities(x)
        error = step_error(probs, target, loss)
        model.zero_grad(set_to_none=True)
        error.backward()
        with torch.no_grad():
            values = _watched(model)
            rows = [_update(name, p, lr) for name, p in model.named_parameters()]
            for v in values:
                v["after"] = v.pop("tensor")[tuple(v["index"])].item()
            after = model.probabilities(x)
    if not torch.isfinite(after).all():  # JSON has no NaN, and the step taught nothing
        raise TrainingError(f"--lr {lr:g} is too large: one step made the outputs "
                            f"{after[0].tolist()}; try a smaller --lr")
    return {"operation": "train-step", "initialised": initialised, "target": classes[target],
            "loss": loss, "lr": lr, "parameters": rows, "values": values,
            "before": _state(probs.detach(), target, loss, classes),
            "after": _state(after, target, loss, classes)}


def _update(name: str, p: torch.Tensor, lr: float) -> dict:
    """Gradient descent on one parameter, in place: w <- w - lr * dE/dw; its norms."""
    grad = p.grad if p.grad is not None else torch.zeros_like(p)
    row = {"parameter": name, "shape": list(p.shape), "weight_norm": p.norm().item(),
           "gradient_norm": grad.norm().item(), "update_norm": (lr * grad).norm().item()}
    p -= lr * grad
    return row


def _watched(model) -> list[dict]:
    """Before the update: the first ``SHOWN`` values of the first filter of the first learned
    convolution (its first input channel, first row) and that layer's value with the largest
    |gradient|, each with its gradient."""
    learned = [(n, p) for n, p in model.named_parameters() if p.grad is not None] or list(
        model.named_parameters())  # frozen ones (airbench94's whitening) have no gradient
    name, p = next(((n, p) for n, p in learned if p.dim() == 4), learned[0])  # no conv: any
    grad = p.grad if p.grad is not None else torch.zeros_like(p)
    flat = [*range(min(SHOWN, p.numel())), int(grad.abs().argmax())]
    found = []
    for i in dict.fromkeys(flat):  # the largest may be among the first: once
        index = [int(v) for v in torch.unravel_index(torch.tensor(i), p.shape)]
        found.append({"parameter": name, "index": index, "before": p[tuple(index)].item(),
                      "gradient": grad[tuple(index)].item(), "tensor": p})
    return found


def _state(probs: torch.Tensor, target: int, loss: str, classes: list[str]) -> dict:
    return {"probabilities": dict(zip(classes, probs[0].tolist())),
            "target_probability": probs[0, target].item(),
            "error": step_error(probs, target, loss).item()}


def train_step_text(e: dict) -> str:
    """The step as the tutorials number it: initialise, forward, total error, backpropagate
    and update (with the numbers for some filter values), repeat."""
    def probs(state):
        return "  ".join(f"{k}: {v:.3f}" for k, v in state["probabilities"].items())

    error = "E = ½Σ(target − output)²" if e["loss"] == "sse" else "E = −ln P(target)"
    before, after, lr = e["before"], e["after"], e["lr"]
    lines = [f"1. initialise: {e['initialised'] or 'the model as given'}",
             f"2. forward propagation: output probabilities\n   {probs(before)}",
             f"3. total error for target {e['target']}: {error} = {before['error']:.6f}",
             ("4. backpropagation: the gradient ∂E/∂w of every weight; gradient descent: "
             f"w ← w − {lr:g}·∂E/∂w"),
             (f"   {'parameter':<24} {'shape':<16} {'|w|':>9} {'|∂E/∂w|':>10} "
             f"{'|lr·∂E/∂w|':>11}")]
    for r in e["parameters"]:
        shape = "x".join(map(str, r["shape"]))
        lines.append(f"   {r['parameter']:<24} {shape:<16} {r['weight_norm']:9.4f} "
                     f"{r['gradient_norm']:10.6f} {r['update_norm']:11.6f}")
    lines.append("   some filter values, w_new = w − lr·∂E/∂w:")
    for v in e["values"]:
        at = f"{v['parameter']}[{', '.join(map(str, v['index']))}]"
        lines.append(f"   {at:<34} {v['before']:.7g} − {lr:g} × ({v['gradient']:.6g}) = "
                     f"{v['after']:.7g}")
    lines += [f"5. repeat: forward again with the new weights\n   {probs(after)}",
              (f"   P({e['target']}) {before['target_probability']:.4f} → "
              f"{after['target_probability']:.4f}; error {before['error']:.6f} → "
              f"{after['error']:.6f}"),
              ("   training repeats steps 2-4 for every image of the training set "
              "(convnet train, in batches)")]
    return "\n".join(lines)
