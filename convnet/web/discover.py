"""Runs that appear while ``convnet serve`` is up: the Train tab's trainings and, when serve was
given no RUNDIR, every run folder under ./runs (where ``convnet train`` and the Train tab write).

A new run is served once it has saved its first checkpoint (``train.fit`` writes one after every
epoch, before the epoch's metrics row, so the Train tab's "epoch" event means it is there). It
is loaded by ``served.load_run``, as the runs given on the command line are, so every tab
computes the same numbers for it; and loaded again when its run.json or weights change (the
next epoch, the final test accuracy), so the page shows what ``convnet predict`` would use now.
Runs given on the command line are loaded once and never replaced, as before.

``refresh_runs`` is called by ``GET /api/runs`` (the page's run chooser) and by a request naming
a run not served yet (``served.get_run``): a directory listing and a few ``stat`` calls.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI

from ..errors import ConvnetError
from ..runs.files import BEST, MANIFEST, WEIGHTS
from .served import Served, free_id, load_run


@dataclass
class Watch:
    """Where new runs may appear, and what was found there."""

    folder: Path | None  # ./runs when serve was given no RUNDIR; None: the page's runs only
    seen: dict[Path, tuple] = field(default_factory=dict)  # resolved dir -> its files' stamps
    ids: dict[Path, str] = field(default_factory=dict)  # resolved dir -> its id, once loaded
    lock: threading.Lock = field(default_factory=threading.Lock)  # one look at a time: two
    #   at once would load a run twice


def stamps(path: Path) -> tuple | None:
    """When run.json and the weights files last changed; None before the first checkpoint.

    Example:
        >>> stamps(Path("no/such/run")) is None
        True
    """
    times = []
    for name in (MANIFEST, WEIGHTS, BEST):
        try:
            times.append((path / name).stat().st_mtime_ns)
        except OSError:
            times.append(None)
    return None if times[0] is None or times[1:] == [None, None] else tuple(times)


def candidates(app: FastAPI, watch: Watch) -> list[Path]:
    """The page's trainings, then (watching ./runs) its folders, newest first."""
    jobs = getattr(app.state, "train_jobs", {})  # training.jobs_of makes it on the first start
    paths = [job.run.rundir for job in list(jobs.values())]
    if watch.folder is None:
        return paths
    try:  # a folder deleted or unreadable meanwhile is a folder without runs, not an error
        found = {p: (p / MANIFEST).stat().st_mtime for p in watch.folder.iterdir()
                 if (p / MANIFEST).is_file()}
    except OSError:
        return paths
    return paths + sorted(found, key=found.get, reverse=True)


def refresh_runs(app: FastAPI) -> dict[str, Served]:
    """Serve the runs that have saved a checkpoint since the last look; the runs now served.

    ``app.state.runs`` is replaced, never changed in place: a request reading it meanwhile
    keeps a whole dict. A run that fails to load (half-copied, broken) is left out and tried
    again when its files change.
    """
    watch: Watch = app.state.watch
    with watch.lock:
        runs = dict(app.state.runs)
        given = {r.path.resolve() for r in runs.values()} - set(watch.ids)
        for path in candidates(app, watch):
            key = path.resolve()
            now = stamps(path)
            if key in given or now is None or watch.seen.get(key) == now:
                continue
            watch.seen[key] = now
            run_id = watch.ids.get(key) or free_id(path, runs)
            try:
                runs[run_id] = load_run(path, run_id)
            except (ConvnetError, OSError):
                continue
            watch.ids[key] = run_id
        app.state.runs = runs
        return runs
