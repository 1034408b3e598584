"""A from-scratch NumPy engine: every tutorial operation with its backward written by hand.

It runs any ``Network`` built from the core layers, with the torch parameter names, and trains
it with SGD, momentum or Adam. The reference to read, and a check on the torch engine.

Example (one training step):
    >>> import numpy as np
    >>> from convnet import create_model
    >>> net = NumpyNetwork.from_torch(create_model("lenet5"))
    >>> opt = SGD(net.params, lr=0.1)
    >>> x, y = np.zeros((4, 1, 32, 32), np.float32), np.array([0, 1, 2, 3])
    >>> loss, dlogits = cross_entropy(net.logits(x), y)
    >>> net.backward(dlogits)
    >>> opt.step(net.grads)
    >>> sorted(net.grads) == sorted(net.params)
    True
"""

from .losses import cross_entropy, sse
from .network import NumpyNetwork
from .optim import SGD, Adam

__all__ = ["SGD", "Adam", "NumpyNetwork", "cross_entropy", "sse"]
