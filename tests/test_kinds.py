"""Each layer kind known in one place (``convnet.kinds``): a kind added there, and only there,
reaches the spec grammar and builder, the summary, explain, the NumPy engine and the page."""

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from convnet import kinds
from convnet.errors import ModelError, SpecError
from convnet.explain import explain_elementwise, explain_pool, explain_text
from convnet.models import Network
from convnet.numpy_engine import NumpyNetwork, ops
from convnet.numpy_engine.network import convert
from convnet.registry import create_model
from convnet.spec import parse, to_text
from convnet.summary import summarize
from convnet.web.layers import explain_unit, layer_graph

PACKAGE = Path(__file__).resolve().parents[1] / "convnet"


# ----------------------------------------------------------------------------- throwaway kinds
class Steep(nn.LeakyReLU):
    """A leaky ReLU with a steeper negative side: a kind no file of the library names."""

    def __init__(self):
        super().__init__(0.2)


class MinPool2d(nn.MaxPool2d):
    """The smallest value of each window: a pool no file of the library names."""

    def forward(self, x):
        return -super().forward(-x)


class MinPool(kinds.Pool):
    def value(self, module, c, patch):
        return patch.min()


@pytest.fixture
def throwaway():
    """Two kinds registered here, in one place each, and taken out again afterwards."""
    steep = kinds.register(kinds.elementwise.LeakyReLU("steep", Steep, formula="max(0.2·x, x)",
                                                       numpy="LeakyReLU"))
    minpool = kinds.register(MinPool("minpool", MinPool2d, mode="min", formula="min(window)",
                                     numpy=None))
    yield steep, minpool
    kinds.unregister("steep")
    kinds.unregister("minpool")


SPEC = "conv2@3x3 steep minpool2 fc3 softmax"


def test_a_kind_added_in_one_place_reaches_the_grammar_and_the_builder(throwaway):
    assert to_text(parse(SPEC)) == SPEC
    assert to_text(parse("minpool3/s1/p1 fc2")) == "minpool3/s1/p1 fc2"
    net = Network.from_spec(SPEC, (1, 8, 8))
    assert isinstance(net.features.steep1, Steep) and isinstance(net.features.minpool1, MinPool2d)
    assert net.features.minpool1.stride == 2  # a pool's stride defaults to its window
    assert net.num_classes == 3
    with pytest.raises(SpecError, match="window 9x9 is larger"):
        Network.from_spec("minpool9 fc2", (1, 8, 8))
    with pytest.raises(SpecError, match="unknown option '/nobias' for a steep layer"):
        parse("steep/nobias")


def test_and_the_summary(throwaway):
    rows = {r.name: r for r in summarize(Network.from_spec(SPEC, (1, 8, 8))).rows}
    assert (rows["steep1"].type, rows["steep1"].output_shape) == ("Steep", [2, 6, 6])
    assert rows["minpool1"].arithmetic == "(6 + 2·0 − 2)/2 + 1 = 3"


def test_and_explain(throwaway):
    e = explain_elementwise([[-1, 2]], "steep")
    assert e["output"] == [[-0.2, 2]] and "max(0.2·x, x)" in explain_text(e)
    e = explain_pool([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], "min")
    assert e["output"] == [[1, 2], [1, 0]] and "each output = min(window)" in explain_text(e)


def test_and_the_numpy_engine(throwaway):
    torch.manual_seed(0)
    layer = convert(Steep(), "steep1")
    assert isinstance(layer, ops.LeakyReLU) and layer.slope == 0.2
    x = np.array([[-3.0, 0.5]], np.float32)
    np.testing.assert_allclose(layer(x), Steep()(torch.from_numpy(x)).numpy())
    with pytest.raises(ModelError, match="cannot run layer 'features.minpool1' \\(MinPool2d\\)"):
        NumpyNetwork.from_torch(Network.from_spec(SPEC, (1, 8, 8)))


def test_and_the_page(throwaway):
    torch.manual_seed(0)
    net = Network.from_spec(SPEC, (1, 8, 8))
    graph = layer_graph(net)
    assert graph["steep1"].to_json()["kind"] == "act"
    assert graph["minpool1"].to_json() == {
        "name": "minpool1", "kind": "pool", "type": "MinPool2d", "source": "steep1",
        "shape": [2, 3, 3], "mode": "min", "kernel": [2, 2], "stride": [2, 2]}
    x = torch.randn(1, 1, 8, 8)
    unit = explain_unit(net, graph, x, "steep1", [1, 2, 3])
    a = unit["arithmetic"]
    assert a["formula"] == "max(0.2·x, x)" and unit["windows"] == [
        {"channel": 1, "y": 2, "x": 3, "h": 1, "w": 1}]
    assert a["output"] == pytest.approx(a["input"] if a["input"] > 0 else 0.2 * a["input"],
                                        abs=1e-5)
    assert a["lines"] == [{"text": ["x = ", a["input"], " → ", a["output"]]}]
    unit = explain_unit(net, graph, x, "minpool1", [0, 1, 1])
    assert unit["windows"] == [{"channel": 0, "y": 2, "x": 2, "h": 2, "w": 2}]
    assert unit["value"] == min(min(r) for r in unit["arithmetic"]["window"])


