"""The features tab's API: what each convolution learned (``viz.features``).

    GET  /api/features?run=ID&layer=L&channels=N   each channel's top-9 test patches, as one
                                                   PNG grid and as numbers

The whole test split goes through the model once per (run, layer, channels) and the last
``KEPT`` answers are kept: the first request for resnet20's last stage takes seconds, the next
none.
"""

from __future__ import annotations

import base64
import tempfile
from pathlib import Path

from fastapi import APIRouter, HTTPException, Query, Request

from ..data.loader import fit_to_model, normalize
from ..errors import ConvnetError
from ..viz.features import MAX_CHANNELS, choose_layer, conv_layers, draw_features, favourites
from .samples import _read_test_split
from .served import get_run

KEPT = 16  # answers kept: a few layers of each served run, a few MB of PNGs at most

router = APIRouter()


@router.get("/api/features", summary="Each channel's top test patches for one convolution")
def api_features(request: Request, run: str = Query(description="a run id from GET /api/runs"),
                 layer: str | None = Query(None, description="a convolution (default: the "
                                           "first)"),
                 channels: int = Query(16, ge=1, le=MAX_CHANNELS,
                                       description="the first N channels")) -> dict:
    served = get_run(request, run)
    model = served.predictor.model
    try:
        layer = choose_layer(model, layer)
    except ConvnetError as e:
        raise HTTPException(404, str(e)) from None
    cache = getattr(request.app.state, "features", None)
    if cache is None:
        cache = request.app.state.features = {}
    key = (served.id, served.serial, layer, channels)  # a run reloaded: its new weights
    if key not in cache:
        cache[key] = answer(request, served, layer, channels)
        while len(cache) > KEPT:  # the oldest answer goes first (dicts keep insertion order)
            cache.pop(next(iter(cache)))
    return dict(cache[key], layers=conv_layers(model))


def answer(request: Request, served, layer: str, channels: int) -> dict:
    """The grid and its numbers, or a 404 naming why the test split cannot be read."""
    try:
        data = _read_test_split(served.manifest, request.app.state.data_dir)
    except ConvnetError as e:
        raise HTTPException(404, f"no test images to search: {e}") from None
    model, info = served.predictor.model, served.manifest["dataset"]
    images = fit_to_model(data.images, model.input_shape)  # uint8, as the model sees them
    x = normalize(images, info["mean"], info["std"])
    with request.app.state.busy.slot(), served.lock:  # the hook must not see other requests
        found = favourites(model, layer, x, channels=channels)
    with tempfile.TemporaryDirectory(prefix="convnet-features-") as tmp:
        grid = draw_features(found, images, Path(tmp) / "features.png")
        png = base64.b64encode(Path(grid.path).read_bytes()).decode("ascii")
    image = f"data:image/png;base64,{png}"
    return dict(found.to_json(), run=served.id, path=None, image=image, title=grid.title,
                dataset=data.name, images=len(images))

