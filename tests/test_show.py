"""``convnet show RUNDIR IMAGE --out DIR``: feature maps, filters, saliency, Grad-CAM, probabilities."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from convnet.cli import main
from convnet.predict import Predictor
from convnet.registry import create_model
from convnet.viz.capture import capture
from convnet.viz.filters import draw_filters, nearest_kernel
from convnet.viz.kernels import CLASSIC_KERNELS
from convnet.viz.maps import draw_maps
from convnet.viz.saliency import explain
from convnet.viz.show import show

LENET5_SHAPES = {
    "conv1": (1, 6, 28, 28), "relu1": (1, 6, 28, 28), "maxpool1": (1, 6, 14, 14),
    "conv2": (1, 16, 10, 10), "relu2": (1, 16, 10, 10), "maxpool2": (1, 16, 5, 5),
    "flatten": (1, 400), "fc1": (1, 120), "relu3": (1, 120), "fc2": (1, 100), "relu4": (1, 100),
    "fc3": (1, 10), "softmax": (1, 10),
}
EXPECTED_FILES = ["maps_01_conv1.png", "maps_02_relu1.png", "maps_03_maxpool1.png",
                  "maps_04_conv2.png", "maps_05_relu2.png", "maps_06_maxpool2.png",
                  "filters_01_conv1.png", "filters_02_conv2.png", "saliency.png",
                  "probabilities.png"]


@pytest.fixture(scope="module")
def digit(tmp_path_factory):
    """A hand-drawn-looking 7: white strokes on black, 56x56."""
    im = Image.new("L", (56, 56), 0)
    ImageDraw.Draw(im).line([(12, 12), (44, 12), (24, 46)], fill=255, width=5)
    path = tmp_path_factory.mktemp("digit") / "seven.png"
    im.save(path)
    return path


@pytest.fixture(scope="module")
def predictor(tiny_run):
    return Predictor.from_run(tiny_run)


def test_capture_every_named_layer_of_lenet5():
    acts = capture(create_model("lenet5").eval(), torch.zeros(1, 1, 32, 32))
    assert {k: tuple(v.shape) for k, v in acts.items()} == LENET5_SHAPES
    assert list(acts) == list(LENET5_SHAPES)  # execution order
    assert not any(v.requires_grad for v in acts.values())


def test_capture_names_nested_blocks():
    acts = capture(create_model("resnet20").eval(), torch.zeros(1, 3, 32, 32))
    assert any("." in name for name in acts)  # e.g. "layer1.0.conv1"
    assert all(torch.isfinite(v).all() for v in acts.values())


def test_maps_grid_for_conv1_has_6_panels(tmp_path):
    acts = capture(create_model("lenet5").eval(), torch.rand(1, 1, 32, 32))
    grid = draw_maps("conv1", acts["conv1"], tmp_path / "m.png")
    assert (grid.rows, grid.cols, grid.n_panels) == (2, 3, 6)
    assert grid.title == "conv1: 6 maps 28x28"


def test_maps_are_capped(tmp_path):
    grid = draw_maps("big", torch.rand(1, 100, 4, 4), tmp_path / "big.png")
    assert (grid.rows, grid.cols, grid.n_panels) == (8, 8, 64)
    assert grid.title == "big: 64 of 100 maps 4x4"


def test_filter_grid_for_conv2_is_16_by_6(tmp_path):
    grid = draw_filters("conv2", create_model("lenet5").features.conv2, tmp_path / "f.png", False)
    assert (grid.rows, grid.cols, grid.n_panels) == (16, 6, 96)
    assert Image.open(grid.path).size[1] < 1600


@pytest.mark.parametrize("name", ["identity", "sobel x", "sobel y", "sharpen", "emboss"])
def test_nearest_kernel_finds_itself(name):
    assert nearest_kernel(np.array(CLASSIC_KERNELS[name])) == (name, 1.0)


def test_nearest_kernel_on_5x5_and_scale():
    sobel5 = np.pad(np.array(CLASSIC_KERNELS["sobel x"]), 1) * 0.02  # zero border, tiny scale
    assert nearest_kernel(sobel5) == ("sobel x", 1.0)
    name, sim = nearest_kernel(-np.array(CLASSIC_KERNELS["sobel x"], dtype=float))
    assert name != "sobel x" and sim < 1.0  # the opposite sign is another filter
    assert nearest_kernel(np.zeros((3, 3))) == ("none", 0.0)


def test_saliency_and_gradcam(predictor, digit):
    x = torch.from_numpy(predictor.prepare(digit))[None]
    ex = explain(predictor.model, x)
    assert ex.layer == "conv2"
    assert ex.gradcam.shape == ex.saliency.shape == (32, 32)
    assert ex.gradcam.min() >= 0 and ex.gradcam.max() <= 1
    assert ex.saliency.max() > 0
    assert ex.target == int(predictor.probabilities(x.numpy())[0].argmax())


def test_show_writes_every_png(tiny_run, digit, tmp_path):
    shown = show(tiny_run, digit, tmp_path)
    assert [p.split("/")[-1] for p in shown.files] == EXPECTED_FILES
    for path in shown.files:
        with Image.open(path) as im:
            im.load()
            assert im.format == "PNG" and min(im.size) > 100
        assert Path(path).stat().st_size < 1_000_000
    assert {d["name"]: tuple(d["shape"]) for d in shown.layers} == LENET5_SHAPES


def test_show_is_deterministic(tiny_run, digit, tmp_path):
    a, b = show(tiny_run, digit, tmp_path / "a"), show(tiny_run, digit, tmp_path / "b")
    for pa, pb in zip(a.files, b.files, strict=True):
        assert Path(pa).read_bytes() == Path(pb).read_bytes(), pa


def test_cli_show_json(tiny_run, digit, tmp_path, capsys):
    assert main(["show", str(tiny_run), str(digit), "--out", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"image", "prediction", "files", "layers"}
    assert out["prediction"]["label"] in [str(i) for i in range(10)]
    assert len(out["files"]) == len(EXPECTED_FILES)
    assert out["layers"][0] == {"name": "conv1", "shape": [1, 6, 28, 28]}


def test_cli_show_errors(tiny_run, tmp_path, capsys):
    bad = tmp_path / "not-an-image.png"
    bad.write_text("hello")
    assert main(["show", str(tiny_run), str(bad), "--out", str(tmp_path / "o")]) == 6
    assert main(["show", str(tmp_path), str(bad), "--out", str(tmp_path / "o")]) == 7
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("error: ") for line in err)
