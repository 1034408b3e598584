"""``POST /api/activations`` sends only what the page draws: the chosen layers, quantised.

Checked against the model itself: every decoded map equals the layer's output (``capture``) to
within half a quantisation step of its own range, and the overview's means are the maps' means.
"""

import base64
import io
import warnings

import numpy as np
import pytest
import torch
from fake_runs import fake_run
from PIL import Image, ImageDraw

from convnet.viz.capture import capture
from convnet.web import create_app

with warnings.catch_warnings():  # starlette's note about httpx vs httpx2 is not ours to fix
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def seven() -> str:
    im = Image.new("L", (140, 140), 0)
    ImageDraw.Draw(im).line([(30, 30), (110, 30), (60, 120)], fill=255, width=12)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("view-runs")
    runs = [fake_run(root, "lenet", "lenet5", list("0123456789"), [0.1307], [0.3081], "mnist"),
            fake_run(root, "resnet", "resnet20", list("0123456789"), [0.5] * 3, [0.25] * 3)]
    return create_app(runs)


@pytest.fixture(scope="module")
def client(app):
    return TestClient(app, base_url="http://localhost")


def activations(client, run, **extra):
    r = client.post("/api/activations", json={"run": run, "image": seven(), **extra})
    assert r.status_code == 200, r.text
    return r


def model_outputs(app, run_id) -> dict:
    """Every layer's output for the same image, straight from the model."""
    served = app.state.runs[run_id]
    x = served.predictor.prepare(served.decode(seven()), None)  # (C, H, W)
    return {name: t[0].numpy() for name, t in
            capture(served.predictor.model, torch.from_numpy(x)[None]).items()}


def decoded(layer) -> np.ndarray:
    """A layer's bytes back to values: map i is lo[i] + byte * (hi[i] - lo[i]) / 255."""
    raw = np.frombuffer(base64.b64decode(layer["data"]), np.uint8).astype(np.float64)
    maps = raw.reshape(len(layer["lo"]), -1)  # one row per map (one row for a vector)
    lo, hi = np.array(layer["lo"])[:, None], np.array(layer["hi"])[:, None]
    return lo + maps * (hi - lo) / 255, (hi - lo) / 255


@pytest.mark.parametrize("run", ["lenet", "resnet"])
def test_decoded_maps_equal_the_models_within_half_a_step(app, client, run):
    answer = activations(client, run).json()
    outputs = model_outputs(app, run)
    assert [layer["name"] for layer in answer["layers"]] == list(outputs)
    for layer in answer["layers"]:
        values, step = decoded(layer)
        out, n = outputs[layer["name"]], layer["shown"]
        want = (out[:n].reshape(n, -1) if out.ndim == 3  # (C, H, W) -> (shown, H*W)
                else out.reshape(1, -1)[:, :n])  # a vector: one row of its first units
        assert np.all(np.abs(values - want) <= step / 2 + 1e-5), layer["name"]


def test_only_the_layers_asked_for_are_sent(client):
    every = activations(client, "resnet")
    some = activations(client, "resnet", layers=["layer1.0.conv1", "fc1"])
    assert [layer["name"] for layer in some.json()["layers"]] == ["layer1.0.conv1", "fc1"]
    assert len(every.content) > 400_000  # 69 layers, 651,348 values
    assert len(some.content) < 50_000  # 16 maps of 32x32, 10 units, the input, the overview
    assert some.json()["prediction"] == every.json()["prediction"]


def test_no_layers_still_gives_the_input_prediction_and_overview(client):
    answer = activations(client, "lenet", layers=[]).json()
    assert answer["layers"] == [] and answer["input"]["shape"] == [1, 32, 32]
    assert answer["prediction"]["label"] in list("0123456789")
    assert "conv1" in answer["overview"]


def test_the_overview_has_each_layers_map_means(app, client):
    overview = activations(client, "resnet", layers=[]).json()["overview"]
    outputs = model_outputs(app, "resnet")
    assert list(overview) == list(outputs)
    for name, out in outputs.items():
        means = out.reshape(out.shape[0], -1).mean(1) if out.ndim == 3 else out.reshape(-1)
        assert overview[name] == pytest.approx(means[:16], abs=1e-4), name


def test_an_unknown_layer_is_a_one_line_404(client):
    r = client.post("/api/activations", json={"run": "lenet", "image": seven(),
                                              "layers": ["conv1", "nope"]})
    assert r.status_code == 404 and "'nope'" in r.json()["detail"]
    assert "\n" not in r.json()["detail"]
