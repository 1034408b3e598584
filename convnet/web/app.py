"""``convnet serve``: draw a digit and watch every layer of your own trained run, in the browser.

The page (``static/``: plain HTML, JS and CSS, no build step, no CDN) talks to a small JSON API:

    GET  /api/runs         the runs being served, each with its layers (kind, shape, source)
    POST /api/predict      an image -> class probabilities, first and second guess
    POST /api/activations  an image -> every layer's output, compact (per-map uint8 + min/max)
    POST /api/unit         an image + one unit -> its source window(s) and its arithmetic
    GET  /api/filters      the learned filters of every convolution
    GET  /api/samples      test images of the run's own dataset to click (``samples.gallery``)
    GET  /api/kernels      the classic kernels;  POST /api/kernel: one applied to an image

Images travel as a data URL (``data:image/png;base64,...``) or plain base64 of a PNG, JPEG,
GIF, BMP, WebP or TIFF file (``images.decode_image``: bounded, decoded reduced). Bad input is a
4xx with one line of JSON ``{"detail": "..."}``, never a 500; who may ask, how much and how
many at once is ``guard``. OpenAPI at ``/docs`` and ``/redoc``, their scripts served from the
package (``fastapi_offline``), so they work offline too; examples in docs/web.md.
"""

from __future__ import annotations

import base64
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field

from ..data.preprocess import REDUCING_GAP, decode_keep
from ..errors import RunError
from ..explain import parse_matrix, tidy
from ..predict import Predictor, top_k
from ..viz.capture import capture
from ..viz.filters import (MAX_COLS, MAX_ROWS, MIN_SIMILARITY, colour_filter, conv_weight,
                           kernel_match)
from ..viz.kernels import CLASSIC_KERNELS, apply_kernel
from .guard import LOCAL_HOSTS, Busy, protect
from .images import decode_image
from .layers import LayerInfo, explain_unit, layer_graph
from .samples import MAX_SAMPLES, gallery

STATIC = Path(__file__).parent / "static"
MAX_MAPS = 64  # feature maps sent per layer; larger layers say "first 64 of 512 shown"
MAX_VALUES = 1 << 16  # ... and at most this many values per layer (a 224x224 map: 1 map)
MAX_UNITS = 4096  # units sent per vector layer
PLAYGROUND_SIDE = 160  # the kernel playground works on the image shrunk to this side
MAX_KERNEL = 15  # the playground's largest kernel side
MAX_KERNEL_VALUE = 1e15  # as explain.parse_matrix: 225 products stay far inside float32


# ----------------------------------------------------------------------------- runs

@dataclass
class Served:
    """A run being served: its predictor (model + preprocessing) and its layer graph."""

    id: str
    path: Path
    predictor: Predictor
    graph: dict[str, LayerInfo]
    manifest: dict
    # capture() hooks the shared model: two requests at once would record each other's layers
    lock: threading.Lock = field(default_factory=threading.Lock)
    samples: dict | None = None  # the gallery, read on first request (a test split: ~1 s)

    def to_json(self) -> dict:
        m, ds = self.predictor.model, self.manifest.get("dataset", {})
        return {"id": self.id, "path": str(self.path),
                "model": self.manifest["model"].get("name") or self.manifest["model"].get("spec"),
                "input_shape": list(m.input_shape), "classes": self.predictor.classes,
                "dataset": ds.get("name"), "framing": self.predictor.framing,
                "test_accuracy": self.manifest.get("final", {}).get("test_accuracy"),
                "layers": [info.to_json() for info in self.graph.values()]}

    def decode(self, data: str):
        """The request's image, decoded no larger than this run's preprocessing needs."""
        return decode_image(data, decode_keep(self.predictor.model.input_shape,
                                              self.predictor.framing))


def load_runs(rundirs: list[str | Path]) -> dict[str, Served]:
    """Load every run once; ids are directory names (``name-2`` ... when two share one)."""
    from ..runs import read_manifest

    served: dict[str, Served] = {}
    for rundir in rundirs:
        path = Path(rundir)
        predictor = Predictor.from_run(path)
        base, n = path.resolve().name or "run", 1
        run_id = base
        while run_id in served:
            n += 1
            run_id = f"{base}-{n}"
        served[run_id] = Served(run_id, path, predictor, layer_graph(predictor.model),
                                read_manifest(path))
    if not served:
        raise RunError("convnet serve: give at least one RUNDIR")
    return served


