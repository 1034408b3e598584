"""The ``convnet`` command: output contracts, one line + one exit code for every bad input, and
training behaviour (resume == uninterrupted, determinism, every loss/optimizer) on tiny data.

The CLI is called in-process (``convnet.cli.main``) for speed; one subprocess test proves the
real entry point prints one stderr line and no traceback.
"""

import argparse
import gzip
import json
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from convnet import descent, runs, train
from convnet.cli import build_parser, main
from conftest import cli, fit_until_first_epoch
from convnet.registry import create_model

LENET_SPEC = "conv6@5x5 relu maxpool2 fc10 softmax"




def fails(capsys, code: int, words: list[str], *argv) -> str:
    """Run ``convnet ARGV``, assert the exit code and one error line holding every word."""
    got, _, err = cli(capsys, *argv)
    lines = [ln for ln in err.splitlines() if "error" in ln]
    assert got == code, err
    assert len(lines) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def weights(rundir: Path) -> dict:
    return load_file(Path(rundir) / runs.WEIGHTS)  # a plain state_dict


def same_weights(a: Path, b: Path) -> bool:
    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def metrics(rundir: Path) -> list[dict]:
    return [json.loads(ln) for ln in (Path(rundir) / runs.METRICS).read_text().splitlines()]


@pytest.fixture
def run_copy(tiny_run, tmp_path) -> Path:
    """A private copy of the finished tiny run, safe to damage or extend."""
    return Path(shutil.copytree(tiny_run, tmp_path / "run"))


@pytest.fixture
def digit_png(tmp_path) -> Path:
    """A white bar on black, like the tiny data's class 3."""
    a = np.zeros((28, 28), np.uint8)
    a[9:11, 6:22] = 255
    path = tmp_path / "digit.png"
    Image.fromarray(a).save(path)
    return path


# ----------------------------------------------------------------------------- output contracts

@pytest.mark.parametrize("name,total", [("lenet5", 63802), ("lenet5-1998", 60850),
                                        ("seed4", 61496)])
def test_summary_json_totals(capsys, name, total):
    code, out, _ = cli(capsys, "summary", name, "--json")
    s = json.loads(out)
    assert code == 0 and s["total_params"] == total
    assert sum(r["params"] for r in s["layers"]) == total
    for row in s["layers"]:
        assert {"name", "output_shape", "params", "mult_adds"} <= row.keys()


def test_summary_lenet5_flattens_400_into_fc1_and_shows_the_arithmetic(capsys):
    s = json.loads(cli(capsys, "summary", "lenet5", "--json")[1])
    rows = {r["name"]: r for r in s["layers"]}
    assert s["input_shape"] == [1, 32, 32]
    assert rows["flatten"]["output_shape"] == [400] and rows["fc1"]["input_shape"] == [400]
    code, table, _ = cli(capsys, "summary", "lenet5")
    assert code == 0
    assert "(32 + 2·0 − 5)/1 + 1 = 28" in table and "5·5·1·6 + 6 = 156" in table
    assert "63,802" in table


def test_summary_of_a_block_built_model_at_another_input_size(capsys):
    # resnet20 ends in global average pooling, so MNIST's unpadded 28x28 fits it too
    s = json.loads(cli(capsys, "summary", "resnet20", "--input-shape", "1x28x28", "--json")[1])
    assert s["input_shape"] == [1, 28, 28] and s["total_params"] == 269_434
    assert s["layers"][0]["output_shape"] == [16, 28, 28]


def test_summary_of_a_spec_line(capsys):
    code, out, _ = cli(capsys, "summary", LENET_SPEC, "--input-shape", "1x32x32", "--json")
    s = json.loads(out)
    assert code == 0 and s["layers"][0]["output_shape"] == [6, 28, 28]
    assert s["total_params"] == 156 + 6 * 14 * 14 * 10 + 10


def test_models_lists_the_tutorial_models(capsys):
    code, out, _ = cli(capsys, "models")
    assert code == 0 and all(n in out.split() for n in ("lenet5", "lenet5-1998", "seed4"))
    rows = json.loads(cli(capsys, "models", "--json")[1])
    names = {r["name"]: r for r in rows}
    assert {"lenet5", "lenet5-1998", "seed4"} <= names.keys()
    assert names["lenet5"]["input_shape"] == [1, 32, 32]


