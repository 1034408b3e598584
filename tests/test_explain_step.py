"""`convnet explain train-step`: one gradient-descent step moves the output toward the target."""

import json

import numpy as np
import pytest
import torch
from fake_runs import photo_run
from PIL import Image

from convnet.cli import main
from convnet.explain_step import explain_train_step, step_error


@pytest.fixture
def digit(tmp_path):
    a = np.zeros((28, 28), np.uint8)
    a[6:22, 12:16] = 255
    path = tmp_path / "one.png"
    Image.fromarray(a).save(path)
    return path


def test_total_error_is_half_the_squared_difference():
    p = torch.tensor([[0.2, 0.7, 0.1]])
    assert step_error(p, 1, "sse").item() == pytest.approx(0.5 * (0.04 + 0.09 + 0.01))
    assert step_error(p, 1, "cross-entropy").item() == pytest.approx(-np.log(0.7))


def test_the_step_is_plain_gradient_descent():
    from convnet import create_model

    torch.manual_seed(1)
    net = create_model("lenet5")
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.randn(1, 1, 32, 32)
    net.zero_grad()
    step_error(net.probabilities(x), 2, "sse").backward()
    grads = {f"{k}": p.grad.clone() for k, p in net.named_parameters()}
    result = explain_train_step(net, x, 2, list("0123456789"), lr=0.3)
    for name, p in net.named_parameters():
        assert torch.allclose(p, before[name] - 0.3 * grads[name], atol=1e-6)
    row = next(r for r in result["parameters"] if r["parameter"] == "head.fc3.weight")
    assert row["update_norm"] == pytest.approx(0.3 * row["gradient_norm"])
    assert result["after"]["error"] < result["before"]["error"]


def test_cli_train_step_on_a_run(tiny_run, digit, capsys):
    assert main(["explain", "train-step", str(tiny_run), str(digit), "--target", "1",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["after"]["target_probability"] > result["before"]["target_probability"]
    assert sum(result["before"]["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert main(["explain", "train-step", str(tiny_run), str(digit), "--target", "1"]) == 0
    text = capsys.readouterr().out
    assert "3. total error for target 1: E = ½Σ(target − output)²" in text
    assert "head.fc1.weight" in text


def test_cli_train_step_bad_target(tiny_run, digit, capsys):
    assert main(["explain", "train-step", str(tiny_run), str(digit), "--target", "cat"]) == 1
    assert "not a class of this model" in capsys.readouterr().err


@pytest.fixture
def photo(tmp_path):
    """An untrained seed4 run with named classes (dog, cat, ship, bird), and a colour photo."""
    path = tmp_path / "boat.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), np.uint8)).save(path)
    return photo_run(tmp_path), path


@pytest.mark.parametrize("target", ["ship", "Ship", "2", "boat", "BOAT"])
def test_target_by_class_name_or_index(photo, capsys, target):
    rundir, image = photo
    assert main(["explain", "train-step", str(rundir), str(image), "--target", target,
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["target"] == "ship"
    assert list(result["before"]["probabilities"]) == ["dog", "cat", "ship", "bird"]


def test_unknown_class_name_lists_the_valid_ones(photo, capsys):
    rundir, image = photo
    assert main(["explain", "train-step", str(rundir), str(image), "--target", "giraffe"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "'giraffe' is not a class" in err
    assert "dog, cat, ship, bird" in err and "0..3" in err


@pytest.mark.parametrize("model, target, name", [("seed4", "boat", "boat"),
                                                 ("seed4", "Bird", "bird"),
                                                 ("lenet5", "7", "7")])
def test_an_untrained_model_takes_the_tutorials_class_names(photo, capsys, model, target, name):
    """seed4's four outputs are the tutorials' dog, cat, boat, bird; other models' are digits."""
    _, image = photo
    assert main(["explain", "train-step", model, str(image), "--target", target, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)  # the whole of stdout
    assert result["target"] == name and name in result["before"]["probabilities"]
    assert "random values (--seed 0)" in result["initialised"]


def test_filter_values_before_and_after_are_w_minus_lr_grad(photo, capsys):
    _, image = photo
    assert main(["explain", "train-step", "seed4", str(image), "--target", "boat", "--lr", "0.5",
                 "--json"]) == 0
    values = json.loads(capsys.readouterr().out)["values"]
    assert len(values) == 4 and values[0]["index"] == [0, 0, 0, 0]
    assert all(v["parameter"] == "features.conv1.weight" for v in values)
    grads = [abs(v["gradient"]) for v in values]
    assert grads[-1] == max(grads) > 0  # the last: the layer's largest |gradient|
    for v in values:
        assert v["after"] == pytest.approx(v["before"] - 0.5 * v["gradient"], rel=1e-6, abs=1e-9)
        assert v["after"] != v["before"]


def test_the_values_shown_are_the_models_own(digit):
    from convnet import create_model

    torch.manual_seed(3)
    net = create_model("lenet5")
    w0 = net.features.conv1.weight.detach().clone()
    result = explain_train_step(net, torch.randn(1, 1, 32, 32), 4, list("0123456789"), lr=0.2)
    for v in result["values"]:
        i = tuple(v["index"])
        assert v["before"] == w0[i].item() and v["after"] == net.features.conv1.weight[i].item()


def test_text_numbers_the_steps_as_the_tutorials(photo, capsys):
    _, image = photo
    assert main(["explain", "train-step", "seed4", str(image), "--target", "boat"]) == 0
    out = capsys.readouterr().out
    starts = [line.split(" ", 1)[0] for line in out.splitlines() if line[:1].isdigit()]
    assert starts == ["1.", "2.", "3.", "4.", "5."]
    for words in ("1. initialise", "2. forward propagation", "3. total error for target boat",
                  "4. backpropagation", "5. repeat", "w_new = w − lr·∂E/∂w",
                  "features.conv1.weight[0, 0, 0, 0]"):
        assert words in out, words


@pytest.mark.parametrize("argv, code, words", [
    (["--target", "boat", "--lr", "-1"], 1, "--lr must be a finite number > 0, got -1.0"),
    (["--target", "boat", "--lr", "nan"], 1, "--lr must be a finite number > 0"),
    (["--target", "9"], 1, "'9' is not a class"),
    (["--target", "boat", "--seed", "-1"], 1, "--seed must be a whole number"),
    (["--target", "boat", "--lr", "1e308"], 8, "--lr 1e+308 is too large"),
    ([], 2, "--target"),
])
def test_bad_train_step_input_is_one_line(photo, capsys, argv, code, words):
    _, image = photo
    got = None
    try:
        got = main(["explain", "train-step", "seed4", str(image), *argv])
    except SystemExit as e:  # argparse: a usage error
        got = e.code
    out, err = capsys.readouterr()
    assert got == code and out == "" and err.count("\n") == 1 and words in err, err
