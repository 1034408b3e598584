"""A photo or scan of one handwritten digit -> a digit as MNIST has them: white on black, 28x28.

``to_mnist_style`` finds the ink on the paper (lighting fitted and cancelled, polarity detected,
Otsu threshold, specks dropped, faint edges grown back), then frames it as MNIST was framed
(``mnist_framing.mnist_frame``: the longer side 20 px, the centre of mass at the centre of 28x28).
"""

import numpy as np
from PIL import Image, ImageFilter

from ..errors import ImageError
from .mnist_framing import mnist_frame
from .modes import to_l_or_rgb

WORK_SIDE = 1024  # photos are first reduced to this longer side: a digit 1/10 of a 12 MP
#   photo keeps ~70 px (at 512 px its round trip to MNIST fell from r = 0.92 to 0.87)
MIN_INK_CONTRAST = 0.15  # ink must be >= 15 % darker than its paper (or 8 noise sigmas) ...
MIN_INK_AREA = 1e-4  # ... and cover >= 0.01 % of the image (79 px of 1024x768): not one speck
SPECK_FRACTION = 0.1  # ink components smaller than this fraction of the largest are specks


def _ink_is_dark(residual: np.ndarray) -> bool:
    """Ink is the side with more far outliers (> 4 sigma) from the fitted paper level.

    Percentiles of the whole image, or the border's level, fail when a small digit covers
    0.1 % of a 12-megapixel photo; far-outlier mass does not, and noise is symmetric.
    """
    sigma = max(1.4826 * float(np.median(np.abs(residual))), 1.0)
    far = np.abs(residual) - 4 * sigma
    return float(far[residual < 0].clip(0).sum()) > float(far[residual > 0].clip(0).sum())


def without_letterbox(gray: Image.Image) -> Image.Image:
    """``gray`` without flat bars added around it (a non-square photo padded to a square).

    A bar is a run of edge rows or columns of exactly one value, the next line inward
    differing from it by more than 32 levels almost everywhere (90 %): paper beside black
    bars. Left in, the bars are the border the paper's level is fitted from, and a dark-on-light
    photo reads as light ink on dark paper. A drawing on a plain background keeps its margins:
    the line next to them is mostly background too.

    Example:
        >>> page = np.full((40, 20), 200, np.uint8); page[5:35, 8:12] = 30
        >>> boxed = np.zeros((40, 40), np.uint8); boxed[:, 10:30] = page
        >>> without_letterbox(Image.fromarray(boxed)).size
        (20, 40)
    """
    x = np.asarray(gray, dtype=np.int16)
    top, bottom, left, right = 0, x.shape[0], 0, x.shape[1]

    def bar(lines: np.ndarray) -> int:  # lines: (n, length), edge first
        value, n = lines[0, 0], 0
        while n < len(lines) - 1 and (lines[n] == value).all():
            n += 1
        inner = lines[n] if n < len(lines) else lines[-1]
        return n if n and np.mean(np.abs(inner - value) > 32) >= 0.9 else 0

    top += bar(x)
    bottom -= bar(x[::-1])
    left += bar(x.T)
    right -= bar(x.T[::-1])
    if bottom - top < 2 or right - left < 2:
        return gray
    return gray.crop((left, top, right, bottom))


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
    gray = without_letterbox(to_l_or_rgb(img).convert("L"))
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
