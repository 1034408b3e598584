"""A run directory is written by one process, never replaced by another command, and resumed
only as itself (issue 12, data loss).

- lock: a second ``train --out``/``--resume`` of a run that a live process is writing stops
  with one line (exit 7); readers take no lock; a killed writer leaves no stale lock.
- refusals: no command's --out replaces a run's own files, a symlink, a pipe or a read-only
  file (exit 11, the file intact); a new file gets the usual permissions, not mkstemp's 0600.
- resume: changed flags and other data are refused with one line naming them; the flags that
  may change (--epochs, --data with the same bytes, --device, --quiet, --json) are accepted.
"""

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import one_line, synthetic_digits, wait_for_file, write_idx_split
from PIL import Image

from convnet import runs
from convnet.cli import main
from convnet.errors import RunError, WriteError

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs flock and SIGKILL")

HANG_AFTER_EPOCH_1 = '''
import sys, time
from pathlib import Path
import convnet.runs as runs
from convnet.cli import main

marker, real_append = Path(sys.argv[1]), runs.append_metrics

def append_then_hang(rundir, row):  # epoch 1 is fully written, then the process keeps the run
    real_append(rundir, row)
    marker.write_text("epoch 1 written")
    time.sleep(120)

runs.append_metrics = append_then_hang
sys.exit(main(sys.argv[2:]))
'''


def snapshot(rundir: Path) -> dict:
    """The bytes of a run's own files (what must not change)."""
    return {n: (rundir / n).read_bytes() for n in (runs.MANIFEST, runs.METRICS, runs.WEIGHTS)}


@pytest.fixture
def run_copy(tiny_run, tmp_path) -> Path:
    path = tmp_path / "run"
    shutil.copytree(tiny_run, path)
    return path


# ----------------------------------------------------------------------------- one writer

def test_a_run_being_written_by_a_live_process_is_refused_to_a_second(tiny_data, tmp_path,
                                                                       capsys, digit):
    wrapper, marker, out = tmp_path / "hang.py", tmp_path / "written", tmp_path / "R"
    wrapper.write_text(HANG_AFTER_EPOCH_1)
    argv = ["train", "lenet5", "--data", str(tiny_data), "--epochs", "3", "--batch-size", "64",
            "--out", str(out), "--quiet"]
    proc = subprocess.Popen([sys.executable, str(wrapper), str(marker), *argv],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_file(marker, proc, "the end of epoch 1")
        before = snapshot(out)
        for second in (["train", "--resume", str(out), "--epochs", "4", "--quiet"], argv):
            assert main(second) == 7
            line = one_line(capsys)
            assert "being written by another convnet process" in line and str(out) in line
        assert snapshot(out) == before  # the second process wrote nothing
        assert main(["predict", str(out), str(digit), "--backend", "torch"]) == 0  # readers
        capsys.readouterr()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    # The kernel dropped the killed process's lock: the run resumes (no stale lock).
    assert main(["train", "--resume", str(out), "--quiet"]) == 0
    assert [r["epoch"] for r in runs.read_metrics(out)] == [1, 2, 3]


def test_one_lock_per_run_folder_and_free_once_released(tmp_path):
    first = runs.RunLock(tmp_path)
    with pytest.raises(RunError, match="being written by another convnet process"):
        runs.RunLock(tmp_path)
    assert (tmp_path / runs.LOCK).read_text().strip() == str(os.getpid())
    first.release()
    runs.RunLock(tmp_path).release()  # free again


# ----------------------------------------------------------------------------- never replaced

@pytest.mark.parametrize("name", [runs.WEIGHTS, runs.MANIFEST, runs.METRICS, runs.LOCK])
def test_export_never_replaces_a_runs_own_file(run_copy, name, capsys):
    (run_copy / runs.LOCK).write_text("")
    before = snapshot(run_copy)
    assert main(["export", str(run_copy), "--out", str(run_copy / name)]) == 11
    line = one_line(capsys)
    assert f"{run_copy / name} is the run's own {name}" in line
    assert snapshot(run_copy) == before


@pytest.mark.parametrize("argv", [
    lambda run, tmp: ["report", run, "--out", run / runs.MANIFEST],
    lambda run, tmp: ["evaluate", run, "--plot", run / runs.WEIGHTS],
], ids=["report-out-manifest", "evaluate-plot-weights"])
def test_other_commands_never_replace_a_runs_own_file(run_copy, tmp_path, argv, capsys):
    before = snapshot(run_copy)
    assert main([str(a) for a in argv(run_copy, tmp_path)]) == 11
    assert "is the run's own" in one_line(capsys)
    assert snapshot(run_copy) == before


def non_regular(tmp_path: Path, kind: str) -> Path:
    """A symlink to a file, a named pipe, or a read-only file, each at tmp_path/out.onnx."""
    path = tmp_path / "out.onnx"
    if kind == "symlink":
        (tmp_path / "precious").write_text("keep me")
        path.symlink_to(tmp_path / "precious")
    elif kind == "pipe":
        os.mkfifo(path)
    else:
        path.write_text("keep me")
        path.chmod(0o444)
    return path


@pytest.mark.parametrize("kind,words", [("symlink", "is a symlink, not a regular file"),
                                        ("pipe", "is a pipe or socket, not a regular file"),
                                        ("read-only", "is read-only; convnet will not replace")])
def test_export_never_replaces_what_is_not_a_writable_regular_file(tiny_run, tmp_path, kind,
                                                                   words, capsys):
    path = non_regular(tmp_path, kind)
    before = os.lstat(path)
    assert main(["export", str(tiny_run), "--out", str(path)]) == 11
    assert words in one_line(capsys)
    after = os.lstat(path)
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)
    if kind != "pipe":
        assert path.read_text() == "keep me"


