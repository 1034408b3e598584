"""What the page is sent: layer outputs as uint8 with their ranges, the input, the prediction.

One byte per value is what drawing needs (value = lo + byte · (hi − lo) / 255); the exact
numbers of a unit come from ``/api/unit``.

Example:
    >>> raw, lo, hi = as_uint8(np.array([0.0, 1.0, 2.0]))
    >>> list(raw), lo, hi
    ([0, 128, 255], 0.0, 2.0)
"""

from __future__ import annotations

import base64

import numpy as np
import torch

from ..predict import top_k

MAX_MAPS = 64  # feature maps sent per layer; larger layers say "first 64 of 512 shown"
MAX_VALUES = 1 << 16  # ... and at most this many values per layer (a 224x224 map: 1 map)
MAX_UNITS = 4096  # units sent per vector layer
OVERVIEW_NODES = 16  # nodes per layer in the page's overview of the whole network


def as_uint8(a: np.ndarray) -> tuple[bytes, float, float]:
    """Values -> (uint8 bytes scaled lo..hi, lo, hi): 1 byte a value, enough to draw."""
    lo, hi = float(a.min()), float(a.max())  # in float64: hi - lo may overflow float32
    q = (np.zeros(a.shape, np.uint8) if hi <= lo else
         np.rint((a.astype(np.float64) - lo) * (255.0 / (hi - lo))))
    return q.astype(np.uint8).tobytes(), lo, hi


def maps_as_uint8(a: np.ndarray) -> tuple[bytes, list[float], list[float]]:
    """Maps (C, H, W) -> (uint8 bytes, each map scaled to its own lo..hi, lo per map, hi per map).

    All maps at once: a ResNet-20 layer's 16 maps cost one pass, not 16 (69 layers an image).

    Example:
        >>> raw, lo, hi = maps_as_uint8(np.array([[[0.0, 2.0]], [[5.0, 5.0]]]))
        >>> list(raw), lo, hi
        ([0, 255, 0, 0], [0.0, 5.0], [2.0, 5.0])
    """
    m = a.reshape(len(a), -1).astype(np.float64)  # (C, H, W) -> (C, H*W); float64: no overflow
    lo, hi = m.min(axis=1), m.max(axis=1)
    step = np.where(hi > lo, 255.0 / np.where(hi > lo, hi - lo, 1.0), 0.0)  # constant map: 0s
    q = np.rint((m - lo[:, None]) * step[:, None]).astype(np.uint8)
    return q.tobytes(), lo.tolist(), hi.tolist()


def overview(t: torch.Tensor) -> list[float]:
    """One layer's output -> the mean of each of its first OVERVIEW_NODES maps (or units).

    What the network overview colours its nodes with, for every layer, drawn or not (in
    NumPy: 69 small layers cost a few ms, where torch's per-call overhead cost 5-40).

    Example:
        >>> overview(torch.arange(8.0).reshape(2, 2, 2))
        [1.5, 5.5]
    """
    a = t.float().numpy()
    a = a[:OVERVIEW_NODES].reshape(min(len(a), OVERVIEW_NODES), -1).mean(1) if a.ndim == 3 \
        else a.reshape(-1)[:OVERVIEW_NODES]  # (C, H, W) -> (C, H*W) -> (C,)
    return np.round(np.nan_to_num(a.astype(np.float64)), 4).tolist()


def value_range(t: torch.Tensor) -> list[float]:
    """[min, max] of a layer's output, JSON-safe (NaN as 0, infinities as ±3e38)."""
    a = t.float().numpy()
    return np.nan_to_num(np.array([a.min(), a.max()], np.float64), posinf=3e38,
                         neginf=-3e38).tolist()


def b64(raw: bytes) -> str:
    """Bytes as the base64 text JSON carries."""
    return base64.b64encode(raw).decode()


def encode(name: str, t: torch.Tensor) -> dict:
    """One layer's output (C, H, W) or (K,) -> its compact JSON form.

    Maps: the first ``shown`` maps, each scaled to its own min..max ("lo"/"hi" per map), in one
    base64 uint8 string, map after map, row-major. Vectors: the first ``shown`` units scaled to
    the layer's min..max. "min"/"max" are over the whole layer (the page's layer colour scale).
    """
    a = np.nan_to_num(t.float().numpy(), nan=0.0, posinf=3e38, neginf=-3e38)  # JSON-safe
    layer = {"name": name, "shape": list(a.shape), "min": float(a.min()), "max": float(a.max())}
    if a.ndim == 3:
        c, h, w = a.shape
        cap = MAX_MAPS if h * w > 1 else MAX_UNITS  # 1x1 maps are units: send them all
        shown = max(1, min(c, cap, MAX_VALUES // (h * w)))
        raw, lo, hi = maps_as_uint8(a[:shown])
        layer.update(shown=shown, lo=lo, hi=hi, data=b64(raw))
    else:
        a = a.reshape(-1)  # (K,) already; any other rank is drawn flat
        shown = min(len(a), MAX_UNITS)
        data, lo, hi = as_uint8(a[:shown])
        layer.update(shown=shown, lo=[lo], hi=[hi], data=b64(data))
    return layer


def rgb_of(predictor, x: np.ndarray) -> str:
    """The prepared input back on the 0..255 scale as base64 (H, W, 3) uint8: what the net sees."""
    mean = np.asarray(predictor.mean, np.float32).reshape(-1, 1, 1)
    std = np.asarray(predictor.std, np.float32).reshape(-1, 1, 1)
    pixels = np.clip((x * std + mean) * 255.0, 0, 255).astype(np.uint8)  # (C, H, W)
    pixels = np.repeat(pixels, 3, axis=0) if pixels.shape[0] == 1 else pixels[:3]
    return b64(pixels.transpose(1, 2, 0).tobytes())  # -> (H, W, 3)


def prediction(predictor, x: np.ndarray) -> dict:
    """Class probabilities of the prepared image ``x`` (C, H, W), ranked, first and second."""
    p = predictor.probabilities(x[None])[0]  # (C, H, W) -> (1, C, H, W) -> (K,)
    top = [{"label": name, "index": i, "probability": q}
           for i, name, q in top_k(p, predictor.classes)]
    return {"label": top[0]["label"], "probability": top[0]["probability"],
            "second": top[1] if len(top) > 1 else None, "top": top,
            "probabilities": [float(v) for v in p]}
