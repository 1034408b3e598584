"""The detail views of one convolution: the sliding kernel and the shape sandbox.

    POST /api/slide    an image + a convolution + a filter -> every number of its sliding
                       window (``slide.slide_data``): input maps, weights, bias, output map
    GET  /api/sandbox  a convolution + kernel, stride, padding, filters -> o and the parameter
                       count with their numbers, and what cannot work (``sandbox.sandbox``)

The model's work takes one of the app's heavy slots (``guard.Busy``) and the run's lock
(``viz.capture`` hooks the shared model).
"""

from __future__ import annotations

import torch
from fastapi import APIRouter, Query, Request
from pydantic import Field

from .sandbox import sandbox
from .served import ImageIn, get_run, prepared
from .slide import slide_data

router = APIRouter()
LIMIT = 1_000_000  # the sandbox's numbers: beyond this no layer can be built (check_size)


class SlideIn(ImageIn):
    layer: str = Field(description="a convolution's name from GET /api/runs, e.g. conv2")
    filter: int = Field(0, description="the output map (filter) to fill in, from 0")


@router.post("/api/slide", summary="One filter of a convolution slid over its input")
def api_slide(body: SlideIn, request: Request) -> dict:
    with request.app.state.busy.slot():
        run, x = prepared(request, body)
        with run.lock:
            return dict(slide_data(run.predictor.model, run.graph, torch.from_numpy(x)[None],
                                   body.layer, body.filter), run=run.id)


def setting(what: str):
    return Query(None, ge=-LIMIT, le=LIMIT, description=f"the {what} to try (default: the "
                 "layer's own); values that cannot work are flagged, not refused")


@router.get("/api/sandbox", summary="A convolution's output size and parameters, re-chosen")
def api_sandbox(request: Request,
                run: str = Query(description="a run id from GET /api/runs"),
                layer: str = Query(description="a convolution's name, e.g. conv1"),
                kernel: int | None = setting("kernel side k"),
                stride: int | None = setting("stride s"),
                padding: int | None = setting("zero padding p on each side"),
                filters: int | None = setting("number of filters C_out")) -> dict:
    served = get_run(request, run)
    with served.lock:  # a concatenated input's shape is measured with a forward pass
        return dict(sandbox(served.predictor.model, served.graph, layer,
                            {"kernel": kernel, "stride": stride, "padding": padding,
                             "filters": filters}), run=served.id)