def test_atomic_write_refuses_from_every_caller(tmp_path):
    path = non_regular(tmp_path, "symlink")
    with pytest.raises(WriteError, match="symlink"):
        runs.atomic_write(path, lambda tmp: Path(tmp).write_text("x"))
    assert path.is_symlink() and path.read_text() == "keep me"


@pytest.mark.parametrize("command", ["show", "kernels"])
def test_an_out_folder_that_is_a_file_is_one_line(tiny_run, tmp_path, digit, command, capsys):
    (tmp_path / "taken").write_text("a file")
    argv = ([command, str(tiny_run), str(digit)] if command == "show" else [command, str(digit)])
    assert main([*argv, "--out", str(tmp_path / "taken")]) == 11
    assert "is a file, not a folder" in one_line(capsys)
    assert (tmp_path / "taken").read_text() == "a file"


def test_written_files_get_the_usual_permissions_and_keep_a_replaced_files(tmp_path):
    umask = os.umask(0o022)
    try:
        runs.atomic_write(tmp_path / "new.txt", lambda tmp: Path(tmp).write_text("x"))
        (tmp_path / "old.txt").write_text("old")
        (tmp_path / "old.txt").chmod(0o640)
        runs.atomic_write(tmp_path / "old.txt", lambda tmp: Path(tmp).write_text("new"))
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o644  # mkstemp: 0o600
    assert stat.S_IMODE((tmp_path / "old.txt").stat().st_mode) == 0o640
    assert (tmp_path / "old.txt").read_text() == "new"


# ----------------------------------------------------------------------------- resume as itself

@pytest.mark.parametrize("flags,named", [
    (["--lr", "0.1"], "--lr 0.1 differs from the run's 0.008"),
    (["--seed", "3"], "--seed 3 differs from the run's 0"),
    (["--batch-size", "32"], "--batch-size 32 differs from the run's 64"),
    (["--dataset", "fashion-mnist"], "--dataset fashion-mnist differs from the run's mnist"),
    (["lenet5-1998"], "MODEL lenet5-1998 differs from the run's lenet5"),
    (["--optimizer", "sgd"], "--optimizer sgd differs from the run's adam"),
    (["--limit", "100"], "--limit 100 differs from the run's None"),
    (["--no-flip"], None),  # the run's own value (digits are never flipped): accepted
])
def test_resume_refuses_flags_that_would_change_the_run(run_copy, flags, named, capsys):
    before = snapshot(run_copy)
    code = main(["train", *flags, "--resume", str(run_copy), "--quiet"])
    if named is None:
        assert code == 0
        return
    assert code == 7
    line = one_line(capsys)
    assert named in line and "may change only --epochs, --data" in line
    assert snapshot(run_copy) == before


def test_resume_accepts_the_flags_that_may_change(run_copy, tiny_data, tmp_path, capsys):
    moved = tmp_path / "moved-data"
    shutil.copytree(tiny_data, moved)  # the same bytes elsewhere
    assert main(["train", "--resume", str(run_copy), "--epochs", "3", "--data", str(moved),
                 "--device", "cpu", "--seed", "0", "--out", str(run_copy), "--quiet",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["epoch"] == 3
    assert json.loads((run_copy / runs.MANIFEST).read_text())["config"]["data_dir"] == str(moved)


def test_resume_refuses_other_data_under_the_same_names(run_copy, tiny_data, tmp_path, capsys):
    other = tmp_path / "other"
    shutil.copytree(tiny_data, other)
    write_idx_split(other / "mnist", "train", *synthetic_digits(600, seed=99))
    before = snapshot(run_copy)
    assert main(["train", "--resume", str(run_copy), "--epochs", "3", "--data", str(other),
                 "--quiet"]) == 7
    line = one_line(capsys)
    assert "the data are not the run's: train-images-idx3-ubyte.gz has other bytes" in line
    assert snapshot(run_copy) == before  # the recorded checksums too


def test_resume_and_from_manifest_together_is_one_line(run_copy, capsys):
    assert main(["train", "--resume", str(run_copy), "--from-manifest",
                 str(run_copy / runs.MANIFEST), "--quiet"]) == 1
    assert "not both" in one_line(capsys)


def test_train_help_says_what_a_resume_may_change(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "Only --epochs (to extend it), --data (the same files: checksums are compared)" in text


def test_metrics_that_disagree_with_the_checkpoint_are_refused(run_copy, capsys):
    rows = runs.read_metrics(run_copy)
    runs.write_metrics(run_copy, rows[1:])  # epoch 1 lost (edited by hand)
    assert main(["train", "--resume", str(run_copy), "--epochs", "3", "--quiet"]) == 7
    assert "has epochs [2] but the checkpoint is at epoch 2" in one_line(capsys)
