"""``convnet.load(run).predict(...)``: the Prediction contract on tiny data, and real reading of
digits with the 1-epoch MNIST run: MNIST's own test images, "photos" of them on paper, and a
clean drawn digit with an alpha channel (the real-data tests skip without ../shared/datasets).
"""

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

import convnet
from convnet.data import load_dataset
from convnet.predict import Prediction

N_DIGITS = 20  # the first 20 MNIST test digits: fixed, so a failure can be looked at


@pytest.fixture
def bar_png(tmp_path):
    """A white bar on black, like the tiny data's class 3."""
    a = np.zeros((28, 28), np.uint8)
    a[9:11, 6:22] = 255
    path = tmp_path / "bar.png"
    Image.fromarray(a).save(path)
    return path


def test_predict_one_image_gives_a_prediction_over_the_class_names(tiny_run, bar_png):
    p = convnet.load(tiny_run).predict(bar_png, top=10)
    assert isinstance(p, Prediction) and p.image == str(bar_png)
    assert {k for k, _ in p.top} == set("0123456789")
    assert sum(prob for _, prob in p.top) == pytest.approx(1.0, abs=1e-5)
    assert (p.label, p.probability) == p.top[0]
    assert all(a >= b for (_, a), (_, b) in zip(p.top, p.top[1:]))
    assert len(convnet.load(tiny_run).predict(bar_png).top) == 5  # the default


def test_predict_a_list_gives_a_list_in_order(tiny_run, bar_png):
    predictor = convnet.load(tiny_run)
    array = np.asarray(Image.open(bar_png))
    out = predictor.predict([bar_png, str(bar_png), array])
    assert isinstance(out, list) and len(out) == 3
    assert [p.image for p in out] == [str(bar_png), str(bar_png), None]
    assert out[0].top == out[1].top == out[2].top  # the same pixels, three ways


@pytest.mark.parametrize("backend", ["torch", "auto"])
def test_probabilities_are_eval_mode_even_if_the_model_was_put_in_training(backend):
    # issue 11: batch norm in training mode normalises each image by its own statistics
    from convnet.models import Network
    from convnet.predict import Predictor

    torch.manual_seed(0)
    net = Network.from_spec("conv4@3x3 bn relu dropout0.5 flatten fc3", (3, 8, 8))
    net.features.bn1.running_mean.uniform_(-2, 2)
    predictor = Predictor(net, ["a", "b", "c"], backend=backend)
    x = np.random.default_rng(0).standard_normal((1, 3, 8, 8), dtype=np.float32)
    with torch.inference_mode():
        expected = net.eval().logits(torch.from_numpy(x)).softmax(dim=1).numpy()
    for _ in range(2):  # the first call builds the onnxruntime sessions for "auto"
        net.train()
        np.testing.assert_allclose(predictor.probabilities(x), expected, atol=1e-5)
        assert predictor.fallback is None
        if backend == "torch":  # put back in eval mode before its forward pass
            assert not net.training


# ----------------------------------------------------------------------------- real MNIST

@pytest.fixture(scope="module")
def mnist_test(real_data):
    ds = load_dataset("mnist", "test", str(real_data))
    return ds.images[:N_DIGITS, 0], [str(k) for k in ds.labels[:N_DIGITS]]


def photo_of_paper(digit: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """An MNIST digit as a phone photo of ink on paper: dark on light, 6-10x larger,
    off-centre on a 640x480 grey page with a lighting gradient and sensor noise."""
    scale = int(rng.integers(6, 11))
    side = 28 * scale
    paper = np.asarray(Image.fromarray(255 - digit).resize((side, side), Image.BICUBIC),
                       np.float64) / 255  # 1 = paper, 0 = ink
    yy, xx = np.mgrid[0:480, 0:640]
    page = 200 + 30 * xx / 640 - 20 * yy / 480  # light from the right and the top
    y0, x0 = int(rng.integers(10, 470 - side)), int(rng.integers(10, 630 - side))
    page[y0:y0 + side, x0:x0 + side] *= 0.15 + 0.85 * paper  # ink keeps 15 % of the light
    page += rng.normal(0, 4, page.shape)
    return Image.fromarray(np.clip(page, 0, 255).astype(np.uint8))


def test_mnist_test_images_saved_as_png_are_read(mnist_run, mnist_test, tmp_path):
    digits, labels = mnist_test
    paths = []
    for i, digit in enumerate(digits):
        paths.append(tmp_path / f"{i}-{labels[i]}.png")
        Image.fromarray(digit).save(paths[-1])
    got = [p.label for p in convnet.load(mnist_run).predict(paths)]
    assert sum(g == t for g, t in zip(got, labels)) >= N_DIGITS - 1, (got, labels)


def test_photos_of_digits_on_paper_are_read(mnist_run, mnist_test, tmp_path):
    digits, labels = mnist_test
    rng = np.random.default_rng(0)
    paths = []
    for i, digit in enumerate(digits):
        paths.append(tmp_path / f"{i}-{labels[i]}.jpg")
        photo_of_paper(digit, rng).save(paths[-1], quality=85)
    got = [p.label for p in convnet.load(mnist_run).predict(paths)]
    assert sum(g == t for g, t in zip(got, labels)) >= N_DIGITS - 2, (got, labels)


STROKES = {  # black pen strokes on a 300x300 page
    "0": [("ellipse", [90, 40, 210, 260])],
    "1": [("line", [(150, 50), (150, 250)])],
    "4": [("line", [(170, 40), (70, 180), (230, 180)]), ("line", [(180, 100), (180, 260)])],
    "7": [("line", [(80, 60), (220, 60), (130, 250)])],
}


@pytest.mark.parametrize("label", sorted(STROKES))
def test_a_clean_drawn_digit_with_alpha_is_read(mnist_run, tmp_path, label):
    im = Image.new("RGBA", (300, 300), (255, 255, 255, 0))  # transparent paper reads as white
    draw = ImageDraw.Draw(im)
    for kind, xy in STROKES[label]:
        if kind == "line":
            draw.line(xy, fill=(0, 0, 0, 255), width=22, joint="curve")
        else:
            draw.ellipse(xy, outline=(0, 0, 0, 255), width=22)
    path = tmp_path / f"{label}.png"
    im.save(path)
    p = convnet.load(mnist_run).predict(path)
    assert p.label == label and p.probability > 0.5, p
