"""One decoder, one size rule: a file gives the same pixels to image-folder training
(``data.folder.load_folder``) as to prediction (``Predictor.prepare(path)``, i.e.
``preprocess.prepare(read_image(path, decode_keep(...)), ...)``), large photos decoded reduced
alike.

Pixels are compared as uint8, before normalisation (``prepare`` with mean 0, std 1 is x / 255).
"""

import io
import tracemalloc

import numpy as np
import pytest
from PIL import Image, ImageDraw

from convnet.data.folder import load_folder
from convnet.data.decode import image_mode, read_image
from convnet.data.modes import to_l_or_rgb
from convnet.data.preprocess import decode_keep, prepare, resize_centre_crop
from convnet.errors import DataError
from convnet.models import Network
from convnet.predict import Predictor


# --------------------------------------------------------------------------- files

def _gradient(w: int, h: int) -> np.ndarray:
    """(h, w, 3) uint8 with structure everywhere: a crop, a shift or a squash all show."""
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1),
                     (xx * 7 + yy * 13) % 256], -1).astype(np.uint8)


def _png16(path):
    deep = np.linspace(1000, 30000, 40 * 30).reshape(30, 40).astype(np.uint16)  # not 0..65535
    Image.fromarray(deep).save(path)


def _rgba(path):
    im = Image.new("RGBA", (48, 36), (0, 0, 0, 0))  # transparent *black*: white once decoded
    ImageDraw.Draw(im).ellipse((8, 4, 40, 32), fill=(200, 30, 30, 255))
    ImageDraw.Draw(im).rectangle((0, 0, 12, 12), fill=(0, 0, 200, 128))  # half transparent
    im.save(path)


def _gif(path):
    im = Image.new("P", (40, 30), 0)
    im.putpalette([0, 0, 0, 250, 200, 10, 20, 120, 240] + [0] * 759)  # 0: transparent
    ImageDraw.Draw(im).rectangle((5, 5, 25, 20), fill=1)
    ImageDraw.Draw(im).line((0, 29, 39, 0), fill=2, width=3)
    im.save(path, transparency=0)


def _exif_jpeg(path):
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees": phones store photos sideways
    Image.fromarray(_gradient(60, 40)).save(path, quality=95, exif=exif)


def _rgb_50x40(path):
    Image.fromarray(_gradient(50, 40)).save(path)


def _photo(path):
    Image.fromarray(_gradient(4000, 3000)).save(path, quality=85)  # a 12 MP phone photo


FILES = {"deep.png": _png16, "rgba.png": _rgba, "palette.gif": _gif, "rotated.jpg": _exif_jpeg,
         "small.png": _rgb_50x40, "photo.jpg": _photo}


def _predicted(path, channels: int) -> np.ndarray:
    """What predict gives the network, back on the uint8 scale: (C, 32, 32)."""
    model = Network.from_spec("conv2@3x3 fc2", (channels, 32, 32))
    x = Predictor(model, ["a", "b"]).prepare(path)  # mean 0, std 1: pixel / 255
    return np.rint(x * 255).astype(np.uint8)


@pytest.mark.parametrize("name", FILES)
def test_folder_and_predict_see_the_same_pixels(tmp_path, name):
    path = tmp_path / "only" / name
    path.parent.mkdir()
    FILES[name](path)
    for channels in (3, 1):
        images = load_folder(tmp_path, "train", 32, channels).images
        np.testing.assert_array_equal(images[0], _predicted(path, channels))
    auto = load_folder(tmp_path).images  # channels detected from the header, as decoded
    assert auto.shape[1] == (1 if read_image(path).mode == "L" else 3)
    np.testing.assert_array_equal(auto[0], _predicted(path, auto.shape[1]))


def test_large_photo_is_decoded_reduced_and_close_to_full_size(tmp_path):
    path = tmp_path / "photo.jpg"
    _photo(path)  # 4000x3000: decoded at 1/8 by the JPEG decoder, then box-reduced by 3
    reduced = read_image(path, decode_keep((3, 32, 32), None))
    assert reduced.size == (167, 125) and min(reduced.size) >= 96
    full = prepare(read_image(path), (3, 32, 32), None)  # the whole 12 MP, then resized
    assert np.abs(full - _predicted(path, 3) / 255).max() < 0.05  # the same picture


def test_transparent_png_is_composited_in_bands_at_the_size_needed(tmp_path):
    """A mostly transparent 2000x2000 RGBA drawing: alpha is composited in bands of rows, at
    the size the model needs (read_image took 384 MB here, in float64 copies of the image)."""
    im = Image.new("RGBA", (2000, 2000), (0, 0, 0, 0))
    ImageDraw.Draw(im).line((700, 300, 1100, 1700), fill=(0, 0, 0, 255), width=120)
    im.save(tmp_path / "drawing.png")
    model = Network.from_spec("conv2@3x3 fc2", (1, 32, 32))
    for framing, limit in (("mnist", 48), (None, 16)):  # MB: mnist keeps 1024 px, a plain
        keep = decode_keep(model.input_shape, framing)  # resize 96 (2000 // 96: 20x smaller)
        tracemalloc.start()
        try:
            x = Predictor(model, ["a", "b"], framing).prepare(tmp_path / "drawing.png") \
                if framing is None else read_image(tmp_path / "drawing.png", keep)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < limit << 20, (framing, f"{peak:,}")
    assert x.shape == (1, 32, 32)


