"""A run's progress as server-sent events, read from its directory as the trainer writes it.

Each viewer gets its own stream (any number may watch one run). Every ``POLL_S`` the stream
sends what is new since it last looked:

    event: row       a line of RUNDIR/live.jsonl (step, epoch, training loss and accuracy)
    event: epoch     a line of RUNDIR/metrics.jsonl (train/test loss and accuracy per epoch)
    event: view      a page-started run's filters and probe probabilities (``training.Job``)
    event: filters   a terminal run's latest first-layer filters (its newest snapshot, else
                     its checkpoint's)
    event: status    running, paused, finished, failed or stopped (+ the error line)
    event: reset     a resume rewrote the files: forget the rows, they come again
    event: end       the run is over and everything was sent; the stream closes

A new viewer gets the whole history first, so a late one draws the same curves. Only lines
that end in a newline are sent (a line being written waits for the next look).

Example:
    >>> sse("row", {"step": 1})
    'event: row\\ndata: {"step": 1}\\n\\n'
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open

from ..errors import ConvnetError
from ..runs import build_model, read_manifest
from ..runs.files import LIVE, LOCK, METRICS, SNAPSHOTS, WEIGHTS, fcntl
from ..runs.snapshots import first_conv, load_snapshots

POLL_S = 0.25  # how often a stream looks at the files: curves move 4 times a second
DONE = ("finished", "failed", "stopped")
MAX_FILTERS = 16  # first-layer filters sent per view: two rows of the page's grid


def sse(event: str, data) -> str:
    """One server-sent event: its name and one line of JSON."""
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


class Tail:
    """The complete lines added to a JSON-lines file since the last ``read``."""

    def __init__(self, path: Path):
        self.path, self.offset = path, 0

    def read(self) -> tuple[list[dict], bool]:
        """(new rows, whether the file was rewritten shorter: then all rows again)."""
        try:
            with open(self.path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                reset = size < self.offset
                if reset:
                    self.offset = 0
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return [], False
        end = data.rfind(b"\n") + 1  # a line still being written waits
        self.offset += end
        rows = [json.loads(line) for line in data[:end].splitlines() if line.strip()]
        return rows, reset


def being_written(rundir: Path) -> bool | None:
    """Whether a process holds the run's lock (``runs.RunLock``); None where flock is not."""
    if fcntl is None:
        return None
    try:
        fd = os.open(Path(rundir) / LOCK, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # granted: nobody holds it
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops our test lock, never the writer's


class Watcher:
    """What one viewer has been sent of one run, and what to send next."""

    def __init__(self, rundir: Path, job, status_of: Callable[[dict], str]):
        self.rundir, self.job, self.status_of = rundir, job, status_of
        self.tails = {"row": Tail(rundir / LIVE), "epoch": Tail(rundir / METRICS)}
        self.views_seen, self.snap_mtime, self.status = 0, None, None
        self.first: str | None = None  # the first learned convolution's name

    def news(self) -> tuple[list[str], bool]:
        """The events due now, and whether the run is over (after them)."""
        status = self.current_status()  # first: a run over has written all its rows
        out = []
        for event, tail in self.tails.items():
            rows, reset = tail.read()
            if reset:
                out.append(sse("reset", {"file": tail.path.name}))
            out += [sse(event, row) for row in rows]
        out += self.job_views() if self.job else self.snapshot()
        if status != self.status:
            self.status = status
            out.append(sse("status", {"status": status,
                                      "error": getattr(self.job, "error", None)}))
        return out, status in DONE

    def current_status(self) -> str:
        try:
            return self.status_of(read_manifest(self.rundir))
        except ConvnetError:  # run.json being replaced this instant: say it next time
            return self.status or "running"

    def job_views(self) -> list[str]:
        views, self.views_seen = self.job.views_since(self.views_seen)
        return [sse("view", v) for v in views]

    def snapshot(self) -> list[str]:
        """A terminal run's newest filters when they change: its newest snapshot
        (``--snapshots``), else its checkpoint's (once an epoch)."""
        snapped = (self.rundir / SNAPSHOTS).is_file()
        path = self.rundir / (SNAPSHOTS if snapped else WEIGHTS)
        try:
            mtime = path.stat().st_mtime_ns
            if mtime == self.snap_mtime:
                return []
            step, layer, weight = self.newest_snapshot() if snapped else self.checkpoint()
        except (ConvnetError, OSError, SafetensorError, KeyError):  # being replaced: next time
            return []
        self.snap_mtime = mtime
        return [sse("filters", {"step": step, "layer": layer, "shape": list(weight.shape),
                                "weights": weight[:MAX_FILTERS].numpy().round(4).tolist()})]

    def newest_snapshot(self) -> tuple[int, str, torch.Tensor]:
        snaps = load_snapshots(self.rundir)
        return snaps.steps[-1], snaps.layer, snaps.weights[-1]

    def checkpoint(self) -> tuple[int | None, str, torch.Tensor]:
        """The first learned convolution's weight in model.safetensors (its name: the model
        rebuilt once from run.json); the step is unknown (the rows tell the epoch)."""
        if self.first is None:
            self.first = first_conv(build_model(read_manifest(self.rundir)["model"]))[0]
        with safe_open(str(self.rundir / WEIGHTS), "pt") as f:
            return None, self.first, f.get_tensor(f"{self.first}.weight").float()


async def events(rundir: Path, job, status_of: Callable[[dict], str]) -> AsyncIterator[str]:
    """The stream of one viewer (see the module docstring); ends after the run is over."""
    watcher = Watcher(rundir, job, status_of)
    yield "retry: 2000\n\n"  # a dropped connection is retried after 2 s
    while True:
        out, over = await asyncio.to_thread(watcher.news)  # file reads off the event loop
        for event in out:
            yield event
        if over:
            yield sse("end", {"status": watcher.status})
            return
        await asyncio.sleep(POLL_S)
