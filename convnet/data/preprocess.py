"""User image -> exactly what a model was trained on: mode, size, polarity, MNIST framing.

Four steps, each usable alone:

* ``read_image``: any file Pillow can decode -> an ``L`` or ``RGB`` image, or one ``ImageError``;
  the one decoder, also used for image-folder training data (``data/folder.py``).
* ``to_mnist_style``: a photo/scan of a digit on paper -> 28x28 uint8, white ink on black,
  framed as MNIST was (``mnist_frame``: 20x20 box, centre of mass at the field's centre).
* ``resize_centre_crop``: any other image -> the model's size: shorter side to the model's side,
  centre cropped; the one size rule for prediction and image-folder training alike.
* ``prepare``: the image -> the float32 (C, H, W) tensor a model takes, normalised.

Centre-of-mass convention: array-index coordinates (pixel ``i`` has its centre at ``i``).
Measured on the 10,000 MNIST test digits, the centre of mass is (13.99, 14.01) with a spread of
0.29 px, i.e. MNIST shifted by whole pixels to put it at (14, 14) in this convention; so do we.
"""

import io
import operator
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from ..errors import DataError, ImageError

MAX_PIXELS = 50_000_000  # refuse larger images before decoding (Pillow's own bomb limit is 89M)
MNIST_SIZE = 28  # the field
MNIST_BOX = 20  # the digit's longer side after size normalisation (LeCun et al.)
MNIST_CENTRE = 14.0  # centre of mass target, array-index coordinates (see module docstring)
WORK_SIDE = 1024  # photos are first reduced to this longer side: a digit 1/10 of a 12 MP
#   photo keeps ~70 px (at 512 px its round trip to MNIST fell from r = 0.92 to 0.87)
MIN_INK_CONTRAST = 0.15  # ink must be >= 15 % darker than its paper (or 8 noise sigmas) ...
MIN_INK_AREA = 1e-4  # ... and cover >= 0.01 % of the image (79 px of 1024x768): not one speck
SPECK_FRACTION = 0.1  # ink components smaller than this fraction of the largest are specks
PHOTO_FILTER = Image.Resampling.BICUBIC  # as Pillow's thumbnail(): anti-aliased when reducing
REDUCING_GAP = 3.0  # first box-reduce by a whole factor, keeping >= 3x the final size: "3.0 or
#   more is indistinguishable from fair resampling" (Pillow docs); 12 MP -> 32 px: 100 -> 15 ms


