"""``convnet train --engine numpy``: the NumPy engine trains with the same batches, schedule and
losses as torch, and writes the same checkpoints (oracle: a torch-engine run, same seed).

Tiny data, 128-256 images, one or two epochs: seconds on a laptop core.
"""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import convnet
from convnet import recipes, runs, train
from convnet.cli import main
from conftest import fit_until_first_epoch


def config(tiny_data, out, **kw) -> train.TrainConfig:
    base = {"data_dir": str(tiny_data), "epochs": 1, "batch_size": 32, "limit": 256, "shift": 0,
            "out": str(out), "progress": False}
    return train.TrainConfig(**{**base, **kw})


def weights(rundir) -> dict[str, torch.Tensor]:
    return load_file(rundir / runs.WEIGHTS)  # a plain state_dict


def max_diff(a, b) -> torch.Tensor:
    """|a - b| for every weight, as one flat tensor."""
    assert a.keys() == b.keys()
    return torch.cat([(a[k] - b[k]).abs().flatten() for k in a])


def test_cli_numpy_run_writes_metrics_and_a_loadable_checkpoint(tiny_data, tmp_path, capsys):
    out = tmp_path / "np"
    code = main(["train", "lenet5", "--data", str(tiny_data), "--engine", "numpy", "--limit",
                 "128", "--batch-size", "32", "--epochs", "1", "--out", str(out), "--quiet",
                 "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["epoch"] == 1 and 0 <= result["test_accuracy"] <= 1
    assert [r["epoch"] for r in runs.read_metrics(out)] == [1]
    assert runs.read_manifest(out)["config"]["engine"] == "numpy"
    image = np.zeros((28, 28), np.uint8)
    image[8:10, 6:22] = 255
    prediction = convnet.load(out).predict(image)
    assert prediction.label in [str(k) for k in range(10)]
    assert 0 <= prediction.probability <= 1


def test_sgd_epoch_matches_the_torch_engine(tiny_data, tmp_path):
    runs_ = {e: tmp_path / e for e in ("torch", "numpy")}
    for engine, out in runs_.items():
        train.fit(train.start(config(tiny_data, out, engine=engine, optimizer="momentum",
                                     lr=0.05)))
    assert max_diff(weights(runs_["torch"]), weights(runs_["numpy"])).max() < 1e-4
    rows = [runs.read_metrics(out)[0] for out in runs_.values()]
    assert rows[0]["train_loss"] == pytest.approx(rows[1]["train_loss"], abs=1e-5)


def test_adam_epoch_matches_the_torch_engine_but_for_vanishing_gradients(tiny_data, tmp_path):
    """Adam moves every weight by about lr * m / sqrt(v), ±lr when a gradient is float32 noise
    (~1e-9, rounded differently by the two engines): so a few weights differ by up to the
    learning rate while all the others, and the losses, agree."""
    runs_ = {e: tmp_path / e for e in ("torch", "numpy")}
    for engine, out in runs_.items():
        train.fit(train.start(config(tiny_data, out, engine=engine)))
    diff = max_diff(weights(runs_["torch"]), weights(runs_["numpy"]))
    assert (diff > 1e-4).float().mean() < 0.05
    lr = recipes.KIND_RECIPES["digits"]["lr"]  # the run's: LeNet-5 on digits
    assert diff.max() < 2 * 10 * lr  # never more than lr per step (8 steps)
    rows = [runs.read_metrics(out)[0] for out in runs_.values()]
    assert rows[0]["train_loss"] == pytest.approx(rows[1]["train_loss"], abs=1e-3)


def test_numpy_resume_equals_an_uninterrupted_numpy_run(tiny_data, tmp_path, monkeypatch):
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    train.fit(train.start(config(tiny_data, straight, engine="numpy", epochs=2, limit=128)))
    fit_until_first_epoch(train.start(config(tiny_data, stopped, engine="numpy", epochs=2,
                                             limit=128)), monkeypatch)
    state = load_file(stopped / runs.OPTIMIZER)
    assert state["0.step"].item() == 4 and "0.exp_avg_sq" in state  # Adam moments
    train.fit(train.resume(stopped, progress=False))
    assert max_diff(weights(straight), weights(stopped)).max() == 0


def test_torch_run_resumes_with_the_numpy_engine_state(tiny_data, tmp_path):
    """A torch checkpoint's Adam moments load into the NumPy optimizer (and back)."""
    out = tmp_path / "t"
    run = train.start(config(tiny_data, out, limit=64))
    train.fit(run)
    trainer = train.numpy_trainer(replace(run.cfg, engine="numpy"), run.model, run.optimizer)
    first = next(iter(trainer.opt.m))
    assert trainer.opt.t == 2
    assert np.array_equal(trainer.opt.m[first],
                          run.optimizer.state[dict(run.model.named_parameters())[first]]
                          ["exp_avg"].numpy())


def test_unknown_engine_is_one_line_error(tiny_data, tmp_path):
    with pytest.raises(convnet.ConvnetError, match="--engine must be torch or numpy, got 'jax'"):
        train.fit(train.start(config(tiny_data, tmp_path / "x", engine="jax", limit=64)))
