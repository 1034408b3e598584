"""Any ``torch.nn.Module`` as a run's model: checked, described in run.json, and seen as a
``Network`` is by the training loop, ``evaluate`` and ``Predictor``.

``convnet.fit`` takes a registered name, a spec line, a ``Network`` or any module mapping
(N, C, H, W) images to (N, K) logits. A ``Network`` is described in run.json by its registry
name or spec line, so any command can rebuild it. Any other module is described by its class
(``"module": "mypackage.MyNet"``) and only its own code can rebuild it: its weights are in the
run (a plain state_dict), and ``convnet predict`` and the other commands refuse the run with one
line saying so (``runs.schema.check_manifest``).

Example:
    >>> net = Classifier(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3)), (1, 2, 2))
    >>> net.logits(torch.zeros(5, 1, 2, 2)).shape, net.input_shape
    (torch.Size([5, 3]), (1, 2, 2))
    >>> model_name(net.module)
    'torch.nn.modules.container.Sequential'
"""

from __future__ import annotations

import torch

from . import runs
from .errors import ConvnetError, SpecError
from .models import Network


class Classifier(torch.nn.Module):
    """Any module mapping (N, C, H, W) images to (N, K) logits, seen as a ``Network`` is by
    the loop, ``evaluate`` and ``Predictor``: ``logits``, ``input_shape``, ``probabilities``.

    Its parameters are the module's own (nothing is copied); checkpoints hold the module's
    state_dict, not this wrapper's.
    """

    def __init__(self, module: torch.nn.Module, input_shape: tuple[int, int, int]):
        super().__init__()
        self.module, self.input_shape = module, tuple(input_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x)

    logits = forward

    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x).softmax(dim=1)


def as_classifier(model: torch.nn.Module, input_shape: tuple) -> torch.nn.Module:
    """A ``Network`` as it is; any other module wrapped in ``Classifier``."""
    return model if isinstance(model, Network) else Classifier(model, input_shape)


def given_model(model: torch.nn.Module, shape: tuple, num_classes: int, dataset: str
                ) -> torch.nn.Module:
    """A model the caller built (``convnet.fit(module)``), checked on one batch of zeros: it
    must map (N, *shape) images to (N, num_classes) logits."""
    if not isinstance(model, torch.nn.Module):
        raise ConvnetError(f"model must be a registered name, a spec line or a torch.nn.Module, "
                           f"got {type(model).__name__}")
    net = as_classifier(model, shape)
    param = next(model.parameters(), None)
    x = torch.zeros(2, *net.input_shape, device=param.device if param is not None else "cpu")
    try:
        with runs.eval_mode(model), torch.no_grad():
            out_shape = tuple(net.logits(x).shape)
    except (RuntimeError, ValueError, TypeError) as e:
        raise SpecError(f"the model cannot take {dataset}'s images ({'x'.join(map(str, shape))}):"
                        f" {str(e).strip().splitlines()[0] if str(e).strip() else e}") from None
    if out_shape != (2, num_classes):
        raise SpecError(f"the model maps a batch of 2 images to shape {out_shape}, but {dataset} "
                        f"needs (2, {num_classes}): one logit per class")
    return model


def describe(model: torch.nn.Module, input_shape: tuple, num_classes: int) -> dict:
    """run.json's ``model``: a name or spec to rebuild a ``Network`` from, or for any other
    module its class (only the user's own code can rebuild it; its weights are in the run)."""
    if isinstance(model, Network):
        return runs.describe_model(model)
    return {"name": None, "spec": None, "module": model_name(model),
            "input_shape": list(input_shape), "num_classes": num_classes}


def model_name(model: torch.nn.Module) -> str:
    """What run.json's ``config.model`` records for a model object: its registry name, its spec
    line, or its class as ``module.QualName``."""
    if isinstance(model, Network) and (getattr(model, "name", None) or model.spec):
        return getattr(model, "name", None) or model.spec
    return f"{type(model).__module__}.{type(model).__qualname__}"