# ----------------------------------------------------------------------------- requests

class ImageIn(BaseModel):
    run: str = Field(description="a run id from GET /api/runs")
    image: str = Field(description="the image as a data URL (data:image/png;base64,...) or "
                       "plain base64 of a PNG/JPEG/GIF/BMP/WebP/TIFF file",
                       examples=["data:image/png;base64,iVBORw0KGgo..."])
    invert: bool | None = Field(None, description="dark ink on light paper (default: detect "
                                "for MNIST-framed runs, keep the image otherwise)")


class UnitIn(ImageIn):
    layer: str = Field(description="a layer name from GET /api/runs, e.g. maxpool1")
    index: list[int] = Field(min_length=1, max_length=3,
                             description="[channel, y, x] for a map layer, [i] for a vector")


class KernelIn(BaseModel):
    image: str = Field(description="as for /api/activations")
    kernel: str | list[list[float]] = Field(description="a classic kernel's name, rows "
                                            "like '0,-1,0;-1,5,-1;0,-1,0', or a list of rows "
                                            f"(square, at most {MAX_KERNEL}x{MAX_KERNEL}, "
                                            "finite numbers)")


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


# ----------------------------------------------------------------------------- encoding

def as_uint8(a: np.ndarray) -> tuple[bytes, float, float]:
    """Values -> (uint8 bytes scaled lo..hi, lo, hi): 1 byte a value, enough to draw."""
    lo, hi = float(a.min()), float(a.max())  # in float64: hi - lo may overflow float32
    q = (np.zeros(a.shape, np.uint8) if hi <= lo else
         np.rint((a.astype(np.float64) - lo) * (255.0 / (hi - lo))))
    return q.astype(np.uint8).tobytes(), lo, hi


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
        shown = max(1, min(c, MAX_MAPS, MAX_VALUES // (h * w)))
        parts = [as_uint8(a[i]) for i in range(shown)]
        layer.update(shown=shown, lo=[p[1] for p in parts], hi=[p[2] for p in parts],
                     data=b64(b"".join(p[0] for p in parts)))
    else:
        a = a.reshape(-1)  # (K,) already; any other rank is drawn flat
        shown = min(len(a), MAX_UNITS)
        data, lo, hi = as_uint8(a[:shown])
        layer.update(shown=shown, lo=[lo], hi=[hi], data=b64(data))
    return layer


def rgb_of(run: Served, x: np.ndarray) -> str:
    """The prepared input back on the 0..255 scale as base64 (H, W, 3) uint8: what the net sees."""
    mean = np.asarray(run.predictor.mean, np.float32).reshape(-1, 1, 1)
    std = np.asarray(run.predictor.std, np.float32).reshape(-1, 1, 1)
    pixels = np.clip((x * std + mean) * 255.0, 0, 255).astype(np.uint8)  # (C, H, W)
    pixels = np.repeat(pixels, 3, axis=0) if pixels.shape[0] == 1 else pixels[:3]
    return b64(pixels.transpose(1, 2, 0).tobytes())  # -> (H, W, 3)


def prediction(run: Served, x: np.ndarray) -> dict:
    p = run.predictor.probabilities(x[None])[0]  # (C, H, W) -> (1, C, H, W) -> (K,)
    top = [{"label": name, "index": i, "probability": q}
           for i, name, q in top_k(p, run.predictor.classes)]
    return {"label": top[0]["label"], "probability": top[0]["probability"],
            "second": top[1] if len(top) > 1 else None, "top": top,
            "probabilities": [float(v) for v in p]}


# ----------------------------------------------------------------------------- the app

def create_app(rundirs: list[str | Path], data_dir: str | None = None,
               hosts: set[str] | None = None, busy: Busy | None = None) -> FastAPI:
    """The FastAPI app serving ``rundirs`` (loaded now: a bad run fails here, not on a click).

    Args:
        data_dir (str | None): where the runs' datasets are, for the gallery of test images.
            Default: each run's recorded data folder, then ``$CONVNET_DATA`` and the cache.
        hosts (set[str] | None): the Host names answered (``guard.served_hosts``; "*": any).
            Default: localhost, 127.0.0.1, ::1.
        busy (Busy | None): the limit on heavy requests at once. Default: ``Busy()``.
    """
    runs = load_runs(rundirs)
    app = FastAPIOffline(title="convnet serve", version="1",  # /docs, /redoc: no CDN
                         description="Every layer of a trained convnet run, for one image at a "
                         "time.", swagger_ui_parameters={"validatorUrl": None})  # no badge
    #   fetched from validator.swagger.io, which Swagger UI does for a spec not on localhost
    app.state.busy = busy = busy or Busy()
    protect(app, set(LOCAL_HOSTS) if hosts is None else hosts)

    def get_run(run_id: str) -> Served:
        if run_id not in runs:
            raise HTTPException(404, f"unknown run {run_id!r}; serving {', '.join(runs)}")
        return runs[run_id]

    def prepared(body: ImageIn) -> tuple[Served, np.ndarray]:
        run = get_run(body.run)
        return run, run.predictor.prepare(run.decode(body.image), body.invert)  # (C, H, W)

    @app.get("/api/runs", summary="The runs being served, with their layers")
    def api_runs() -> list[dict]:
        return [r.to_json() for r in runs.values()]

    @app.post("/api/predict", summary="Class probabilities for one image")
    def api_predict(body: ImageIn) -> dict:
        with busy.slot():
            run, x = prepared(body)
            with run.lock:
                return prediction(run, x)

    @app.post("/api/activations", summary="Every layer's output for one image (compact)")
    def api_activations(body: ImageIn) -> dict:
        start = time.perf_counter()
        with busy.slot():
            run, x = prepared(body)
            with run.lock:
                acts = capture(run.predictor.model, torch.from_numpy(x)[None])  # {name: (1, ...)}
                probs = prediction(run, x)
            layers = [encode(name, t[0]) for name, t in acts.items()]
        return {"run": run.id, "input": dict(encode("input", torch.from_numpy(x)),
                                             rgb=rgb_of(run, x)),
                "layers": layers, "prediction": probs,
                "server_ms": round((time.perf_counter() - start) * 1000, 2)}

    @app.post("/api/unit", summary="One unit: its source window(s) and its arithmetic")
    def api_unit(body: UnitIn) -> dict:
        with busy.slot():
            run, x = prepared(body)
            with run.lock:
                return explain_unit(run.predictor.model, run.graph, torch.from_numpy(x)[None],
                                    body.layer, body.index)

    @app.get("/api/filters", summary="The learned filters of every convolution")
    def api_filters(run: str = Query(description="a run id from GET /api/runs")) -> dict:
        served = get_run(run)
        return {"run": served.id, "layers": [filters_of(info) for info in
                                             served.graph.values() if info.kind == "conv"]}

    @app.get("/api/samples", summary="Test images of the run's own dataset, to click")
    def api_samples(run: str = Query(description="a run id from GET /api/runs"),
                    n: int = Query(24, ge=1, le=MAX_SAMPLES, description="how many")) -> dict:
        served = get_run(run)
        if served.samples is None:  # no lock: two first requests at once both read, harmlessly
            served.samples = gallery(served.manifest, data_dir, MAX_SAMPLES)
        return dict(served.samples, run=served.id, samples=served.samples["samples"][:n])

    @app.get("/api/kernels", summary="The classic image kernels")
    def api_kernels() -> dict:
        return {name: [[tidy(v) for v in row] for row in k] for name, k in CLASSIC_KERNELS.items()}

    @app.post("/api/kernel", summary="A kernel applied to an image (grayscale)")
    def api_kernel(body: KernelIn) -> dict:
        kernel = check_kernel(body.kernel)
        with busy.slot():
            image = decode_image(body.image, (math.ceil(REDUCING_GAP * PLAYGROUND_SIDE), 1))
            image = image.convert("L")
            image.thumbnail((PLAYGROUND_SIDE, PLAYGROUND_SIDE))
            gray = np.asarray(image, np.float32) / 255.0  # (H, W) in [0, 1]
            out = apply_kernel(gray, kernel)  # (H, W)
        return {"kernel": kernel, "input": encode("input", torch.from_numpy(gray)[None]),
                "output": encode("output", torch.from_numpy(out)[None])}

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon():
        return Response(status_code=204)

    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


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
