"""RUNDIR/model.safetensors is a plain state_dict; the optimizer state has its own file (issue 15,
trap 2), the two never paired across checkpoints, and runs of the older one-file layout still
load, predict, export and resume.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import one_line
from fake_runs import to_legacy_layout
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from convnet import runs, train
from convnet.cli import main
from convnet.models import Network
from convnet.registry import create_model
from convnet.runs import checkpoint


def copy(run: Path, to: Path) -> Path:
    shutil.copytree(run, to)
    return to


def weights(rundir: Path) -> dict:
    return runs.load_checkpoint(rundir, with_optimizer=False)[0]


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def resume(rundir: Path, epochs: int) -> Path:
    train.fit(train.resume(rundir, epochs=epochs, progress=False))
    return rundir


def test_the_weights_file_is_a_plain_state_dict(tiny_run):
    state = load_file(tiny_run / runs.WEIGHTS)
    net = create_model("lenet5")
    net.load_state_dict(state)  # strict: every key, nothing else
    again = Network.from_spec(net.spec, (1, 32, 32))
    again.load_state_dict(state)
    x = torch.randn(2, 1, 32, 32)
    assert torch.equal(net.eval()(x), again.eval()(x))
    assert torch.equal(net(x), runs.load_model(tiny_run)[0](x))

    optim = load_file(tiny_run / runs.OPTIMIZER)  # Adam's moments, torch.optim's names
    assert {k.split(".", 1)[1] for k in optim} == {"step", "exp_avg", "exp_avg_sq"}
    with safe_open(tiny_run / runs.WEIGHTS, "pt") as w, \
            safe_open(tiny_run / runs.OPTIMIZER, "pt") as o:
        assert w.metadata()["optimizer_id"] == o.metadata()["id"]
        assert json.loads(w.metadata()["meta"])["epoch"] == 2
    assert not (tiny_run / runs.PENDING).exists()


def test_save_weights_writes_what_load_state_dict_takes(tmp_path):
    net = create_model("resnet20")
    runs.save_weights(tmp_path / "best.safetensors", net, {"epoch": 3})
    other = create_model("resnet20")
    other.load_state_dict(load_file(tmp_path / "best.safetensors"))
    assert same(net.state_dict(), other.state_dict())


def test_a_run_in_the_old_one_file_layout_loads_predicts_exports_and_resumes(
        tiny_run, tmp_path, digit, capsys):
    old = copy(tiny_run, tmp_path / "old")
    to_legacy_layout(old)
    names = set(load_file(old / runs.WEIGHTS))
    assert {n.split(".")[0] for n in names} == {"model", "optim"}
    assert not (old / runs.OPTIMIZER).exists()

    assert same(weights(old), weights(tiny_run))
    for argv in (["predict", old, digit, "--backend", "torch"],
                 ["export", old, "--out", tmp_path / "old.onnx"],
                 ["evaluate", old]):
        assert main([str(a) for a in argv]) == 0, argv
    capsys.readouterr()

    # Resumed, it continues exactly as the new layout does, and is written in the new layout.
    resume(old, 3)
    new = resume(copy(tiny_run, tmp_path / "new"), 3)
    assert same(weights(old), weights(new))
    assert same(load_file(old / runs.OPTIMIZER), load_file(new / runs.OPTIMIZER))
    create_model("lenet5").load_state_dict(load_file(old / runs.WEIGHTS))


@pytest.mark.parametrize("stop", ["before-commit", "after-commit"])
def test_a_kill_between_the_two_writes_resumes_exactly(tiny_run, tmp_path, monkeypatch, stop):
    """Epoch 3's checkpoint stops after its optimizer state is written, either before the
    weights (the commit) or after them, before the rename; resuming gives the weights of an
    uninterrupted run (same --epochs: the learning-rate schedule spans them)."""
    run = copy(tiny_run, tmp_path / "run")
    target = "save_weights" if stop == "before-commit" else "atomic_rename"
    real = getattr(checkpoint, target)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, target, killed)
    with pytest.raises(KeyboardInterrupt):
        resume(run, 4)  # killed in its first checkpoint, epoch 3's
    monkeypatch.setattr(checkpoint, target, real)
    assert (run / runs.PENDING).is_file()
    assert runs.load_checkpoint(run)[2]["epoch"] == (2 if stop == "before-commit" else 3)

    resume(run, 4)
    straight = resume(copy(tiny_run, tmp_path / "straight"), 4)
    assert same(weights(run), weights(straight))
    assert not (run / runs.PENDING).exists()
    assert [r["epoch"] for r in runs.read_metrics(run)] == [1, 2, 3, 4]


def test_weights_and_optimizer_of_different_checkpoints_are_refused(tiny_run, tmp_path, digit,
                                                                    capsys):
    run = copy(tiny_run, tmp_path / "run")
    later = resume(copy(tiny_run, tmp_path / "later"), 3)
    shutil.copy(later / runs.OPTIMIZER, run / runs.OPTIMIZER)  # epoch 3's state, epoch 2's weights
    assert main(["train", "--resume", str(run), "--epochs", "4", "--quiet"]) == 7
    line = one_line(capsys)
    assert f"{run / runs.OPTIMIZER}: no optimizer state for the weights" in line
    assert "(epoch 2)" in line
    assert main(["predict", str(run), str(digit), "--backend", "torch"]) == 0  # readers: weights


def test_a_damaged_optimizer_state_is_refused(tiny_run, tmp_path, capsys):
    run = copy(tiny_run, tmp_path / "run")
    path = run / runs.OPTIMIZER
    tensors = load_file(path)
    with safe_open(path, "pt") as f:
        header = f.metadata()
    tensors["0.exp_avg"] = tensors["0.exp_avg"] + 1  # same id, other numbers
    save_file(tensors, path, metadata=header)
    assert main(["train", "--resume", str(run), "--epochs", "3", "--quiet"]) == 7
    assert "its tensors are not the state its id names" in one_line(capsys)


@pytest.mark.parametrize("tensor, shape, words", [
    ("junk", (2,), "unknown tensor 'junk'"),
    ("0.exp_avg", (100_000,), "larger than any weight"),
])
def test_optimizer_tensors_are_checked_before_they_are_read(tiny_run, tmp_path, tensor, shape,
                                                            words):
    run = copy(tiny_run, tmp_path / "run")
    path = run / runs.OPTIMIZER
    tensors = load_file(path)
    with safe_open(path, "pt") as f:
        header = f.metadata()
    tensors[tensor] = torch.zeros(shape)
    save_file(tensors, path, metadata=header)
    with pytest.raises(runs.RunError, match=words):
        runs.load_checkpoint(run)
