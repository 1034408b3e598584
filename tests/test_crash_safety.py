"""A real ``kill -9`` in the middle of a checkpoint write: the previous checkpoint survives intact,
a half-written temporary file is never mistaken for a checkpoint, and ``--resume`` finishes the
run with weights identical to an uninterrupted one.

The training runs in a real subprocess (``python WRAPPER -m convnet ...`` style): a small wrapper
script makes the SECOND checkpoint write slow and observable (half the bytes written to the
temporary file, then a marker file, then a 60 s sleep), so the SIGKILL is sure to land mid-write.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from convnet import runs, train
from convnet.cli import main

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")

WRAPPER = '''
import os, sys, time
from pathlib import Path
import safetensors.torch
import convnet.runs as runs
from convnet.cli import main

marker, calls = Path(sys.argv[1]), []

def slow_save_file(tensors, filename, metadata=None):
    calls.append(filename)
    data = safetensors.torch.save(tensors, metadata=metadata)
    if len(calls) < 2:
        Path(filename).write_bytes(data)
        return
    with open(filename, "wb") as f:  # the 2nd checkpoint: half of it, then hang
        f.write(data[:len(data) // 2])
        f.flush()
        os.fsync(f.fileno())
    marker.write_text(str(filename))
    time.sleep(60)
    raise SystemExit("the test should have killed this process")

runs.save_file = slow_save_file  # runs.save_checkpoint calls save_file through this name
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
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the 2nd checkpoint write never started"
            time.sleep(0.05)
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

    # The previous checkpoint is intact: epoch 1, loadable, and what was logged.
    weights, optim, meta = runs.load_checkpoint(out)
    assert meta == {"epoch": 1} and optim and weights
    assert [r["epoch"] for r in runs.read_metrics(out)] == [1]

    # Resume ignores the leftover (and its first checkpoint removes it), then finishes.
    assert main(["train", "--resume", str(out), "--quiet"]) == 0
    assert runs.load_checkpoint(out)[2] == {"epoch": 3}
    assert [r["epoch"] for r in runs.read_metrics(out)] == [1, 2, 3]
    assert not list(out.glob("*.tmp"))

    straight = tmp_path / "straight"
    train.fit(train.start(train.TrainConfig(model="lenet5", data_dir=str(tiny_data), epochs=3,
                                            batch_size=32, out=str(straight), progress=False)))
    a, b = model_weights(out), model_weights(straight)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
