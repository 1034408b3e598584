"""The Train tab's API: start a short training from the page, or watch one, live.

    GET  /api/train/options         the models, the datasets found in the data folder, limits
    GET  /api/train/runs            the run directories under ./runs (where ``convnet train``
                                    writes), newest first, each with its status
    POST /api/train                 start a run in a background thread -> its id
    POST /api/train/{run}/pause     hold a run started from the page after its current step;
    POST /api/train/{run}/resume    ... and let it go on
    GET  /api/train/{run}/events    server-sent events as the run writes (``train_stream``)
    GET  /api/train/{run}/snapshots the first layer's filters over time (``--snapshots``)

A run started here is an ordinary run directory, made by ``train.start`` and trained by
``train.fit`` exactly as ``convnet train`` would (resumable with ``--resume``, reportable). Its
``Job`` is the loop's ``control`` (``runs.live``): rows every few steps, and after each row the
first layer's filters and one test image's probabilities, kept for every viewer to replay.
The request that starts a run checks everything first (model name or spec, the dataset in the
server's data folder, the spec against the data's shape), so bad input is one 4xx line.
"""

from __future__ import annotations

import math
import threading
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from ..config import MAX_SNAPSHOTS, TrainConfig
from ..data import DATASETS, _locate
from ..errors import ConvnetError, DataError
from ..registry import check_model_or_spec, list_models
from ..runs import read_manifest
from ..runs.files import MANIFEST
from ..runs.snapshots import first_conv, load_snapshots
from ..viz.draw import png_uri
from ..viz.evolution import strip_columns
from .train_stream import MAX_FILTERS, being_written, events

RUNS = Path("runs")  # where ``convnet train`` puts a run without --out (train.new_rundir)
MAX_EPOCHS = 20  # "a short training": the page is for watching, the terminal for long runs
MAX_JOBS = 2  # page trainings at once (running or paused); each takes the CPU's cores
MAX_VIEWS = 400  # views kept per job for late viewers; older ones are thinned, 1 in 2
ROWS = 100  # live rows (and views) for a whole page training, unless "every" says otherwise
MAX_FRAMES = 60  # snapshots sent for the page's animation (the first and last always)

router = APIRouter()
_jobs_lock = threading.Lock()


class TrainIn(BaseModel):
    model: str = Field(min_length=1, max_length=1000, description="a model name (GET "
                       "/api/train/options) or a spec line, e.g. 'conv6@5x5 relu maxpool2 fc10'")
    dataset: str = Field("mnist", description="one of the datasets found in the data folder")
    epochs: int = Field(1, ge=1, le=MAX_EPOCHS)
    limit: int | None = Field(None, ge=1, description="train on the first N images only")
    batch_size: int | None = Field(None, ge=1, le=4096, description="default: the recipe's")
    seed: int = Field(0, ge=0, le=2**31 - 1)
    snapshots: int | None = Field(20, ge=2, le=MAX_SNAPSHOTS)
    every: int | None = Field(None, ge=1, le=10_000, description="steps between live rows "
                              f"and views (default: about {ROWS} rows for the whole run)")


