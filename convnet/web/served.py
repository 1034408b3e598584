"""The runs ``convnet serve`` holds, and what every request about one of them reads first.

A run given on the command line is loaded once, when the app is created (a bad RUNDIR fails
there, not on a click); runs trained meanwhile are loaded the same way by ``discover``. A
request names a run by id (the directory's name) and sends an image, decoded no larger than the
run's preprocessing needs and prepared as the network sees it.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from fastapi import HTTPException, Request
from pydantic import BaseModel, Field

from ..data.preprocess import decode_keep
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
    # which load this is: an answer cached under it is not this run's after a reload (discover)
    serial: int = field(default_factory=itertools.count().__next__)

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
    """Load every run once; ids are directory names (``name-2`` ... when two share one).
    No RUNDIR is no run: the page opens on its Train tab (``discover`` adds runs later)."""
    served: dict[str, Served] = {}
    for rundir in rundirs:
        run_id = free_id(Path(rundir), served)
        served[run_id] = load_run(Path(rundir), run_id)
    return served


def free_id(path: Path, served: dict[str, Served]) -> str:
    """The run's directory name, or ``name-2``, ``name-3`` ... when another run has it."""
    base, n = path.resolve().name or "run", 1
    run_id = base
    while run_id in served:
        n += 1
        run_id = f"{base}-{n}"
    return run_id


def load_run(path: Path, run_id: str) -> Served:
    """One run as every tab reads it: its predictor, layer graph and manifest (RunError if bad)."""
    from ..runs import read_manifest

    predictor = Predictor.from_run(path)
    return Served(run_id, path, predictor, layer_graph(predictor.model), read_manifest(path))


NO_RUN = ("no trained run yet: start one on the Train tab, or run `convnet train lenet5` "
          "(the page lists it once it has saved its first checkpoint)")


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
    """The run a request names (``create_app`` keeps them in ``app.state.runs``); else a 404.

    A name not served yet may be a run that has just saved its first checkpoint: the runs are
    looked for again once (``discover``) before the 404.
    """
    from .discover import refresh_runs  # discover loads runs with load_run, from here

    runs: dict[str, Served] = request.app.state.runs
    if run_id not in runs:
        runs = refresh_runs(request.app)
    if run_id not in runs:
        raise HTTPException(404, f"unknown run {run_id!r}; serving {', '.join(runs)}" if runs
                            else NO_RUN)
    return runs[run_id]


def prepared(request: Request, body: ImageIn) -> tuple[Served, np.ndarray]:
    """The run and the request's image as its network sees it, (C, H, W)."""
    run = get_run(request, body.run)
    return run, run.predictor.prepare(run.decode(body.image), body.invert)  # (C, H, W)
