"""convnet: convolutional networks exactly as the classic explanations describe them.

Public API: ``create_model``, ``list_models``, ``Network``, ``summarize``, ``fit``, ``load``,
``show``.
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


def show(run, image, out_dir=None, invert: bool | None = None):
    """Every picture of ``image`` through a trained run (``convnet show``): feature maps,
    filters, saliency, Grad-CAM, probabilities. ``run``: a run folder or what ``fit`` returned;
    ``out_dir``: where the PNGs go (default: a new temporary folder). Jupyter shows the result
    with its pictures inline."""
    import tempfile

    from .viz.show import show as show_run

    out = out_dir if out_dir is not None else tempfile.mkdtemp(prefix="convnet-show-")
    return show_run(getattr(run, "path", run), image, out, invert)


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
    "show",
    "summarize",
]
