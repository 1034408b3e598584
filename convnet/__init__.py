"""convnet: convolutional networks exactly as the classic explanations describe them.

Public API: ``create_model``, ``list_models``, ``Network``, ``summarize``, ``fit``, ``load``.
"""

from .errors import ConvnetError
from .fitting import TrainedRun, fit
from .models import Network
from .registry import create_model, list_models, register_model
from .summary import summarize
from .version import __version__


def load(source, backend: str = "auto"):
    """A trained run directory or exported ``.onnx`` file, ready to predict:
    ``convnet.load("runs/lenet5-mnist").predict("digit.png")``; ``backend`` as in ``Predictor``."""
    from .predict import Predictor

    return Predictor.open(source, backend)


__all__ = [
    "ConvnetError",
    "Network",
    "TrainedRun",
    "__version__",
    "create_model",
    "fit",
    "list_models",
    "load",
    "register_model",
    "summarize",
]
