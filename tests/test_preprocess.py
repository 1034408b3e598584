"""A user image on its way to a model, one section per module of ``convnet.data``:
MNIST framing (``mnist_framing``), photo -> MNIST digit (``digit_photo``), reading user images
(``decode``), model input (``preprocess``).

Centre-of-mass convention (as in the module): array-index coordinates, pixel i centred at i;
MNIST digits sit at (14, 14) in it, so framed digits must land within 0.5 px of (14, 14).
"""

import gzip
import io
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from convnet.data.decode import MAX_PIXELS, image_mode, read_image
from convnet.data.digit_photo import to_mnist_style
from convnet.data.mnist_framing import mnist_frame
from convnet.data.preprocess import pad_or_resize, prepare
from convnet.errors import ConvnetError, DataError, ImageError

MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "mnist"


# --------------------------------------------------------------------------- helpers

def _mnist_test_digits(n: int) -> np.ndarray:
    """The first n MNIST test images, read straight from the IDX gzip; skip if absent."""
    path = MNIST_DIR / "t10k-images-idx3-ubyte.gz"
    if not path.exists():
        pytest.skip(f"real MNIST not present at {path}")
    with gzip.open(path) as f:
        magic, count, rows, cols = struct.unpack(">iiii", f.read(16))
        assert (magic, rows, cols) == (2051, 28, 28)
        return np.frombuffer(f.read(n * 784), np.uint8).reshape(n, 28, 28)


