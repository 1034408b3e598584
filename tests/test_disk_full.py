"""A disk that fills up mid-checkpoint: one line, a distinct exit code, the old checkpoint intact."""

import errno
import shutil

import pytest
import torch

from convnet import runs
from convnet.cli import main


def test_disk_full_during_a_checkpoint_keeps_the_previous_one(tiny_run, tmp_path, monkeypatch,
                                                               capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    before = runs.load_checkpoint(run)[0]

    def full_disk(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"\0" * 100)  # a partial write, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(runs, "save_file", full_disk)
    code = main(["train", "--resume", str(run), "--epochs", "3", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 7 and len(err) == 1
    assert "No space left on device" in err[0] and "previous version" in err[0]
    after = runs.load_checkpoint(run)[0]
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not list(run.glob(".model.safetensors.*.tmp"))


def test_unwritable_directory_is_a_run_error(tmp_path):
    with pytest.raises(runs.RunError, match="could not write"):
        runs.write_json(tmp_path / "missing-dir" / "run.json", {})
