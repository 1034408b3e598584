"""``convnet serve``: the JSON API through FastAPI's test client, and the hover geometry."""

import base64
import io
import warnings

import numpy as np
import pytest
from fake_runs import CIFAR_NAMES, cifar_colour, fake_run, photo_run
from PIL import Image, ImageDraw

from convnet.layers import lenet_c3_table
from convnet.web import create_app
from convnet.web.encoding import MAX_MAPS
from convnet.web.images import MAX_IMAGE_BYTES

with warnings.catch_warnings():  # starlette's note about httpx vs httpx2 is not ours to fix
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def data_url(im: Image.Image, fmt: str = "PNG") -> str:
    buf = io.BytesIO()
    im.save(buf, fmt)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buf.getvalue()).decode()


def seven(size: int = 140) -> str:
    """A drawn 7, white on black, as the page's pad sends it."""
    im = Image.new("L", (size, size), 0)
    s = size / 140
    ImageDraw.Draw(im).line([(30 * s, 30 * s), (110 * s, 30 * s), (60 * s, 120 * s)],
                            fill=255, width=int(12 * s))
    return data_url(im)


@pytest.fixture(scope="module")
def client(tiny_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("web-runs")
    lenet1998 = fake_run(root, "lenet1998", "lenet5-1998", list("0123456789"), [0.1307],
                         [0.3081], "mnist")
    rgb = fake_run(root, "rgb", "seed4", ["dog", "cat", "boat", "bird"], [0.5, 0.5, 0.5],
                   [0.25, 0.25, 0.25])
    resnet = fake_run(root, "resnet", "resnet20", [str(i) for i in range(10)], [0.5] * 3,
                      [0.25] * 3)
    return TestClient(create_app([tiny_run, lenet1998, rgb, resnet, photo_run(root)]),
                      base_url="http://localhost")  # the Host header is checked


def post(client, path, **body):
    body.setdefault("run", "tiny")
    body.setdefault("image", seven())
    return client.post(path, json=body)


# ----------------------------------------------------------------------------- the API

def test_runs_lists_every_run_with_its_layers(client):
    r = client.get("/api/runs")
    assert r.status_code == 200
    by_id = {run["id"]: run for run in r.json()}
    assert set(by_id) == {"tiny", "lenet1998", "rgb", "resnet", "photos"}
    layers = {layer["name"]: layer for layer in by_id["tiny"]["layers"]}
    assert layers["maxpool1"]["source"] == "relu1" and layers["conv1"]["source"] == "input"
    assert layers["maxpool1"]["kernel"] == [2, 2] and layers["maxpool1"]["mode"] == "max"
    assert by_id["rgb"]["input_shape"] == [3, 32, 32]


def test_predict_on_a_drawn_digit(client):
    r = post(client, "/api/predict")
    assert r.status_code == 200
    p = r.json()
    assert p["label"] in [str(i) for i in range(10)]
    assert abs(sum(p["probabilities"]) - 1) < 1e-4
    assert p["second"]["probability"] <= p["probability"]


def test_activations_give_every_layer_with_its_shape(client):
    r = post(client, "/api/activations")
    assert r.status_code == 200
    j = r.json()
    shapes = {layer["name"]: layer["shape"] for layer in j["layers"]}
    assert shapes == {"conv1": [6, 28, 28], "relu1": [6, 28, 28], "maxpool1": [6, 14, 14],
                      "conv2": [16, 10, 10], "relu2": [16, 10, 10], "maxpool2": [16, 5, 5],
                      "flatten": [400], "fc1": [120], "relu3": [120], "fc2": [100],
                      "relu4": [100], "fc3": [10], "softmax": [10]}
    conv1 = j["layers"][0]
    assert len(base64.b64decode(conv1["data"])) == 6 * 28 * 28 and len(conv1["lo"]) == 6
    assert j["input"]["shape"] == [1, 32, 32]
    assert len(base64.b64decode(j["input"]["rgb"])) == 32 * 32 * 3
    assert j["prediction"]["label"] == post(client, "/api/predict").json()["label"]


def test_activations_rgb_run_from_an_uploaded_photo(client):
    photo = np.random.default_rng(0).integers(0, 255, (50, 70, 3), dtype=np.uint8)
    r = post(client, "/api/activations", run="rgb", image=data_url(Image.fromarray(photo), "JPEG"))
    assert r.status_code == 200
    j = r.json()
    assert j["input"]["shape"] == [3, 32, 32] and len(j["prediction"]["top"]) == 4


def test_large_layers_are_capped(client):
    r = post(client, "/api/activations", run="resnet")
    assert r.status_code == 200
    layers = r.json()["layers"]
    assert any("." in layer["name"] for layer in layers)  # nested names: layer1.0.conv1
    for layer in layers:
        if len(layer["shape"]) == 3:
            _, h, w = layer["shape"]
            assert layer["shown"] <= MAX_MAPS
            assert len(base64.b64decode(layer["data"])) == layer["shown"] * h * w


def test_filters(client):
    j = client.get("/api/filters", params={"run": "lenet1998"}).json()
    names = [layer["name"] for layer in j["layers"]]
    assert names == ["conv1", "conv2", "conv3"]
    conv1, c3 = j["layers"][0], j["layers"][1]
    assert conv1["shape"] == [6, 1, 5, 5] and len(conv1["nearest"]) == 6
    assert c3["connected"] == lenet_c3_table().int().tolist()
    assert "colour" not in conv1 and "nearest" not in c3  # grey input; C3 reads maps, not pixels


def test_first_layer_filters_of_an_rgb_run_come_in_colour(client):
    conv1 = client.get("/api/filters", params={"run": "rgb"}).json()["layers"][0]
    assert conv1["shape"] == [6, 3, 5, 5] and len(conv1["colour"]) == 6
    assert all(len(base64.b64decode(c)) == 5 * 5 * 3 for c in conv1["colour"])
    for near in conv1["nearest"]:  # one per filter, over its three channels; named only if close
        assert set(near) == {"name", "closest", "similarity"}
        assert (near["name"] is not None) == (near["similarity"] >= conv1["min_similarity"])


# ----------------------------------------------------------------------------- test images

def png_of(url: str) -> Image.Image:
    assert url.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))