def test_evaluate_json_and_plot(capsys, tiny_run, tmp_path):
    plot = tmp_path / "cm.png"
    code, out, _ = cli(capsys, "evaluate", tiny_run, "--json", "--plot", plot)
    ev = json.loads(out)
    assert code == 0 and 0.0 <= ev["accuracy"] <= 1.0
    cm = np.array(ev["confusion_matrix"])
    assert cm.shape == (10, 10) and cm.sum() == 200  # the tiny test split
    assert ev["accuracy"] == pytest.approx(np.trace(cm) / cm.sum())
    assert len(ev["per_class"]) == 10
    assert all(0 <= r["precision"] <= 1 and 0 <= r["recall"] <= 1 for r in ev["per_class"])
    with Image.open(plot) as im:
        assert im.format == "PNG" and min(im.size) > 100


def test_predict_json(capsys, tiny_run, digit_png):
    code, out, _ = cli(capsys, "predict", tiny_run, digit_png, digit_png, "--top", "10", "--json")
    preds = json.loads(out)
    assert code == 0 and len(preds) == 2
    for p in preds:
        assert p["image"] == str(digit_png)
        assert len(p["top"]) == 10 and {t["label"] for t in p["top"]} == set("0123456789")
        assert sum(t["probability"] for t in p["top"]) == pytest.approx(1.0, abs=1e-5)
        assert p["label"] == p["top"][0]["label"] and p["probability"] == p["top"][0]["probability"]


def test_run_directory_records_metrics_and_manifest(tiny_run):
    rows = metrics(tiny_run)
    assert [r["epoch"] for r in rows] == [1, 2]
    for r in rows:
        for key in ("train_loss", "train_accuracy", "test_loss", "test_accuracy", "seconds"):
            assert isinstance(r[key], float)
        assert 0 <= r["train_accuracy"] <= 1 and 0 <= r["test_accuracy"] <= 1
    assert 0 < rows[0]["seconds"] <= rows[1]["seconds"]  # cumulative
    m = json.loads((tiny_run / runs.MANIFEST).read_text())
    assert m["status"] == "finished" and m["model"]["name"] == "lenet5"
    assert m["config"]["epochs"] == 2 and m["seed"] == m["config"]["seed"] == 0
    files = m["dataset"]["files"]
    assert len(files) == 4 and all(len(h) == 64 for h in files.values())  # sha256 hex
    assert {"convnet", "torch", "python"} <= m["versions"].keys() and m["device"] == "cpu"
    assert m["final"]["test_accuracy"] == rows[-1]["test_accuracy"]


# ----------------------------------------------------------------------------- conventions

