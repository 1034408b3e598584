"""NumpyNetwork: a torch ``Network`` rebuilt from the NumPy layers in ``ops.py``.

Layers keep their torch names, so parameters keep their state_dict keys
(``features.conv1.weight``, ``head.fc1.bias``) and weights round-trip between the engines.
The training interface is four calls:

    net = NumpyNetwork.from_torch(create_model("lenet5"))
    loss, dlogits = cross_entropy(net.logits(x), y)   # x: float32 (N, C, H, W)
    net.backward(dlogits)                              # fills net.grads
    optimizer.step(net.grads)                          # SGD(net.params, lr) or Adam(...)

Example:
    >>> from convnet import create_model
    >>> net = NumpyNetwork.from_torch(create_model("lenet5"))
    >>> list(net.layers)[:3], net.params["features.conv1.weight"].shape
    (['features.conv1', 'features.relu1', 'features.maxpool1'], (6, 1, 5, 5))
    >>> net(np.zeros((2, 1, 32, 32), np.float32)).sum(axis=1).round(5).tolist()
    [1.0, 1.0]
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .. import kinds
from ..errors import ModelError
from . import ops


def convert(module: nn.Module, name: str) -> ops.Layer:
    """The NumPy twin of one torch module, as its layer kind names it (``convnet.kinds``);
    ModelError (one line) when there is none."""
    kind = kinds.of(module)
    args = kind.numpy_args(module, name) if kind is not None and kind.numpy else None
    if args is None:
        raise ModelError(f"the numpy engine cannot run layer {name!r} ({type(module).__name__}); "
                         f"it runs conv, pooling, activation, flatten, fc, dropout and softmax "
                         f"only")
    return getattr(ops, kind.numpy)(**args)


def _flatten(module: nn.Module, prefix: str) -> list[tuple[str, nn.Module]]:
    """(dotted name, leaf module) in execution order; nn.Sequential containers are opened."""
    if isinstance(module, nn.Sequential):
        return [item for child_name, child in module.named_children()
                for item in _flatten(child, f"{prefix}.{child_name}")]
    return [(prefix, module)]


class NumpyNetwork:
    """A chain of NumPy layers with the torch network's names; see the module docstring.

    Args:
        layers (dict[str, ops.Layer]): dotted torch names -> layers, in execution order.

    Shape:
        Input float32 (N, C, H, W) -> Output (N, K): probabilities if the last layer is
        Softmax (``logits`` gives the scores before it).
    """

    def __init__(self, layers: dict[str, ops.Layer]):
        self.layers = dict(layers)
        self.params = {f"{lname}.{pname}": p for lname, layer in self.layers.items()
                       for pname, p in layer.params.items()}
        self.training = True
        self._ran: list[ops.Layer] = []

    @classmethod
    def from_torch(cls, model: nn.Module, seed: int | None = None) -> NumpyNetwork:
        """Copy a ``Network`` (``features`` then ``head``) built from the core layers.

        Args:
            model (Network): the torch model; its weights are copied, not shared.
            seed (int | None): fixes the dropout masks. Default: None (fresh entropy).

        Raises:
            ModelError: for a model without features/head or a layer with no NumPy version
                (batch norm, residual/dense/inception blocks...).
        """
        if not (hasattr(model, "features") and hasattr(model, "head")):
            raise ModelError(f"the numpy engine needs a Network with features and head, got "
                             f"{type(model).__name__}")
        leaves = _flatten(model.features, "features") + _flatten(model.head, "head")
        net = cls({name: convert(module, name) for name, module in leaves})
        dropouts = [layer for layer in net.layers.values() if isinstance(layer, ops.Dropout)]
        for layer, seq in zip(dropouts, np.random.SeedSequence(seed).spawn(len(dropouts))):
            layer.rng = np.random.default_rng(seq)
        net.train(model.training)
        return net

    # ------------------------------------------------------------------ running
    def forward(self, x: np.ndarray) -> np.ndarray:
        """The whole network (probabilities when it ends with softmax)."""
        return self._run(x, list(self.layers.values()))

    __call__ = forward

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Scores before the final softmax (the whole network if there is none)."""
        layers = list(self.layers.values())
        if layers and isinstance(layers[-1], ops.Softmax):
            layers = layers[:-1]
        return self._run(x, layers)

    def _run(self, x: np.ndarray, layers: list[ops.Layer]) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        for layer in layers:
            x = layer.forward(x)
        self._ran = layers
        return x

    def backward(self, dout: np.ndarray, input_grad: bool = False) -> np.ndarray | None:
        """Back-propagate dLoss/d(last output) of the latest ``forward`` or ``logits`` call.

        Fills ``grads`` ({name: array}, the keys of ``params``); returns dLoss/dInput
        (N, C, H, W) when ``input_grad`` (e.g. for saliency maps), else None.
        """
        if not self._ran:
            raise ModelError("backward needs a forward pass first: call logits(x) or forward(x)")
        first = self._ran[0]
        if hasattr(first, "input_grad"):  # training never needs dLoss/dImage: skip its col2im
            first.input_grad = input_grad
        d = dout.astype(np.float32, copy=False)
        for layer in reversed(self._ran):
            d = layer.backward(d)
            if d is None:
                break
        return d if input_grad else None

    @property
    def grads(self) -> dict[str, np.ndarray]:
        return {f"{lname}.{pname}": g for lname, layer in self.layers.items()
                for pname, g in layer.grads.items()}

    # ------------------------------------------------------------------ modes and weights
    def train(self, mode: bool = True) -> NumpyNetwork:
        """Dropout on (training) or off (evaluation), as ``nn.Module.train``."""
        self.training = mode
        for layer in self.layers.values():
            layer.training = mode
        return self

    def eval(self) -> NumpyNetwork:
        return self.train(False)

    def state_dict(self) -> dict[str, np.ndarray]:
        """{torch state_dict key: float32 copy}."""
        return {name: p.copy() for name, p in self.params.items()}

    def load_state_dict(self, state: dict) -> None:
        """Copy weights in (NumPy arrays or CPU torch tensors) under the torch key names.

        Raises:
            ModelError: naming missing, unexpected or wrongly shaped keys.
        """
        missing = sorted(set(self.params) - set(state))
        extra = sorted(set(state) - set(self.params))
        if missing or extra:
            raise ModelError(f"state dict does not match the network: missing {missing}, "
                             f"unexpected {extra}")
        for name, p in self.params.items():
            value = np.asarray(state[name].detach().cpu() if hasattr(state[name], "detach")
                               else state[name])
            if value.shape != p.shape:
                raise ModelError(f"state dict entry {name!r} has shape {value.shape}, "
                                 f"the network expects {p.shape}")
            np.copyto(p, value)  # in place: optimizers keep pointing at the same arrays

    def copy_to(self, model: nn.Module) -> nn.Module:
        """Write these weights into a torch model of the same architecture and return it."""
        model.load_state_dict({k: torch.from_numpy(v) for k, v in self.state_dict().items()})
        return model