def test_samples_of_a_colour_run_spread_over_its_classes(client):
    r = client.get("/api/samples", params={"run": "photos"})
    assert r.status_code == 200
    j = r.json()
    assert j["run"] == "photos" and j["dataset"] == "cifar10" and j["note"] == ""
    samples = j["samples"]  # 6 test images of each of the 4 classes, 24 in all
    assert [s["label"] for s in samples[:4]] == ["dog", "cat", "ship", "bird"]
    assert sorted(s["label"] for s in samples) == sorted(["dog", "cat", "ship", "bird"] * 6)
    for s in samples:  # the picture and its label: each CIFAR class has its own colour
        channel, value = cifar_colour(CIFAR_NAMES.index(s["label"]))
        im = png_of(s["image"])
        assert (im.mode, im.size) == ("RGB", (32, 32))
        assert np.asarray(im)[0, 0, channel] == value
    assert len(client.get("/api/samples", params={"run": "photos", "n": 5}).json()["samples"]) == 5


def test_a_clicked_sample_runs_through_the_network_like_an_upload(client):
    sample = client.get("/api/samples", params={"run": "photos"}).json()["samples"][2]
    j = post(client, "/api/activations", run="photos", image=sample["image"]).json()
    assert j["input"]["shape"] == [3, 32, 32]
    assert [t["label"] for t in j["prediction"]["top"]] != [] and len(j["layers"]) == 13
    pixels = np.frombuffer(base64.b64decode(j["input"]["rgb"]), np.uint8).reshape(32, 32, 3)
    assert np.abs(pixels.astype(int) - np.asarray(png_of(sample["image"]))).max() <= 1


def test_samples_of_a_digit_run(client):
    samples = client.get("/api/samples", params={"run": "tiny", "n": 12}).json()["samples"]
    assert [s["label"] for s in samples[:10]] == [str(d) for d in range(10)]
    assert png_of(samples[0]["image"]).size == (28, 28)


