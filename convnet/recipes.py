"""Default training recipes: one per kind of data, refined per model (timm's per-model config).

A recipe is the set of ``TrainConfig`` fields that a good run depends on: epochs, batch size,
learning rate, optimizer, weight decay, label smoothing, precision and augmentation. A run's
values come from, in order (later wins):

=====================  ==============================================================
source                 what it holds
=====================  ==============================================================
``KIND_RECIPES``        the kind of data: ``digits`` (gray, centred: MNIST, Fashion-MNIST,
                        Semeion, gray folders) or ``photos`` (colour: CIFAR-10, colour
                        folders). Digits get small shifts and never flips (a mirrored 2 is
                        no digit); photos get random crops (4-pixel shifts) and flips.
``recipes=`` of the     the model's own refinements for a kind or a dataset name, written
model's registration    beside it (``@register_model(..., recipes={...})``)
flags / ``TrainConfig`` anything the user sets explicitly (not None)
=====================  ==============================================================

``resolve`` fills every field the user left None and returns where each value came from;
``run.json`` records both (``config`` and ``recipe``). docs/models.md gives the measurement or
source behind every value.

Example:
    >>> from convnet.config import TrainConfig
    >>> cfg, source = resolve(TrainConfig(model="resnet20", dataset="cifar10", epochs=3), "photos")
    >>> cfg.epochs, source["epochs"], cfg.flip, source["flip"]
    (3, 'flag', True, 'photos')
    >>> cfg, source = resolve(TrainConfig(), "digits")      # LeNet-5 on MNIST: the fast recipe
    >>> cfg.epochs, cfg.optimizer, cfg.lr, cfg.flip
    (2, 'adam', 0.008, False)
"""

from __future__ import annotations

from dataclasses import replace

from .models import list_models, model_info

KINDS = ("digits", "photos")
DIGIT_DATASETS = ("mnist", "fashion-mnist", "semeion")
PHOTO_DATASETS = ("cifar10",)

# The fields a recipe sets; everything else in TrainConfig (model, data, seed, device ...) is
# the user's choice alone.
KIND_RECIPES: dict[str, dict] = {
    # LeNet-5's recipe, the fastest found to 99 % on MNIST (docs/performance.md).
    "digits": {"epochs": 2, "batch_size": 128, "lr": 8e-3, "optimizer": "adam",
               "momentum": 0.9, "weight_decay": 0.0, "schedule": "onecycle",
               "label_smoothing": 0.05, "shift": 1, "flip": False, "precision": "auto"},
    # The classic CIFAR recipe (He et al. 2015: SGD momentum 0.9, crops from 4 zero pixels of
    # padding, flips), with Nesterov momentum, a one-cycle rate (0.1 per 128 images, scaled
    # linearly to batch 256, which runs 1.3x faster here), weight decay 5e-4 and label smoothing
    # 0.1 for short schedules, and bf16 (1.9-3.5x faster on this CPU for these models).
    "photos": {"epochs": 15, "batch_size": 256, "lr": 0.2, "optimizer": "nesterov",
               "momentum": 0.9, "weight_decay": 5e-4, "schedule": "onecycle",
               "label_smoothing": 0.1, "shift": 4, "flip": True, "precision": "bf16"},
}
FIELDS = tuple(KIND_RECIPES["digits"])


def kind_of(dataset: str, channels: int) -> str:
    """"digits" or "photos" for a dataset name, or for a folder by its images' channels.

    Example:
        >>> kind_of("fashion-mnist", 1), kind_of("cifar10", 3), kind_of("my/folder", 3)
        ('digits', 'photos', 'photos')
    """
    if dataset in DIGIT_DATASETS:
        return "digits"
    if dataset in PHOTO_DATASETS:
        return "photos"
    return "photos" if channels == 3 else "digits"


def model_recipes(model: str) -> dict[str, dict]:
    """The recipes registered beside a model ({} for a spec line or a model without any)."""
    return dict(model_info(model).recipes) if model in list_models() else {}


def resolve(cfg, kind: str):
    """Fill the recipe fields left None; return (the new config, {field: source}).

    Sources are "flag" (set by the user), the kind ("digits"/"photos"), or
    "<model>/<kind or dataset>" for a model's own recipe.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    values = {f: (v, kind) for f, v in KIND_RECIPES[kind].items()}
    own = model_recipes(cfg.model)
    for key in (kind, cfg.dataset):  # the dataset's own entry is more specific than its kind
        for f, v in own.get(key, {}).items():
            values[f] = (v, f"{cfg.model}/{key}")
    source = {}
    for f in FIELDS:
        if getattr(cfg, f) is None:
            cfg = replace(cfg, **{f: values[f][0]})
            source[f] = values[f][1]
        else:
            source[f] = "flag"
    return cfg, source