class Job:
    """A run trained from the page: its thread, pause switch and the views it has sent.

    It is the training loop's ``control`` (``runs.live.Control``): ``wait`` holds the loop
    while paused, ``on_row`` records the filters and the probe's probabilities.
    """

    def __init__(self, run, every: int):
        self.run, self.every = run, every
        self.status, self.error = "running", None
        self.go = threading.Event()
        self.go.set()
        self.lock = threading.Lock()
        self.views: list[tuple[int, dict]] = []  # (number, view): numbers count on when thinned
        self.made = 0  # views made so far
        self.probe = run.data.test.x[:1]  # (1, C, H, W), the first test image, normalised
        self.probe_label = int(run.data.test.y[0])
        mean, std = (torch.tensor(run.data.info[k]).view(-1, 1, 1) for k in ("mean", "std"))
        pixels = (self.probe[0].float().cpu() * std + mean).clamp(0, 1) * 255  # (C, H, W)
        self.probe_image = png_uri(pixels.round().to(torch.uint8).numpy(), scale=3)
        self.on_row(run, {"step": 0, "epoch": 0.0})  # the random initialisation

    def wait(self) -> None:
        self.go.wait()

    def set_paused(self, paused: bool) -> None:
        if self.status in ("running", "paused"):
            self.status = "paused" if paused else "running"
            (self.go.clear if paused else self.go.set)()

    @torch.no_grad()
    def on_row(self, run, row: dict) -> None:
        """In the training thread, between two updates: eval mode, no gradient, no RNG."""
        model = run.model
        was = model.training
        model.eval()
        probs = run.forward(self.probe).float().softmax(dim=1)[0].cpu()  # (1, K) -> (K,)
        model.train(was)
        name, conv = first_conv(model)
        view = {"step": row["step"], "epoch": row["epoch"], "probabilities": probs.tolist()}
        if conv is not None:
            w = conv.weight.detach().float().cpu()[:MAX_FILTERS]  # (F, C_in, kh, kw)
            view.update(layer=name, shape=list(conv.weight.shape),
                        weights=np.round(w.numpy(), 4).tolist())
        with self.lock:
            self.made += 1
            self.views.append((self.made, view))
            if len(self.views) > MAX_VIEWS:  # keep the first, thin the rest
                self.views = self.views[:1] + self.views[2::2]

    def views_since(self, seen: int) -> tuple[list[dict], int]:
        """The views made after the first ``seen`` that are still kept, and the count made."""
        with self.lock:
            return [v for n, v in self.views if n > seen], self.made

    def train(self) -> None:
        from .. import train

        try:
            train.fit(self.run)
            self.status = "finished"
        except ConvnetError as e:
            self.status, self.error = "failed", str(e).splitlines()[0]
        except Exception as e:  # noqa: BLE001 -- a bug of ours: one line for the page
            self.status, self.error = "failed", f"internal error: {type(e).__name__}: {e}"


def jobs_of(request: Request) -> dict[str, Job]:
    with _jobs_lock:
        if not hasattr(request.app.state, "train_jobs"):
            request.app.state.train_jobs = {}
        return request.app.state.train_jobs


def rundir_of(name: str) -> Path:
    """A run directory directly under ./runs, named by the page; else a one-line 404."""
    path = RUNS / name
    if "/" in name or "\\" in name or name in ("", ".", "..") or not (path / MANIFEST).is_file():
        raise HTTPException(404, f"no run {name!r} under {RUNS.resolve()}")
    return path


def run_status(path: Path, job: Job | None, manifest: dict) -> str:
    """running or paused (a page job), running (a process holds its lock), or as run.json
    says; a run.json saying running that nobody writes was stopped (resume it)."""
    if job is not None:
        return job.status
    if being_written(path):
        return "running"
    status = manifest.get("status", "?")
    return "stopped" if status == "running" else status


def probe_of(job: Job | None) -> dict:
    """The probe image of a page job (a PNG data URI) and its true class; None for others."""
    return {"probe_label": job.probe_label if job else None,
            "probe_image": job.probe_image if job else None}


def data_dir_of(request: Request) -> str | None:
    return request.app.state.data_dir


def check_data(name: str, data_dir: str | None) -> None:
    """Both splits' files are at hand (the data folder, else $CONVNET_DATA or the cache): a
    page never starts a download. Raises DataError, naming where it looked."""
    for split in ("train", "test"):
        _locate(name, split, data_dir, download=False)  # the files, not read: milliseconds


def available(data_dir: str | None) -> list[str]:
    """The known datasets whose files are at hand."""
    found = []
    for name in DATASETS:
        try:
            check_data(name, data_dir)
            found.append(name)
        except DataError:
            pass
    return found


@router.get("/api/train/options", summary="Models, the datasets at hand, and the limits")
def api_options(request: Request) -> dict:
    return {"models": list_models(), "datasets": available(data_dir_of(request)),
            "max_epochs": MAX_EPOCHS, "max_snapshots": MAX_SNAPSHOTS}


