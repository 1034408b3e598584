"""Every model family; importing this package runs their ``@register_model`` decorators."""

from . import lenet  # noqa: F401
from .network import Network

__all__ = ["Network"]
from . import alexnet, densenet, googlenet, resnet, small, vgg  # noqa: F401
