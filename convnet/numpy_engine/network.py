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

from .. import layers as L
from ..errors import ModelError
from . import ops


def _array(t) -> np.ndarray | None:
    """A float32 NumPy copy of a torch parameter or buffer (None stays None)."""
    return None if t is None else t.detach().cpu().numpy().astype(np.float32, copy=True)


def _side(value, name: str, what: str) -> int:
    """One int from torch's int-or-pair arguments; ModelError for non-square ones."""
    pair = value if isinstance(value, tuple) else (value, value)
    if pair[0] != pair[1]:
        raise ModelError(f"the numpy engine needs a square {what} in layer {name!r}, got {value}")
    return int(pair[0])


def _conv(module: nn.Conv2d, name: str) -> ops.Conv2d:
    if module.groups != 1 or _side(module.dilation, name, "dilation") != 1 \
            or module.padding_mode != "zeros":
        raise ModelError(f"the numpy engine supports plain convolutions only; layer {name!r} has "
                         f"groups={module.groups}, dilation={module.dilation}, "
                         f"padding_mode={module.padding_mode!r}")
    k, s = _side(module.kernel_size, name, "kernel"), _side(module.stride, name, "stride")
    padding = getattr(module, "mode", module.padding)  # convnet's Conv2d keeps "same" in .mode
    if not isinstance(padding, str):
        padding = _side(padding, name, "padding")
    elif padding == "same" and not isinstance(module, L.Conv2d) and k % 2 == 0:
        raise ModelError(f"layer {name!r}: torch's padding='same' with an even kernel is not "
                         f"supported; use convnet's Conv2d")
    table = _array(getattr(module, "table", None))
    return ops.Conv2d(_array(module.weight), _array(module.bias), s, padding, table)


def _pool(module: nn.Module, name: str) -> ops.Layer:
    k = _side(module.kernel_size, name, "window")
    s = _side(module.stride or k, name, "stride")
    p = _side(module.padding, name, "padding")
    if isinstance(module, L.Subsample2d):
        return ops.Subsample2d(_array(module.weight), _array(module.bias), k, s, p)
    if isinstance(module, L.SumPool2d):
        return ops.SumPool2d(k, s, p)
    if getattr(module, "ceil_mode", False) or _side(getattr(module, "dilation", 1), name, "x") != 1:
        raise ModelError(f"layer {name!r}: ceil_mode and dilation are not supported")
    if isinstance(module, nn.MaxPool2d) and not module.return_indices:
        return ops.MaxPool2d(k, s, p)
    if isinstance(module, nn.AvgPool2d) and module.count_include_pad \
            and module.divisor_override is None:
        return ops.AvgPool2d(k, s, p)
    raise ModelError(f"layer {name!r}: unsupported pooling options in {module}")


def convert(module: nn.Module, name: str) -> ops.Layer:
    """The NumPy layer for one torch module; ModelError (one line) when there is none."""
    if isinstance(module, nn.Conv2d):
        return _conv(module, name)
    if isinstance(module, (L.SumPool2d, nn.MaxPool2d, nn.AvgPool2d)):
        return _pool(module, name)
    if isinstance(module, nn.Linear):
        return ops.Linear(_array(module.weight), _array(module.bias))
    if isinstance(module, nn.Softmax) and module.dim in (1, -1):
        return ops.Softmax()
    if isinstance(module, nn.Flatten) and (module.start_dim, module.end_dim) == (1, -1):
        return ops.Flatten()
    if isinstance(module, nn.Dropout):
        return ops.Dropout(module.p)
    simple = {nn.ReLU: ops.ReLU, nn.Tanh: ops.Tanh, nn.Sigmoid: ops.Sigmoid,
              L.ScaledTanh: ops.ScaledTanh, L.GlobalAvgPool2d: ops.GlobalAvgPool2d,
              nn.Identity: ops.Identity}
    if type(module) in simple:
        return simple[type(module)]()
    raise ModelError(f"the numpy engine cannot run layer {name!r} ({type(module).__name__}); "
                     f"it runs conv, pooling, activation, flatten, fc, dropout and softmax only")


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
