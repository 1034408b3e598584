"""``convnet show RUNDIR IMAGE --out DIR``: feature maps, filters, saliency, Grad-CAM, probabilities."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from fake_runs import photo_run
from PIL import Image, ImageDraw

from convnet.cli import main
from convnet.predict import Predictor
from convnet.registry import create_model
from convnet.viz.capture import capture
from convnet.viz.filters import (MIN_SIMILARITY, NO_MATCH, colour_filter, draw_filters,
                                 kernel_label, nearest_kernel)
from convnet.viz.kernels import CLASSIC_KERNELS
from convnet.viz.maps import draw_maps
from convnet.viz.saliency import explain, gradcam_layer
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


# ----------------------------------------------------------------------------- colour networks

SOBEL = np.array(CLASSIC_KERNELS["sobel x"], dtype=float)


def test_nearest_kernel_reads_all_three_channels_of_an_rgb_filter():
    assert nearest_kernel(np.stack([SOBEL] * 3)) == ("sobel x", 1.0)  # on the grey image
    assert nearest_kernel(np.stack([SOBEL, 0 * SOBEL, 0 * SOBEL])) == ("sobel x", 1.0)  # red
    opponent = np.stack([SOBEL, -SOBEL, 0 * SOBEL])  # red edges minus green edges
    assert nearest_kernel(opponent) == ("sobel x", 0.707)  # 1/sqrt(2): half of it is not Sobel
    assert kernel_label(opponent) == NO_MATCH and kernel_label(opponent[:1]) == "sobel x 1.00"


def test_random_filters_get_no_kernel_label():
    rng = np.random.default_rng(0)
    for shape in [(3, 5, 5), (1, 5, 5), (3, 3, 3)]:
        labels = [kernel_label(rng.standard_normal(shape)) for _ in range(50)]
        assert labels.count(NO_MATCH) >= 48, (shape, labels)
    assert MIN_SIMILARITY ** 2 >= 0.5  # the kernel accounts for at least half the energy


def test_colour_filter_is_grey_at_zero_and_symmetric():
    w = np.zeros((3, 2, 2))
    w[0, 0, 0], w[2, 1, 1] = 0.4, -0.2  # red at the top left, minus blue at the bottom right
    rgb = colour_filter(w)
    assert rgb.shape == (2, 2, 3)
    assert rgb[0, 1].tolist() == [0.5, 0.5, 0.5]  # zero: grey
    assert rgb[0, 0].tolist() == [1.0, 0.5, 0.5] and rgb[1, 1].tolist() == [0.5, 0.5, 0.25]


def test_first_layer_of_an_rgb_model_is_drawn_in_colour(tmp_path):
    torch.manual_seed(0)
    conv1 = create_model("seed4", num_classes=4).features.conv1  # 6 filters 5x5 x 3
    grid = draw_filters("conv1", conv1, tmp_path / "f.png", label=True, colour=True)
    assert grid.n_panels == 6 and (grid.rows, grid.cols) == (2, 3)  # one panel per filter
    assert len(grid.labels) == 6 and "in colour" in grid.title
    assert all(lab == NO_MATCH or float(lab.rsplit(" ", 1)[1]) >= MIN_SIMILARITY
               for lab in grid.labels)
    pixels = np.asarray(Image.open(grid.path).convert("RGB")).astype(int)
    assert (np.abs(pixels[..., 0] - pixels[..., 1]) > 40).sum() > 100  # really in colour


@pytest.mark.parametrize("name, layer", [("lenet5", "conv2"), ("vgg11-small", "conv8"),
                                         ("resnet20", "layer3.2"), ("densenet-small", "relu5"),
                                         ("googlenet-small", "inception5b")])
def test_gradcam_looks_at_the_maps_before_global_pooling(name, layer):
    torch.manual_seed(0)
    model = create_model(name).eval()
    found, module = gradcam_layer(model)
    assert found == layer
    x = torch.rand(1, *model.input_shape)
    seen = []
    handle = module.register_forward_hook(lambda m, args, out: seen.append(out.shape))
    with torch.no_grad():
        pooled_input = model.forward_features(x).shape
    handle.remove()
    if name not in ("lenet5", "vgg11-small"):  # the whole block output, all of its maps
        assert seen[0] == pooled_input
    ex = explain(model, x)
    assert ex.layer == layer and ex.gradcam.shape == ex.saliency.shape == x.shape[2:]
    assert np.isfinite(ex.gradcam).all() and 0 <= ex.gradcam.min() <= ex.gradcam.max() <= 1


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    """An untrained seed4 run on 4 CIFAR classes, and a colour photo: sky, sea, a red hull."""
    root = tmp_path_factory.mktemp("photo-run")
    picture = np.zeros((48, 64, 3), np.uint8)
    picture[:24], picture[24:] = (90, 150, 230), (20, 60, 120)
    picture[30:40, 10:50] = (200, 30, 30)
    Image.fromarray(picture).save(root / "boat.png")
    return photo_run(root), root / "boat.png"


def test_show_on_a_colour_run(photo, tmp_path):
    rundir, image = photo
    shown = show(rundir, image, tmp_path)
    names = [p.split("/")[-1] for p in shown.files]
    assert names == EXPECTED_FILES and shown.prediction["label"] in ("dog", "cat", "ship", "bird")
    sal = np.asarray(Image.open(tmp_path / "saliency.png").convert("RGB")).astype(int)
    assert (np.abs(sal[..., 0] - sal[..., 2]) > 100).sum() > 100  # the red hull, in colour
