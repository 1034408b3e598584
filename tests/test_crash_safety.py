"""A real ``kill -9`` in the middle of a checkpoint write: the previous checkpoint survives intact,
a half-written temporary file is never mistaken for a checkpoint, and ``--resume`` finishes the
run with weights identical to an uninterrupted one. A run killed (or Ctrl-C'd) before its first
checkpoint is no dead end: ``--resume`` starts it from its seeded beginning and a new ``train``
into it replaces it, both giving the uninterrupted run's weights.

The training runs in a real subprocess (``python WRAPPER -m convnet ...`` style): a small wrapper
script makes the SECOND checkpoint's weights write slow and observable (half the bytes written to
the temporary file, then a marker file, then a 60 s sleep), so the SIGKILL is sure to land
mid-write, after that checkpoint's optimizer state was written (optimizer.pending.safetensors).
"""

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import wait_for_file
from convnet import runs, train
from convnet.cli import main

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")

WRAPPER = '''
import os, sys, time
from pathlib import Path
import safetensors.torch
import convnet.runs.checkpoint as checkpoint
from convnet.cli import main

marker, calls = Path(sys.argv[1]), []

def slow_save_file(tensors, filename, metadata=None):
    weights = Path(filename).name.startswith(".model.safetensors.")
    if weights:
        calls.append(filename)
    data = safetensors.torch.save(tensors, metadata=metadata)
    if not weights or len(calls) < 2:
        Path(filename).write_bytes(data)
        return
    with open(filename, "wb") as f:  # the 2nd checkpoint: half of it, then hang
        f.write(data[:len(data) // 2])
        f.flush()
        os.fsync(f.fileno())
    marker.write_text(str(filename))
    time.sleep(60)
    raise SystemExit("the test should have killed this process")

checkpoint.save_file = slow_save_file  # runs.save_checkpoint calls save_file through this name
sys.exit(main(sys.argv[2:]))
'''


def model_weights(rundir: Path) -> dict:
    return runs.load_checkpoint(rundir)[0]


def test_kill_9_mid_checkpoint_keeps_the_previous_one_and_resume_finishes(tiny_data, tmp_path):
    wrapper, marker, out = tmp_path / "slow_save.py", tmp_path / "writing", tmp_path / "R"
    wrapper.write_text(WRAPPER)
    argv = ["train", "lenet5", "--data", str(tiny_data), "--epochs", "3", "--batch-size", "32",
            "--out", str(out), "--quiet"]
    proc = subprocess.Popen([sys.executable, str(wrapper), str(marker), *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for_file(marker, proc, "the 2nd checkpoint write")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL

    # The half-written temporary file is still there, and it really is half a checkpoint.
    temps = sorted(out.glob(f".{runs.WEIGHTS}.*.tmp"))
    assert [str(t) for t in temps] == [marker.read_text()]
    assert 0 < temps[0].stat().st_size

    # The previous checkpoint is intact: epoch 1, loadable, and what was logged; epoch 2's
    # optimizer state, written whole before the weights, is not taken for epoch 1's.
    weights, optim, meta = runs.load_checkpoint(out)
    assert meta["epoch"] == meta["metrics"]["epoch"] == 1 and optim and weights
    assert [r["epoch"] for r in runs.read_metrics(out)] == [1]
    assert (out / runs.PENDING).is_file() and optim["state"][0]["step"].item() > 0
    epoch_1_steps = optim["state"][0]["step"].item()
    assert load_file(out / runs.PENDING)["0.step"].item() == 2 * epoch_1_steps

    # Resume ignores the leftover (and its first checkpoint removes it), then finishes.
    assert main(["train", "--resume", str(out), "--quiet"]) == 0
    assert runs.load_checkpoint(out)[2]["epoch"] == 3
    assert [r["epoch"] for r in runs.read_metrics(out)] == [1, 2, 3]
    assert not list(out.glob("*.tmp")) and not (out / runs.PENDING).exists()

    straight = tmp_path / "straight"
    train.fit(train.start(train.TrainConfig(model="lenet5", data_dir=str(tiny_data), epochs=3,
                                            batch_size=32, out=str(straight), progress=False)))
    a, b = model_weights(out), model_weights(straight)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


HANG_BEFORE_FIRST_CHECKPOINT = '''
import sys, time
from pathlib import Path
import convnet.runs as runs
from convnet.cli import main

marker = Path(sys.argv[1])

def hang(*args, **kwargs):  # epoch 1 trained, nothing written yet: the kill lands here
    marker.write_text("epoch 1 trained")
    time.sleep(120)

runs.save_checkpoint = hang
sys.exit(main(sys.argv[2:]))
'''

ARGS = ["--epochs", "2", "--batch-size", "64", "--quiet"]


def straight_run(tiny_data, out: Path) -> Path:
    assert main(["train", "lenet5", "--data", str(tiny_data), "--out", str(out), *ARGS]) == 0
    return out


def same_weights(a: Path, b: Path) -> bool:
    wa, wb = model_weights(a), model_weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_kill_9_in_the_first_epoch_resumes_or_is_replaced(tiny_data, tmp_path):
    wrapper, marker, out = tmp_path / "hang.py", tmp_path / "trained", tmp_path / "R"
    wrapper.write_text(HANG_BEFORE_FIRST_CHECKPOINT)
    proc = subprocess.Popen([sys.executable, str(wrapper), str(marker), "train", "lenet5",
                             "--data", str(tiny_data), "--out", str(out), *ARGS],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_file(marker, proc, "the end of epoch 1")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (out / runs.MANIFEST).is_file() and not (out / runs.WEIGHTS).exists()
    again = tmp_path / "again"
    shutil.copytree(out, again)
    straight = straight_run(tiny_data, tmp_path / "straight")

    assert main(["train", "--resume", str(out), "--quiet"]) == 0  # was: "no weights file"
    assert same_weights(out, straight)
    assert [r["epoch"] for r in runs.read_metrics(out)] == [1, 2]

    with pytest.warns(UserWarning, match="stopped before its first checkpoint; starting it"):
        assert main(["train", "lenet5", "--data", str(tiny_data), "--out", str(again),
                     *ARGS]) == 0  # was: "already holds a run: use --resume"
    assert same_weights(again, straight)


def test_ctrl_c_in_the_first_epoch_resumes_from_the_start(tiny_data, tmp_path, monkeypatch):
    out, steps = tmp_path / "R", []
    real_step = train.torch_step

    def interrupted(*args, **kwargs):
        steps.append(1)
        if len(steps) == 3:
            raise KeyboardInterrupt
        return real_step(*args, **kwargs)

    monkeypatch.setattr(train, "torch_step", interrupted)
    assert main(["train", "lenet5", "--data", str(tiny_data), "--out", str(out), *ARGS]) == 130
    monkeypatch.setattr(train, "torch_step", real_step)
    assert not (out / runs.WEIGHTS).exists()
    assert main(["train", "--resume", str(out), "--quiet"]) == 0
    assert same_weights(out, straight_run(tiny_data, tmp_path / "straight"))


def test_a_run_with_a_checkpoint_is_never_replaced(tiny_run, tmp_path, tiny_data, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    (run / runs.METRICS).unlink()  # the checkpoint alone makes it a run to resume
    before = (run / runs.WEIGHTS).read_bytes()
    assert main(["train", "lenet5", "--data", str(tiny_data), "--out", str(run), *ARGS]) == 7
    assert "already holds a run: use --resume" in capsys.readouterr().err
    assert (run / runs.WEIGHTS).read_bytes() == before
