"""The receptive field of every layer of a model: which input pixels each of its units sees.

A chain of layers composes each kind's rule (``kinds.fields``). Blocks are not chains (a
ResNet block adds its input to its branch, an Inception block concatenates four branches), so
the model is traced once with ``torch.fx`` into a graph of layers and operations, and the
field flows along it: a layer applies its kind's rule, ``+`` and ``torch.cat`` take the union
of their operands' fields, slicing ``x[:, :, ::s, ::s]`` and ``F.pad`` move it, and any other
operation that keeps the maps' size keeps it. Only the layers in ``features`` have maps, so
that is what is traced.

Example:
    >>> from convnet.registry import create_model
    >>> fields = receptive_fields(create_model("lenet5"))
    >>> fields["conv1"][0], fields["conv2"][0]
    (Field(size=5, jump=1, start=0), Field(size=14, jump=2, start=0))
    >>> fields = receptive_fields(create_model("resnet20"))
    >>> fields["layer1.2.conv2"][0], fields["layer3.2.conv2"][0]
    (Field(size=15, jump=1, start=-7), Field(size=81, jump=4, start=-40))
"""

from __future__ import annotations

import operator

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from ..kinds.fields import Fields, knows, receptive_field
from ..runs import eval_mode
from ..shapes import Field


class _Tracer(fx.Tracer):
    """Stops at every module a kind describes; looks inside the others (blocks)."""

    def is_leaf_module(self, module: nn.Module, name: str) -> bool:
        return knows(module) or super().is_leaf_module(module, name)


def receptive_fields(model: nn.Module) -> dict[str, Fields | None]:
    """{layer name: (rows, columns) field of its output units} for every layer of
    ``model.features`` (the whole model when it has no ``features``), named as
    ``viz.capture`` names them; None where a unit sees the whole image.

    The model is traced, not run on data: one zero image fixes each layer's input size
    (what "same" padding depends on).
    """
    root = getattr(model, "features", model)
    graph = _Tracer().trace(root)
    module = fx.GraphModule(root, graph)
    with eval_mode(model), torch.no_grad():  # batch norm must not learn from the zero image
        ShapeProp(module).propagate(torch.zeros(1, *model.input_shape))
    fields: dict[fx.Node, Fields | None] = {}
    named = {}
    for node in graph.nodes:
        if node.op == "placeholder":
            fields[node] = (Field(), Field())
        elif node.op == "call_module":
            layer = module.get_submodule(node.target)
            if knows(layer):
                source = node.args[0]
                fields[node] = fields.get(source) and receptive_field(layer, fields[source],
                                                                      _shape(source))
            else:  # a torch module no kind describes (GELU): keeps the field if it keeps sizes
                fields[node] = _through(node, fields)
            named.setdefault(node.target, fields[node])
        elif node.op in ("call_function", "call_method"):
            fields[node] = _through(node, fields)
    return named


def _shape(node) -> tuple[int, ...] | None:
    meta = node.meta.get("tensor_meta") if isinstance(node, fx.Node) else None
    return tuple(meta.shape) if meta is not None and hasattr(meta, "shape") else None


def _through(node: fx.Node, fields: dict) -> Fields | None:
    """The field after an operation between layers (a block's glue)."""
    args = node.args
    if node.target is operator.getitem and isinstance(args[1], tuple):
        return _sliced(fields.get(args[0]), args[1])
    if node.target is F.pad:
        pad = list(args[1] if len(args) > 1 else node.kwargs["pad"]) + [0] * 4
        rows, cols = fields.get(args[0]) or (None, None)
        return rows and (rows.window(1, 1, pad[2]), cols.window(1, 1, pad[0]))
    operands = _nodes(args) + _nodes(node.kwargs)
    out = _shape(node)
    if not operands or out is None or len(out) != 4:
        return None
    found = None
    for operand in operands:
        field, shape = fields.get(operand), _shape(operand)
        if field is None or shape is None or tuple(shape[-2:]) != tuple(out[-2:]):
            return None  # a reshape, a flatten, or an operand of unknown field
        found = field if found is None else _union(found, field)
        if found is None:
            return None
    return found


def _nodes(value) -> list[fx.Node]:
    """Every graph node in an argument (a node, or lists and dicts of them)."""
    found: list[fx.Node] = []
    fx.node.map_arg(value, lambda n: found.append(n) or n)
    return found


def _union(a: Fields, b: Fields) -> Fields | None:
    rows, cols = a[0].union(b[0]), a[1].union(b[1])
    return None if rows is None or cols is None else (rows, cols)


def _sliced(field: Fields | None, index: tuple) -> Fields | None:
    """x[:, :, a::s, b::t] on (N, C, H, W) maps: start at row a, every s-th row."""
    if field is None or len(index) > 4 or not all(isinstance(i, slice) for i in index):
        return None
    index = tuple(index) + (slice(None),) * (4 - len(index))
    moved = []
    for axis_field, cut in zip(field, index[2:]):
        moved.append(axis_field.window(1, cut.step or 1, -(cut.start or 0)))
    return moved[0], moved[1]