def test_samples_without_data_say_so_and_do_not_fail(client):
    r = client.get("/api/samples", params={"run": "rgb"})  # dataset "synthetic": nothing to read
    assert r.status_code == 200
    j = r.json()
    assert j["samples"] == [] and j["note"].startswith("no test images to show: ")
    assert "\n" not in j["note"]


@pytest.mark.parametrize("params, code", [({"run": "nope"}, 404), ({"run": "photos", "n": 0}, 422),
                                          ({"run": "photos", "n": 65}, 422)])
def test_bad_sample_requests_are_4xx(client, params, code):
    r = client.get("/api/samples", params=params)
    assert r.status_code == code and r.json()["detail"]


def test_spread_takes_classes_in_turn():
    from convnet.web.samples import spread

    labels = np.array([2, 0, 0, 1, 0, 2, 1])
    assert spread(labels, 7) == [1, 3, 0, 2, 6, 5, 4]
    assert spread(labels, 2) == [1, 3] and spread(np.array([], np.int64), 4) == []


def test_kernel_playground(client):
    r = client.post("/api/kernel", json={"image": seven(), "kernel": "sobel x"})
    assert r.status_code == 200 and r.json()["output"]["shape"] == [1, 140, 140]
    r = client.post("/api/kernel", json={"image": seven(), "kernel": "0,-1,0;-1,5,-1;0,-1,0"})
    assert r.status_code == 200
    r = client.post("/api/kernel", json={"image": seven(), "kernel": "1,2;3"})
    assert r.status_code == 422 and "different lengths" in r.json()["detail"]
    r = client.post("/api/kernel", json={"image": seven(), "kernel": "inf,0;0,-inf"})
    assert r.status_code == 422 and "finite" in r.json()["detail"]  # it broke the page
    r = client.post("/api/kernel", json={"image": seven(), "kernel": [[1, 0], [0]]})
    assert r.status_code == 422 and "square" in r.json()["detail"]


# ----------------------------------------------------------------------------- bad input

def test_too_large_upload_is_413(client):
    big = base64.b64encode(b"\0" * (MAX_IMAGE_BYTES + 10)).decode()
    r = post(client, "/api/predict", image=big)
    assert r.status_code == 413 and "limit" in r.json()["detail"]


def test_not_an_image_is_415(client):
    r = post(client, "/api/predict", image=base64.b64encode(b"hello, not a PNG").decode())
    assert r.status_code == 415 and "not a readable image" in r.json()["detail"]


def test_absurd_dimensions_are_refused_before_decoding(client):
    im = Image.new("1", (20000, 10), 0)  # tiny file, absurd width (more in test_web_security)
    r = post(client, "/api/predict", image=data_url(im))
    assert r.status_code == 413 and "20000x10" in r.json()["detail"]


def test_unknown_run_layer_and_unit_are_404(client):
    assert post(client, "/api/predict", run="nope").status_code == 404
    assert post(client, "/api/unit", layer="conv9", index=[0, 0, 0]).status_code == 404
    r = post(client, "/api/unit", layer="maxpool1", index=[0, 14, 0])
    assert r.status_code == 404 and "outside" in r.json()["detail"]
    assert client.get("/api/filters", params={"run": "nope"}).status_code == 404


@pytest.mark.parametrize("body, code", [
    (b"{not json", 400), (b'{"run": "tiny"}', 422), (b'{"run": 3, "image": "x"}', 422),
    (b'{"run": "tiny", "image": "%%%"}', 400), (b'{"run": "tiny", "image": ""}', 400)])
def test_malformed_requests_are_one_line_4xx(client, body, code):
    r = client.post("/api/activations", content=body, headers={"content-type": "application/json"})
    assert r.status_code == code
    assert isinstance(r.json()["detail"], str) and "\n" not in r.json()["detail"]


def test_blank_drawing_is_422(client):
    r = post(client, "/api/activations", image=data_url(Image.new("L", (140, 140), 0)))
    assert r.status_code == 422 and "blank" in r.json()["detail"]


