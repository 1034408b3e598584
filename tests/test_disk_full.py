"""A full disk (ENOSPC), a quota (EDQUOT) or a read-only file system (EROFS) anywhere in a write:
one line naming the file and why, exit 11 (WriteError, never 70), and nothing lost: the previous
file is intact, no truncated file is left, and ``--resume`` recovers every epoch.

The disk is filled by fakes: ``save_file`` writing part of a checkpoint, ``os.fsync`` failing
for one file (what a full disk does when the data are flushed), ``savefig`` writing part of a
PNG, ``Path.mkdir`` on a read-only file system.
"""

import errno
import os
import shutil
from pathlib import Path

import matplotlib.figure
import numpy as np
import pytest
import torch
from conftest import one_line
from PIL import Image

from convnet import runs
from convnet.cli import main
from convnet.runs import checkpoint


@pytest.mark.parametrize("full_at", [runs.PENDING, runs.WEIGHTS])
def test_disk_full_during_a_checkpoint_keeps_the_previous_one(tiny_run, tmp_path, monkeypatch,
                                                               capsys, full_at):
    """The disk fills while the optimizer state is written, or then while the weights are."""
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    before = runs.load_checkpoint(run)
    real_save_file = checkpoint.save_file

    def full_disk(tensors, filename, metadata=None):
        if not Path(filename).name.startswith(f".{full_at}."):
            return real_save_file(tensors, filename, metadata=metadata)
        with open(filename, "wb") as f:
            f.write(b"\0" * 100)  # a partial write, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint, "save_file", full_disk)
    code = main(["train", "--resume", str(run), "--epochs", "3", "--quiet"])
    line = one_line(capsys)
    assert code == 11
    assert f"{run / full_at}: could not write it (disk full: No space left on device)" in line
    assert "previous version" in line
    after = runs.load_checkpoint(run)
    assert after[2]["epoch"] == before[2]["epoch"] == 2
    assert all(torch.equal(before[0][k], after[0][k]) for k in before[0])
    assert after[1]["state"][0]["step"] == before[1]["state"][0]["step"]  # epoch 2's optimizer
    assert not list(run.glob(".*.tmp"))


def test_unwritable_directory_is_a_run_error(tmp_path):
    with pytest.raises(runs.RunError, match="could not write"):
        runs.write_json(tmp_path / "missing-dir" / "run.json", {})


def fsync_fails_for(name: str, on_call: int, error: int = errno.ENOSPC):
    """An os.fsync that fails with ``error`` on the ``on_call``-th flush of a file named ``name``
    (the file itself or its temporary copy)."""
    real, calls = os.fsync, []

    def fsync(fd):
        if name in os.readlink(f"/proc/self/fd/{fd}"):
            calls.append(fd)
            if len(calls) == on_call:
                raise OSError(error, os.strerror(error))
        return real(fd)
    return fsync


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="names open files via /proc")
def test_disk_full_writing_metrics_loses_no_epoch(tiny_data, tmp_path, monkeypatch, capsys):
    args = ["--epochs", "3", "--batch-size", "64", "--quiet"]
    out, straight = tmp_path / "R", tmp_path / "straight"
    assert main(["train", "lenet5", "--data", str(tiny_data), "--out", str(straight), *args]) == 0

    monkeypatch.setattr(os, "fsync", fsync_fails_for(runs.METRICS, on_call=2))  # epoch 2's row
    code = main(["train", "lenet5", "--data", str(tiny_data), "--out", str(out), *args])
    line = one_line(capsys)
    assert code == 11  # was 70, an internal error
    assert f"{out / runs.METRICS}: could not write it (disk full" in line
    assert [r["epoch"] for r in runs.read_metrics(out)] == [1]  # whole, not half a line
    monkeypatch.undo()

    assert main(["train", "--resume", str(out), "--quiet"]) == 0
    timeless = [[{k: v for k, v in r.items() if k != "seconds"} for r in runs.read_metrics(d)]
                for d in (out, straight)]
    assert timeless[0] == timeless[1]  # epoch 2's row came back from its checkpoint


def test_quota_and_read_only_file_system_are_one_line(tiny_data, tmp_path, monkeypatch, capsys):
    run = tmp_path / "ro" / "R"
    real_mkdir = Path.mkdir

    def read_only(self, *args, **kwargs):
        if str(self).startswith(str(tmp_path / "ro")):
            raise OSError(errno.EROFS, "Read-only file system")
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", read_only)
    assert main(["train", "lenet5", "--data", str(tiny_data), "--out", str(run), "--quiet"]) == 11
    assert f"{run}: could not create the folder (Read-only file system)" in one_line(capsys)
    monkeypatch.undo()

    err = OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))
    assert runs.reason(err) == f"disk full: {os.strerror(errno.EDQUOT)}"


def test_show_on_a_full_disk_leaves_no_truncated_png(tiny_run, tmp_path, monkeypatch, capsys):
    digit = np.zeros((28, 28), np.uint8)
    digit[9:11, 6:22] = 255
    Image.fromarray(digit).save(tmp_path / "digit.png")
    out = tmp_path / "show"
    assert main(["show", str(tiny_run), str(tmp_path / "digit.png"), "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.glob("*.png")}
    capsys.readouterr()

    real_savefig, calls = matplotlib.figure.Figure.savefig, []

    def full_disk_from_the_third(self, fname, *args, **kwargs):
        calls.append(fname)
        if len(calls) < 3:
            return real_savefig(self, fname, *args, **kwargs)
        Path(fname).write_bytes(b"\x89PNG\r\n\x1a\n")  # the first bytes, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", full_disk_from_the_third)
    assert main(["show", str(tiny_run), str(tmp_path / "digit.png"), "--out", str(out)]) == 11
    assert "disk full: No space left on device" in one_line(capsys)
    assert {p.name: p.read_bytes() for p in out.glob("*.png")} == before  # whole, as before
    for png in out.glob("*.png"):
        Image.open(png).verify()
    assert not list(out.glob(".*.tmp"))
