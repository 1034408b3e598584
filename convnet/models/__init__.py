"""Every model family; importing this package runs their ``@register_model`` decorators, so the
registry (``convnet.models.registry``) is full before anything reads it."""

from . import lenet  # noqa: F401
from .network import Network
from .registry import ModelInfo, check_model_or_spec, create_model, list_models, model_info

__all__ = ["ModelInfo", "Network", "check_model_or_spec", "create_model", "list_models",
           "model_info"]
from . import airbench, alexnet, densenet, googlenet, resnet, small, vgg  # noqa: F401, E402
