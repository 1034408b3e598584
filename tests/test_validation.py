"""--val, --early-stop and the best checkpoint: a seeded hold-out chooses the model, not the test
set."""

import json

import pytest
import torch
from safetensors.torch import load_file

import convnet
from convnet import runs, train, validation
from convnet.cli import main
from convnet.errors import ConvnetError
from convnet.registry import create_model
from conftest import fit_until_first_epoch


def config(tiny_data, out, **kw) -> train.TrainConfig:
    base = {"data_dir": str(tiny_data), "epochs": 3, "batch_size": 64, "val": 0.25,
            "out": str(out), "progress": False}
    return train.TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def val_run(tiny_data, tmp_path_factory):
    """A finished 3-epoch lenet5 run holding out a quarter of the 600 tiny training images."""
    out = tmp_path_factory.mktemp("val") / "run"
    result = train.fit(train.start(config(tiny_data, out)))
    return out, result


def test_the_held_out_images_depend_on_the_seed_only_and_are_not_trained_on():
    keep, held = validation.hold_out(600, 0.25, seed=3)
    again_keep, again_held = validation.hold_out(600, 0.25, seed=3)
    assert torch.equal(held, again_held) and torch.equal(keep, again_keep)
    assert len(held) == 150 and len(keep) == 450
    assert not set(keep.tolist()) & set(held.tolist())
    assert not torch.equal(validation.hold_out(600, 0.25, seed=4)[1], held)
    assert len(validation.hold_out(600, 37, seed=0)[1]) == 37  # a count of images


def test_a_val_split_as_large_as_the_training_set_is_refused_before_any_file(tiny_data, tmp_path):
    with pytest.raises(ConvnetError, match="--val 600 holds out 600 images but the training set "
                                           "has only 600"):
        train.start(config(tiny_data, tmp_path / "r", val=600))
    assert not (tmp_path / "r").exists()


def test_rows_gain_val_metrics_and_keep_the_test_contract(val_run):
    out, _ = val_run
    rows = runs.read_metrics(out)
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    for r in rows:
        assert 0 <= r["val_accuracy"] <= 1 and r["val_loss"] > 0
        assert {"test_accuracy", "test_loss", "train_loss", "seconds"} <= r.keys()
    dataset = json.loads((out / "run.json").read_text())["dataset"]
    assert (dataset["train_size"], dataset["val_size"]) == (450, 150)


def test_the_best_epochs_weights_are_kept_as_a_plain_state_dict(val_run, tiny_data):
    out, result = val_run
    rows = runs.read_metrics(out)
    best = max(rows, key=lambda r: (r["val_accuracy"], -r["val_loss"]))
    assert result["epoch"] == best["epoch"] and result["chosen_by"] == "val_accuracy"
    assert result["test_accuracy"] == best["test_accuracy"]  # the chosen model's test score
    net = create_model("lenet5")
    net.load_state_dict(load_file(out / validation.BEST))  # a PyTorch user's way in
    # evaluated again, the kept weights give the chosen epoch's validation accuracy
    saved = json.loads((out / "run.json").read_text())["dataset"]
    data = train.load_data(config(tiny_data, out), net.input_shape, torch.device("cpu"),
                           (saved["mean"], saved["std"]))
    _, val_acc, _ = train.evaluate_split(train.TrainConfig(), net, data.val)
    assert val_acc == pytest.approx(best["val_accuracy"])


def test_early_stop_ends_the_run_after_patience_epochs_without_a_better_score(tiny_data,
                                                                              tmp_path,
                                                                              monkeypatch):
    # a validation score that only gets worse after epoch 1: patience 2 stops after epoch 3
    scores = iter([(0.5, 0.9), (0.9, 0.5), (1.0, 0.4), (1.1, 0.3), (1.2, 0.2)])
    real = train.evaluate_split

    def evaluate_split(cfg, model, split, **kw):
        if split is run.data.val:
            loss, acc = next(scores)
            return loss, acc, None
        return real(cfg, model, split, **kw)

    run = train.start(config(tiny_data, tmp_path / "r", epochs=5, early_stop=2))
    monkeypatch.setattr(train, "evaluate_split", evaluate_split)
    result = train.fit(run)
    assert [r["epoch"] for r in runs.read_metrics(tmp_path / "r")] == [1, 2, 3]
    assert result["stopped_early"] and result["epoch"] == 1 and result["epochs_run"] == 3
    line = validation.summary_line(result)
    assert "with epoch 1's weights, chosen on the validation split" in line
    assert "after 3 epochs, stopped early" in line


def test_resume_of_a_val_run_equals_an_uninterrupted_one(tiny_data, tmp_path, monkeypatch):
    straight = tmp_path / "straight"
    train.fit(train.start(config(tiny_data, straight, epochs=2, limit=256)))
    stopped = tmp_path / "stopped"
    fit_until_first_epoch(train.start(config(tiny_data, stopped, epochs=2, limit=256)),
                          monkeypatch)
    train.fit(train.resume(stopped, progress=False))
    a, b = runs.read_metrics(straight), runs.read_metrics(stopped)
    drop = ("seconds",)
    assert [{k: v for k, v in r.items() if k not in drop} for r in a] == \
           [{k: v for k, v in r.items() if k not in drop} for r in b]
    for name in (runs.WEIGHTS, validation.BEST):
        x, y = load_file(straight / name), load_file(stopped / name)
        assert x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)


def test_the_cli_summary_says_which_split_chose_the_model(tiny_data, tmp_path, capsys):
    code = main(["train", "lenet5", "--data", str(tiny_data), "--epochs", "1", "--val", "64",
                 "--batch-size", "64", "--limit", "256", "--out", str(tmp_path / "r"),
                 "--quiet"])
    assert code == 0
    out = capsys.readouterr().out
    assert "chosen on the validation split" in out and "best.safetensors" in out
    code = main(["train", "lenet5", "--data", str(tiny_data), "--epochs", "1", "--limit", "128",
                 "--out", str(tmp_path / "s"), "--quiet"])
    assert code == 0 and "no validation split chose it" in capsys.readouterr().out


def test_the_fit_api_model_holds_the_chosen_weights(tiny_data, tmp_path):
    run = convnet.fit("lenet5", data_dir=str(tiny_data), epochs=2, batch_size=64, val=100,
                      early_stop=1, out=str(tmp_path / "r"), progress=False)
    best = load_file(run.path / validation.BEST)
    assert all(torch.equal(v, best[k]) for k, v in run.model.state_dict().items())
    assert run.result["epoch"] == validation.best_row(run.history)["epoch"]


def test_two_ranks_stop_early_together_and_fit_reads_the_run_back(tiny_data, tmp_path):
    # rank 0 alone evaluates; the other rank learns of the stop through an all-reduce (a rank
    # left in the next epoch would wait for its partner forever)
    run = convnet.fit("lenet5", data_dir=str(tiny_data), epochs=4, batch_size=64, val=100,
                      early_stop=1, optimizer="momentum", lr=0.05, distributed=2,
                      out=str(tmp_path / "r"), progress=False)
    rows = run.history
    assert [r["epoch"] for r in rows] == list(range(1, run.result["epochs_run"] + 1))
    assert validation.should_stop(rows, 1) == run.result["stopped_early"]
    assert run.result["stopped_early"] or len(rows) == 4
    assert run.config.distributed == 2 and run.result["epoch"] == validation.best_row(rows)["epoch"]
    best = load_file(run.path / validation.BEST)
    assert all(torch.equal(v, best[k]) for k, v in run.model.state_dict().items())