# --------------------------------------------------------------------------- reading

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
    """
    a = np.nan_to_num(np.asarray(im, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if im.mode == "F":
        lo, hi = float(a.min()), float(a.max())
        a = (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)  # flat: nothing to show
    else:
        a = a / 257.0
    return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), "L")


def _on_white(im: Image.Image, mode: str) -> Image.Image:
    """Composite an image with alpha onto white, so transparent paper reads as paper."""
    a = np.asarray(im.convert(mode + "A"), dtype=np.float64)
    alpha = a[..., -1:] / 255.0
    out = a[..., :-1] * alpha + 255.0 * (1.0 - alpha)
    out = np.rint(out).astype(np.uint8)
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


def _source(path_or_file) -> tuple[str | io.BytesIO, str]:
    """(a path, or the bytes in memory; the name messages use), checked to be non-empty."""
    if isinstance(path_or_file, (bytes, bytearray)):
        src, name = io.BytesIO(path_or_file), "<bytes>"
    elif isinstance(path_or_file, (str, os.PathLike)):
        src = name = os.fspath(path_or_file)
        if not os.path.exists(name):
            raise ImageError(f"image file not found: '{name}'")
        if os.path.isdir(name):
            raise ImageError(f"'{name}' is a directory, not an image file")
    else:
        src, name = path_or_file, str(getattr(path_or_file, "name", "<file>"))
    try:  # file objects are read whole: they may be unseekable (an upload, a pipe)
        src = src if isinstance(src, str) else io.BytesIO(src.read())
        empty = os.path.getsize(src) == 0 if isinstance(src, str) else not src.getbuffer().nbytes
    except (OSError, TypeError, AttributeError) as exc:  # also: a text-mode file, not a file
        raise ImageError(f"cannot read image file '{name}': "
                         f"{getattr(exc, 'strerror', None) or exc}") from None
    if empty:
        raise ImageError(f"image '{name}' is empty (0 bytes)")
    return src, name


def _open(src, name: str) -> Image.Image:
    """Open (header only) and check the declared size, so that a bomb is refused undecoded."""
    try:
        im = Image.open(src)
    except Image.DecompressionBombError:  # > 2x Pillow's limit: refused on the header
        raise _too_large(name) from None
    except Image.UnidentifiedImageError:
        raise ImageError(f"'{name}' is not an image (unknown or unsupported format)") from None
    except Exception as exc:  # a decoder fed untrusted bytes may raise anything
        raise ImageError(f"'{name}' is not a readable image ({_first_line(exc)})") from None
    w, h = im.size
    if w < 1 or h < 1 or w * h > MAX_PIXELS:
        im.close()
        raise ImageError(f"image '{name}' is {w}x{h} = {w * h:,} pixels, outside the "
                         f"1..{MAX_PIXELS:,}-pixel limit")
    return im


def image_mode(path_or_file) -> str:
    """The mode ("L" or "RGB") ``read_image`` returns for a file, read from its header alone.

    Raises:
        ImageError: as ``read_image``, for what the header shows.

    Example:
        >>> buf = io.BytesIO(); Image.new("P", (3, 2)).save(buf, "GIF")
        >>> image_mode(buf.getvalue())  # a palette may hold colours: RGB, as read_image
        'RGB'
    """
    src, name = _source(path_or_file)
    with warnings.catch_warnings():  # see read_image
        warnings.simplefilter("ignore")
        with _open(src, name) as im:
            return output_mode(im.mode)


def read_image(path_or_file) -> Image.Image:
    """Open a user image with Pillow and return it as ``L`` or ``RGB`` (first frame if animated).

    The one decoder: prediction, the web app and image-folder training all read through it.
    The EXIF orientation of phone photos is applied; for the mode rules see ``to_l_or_rgb``.

    Args:
        path_or_file (str | os.PathLike | bytes | binary file): the image.

    Raises:
        ImageError: missing/empty file, not an image, truncated or corrupt, larger than
            50,000,000 pixels (checked on the header, before decoding), or a 0-pixel side.

    Example:
        >>> buf = io.BytesIO(); Image.new("RGBA", (3, 2)).save(buf, "PNG")
        >>> im = read_image(buf.getvalue()); im.mode, im.size
        ('RGB', (3, 2))
        >>> read_image(b"")
        Traceback (most recent call last):
        ...
        convnet.errors.ImageError: image '<bytes>' is empty (0 bytes)
    """
    src, name = _source(path_or_file)
    try:  # in memory, the decoded image holds no open file: it can be returned uncopied
        src = io.BytesIO(Path(src).read_bytes()) if isinstance(src, str) else src
    except OSError as exc:
        raise ImageError(f"cannot read image file '{name}': {exc.strerror or exc}") from None
    with warnings.catch_warnings():  # Pillow's warnings (bomb size, corrupt EXIF) would break
        warnings.simplefilter("ignore")  # the CLI's one-line output; the errors say enough
        im = _open(src, name)
        try:
            im.load()  # frame 0 of an animation
            ImageOps.exif_transpose(im, in_place=True)  # phone photos: apply the EXIF rotation
            return to_l_or_rgb(im)
        except Image.DecompressionBombError:
            raise _too_large(name) from None
        except Exception as exc:  # decoding untrusted bytes may raise anything: a damaged file
            raise ImageError(f"image '{name}' is truncated or corrupt "
                             f"({_first_line(exc)})") from None


def _too_large(name: str) -> ImageError:
    return ImageError(f"image '{name}' is too large: more than the {MAX_PIXELS:,}-pixel limit")


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


# --------------------------------------------------------------------------- MNIST framing

def mnist_frame(gray: np.ndarray) -> np.ndarray:
    """Frame a white-on-black digit as MNIST did: fit a 20x20 box, then centre the mass.

    The ink's bounding box is resized (bilinear, anti-aliased, aspect kept) so its longer side
    is 20 px, then placed in a 28x28 field shifted by whole pixels so its centre of mass lands
    within 0.5 px of (14, 14) in array-index coordinates, where real MNIST digits sit.
    As in MNIST, ink shifted past the field's edge (extremely lopsided shapes) is cut off.

    Args:
        gray (np.ndarray): 2-D image, ink > 0 on a background of exactly 0; values on the
            0..255 scale (uint8 or float; NaN counts as background, values are clipped).

    Shape:
        (H, W), any size -> (28, 28) uint8.

    Raises:
        ImageError: not a 2-D array, or no ink at all ("image is blank: no ink found").

    Example:
        >>> out = mnist_frame(np.pad(np.full((4, 2), 255, np.uint8), 5))
        >>> out.shape, int((out.sum(1) > 0).sum()), int((out.sum(0) > 0).sum())
        ((28, 28), 20, 10)
    """
    a = np.asarray(gray, dtype=np.float64)
    if a.ndim != 2 or a.size == 0:
        raise ImageError(f"mnist_frame expects a non-empty 2-D image, got shape {a.shape}")
    a = np.clip(np.nan_to_num(a, nan=0.0, posinf=255.0, neginf=0.0), 0.0, 255.0)
    rows, cols = np.flatnonzero(a.any(1)), np.flatnonzero(a.any(0))
    if rows.size == 0:
        raise ImageError("image is blank: no ink found")
    crop = a[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    h, w = crop.shape
    size = (max(1, round(w * MNIST_BOX / max(h, w))), max(1, round(h * MNIST_BOX / max(h, w))))
    box = Image.fromarray(crop.astype(np.float32), "F").resize(size, Image.BILINEAR)
    box = np.rint(np.clip(np.asarray(box), 0, 255))
    mass = box.sum()
    if mass == 0:  # only faint ink (< 0.5 grey levels) survived the resize
        raise ImageError("image is blank: no ink found")
    ys, xs = np.indices(box.shape)
    top = int(round(MNIST_CENTRE - (box * ys).sum() / mass))
    left = int(round(MNIST_CENTRE - (box * xs).sum() / mass))
    out = np.zeros((MNIST_SIZE, MNIST_SIZE), np.uint8)
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + box.shape[0], MNIST_SIZE), min(left + box.shape[1], MNIST_SIZE)
    out[y0:y1, x0:x1] = box[y0 - top:y1 - top, x0 - left:x1 - left]
    return out


# --------------------------------------------------------------------------- photo -> MNIST

def _ink_is_dark(residual: np.ndarray) -> bool:
    """Ink is the side with more far outliers (> 4 sigma) from the fitted paper level.

    Percentiles of the whole image, or the border's level, fail when a small digit covers
    0.1 % of a 12-megapixel photo; far-outlier mass does not, and noise is symmetric.
    """
    sigma = max(1.4826 * float(np.median(np.abs(residual))), 1.0)
    far = np.abs(residual) - 4 * sigma
    return float(far[residual < 0].clip(0).sum()) > float(far[residual > 0].clip(0).sum())


def _quadratic(yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    return np.stack([np.ones_like(yy), xx, yy, xx * xx, xx * yy, yy * yy], -1)  # (..., 6)


def _background(x: np.ndarray) -> np.ndarray:
    """Robust quadratic fit of the paper's level (lighting gradient, vignetting) under the ink.

    Fitted to block medians (a block's median is paper unless ink covers half of it), first
    on the border blocks, then on every block within 3 sigma of the fit (ink is rejected). A
    quadratic cannot follow strokes of any width; a fixed-size morphological opening would.
    """
    h, w = x.shape
    bs = max(1, min(h, w) // 24)  # ~24 blocks across the short side
    gh, gw = h // bs, w // bs
    blocks = x[:gh * bs, :gw * bs].reshape(gh, bs, gw, bs)  # (gh, bs, gw, bs)
    v = np.median(blocks, axis=(1, 3)).ravel()
    gy, gx = np.indices((gh, gw)).reshape(2, -1)
    cy, cx = (gy + 0.5) * bs / h * 2 - 1, (gx + 0.5) * bs / w * 2 - 1  # in [-1, 1]
    design = _quadratic(cy, cx)[:, : 6 if v.size >= 24 else 1]  # too few blocks: a constant
    keep = (gy == 0) | (gy == gh - 1) | (gx == 0) | (gx == gw - 1)  # start from the border:
    for _ in range(6):  # the paper surrounds the digit, so a bump under the ink is never fitted
        coef = np.linalg.lstsq(design[keep], v[keep], rcond=None)[0]
        r = v - design @ coef
        sigma = max(1.4826 * float(np.median(np.abs(r[keep]))), 1.0)
        keep = np.abs(r) < 3 * sigma
        if keep.sum() < design.shape[1]:
            break
    yy, xx = np.meshgrid((np.arange(h) + 0.5) / h * 2 - 1, (np.arange(w) + 0.5) / w * 2 - 1,
                         indexing="ij")
    return _quadratic(yy, xx)[..., :design.shape[1]] @ coef


def _otsu(c: np.ndarray) -> float:
    """Otsu's threshold of values in [0, 1]: the cut maximising between-class variance."""
    hist = np.bincount(np.clip(c * 255, 0, 255).astype(np.int64).ravel(), minlength=256)
    p = hist / hist.sum()
    omega, mu = np.cumsum(p), np.cumsum(p * np.arange(256))
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mu[-1] * omega - mu) ** 2 / (omega * (1 - omega))
    return (int(np.argmax(np.nan_to_num(between))) + 1) / 255


