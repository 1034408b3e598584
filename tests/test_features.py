"""What each layer learned (issue 14 item 11): receptive fields and the top-9 patches.

The receptive field (``kinds.fields``, ``viz.receptive``) is checked against brute force: the
input pixels with a nonzero gradient of one unit, in a copy of the model made linear and
positive (activations removed, max pooling made average pooling over the same window, every
weight positive) so that no pixel of the field can have a zero gradient by chance. The chosen
patches are recomputed from the layer's activations; the command runs over every registered
model with untrained weights on a tiny CIFAR-format test split.
"""

import copy
import json

import numpy as np
import pytest
import torch
from fake_runs import CIFAR_NAMES, fake_run, write_cifar_test_split
from torch import nn

from convnet import kinds
from conftest import cli
from convnet.registry import create_model, list_models, model_info
from convnet.shapes import Field
from convnet.viz import features as feat
from convnet.viz.capture import capture, named_layers, recording
from convnet.viz.receptive import receptive_fields


pytestmark = pytest.mark.usefixtures("one_thread")


# ----------------------------------------------------------------------------- receptive field
def linear_positive(model: nn.Module) -> nn.Module:
    """A copy in which every input pixel of a unit's field reaches it with a positive weight."""
    model = copy.deepcopy(model).double().eval()
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            kind = kinds.of(child)
            if kind is not None and kind.family == "act" or isinstance(child, nn.LocalResponseNorm):
                setattr(parent, name, nn.Identity())
            elif isinstance(child, nn.MaxPool2d):
                setattr(parent, name, nn.AvgPool2d(child.kernel_size, child.stride,
                                                   child.padding, child.ceil_mode))
    for module in model.modules():
        if isinstance(module, nn.Conv2d):  # a mean over the window keeps values near 1
            module.weight.data.fill_(1.0 / module.weight[0].numel())
        elif isinstance(module, nn.BatchNorm2d):
            module.weight.data.fill_(1.0)
            module.running_var.fill_(1.0)
        elif hasattr(module, "weight") and isinstance(module.weight, torch.Tensor):
            module.weight.data.abs_().add_(0.1)
    return model


def seen_pixels(model: nn.Module, layer: str, unit: tuple[int, int, int]) -> np.ndarray:
    """(H, W) bool: the input pixels whose gradient of ``unit`` (channel, y, x) is not zero."""
    x = torch.ones(1, *model.input_shape, dtype=torch.float64, requires_grad=True)
    with recording(model, detach=False) as acts:
        model.forward_features(x)
    c, y, x_ = unit
    acts[layer][0, c, y, x_].backward()
    return (x.grad[0].abs().sum(dim=0) > 0).numpy()


def field_box(fields, layer: str, y: int, x: int, h: int, w: int) -> np.ndarray:
    rows, cols = fields[layer]
    (top, bottom), (left, right) = rows.span(y, h), cols.span(x, w)
    box = np.zeros((h, w), bool)
    box[top:bottom, left:right] = True
    return box


@pytest.mark.parametrize("name", ["lenet5", "lenet5-1998", "resnet20", "googlenet-small",
                                  "densenet-small", "airbench94"])
