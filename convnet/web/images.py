"""An image from a request -> an ``L``/``RGB`` Pillow image, bounded before it costs memory.

A request carries its image as a data URL or plain base64 (``ImageIn.image``). Every bound is
checked before the step it protects:

* the text: at most ``MAX_BODY`` characters (413), a data URL with its comma and ``;base64``
  (400), valid base64 (400), not empty (400), at most ``MAX_IMAGE_BYTES`` bytes (413);
* the header: one of ``FORMATS`` (415), at most ``MAX_PIXELS`` pixels and ``MAX_SIDE`` a side
  (413), stricter than the CLI's 50 MP: an 88 KB PNG can declare 4096x4096 RGBA, and a server
  decodes several at once;
* the decode: ``data.decode.read_image`` with ``keep``, the least the next step needs
  (``decode_keep``: 1024 px for MNIST framing, 3x the model's side for a plain resize), so a
  large image is decoded reduced: a JPEG at 1/2, 1/4 or 1/8 scale by its own decoder, any
  image box-reduced by a whole factor before its mode is converted. A 4096x4096 RGBA drawing
  for LeNet-5 cost 1.3 GB (its float64 alpha compositing at full size); it is now composited
  at 1024x1024.

Bad input is an ``HTTPException`` with a 4xx code and one line.

Example:
    >>> image_bytes("data:image/gif;base64,R0lGODlh")
    b'GIF89a'
    >>> image_bytes("data:x")
    Traceback (most recent call last):
    ...
    fastapi.exceptions.HTTPException: 400: image: a data URL needs a comma ..., got 'data:x'
"""

from __future__ import annotations

import base64
import binascii
import io
import warnings

from fastapi import HTTPException
from PIL import Image

from ..data.decode import read_image
from ..errors import ImageError

MAX_IMAGE_BYTES = 5_000_000  # an upload larger than this is refused (413) before decoding
MAX_BODY = MAX_IMAGE_BYTES * 4 // 3 + 10_000  # the same image base64-encoded, in JSON
MAX_PIXELS = 4096 * 4096  # 16.8 MP: a 12 MP phone photo fits; checked on the header (413)
MAX_SIDE = 16_384  # ... and no side longer than this (a 16384x1024 panorama fits)
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")  # raster formats only: never EPS,
#   whose decoder runs Ghostscript, nor any of Pillow's rarer parsers, on bytes from a page


def image_bytes(data: str) -> bytes:
    """The bytes of a data URL (``data:image/png;base64,...``) or of plain base64 text."""
    payload = data
    if data.startswith("data:"):
        header, comma, payload = data.partition(",")
        if not comma:
            raise HTTPException(400, f"image: a data URL needs a comma before its data, "
                                f"got {data[:40]!r}")
        if not header.endswith(";base64"):
            raise HTTPException(400, f"image: only base64 data URLs are read "
                                f"(data:image/png;base64,...), got {header[:40]!r}")
    if len(payload) > MAX_BODY:
        raise HTTPException(413, f"image is larger than the {MAX_IMAGE_BYTES:,}-byte limit")
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise HTTPException(400, "image must be a data URL or base64 text, "
                            f"got {data[:40]!r}...") from None
    if len(raw) > MAX_IMAGE_BYTES:
        raise HTTPException(413, f"image is {len(raw):,} bytes, over the "
                            f"{MAX_IMAGE_BYTES:,}-byte limit")
    if not raw:
        raise HTTPException(400, "image is empty (0 bytes)")
    return raw


def check_header(raw: bytes) -> None:
    """Format and size from the header alone: 415 or 413 before any pixel is decoded."""
    try:
        with warnings.catch_warnings():  # Pillow warns between 89 and 179 MP; refused below
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(raw), formats=FORMATS) as im:
                w, h = im.size
    except Image.DecompressionBombError:  # Pillow's own refusal, above 179 MP
        raise HTTPException(413, f"image is over the {MAX_PIXELS:,}-pixel limit "
                            "(its header declares more than 179 million)") from None
    except Exception:  # noqa: BLE001 - a parser fed untrusted bytes may raise anything
        raise HTTPException(415, "image is not a readable image (" + ", ".join(FORMATS) + ")"
                            ) from None
    if w * h > MAX_PIXELS or max(w, h) > MAX_SIDE:
        raise HTTPException(413, f"image is {w}x{h} = {w * h:,} pixels, over the limit of "
                            f"{MAX_PIXELS:,} pixels and {MAX_SIDE:,} a side")


def decode_image(data: str, keep: tuple[int, int] | None = None) -> Image.Image:
    """A data URL or base64 string -> an L/RGB image, decoded reduced while it keeps ``keep``.

    Args:
        keep (tuple[int, int] | None): the least (longer side, shorter side) the next step
            needs (``data.preprocess.decode_keep``). Default: None, the full size.

    Raises:
        HTTPException: 400 not base64 or empty, 413 too large, 415 not a readable image.
    """
    raw = image_bytes(data)
    check_header(raw)
    try:
        return read_image(raw, keep)
    except ImageError as e:
        raise HTTPException(415, str(e).splitlines()[0]) from None
