"""The filters tab's and kernel playground's API, and the gallery of test images.

    GET  /api/filters      the learned filters of every convolution
    GET  /api/samples      test images of the run's own dataset to click (``samples.gallery``)
    GET  /api/kernels      the classic kernels;  POST /api/kernel: one applied to an image
"""

from __future__ import annotations

import math

import numpy as np
import torch
from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field

from ..data.preprocess import REDUCING_GAP
from ..explain import parse_matrix, tidy
from ..viz.filters import (
    MAX_COLS,
    MAX_ROWS,
    MIN_SIMILARITY,
    colour_filter,
    conv_weight,
    kernel_match,
)
from ..viz.kernels import CLASSIC_KERNELS, apply_kernel
from .encoding import b64, encode
from .images import decode_image
from .layers import LayerInfo
from .samples import MAX_SAMPLES, gallery
from .served import get_run

PLAYGROUND_SIDE = 160  # the kernel playground works on the image shrunk to this side
MAX_KERNEL = 15  # the playground's largest kernel side
MAX_KERNEL_VALUE = 1e15  # as explain.parse_matrix: 225 products stay far inside float32
RUN_ID = Query(description="a run id from GET /api/runs")

router = APIRouter()


class KernelIn(BaseModel):
    image: str = Field(description="as for /api/activations")
    kernel: str | list[list[float]] = Field(description="a classic kernel's name, rows "
                                            "like '0,-1,0;-1,5,-1;0,-1,0', or a list of rows "
                                            f"(square, at most {MAX_KERNEL}x{MAX_KERNEL}, "
                                            "finite numbers)")


@router.get("/api/filters", summary="The learned filters of every convolution")
def api_filters(request: Request, run: str = RUN_ID) -> dict:
    served = get_run(request, run)
    return {"run": served.id, "layers": [filters_of(info) for info in
                                         served.graph.values() if info.kind == "conv"]}


@router.get("/api/samples", summary="Test images of the run's own dataset, to click")
def api_samples(request: Request, run: str = RUN_ID,
                n: int = Query(24, ge=1, le=MAX_SAMPLES, description="how many")) -> dict:
    served = get_run(request, run)
    if served.samples is None:  # no lock: two first requests at once both read, harmlessly
        served.samples = gallery(served.manifest, request.app.state.data_dir, MAX_SAMPLES)
    return dict(served.samples, run=served.id, samples=served.samples["samples"][:n])


@router.get("/api/kernels", summary="The classic image kernels")
def api_kernels() -> dict:
    return {name: [[tidy(v) for v in row] for row in k] for name, k in CLASSIC_KERNELS.items()}


@router.post("/api/kernel", summary="A kernel applied to an image (grayscale)")
def api_kernel(body: KernelIn, request: Request) -> dict:
    kernel = check_kernel(body.kernel)
    with request.app.state.busy.slot():
        image = decode_image(body.image, (math.ceil(REDUCING_GAP * PLAYGROUND_SIDE), 1))
        image = image.convert("L")
        image.thumbnail((PLAYGROUND_SIDE, PLAYGROUND_SIDE))
        gray = np.asarray(image, np.float32) / 255.0  # (H, W) in [0, 1]
        out = apply_kernel(gray, kernel)  # (H, W)
    return {"kernel": kernel, "input": encode("input", torch.from_numpy(gray)[None]),
            "output": encode("output", torch.from_numpy(out)[None])}


def check_kernel(kernel: str | list[list[float]]) -> list[list[float]]:
    """A request's kernel -> k x k finite numbers (|v| <= 1e15), 1 <= k <= 15; else a 422.

    Example:
        >>> check_kernel("1,0;0,1"), check_kernel("identity")[1]
        ([[1, 0], [0, 1]], [0, 1, 0])
        >>> check_kernel([[1, 0], [0]])
        Traceback (most recent call last):
        ...
        fastapi.exceptions.HTTPException: 422: kernel must be square ..., got 2 rows of 2, 1 numbers
    """
    if isinstance(kernel, str):  # a name, or rows as text (SpecError, 422, if not numbers)
        kernel = CLASSIC_KERNELS.get(kernel) or parse_matrix(kernel, "kernel")
    lengths = [len(row) for row in kernel]
    if not 1 <= len(kernel) <= MAX_KERNEL or any(n != len(kernel) for n in lengths):
        shown = ", ".join(map(str, lengths[:MAX_KERNEL + 1])) + (
            ", ..." if len(lengths) > MAX_KERNEL + 1 else "")
        raise HTTPException(422, f"kernel must be square (k rows of k numbers, k = 1.."
                            f"{MAX_KERNEL}), got {len(kernel)} rows of {shown or 'no'} numbers")
    for r, row in enumerate(kernel):
        bad = next((v for v in row if not abs(v) <= MAX_KERNEL_VALUE), None)  # nan too
        if bad is not None:
            raise HTTPException(422, f"kernel values must be finite numbers of at most "
                                f"{MAX_KERNEL_VALUE:g}, got {bad} in row {r}")
    return kernel


def filters_of(info: LayerInfo) -> dict:
    """One convolution's filters: the first MAX_ROWS x MAX_COLS (out x in) k x k slices."""
    w = conv_weight(info.module)  # (C_out, C_in, kh, kw), unconnected slices zero
    c_out, c_in, kh, kw = w.shape
    rows, cols = min(c_out, MAX_ROWS), min(c_in, MAX_COLS)
    table = getattr(info.module, "table", None)
    layer = {"name": info.name, "shape": [c_out, c_in, kh, kw], "shown": [rows, cols],
             "min": float(w.min()), "max": float(w.max()),
             "weights": np.round(w[:rows, :cols].numpy(), 4).tolist(),
             "bias": None if info.module.bias is None else
             np.round(info.module.bias.detach()[:rows].numpy(), 4).tolist(),
             "connected": None if table is None else table[:rows, :cols].int().tolist()}
    if info.source == "input" and kh == kw:  # the first layer looks at pixels: name its filters
        layer["nearest"] = [kernel_match(w[r].numpy()) for r in range(rows)]  # all channels
        layer["min_similarity"] = MIN_SIMILARITY
    if info.source == "input" and c_in == 3:  # an RGB image: each filter as one colour picture
        layer["colour"] = [b64(np.rint(colour_filter(w[r].numpy()) * 255).astype(np.uint8)
                               .tobytes()) for r in range(rows)]  # (kh, kw, 3) uint8, row-major
    return layer
