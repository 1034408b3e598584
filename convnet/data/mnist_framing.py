"""MNIST framing: a white-on-black digit placed as MNIST's digits were, in a 28x28 field.

LeCun et al. scaled each digit's longer side to 20 px and put its centre of mass at the centre
of a 28x28 field. ``mnist_frame`` does the same to any digit already white ink on black: Semeion's
scans (``semeion``) and photos of digits on paper (``digit_photo.to_mnist_style``), so that an
MNIST model reads them as it read its training digits.

Centre-of-mass convention: array-index coordinates (pixel ``i`` has its centre at ``i``).
Measured on the 10,000 MNIST test digits, the centre of mass is (13.99, 14.01) with a spread of
0.29 px, i.e. MNIST shifted by whole pixels to put it at (14, 14) in this convention; so do we.
"""

import numpy as np
from PIL import Image

from ..errors import ImageError

MNIST_SIZE = 28  # the field
MNIST_BOX = 20  # the digit's longer side after size normalisation (LeCun et al.)
MNIST_CENTRE = 14.0  # centre of mass target, array-index coordinates (see module docstring)


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
