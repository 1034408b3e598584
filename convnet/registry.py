"""Models by name: ``@register_model`` adds a builder; ``create_model`` / ``list_models`` use it.

Example:
    >>> "lenet5" in list_models()
    True
    >>> create_model("lenet5").input_shape
    (1, 32, 32)
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Callable

from .errors import ModelError


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


def _ensure_loaded() -> None:
    from . import models  # noqa: F401  (importing the package runs every @register_model)


def list_models(pattern: str = "*") -> list[str]:
    """Registered names matching a shell-style pattern, e.g. ``list_models("lenet*")``."""
    _ensure_loaded()
    return sorted(n for n in _MODELS if fnmatch.fnmatch(n, pattern))


def model_info(name: str) -> ModelInfo:
    _ensure_loaded()
    if name not in _MODELS:
        raise ModelError(f"unknown model {name!r}; known: {', '.join(sorted(_MODELS))}")
    return _MODELS[name]


def check_model_or_spec(text: str) -> None:
    """Raise ModelError for a single word that is no registered model and cannot be a spec.

    A spec line has spaces or an ``@`` (``conv6@5x5``); anything else is meant as a model name.
    """
    if text not in list_models() and " " not in text.strip() and "@" not in text:
        model_info(text)  # raises, naming the known models


def create_model(name: str, num_classes: int | None = None, in_chans: int | None = None):
    """Build a registered model; ``num_classes``/``in_chans`` override its defaults.

    Raises:
        ModelError: for an unknown name.
    """
    info = model_info(name)
    kwargs = {}
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    if in_chans is not None:
        kwargs["in_chans"] = in_chans
    net = info.builder(**kwargs)
    net.name = name
    return net
