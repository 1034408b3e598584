"""``convnet kernels IMAGE --out DIR``: the classic kernels through Conv2d, one PNG grid."""

import json

import numpy as np
import pytest
from PIL import Image

from convnet.cli import main
from convnet.viz.kernels import CLASSIC_KERNELS, apply_kernel


@pytest.fixture
def image(tmp_path):
    """A 24x24 white square on black: edges everywhere but inside and outside."""
    pixels = np.zeros((24, 24), np.uint8)
    pixels[6:18, 6:18] = 255
    path = tmp_path / "square.png"
    Image.fromarray(pixels).save(path)
    return path


def test_standard_kernel_values():
    assert CLASSIC_KERNELS["sobel x"] == [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
    assert CLASSIC_KERNELS["sobel y"] == [[-1, -2, -1], [0, 0, 0], [1, 2, 1]]
    assert CLASSIC_KERNELS["sharpen"] == [[0, -1, 0], [-1, 5, -1], [0, -1, 0]]
    assert CLASSIC_KERNELS["edge detection 3"] == [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]
    assert CLASSIC_KERNELS["emboss"] == [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]
    for name in ("box blur", "gaussian blur 3x3"):
        assert np.isclose(np.sum(CLASSIC_KERNELS[name]), 1.0)
    assert np.allclose(np.array(CLASSIC_KERNELS["gaussian blur 3x3"]) * 16,
                       [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


def test_apply_kernel_is_same_padded_cross_correlation():
    x = np.arange(16, dtype=np.float32).reshape(4, 4)
    out = apply_kernel(x, CLASSIC_KERNELS["sobel x"])
    assert out.shape == (4, 4)
    assert out[1, 1] == (2 - 0) + 2 * (6 - 4) + (10 - 8)  # right minus left, centre row doubled
    assert np.allclose(apply_kernel(x, CLASSIC_KERNELS["identity"]), x)


def test_cli_writes_one_png_grid(capsys, image, tmp_path):
    code = main(["kernels", str(image), "--out", str(tmp_path / "k"), "--json",
                 "--kernel", "0,-1,0;-1,5,-1;0,-1,0"])
    assert code == 0
    layout = json.loads(capsys.readouterr().out)
    assert layout["panels"] == ["input", *CLASSIC_KERNELS, "custom"]
    assert layout["rows"] * layout["cols"] >= len(layout["panels"]) == 12
    with Image.open(layout["path"]) as png:
        assert png.format == "PNG" and png.size[0] > 100


def test_cli_bad_kernel_and_bad_image_are_one_line_errors(capsys, image, tmp_path):
    assert main(["kernels", str(image), "--out", str(tmp_path), "--kernel", "1,2;3"]) == 3
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    assert main(["kernels", str(bad), "--out", str(tmp_path)]) == 6
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and "different lengths" in err
