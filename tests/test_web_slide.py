"""The sliding kernel and the shape sandbox: their API against the model and ``shapes.py``, and
the page in a real headless Chromium (play, step, the output filling in; a stride flagged).

The animation's oracle is the model itself: every output value the page can show, recomputed
from the data it is sent exactly as the page does (each window's products, their sums, the rest
of the maps, the bias), equals the layer's feature map captured in eval mode.
"""

import base64
import itertools
import math
import warnings

import numpy as np
import pytest
import torch
from fake_runs import fake_run
from test_web import seven
from test_web_browser import browser, open_page, serving  # noqa: F401 - browser is a fixture

from convnet.errors import SpecError
from convnet.models import Network
from convnet.models.registry import model_info
from convnet.registry import create_model, list_models
from convnet.shapes import conv_output_size, conv_params
from convnet.viz.capture import capture
from convnet.web import create_app
from convnet.web.layers import UnitError, layer_graph
from convnet.web.sandbox import sandbox as sandbox_of
from convnet.web.sandbox import settings_of
from convnet.web.slide import slide_data

with warnings.catch_warnings():  # starlette's httpx note is not ours to fix
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def decode(b64: str, dtype: str, shape) -> np.ndarray:
    return np.frombuffer(base64.b64decode(b64), dtype).reshape(shape)


def animated(d: dict) -> np.ndarray:
    """Every output value as the page computes it: per window, Σ over the sent maps of w·x,
    plus the rest of the maps and the bias (float64, like JavaScript's numbers)."""
    (kh, kw), (sh, sw), (dh, dw) = d["kernel"], d["stride"], d["dilation"]
    top, bottom, left, right = d["padding"]
    _, h, w = d["in_shape"]
    ho, wo = d["out_shape"]
    x = decode(d["inputs"], "<f4", (len(d["shown"]), h, w)).astype(np.float64)
    x = np.pad(x, ((0, 0), (top, bottom), (left, right)))  # zeros: the padding
    weights = np.asarray(d["weights"], np.float64)  # (shown, kh, kw)
    total = np.zeros((ho, wo))
    for i in range(kh):
        for j in range(kw):  # the (i, j) product of every window at once
            window_ij = x[:, i * dh:i * dh + (ho - 1) * sh + 1:sh, j * dw:j * dw + (wo - 1) * sw + 1:sw]
            total += np.einsum("c,cyx->yx", weights[:, i, j], window_ij)
    if d["rest"] is not None:
        total += decode(d["rest"], "<f8", (ho, wo))
    return total + d["bias"]


def check_layer(net, graph, x, layer: str, filter_: int) -> dict:
    """slide_data for one filter: its output is the captured map, and the page's sums match it."""
    d = slide_data(net, graph, x, layer, filter_)
    feature = capture(net, x)[layer][0, filter_].numpy()  # the model's own map, eval mode
    output = decode(d["output"], "<f4", d["out_shape"])
    assert np.array_equal(output, feature)
    scale = max(1.0, float(np.abs(feature).max()))
    np.testing.assert_allclose(animated(d), feature, rtol=0, atol=2e-5 * scale)
    assert (d["lo"], d["hi"]) == (float(feature.min()), float(feature.max()))
    return d


# ----------------------------------------------------------------------------- slide_data

SMALL = [m for m in list_models() if model_info(m).input_shape[1] <= 32]
LARGE = ["alexnet", "zfnet", "resnet18", "googlenet"]  # stride 4 and 2, 11x11 and 7x7


