"""Models by name, for users: timm's ``create_model`` / ``list_models``, and a run's weights.

The registry itself is ``convnet.models.registry`` (``@register_model`` and the table of
builders); this module sits above ``convnet.runs`` so that ``create_model`` can also load a
trained run's weights (``checkpoint=RUNDIR``), as ``timm.create_model(checkpoint_path=...)``.

Example:
    >>> list_models("lenet*")
    ['lenet5', 'lenet5-1998']
    >>> create_model("resnet20", num_classes=3, in_chans=1, img_size=28).input_shape
    (1, 28, 28)
"""

from __future__ import annotations

from pathlib import Path

from . import runs
from .models import Network
from .models.registry import ModelInfo, check_model_or_spec, list_models, model_info, register_model
from .models.registry import create_model as _build

__all__ = ["ModelInfo", "check_model_or_spec", "create_model", "list_models", "model_info",
           "register_model"]


def create_model(name: str, num_classes: int | None = None, in_chans: int | None = None,
                 img_size: int | tuple[int, int] | None = None,
                 checkpoint: str | Path | None = None) -> Network:
    """Build a registered model (``convnet.models.registry.create_model``), then optionally put
    a run's trained weights in it.

    Args:
        num_classes, in_chans, img_size: as in ``convnet.models.registry.create_model``.
        checkpoint (path, optional): a run directory; its weights are loaded, so the model
            must have the run's architecture (same name, classes and channels).

    Raises:
        ModelError, SpecError: as for building. RunError: ``checkpoint`` is no usable run, or
            its weights are for another model (the line names the first tensor that differs).
    """
    model = _build(name, num_classes, in_chans, img_size)
    if checkpoint is not None:
        trained, _ = runs.load_model(Path(checkpoint))  # checks the run's files and weights
        runs.load_weights(model, trained.state_dict(), Path(checkpoint) / runs.WEIGHTS)
    return model
