"""The network tab's API: the runs, one image's prediction, its layers, one unit's arithmetic.

    GET  /api/runs         the runs being served, each with its layers (kind, shape, source)
    POST /api/predict      an image -> class probabilities, first and second guess
    POST /api/activations  an image -> every layer's output, compact (per-map uint8 + min/max)
    POST /api/unit         an image + one unit -> its source window(s) and its arithmetic

The model's work takes one of the app's heavy slots (``guard.Busy``) and the run's lock
(``viz.capture`` hooks the shared model).
"""

from __future__ import annotations

import time

import torch
from fastapi import APIRouter, Request

from ..viz.capture import capture
from .encoding import encode, prediction, rgb_of
from .layers import explain_unit
from .served import ImageIn, UnitIn, prepared

router = APIRouter()


@router.get("/api/runs", summary="The runs being served, with their layers")
def api_runs(request: Request) -> list[dict]:
    return [r.to_json() for r in request.app.state.runs.values()]


@router.post("/api/predict", summary="Class probabilities for one image")
def api_predict(body: ImageIn, request: Request) -> dict:
    with request.app.state.busy.slot():
        run, x = prepared(request, body)
        with run.lock:
            return prediction(run.predictor, x)


@router.post("/api/activations", summary="Every layer's output for one image (compact)")
def api_activations(body: ImageIn, request: Request) -> dict:
    start = time.perf_counter()
    with request.app.state.busy.slot():
        run, x = prepared(request, body)
        with run.lock:
            acts = capture(run.predictor.model, torch.from_numpy(x)[None])  # {name: (1, ...)}
            probs = prediction(run.predictor, x)
        layers = [encode(name, t[0]) for name, t in acts.items()]
    return {"run": run.id, "input": dict(encode("input", torch.from_numpy(x)),
                                         rgb=rgb_of(run.predictor, x)),
            "layers": layers, "prediction": probs,
            "server_ms": round((time.perf_counter() - start) * 1000, 2)}


@router.post("/api/unit", summary="One unit: its source window(s) and its arithmetic")
def api_unit(body: UnitIn, request: Request) -> dict:
    with request.app.state.busy.slot():
        run, x = prepared(request, body)
        with run.lock:
            p = run.predictor
            return explain_unit(p.model, run.graph, torch.from_numpy(x)[None], body.layer,
                                body.index, p.classes, p.mean, p.std)
