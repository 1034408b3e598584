"""A third round of hostile input over the CLI (every command but ``serve``): each case is one
line on stderr with its documented exit code, never a traceback, a hang or a wrong number."""

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from conftest import cli
from convnet import runs
from convnet.explain.pool import elementwise_kinds, explain_elementwise
from fake_runs import CIFAR_NAMES, fake_run


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


def test_a_blank_digit_names_its_file_among_many(capsys, tiny_run, digit, tmp_path):
    """predict over several files: the one without ink is named in its error line and entry."""
    Image.new("L", (40, 40), 255).save(tmp_path / "white.png")
    code, out, err = cli(capsys, "predict", tiny_run, digit, tmp_path / "white.png", "--json")
    rows = json.loads(out)
    assert code == 6 and str(tmp_path / "white.png") in one_error_line(err)
    assert rows[0]["label"] and str(tmp_path / "white.png") in rows[1]["error"]


def test_features_refuses_a_huge_top_at_once(capsys, tiny_run, tmp_path):
    """--top 100000 drew a 100,000-column grid for minutes; now one line before any work."""
    code, out, err = cli(capsys, "features", tiny_run, "--top", "100000",
                         "--out", tmp_path / "f.png")
    assert code == 1 and "--top" in one_error_line(err) and "100000" in err and out == ""
    assert not (tmp_path / "f.png").exists()


@pytest.mark.parametrize("kind", elementwise_kinds())
def test_every_listed_activation_kind_explains(kind):
    """explain activation lists only kinds it can apply to a bare matrix (bn was exit 70)."""
    assert len(explain_elementwise([[-1.0, 2.0]], kind)["output"][0]) == 2


def test_explain_activation_bn_is_one_spec_error(capsys):
    code, out, err = cli(capsys, "explain", "activation", "--kind", "bn")
    assert code == 3 and "'bn'" in one_error_line(err) and out == ""


def with_bad_weight(tiny_run, tmp_path, value: float):
    """A copy of the run whose first weight holds ``value`` at one position."""
    rundir = tmp_path / "bad"
    shutil.copytree(tiny_run, rundir)
    path = rundir / runs.WEIGHTS
    with safe_open(path, "pt") as f:
        meta = f.metadata()
    tensors = load_file(path)
    name = next(k for k, v in tensors.items() if v.is_floating_point())
    tensors[name].view(-1)[0] = value
    save_file(tensors, path, metadata=meta)
    return rundir, name


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
@pytest.mark.parametrize("command", [["predict", "{run}", "{digit}"], ["evaluate", "{run}"],
                                     ["export", "{run}", "--out", "{tmp}/m.onnx"]])
def test_weights_that_are_not_finite_are_refused(capsys, tiny_run, digit, tmp_path, value,
                                                 command):
    """NaN or infinite weights printed 'nan' probabilities with exit 0, or a 10 % accuracy."""
    rundir, name = with_bad_weight(tiny_run, tmp_path, value)
    argv = [a.format(run=rundir, digit=digit, tmp=tmp_path) for a in command]
    code, out, err = cli(capsys, *argv)
    assert code == 7 and name in one_error_line(err) and out == ""


def test_evaluate_refuses_a_dataset_of_other_classes(capsys, tiny_data, tmp_path):
    """A CIFAR run evaluated on MNIST (10 classes each) printed digits as 'airplane'..."""
    rundir = fake_run(tmp_path, "cifar", "lenet5", CIFAR_NAMES, [0.5], [0.25],
                      dataset="cifar10", config={"data_dir": str(tiny_data)})
    code, out, err = cli(capsys, "evaluate", rundir, "--dataset", "mnist", "--data", tiny_data)
    line = one_error_line(err)
    assert code == 4 and "airplane" in line and "'0'" in line and out == ""


def test_evaluate_accepts_a_dataset_of_the_same_classes(capsys, tiny_run, tiny_data):
    code, out, err = cli(capsys, "evaluate", tiny_run, "--dataset", "mnist", "--data", tiny_data,
                         "--json")
    assert code == 0 and json.loads(out)["images"] == 200 and "error" not in err


