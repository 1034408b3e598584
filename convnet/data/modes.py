"""Pillow's many image modes -> ``L`` (no colour) or ``RGB``: the two a network is fed.

``to_l_or_rgb`` converts one image (alpha and palette transparency onto white, 16-bit as
v / 257); ``reduced`` shrinks a large one by a whole factor first, in a mode where averaging
pixels means averaging what they show (not palette indices), so that a 49-megapixel image is
converted at the size the model needs. ``decode.read_image`` uses both.
"""

import numpy as np
from PIL import Image

_GRAY_MODES = frozenset({"1", "L", "LA", "La", "LAB", "F"})  # and every integer mode "I..."


def output_mode(mode: str) -> str:
    """The mode ``to_l_or_rgb`` turns a Pillow mode into: "L" (no colour) or "RGB".

    Example:
        >>> output_mode("I;16"), output_mode("LA"), output_mode("P"), output_mode("CMYK")
        ('L', 'L', 'RGB', 'RGB')
    """
    return "L" if mode in _GRAY_MODES or mode.startswith("I") else "RGB"


def _to_8bit(im: Image.Image) -> Image.Image:
    """16-bit (and 32-bit integer) gray -> 8-bit as v / 257; float images by their own range.

    Why v / 257 (65535 -> 255) and not each image's range stretched to 0..255: the same picture
    saved at 8 or at 16 bits then gives the same pixels (v8 * 257 / 257 = v8), a dark scene stays
    dark and a flat white one white, so a network sees intensities, not per-image contrast; it is
    also what most tools do. (Pillow itself reduces 16-bit RGB PNGs by v >> 8: at most 1 apart.)
    Float images ("F") declare no white level, so there their actual range is the only scale.
    Computed a band of rows at a time: float64 copies of a whole 49 MP image would be 400 MB each.
    """
    a = np.asarray(im)
    lo, scale = 0.0, 1 / 257.0
    if im.mode == "F":
        ranges = [(float(b.min()), float(b.max())) for b in map(_finite, _bands(a))]
        lo, hi = min(r[0] for r in ranges), max(r[1] for r in ranges)
        scale = 255.0 / (hi - lo) if hi > lo else 0.0  # flat: nothing to show
    out = np.empty(a.shape, np.uint8)
    for rows, band in zip(_bands(out), _bands(a)):
        rows[:] = np.clip(np.rint((_finite(band) - lo) * scale), 0, 255)
    return Image.fromarray(out, "L")


def _finite(a: np.ndarray) -> np.ndarray:
    """float64, with NaN and infinities as 0 (no white level says otherwise)."""
    return np.nan_to_num(a.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)


def _bands(a: np.ndarray) -> list[np.ndarray]:
    """``a`` as views of about 65,536 pixels each (whole rows): a float64 copy of one is 2 MB
    per channel."""
    rows = max(1, (1 << 16) // max(1, a.shape[1]))
    return [a[i:i + rows] for i in range(0, len(a), rows)]


def _on_white(im: Image.Image, mode: str) -> Image.Image:
    """Composite an image with alpha onto white, so transparent paper reads as paper.

    A band of rows at a time: a 7000x7000 RGBA image in float64 would be 1.6 GB per copy.
    """
    a = np.asarray(im.convert(mode + "A"))
    out = np.empty(a.shape[:2] + (a.shape[2] - 1,), np.uint8)
    for rows, band in zip(_bands(out), _bands(a)):
        v = band.astype(np.float64)
        alpha = v[..., -1:] / 255.0
        rows[:] = np.rint(v[..., :-1] * alpha + 255.0 * (1.0 - alpha))
    return Image.fromarray(out[..., 0] if mode == "L" else out, mode)


def to_l_or_rgb(im: Image.Image) -> Image.Image:
    """Convert any Pillow mode to ``L`` (no colour) or ``RGB``, as ``output_mode`` says.

    Alpha and palette transparency are composited onto white; ``I;16``/``I`` become v / 257 and
    ``F`` is stretched by its range (see ``_to_8bit``); ``1`` becomes 0/255 ``L``. An image
    already ``L`` or ``RGB`` without transparency is returned as is, not copied (a 12 MP photo
    is 36 MB).

    Example:
        >>> to_l_or_rgb(Image.new("LA", (2, 2), (0, 0))).getpixel((0, 0))  # transparent -> white
        255
        >>> to_l_or_rgb(Image.new("CMYK", (1, 1), (0, 0, 0, 255))).getpixel((0, 0))
        (0, 0, 0)
        >>> to_l_or_rgb(Image.new("I;16", (1, 1), 32896)).getpixel((0, 0))  # 128 * 257
        128
    """
    mode, target = im.mode, output_mode(im.mode)
    if mode.startswith("I") or mode == "F":
        return _to_8bit(im)
    if mode in ("LA", "La", "RGBA", "RGBa", "PA") or "transparency" in im.info:
        return _on_white(im, target)
    if mode == "LAB":  # Pillow cannot convert LAB -> RGB; its L band is lightness
        return im.getchannel("L")
    return im if mode == target else im.convert(target)  # 1, P, RGBX, CMYK, YCbCr, HSV


def reduced(im: Image.Image, factor: int) -> Image.Image:
    """``im`` shrunk by a whole ``factor`` (the mean of each factor x factor box), any mode.

    Palettes, transparency keys and bilevel images are first expanded to what they show (RGBA,
    LA, L), 16-bit to 32-bit integers and LAB to its lightness, so the box mean is of what
    ``to_l_or_rgb`` would show; a factor below 2 returns ``im`` itself.

    Example:
        >>> im = Image.new("P", (8, 6)); im.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
        >>> im.paste(1, (0, 0, 4, 6)); small = reduced(im, 2)
        >>> small.mode, small.size, small.getpixel((0, 0)), small.getpixel((3, 0))
        ('RGB', (4, 3), (255, 255, 255), (0, 0, 0))
    """
    if factor < 2:
        return im
    mode = im.mode
    if mode == "PA" or "transparency" in im.info:
        im = im.convert("RGBA" if output_mode(mode) == "RGB" else "LA")
        im.info.pop("transparency", None)
    elif mode == "P":
        im = im.convert("RGB")
    elif mode == "1":
        im = im.convert("L")
    elif mode.startswith("I;16"):
        im = im.convert("I")
    elif mode == "LAB":  # its L band is lightness (see to_l_or_rgb)
        im = im.getchannel("L")
    elif mode not in ("L", "LA", "La", "RGB", "RGBA", "RGBa", "RGBX", "I", "F"):
        im = im.convert("RGB")  # CMYK, YCbCr, HSV
    return im.reduce(factor)
