"""The page's per-unit arithmetic (``/api/unit``, ``web.layers.explain_unit``) against the model.

Every number the panel shows is recomputed here from the weights and the layer's input, in eval
mode, for the exact input: a convolution's listed terms, its "rest" and its bias add up to the
unit; batch norm's statistics are the module's; a residual "+" adds the two layers it names;
softmax's shifted exponentials divide to the probability. Over every registered model with a
32x32 input (the 224x224 ones cost minutes on two cores), a few units of each kind of layer.
"""

import io
import math
import warnings

import numpy as np
import pytest
import torch
from fake_runs import fake_run
from PIL import Image, ImageDraw
from torch import nn

from convnet.kinds.conv import weights
from convnet.layers import ResidualBlock
from convnet.registry import create_model, list_models, model_info
from convnet.viz.capture import capture
from convnet.web import create_app
from convnet.web.layers import explain_unit, layer_graph

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

SMALL = [n for n in list_models() if model_info(n).input_shape[1] <= 32]
PER_KIND = 2  # units checked per (kind, module type, how its input is found) in a model


def randomised(model: nn.Module) -> nn.Module:
    """``model`` in eval mode with batch-norm statistics and affine terms far from 0 and 1, so
    that a panel showing the wrong mean, variance, γ or β could not pass."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.5)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            if m.weight is not None:
                m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.data.copy_(torch.randn(n, generator=g) * 0.3)
    return model.eval()


def close(a, b, scale=1.0) -> bool:
    return math.isclose(float(a), float(b), rel_tol=1e-4, abs_tol=1e-4 * max(1.0, scale))


def check_conv(info, a: dict, value: float, index: list[int]) -> None:
    terms = a["terms"]
    assert len(terms) == min(8, len(a["channels"]))
    assert a["rest_maps"] == len(a["channels"]) - len(terms)
    weight = weights(info.module).detach()[index[0]]  # (C_in / groups, k, k)
    scale = sum(abs(t["sum"]) for t in terms) + abs(a["rest"]) + abs(a["bias"])
    for k, t in enumerate(terms):
        assert t["colour"] == k
        if info.module.groups == 1:
            np.testing.assert_allclose(t["weights"], weight[t["channel"]], rtol=1e-5, atol=1e-6)
        products = np.array(t["patch"]) * np.array(t["weights"])
        np.testing.assert_allclose(t["products"], products, rtol=1e-4, atol=1e-5)
        assert close(np.sum(t["products"]), t["sum"], scale)
    listed = sum(t["sum"] for t in terms) + a["rest"] + a["bias"]
    assert close(listed, a["total"], scale) and close(a["total"], value, scale)
    if len(a["channels"]) > 8:  # the "rest" term is named on the panel
        assert any("the other" in str(line.get("note")) for line in a["lines"])


def check_bn(info, a: dict, value: float, index: list[int]) -> None:
    m, c = info.module, index[0]
    assert close(a["mean"], m.running_mean[c]) and close(a["var"], m.running_var[c])
    assert close(a["gamma"], m.weight.detach()[c]) and close(a["beta"], m.bias.detach()[c])
    recomputed = (a["input"] - a["mean"]) / math.sqrt(a["var"] + a["eps"]) * a["gamma"] + a["beta"]
    assert close(recomputed, value, abs(a["input"]) + 1)


def check_softmax(a: dict, value: float, logits: torch.Tensor, classes: list[str]) -> None:
    assert close(a["max"], logits.max())
    assert close(a["exp"], math.exp(a["z"] - a["max"]))
    assert close(a["sum_exp"], float(torch.exp(logits - logits.max()).sum()))
    assert close(a["exp"] / a["sum_exp"], value) and close(a["output"], value)
    assert a["label"] in classes and all(t["label"] in classes for t in a["logits"])


def check_fc(info, a: dict, value: float) -> None:
    listed = sum(t["product"] for t in a["terms"]) + a["rest"] + a["bias"]
    assert close(listed, value, sum(abs(t["product"]) for t in a["terms"]) + abs(a["rest"]))
    for t in a["terms"]:
        assert close(t["product"], t["w"] * t["x"], abs(t["product"]))


def units_to_check(graph) -> list[tuple[str, list[int]]]:
    """PER_KIND layers of each (kind, module type, input found as) and one unit in each."""
    g, seen, chosen = torch.Generator().manual_seed(2), {}, []
    for name, info in graph.items():
        how = "sum" if info.operands else "joined" if info.parts else "layer"
        key = (info.kind, type(info.module).__name__, how)
        seen[key] = seen.get(key, 0) + 1
        if seen[key] <= PER_KIND:
            chosen.append((name, [int(torch.randint(n, (1,), generator=g)) for n in info.shape]))
    return chosen


@pytest.mark.parametrize("name", SMALL)
def test_every_unit_shown_is_what_the_model_computes(name):
    torch.manual_seed(0)
    model = randomised(create_model(name))
    graph = layer_graph(model)
    x = torch.randn(1, *model.input_shape, generator=torch.Generator().manual_seed(3))
    outputs = capture(model, x)
    classes = [f"class-{k}" for k in range(model.num_classes)]
    for layer, index in units_to_check(graph):
        info = graph[layer]
        assert info.source is not None or info.operands or info.parts, layer  # input found
        u = explain_unit(model, graph, x, layer, index, classes)
        value = float(outputs[layer][0][tuple(index)])
        assert close(u["value"], value, abs(value)), layer
        a = u["arithmetic"]
        assert a.get("lines"), f"{layer}: a blank panel"
        for w in u["windows"]:
            where = w.get("layer") or u["source"]
            shape = model.input_shape if where == "input" else graph[where].shape
            assert 0 <= w["channel"] < shape[0] and w["y"] + w["h"] <= shape[1], (layer, w)
        if info.kind == "conv":
            check_conv(info, a, value, index)
        elif info.kind == "bn":
            check_bn(info, a, value, index)
        elif info.kind == "softmax":
            check_softmax(a, value, outputs[info.source][0], classes)
        elif info.kind == "fc":
            check_fc(info, a, value)
        if info.operands:  # a residual "+": both operands named, and they add up to x
            first = a["lines"][0]["eq"]
            left, right = (float(outputs[n][0][tuple(index)]) for n in info.operands)
            assert close(first[1], left, abs(left)) and close(first[3], right, abs(right))
            assert close(first[1] + first[3], first[-1], abs(left) + abs(right))
            assert {w["layer"] for w in u["windows"]} == set(info.operands)


def test_resnet20_blocks_are_grouped_and_their_shortcuts_explained():
    model = randomised(create_model("resnet20"))
    graph = layer_graph(model)
    infos = {n: i.to_json() for n, i in graph.items()}
    assert infos["layer1.0.conv1"]["block"] == "layer1.0"
    assert infos["layer1.0.conv1"]["block_type"] == "ResidualBlock"
    assert "block" not in infos["conv1"]
    for stage in (1, 2, 3):
        for b in range(3):
            relu = infos[f"layer{stage}.{b}.relu2"]
            assert tuple(relu["operands"]) == (f"layer{stage}.{b}.bn2",
                                               f"layer{stage}.{b}.shortcut")
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    out = capture(model, x)
    src = out["layer1.2.relu2"][0]  # what layer2.0's zero-pad shortcut reads
    kept = explain_unit(model, graph, x, "layer2.0.shortcut", [5, 3, 4])
    assert kept["source"] == "layer1.2.relu2"
    assert kept["windows"] == [{"channel": 5, "y": 6, "x": 8, "h": 1, "w": 1}]
    assert close(kept["value"], src[5, 6, 8], abs(float(src[5, 6, 8])))
    added = explain_unit(model, graph, x, "layer2.0.shortcut", [20, 3, 4])  # 16 maps -> 32
    assert added["value"] == 0 and added["windows"] == []
    assert "zero maps" in str(added["arithmetic"]["lines"])
    ident = explain_unit(model, graph, x, "layer1.1.shortcut", [0, 0, 0])
    assert ident["arithmetic"]["formula"] == "x" and ident["source"] == "layer1.0.relu2"


class TinyProjection(nn.Module):
    """One residual block with a 1x1-conv + BN projection shortcut (option B), 8x8 input."""

    input_shape = (4, 8, 8)

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(ResidualBlock(4, 8, stride=2, shortcut="B"))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(8 * 4 * 4, 3))

    def forward(self, x):
        return self.head(self.features(x))


def test_a_projection_shortcut_is_an_operand_and_a_convolution_of_its_own():
    torch.manual_seed(0)
    model = randomised(TinyProjection())
    graph = layer_graph(model)
    assert graph["0.relu2"].operands == ("0.bn2", "0.shortcut.bn")
    assert graph["0.shortcut.conv"].source == "input"
    x = torch.randn(1, 4, 8, 8)
    u = explain_unit(model, graph, x, "0.relu2", [7, 1, 2])
    a, b = (capture(model, x)[n][0][7, 1, 2] for n in ("0.bn2", "0.shortcut.bn"))
    assert close(u["arithmetic"]["lines"][0]["eq"][-1], a + b, abs(a) + abs(b))
    assert close(u["value"], max(float(a + b), 0.0), abs(a) + abs(b))


def test_a_concatenation_names_its_parts_and_moves_windows_into_them():
    model = randomised(create_model("densenet-small"))
    graph = layer_graph(model)
    joined = [n for n, i in graph.items() if i.parts]
    assert joined, "densenet-small reads concatenated maps"
    info = graph[joined[1]]
    x = torch.randn(1, *model.input_shape)
    index = [info.shape[0] - 1, 0, 0] if len(info.shape) == 3 else [0]
    u = explain_unit(model, graph, x, joined[1], index)
    names = {name for name, _ in info.parts}
    assert u["windows"] and all(w["layer"] in names for w in u["windows"])
    assert "joined" in str(u["arithmetic"]["lines"][0])


# ----------------------------------------------------------------------------- through the API

def data_url(im: Image.Image) -> str:
    import base64

    buf = io.BytesIO()
    im.save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def seven() -> str:
    im = Image.new("L", (140, 140), 0)
    ImageDraw.Draw(im).line([(30, 30), (110, 30), (60, 120)], fill=255, width=12)
    return data_url(im)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    root = tmp_path_factory.mktemp("unit-runs")
    runs = [fake_run(root, "lenet1998", "lenet5-1998", [f"digit {k}" for k in range(10)],
                     [0.1307], [0.3081], "mnist")]
    return TestClient(create_app(runs), base_url="http://localhost")


def unit(client, layer, index, **body):
    r = client.post("/api/unit", json=dict({"run": "lenet1998", "image": seven(),
                                            "layer": layer, "index": index}, **body))
    assert r.status_code == 200, r.text
    return r.json()


def test_softmax_names_its_classes_and_explains_the_max_shift(client):
    u = unit(client, "softmax", [7])
    a = u["arithmetic"]
    assert a["label"] == "digit 7" and "max" in str(a["lines"])
    assert close(a["exp"] / a["sum_exp"], u["value"])


def test_the_input_pixels_can_be_hovered(client):
    u = unit(client, "input", [0, 16, 16])
    pixel, seen = u["arithmetic"]["lines"][0]["text"][1], u["value"]
    assert close((pixel / 255 - 0.1307) / 0.3081, seen, abs(seen))
    outside = client.post("/api/unit", json={"run": "lenet1998", "image": seven(),
                                             "layer": "input", "index": [0, 32, 0]})
    assert outside.status_code == 404 and "outside" in outside.json()["detail"]


def test_all_120_one_by_one_maps_of_lenet_1998_c5_are_sent_and_hoverable(client):
    r = client.post("/api/activations", json={"run": "lenet1998", "image": seven()})
    conv3 = next(layer for layer in r.json()["layers"] if layer["name"] == "conv3")
    assert conv3["shape"] == [120, 1, 1] and conv3["shown"] == 120
    u = unit(client, "conv3", [119, 0, 0])
    assert u["arithmetic"]["rest_maps"] == 16 - 8  # C5 reads all 16 maps of S4


def test_a_non_square_dark_on_light_photo_is_not_blank_and_invert_is_obeyed(client):
    page = Image.new("L", (90, 150), 215)  # portrait paper, dark ink
    ImageDraw.Draw(page).line([(25, 30), (65, 30), (40, 120)], fill=35, width=9)
    body = {"run": "lenet1998", "image": data_url(page)}
    assert client.post("/api/predict", json=body).status_code == 200
    inverted = client.post("/api/activations", json=dict(body, invert=True)).json()
    kept = client.post("/api/activations", json=dict(body, invert=False))
    assert inverted["input"]["max"] > inverted["input"]["min"]
    assert kept.status_code in (200, 422)  # light paper read as ink: 422 "blank" is allowed
    boxed = Image.new("L", (150, 150), 0)  # the same photo letterboxed in black to a square
    boxed.paste(page, (30, 0))
    framed = client.post("/api/activations", json=dict(body, image=data_url(boxed)))
    assert framed.status_code == 200, framed.text  # was 422 "image is blank: no ink found"
    alone = client.post("/api/activations", json=body).json()
    assert framed.json()["input"]["data"] == alone["input"]["data"]  # the bars cropped off
