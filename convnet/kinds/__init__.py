"""Every layer kind, known in one place.

A kind (``conv``, ``maxpool``, ``relu`` ...) is one object holding everything the library
knows about its layers; the rest of the library asks it instead of testing module types:

==================  ===============================================  ===========================
what                the kind's                                       read by
==================  ===============================================  ===========================
spec token          ``name``, ``form``, ``options``, ``read``,       ``spec.py``
                    ``token``, ``check``
building            ``build`` (LayerSpec + input shape -> module)    ``models/network.py``
output size         ``output_shape`` (``shapes.py``'s rule)          ``Network.num_classes``
parameters          ``params`` (count and formula)                   ``summary.py``
multiply-adds       ``mult_adds``                                    ``summary.py``
size arithmetic     ``size_rule``                                    ``summary.py``
one unit            ``unit``: its source window(s) and terms         ``web/layers.py``
                    (Σ w·x + b; max and winner; mean; sum;
                    a·sum + b; f(x); e^z/Σe^z) with the panel's
                    ``lines``; ``value``/``formula`` of a pool
                    window, ``new``/``formula`` of an element-wise   ``explain.py``
                    kind
page                ``family``, ``meta``                             ``web/layers.py``
NumPy twin          ``numpy`` (a class of ``numpy_engine/ops.py``)   ``numpy_engine/network.py``
                    and ``numpy_args``
==================  ===============================================  ===========================

The kinds live by family: ``conv.py``, ``pool.py`` (with global average pooling), ``fc.py``
(flatten, fc, softmax), ``elementwise.py`` (activations, batch norm, dropout) and
``shortcut.py`` (a ResNet block's zero-pad shortcut). Adding a kind
is one ``register(...)`` there.

Example:
    >>> [k.name for k in registered() if k.form == "plain"]
    ['relu', 'tanh', 'sigmoid', 'stanh', 'leakyrelu', 'bn', 'flatten', 'softmax', 'gap']
"""

from __future__ import annotations

from torch import nn

from .base import Kind, find, get, of, output_shape, register, registered, unregister
from .conv import CONV
from .elementwise import (
    BN,
    DROPOUT,
    ELEMENTWISE,
    IDENTITY,
    LEAKYRELU,
    RELU,
    SIGMOID,
    STANH,
    TANH,
    Elementwise,
)
from .fc import FC, FLATTEN, SOFTMAX
from .pool import AVGPOOL, GAP, MAXPOOL, SUBSAMPLE, SUMPOOL, Pool
from .shortcut import ZERO_PAD


class Opaque(Kind):
    """A module no kind describes that changes its input's shape: no window, no terms."""

    family, form = "other", None


OTHER = Opaque("other")


def of_layer(module: nn.Module, same_shape: bool) -> Kind:
    """``of(module)``, or a stand-in for a module no kind describes: element-wise f(x) when its
    output has its input's shape (LocalResponseNorm), else opaque."""
    return of(module) or (ELEMENTWISE if same_shape else OTHER)


__all__ = ["AVGPOOL", "BN", "CONV", "DROPOUT", "ELEMENTWISE", "FC", "FLATTEN", "GAP",
           "IDENTITY", "LEAKYRELU", "MAXPOOL", "OTHER", "RELU", "SIGMOID", "SOFTMAX", "STANH",
           "SUBSAMPLE", "SUMPOOL", "TANH", "ZERO_PAD", "Elementwise", "Kind", "Pool", "find",
           "get", "of", "of_layer", "output_shape", "register", "registered", "unregister"]