def subcommands() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in build_parser()._actions
                  if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def flags(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {s: a for a in parser._actions for s in a.option_strings}


JSON_COMMANDS = {  # one run of each command that has --json; `train` without --quiet
    "models": lambda w: ["models", "lenet*"],
    "summary": lambda w: ["summary", "lenet5"],
    "train": lambda w: ["train", "lenet5", "--data", w.data, "--epochs", "1", "--limit", "128",
                        "--batch-size", "64", "--out", w.tmp / "r"],
    "evaluate": lambda w: ["evaluate", w.run],
    "predict": lambda w: ["predict", w.run, w.image, w.tmp / "missing.png"],
    "export": lambda w: ["export", w.run, "--out", w.tmp / "m.onnx"],
    "explain": lambda w: ["explain", "conv"],
    "kernels": lambda w: ["kernels", w.image, "--out", w.tmp / "k"],
    "show": lambda w: ["show", w.run, w.image, "--out", w.tmp / "s"],
    "features": lambda w: ["features", w.run, "--out", w.tmp / "f.png", "--channels", "2"],
    "report": lambda w: ["report", w.run, "--out", w.tmp / "r.html", "--indices", "0"],
}


def test_every_command_with_json_has_a_case_below():
    def json_flag(p) -> bool:  # explain: on each of its modes (explain conv --json)
        modes = p._subparsers._group_actions[0].choices.values() if p._subparsers else []
        return "--json" in flags(p) or bool(modes) and all("--json" in flags(m) for m in modes)

    has_json = {name for name, p in subcommands().items() if json_flag(p)}
    # serve prints its line and then serves until stopped: tests/test_web_empty.py checks it
    assert has_json == JSON_COMMANDS.keys() | {"serve"}


@pytest.mark.parametrize("command", sorted(JSON_COMMANDS))
def test_json_output_parses_alone_on_stdout(capfd, command, tiny_run, tiny_data, digit_png,
                                            tmp_path):
    # capfd: what reaches file descriptor 1 is checked, not only sys.stdout
    work = argparse.Namespace(run=tiny_run, data=tiny_data, image=digit_png, tmp=tmp_path)
    argv = [str(a) for a in JSON_COMMANDS[command](work)] + ["--json"]
    code = main(argv)
    out, err = capfd.readouterr()
    parsed = json.loads(out)  # the whole of stdout, nothing before or after
    assert parsed and code == (6 if command == "predict" else 0), err
    if command == "train":  # progress went to stderr, not away
        assert "epoch 1/1" in err and parsed["epoch"] == 1


def test_convnet_alone_prints_help_and_exits_0(capsys):
    code, out, err = cli(capsys)
    assert code == 0 and err == ""
    assert out.startswith("usage: convnet") and all(c in out for c in subcommands())
    assert "--out" in out and "--json" in out  # the conventions, stated once


def test_version(capsys):
    from convnet import __version__

    code, out, _ = cli(capsys, "--version")
    assert code == 0 and out.strip() == f"convnet {__version__}"


@pytest.mark.parametrize("command", sorted(subcommands()))
def test_help_shows_each_default_once_and_every_flag_has_help(capsys, command):
    assert cli(capsys, command, "--help")[0] == 0
    parser = subcommands()[command]
    for flag, action in flags(parser).items():
        if action.help == argparse.SUPPRESS or flag in ("-h", "--help"):
            continue
        assert action.help, f"{command} {flag} has no help"
        text = parser._get_formatter()._expand_help(action)  # as --help prints it
        default = action.default
        if not (default is None or default is False or default == [] or
                default is argparse.SUPPRESS):  # the formatter adds it: never by hand too
            assert text.count("(default: ") == 1 and f"(default: {default})" in text, text
        else:
            assert text.count("(default: ") <= 1, text


def test_train_has_one_flag_per_config_field():
    from dataclasses import fields as dataclass_fields

    from convnet.config import TrainConfig

    dests = {a.dest for a in subcommands()["train"]._actions}
    assert {f.name for f in dataclass_fields(TrainConfig)} - dests == {"progress"}  # --quiet
    assert flags(subcommands()["train"])["--data"].dest == "data_dir"


def test_data_dir_and_invert_are_spelt_one_way():
    for name, parser in subcommands().items():
        given = flags(parser)
        if "--data" in given:
            assert given["--data"].dest == "data_dir", name
        if "--invert" in given:
            assert given["--no-invert"] is given["--invert"], name  # one BooleanOptionalAction
    args = build_parser().parse_args
    assert args(["predict", "r", "a.png"]).invert is None
    assert args(["show", "r", "a.png", "--out", "o", "--no-invert"]).invert is False
    assert args(["predict", "r", "a.png", "--invert"]).invert is True


def test_old_spellings_still_parse_but_are_not_advertised(capsys):
    args = build_parser().parse_args
    assert args(["summary", "lenet5", "--input", "1x28x28"]).input_shape == "1x28x28"
    assert args(["report", "r", "--out", "o.html", "--inputs", "0,3"]).indices == "0,3"
    for command, old in (("summary", "--input "), ("report", "--inputs")):
        assert old not in cli(capsys, command, "--help")[1]


def test_models_takes_shell_patterns(capsys):
    from convnet.registry import list_models

    code, out, _ = cli(capsys, "models", "resnet*")
    names = [line.split()[0] for line in out.splitlines()]
    assert code == 0 and names == list_models("resnet*") and len(names) >= 3


def test_predict_over_a_folder_and_a_glob_goes_on_past_a_bad_file(capsys, tiny_run, digit_png,
                                                                   tmp_path):
    folder = tmp_path / "photos"
    (folder / "more").mkdir(parents=True)
    for name in ("a.png", "more/b.png", "c.jpg"):
        Image.open(digit_png).convert("RGB").save(folder / name)
    (folder / "broken.png").write_text("not an image")
    (folder / "notes.txt").write_text("not looked at")
    code, out, err = cli(capsys, "predict", tiny_run, folder, f"{folder}/*.jpg",
                         tmp_path / "none*.png")
    lines = out.splitlines()
    assert code == 6
    assert [ln.split(": ")[0] for ln in lines] == [str(folder / n) for n in
                                                    ("a.png", "c.jpg", "more/b.png", "c.jpg")]
    assert err.splitlines() == [f"error: '{folder / 'broken.png'}' is not an image (unknown or "
                                "unsupported format)",
                                f"error: no file matches '{tmp_path / 'none*.png'}'"]
    code, out, _ = cli(capsys, "predict", tiny_run, folder, "--json")
    rows = json.loads(out)
    assert code == 6 and [r["image"] for r in rows] == [str(folder / n) for n in
                                                         ("a.png", "broken.png", "c.jpg",
                                                          "more/b.png")]
    assert rows[1]["exit_code"] == 6 and "broken.png" in rows[1]["error"]
    assert rows[0]["top"] == rows[3]["top"]  # one digit, saved twice as the same PNG


# ----------------------------------------------------------------------------- bad inputs

def test_bad_input_in_a_real_process_is_one_line_and_an_exit_code():
    proc = subprocess.run([sys.executable, "-m", "convnet", "summary", "conv6@7x7 fc10",
                           "--input-shape", "1x5x5"], capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 3 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: layer 1 'conv6@7x7'")


@pytest.mark.parametrize("argv,code,words", [
    (["summary", "nosuchnet"], 9, ["unknown model 'nosuchnet'", "lenet5"]),
    (["summary", "conv6@7x7 fc10", "--input-shape", "1x5x5"], 3, ["layer 1", "7x7", "5x5"]),
    (["summary", "conv6@5x5 maxpool9 fc10", "--input-shape", "1x12x12"], 3,
     ["layer 2", "maxpool9", "9x9", "8x8"]),
    (["summary", "conv6@5x5 foo"], 3, ["layer 2", "'foo'", "unknown token"]),
    (["summary", "conv0@5x5 fc10"], 3, ["layer 1", "conv0@5x5", "got 0"]),
    (["summary", "conv6@5x5 maxpool2 fc10", "--input-shape", "1x33x33"], 3,
     ["layer 2", "stride 2 does not tile", "29x29"]),
    (["summary", "lenet5", "--input-shape", "1x32"], 3, ["--input-shape", "'1x32'"]),
    (["summary", "lenet5", "--bogus"], 2, ["unrecognized arguments: --bogus"]),
    (["summary", "densenet121", "--input-shape", "3x16x16"], 9,  # block-built: no spec line
     ["densenet121 (built for 3x224x224) cannot take 3x16x16 inputs", "too small"]),
    (["nosuchcommand"], 2, ["invalid choice"]),
    (["models", "xyz*"], 9, ["no model matches 'xyz*'", "known: ", "lenet5"]),
    (["export", "RUNDIR", "--format", "onnx"], 2, ["unrecognized arguments: --format"]),
])
def test_bad_definitions(capsys, argv, code, words):
    fails(capsys, code, words, *argv)


def test_train_unknown_model(capsys, tiny_data, tmp_path):
    fails(capsys, 9, ["unknown model 'nosuchnet'"],
          "train", "nosuchnet", "--data", tiny_data, "--out", tmp_path / "r", "--quiet")


def test_missing_dataset_names_the_files_and_the_folder(capsys, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    line = fails(capsys, 4, ["missing", "-images-idx3-ubyte.gz", str(empty / "mnist")],
                 "train", "lenet5", "--data", empty, "--out", tmp_path / "r", "--quiet")
    assert "-labels-idx1-ubyte.gz" in line


@pytest.mark.parametrize("damage,words", [
    (lambda raw: raw[:len(raw) // 2], ["train-images-idx3-ubyte.gz", "truncated"]),
    (lambda raw: gzip.compress(b"\x00\x00\x08\x01" + gzip.decompress(raw)[4:]),
     ["magic number 2051"]),
])
def test_corrupt_idx_file(capsys, tiny_data, tmp_path, damage, words):
    data = Path(shutil.copytree(tiny_data, tmp_path / "data"))
    path = data / "mnist" / "train-images-idx3-ubyte.gz"
    path.write_bytes(damage(path.read_bytes()))
    fails(capsys, 4, words, "train", "lenet5", "--data", data, "--out", tmp_path / "r", "--quiet")


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_not_a_run_directory(capsys, tmp_path, digit_png, command):
    extra = [digit_png] if command == "predict" else []
    fails(capsys, 7, ["not a run directory", "run.json"], command, tmp_path, *extra)


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_checkpoint_of_another_model(capsys, run_copy, digit_png, command):
    runs.save_checkpoint(run_copy, create_model("seed4"), None, {"epoch": 1})
    extra = [digit_png] if command == "predict" else []
    fails(capsys, 7, ["different model", runs.WEIGHTS], command, run_copy, *extra)


@pytest.mark.parametrize("content", [
    b"\x89PNG this is not a checkpoint" * 10,
    pickle.dumps({"conv1.weight": [0.0] * 10}),
    b"",
])
def test_checkpoint_that_is_not_safetensors(capsys, run_copy, digit_png, content):
    (run_copy / runs.WEIGHTS).write_bytes(content)
    fails(capsys, 7, [runs.WEIGHTS], "predict", run_copy, digit_png)


def test_a_torch_pickle_is_never_unpickled(capsys, run_copy, digit_png):
    torch.save(create_model("lenet5").state_dict(), run_copy / runs.WEIGHTS)
    fails(capsys, 7, ["not a readable safetensors file"], "evaluate", run_copy)


@pytest.mark.parametrize("make,words", [
    (lambda p: p.write_text("just some text\n"), ["not an image"]),
    (lambda p: p.write_bytes(b""), ["empty"]),
    (lambda p: None, ["not found"]),
])
def test_predict_on_files_that_are_not_images(capsys, tiny_run, tmp_path, make, words):
    path = tmp_path / "input.png"
    make(path)
    fails(capsys, 6, words + [str(path)], "predict", tiny_run, path)


def test_train_refuses_to_overwrite_a_run(capsys, tiny_data, tiny_run):
    fails(capsys, 7, ["already holds a run", "--resume"],
          "train", "lenet5", "--data", tiny_data, "--out", tiny_run, "--quiet")


def test_resume_extends_a_finished_run_only_with_epochs(capsys, run_copy):
    before = metrics(run_copy)
    code, out, _ = cli(capsys, "train", "--resume", run_copy, "--quiet", "--json")
    assert code == 0 and metrics(run_copy) == before and json.loads(out)["epoch"] == 2
    code, out, _ = cli(capsys, "train", "--resume", run_copy, "--epochs", "3", "--quiet")
    after = metrics(run_copy)
    assert code == 0 and [r["epoch"] for r in after] == [1, 2, 3] and after[:2] == before
    assert json.loads((run_copy / runs.MANIFEST).read_text())["config"]["epochs"] == 3


def test_resume_refuses_fewer_epochs_than_done(capsys, run_copy):
    fails(capsys, 7, ["--epochs 1", "2"], "train", "--resume", run_copy, "--epochs", "1")


def test_nan_loss_names_the_epoch_step_and_last_good_checkpoint(capsys, tiny_data, tmp_path,
                                                                 monkeypatch):
    real, calls = descent.loss_fn, []

    def poisoned(cfg, logits, y):  # the 3rd training step (epoch 2, step 1) goes NaN
        loss = real(cfg, logits, y)
        if torch.is_grad_enabled():
            calls.append(1)
            if len(calls) == 3:
                return loss * float("nan")
        return loss

    monkeypatch.setattr(descent, "loss_fn", poisoned)
    out = tmp_path / "r"
    line = fails(capsys, 8, ["nan", "epoch 2 step 1", f"{out / runs.WEIGHTS} (epoch 1)"],
                 "train", "lenet5", "--data", tiny_data, "--limit", "128", "--batch-size", "64",
                 "--epochs", "2", "--out", out, "--quiet")
    assert "--lr" in line and metrics(out)[0]["epoch"] == 1 and (out / runs.WEIGHTS).is_file()


def test_huge_learning_rate_stops_with_a_training_error(capsys, tiny_data, tmp_path):
    fails(capsys, 8, ["loss became", "epoch 1 step", "lower --lr"],
          "train", "lenet5", "--data", tiny_data, "--limit", "256", "--batch-size", "64",
          "--epochs", "1", "--lr", "1e10", "--out", tmp_path / "r", "--quiet")


def test_nan_in_the_first_epoch_does_not_point_at_a_missing_checkpoint(capsys, tiny_data,
                                                                      tmp_path):
    line = fails(capsys, 8, ["epoch 1", "no checkpoint was written yet"], "train", "lenet5",
                 "--data", tiny_data, "--limit", "256", "--batch-size", "16", "--epochs", "1",
                 "--lr", "1e10", "--out", tmp_path / "r", "--quiet")
    assert "(epoch 0)" not in line
    assert json.loads((tmp_path / "r" / runs.MANIFEST).read_text())["status"] == "failed"


# ----------------------------------------------------------------------------- training

def tiny_config(tiny_data, out, **kw) -> train.TrainConfig:
    base = {"data_dir": str(tiny_data), "epochs": 1, "batch_size": 64, "limit": 128,
            "out": str(out), "progress": False}
    return train.TrainConfig(**{**base, **kw})


def test_resume_equals_an_uninterrupted_run(tiny_data, tmp_path, monkeypatch):
    straight = tmp_path / "straight"
    train.fit(train.start(tiny_config(tiny_data, straight, epochs=2, batch_size=32)))

    stopped = tmp_path / "stopped"
    fit_until_first_epoch(train.start(tiny_config(tiny_data, stopped, epochs=2, batch_size=32)),
                          monkeypatch)
    assert [r["epoch"] for r in metrics(stopped)] == [1]

    run = train.resume(stopped, progress=False)
    assert run.start_epoch == 1
    train.fit(run)
    assert same_weights(straight, stopped)
    timeless = [[{k: v for k, v in r.items() if k != "seconds"} for r in metrics(d)]
                for d in (stopped, straight)]
    assert timeless[0] == timeless[1]


def test_same_seed_same_weights_other_seed_other_weights(tiny_data, tmp_path):
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        train.fit(train.start(tiny_config(tiny_data, tmp_path / name, seed=seed)))
    assert same_weights(tmp_path / "a", tmp_path / "b")
    assert not same_weights(tmp_path / "a", tmp_path / "c")


@pytest.mark.parametrize("flags", [["--loss", "sse"], ["--optimizer", "sgd", "--lr", "0.05"],
                                   ["--optimizer", "momentum", "--lr", "0.01"],
                                   [LENET_SPEC.replace("6@", "4@")]])
def test_losses_optimizers_and_spec_models_train(capsys, tiny_data, tmp_path, flags):
    model = flags if flags[0].startswith("conv") else ["lenet5", *flags]
    out = tmp_path / "r"
    code, stdout, err = cli(capsys, "train", *model, "--data", tiny_data, "--epochs", "1",
                            "--limit", "128", "--batch-size", "64", "--out", out, "--quiet",
                            "--json")
    assert code == 0, err
    result, rows = json.loads(stdout), metrics(out)
    assert len(rows) == 1 and result["test_accuracy"] == rows[0]["test_accuracy"]
    assert np.isfinite(rows[0]["train_loss"]) and 0 <= rows[0]["test_accuracy"] <= 1
    manifest = json.loads((out / runs.MANIFEST).read_text())
    if model[0] == "lenet5":
        assert manifest["config"][flags[0].lstrip("-")] == flags[1]
    else:
        assert manifest["model"]["spec"] == model[0]
        assert manifest["model"]["input_shape"] == [1, 28, 28]


def test_debug_flag_before_or_after_the_command_reraises():
    from convnet.errors import SpecError

    for argv in (["--debug", "summary", "conv6@9x9 fc10", "--input-shape", "1x5x5"],
                 ["summary", "conv6@9x9 fc10", "--input-shape", "1x5x5", "--debug"]):
        with pytest.raises(SpecError):
            main(argv)


def test_every_command_has_json_and_help():
    """The house rule, over the whole command tree: every command takes --json (and --help)."""
    import argparse

    from convnet.cli import build_parser

    def leaves(parser, path=()):
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            yield " ".join(path), parser
        for action in subs:
            for name, sub in action.choices.items():
                yield from leaves(sub, path + (name,))

    commands = dict(leaves(build_parser()))
    assert {"train", "serve", "predict", "explain conv"} <= commands.keys()
    for name, parser in commands.items():
        options = {o for a in parser._actions for o in a.option_strings}
        assert {"--json", "--help"} <= options, name
