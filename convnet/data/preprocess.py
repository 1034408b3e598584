"""Model input: a decoded image -> exactly the tensor a model was trained on.

* ``prepare``: the image -> the normalised float32 (C, H, W) tensor a model takes: MNIST-style
  digits (``digit_photo.to_mnist_style``, then padded 28 -> 32) or the plain size rule below,
  polarity, mean and std.
* ``resize_centre_crop``: any other image -> the model's size: shorter side to the model's side,
  centre cropped; the one size rule for prediction and image-folder training alike.
* ``pad_or_resize``: uint8 arrays (a dataset, a framed digit) -> the model's size.
* ``decode_keep``: how far ``decode.read_image`` may reduce a large image for these steps.
"""

import math
import operator

import numpy as np
from PIL import Image

from ..errors import ConvnetError, DataError, ImageError
from .digit_photo import WORK_SIDE, to_mnist_style
from .modes import to_l_or_rgb

PHOTO_FILTER = Image.Resampling.BICUBIC  # as Pillow's thumbnail(): anti-aliased when reducing
REDUCING_GAP = 3.0  # first box-reduce by a whole factor, keeping >= 3x the final size: "3.0 or
#   more is indistinguishable from fair resampling" (Pillow docs); 12 MP -> 32 px: 100 -> 15 ms


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