# ----------------------------------------------------------------------------- leakyrelu, a real one
def test_leakyrelu_everywhere():
    net = Network.from_spec("conv4@3x3 leakyrelu maxpool2 fc3 softmax", (1, 8, 8))
    assert isinstance(net.features.leakyrelu1, nn.LeakyReLU)
    assert [r.type for r in summarize(net).rows][1] == "LeakyReLU"
    x = np.random.default_rng(0).standard_normal((2, 1, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(NumpyNetwork.from_torch(net.eval()).logits(x),
                               net.logits(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    assert explain_elementwise([[-2, 3]], "leakyrelu")["output"] == [[-0.02, 3]]
    graph = layer_graph(net)
    unit = explain_unit(net, graph, torch.from_numpy(x[:1]), "leakyrelu1", [0, 0, 0])
    assert unit["arithmetic"]["formula"] == "max(0.01·x, x)" and unit["source"] == "conv1"


# ----------------------------------------------------------------------------- the table
def test_every_kind_has_what_the_library_asks_of_it():
    for kind in kinds.registered():
        if kind.numpy:
            assert isinstance(getattr(ops, kind.numpy), type), kind
        if kind.form:
            assert kind.modules, kind
    assert kinds.of(nn.LSTM(2, 2)) is None
    assert kinds.of(torch.nn.Conv2d(1, 1, 3)) is kinds.CONV  # torch's own classes too
    with pytest.raises(ValueError, match="already registered"):
        kinds.register(kinds.Elementwise("relu", nn.ReLU, formula="x"))
    with pytest.raises(SpecError, match="no layer kind 'swish'"):
        kinds.get("swish")


def panel_parts(lines):
    for line in lines:
        (style, parts), = line.items()
        assert style in ("text", "eq", "note", "row")
        yield from (p for cell in parts for p in cell) if style == "row" else parts


EVERY_KIND = [  # every kind with a token, on small inputs
    (("conv6@3x3/p1 bn leakyrelu maxpool2 conv16@3x3/c3/p1 tanh avgpool2/s1 sigmoid "
      "sumpool2/s1/p1 subsample2 stanh dropout0.5 fc10 relu bn fc3 softmax"), (1, 16, 16)),
    ("conv3@3x3/s2/same relu gap fc2", (2, 7, 7)),
]


@pytest.mark.parametrize("spec, shape", EVERY_KIND)
def test_every_unit_has_panel_lines_the_page_can_render(spec, shape):
    torch.manual_seed(0)
    net = Network.from_spec(spec, shape).eval()
    graph = layer_graph(net)
    x = torch.randn(1, *shape)
    for name, info in graph.items():
        unit = explain_unit(net, graph, x, name, [n // 2 for n in info.shape])
        lines = unit["arithmetic"].get("lines", [])
        assert lines, name
        for part in panel_parts(lines):
            assert part is None or isinstance(part, (str, int, float)) or \
                set(part) == {"matrix", "mark", "colour"}, (name, part)


def test_num_classes_is_read_off_the_layers_without_a_forward_pass(monkeypatch):
    for name, classes in (("lenet5", 10), ("resnet20", 10), ("googlenet-small", 10),
                          ("alexnet-small", 10)):
        net = create_model(name)
        monkeypatch.setattr(net, "forward", lambda x: pytest.fail("ran a forward pass"))
        assert net.num_classes == classes
    assert Network.from_spec("conv7@3x3 gap", (3, 8, 8)).num_classes == 7
    assert Network.from_spec("conv2@3x3 flatten", (1, 5, 5)).num_classes == 18


def test_the_modules_that_read_kinds_do_not_test_layer_classes_themselves():
    """summary, explain, the NumPy engine, the page and the grammar ask the kind instead."""
    for path in ("summary.py", "explain/pool.py", "explain/conv.py", "numpy_engine/network.py",
                 "web/layers.py", "spec.py"):
        text = (PACKAGE / path).read_text()
        assert not re.search(r"isinstance\([^)]*\b(nn|L)\.(?!Sequential)", text), path
        assert "POOLS" not in text and "ACTIVATIONS" not in text, path