@pytest.mark.parametrize("name", SMALL + LARGE)
def test_every_animated_value_is_the_models_feature_map(name):
    torch.manual_seed(0)
    net = create_model(name).eval()
    graph = layer_graph(net)
    x = torch.randn(1, *net.input_shape, generator=torch.Generator().manual_seed(1))
    convs = [n for n, info in graph.items() if info.kind == "conv"]
    strided = [n for n in convs if graph[n].module.stride[0] > 1]
    # every layer of googlenet-small would take minutes: the first, the last, the strided
    # ones and an even spread between (the large models: the first and one strided)
    spread = [] if name in LARGE else [*convs[::max(1, len(convs) // 4)], convs[-1]]
    for k, layer in enumerate(dict.fromkeys([convs[0], *strided[:2], *spread])):
        check_layer(net, graph, x, layer, (3 * k) % graph[layer].shape[0])


def test_strides_same_padding_and_non_tiling_strides_from_a_spec():
    net = Network.from_spec("conv4@4x4/s2/same relu conv5@3x3/s3/p2 relu fc10",
                            (2, 11, 9)).eval()
    graph, x = layer_graph(net), torch.randn(1, 2, 11, 9)
    d = check_layer(net, graph, x, "conv1", 1)
    assert d["padding"] == [1, 2, 1, 2] and d["out_shape"] == [6, 5]  # even kernel: 1 more after
    d = check_layer(net, graph, x, "conv2", 4)
    assert (d["stride"], d["padding"][:1], d["out_shape"]) == ([3, 3], [2], [3, 3])


def test_many_maps_send_eight_and_sum_the_rest():
    net = create_model("resnet20").eval()
    graph = layer_graph(net)
    layer = next(n for n, i in graph.items() if i.kind == "conv" and i.module.in_channels == 32)
    d = check_layer(net, graph, torch.randn(1, 3, 32, 32), layer, 5)
    assert len(d["channels"]) == 32 and d["shown"] == list(range(8)) and d["rest"] is not None


def test_connection_table_sends_only_the_connected_maps():
    net = create_model("lenet5-1998").eval()
    graph, x = layer_graph(net), torch.randn(1, 1, 32, 32)
    d = check_layer(net, graph, x, "conv2", 15)  # C3's last filter reads all six maps
    assert d["channels"] == [0, 1, 2, 3, 4, 5]
    d = check_layer(net, graph, x, "conv2", 0)
    table = graph["conv2"].module.table  # LeNet-1998's Table I: filter 0 reads maps 0, 1, 2
    expected = [c for c in range(6) if table[0, c] > 0]
    assert d["channels"] == expected and len(expected) == 3
    d = check_layer(net, graph, x, "conv3", 7)  # a 1x1 output map
    assert d["out_shape"] == [1, 1]


@pytest.mark.parametrize("name", SMALL)
def test_sandbox_own_settings_rebuild_every_convolution_of_every_small_model(name):
    net = create_model(name).eval()
    graph = layer_graph(net)
    for layer, info in graph.items():
        if info.kind != "conv":
            continue
        s = sandbox_of(net, graph, layer, {})
        assert s["output"] == list(info.shape), layer  # o from shapes.py = the real layer's
        assert s["ok"], (layer, s["problems"])  # the small models' strides all fit
        if getattr(info.module, "table", None) is None:
            assert s["params"]["value"] == sum(p.numel() for p in info.module.parameters())


def test_bad_layer_or_filter_is_a_unit_error():
    net = create_model("lenet5").eval()
    graph, x = layer_graph(net), torch.zeros(1, 1, 32, 32)
    with pytest.raises(UnitError, match="not a convolution: 'relu1'; the convolutions are "
                                        "conv1, conv2"):
        slide_data(net, graph, x, "relu1", 0)
    with pytest.raises(UnitError, match="filter 6 is outside layer 'conv1', which has 6"):
        slide_data(net, graph, x, "conv1", 6)


# ----------------------------------------------------------------------------- the API

@pytest.fixture(scope="module")
def client(tiny_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("slide-runs")
    resnet = fake_run(root, "resnet", "resnet20", [str(i) for i in range(10)], [0.5] * 3,
                      [0.25] * 3)
    lenet1998 = fake_run(root, "lenet1998", "lenet5-1998", list("0123456789"), [0.1307],
                         [0.3081], "mnist")
    app = create_app([tiny_run, resnet, lenet1998])
    return TestClient(app, base_url="http://localhost"), app


def test_slide_api_gives_the_trained_models_own_numbers(client):
    http, app = client
    r = http.post("/api/slide", json={"run": "tiny", "image": seven(), "layer": "conv2",
                                      "filter": 7})
    assert r.status_code == 200, r.text
    d = r.json()
    run = app.state.runs["tiny"]
    x = torch.from_numpy(run.predictor.prepare(run.decode(seven())))[None]
    feature = capture(run.predictor.model, x)["conv2"][0, 7].numpy()
    assert np.array_equal(decode(d["output"], "<f4", d["out_shape"]), feature)
    np.testing.assert_allclose(animated(d), feature, rtol=0, atol=1e-4)
    assert d["bias"] == float(run.predictor.model.features.conv2.bias.detach()[7])
    assert d["source"] == "maxpool1" and d["in_shape"] == [6, 14, 14]


@pytest.mark.parametrize("body, code, line", [
    ({"layer": "fc1"}, 404, "not a convolution: 'fc1'"),
    ({"layer": "conv1", "filter": -1}, 404, "filter -1 is outside layer 'conv1'"),
    ({"layer": "conv1", "run": "nope"}, 404, "unknown run 'nope'"),
    ({"layer": "conv1", "filter": "x"}, 422, "filter:"),
])
def test_bad_slide_requests_are_one_line_4xx(client, body, code, line):
    r = client[0].post("/api/slide", json={"run": "tiny", "image": seven(), **body})
    assert r.status_code == code and r.json()["detail"].startswith(line)
    assert "\n" not in r.json()["detail"]


def sandbox(client, **params):
    r = client[0].get("/api/sandbox", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_sandbox_own_settings_are_the_layers_real_shape_and_parameters(client):
    _, app = client
    for run_id in ("tiny", "resnet", "lenet1998"):
        graph = app.state.runs[run_id].graph
        for name, info in graph.items():
            if info.kind != "conv":
                continue
            s = sandbox(client, run=run_id, layer=name)
            assert s["output"] == list(info.shape), (run_id, name)
            if getattr(info.module, "table", None) is None:  # C3's table: the test below
                assert s["params"]["value"] == sum(p.numel() for p in info.module.parameters())
            assert s["ok"], s["problems"]


def test_sandbox_connection_table_counts_only_its_links(client):
    s = sandbox(client, run="lenet1998", layer="conv2")
    assert s["params"]["numbers"] == "5·5·60 links + 16 = 1516" and s["notes"]
    s = sandbox(client, run="lenet1998", layer="conv2", filters=10)  # no table for 10 filters
    assert s["params"]["numbers"] == "5·5·6·10 + 10 = 1510"


def test_sandbox_numbers_match_shapes_py_over_many_settings(client):
    for k in range(1, 9):
        for s in range(1, 5):
            for p in range(4):
                for f in (1, 6, 17):
                    got = sandbox(client, run="tiny", layer="conv2", kernel=k, stride=s,
                                  padding=p, filters=f)
                    i = 14  # conv2 reads maxpool1's 6 maps of 14x14
                    if k > i + 2 * p:
                        assert got["output"] is None and not got["ok"]
                        continue
                    o = conv_output_size(i, k, s, (p, p))
                    assert o == math.floor((i + 2 * p - k) / s) + 1  # the tutorials' formula
                    assert got["output"] == [f, o, o]
                    assert got["height"]["numbers"] == f"⌊({i} + 2·{p} − {k})/{s}⌋ + 1 = {o}"
                    assert got["params"]["value"] == conv_params(k, 6, f) == k * k * 6 * f + f
                    unread = (i + 2 * p - k) % s  # cells after the last window
                    assert got["height"]["fits"] == (unread == 0)
                    read = set()  # the input rows some window reads, counted one by one
                    for start in range(0, o * s, s):
                        read |= {r - p for r in range(start, start + k) if 0 <= r - p < i}
                    assert got["height"]["uncovered"] == i - len(read)
                    assert got["ok"] and got["problems"] == []  # torch floors: a note
                    lost = [n for n in got["notes"] if "never covered" in n]
                    assert bool(got["notes"]) == (unread > 0 or s > k)
                    assert bool(lost) == (unread > p or s > k)
                    if unread > p:
                        assert f"the last {unread - p} row" in lost[0]
                    check_spec_verdict(got, f"conv{f}@{k}x{k}/s{s}/p{p}", (6, i, i))


def check_spec_verdict(got: dict, token: str, shape: tuple[int, int, int]) -> None:
    """The sandbox's "spec" verdict is what Network.from_spec does with ``token`` (and with the
    sandbox's own token): the same refusal, word for word, or the same output."""
    for text in (token, got["spec"]["token"]):
        try:
            net = Network.from_spec(f"{text} fc1", shape)
        except SpecError as e:
            assert not got["spec"]["ok"] and f"layer 1 {got['spec']['text']}" == str(e)
            continue
        built = list(net.features[0](torch.zeros(1, *shape)).shape[1:])
        assert got["spec"]["ok"] and built == got["output"], (token, got["spec"])
        assert got["spec"]["text"] == f"'{got['spec']['token']}' builds it: " + \
            "x".join(map(str, built))


def test_sandbox_valid_is_what_torch_builds():
    """ok == PyTorch's conv2d takes the setting, and the output is torch's, over 144 settings."""
    x = torch.zeros(1, 2, 9, 7)
    for k, s, p in itertools.product(range(1, 13), range(1, 5), range(3)):
        got = settings_of(2, 9, 7, kernel=k, stride=s, padding=p, filters=3, bias=True)
        try:
            shape = list(torch.nn.functional.conv2d(x, torch.zeros(3, 2, k, k), None, s, p).shape)
        except RuntimeError:
            shape = None
        assert got["ok"] == (shape is not None), (k, s, p)
        assert got["output"] == (shape[1:] if shape else None)


def test_sandbox_flags_what_cannot_work(client):
    s = sandbox(client, run="tiny", layer="conv1", stride=2, kernel=4)  # (32 - 4)/2 + 1 = 15
    assert s["ok"] and s["output"] == [6, 15, 15]
    s = sandbox(client, run="tiny", layer="conv1", stride=3, kernel=5)  # (32 - 5)/3 + 1 = 10
    assert s["ok"]
    s = sandbox(client, run="tiny", layer="conv1", stride=2)  # (32 - 5)/2 + 1 = 14.5
    assert s["ok"] and s["height"]["exact"] == 14.5 and s["output"] == [6, 14, 14]  # floored
    floored = ("(32 + 2·0 − 5)/2 + 1 = 14.5: torch floors it to 14, so the last 1 row and "
               "column of the input is never covered")
    assert s["notes"] == [floored]
    assert s["height"]["uncovered"] == 1 and not s["spec"]["ok"]
    assert s["spec"]["text"] == ("'conv6@5x5/s2': stride 2 does not tile the 32x32 input: "
                                 "(32 - 5)/2 + 1 = 14.5; pad it or change the stride")
    s = sandbox(client, run="tiny", layer="conv1", stride=2, padding=1)  # only padding unread
    assert s["ok"] and s["spec"]["ok"] and s["height"]["uncovered"] == 0
    s = sandbox(client, run="tiny", layer="conv1", kernel=2, stride=3)  # (32 - 2)/3 + 1 = 11
    gaps = ("stride 3 > kernel 2: the windows skip 1 of every 3 rows and columns (10 of the 32 "
            "input rows and columns never covered)")  # 32 = 11 windows of 2 + 10 gaps of 1
    assert s["ok"] and s["output"] == [6, 11, 11] and s["notes"] == [gaps] and s["spec"]["ok"]
    s = sandbox(client, run="tiny", layer="conv1", kernel=40, padding=2)
    assert [q["what"] for q in s["problems"]] == ["kernel"] and s["output"] is None
    assert "larger than the padded input 32 + 2·2 = 36" in s["problems"][0]["text"]
    s = sandbox(client, run="tiny", layer="conv1", kernel=0, stride=-1, padding=-2, filters=0)
    assert [q["what"] for q in s["problems"]] == ["kernel", "stride", "padding", "filters"]
    s = sandbox(client, run="tiny", layer="conv1", filters=900_000)
    assert [q["what"] for q in s["problems"]] == ["size"]


def test_sandbox_bad_requests(client):
    for params, code in (({"run": "tiny", "layer": "relu1"}, 404),
                         ({"run": "tiny", "layer": "conv1", "stride": "two"}, 422),
                         ({"run": "tiny", "layer": "conv1", "kernel": 10**9}, 422)):
        r = client[0].get("/api/sandbox", params=params)
        assert r.status_code == code and "\n" not in r.json()["detail"]


def test_settings_of_a_non_square_input_names_the_side():
    s = settings_of(3, 30, 31, kernel=3, stride=2, padding=0, filters=8, bias=False)
    assert s["ok"] and [n.split(", so ")[1] for n in s["notes"]] == [
        "the last 1 row of the input is never covered"]  # (31 - 3)/2 fits the width
    assert (s["height"]["uncovered"], s["width"]["uncovered"]) == (1, 0)
    assert s["output"] == [8, 14, 15] and s["params"]["numbers"] == "3·3·3·8 = 216"
    assert s["spec"]["text"].startswith("'conv8@3x3/s2/nobias': stride 2 does not tile the 30x30")


# ----------------------------------------------------------------------------- the page

@pytest.fixture(scope="module")
def server(tiny_run):
    yield from serving(tiny_run)


def open_tab(browser, server):
    """The page with a drawn 7, on the Convolution tab; returns (page, its errors)."""
    page = open_page(browser, server, height=1000, timeout=15_000)
    page.click("#tabs button[data-tab=slide]")
    return page, page.errors


def filled(page) -> int:
    return int(page.get_attribute("#slide-view", "data-filled") or 0)


def test_the_kernel_slides_and_the_output_map_fills_in(browser, server):
    page, errors = open_tab(browser, server)
    page.wait_for_selector("#slide-total", timeout=15_000)
    with page.expect_response(lambda r: r.url.endswith("/api/slide")) as answer:
        page.select_option("#slide-layer", "conv2")
    d = answer.value.json()
    assert (d["layer"], d["filter"], d["out_shape"]) == ("conv2", 0, [10, 10])
    page.wait_for_function("document.querySelector('#slide-pos').innerText.includes('of 100')")
    assert filled(page) == 1
    assert page.locator(".slide-term").count() == 6  # one product table per input map
    for _ in range(3):
        page.click("#slide-step")
    assert filled(page) == 4 and "unit 4 of 100: [0, 0, 3]" in page.inner_text("#slide-pos")
    output = decode(d["output"], "<f4", (10, 10))
    total, model = float(page.inner_text("#slide-total")), float(page.inner_text("#slide-model"))
    assert total == pytest.approx(float(output[0, 3]), rel=1e-5, abs=1e-5)
    assert model == pytest.approx(float(output[0, 3]), rel=1e-5, abs=1e-6)
    windows = [page.locator(f"#slide-in-{k}").evaluate("e => e.style.left") for k in range(6)]
    scale = int(page.locator(".slide-map canvas").first.evaluate("c => c.clientWidth")) // 14
    assert windows == [f"{3 * scale}px"] * 6  # stride 1: the window moved 3 units right
    page.click("#slide-play")
    page.wait_for_function("+document.querySelector('#slide-view').dataset.filled >= 20")
    page.click("#slide-play")  # pause
    assert page.inner_text("#slide-play") == "play"
    paused = filled(page)
    page.click("#slide-step")
    assert filled(page) == paused + 1
    page.click("#slide-reset")
    assert filled(page) == 1
    errors_seen = list(errors)
    page.close()
    assert errors_seen == []


def test_the_sandbox_notes_a_floored_stride_and_flags_a_large_kernel(browser, server):
    page, errors = open_tab(browser, server)
    page.wait_for_selector(".sandbox-ok", timeout=15_000)  # conv1 as built: 32 -> 28
    text = page.inner_text("#sandbox-out")
    assert "⌊(32 + 2·0 − 5)/1⌋ + 1 = 28" in text and "5·5·1·6 + 6 = 156" in text
    assert page.get_attribute(".sandbox-spec", "data-ok") == "true"
    page.fill("#sandbox-stride", "2")  # (32 - 5)/2 + 1 = 14.5: torch floors, the spec refuses
    flag = page.wait_for_selector(".sandbox-spec[data-ok=false]")
    assert "stride 2 does not tile" in flag.inner_text() and "14.5" in flag.inner_text()
    text = page.inner_text("#sandbox-out")
    assert "the last 1 row and column of the input is never covered" in text
    assert page.locator(".sandbox-ok").count() == 1  # a legal layer: a note, not a flag
    assert page.locator(".sandbox-problem").count() == 0
    page.fill("#sandbox-stride", "3")  # (32 - 5)/3 + 1 = 10
    page.wait_for_selector(".sandbox-spec[data-ok=true]")
    assert "⌊(32 + 2·0 − 5)/3⌋ + 1 = 10" in page.inner_text("#sandbox-out")
    page.fill("#sandbox-filters", "20")
    page.wait_for_function("document.querySelector('#sandbox-out').innerText"
                           ".includes('5·5·1·20 + 20 = 520')")
    page.fill("#sandbox-kernel", "40")
    page.wait_for_selector(".sandbox-problem[data-what=kernel]")
    page.click("#sandbox-own")
    page.wait_for_function("document.querySelector('#sandbox-out').innerText"
                           ".includes('5·5·1·6 + 6 = 156')")
    assert page.input_value("#sandbox-stride") == ""
    errors_seen = list(errors)
    page.close()
    assert errors_seen == []
