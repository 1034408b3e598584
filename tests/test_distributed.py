"""Data-parallel training: 2 CPU processes with gloo give the single-process result."""

import json

import pytest
import torch

from convnet import distributed, runs
from convnet.errors import ConvnetError
from convnet.train import TrainConfig, fit, start, train_config


def weights(rundir):
    return runs.load_checkpoint(rundir)[0]


# 70: every 600-image epoch ends on 40, and 35 splits oddly; 599: the last batch is 1 image, so
# rank 1 gets none and must still join the all-reduce (with zero gradients, not a NaN loss).
@pytest.mark.parametrize("batch_size", [64, 70, 599])
def test_two_gloo_ranks_match_one_process(tiny_data, tmp_path, batch_size):
    # SGD with momentum: its update is linear in the gradient, so the rounding of a gradient sum
    # split in two stays at rounding level. (Adam divides by sqrt(v): where a gradient is pure
    # rounding noise, its sign decides a full-size step, and runs drift apart by up to ~lr.)
    cfg = {"data_dir": str(tiny_data), "epochs": 2, "batch_size": batch_size, "progress": False,
           "optimizer": "momentum", "lr": 0.05}
    single = fit(start(TrainConfig(**cfg, out=str(tmp_path / "single"))))
    double = distributed.launch(train_config, TrainConfig(**cfg, out=str(tmp_path / "ddp")), 2)

    one, two = weights(tmp_path / "single"), weights(tmp_path / "ddp")
    assert one.keys() == two.keys()
    for name in one:  # same maths; the gradient sum is split in two, so rounding differs
        torch.testing.assert_close(two[name], one[name], rtol=1e-5, atol=1e-6, msg=name)
    assert double["test_accuracy"] == pytest.approx(single["test_accuracy"], abs=0.011)
    assert double["train_loss"] == pytest.approx(single["train_loss"], rel=1e-4)
    manifest = json.loads((tmp_path / "ddp" / runs.MANIFEST).read_text())
    assert manifest["config"]["distributed"] == 2 and manifest["status"] == "finished"
    assert len(runs.read_metrics(tmp_path / "ddp")) == 2  # rank 0 alone wrote the metrics


def test_shard_weights_make_the_global_mean():
    x, y = torch.arange(7.0).view(7, 1), torch.arange(7)
    for size, rank in [(2, 0), (2, 1)]:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("WORLD_SIZE", str(size))
            mp.setenv("RANK", str(rank))
            _, ys, w = distributed.shard(x, y)
        assert len(ys) == (4 if rank == 0 else 3)
        assert w == pytest.approx(len(ys) * 2 / 7)  # mean over ranks of w * mean_r = global mean


def test_a_bad_config_fails_with_one_line_from_the_ranks(tiny_data, tmp_path):
    cfg = TrainConfig(model="nosuchmodel", data_dir=str(tiny_data), out=str(tmp_path / "x"))
    with pytest.raises(ConvnetError, match="nosuchmodel"):
        distributed.launch(train_config, cfg, 2)