def _components(mask: np.ndarray) -> np.ndarray:
    """Label the 8-connected components of a mask, vectorised (hook + pointer jumping).

    Returns one label per True pixel (in ``mask[mask]`` order); labels are pixel ids.
    """
    h, w = mask.shape
    ids = np.full(mask.shape, -1, np.int64)
    ids[mask] = np.arange(int(mask.sum()))
    pairs = []
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):  # each neighbour pair once
        a = ids[:h - dy, max(0, -dx):w - max(0, dx)]
        b = ids[dy:, max(0, dx):w - max(0, -dx)]
        both = (a >= 0) & (b >= 0)
        pairs.append((a[both], b[both]))
    a, b = (np.concatenate(p) for p in zip(*pairs))
    parent = np.arange(ids.max() + 1)
    while not np.array_equal(parent[a], parent[b]):
        lo, hi = np.minimum(parent[a], parent[b]), np.maximum(parent[a], parent[b])
        np.minimum.at(parent, hi, lo)  # hook each root onto its smallest neighbouring root
        while not np.array_equal(parent[parent], parent):
            parent = parent[parent]  # pointer jumping: every id points at its root again
    return parent


def _grow(strong: np.ndarray, cs: np.ndarray, noise: float) -> np.ndarray:
    """Hysteresis: add the faint, anti-aliased ink connected to the strong strokes.

    The low threshold sits 4 noise sigmas above the paper, so the stroke edges MNIST keeps
    as grey levels come back without the paper's grain.
    """
    low = (cs > max(4 * noise, MIN_INK_CONTRAST / 3)) | strong
    labels = _components(low)
    seeded = np.zeros(labels.size, bool)
    seeded[labels[strong[low]]] = True
    low[low] = seeded[labels]
    return low


