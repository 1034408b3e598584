"""The table of ``convnet explain`` modes: each mode's flags, what it computes and its text.

The CLI builds one subcommand per row (``convnet explain conv --help`` lists that mode's flags)
and runs it through the row, so a mode and its flags are written once, here.

Example:
    >>> list(MODES)
    ['conv', 'relu', 'activation', 'pool', 'softmax', 'error', 'train-step']
    >>> result = MODES["error"].run(defaults("error"))
    >>> result["error"], result["classes"]
    (0.55, ['dog', 'cat', 'boat', 'bird'])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

from ..errors import SpecError
from .conv import (
    PADDINGS,
    RGB_BIAS,
    RGB_IMAGE,
    RGB_KERNEL,
    TUTORIAL_IMAGE,
    TUTORIAL_KERNEL,
    conv_text,
    explain_conv,
)
from .matrix import parse_channels, parse_matrix, parse_vector
from .output import (
    LOSSES,
    TUTORIAL_CLASSES,
    TUTORIAL_LOGITS,
    TUTORIAL_OUTPUT,
    TUTORIAL_TARGET,
    error_text,
    explain_error,
    explain_softmax,
    softmax_text,
)
from .pool import (
    TUTORIAL_POOL,
    TUTORIAL_RELU,
    elementwise_text,
    explain_elementwise,
    explain_pool,
    explain_relu,
    pool_text,
    relu_text,
)

Flag = tuple[tuple[str, ...], dict]  # (names, argparse options): add_argument(*names, **options)


def flag(*names: str, **options) -> Flag:
    return names, options


@dataclass(frozen=True)
class Mode:
    """One ``convnet explain`` mode.

    Args:
        name (str): the word after ``explain``; also the result's ``operation``.
        summary (str): one line for ``convnet explain --help``.
        flags (tuple[Flag, ...]): its flags (``--json`` is added to every mode).
        run (Callable): the parsed flags (any object with them as attributes) -> the result.
        text (Callable): the result -> the printed walk-through.
    """

    name: str
    summary: str
    flags: tuple[Flag, ...]
    run: Callable[[object], dict]
    text: Callable[[dict], str]


def number(text: str | None, name: str, default: float) -> float:
    """One typed number, checked as the matrices are (finite, at most 1e15)."""
    if text is None:
        return default
    values = parse_vector(text, name)
    if len(values) != 1:
        raise SpecError(f"{name} must be one number, got {text!r}")
    return values[0]


def image_flag(default: str) -> Flag:
    return flag("--image", help="the input matrix: rows by ';', values by ',', e.g. '1,0;0,1'; "
                "write --image=-1,2;3,4 when it starts with a minus (default: " + default + ")")


STRIDE = flag("--stride", type=int, help="step between windows (default: 1 for conv, "
              "--size for pool)")


# ----------------------------------------------------------------------------- runners

def run_conv(o) -> dict:
    # `is not None`: an empty --image '' (an unset shell variable) is an error, not the default
    image = (parse_channels(o.image) if o.image is not None
             else RGB_IMAGE if o.rgb else TUTORIAL_IMAGE)
    kernel = (parse_channels(o.kernel, "--kernel") if o.kernel is not None
              else RGB_KERNEL if o.rgb else TUTORIAL_KERNEL)
    bias = number(o.bias, "--bias", RGB_BIAS if o.rgb else 0)
    padding = o.padding if o.padding is not None else ("same" if o.rgb else "valid")
    return explain_conv(image, kernel, 1 if o.stride is None else o.stride, padding, bias)


def run_relu(o) -> dict:
    return explain_relu(parse_matrix(o.image) if o.image is not None else TUTORIAL_RELU)


def run_activation(o) -> dict:
    image = parse_matrix(o.image) if o.image is not None else TUTORIAL_RELU
    return explain_elementwise(image, o.kind)


def run_pool(o) -> dict:
    image = parse_matrix(o.image) if o.image is not None else TUTORIAL_POOL
    return explain_pool(image, o.mode, o.size, o.stride)


def run_softmax(o) -> dict:
    logits = parse_vector(o.logits, "--logits") if o.logits is not None else TUTORIAL_LOGITS
    return explain_softmax(logits)


def run_error(o) -> dict:
    if o.output is None:  # the tutorials' boat, with its class names
        target = parse_vector(o.target, "--target") if o.target is not None else TUTORIAL_TARGET
        return explain_error(TUTORIAL_OUTPUT, target, o.loss, TUTORIAL_CLASSES)
    output = parse_vector(o.output, "--output")
    if o.target is None:
        raise SpecError("--target is needed with --output: the target values, or the index "
                        "of the right class")
    return explain_error(output, parse_vector(o.target, "--target"), o.loss)


def run_train_step(o) -> dict:
    from ..explain_step import explain_train_step, load_step_input, resolve_target

    model, x, classes, initialised = load_step_input(o.source, o.image, o.seed)
    target = resolve_target(o.target, classes)
    return explain_train_step(model, x, target, classes, o.lr, o.loss, initialised)


def train_step_text(e: dict) -> str:
    from ..explain_step import train_step_text as text

    return text(e)


# ----------------------------------------------------------------------------- the table

MODES = {m.name: m for m in [
    Mode("conv", "slide a kernel over an image: every window's products and sum, the output-size "
         "formula; several channels (RGB) and a bias", (
             image_flag("the tutorials' 5x5 image; several channels (RGB) are matrices "
                        "separated by '|'"),
             flag("--kernel", help="the filter, same format; one matrix per input channel, "
                  "separated by '|' (default: the tutorials' 3x3)"),
             flag("--bias", help="added to every output (default: 0)"),
             STRIDE,
             flag("--padding", help=f"{', '.join(PADDINGS)} (narrow = valid, wide = full: "
                  "k − 1 zeros each side) or N zeros (default: valid; same with --rgb)"),
             flag("--rgb", action="store_true", help="the tutorials' RGB example: a 5x5x3 image "
                  "⊛ a 3x3x3 kernel + bias 1, padding same (Saha's figure: first output −25); "
                  "--image, --kernel, --bias and --padding replace its parts")),
         run_conv, conv_text),
    Mode("relu", "ReLU, max(0, x), on every element of a matrix",
         (image_flag("the tutorials' 3x3"),), run_relu, relu_text),
    Mode("activation", "any element-wise kind (tanh, sigmoid, stanh, leakyrelu ...) on a matrix",
         (image_flag("the tutorials' 3x3"),
          flag("--kind", default="tanh", help="the layer kind, as the spec writes it")),
         run_activation, elementwise_text),
    Mode("pool", "max, average or sum pooling, window by window", (
        image_flag("the tutorials' 4x4"), STRIDE,
        flag("--mode", choices=["max", "avg", "sum"], default="max", help="the kind of pooling"),
        flag("--size", type=int, default=2, help="window side")), run_pool, pool_text),
    Mode("softmax", "scores -> probabilities, e^z / Σe^z, term by term", (
        flag("--logits", help="the scores z before softmax, e.g. '2, 1, 0.1' (default: "
             f"{', '.join(map(str, TUTORIAL_LOGITS))}); --logits=-1,2 when it starts with a "
             "minus"),), run_softmax, softmax_text),
    Mode("error", "the total error of output probabilities against the target, term by term", (
        flag("--output", help="the output probabilities, e.g. '0.2, 0.4, 0.1, 0.3' (default: "
             "the tutorials' boat image)"),
        flag("--target", help="the target, e.g. '0, 0, 1, 0', or the right class's index "
             "(default: the boat, 0, 0, 1, 0)"),
        flag("--loss", choices=list(LOSSES), default="sse",
             help="sse: ½Σ(target − output)², the tutorials'; cross-entropy: −Σ target·ln "
             "output")), run_error, error_text),
    Mode("train-step", "one gradient-descent step on one image: initialise, forward, total "
         "error, backpropagate and update, repeat", (
             flag("source", metavar="RUNDIR|MODEL", help="a run, or a model name (random "
                  "weights from --seed)"),
             flag("image", help="the image file"),
             flag("--target", required=True, help="the correct class: a name (dog, boat, 7) "
                  "or an index"),
             flag("--lr", type=float, default=0.1, help="learning rate"),
             flag("--loss", choices=list(LOSSES), default="sse",
                  help="the error to reduce (sse: ½Σ(target − output)²)"),
             flag("--seed", type=int, default=0, help="with a MODEL: the random initial "
                  "weights")), run_train_step, train_step_text),
]}


def defaults(name: str) -> SimpleNamespace:
    """A mode's flags at their defaults (what the CLI passes when none is given)."""
    values = {}
    for names, options in MODES[name].flags:
        dest = names[0].lstrip("-").replace("-", "_")
        values[dest] = options.get("default", False if options.get("action") else None)
    return SimpleNamespace(**values)