def test_receptive_field_is_the_set_of_pixels_with_a_gradient(name):
    """Every convolution; units in the corners (clipped fields) and one in the middle."""
    torch.manual_seed(0)
    model = create_model(name)
    fields = receptive_fields(model)
    probe = linear_positive(model)
    _, h, w = model.input_shape
    with torch.no_grad(), recording(probe) as acts:
        probe.forward_features(torch.zeros(1, *model.input_shape, dtype=torch.float64))
    convs = [n for n, m in named_layers(model) if isinstance(m, nn.Conv2d)]
    assert convs and set(convs) <= set(fields)
    for layer in convs:
        _, c, oh, ow = acts[layer].shape
        for y, x in {(0, 0), (oh - 1, ow - 1), (oh // 2, ow // 3)}:
            seen = seen_pixels(probe, layer, (c - 1, y, x))
            assert np.array_equal(seen, field_box(fields, layer, y, x, h, w)), (layer, y, x)


def test_receptive_field_numbers():
    """The textbook numbers: LeNet-5's C3 sees 14x14 pixels; ResNet-20 ends at 81 (jump 4)."""
    lenet = receptive_fields(create_model("lenet5"))
    assert [(lenet[n][0].size, lenet[n][0].jump) for n in ("conv1", "maxpool1", "conv2",
                                                           "maxpool2")] == \
        [(5, 1), (6, 2), (14, 2), (16, 4)]
    resnet = receptive_fields(create_model("resnet20"))
    assert [(resnet[n][0].size, resnet[n][0].jump, resnet[n][0].start) for n in
            ("conv1", "layer1.2.conv2", "layer2.0.conv1", "layer3.2.conv2")] == \
        [(3, 1, -1), (15, 1, -7), (17, 2, -8), (81, 4, -40)]


def test_every_model_has_a_field_for_every_convolution():
    for name in list_models():
        model = create_model(name)
        fields = receptive_fields(model)
        convs = [n for n, m in named_layers(model) if isinstance(m, nn.Conv2d)]
        assert all(fields.get(n) is not None for n in convs), name


# ----------------------------------------------------------------------------- the patches
@pytest.mark.parametrize("name, layer", [("lenet5", "conv2"), ("resnet20", "layer2.1.conv1")])
def test_the_chosen_patches_are_the_top_activations(name, layer):
    """Recomputed from every activation of the layer: the values, their order and the boxes."""
    torch.manual_seed(1)
    model = create_model(name).eval()
    x = torch.randn(40, *model.input_shape)  # noise: no two images tie
    found = feat.favourites(model, layer, x, top=5)
    maps = capture(model, x)[layer]  # (N, C, h, w)
    best = maps.flatten(2).amax(dim=2)  # (N, C)
    rows, cols = receptive_fields(model)[layer]
    _, h, w = model.input_shape
    assert found.shown == list(range(maps.shape[1])) and found.channels == maps.shape[1]
    for c, patches in zip(found.shown, found.patches):
        expected = best[:, c].sort(descending=True)
        assert [p.image for p in patches] == expected.indices[:5].tolist()
        for p in patches:
            y, x_ = p.unit
            assert p.value == pytest.approx(float(maps[p.image, c, y, x_]), abs=1e-6)
            assert p.value == pytest.approx(float(best[p.image, c]), abs=1e-6)
            (top, bottom), (left, right) = rows.span(y, h), cols.span(x_, w)
            assert p.box == (top, left, bottom, right)


def test_a_panel_is_the_image_inside_the_field():
    """A unit whose field lies inside the image shows exactly those pixels."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (3, 32, 32), dtype=np.uint8)
    field = (Field(5, 2, 0), Field(5, 2, 0))
    p = feat.panel(image, field, feat.Patch(0, 1.0, (3, 4), (6, 8, 11, 13)))
    assert np.allclose(p, image[:, 6:11, 8:13].transpose(1, 2, 0) / 255)


def test_a_layer_larger_than_the_image_shows_the_whole_image():
    """ResNet-20's last stage sees 81x81 pixels of a 32x32 image: every panel is the image."""
    image = np.arange(3 * 32 * 32, dtype=np.uint8).reshape(3, 32, 32)
    field = (Field(81, 4, -40), Field(81, 4, -40))
    p = feat.panel(image, field, feat.Patch(0, 1.0, (7, 0), (0, 0, 32, 32)))
    assert p.shape == (32, 32, 3)
    assert np.allclose(p, image.transpose(1, 2, 0) / 255)


# ----------------------------------------------------------------------------- the command
SMALL = [n for n in list_models() if model_info(n).input_shape[1] <= 32]
BIG = [n for n in list_models() if n not in SMALL]




@pytest.fixture(scope="module")
def cifar(tmp_path_factory):
    root = tmp_path_factory.mktemp("features")
    write_cifar_test_split(root / "data", n=30)
    return root


def cifar_run(root, model_name: str, cifar):
    """ROOT/run: an untrained run of ``model_name`` whose test split is the ``cifar`` fixture's."""
    c = model_info(model_name).input_shape[0]  # a grey model gets the images in grey
    return fake_run(root, "run", model_name, CIFAR_NAMES, [0.5] * c, [0.25] * c,
                    dataset="cifar10", config={"data_dir": str(cifar / "data")})


def check_answer(out: str, model: nn.Module, layer: str, png) -> None:
    """The --json answer: 2 channels of 3 patches, best first, inside the image; the PNG."""
    found = json.loads(out)
    _, h, w = model.input_shape
    assert found["layer"] == layer and found["shown"] == [0, 1] and png.stat().st_size > 0
    assert found["path"] == str(png) and len(found["patches"]) == 2
    for patches in found["patches"]:
        values = [p["value"] for p in patches]
        assert len(patches) == 3 and values == sorted(values, reverse=True)
        for p in patches:
            top, left, bottom, right = p["box"]
            assert 0 <= top < bottom <= h and 0 <= left < right <= w and 0 <= p["image"] < 30


@pytest.mark.parametrize("name", SMALL)
def test_features_command_on_every_small_model(name, cifar, capsys, tmp_path):
    """A run on disk: its first and its last convolution."""
    rundir = cifar_run(tmp_path, name, cifar)
    model = create_model(name)
    convs = feat.conv_layers(model)
    for layer in (convs[0], convs[-1]):
        png = tmp_path / f"{layer}.png"
        args = ["features", rundir, "--top", "3", "--channels", "2", "--json", "--out", png]
        code, out, err = cli(capsys, *args, *(["--layer", layer] if layer != convs[0] else []))
        assert code == 0, err
        check_answer(out, model, layer, png)


@pytest.mark.parametrize("name", BIG)
def test_features_command_on_every_big_model(name, cifar, capsys, tmp_path, monkeypatch):
    """The 224-pixel models with their untrained weights in memory (a run on disk would write
    up to 550 MB of random VGG weights, and loading a run is tested with the small ones); the
    32x32 test images are fitted to 224 as for any run."""
    torch.manual_seed(0)
    model = create_model(name, num_classes=10).eval()
    manifest = {"dataset": {"name": "cifar10", "classes": CIFAR_NAMES, "mean": [0.5] * 3,
                            "std": [0.25] * 3}, "config": {"data_dir": str(cifar / "data")}}
    monkeypatch.setattr(feat, "load_model", lambda rundir: (model, manifest))
    png = tmp_path / "grid.png"
    code, out, err = cli(capsys, "features", tmp_path, "--top", "3", "--channels", "2", "--json",
                         "--out", png)
    assert code == 0, err
    check_answer(out, model, feat.conv_layers(model)[0], png)


def test_features_text_answer_and_default_file(cifar, capsys, tmp_path, monkeypatch):
    rundir = cifar_run(tmp_path, "lenet5", cifar)
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(capsys, "features", rundir)
    assert code == 0, err
    assert out.startswith("conv1: top 9 test patches of 6 of 6 channels, each 5x5 pixels")
    assert (tmp_path / "features-conv1.png").stat().st_size > 0


@pytest.mark.parametrize("args, code, words", [
    (["--layer", "conv9"], 1, ["--layer 'conv9': no such layer", "conv1, conv2"]),
    (["--layer", "maxpool1"], 1, ["--layer 'maxpool1' is a maxpool layer, not a convolution"]),
    (["--top", "0"], 1, ["--top and --channels must be at least 1"]),
    (["--channels", "0"], 1, ["--top and --channels must be at least 1"]),
])
def test_bad_input_is_one_line(args, code, words, cifar, capsys, tmp_path):
    rundir = cifar_run(tmp_path, "lenet5", cifar)
    got, out, err = cli(capsys, "features", rundir, "--out", tmp_path / "x.png", *args)
    assert got == code and out == "" and len(err.strip().splitlines()) == 1, err
    assert all(w in err for w in words), err
    assert not (tmp_path / "x.png").exists()


def test_run_not_found(capsys, tmp_path):
    code, _, err = cli(capsys, "features", tmp_path / "nothing", "--out", tmp_path / "x.png")
    assert code == 7 and len(err.strip().splitlines()) == 1 and "nothing" in err, err


def test_report_has_the_first_layers_features(cifar, tmp_path):
    from convnet.viz.report import render_report

    page = render_report(cifar_run(tmp_path, "seed4", cifar), inputs=[0])
    section = page.split('<section id="features">')[1].split("</section>")[0]
    assert "What the first layer learned" in section and "conv1" in section
    assert section.count('<img src="data:image/png;base64,') == 1


def test_the_page_api_gives_the_grid_and_names_a_bad_layer(cifar, tmp_path, monkeypatch):
    import warnings

    from convnet.web import create_app, features_api
    with warnings.catch_warnings():  # starlette's note about httpx is not ours to fix
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    client = TestClient(create_app([cifar_run(tmp_path, "lenet5", cifar)]),
                        base_url="http://localhost")  # the Host header is checked
    r = client.get("/api/features", params={"run": "run", "channels": 2})
    assert r.status_code == 200, r.text
    found = r.json()
    assert found["layer"] == "conv1" and found["layers"] == ["conv1", "conv2"]
    assert found["shown"] == [0, 1] and [len(p) for p in found["patches"]] == [9, 9]
    assert found["field"]["size"] == [5, 5] and found["images"] == 30
    assert found["image"].startswith("data:image/png;base64,")
    again = client.get("/api/features", params={"run": "run", "layer": "conv2", "channels": 2})
    assert again.json()["field"]["size"] == [14, 14]
    monkeypatch.setattr(features_api, "KEPT", 1)  # the answers kept are bounded
    client.get("/api/features", params={"run": "run", "channels": 1})
    # keyed by the run, its load (served.Served.serial: a reloaded run is searched again),
    # the layer and the channels
    serial = client.app.state.runs["run"].serial  # a count over the whole process
    assert list(client.app.state.features) == [("run", serial, "conv1", 1)]
    bad = client.get("/api/features", params={"run": "run", "layer": "relu1"})
    assert bad.status_code == 404 and "not a convolution" in bad.json()["detail"]
    assert client.get("/api/features", params={"run": "nope"}).status_code == 404


def test_the_features_tab_shows_the_grid_of_a_chosen_layer(cifar, tmp_path):
    """In Chromium (skipped without it): the tab lists the convolutions and draws the grid."""
    from test_web_browser import CHROMIUM_ARGS, need, serving

    pytest.importorskip("playwright")
    import shutil

    from playwright.sync_api import sync_playwright
    need("chromium (apt)", shutil.which("chromium") is not None)
    for url in serving(cifar_run(tmp_path, "lenet5", cifar)):
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"),
                                        args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(url)
            page.click("#tabs button[data-tab=features]")
            page.wait_for_function("document.querySelector('#features-grid').src"
                                   ".startsWith('data:image/png')", timeout=60_000)
            assert page.eval_on_selector_all("#features-layer option",
                                             "os => os.map(o => o.value)") == ["conv1", "conv2"]
            page.select_option("#features-layer", "conv2")
            page.wait_for_function("document.querySelector('#features-note').textContent"
                                   ".includes('14x14')", timeout=60_000)
            page.screenshot(path=str(tmp_path / "features-tab.png"))
            browser.close()
