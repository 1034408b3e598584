"""The runs ``convnet serve`` holds, and what every request about one of them reads first.

A run is loaded once, when the app is created (a bad RUNDIR fails there, not on a click); a
request names it by id (the directory's name) and sends an image, decoded no larger than the
run's preprocessing needs and prepared as the network sees it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from fastapi import HTTPException, Request
from pydantic import BaseModel, Field

from ..data.preprocess import decode_keep
from ..errors import RunError
from ..predict import Predictor
from .images import decode_image
from .layers import LayerInfo, layer_graph


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
                "weights": getattr(self.predictor, "weights", None),  # best or last epoch's
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


def get_run(request: Request, run_id: str) -> Served:
    """The run a request names (``create_app`` keeps them in ``app.state.runs``); else a 404."""
    runs: dict[str, Served] = request.app.state.runs
    if run_id not in runs:
        raise HTTPException(404, f"unknown run {run_id!r}; serving {', '.join(runs)}")
    return runs[run_id]


def prepared(request: Request, body: ImageIn) -> tuple[Served, np.ndarray]:
    """The run and the request's image as its network sees it, (C, H, W)."""
    run = get_run(request, body.run)
    return run, run.predictor.prepare(run.decode(body.image), body.invert)  # (C, H, W)
