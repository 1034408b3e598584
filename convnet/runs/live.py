"""Watching a run learn: loss and accuracy every few steps, filter snapshots, pause and resume.

The training loop makes one call per update, ``watch.step(...)``. It appends a row to
RUNDIR/live.jsonl about once a second (``--snapshots``: also the filters, ``runs.snapshots``),
so a page can draw the curves growing while ``convnet train`` runs in a terminal:

    RUNDIR/live.jsonl   {"step": 120, "epoch": 0.256, "loss": 0.41, "accuracy": 0.88}, one a
                        line: the mean loss and accuracy of the training batches since the row
                        before; "step" counts updates since the start of the run

A row is one ``write`` of a whole line; readers use only lines that end in a newline.

A run started from the page (``convnet.web.training``) also carries a ``control``: it sets how
many steps apart rows are, sees each row with the model in hand (filters, a probe image's
probabilities), and holds the loop while the page has it paused. The loop's arithmetic is the
same with or without watchers: they read the weights in eval mode between updates, under
``no_grad``, and consume no random numbers.

Example:
    >>> from io import StringIO
    >>> rows = StringIO('{"step": 1}\\n{"step": 2}\\n{"st')
    >>> read_rows(rows)   # the last line is still being written
    [{'step': 1}, {'step': 2}]
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Protocol

import torch

from ..errors import WriteError
from .files import LIVE, reason
from .snapshots import SnapshotTaker

ROW_SECONDS = 1.0  # at most one row a second without a control: the .item() it costs syncs a
                   # GPU, which once a second does not slow it (every step would)


class Control(Protocol):
    """What a watcher that drives the run provides (``convnet.web.training.Job``)."""

    every: int  # steps between rows

    def wait(self) -> None: ...  # returns when the run may go on (raises to stop it)

    def on_row(self, run, row: dict) -> None: ...  # in the training thread, model in hand


def read_rows(f) -> list[dict]:
    """The complete lines of a JSON-lines file object (a line still being written is left)."""
    return [json.loads(line) for line in f.read().splitlines(keepends=True)
            if line.endswith("\n") and line.strip()]


class Watch:
    """The loop's one hook: ``step`` after every update (rank 0 writes; other ranks pass)."""

    def __init__(self, run, steps: int, numpy_engine=None):
        self.run, self.steps, self.numpy = run, steps, numpy_engine
        self.control: Control | None = getattr(run, "control", None)
        self.active = run.rank == 0
        done = run.start_epoch * steps
        self.snapshots = (SnapshotTaker(run.rundir, run.model, run.cfg.snapshots,
                                        run.cfg.epochs * steps, done)
                          if self.active and getattr(run.cfg, "snapshots", None) else None)
        self.loss = self.correct = None  # sums since the last row, as device tensors
        self.seen, self.last = 0, time.perf_counter()
        if self.active:
            self._trim(done)

    def step(self, step: int, loss_sum: torch.Tensor, correct: torch.Tensor, count: int):
        """After update number ``step`` (1-based, counted from the start of the run), whose batch
        of ``count`` images had summed loss ``loss_sum`` and ``correct`` right answers (the
        loop's own tensors: nothing is recomputed or synced here unless a row is due)."""
        if not self.active:
            return
        self.loss = loss_sum if self.loss is None else self.loss + loss_sum
        self.correct = correct if self.correct is None else self.correct + correct
        self.seen += count
        if self.snapshots and self.snapshots.wants(step):
            if self.numpy:  # the NumPy engine holds the weights until it syncs them back
                self.numpy.sync()
            self.snapshots.take(step)
        if self._row_due(step):
            self._write_row(step)
        if self.control:
            self.control.wait()

    def _row_due(self, step: int) -> bool:
        if self.control:
            return step % max(1, self.control.every) == 0 or step % self.steps == 0
        return time.perf_counter() - self.last >= ROW_SECONDS or step % self.steps == 0

    def _write_row(self, step: int) -> None:
        loss = self.loss.item() / self.seen
        row = {"step": step, "epoch": round(step / self.steps, 4),
               "loss": loss if math.isfinite(loss) else None,  # JSON has no NaN; the loop stops
               "accuracy": self.correct.item() / self.seen}
        self.loss = self.correct = None
        self.seen, self.last = 0, time.perf_counter()
        path = self.run.rundir / LIVE
        try:
            with open(path, "a") as f:
                f.write(json.dumps(row) + "\n")
        except OSError as e:
            raise WriteError(f"{path}: could not add a row ({reason(e)})") from None
        if self.control:
            self.control.on_row(self.run, row)

    def _trim(self, done: int) -> None:
        """Start live.jsonl afresh, or (resumed) without the rows past the checkpoint."""
        path = Path(self.run.rundir) / LIVE
        kept = []
        if done and path.is_file():
            with open(path) as f:
                kept = [r for r in read_rows(f) if r.get("step", 0) <= done]
        try:
            path.write_text("".join(json.dumps(r) + "\n" for r in kept))
        except OSError as e:
            raise WriteError(f"{path}: could not start it ({reason(e)})") from None