def test_finite_weights_still_load(tiny_run):
    model, _ = runs.load_model(tiny_run)
    assert all(torch.isfinite(v).all() for v in model.state_dict().values()
               if v.is_floating_point())
    assert np.isfinite(model.logits(torch.zeros(1, 1, 32, 32)).detach().numpy()).all()


@pytest.mark.parametrize("image", [np.zeros((0, 0), np.uint8), np.zeros((0, 5, 3), np.uint8),
                                   Image.new("RGB", (0, 4))])
def test_an_image_of_no_pixels_is_not_predicted(tiny_run, image):
    """convnet.load(run).predict of a 0-pixel image gave probabilities for nothing."""
    import convnet
    from convnet.errors import ImageError

    with pytest.raises(ImageError, match="0 pixels, outside the 1..50,000,000-pixel limit"):
        convnet.load(tiny_run, backend="torch").predict(image)


@pytest.mark.parametrize("array", [np.ones((28, 28, 3), np.float64), np.ones((1, 28, 28), np.uint8),
                                   np.ones((28, 28), np.int64)])
def test_an_array_pillow_cannot_read_is_one_image_error(tiny_run, array):
    """A float or channels-first array raised Pillow's TypeError('Cannot handle this data type')."""
    import convnet
    from convnet.errors import ImageError

    with pytest.raises(ImageError, match=rf"uint8 pixels shaped \(H, W\).*got {array.dtype}"):
        convnet.load(tiny_run, backend="torch").predict(array)


def test_a_uint8_array_predicts_as_its_png_file(tiny_run, digit):
    import convnet

    predictor = convnet.load(tiny_run, backend="torch")
    from_file = predictor.predict(str(digit))
    from_array = predictor.predict(np.asarray(Image.open(digit)))
    assert from_array.top == from_file.top


@pytest.mark.parametrize("argv", [
    ["explain", "softmax", "--logits", ""], ["explain", "conv", "--image", ""],
    ["explain", "conv", "--kernel", ""], ["explain", "conv", "--padding", ""],
    ["explain", "relu", "--image", ""], ["explain", "pool", "--image", ""],
    ["explain", "activation", "--image", ""], ["explain", "error", "--target", ""],
    ["kernels", "{digit}", "--out", "{tmp}/k", "--kernel", ""]])
def test_an_empty_value_is_an_error_not_the_default(capsys, digit, tmp_path, argv):
    """--logits "$UNSET" explained the tutorials' numbers as if they were the user's."""
    argv = [a.format(digit=digit, tmp=tmp_path) for a in argv]
    code, out, err = cli(capsys, *argv)
    assert code == 3 and "''" in one_error_line(err) and out == ""


def test_report_refuses_more_layer_views_than_a_page_holds(capsys, tiny_run, tmp_path):
    """--indices 0,1,...,1999 ran for minutes; now one line before the model is loaded."""
    indices = ",".join(map(str, range(2000)))
    code, out, err = cli(capsys, "report", tiny_run, "--out", tmp_path / "r.html",
                         "--indices", indices, "--quiet")
    assert code == 1 and "2,000 images" in one_error_line(err) and out == ""
    assert not (tmp_path / "r.html").exists()


def test_more_processes_than_images_in_a_batch_is_one_line(capsys, tiny_data, tmp_path):
    """--distributed 3 --batch-size 2 said 'loss became 2.28 ...; try a lower --lr' (exit 8):
    the third rank's empty slice made the loss NaN. Refused before any process starts."""
    code, out, err = cli(capsys, "train", "lenet5", "--data", tiny_data, "--batch-size", "2",
                         "--distributed", "3", "--out", tmp_path / "r", "--quiet")
    assert code == 1 and "--distributed 3" in one_error_line(err) and out == ""
    assert not (tmp_path / "r").exists()