def test_body_over_the_limit_is_refused_on_its_header(client):
    r = client.post("/api/predict", content=b"x" * (MAX_IMAGE_BYTES * 2),
                    headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_page_and_openapi(client):
    assert "<canvas id=\"pad\"" in client.get("/").text
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/docs").status_code == 200  # offline: see test_web_security
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/runs", "/api/predict", "/api/activations", "/api/filters",
            "/api/samples"} <= set(paths)


def test_serve_with_a_bad_rundir_is_one_line_and_exit_7(tmp_path, capsys):
    from convnet.cli import main

    assert main(["serve", str(tmp_path / "missing")]) == 7
    assert "not a run directory" in capsys.readouterr().err


# ----------------------------------------------------------------------------- hover geometry

def test_max_pool_unit_maps_to_its_2x2_window_and_the_winner(client):
    r = post(client, "/api/unit", layer="maxpool1", index=[2, 5, 6])
    assert r.status_code == 200
    u = r.json()
    assert u["source"] == "relu1"
    assert u["windows"] == [{"channel": 2, "y": 10, "x": 12, "h": 2, "w": 2}]
    c, y, x = u["winner"]
    assert c == 2 and 10 <= y < 12 and 12 <= x < 14
    window = u["arithmetic"]["window"]
    r, q = u["arithmetic"]["winner"]
    assert window[r][q] == max(max(row) for row in window) == u["value"]


def test_conv_unit_maps_to_its_patch_in_exactly_the_c3_connected_maps(client):
    table = lenet_c3_table()
    for o in (0, 6, 12, 15):
        u = post(client, "/api/unit", run="lenet1998", layer="conv2", index=[o, 3, 4]).json()
        connected = table[o].nonzero().flatten().tolist()
        assert u["source"] == "stanh2"  # S2's squashing output feeds C3
        assert [w["channel"] for w in u["windows"]] == connected
        assert all((w["y"], w["x"], w["h"], w["w"]) == (3, 4, 5, 5) for w in u["windows"])
        a = u["arithmetic"]
        assert a["total"] == pytest.approx(a["output"], abs=1e-3)  # Σ w·x + b is the unit


def test_conv_unit_arithmetic_adds_up_on_the_trained_run(client):
    u = post(client, "/api/unit", layer="conv1", index=[1, 10, 12]).json()
    a = u["arithmetic"]
    assert u["source"] == "input" and u["windows"] == [  # colour: the panel's first term's
        {"channel": 0, "y": 10, "x": 12, "h": 5, "w": 5, "colour": 0}]
    patch, w = np.array(a["terms"][0]["patch"]), np.array(a["terms"][0]["weights"])
    assert (patch * w).sum() + a["bias"] == pytest.approx(u["value"], abs=1e-3)


def test_fc_and_flatten_units(client):
    u = post(client, "/api/unit", layer="flatten", index=[27]).json()
    assert u["windows"] == [{"channel": 1, "y": 0, "x": 2, "h": 1, "w": 1}]  # 27 = (1·5+0)·5+2
    u = post(client, "/api/unit", layer="fc1", index=[3]).json()
    a = u["arithmetic"]
    assert a["n_inputs"] == 400 and len(u["inputs"]) == len(a["terms"]) == 8
    assert a["total"] == pytest.approx(a["output"], abs=1e-3)


def test_the_page_writes_markup_only_through_its_escaping_helper():
    """Server strings reach the page as text or through html`...` (escaped), never raw markup:
    innerHTML is set in one place, setHTML, which takes html`...` only (browser tests: the
    payload runs in test_web_browser)."""
    from convnet.web.app import STATIC

    sources = {p.name: p.read_text() for p in STATIC.glob("*.js")}
    writes = [(name, line.strip()) for name, text in sources.items()
              for line in text.splitlines()
              if any(w in line for w in ("innerHTML", "outerHTML", "insertAdjacentHTML",
                                         "document.write"))
              and not line.lstrip().startswith("//")]
    assert writes == [("dom.js", 'node.innerHTML = parts.map((p) => p.s).join("");')]
