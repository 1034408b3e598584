"""Models by name (timm's registry): ``@register_model`` adds a builder; ``create_model`` and
``list_models`` use it.

It lives inside ``convnet.models`` so that reaching it runs ``convnet/models/__init__.py`` first,
which imports every family: the table is full before anyone reads it, with no import back.

Example:
    >>> "lenet5" in list_models()
    True
    >>> create_model("lenet5").input_shape
    (1, 32, 32)
    >>> create_model("lenet5", in_chans=3, img_size=28).input_shape   # rebuilt from its spec
    (3, 28, 28)
"""

from __future__ import annotations

import fnmatch
import inspect
import re
from dataclasses import dataclass, field
from typing import Callable

import torch

from ..errors import ModelError
from .network import Network


@dataclass(frozen=True)
class ModelInfo:
    """A registered builder and what it expects."""

    name: str
    builder: Callable
    input_shape: tuple[int, int, int]
    num_classes: int
    description: str
    recipes: dict = field(default_factory=dict)  # {kind or dataset: TrainConfig fields}


_MODELS: dict[str, ModelInfo] = {}


def register_model(name: str, input_shape: tuple[int, int, int], num_classes: int = 10,
                   recipes: dict | None = None):
    """Decorator: register ``builder(num_classes=..., in_chans=...) -> Network`` under ``name``.

    ``recipes`` refines the default training recipe of a kind of data ("digits", "photos") or
    of one dataset ("fashion-mnist") for this model; see ``convnet/recipes.py``.
    """

    def decorate(builder: Callable) -> Callable:
        _MODELS[name] = ModelInfo(name, builder, tuple(input_shape), num_classes,
                                  _first_sentence(builder.__doc__ or ""), dict(recipes or {}))
        return builder

    return decorate


def _first_sentence(doc: str) -> str:
    """The docstring's first sentence, even when it wraps over several lines."""
    paragraph = " ".join(doc.strip().split("\n\n")[0].split())
    sentence = re.split(r"(?<!\bal)\.\s", paragraph, maxsplit=1)[0].rstrip(".") + "."
    return sentence if len(sentence) <= 100 else sentence[:99] + "…"


def list_models(pattern: str = "*") -> list[str]:
    """Registered names matching a shell-style pattern, e.g. ``list_models("lenet*")``."""
    return sorted(n for n in _MODELS if fnmatch.fnmatch(n, pattern))


def model_info(name: str) -> ModelInfo:
    if name not in _MODELS:
        raise ModelError(f"unknown model {name!r}; known: {', '.join(sorted(_MODELS))}")
    return _MODELS[name]


def check_model_or_spec(text: str) -> None:
    """Raise ModelError for a single word that is no registered model and cannot be a spec.

    A spec line has spaces or an ``@`` (``conv6@5x5``); anything else is meant as a model name.
    """
    if text not in list_models() and " " not in text.strip() and "@" not in text:
        model_info(text)  # raises, naming the known models


def create_model(name: str, num_classes: int | None = None, in_chans: int | None = None,
                 img_size: int | tuple[int, int] | None = None) -> Network:
    """Build a registered model; each argument left out keeps the model's own default.

    Args:
        num_classes (int, optional): outputs of the last layer.
        in_chans (int, optional): input channels (1 grayscale, 3 colour).
        img_size (int | (int, int), optional): input side, or (height, width). A model defined
            by a spec line is rebuilt for it (its dense layers resized); a block-built one
            (ResNet, DenseNet...) keeps its weights' shapes and is tried at that size.

    Raises:
        ModelError: an unknown name, an argument below 1, or a block-built model that cannot
            take ``img_size`` (its flatten needs the size it was built for).
        SpecError: a spec model whose layers do not fit ``img_size`` (naming the layer).
    """
    info = model_info(name)
    given = {"num_classes": num_classes, "in_chans": in_chans}
    for arg, value in given.items():
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ModelError(f"create_model({name!r}): {arg} must be a whole number >= 1, "
                             f"got {value!r}")
    kwargs = {k: v for k, v in given.items() if v is not None}
    size = _size(name, img_size)
    if size and size[0] == size[1] and "img_size" in inspect.signature(info.builder).parameters:
        kwargs["img_size"], size = size[0], None  # the builder knows its own sizes (tinyvgg)
    net = info.builder(**kwargs)
    if size and size != net.input_shape[1:]:
        net = _resized(name, net, (net.input_shape[0], *size))
    net.name = name
    return net


def _size(name: str, img_size) -> tuple[int, int] | None:
    """``img_size`` as (height, width): 28 -> (28, 28); None stays None."""
    if img_size is None:
        return None
    size = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
    if len(size) != 2 or not all(isinstance(v, int) and v >= 1 for v in size):
        raise ModelError(f"create_model({name!r}): img_size must be a side or (height, width) "
                         f"of whole numbers >= 1, got {img_size!r}")
    return size


def _resized(name: str, net: Network, shape: tuple[int, int, int]) -> Network:
    """``net`` for (C, H, W) inputs: rebuilt from its spec, or a block-built net tried once."""
    if net.spec is not None:
        return Network.from_spec(net.spec, shape)
    built = "x".join(map(str, net.input_shape))
    try:
        with torch.no_grad():
            net.eval()(torch.zeros(1, *shape))  # (1, C, H, W): does every block fit?
    except (RuntimeError, ValueError) as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(f"{name} (built for {built}) cannot take "
                         f"{'x'.join(map(str, shape))} inputs: {reason}") from None
    net.train()
    net.input_shape = shape
    return net