def test_decoder_rules_reach_the_folder(tmp_path):
    for name in ("deep.png", "rgba.png", "rotated.jpg"):
        (tmp_path / name[:-4]).mkdir()
        FILES[name](tmp_path / name[:-4] / name)
    ds = load_folder(tmp_path, image_size=32)
    images, labels, classes = ds.images, ds.labels, ds.classes
    deep, rgba, rotated = (images[labels.tolist().index(classes.index(c))] for c in
                           ("deep", "rgba", "rotated"))
    assert deep.min() <= 5 and deep.max() <= 117  # v / 257 (1000..30000 -> 4..117), not 0..255
    assert (rgba[:, 31, 31] == 255).all()  # transparent corner: white, not black
    assert int(rotated[0, 31, 16]) > int(rotated[0, 0, 16]) + 100  # EXIF 6: red now runs down


# --------------------------------------------------------------------------- the size rule

def test_shorter_side_then_centre_crop():
    quarters = np.repeat(np.uint8([10, 60, 160, 250]), 16)[None].repeat(32, 0)  # (32, 64)
    out = resize_centre_crop(Image.fromarray(quarters), 1, 32, 32)
    np.testing.assert_array_equal(out[0], quarters[:, 16:48])  # no squash, no bars
    tall = resize_centre_crop(Image.fromarray(quarters.T.copy()), 1, 32, 32)
    np.testing.assert_array_equal(tall[0], quarters.T[16:48])
    x = prepare(Image.fromarray(quarters).convert("RGB"), (3, 32, 32), None)
    assert sorted(set(np.rint(x * 255).astype(int).ravel().tolist())) == [60, 160]


def test_upscale_is_resize_then_crop_and_non_square_model():
    small = Image.fromarray(_gradient(16, 8))
    two_steps = small.resize((64, 32), Image.BICUBIC).crop((16, 0, 48, 32))  # torchvision's way
    np.testing.assert_array_equal(resize_centre_crop(small, 3, 32, 32),
                                  np.asarray(two_steps).transpose(2, 0, 1))
    out = resize_centre_crop(Image.fromarray(_gradient(90, 30)), 3, 20, 40)  # (C, H, W)
    assert out.shape == (3, 20, 40) and out.dtype == np.uint8


def test_target_size_is_identity_and_mode_follows_channels():
    rgb = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    out = resize_centre_crop(Image.fromarray(rgb), 3, 32, 32)
    np.testing.assert_array_equal(out, rgb.transpose(2, 0, 1))
    np.testing.assert_array_equal(_predicted(_encode(Image.fromarray(rgb)), 3),
                                  rgb.transpose(2, 0, 1))
    gray = resize_centre_crop(Image.fromarray(rgb), 1, 32, 32)
    np.testing.assert_array_equal(gray[0], np.asarray(Image.fromarray(rgb).convert("L")))
    assert resize_centre_crop(Image.new("L", (5, 7), 9), 3, 4, 4).tolist() == [[[9] * 4] * 4] * 3


# --------------------------------------------------------------------------- modes

def _encode(im: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("make", [
    lambda: _encode(Image.new("L", (4, 4), 9)),
    lambda: _encode(Image.new("LA", (4, 4), (9, 0))),
    lambda: _encode(Image.new("1", (4, 4), 1)),
    lambda: _encode(Image.new("I;16", (4, 4), 300)),
    lambda: _encode(Image.new("P", (4, 4), 1)),
    lambda: _encode(Image.new("P", (4, 4), 1), transparency=1),
    lambda: _encode(Image.new("L", (4, 4), 9), "GIF"),
    lambda: _encode(Image.new("RGBA", (4, 4))),
    lambda: _encode(Image.new("L", (4, 4), 9), "JPEG"),
    lambda: _encode(Image.new("CMYK", (4, 4)), "JPEG"),
    lambda: _encode(Image.new("F", (4, 4), 0.5), "TIFF"),
    lambda: _encode(Image.new("I", (4, 4), 70000), "TIFF"),
    lambda: _encode(Image.new("RGB", (4, 4)), "WEBP"),
])
def test_header_mode_agrees_with_the_decoder(make):
    data = make()
    assert image_mode(data) == read_image(data).mode


def test_16_bit_is_divided_by_257():
    deep = np.uint16([[0, 257, 32896, 65535, 1000]])
    im = to_l_or_rgb(Image.fromarray(deep))
    assert np.asarray(im).tolist() == [[0, 1, 128, 255, 4]]  # a dark image stays dark
    assert np.asarray(to_l_or_rgb(Image.new("I", (2, 1), 70000))).tolist() == [[255, 255]]


def test_folder_error_names_the_file(tmp_path):
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "bad.jpg").write_bytes(b"\xff\xd8\xff" + b"\x00" * 40)
    for channels in (None, 3):  # the header check, then the decoder
        with pytest.raises(DataError, match=r"cat/bad\.jpg") as info:
            load_folder(tmp_path, channels=channels)
        assert "\n" not in str(info.value)