def _encode(im: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _seven(size: int, width: int) -> np.ndarray:
    """A synthetic "7", white on black, drawn at any size (for framing invariance)."""
    im = Image.new("L", (size, size))
    d = ImageDraw.Draw(im)
    s = size / 100
    d.line([(20 * s, 15 * s), (80 * s, 15 * s), (45 * s, 90 * s)], fill=255, width=width)
    return np.asarray(im)


def _bbox(a: np.ndarray) -> tuple[int, int]:
    rows, cols = np.flatnonzero(a.any(1)), np.flatnonzero(a.any(0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def _com(a: np.ndarray) -> tuple[float, float]:
    ys, xs = np.indices(a.shape)
    m = a.astype(np.float64).sum()
    return (a * ys).sum() / m, (a * xs).sum() / m


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1])


def _photo(digit: np.ndarray, rng: np.random.Generator, dark_ink: bool = True) -> Image.Image:
    """Render an MNIST digit as a phone photo: ink on paper, 5-10x, off-centre, uneven light,
    Gaussian noise (sigma 8) and JPEG quality 70."""
    s = int(rng.integers(5, 11))
    side = 28 * s
    ink = np.asarray(Image.fromarray(digit).resize((side, side), Image.BICUBIC)) / 255.0
    H, W = 300, 400
    y0, x0 = int(rng.integers(0, H - side + 1)), int(rng.integers(0, W - side + 1))
    yy, xx = np.mgrid[0:H, 0:W]
    ang = rng.uniform(0, 2 * np.pi)  # lighting gradient in a random direction, 145..235
    paper = 190 + 45 * (np.cos(ang) * (xx / W - 0.5) + np.sin(ang) * (yy / H - 0.5))
    cover = np.zeros((H, W))
    cover[y0:y0 + side, x0:x0 + side] = np.clip(ink, 0, 1)
    img = paper * (1 - 0.8 * cover) if dark_ink else 40 + 0.4 * (paper - 190) + 170 * cover
    img = np.clip(img + rng.normal(0, 8, (H, W)), 0, 255).astype(np.uint8)
    return Image.open(io.BytesIO(_encode(Image.fromarray(img), "JPEG", quality=70)))


def _png_header(width: int, height: int) -> bytes:
    """A PNG that only declares its size (IHDR with a valid CRC), with no pixel data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


# --------------------------------------------------------------------------- mnist_frame

@pytest.mark.parametrize("size,width,offset", [(28, 2, 0), (60, 3, 17), (400, 30, -60),
                                               (1000, 80, 100)])
def test_mnist_frame_box_and_centre(size, width, offset):
    canvas = np.zeros((size + 2 * abs(offset) + 10, size + 2 * abs(offset) + 10), np.uint8)
    y = x = abs(offset) + 5 + offset
    canvas[y:y + size, x:x + size] = _seven(size, width)
    out = mnist_frame(canvas)
    assert out.shape == (28, 28) and out.dtype == np.uint8
    assert max(_bbox(out)) in (19, 20, 21) and min(_bbox(out)) <= 21
    cy, cx = _com(out)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5


def test_mnist_frame_small_offcentre_and_huge_digit_frame_alike():
    small = np.zeros((200, 300), np.uint8)
    small[150:190, 10:50] = _seven(40, 3)  # 40 px in a corner of a wider image
    huge = _seven(2000, 150)  # fills its whole image
    a, b = mnist_frame(small), mnist_frame(huge)
    assert _corr(a, b) > 0.95
    assert np.abs(_com(a)[0] - _com(b)[0]) <= 1 and np.abs(_com(a)[1] - _com(b)[1]) <= 1


def test_mnist_frame_reproduces_real_mnist():
    digits = _mnist_test_digits(200)  # already framed by MNIST: framing again changes little
    corrs = [_corr(mnist_frame(d), d) for d in digits]
    assert np.median(corrs) > 0.99 and np.mean(np.array(corrs) > 0.95) > 0.95
    for d in digits[:50]:
        out = mnist_frame(d)
        assert max(_bbox(out)) == 20
        cy, cx = _com(out)
        assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5


def test_mnist_frame_errors():
    with pytest.raises(ImageError, match="^image is blank: no ink found$"):
        mnist_frame(np.zeros((30, 30)))
    with pytest.raises(ImageError, match="2-D image, got shape"):
        mnist_frame(np.zeros((3, 30, 30)))
    out = mnist_frame(np.where(np.eye(10) > 0, np.nan, 0.0) + np.eye(10)[::-1] * 200.0)
    assert out.shape == (28, 28)  # NaN is background, not an exception


# --------------------------------------------------------------------------- photo -> MNIST

def test_photo_of_real_mnist_digits_round_trips():
    digits, rng = _mnist_test_digits(50), np.random.default_rng(0)
    corrs, shifted = [], []
    for d in digits:
        got, ref = to_mnist_style(_photo(d, rng)), mnist_frame(d)
        corrs.append(_corr(got, ref))
        # MNIST shifts by whole pixels, so a 0.1 px change of the centre of mass may flip one
        # shift; the digit's shape is judged by the best of the 1-px shifts
        shifted.append(max(_corr(np.roll(got, (dy, dx), (0, 1)), ref)
                           for dy in (-1, 0, 1) for dx in (-1, 0, 1)))
    corrs, shifted = np.array(corrs), np.array(shifted)
    assert np.mean(corrs > 0.8) >= 0.95, np.sort(corrs)[:5]
    assert shifted.min() > 0.8 and np.median(shifted) > 0.93, np.sort(shifted)[:5]


def test_chalk_on_dark_board_is_not_inverted():
    digits, rng = _mnist_test_digits(10), np.random.default_rng(1)
    corrs = [_corr(to_mnist_style(_photo(d, rng, dark_ink=False)), mnist_frame(d)) for d in digits]
    assert np.median(corrs) > 0.85


def test_mnist_image_passes_through_unchanged():
    digits = _mnist_test_digits(100)
    corrs = [_corr(to_mnist_style(Image.fromarray(d)), mnist_frame(d)) for d in digits]
    assert np.median(corrs) > 0.99


def test_blank_page_and_forced_polarity():
    rng = np.random.default_rng(2)
    yy, xx = np.mgrid[0:240, 0:320]
    page = np.clip(150 + 0.2 * xx + rng.normal(0, 6, xx.shape), 0, 255).astype(np.uint8)
    with pytest.raises(ImageError, match="^image is blank: no ink found$"):
        to_mnist_style(Image.fromarray(page))
    page[60:180, 150:165] = 20  # a dark "1"
    assert to_mnist_style(Image.fromarray(page)).max() == 255
    assert to_mnist_style(Image.fromarray(page), invert=True).max() == 255
    speck = page.copy()
    speck[10, 10] = 0  # one dark speck far away must not move or shrink the digit
    clean = to_mnist_style(Image.fromarray(page))
    assert _corr(to_mnist_style(Image.fromarray(speck)), clean) > 0.99


# --------------------------------------------------------------------------- read_image

def test_read_image_modes(tmp_path):
    cmyk = Image.new("CMYK", (20, 20), (0, 0, 0, 0))
    cmyk.paste((0, 0, 0, 255), (5, 5, 15, 15))
    im = read_image(_encode(cmyk, "JPEG", quality=95))
    assert im.mode == "RGB" and max(im.getpixel((10, 10))) < 40 and min(im.getpixel((1, 1))) > 215

    pal = Image.new("P", (20, 20), 0)
    pal.putpalette([255, 0, 0, 0, 0, 0] + [0] * 762)  # 0: red (transparent), 1: black ink
    pal.paste(1, (5, 5, 15, 15))
    im = read_image(_encode(pal, transparency=0))
    assert im.getpixel((1, 1)) == (255, 255, 255) and im.getpixel((10, 10)) == (0, 0, 0)

    rgba = Image.new("RGBA", (60, 60), (0, 0, 0, 0))  # transparent *black*: must become white
    ImageDraw.Draw(rgba).line([(30, 8), (30, 52)], fill=(0, 0, 0, 255), width=6)
    im = read_image(_encode(rgba))
    assert im.getpixel((5, 5)) == (255, 255, 255) and im.getpixel((30, 30)) == (0, 0, 0)
    digit = to_mnist_style(im)
    assert max(_bbox(digit)) == 20 and digit.max() == 255

    la = Image.new("LA", (4, 4), (0, 0))
    assert read_image(_encode(la)).getpixel((0, 0)) == 255

    deep = np.full((10, 10), 1000, np.uint16)
    deep[2:8, 4:6], deep[0, 0] = 3000, 2000  # 16-bit values: v / 257, a dark image stays dark
    path = tmp_path / "deep.png"
    Image.fromarray(deep).save(path)
    im = read_image(path)
    assert im.mode == "L" and [im.getpixel(p) for p in [(1, 1), (4, 4), (0, 0)]] == [4, 12, 8]

    bits = Image.new("1", (8, 8), 1)
    assert read_image(_encode(bits)).getpixel((3, 3)) == 255

    assert read_image(_encode(Image.new("L", (1, 1), 7))).size == (1, 1)


def test_read_image_first_frame_and_exif_rotation():
    frames = [Image.new("L", (8, 8), 0), Image.new("L", (8, 8), 255)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    assert read_image(buf.getvalue()).convert("L").getpixel((4, 4)) == 0
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees": phones store photos sideways
    assert read_image(_encode(Image.new("RGB", (40, 20)), "JPEG", exif=exif)).size == (20, 40)


@pytest.mark.parametrize("make", [
    lambda: Image.new("RGBA", (400, 300), (0, 0, 0, 0)),
    lambda: Image.new("LA", (400, 300), (0, 0)),
    lambda: _palette(transparency=0),
    lambda: _palette(),
    lambda: Image.new("1", (400, 300), 1),
    lambda: Image.new("I;16", (400, 300), 32896),
    lambda: Image.new("CMYK", (400, 300), (0, 0, 0, 0)),
    lambda: Image.new("L", (400, 300), 200),
])
def test_read_image_reduced_shows_the_same_picture(make):
    """Reduced by 3 (keep 100 px a side), any mode decodes to what the full image shows."""
    im = make()
    fmt = "TIFF" if im.mode == "CMYK" else "PNG"
    data = _encode(im, fmt, **({"transparency": 0} if im.info.get("transparency") == 0 else {}))
    small, full = read_image(data, keep=(1, 100)), read_image(data)
    assert small.size == (134, 100) and small.mode == full.mode == image_mode(data)
    expected = np.asarray(full.reduce(3), np.float64)  # converted first, then box means
    assert np.abs(np.asarray(small, np.float64) - expected).max() <= 1


def _palette(**info) -> Image.Image:
    pal = Image.new("P", (400, 300), 0)
    pal.putpalette([255, 0, 0, 0, 0, 0] + [0] * 762)
    pal.paste(1, (90, 60, 300, 240))
    pal.info.update(info)
    return pal


def test_read_image_reduced_keeps_the_exif_rotation():
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways
    data = _encode(Image.new("RGB", (800, 400)), "JPEG", exif=exif)
    assert read_image(data, keep=(1, 100)).size == (100, 200)  # 1/4 by the JPEG decoder


def test_read_image_file_objects(tmp_path):
    data = _encode(Image.new("L", (5, 3), 9))
    assert read_image(io.BytesIO(data)).size == (5, 3)
    (tmp_path / "a.png").write_bytes(data)
    with open(tmp_path / "a.png", "rb") as f:
        assert read_image(f).size == (5, 3)
    assert read_image(str(tmp_path / "a.png")).size == (5, 3)


@pytest.mark.parametrize("make,message", [
    (lambda p: None, "image file not found"),
    (lambda p: p.write_bytes(b""), "is empty (0 bytes)"),
    (lambda p: p.write_text("hello, I am a text file\n"), "is not an image"),
    (lambda p: p.write_bytes(_encode(Image.effect_noise((200, 200), 60))[:3000]),
     "is truncated or corrupt"),
    (lambda p: p.write_bytes(_png_header(10_000, 10_000)), "50,000,000-pixel limit"),
    (lambda p: p.write_bytes(_png_header(20_000, 20_000)), "50,000,000-pixel limit"),
    (lambda p: p.write_bytes(_png_header(0, 10)), "not an image"),
    (lambda p: p.mkdir(), "is a directory"),
])
def test_read_image_errors(tmp_path, make, message):
    path = tmp_path / "img.png"
    make(path)
    with pytest.raises(ImageError, match=re.escape(message)) as info:
        read_image(path)
    assert "\n" not in str(info.value)


def test_size_is_checked_before_decoding():
    assert MAX_PIXELS == 50_000_000
    with pytest.raises(ImageError, match=r"7100x7100 = 50,410,000 pixels"):
        read_image(_png_header(7100, 7100))  # no pixel data at all: decoding would fail


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_fuzz_random_bytes(data):
    _read_and_frame(data)


_VALID = _encode(Image.fromarray(_seven(40, 4)))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(_VALID) - 1), st.integers(0, 255)), max_size=6),
       st.integers(8, len(_VALID)))
def test_fuzz_mutated_png(edits, cut):
    data = bytearray(_VALID[:cut])
    for pos, value in edits:
        if pos < len(data):
            data[pos] = value
    _read_and_frame(bytes(data))


def _read_and_frame(data: bytes) -> None:
    """Either works or raises ImageError; any other exception fails the test."""
    try:
        to_mnist_style(read_image(data))
    except ImageError:
        pass


# --------------------------------------------------------------------------- model input

def test_pad_or_resize():
    x = np.full((3, 1, 28, 28), 200, np.uint8)
    out = pad_or_resize(x, 32, 32)  # LeNet-5: 2 px each side
    assert out.shape == (3, 1, 32, 32) and out.dtype == np.uint8
    assert (out[:, :, 2:30, 2:30] == 200).all() and out.sum() == x.sum()
    odd = pad_or_resize(x, 31, 29)  # odd padding: the extra pixel goes bottom/right
    assert (odd[0, 0, 1:29, 0:28] == 200).all() and odd[0, 0, 0].max() == 0
    assert odd[0, 0, 29:].max() == 0 and odd[0, 0, :, 28].max() == 0
    small = pad_or_resize(x, 14, 14)
    assert small.shape == (3, 1, 14, 14) and (small == 200).all()
    with pytest.raises(DataError, match="uint8 images shaped"):
        pad_or_resize(np.zeros((28, 28), np.float32), 32, 32)


def test_prepare_mnist_framing_pads_to_lenet_input():
    page = np.full((120, 90), 210, np.uint8)
    page[20:100, 40:48] = 25
    img = Image.fromarray(page)
    x = prepare(img, (1, 32, 32), "mnist", mean=0.1307, std=0.3081)
    assert x.shape == (1, 32, 32) and x.dtype == np.float32
    digit = to_mnist_style(img) / 255.0
    np.testing.assert_allclose(x[0, 2:30, 2:30], (digit - 0.1307) / 0.3081, atol=1e-5)
    np.testing.assert_allclose(x[0, :2], -0.1307 / 0.3081, atol=1e-6)
    assert prepare(img, (3, 28, 28), "mnist").shape == (3, 28, 28)
    assert prepare(img, (1, 20, 20), "mnist").shape == (1, 20, 20)


def test_prepare_plain_resize_and_errors():
    img = Image.new("RGB", (64, 48), (255, 0, 128))
    x = prepare(img, (3, 32, 32), None, mean=[0.5, 0.5, 0.5], std=[0.5, 0.25, 0.5])
    assert x.shape == (3, 32, 32)
    np.testing.assert_allclose(x[:, 0, 0], [1.0, -2.0, (128 / 255 - 0.5) / 0.5], atol=1e-6)
    assert prepare(img, (1, 8, 8), None).shape == (1, 8, 8)
    assert prepare(Image.new("L", (5, 5), 0), (1, 5, 5), None, invert=True).min() == 1.0
    with pytest.raises(ImageError, match="unknown framing 'cifar'"):
        prepare(img, (3, 32, 32), "cifar")
    with pytest.raises(ImageError, match="std must be > 0"):
        prepare(img, (3, 32, 32), None, std=0.0)
    with pytest.raises(ImageError, match="mean must be one number or 3"):
        prepare(img, (3, 32, 32), None, mean=[0.1, 0.2])
    with pytest.raises(ImageError, match="input_shape"):
        prepare(img, (2, 32, 32), None)
    with pytest.raises(ConvnetError, match="invert must be True, False or None"):
        prepare(img, (3, 32, 32), None, invert="yes")  # a string is not a polarity
