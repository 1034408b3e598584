"""User image -> exactly what a model was trained on: mode, size, polarity, MNIST framing.

Four steps, each usable alone:

* ``read_image``: any file Pillow can decode -> an ``L`` or ``RGB`` image (``data/modes.py``),
  or one ``ImageError``; given what the next step keeps (``decode_keep``), a large image is
  decoded reduced by a whole factor. The one decoder, also for image-folder training data.
* ``to_mnist_style``: a photo/scan of a digit on paper -> 28x28 uint8, white ink on black,
  framed as MNIST was (``data/mnist_style.py``).
* ``resize_centre_crop``: any other image -> the model's size: shorter side to the model's side,
  centre cropped; the one size rule for prediction and image-folder training alike.
* ``prepare``: the image -> the float32 (C, H, W) tensor a model takes, normalised.
"""

import io
import math
import operator
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ..errors import ConvnetError, DataError, ImageError
from .mnist_style import (MNIST_BOX, MNIST_CENTRE, MNIST_SIZE, WORK_SIDE,  # noqa: F401
                          mnist_frame, to_mnist_style)
from .modes import output_mode, reduced, to_l_or_rgb  # noqa: F401 -- re-exported

MAX_PIXELS = 50_000_000  # refuse larger images before decoding (Pillow's own bomb limit is 89M)
PHOTO_FILTER = Image.Resampling.BICUBIC  # as Pillow's thumbnail(): anti-aliased when reducing
REDUCING_GAP = 3.0  # first box-reduce by a whole factor, keeping >= 3x the final size: "3.0 or
#   more is indistinguishable from fair resampling" (Pillow docs); 12 MP -> 32 px: 100 -> 15 ms


# --------------------------------------------------------------------------- reading

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


def decode_keep(input_shape: tuple[int, int, int], framing: str | None) -> tuple[int, int]:
    """(longer side, shorter side) that ``prepare`` needs of a decoded image, at the least.

    What the next step reduces an image to anyway: MNIST framing works at ``WORK_SIDE`` on the
    longer side; the plain size rule box-reduces to ``REDUCING_GAP`` times the model's side
    before its bicubic resize. ``read_image`` may decode an image reduced as far as this.

    Example:
        >>> decode_keep((3, 32, 32), None), decode_keep((1, 32, 32), "mnist")
        ((1, 96), (1024, 1))
    """
    if framing == "mnist":
        return WORK_SIDE, 1
    return 1, math.ceil(REDUCING_GAP * max(input_shape[1], input_shape[2]))


def reduction(size: tuple[int, int], keep: tuple[int, int]) -> int:
    """The largest whole factor that keeps the longer side >= keep[0], the shorter >= keep[1].

    Example:
        >>> reduction((7000, 7000), (1024, 1)), reduction((4000, 3000), (1, 96))
        (6, 31)
        >>> reduction((800, 600), (1024, 1))  # already small: kept as it is
        1
    """
    longer, shorter = max(size), min(size)
    return max(1, min(longer // max(keep[0], 1), shorter // max(keep[1], 1)))


def read_image(path_or_file, keep: tuple[int, int] | None = None) -> Image.Image:
    """Open a user image with Pillow and return it as ``L`` or ``RGB`` (first frame if animated).

    The one decoder: prediction, the web app and image-folder training all read through it.
    The EXIF orientation of phone photos is applied; for the mode rules see ``to_l_or_rgb``.

    Args:
        path_or_file (str | os.PathLike | bytes | binary file): the image.
        keep (tuple[int, int], optional): (longer side, shorter side) the caller needs, e.g.
            ``decode_keep(model input, framing)``. A larger image is decoded reduced by the
            largest whole factor that keeps them: a JPEG by its own decoder at 1/2, 1/4 or 1/8
            scale (``Image.draft``), then any image by box averages (``Image.reduce``) before
            its mode is converted. A 7000x7000 RGBA PNG for LeNet-5 is converted at 1166x1166.
            Default: None, the full size.

    Raises:
        ImageError: missing/empty file, not an image, truncated or corrupt, larger than
            50,000,000 pixels (checked on the header, before decoding), or a 0-pixel side.

    Example:
        >>> buf = io.BytesIO(); Image.new("RGBA", (3, 2)).save(buf, "PNG")
        >>> im = read_image(buf.getvalue()); im.mode, im.size
        ('RGB', (3, 2))
        >>> buf = io.BytesIO(); Image.new("L", (800, 600)).save(buf, "PNG")
        >>> read_image(buf.getvalue(), keep=(1, 96)).size   # reduced by 6: 600 // 96
        (134, 100)
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
            return _decode(im, keep)
        except Image.DecompressionBombError:
            raise _too_large(name) from None
        except Exception as exc:  # decoding untrusted bytes may raise anything: a damaged file
            raise ImageError(f"image '{name}' is truncated or corrupt "
                             f"({_first_line(exc)})") from None


def _decode(im: Image.Image, keep: tuple[int, int] | None) -> Image.Image:
    """Frame 0, reduced while it keeps ``keep``, turned as its EXIF says, then L or RGB."""
    if keep is not None and (f := reduction(im.size, keep)) > 1:
        im.draft(None, (-(-im.width // f), -(-im.height // f)))  # JPEG only; others ignore it
    im.load()  # frame 0 of an animation
    ImageOps.exif_transpose(im, in_place=True)  # phone photos: apply the EXIF rotation
    if keep is not None:
        im = reduced(im, reduction(im.size, keep))  # what is left after the JPEG's own scaling
    return to_l_or_rgb(im)


def _too_large(name: str) -> ImageError:
    return ImageError(f"image '{name}' is too large: more than the {MAX_PIXELS:,}-pixel limit")


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


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
        ConvnetError: ``invert`` that is not True, False or None (``"yes"`` is not True).

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
    if invert is not None and not isinstance(invert, (bool, np.bool_)):
        raise ConvnetError(f"invert must be True, False or None (detect), got {invert!r}")
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
