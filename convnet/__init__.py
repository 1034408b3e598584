"""convnet: convolutional networks exactly as the classic explanations describe them.

Public API: ``create_model``, ``list_models``, ``Network``, ``summarize``, ``load``.
"""

from .errors import ConvnetError
from .models import Network
from .registry import create_model, list_models, register_model
from .summary import summarize

from .version import __version__


def load(rundir):
    """Load a trained run: ``convnet.load("runs/lenet5").predict("digit.png")``."""
    from .predict import Predictor

    return Predictor.from_run(rundir)


__all__ = ["ConvnetError", "Network", "create_model", "list_models", "load", "register_model",
           "summarize", "__version__"]