@router.get("/api/train/runs", summary="The run directories under ./runs, newest first")
def api_train_runs(request: Request) -> list[dict]:
    jobs, out = jobs_of(request), []
    folders = [p for p in RUNS.iterdir() if (p / MANIFEST).is_file()] if RUNS.is_dir() else []
    for path in sorted(folders, key=lambda p: (p / MANIFEST).stat().st_mtime, reverse=True):
        try:
            m = read_manifest(path)
        except ConvnetError:  # a broken run is left out of the list, not an error for all
            continue
        out.append({"id": path.name, "model": m["model"].get("name") or m["model"].get("spec"),
                    "dataset": m["dataset"].get("name"), "epochs": m["config"].get("epochs"),
                    "status": run_status(path, jobs.get(path.name), m),
                    "classes": m["dataset"].get("classes"), "page": path.name in jobs,
                    **probe_of(jobs.get(path.name))})
    return out


@router.post("/api/train", summary="Start a short training in the background")
def api_train(request: Request, body: TrainIn) -> dict:
    from .. import train

    jobs = jobs_of(request)
    busy = [k for k, j in jobs.items() if j.status in ("running", "paused")]
    if len(busy) >= MAX_JOBS:
        raise HTTPException(409, f"{len(busy)} trainings started here are still running or "
                            f"paused ({', '.join(busy)}); wait for one to finish")
    if body.dataset not in DATASETS:  # a folder path from a web page is not ours to read
        raise HTTPException(422, f"dataset must be one of {', '.join(DATASETS)}, "
                            f"got {body.dataset!r}")
    check_model_or_spec(body.model)
    data_dir = data_dir_of(request)
    check_data(body.dataset, data_dir)  # DataError: one 4xx line
    cfg = TrainConfig(model=body.model, dataset=body.dataset, data_dir=data_dir,
                      epochs=body.epochs, limit=body.limit, batch_size=body.batch_size,
                      seed=body.seed, snapshots=body.snapshots, progress=False,
                      out=None)
    run = train.start(cfg)  # SpecError for a spec the data cannot feed; the run's folder
    steps = math.ceil(len(run.data.train.y) / run.cfg.batch_size) * run.cfg.epochs
    job = Job(run, body.every or max(1, steps // ROWS))
    run.control = job  # read by the loop's watch (runs.live)
    jobs[run.rundir.name] = job
    threading.Thread(target=job.train, name=f"train {run.rundir.name}", daemon=True).start()
    return {"run": run.rundir.name, "rundir": str(run.rundir), "config": asdict(run.cfg),
            "classes": list(run.data.classes), "probe_label": job.probe_label}


def page_job(request: Request, name: str) -> Job:
    rundir_of(name)
    job = jobs_of(request).get(name)
    if job is None:
        raise HTTPException(409, f"run {name!r} was not started from this page: only those "
                            "can be paused (stop a terminal run with Ctrl-C, then --resume)")
    return job


@router.post("/api/train/{run}/pause", summary="Pause a training started from the page")
def api_pause(request: Request, run: str) -> dict:
    job = page_job(request, run)
    job.set_paused(True)
    return {"run": run, "status": job.status}


@router.post("/api/train/{run}/resume", summary="Let a paused training go on")
def api_resume(request: Request, run: str) -> dict:
    job = page_job(request, run)
    job.set_paused(False)
    return {"run": run, "status": job.status}


@router.get("/api/train/{run}/events", summary="Server-sent events: the run's rows as written")
def api_events(request: Request, run: str) -> StreamingResponse:
    path = rundir_of(run)
    job = jobs_of(request).get(run)
    return StreamingResponse(events(path, job, lambda m: run_status(path, job, m)),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/api/train/{run}/snapshots", summary="The first layer's filters over time")
def api_snapshots(run: str) -> dict:
    snaps = load_snapshots(rundir_of(run))
    if snaps is None or not snaps.steps:
        raise HTTPException(404, f"run {run!r} kept no snapshots (train it with --snapshots N)")
    keep = strip_columns(len(snaps.steps), MAX_FRAMES)
    snaps.steps = [snaps.steps[i] for i in keep]
    snaps.weights = [snaps.weights[i][:MAX_FILTERS] for i in keep]
    return dict(snaps.to_json(), run=run)
