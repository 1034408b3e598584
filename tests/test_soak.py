"""Soak: train, checkpoint, resume, predict over and over in one process must not leak file
descriptors or memory (issue 7). Linux only: it reads /proc/self."""

import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convnet.cli import main

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self")

ROUNDS = 8
# Measured on the 2-core development machine (torch 2.13.0 CPU), 10 rounds, 3 runs: RSS grew by
# 0.1-0.3 MB from round 2 to round 10 standalone and by up to 2.6 MB inside pytest (allocator
# noise; round 1 pays one-off costs: lazy imports, torch's kernel caches). A deliberate leak
# that keeps every loaded dataset alive (~2.6 MB per round here) grew it by 21.8 MB over the same
# rounds, ~16 MB from round 2 to round 8. 8 MB sits between the two: 3x the noise seen, and
# half of what that leak adds.
RSS_TOLERANCE_MB = 8


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_train_resume_predict_loop_leaks_no_fds_or_memory(tiny_data, tmp_path, capsys):
    image = tmp_path / "digit.png"
    a = np.zeros((28, 28), np.uint8)
    a[9:11, 6:22] = 255
    Image.fromarray(a).save(image)
    common = ["--data", str(tiny_data), "--limit", "128", "--batch-size", "64", "--quiet"]
    rss, fds = [], []
    for k in range(ROUNDS):
        out = tmp_path / f"r{k}"
        assert main(["train", "lenet5", *common, "--epochs", "1", "--out", str(out)]) == 0
        assert main(["train", "--resume", str(out), "--epochs", "2", "--quiet"]) == 0
        assert main(["predict", str(out), str(image), "--json"]) == 0
        capsys.readouterr()
        shutil.rmtree(out)
        rss.append(rss_mb())
        fds.append(open_fds())
    print(f"soak: RSS MB per round {[round(r, 1) for r in rss]}, fds {fds}", file=sys.stderr)
    assert fds == [fds[0]] * ROUNDS, fds
    assert rss[-1] - rss[1] < RSS_TOLERANCE_MB, rss