def test_a_file_larger_than_any_image_is_refused_unread(capsys, tiny_run, digit, tmp_path):
    """A 30 GB file named .png was read whole before its header: MemoryError, exit 70. A sparse
    file one byte over the limit (no disk used) is refused from its size; the digit still runs."""
    from convnet.data.decode import MAX_FILE_BYTES

    huge = tmp_path / "huge.png"
    with open(huge, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.truncate(MAX_FILE_BYTES + 1)
    code, out, err = cli(capsys, "predict", tiny_run, huge, digit)
    assert code == 6 and "huge.png' is larger than 800,000,000 bytes" in one_error_line(err)
    assert out.startswith(f"{digit}: ")


@pytest.mark.parametrize("name, argv", [
    ("run.json", ["predict", "{run}", "{digit}"]),
    ("metrics.jsonl", ["train", "--resume", "{run}", "--epochs", "3", "--quiet"])])
def test_a_run_file_larger_than_any_run_writes_is_refused_unread(capsys, tiny_run, digit,
                                                                 tmp_path, name, argv):
    """A 30 GB run.json was read whole: MemoryError, exit 70. A sparse file over the limit."""
    rundir = tmp_path / "run"
    shutil.copytree(tiny_run, rundir)
    with open(rundir / name, "r+b") as f:
        f.truncate(runs.MAX_TEXT_BYTES + 1)
    code, out, err = cli(capsys, *[a.format(run=rundir, digit=digit) for a in argv])
    assert code == 7 and f"{name}: 536,870,913 bytes" in one_error_line(err) and out == ""


def test_show_of_an_array_names_it_briefly(tiny_run, digit, tmp_path):
    """convnet.show(run, array).image was the array's str(): thousands of numbers in --json
    and in the notebook's heading."""
    import convnet

    array = np.asarray(Image.open(digit))
    shown = convnet.show(tiny_run, array, tmp_path / "a")
    assert shown.image == "<array 28x28>"
    assert convnet.show(tiny_run, Image.open(digit), tmp_path / "b").image == "<PngImageFile 28x28>"
    assert convnet.show(tiny_run, digit, tmp_path / "c").image == str(digit)


@pytest.mark.parametrize("option", ["--out", "--data", "--tensorboard", "--init"])
def test_train_refuses_an_empty_folder_instead_of_the_default(capsys, tmp_path, monkeypatch,
                                                              option):
    """`--out "$DIR"` with DIR unset trained into the default runs/ folder (and `--data ''`
    would read the cache or download): one line, nothing written."""
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(capsys, "train", "lenet5", "--epochs", "1", "--limit", "64", option, "")
    assert code == 1 and f"{option} must be a folder, got ''" in one_error_line(err)
    assert out == "" and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("argv", [
    ["export", "RUN", "--out", ""], ["evaluate", "RUN", "--data", ""],
    ["kernels", "RUN", "--out", " "], ["show", "RUN", "IMAGE", "--out", ""],
    ["features", "RUN", "--out", ""], ["report", "RUN", "--out", ""],
    ["serve", "--data", ""]])
def test_an_empty_path_is_a_usage_error_not_the_default(capsys, tiny_run, digit, argv):
    """`--out "$F"` with F unset wrote the default file (export: model.onnx in the run)."""
    argv = [str(tiny_run) if a == "RUN" else str(digit) if a == "IMAGE" else a for a in argv]
    before = sorted(p.name for p in tiny_run.iterdir())
    code, out, err = cli(capsys, *argv)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "must name a file or folder" in lines[0], err
    assert out == "" and sorted(p.name for p in tiny_run.iterdir()) == before


def test_an_onnx_file_larger_than_onnx_allows_is_refused_unread(capsys, digit, tmp_path):
    """A sparse 3 GB file named .onnx went to onnxruntime whole; one line from its size now."""
    huge = tmp_path / "huge.onnx"
    with open(huge, "wb") as f:
        f.truncate(3 * 2**30)  # sparse: no disk used
    code, out, err = cli(capsys, "predict", huge, digit)
    assert code == 7 and "more than an ONNX model can hold" in one_error_line(err) and out == ""


def test_features_refuses_more_channels_than_a_grid_holds(capsys, tiny_run, tmp_path):
    """The page capped --channels at 512 rows; the command had no cap."""
    code, out, err = cli(capsys, "features", tiny_run, "--channels", "100000",
                         "--out", tmp_path / "f.png")
    assert code == 1 and "--channels must be at most 512" in one_error_line(err) and out == ""
    assert not (tmp_path / "f.png").exists()
