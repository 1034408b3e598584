"""Decoding: any image file Pillow can read -> one ``L`` or ``RGB`` image, or one ``ImageError``.

``read_image`` is the one decoder: prediction, the web app and image-folder training all read
through it. The header is judged first (a decompression bomb is refused undecoded); given what
the next step keeps (``preprocess.decode_keep``), a large image is decoded reduced by a whole
factor; the mode is converted last (``modes.to_l_or_rgb``). ``image_mode`` says from the
header alone which of the two modes a file will give.
"""

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ..errors import ImageError
from .modes import output_mode, reduced, to_l_or_rgb

MAX_PIXELS = 50_000_000  # refuse larger images before decoding (Pillow's own bomb limit is 89M)
MAX_FILE_BYTES = 16 * MAX_PIXELS  # 800 MB: RGBA float32 at MAX_PIXELS; a larger file is no
#   image we decode, and reading it whole first (30 GB) ran out of memory (exit 70)


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
    try:  # file objects are read whole (up to the limit): they may be unseekable (an upload)
        src = src if isinstance(src, str) else io.BytesIO(src.read(MAX_FILE_BYTES + 1))
        size = os.path.getsize(src) if isinstance(src, str) else src.getbuffer().nbytes
    except (OSError, TypeError, AttributeError) as exc:  # also: a text-mode file, not a file
        raise ImageError(f"cannot read image file '{name}': "
                         f"{getattr(exc, 'strerror', None) or exc}") from None
    if size == 0:
        raise ImageError(f"image '{name}' is empty (0 bytes)")
    if size > MAX_FILE_BYTES:
        raise ImageError(f"image file '{name}' is larger than {MAX_FILE_BYTES:,} bytes, more "
                         f"than an image of at most {MAX_PIXELS:,} pixels needs")
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
    try:
        _check_size(im.size, name)
    except ImageError:
        im.close()
        raise
    return im


def _check_size(size: tuple[int, int], name: str) -> None:
    w, h = size
    if w < 1 or h < 1 or w * h > MAX_PIXELS:
        raise ImageError(f"image '{name}' is {w}x{h} = {w * h:,} pixels, outside the "
                         f"1..{MAX_PIXELS:,}-pixel limit")


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
            ``preprocess.decode_keep(model input, framing)``. A larger image is decoded reduced by
            the largest whole factor that keeps them: a JPEG by its own decoder at 1/2, 1/4 or 1/8
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


def in_memory_image(image) -> Image.Image:
    """A PIL image, or an array Pillow reads as one ((H, W) or (H, W, C) uint8), checked as
    ``read_image`` checks a file's header: at least 1 pixel a side, at most ``MAX_PIXELS``.

    Raises:
        ImageError: an array of another type or layout (float, (C, H, W)), or a size outside
            the limits: a 0x0 image has nothing to classify.

    Example:
        >>> in_memory_image(np.zeros((2, 3), np.uint8)).size
        (3, 2)
        >>> in_memory_image(np.zeros((0, 0), np.uint8))
        Traceback (most recent call last):
        ...
        convnet.errors.ImageError: image '<array>' is 0x0 = 0 pixels, outside the \
1..50,000,000-pixel limit
    """
    name = "<array>" if isinstance(image, np.ndarray) else "<image>"
    if isinstance(image, np.ndarray):
        try:
            image = Image.fromarray(image)
        except (TypeError, ValueError):
            raise ImageError(f"an image array must be uint8 pixels shaped (H, W) or (H, W, C) "
                             f"with C in 1..4, got {image.dtype} {image.shape}") from None
    _check_size(image.size, name)
    return image


def _too_large(name: str) -> ImageError:
    return ImageError(f"image '{name}' is too large: more than the {MAX_PIXELS:,}-pixel limit")


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]
