"""The trainer: a short real-MNIST run beats 95 %, and its pieces behave as documented."""

import json
from dataclasses import asdict

import pytest
import torch

import convnet
from convnet.config import CHOICES
from convnet.data.loader import random_shift
from convnet.errors import ConvnetError
from convnet.train import TrainConfig, check_config, fit, learning_rate, loss_fn, resume, start


def test_short_real_mnist_run_beats_95_percent(mnist_run):
    rows = [json.loads(line) for line in (mnist_run / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["test_accuracy"] > 0.95
    manifest = json.loads((mnist_run / "run.json").read_text())
    assert manifest["dataset"]["files"]["train-images-idx3-ubyte.gz"].startswith("440fcabf")
    assert manifest["final"]["test_accuracy"] == rows[-1]["test_accuracy"]


def test_onecycle_warms_up_then_decays_to_zero():
    cfg = TrainConfig(lr=1.0)
    rates = [learning_rate(cfg, s, 100) for s in range(100)]
    assert rates[0] == pytest.approx(0.05)
    assert max(rates) == pytest.approx(1.0) and rates.index(1.0) == 19
    assert rates[-1] < 0.001 and all(a >= b for a, b in zip(rates[19:], rates[20:]))
    assert learning_rate(TrainConfig(lr=0.1, schedule="constant"), 57, 100) == 0.1


def test_sse_is_half_the_squared_error_of_softmax_outputs():
    logits = torch.tensor([[2.0, 0.0, -1.0]])
    p = logits.softmax(dim=1)[0]
    expected = 0.5 * ((1 - p[0]) ** 2 + p[1] ** 2 + p[2] ** 2)
    assert loss_fn(TrainConfig(loss="sse"), logits, torch.tensor([0])).item() == pytest.approx(
        expected.item())


def test_random_shift_moves_whole_images_and_fills_the_border():
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).reshape(2, 1, 6, 6) + 1
    out = random_shift(x, 2, torch.Generator().manual_seed(0), fill=-5.0)
    for i in range(2):
        kept = out[i, 0][out[i, 0] != -5.0]
        # every kept pixel keeps its neighbours: the image moved as one piece
        assert len(kept) >= 16 and set(kept.tolist()) <= set(x[i, 0].flatten().tolist())
    assert torch.equal(random_shift(x, 0, torch.Generator(), 0.0), x)
    again = random_shift(x, 2, torch.Generator().manual_seed(0), fill=-5.0)
    assert torch.equal(out, again)


@pytest.mark.parametrize("field, value, message", [
    ("epochs", 0, "--epochs must be a whole number >= 1, got 0"),
    ("batch_size", 0, "--batch-size must be a whole number >= 1, got 0"),
    ("batch_size", 2.5, "--batch-size must be a whole number >= 1, got 2.5"),
    ("limit", 0, "--limit must be a whole number >= 1, got 0"),
    ("shift", -1, "--shift must be a whole number >= 0, got -1"),
    ("distributed", 0, "--distributed must be a whole number >= 1, got 0"),
    ("lr", 0.0, "--lr must be a finite number > 0, got 0.0"),
    ("lr", -1.0, "--lr must be a finite number > 0, got -1.0"),
    ("lr", float("nan"), "--lr must be a finite number > 0, got nan"),
    ("lr", float("inf"), "--lr must be a finite number > 0, got inf"),
    ("momentum", 1.0, "--momentum must be a finite number in [0, 1), got 1.0"),
    ("weight_decay", -0.1, "--weight-decay must be a finite number >= 0, got -0.1"),
    ("label_smoothing", 2.0, "--label-smoothing must be a finite number in [0, 1), got 2.0"),
    ("schedule", "cosine", "--schedule must be onecycle or constant, got 'cosine'"),
    ("loss", "mse", "--loss must be cross-entropy or sse, got 'mse'"),
    ("optimizer", "rmsprop", "--optimizer must be sgd, momentum, nesterov or adam, got 'rmsprop'"),
    ("device", "tpu", "--device must be auto, cpu or cuda, got 'tpu'"),
    ("precision", "fp16", "--precision must be auto, fp32 or bf16, got 'fp16'"),
    ("engine", "jax", "--engine must be torch or numpy, got 'jax'"),
    ("val", 0, "--val must be a number of images (>= 1) or a fraction between 0 and 1 (e.g. "
               "0.1), got 0"),
    ("val", 1.0, "--val must be a number of images (>= 1) or a fraction between 0 and 1 (e.g. "
                 "0.1), got 1.0"),
    ("early_stop", 0, "--early-stop must be a whole number >= 1, got 0"),
])
def test_impossible_numbers_are_refused_before_any_work(field, value, message, tmp_path):
    cfg = TrainConfig(**{field: value}, data_dir=str(tmp_path / "nothing-here"),
                      out=str(tmp_path / "r"))
    with pytest.raises(ConvnetError) as e:
        start(cfg)  # the data folder is empty: reaching the reader would be a DataError
    assert str(e.value) == message and type(e.value) is ConvnetError
    assert not (tmp_path / "r").exists()  # nothing was written


def test_the_defaults_and_the_edges_of_each_range_pass():
    check_config(TrainConfig())
    check_config(TrainConfig(epochs=1, batch_size=1, limit=1, shift=0, lr=1e-9, momentum=0.0,
                             label_smoothing=0.0, weight_decay=0.0, schedule="constant"))


def test_resume_with_zero_epochs_is_refused(tiny_run):
    with pytest.raises(ConvnetError, match="--epochs"):
        resume(tiny_run, epochs=0, progress=False)


@pytest.mark.parametrize("config, message", [
    ({"early_stop": 2}, "--early-stop 2 needs a validation split to watch"),
    ({"engine": "numpy", "optimizer": "nesterov"},
     "--engine numpy supports --optimizer sgd, momentum or adam, got 'nesterov'"),
    ({"engine": "numpy", "distributed": 2}, "--distributed needs --engine torch"),
])
def test_settings_that_do_not_go_together_are_refused_before_any_work(config, message, tmp_path):
    with pytest.raises(ConvnetError, match=message):
        start(TrainConfig(**config, data_dir=str(tmp_path / "nothing-here"),
                          out=str(tmp_path / "r")))
    assert not (tmp_path / "r").exists()


def test_a_bad_loss_through_the_python_api_fails_before_run_json_is_written(tiny_data, tmp_path):
    # it used to fail at the first batch, after the run folder and its run.json were written
    for call in (lambda: start(TrainConfig(loss="hinge", data_dir=str(tiny_data),
                                           out=str(tmp_path / "r"), progress=False)),
                 lambda: convnet.fit("lenet5", data_dir=str(tiny_data), loss="hinge",
                                     out=str(tmp_path / "r"), progress=False)):
        with pytest.raises(ConvnetError, match="--loss must be cross-entropy or sse"):
            call()
        assert not (tmp_path / "r").exists()


def test_every_choice_is_accepted():
    needs = {"freeze": {"init": "runs/r"}}  # --freeze keeps another run's weights
    for name, values in CHOICES.items():
        for value in values:
            check_config(TrainConfig(**{name: value, **needs.get(name, {})}))


def test_start_resolves_a_new_config_and_leaves_the_callers_alone(tiny_data, tmp_path):
    cfg = TrainConfig(data_dir=str(tiny_data), epochs=1, limit=64, precision="auto",
                      out=str(tmp_path / "r"), progress=False)
    before = asdict(cfg)
    run = start(cfg)
    fit(run)
    assert asdict(cfg) == before  # precision "auto" and the recipe were resolved in a copy
    assert run.cfg.precision == "fp32" and run.cfg.optimizer == "adam"
    saved = json.loads((tmp_path / "r" / "run.json").read_text())["config"]
    assert saved["precision"] == "fp32"  # run.json records what ran