def to_mnist_style(img: Image.Image, invert: bool | None = None) -> np.ndarray:
    """A photo or scan of one digit on paper -> a 28x28 MNIST-style digit (white on black).

    Grayscale, reduced to 1024 px -> the paper's lighting, fitted as a smooth surface ->
    polarity -> contrast = (ink - paper) / the paper's headroom, so uneven light cancels ->
    Otsu threshold (at least 15 % and 8 noise sigmas) finds the strokes; components under
    10 % of the largest are specks -> hysteresis adds the faint anti-aliased edges -> paper
    zeroed, ink keeps its grey levels, its 90th percentile -> 255 -> ``mnist_frame``.

    Args:
        img (PIL.Image.Image): any mode and size.
        invert (bool | None): True for dark ink on light paper, False for light ink on dark;
            None detects it: ink is the side of the far outliers from the paper. Default: None.

    Shape:
        (H, W) image -> (28, 28) uint8.

    Raises:
        ImageError: "image is blank: no ink found" (no ink 15 % darker, or lighter, than
            its paper, or less of it than 0.01 % of the image).

    Example:
        >>> page = np.full((60, 40), 200, np.uint8); page[10:50, 18:23] = 30  # a dark "1"
        >>> out = to_mnist_style(Image.fromarray(page)); out.shape, int(out.max())
        ((28, 28), 255)
    """
    gray = to_l_or_rgb(img).convert("L")
    scale = WORK_SIDE / max(gray.size)
    if scale < 1:  # box-filter reduction: anti-aliased, and it averages away sensor noise
        gray = gray.resize((max(1, round(gray.width * scale)),
                            max(1, round(gray.height * scale))), Image.BOX)
    smooth = np.asarray(gray.filter(ImageFilter.GaussianBlur(1)), dtype=np.float64)
    x = np.asarray(gray, dtype=np.float64)
    bg = _background(smooth)  # fitted before knowing the polarity: it rejects both tails
    if invert if invert is not None else _ink_is_dark(smooth - bg):
        x, smooth, bg = 255.0 - x, 255.0 - smooth, 255.0 - bg
    # multiplicative lighting: ink is a fraction of its paper's level; a "paper" within 32
    # levels of full ink (e.g. a 1x1 white image) leaves no room for visible ink
    headroom = np.maximum(255.0 - bg, 32.0)
    c, cs = (x - bg) / headroom, (smooth - bg) / headroom
    noise = 1.4826 * float(np.median(np.abs(cs)))  # the paper's grain; ink is a minority
    floor = max(MIN_INK_CONTRAST, 8 * noise)  # 8 sigma: no noise pixel of 12 MP gets there
    strong = cs > max(_otsu(np.clip(cs, 0, 1)), floor)
    labels = _components(strong)
    area = np.bincount(labels)[labels]
    if area.size == 0 or area.max() < MIN_INK_AREA * cs.size:
        raise ImageError("image is blank: no ink found")
    strong[strong] = area >= SPECK_FRACTION * area.max()
    ink = _grow(strong, cs, noise)
    level = max(float(np.percentile(c[strong], 90)), 1e-3)  # cores -> 255, as in MNIST
    out = np.where(ink, np.clip(c / level, 0, 1) * 255.0, 0.0)
    return mnist_frame(out)


