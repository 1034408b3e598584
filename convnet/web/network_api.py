"""The network tab's API: the runs, one image's prediction, its layers, one unit's arithmetic.

    GET  /api/runs         the runs being served, each with its layers (kind, shape, source);
                           runs that saved a checkpoint since the last call too (``discover``)
    POST /api/predict      an image -> class probabilities, first and second guess
    POST /api/activations  an image -> the layers the page draws, compact (per-map uint8 +
                           lo/hi), and every layer's per-map means (the overview)
    POST /api/unit         an image + one unit -> its source window(s) and its arithmetic

The model's work takes one of the app's heavy slots (``guard.Busy``) and the run's lock
(``viz.capture`` hooks the shared model).
"""

from __future__ import annotations

import time

import torch
from fastapi import APIRouter, HTTPException, Request
from pydantic import Field

from ..viz.capture import capture
from .discover import refresh_runs
from .encoding import encode, overview, prediction, rgb_of, value_range
from .layers import explain_unit
from .served import ImageIn, Served, UnitIn, prepared

router = APIRouter()


@router.get("/api/runs", summary="The runs being served, with their layers")
def api_runs(request: Request) -> list[dict]:
    return [r.to_json() for r in refresh_runs(request.app).values()]  # new runs too


@router.post("/api/predict", summary="Class probabilities for one image")
def api_predict(body: ImageIn, request: Request) -> dict:
    with request.app.state.busy.slot():
        run, x = prepared(request, body)
        with run.lock:
            return prediction(run.predictor, x)


class ActivationsIn(ImageIn):
    layers: list[str] | None = Field(None, max_length=10_000, description="the layers to send "
                                     "(those the page draws); default: every layer")


@router.post("/api/activations", summary="The layers' outputs for one image (compact)")
def api_activations(body: ActivationsIn, request: Request) -> dict:
    """The input, the prediction, the chosen layers (``encode``), and for every layer its map
    means (the overview) and its [min, max] (the page's whole-network colour scale)."""
    start = time.perf_counter()
    with request.app.state.busy.slot():
        run, x = prepared(request, body)
        wanted = chosen_layers(run, body.layers)
        with run.lock:
            acts = capture(run.predictor.model, torch.from_numpy(x)[None])  # {name: (1, ...)}
            probs = prediction(run.predictor, x)
        layers = [encode(name, t[0]) for name, t in acts.items() if name in wanted]
        means = {name: overview(t[0]) for name, t in acts.items()}
        ranges = {name: value_range(t) for name, t in acts.items()}
    return {"run": run.id, "input": dict(encode("input", torch.from_numpy(x)),
                                         rgb=rgb_of(run.predictor, x)),
            "layers": layers, "overview": means, "ranges": ranges, "prediction": probs,
            "server_ms": round((time.perf_counter() - start) * 1000, 2)}


def chosen_layers(run: Served, names: list[str] | None) -> set[str]:
    """The layer names a request asks for (all when None); an unknown name is a 404."""
    if names is None:
        return set(run.graph)
    unknown = [n for n in names if n not in run.graph and n != "input"]
    if unknown:
        raise HTTPException(404, f"unknown layer {unknown[0]!r} in layers; this model has "
                            f"{', '.join(list(run.graph)[:8])}, ...")
    return set(names)


@router.post("/api/unit", summary="One unit: its source window(s) and its arithmetic")
def api_unit(body: UnitIn, request: Request) -> dict:
    with request.app.state.busy.slot():
        run, x = prepared(request, body)
        with run.lock:
            p = run.predictor
            return explain_unit(p.model, run.graph, torch.from_numpy(x)[None], body.layer,
                                body.index, p.classes, p.mean, p.std)