# --------------------------------------------------------------------------- model input

def pad_or_resize(images: np.ndarray, height: int, width: int) -> np.ndarray:
    """Fit uint8 (N, C, h, w) images to (height, width): zero-pad centrally, else resize.

    Padding is used whenever the target is at least as large on both sides (e.g. MNIST 28x28
    -> LeNet-5's 32x32: 2 px each side); an odd extra pixel goes bottom/right. Otherwise each
    plane is resized with Pillow bilinear.

    Shape:
        (N, C, h, w) -> (N, C, height, width), uint8.

    Raises:
        DataError: not a uint8 4-D array, or a target side < 1.

    Example:
        >>> pad_or_resize(np.ones((2, 1, 28, 28), np.uint8), 32, 32)[0, 0, :3, :3].tolist()
        [[0, 0, 0], [0, 0, 0], [0, 0, 1]]
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.dtype != np.uint8:
        raise DataError(f"pad_or_resize expects uint8 images shaped (N, C, H, W), "
                        f"got {images.dtype} {images.shape}")
    if height < 1 or width < 1:
        raise DataError(f"pad_or_resize: target size must be >= 1, got {height}x{width}")
    n, ch, h, w = images.shape
    if height >= h and width >= w:
        top, left = (height - h) // 2, (width - w) // 2
        pad = ((0, 0), (0, 0), (top, height - h - top), (left, width - w - left))
        return np.pad(images, pad)
    planes = images.reshape(n * ch, h, w)  # (N, C, h, w) -> (N*C, h, w)
    out = np.stack([np.asarray(Image.fromarray(p).resize((width, height), Image.BILINEAR))
                    for p in planes])
    return out.reshape(n, ch, height, width)  # (N*C, H, W) -> (N, C, H, W)


def resize_centre_crop(img: Image.Image, channels: int, height: int,
                       width: int) -> np.ndarray:
    """Any image -> the model's size: scale it to cover height x width, then cut out the centre.

    For a square model this is torchvision's ``Resize(side)`` + ``CenterCrop(side)``: the shorter
    side becomes the model's side and the longer one is cropped evenly on both ends, so there
    are no bars and no stretching. It is the one size rule for models trained without MNIST
    framing: ``prepare`` applies it to every image to predict, and the image-folder reader to
    every training image, so a file gives the same pixels in both. Scale and crop are one Pillow
    resize of the centred source box (sub-pixel exact, bicubic, anti-aliased, reduced by whole
    factors first), so a 12 MP photo takes milliseconds; an image already height x width comes
    back unchanged. The mode is converted last, on the small image.

    Args:
        img (PIL.Image.Image): any mode and size (e.g. from ``read_image``).
        channels (int): 1 (``L``) or 3 (``RGB``).
        height, width (int): the model's input size.

    Shape:
        (h, w) image -> (channels, height, width) uint8; scale s = max(height / h, width / w),
        source box = the centred (width / s) x (height / s) window.

    Example:
        >>> bands = np.repeat(np.uint8([10, 60, 160, 250]), 2)[None].repeat(4, 0)  # (4, 8)
        >>> resize_centre_crop(Image.fromarray(bands), 1, 4, 4)[0, 0].tolist()  # 8x4 -> 4x4
        [60, 60, 160, 160]
    """
    im = to_l_or_rgb(img)
    w, h = im.size
    if width * h >= height * w:  # the width fills the model's: crop top and bottom
        bw, bh = w, w * height / width  # exact where it touches the edges: never outside
    else:
        bw, bh = h * width / height, h
    box = ((w - bw) / 2, (h - bh) / 2, (w + bw) / 2, (h + bh) / 2)
    im = im.resize((width, height), PHOTO_FILTER, box=box, reducing_gap=REDUCING_GAP)
    im = im.convert("L" if channels == 1 else "RGB")
    return np.asarray(im).reshape(height, width, channels).transpose(2, 0, 1)  # -> (C, H, W)


def _per_channel(value, channels: int, name: str) -> np.ndarray:
    v = np.asarray(value, dtype=np.float32).reshape(-1)
    if v.size == 1:
        v = np.repeat(v, channels)
    if v.size != channels or not np.all(np.isfinite(v)):
        raise ImageError(f"{name} must be one number or {channels} finite numbers, got {value!r}")
    return v.reshape(channels, 1, 1)


def prepare(img: Image.Image, input_shape: tuple[int, int, int], framing: str | None,
            invert: bool | None = None, mean: float | list[float] = 0.0,
            std: float | list[float] = 1.0) -> np.ndarray:
    """Turn a user image into the normalised float32 tensor a model was trained on.

    Args:
        img (PIL.Image.Image): any mode and size (e.g. from ``read_image``).
        input_shape (tuple[int, int, int]): the model's (C, H, W); C is 1 or 3.
        framing (str | None): "mnist" -> ``to_mnist_style`` then pad (28 -> 32: 2 px each
            side) or resize to H, W; None -> ``resize_centre_crop`` (shorter side to the
            model's side, centre crop), the rule image-folder training data went through.
        invert (bool | None): polarity; for "mnist" None auto-detects, otherwise None/False
            keep the image and True inverts it. Default: None.
        mean, std (float | list[float]): per channel, on the [0, 1] scale. Default: 0, 1.

    Shape:
        image -> (C, H, W) float32, ``(pixel / 255 - mean) / std``.

    Raises:
        ImageError: unknown framing, C not 1 or 3, bad mean/std, or a blank digit.

    Example:
        >>> x = prepare(Image.new("RGB", (50, 40), "white"), (3, 8, 8), None, mean=0.5, std=0.5)
        >>> x.shape, x.dtype, float(x.min())
        ((3, 8, 8), dtype('float32'), 1.0)
    """
    try:  # operator.index: ints (numpy's too), never floats
        ch, height, width = (operator.index(s) for s in input_shape)
        ok = ch in (1, 3) and height >= 1 and width >= 1
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ImageError(f"input_shape must be (1 or 3, H >= 1, W >= 1), got {input_shape!r}")
    if framing == "mnist":
        digit = to_mnist_style(img, invert)[None, None]  # (28, 28) -> (1, 1, 28, 28)
        x = np.repeat(pad_or_resize(digit, height, width)[0], ch, axis=0)  # (C, H, W)
    elif framing is None:
        x = resize_centre_crop(img, ch, height, width)  # (C, H, W)
        x = 255 - x if invert else x
    else:
        raise ImageError(f"unknown framing {framing!r}: expected 'mnist' or None")
    x = x.astype(np.float32) / 255.0
    mean, std = _per_channel(mean, ch, "mean"), _per_channel(std, ch, "std")
    if np.any(std <= 0):
        raise ImageError(f"std must be > 0, got {std.ravel().tolist()}")
    return (x - mean) / std
