"""Fine-tuning (``--init RUNDIR``, ``--freeze features``): another run's weights copied in, the
head re-made for other classes, grey <-> RGB first filters adapted, the rest refused in one line.
"""

import json

import numpy as np
import pytest
import torch
from PIL import Image

import convnet
from convnet import finetune, runs, train
from convnet.cli import main
from convnet.errors import ConvnetError, RunError


def image_folder(root, mode: str, classes=("circle", "cross", "square"), n=(12, 6), side=28):
    """DIR/train|test/<class>/*.png: a bar whose position tells the class, plus noise."""
    rng = np.random.default_rng(len(mode))
    for split, count in zip(("train", "test"), n):
        for k, name in enumerate(classes):
            (root / split / name).mkdir(parents=True)
            for i in range(count):
                a = rng.integers(0, 60, (side, side), np.uint8)
                a[4 + 7 * k:8 + 7 * k, 4:24] = 255
                img = Image.fromarray(a)
                (img if mode == "L" else img.convert("RGB")).save(root / split / name / f"{i}.png")
    return root


def fit_cfg(data, out, **kw) -> train.TrainConfig:
    base = {"dataset": str(data), "epochs": 1, "batch_size": 16, "out": str(out),
            "progress": False}
    return train.TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def grey(tmp_path_factory):
    return image_folder(tmp_path_factory.mktemp("grey"), "L")


@pytest.fixture(scope="module")
def rgb(tmp_path_factory):
    return image_folder(tmp_path_factory.mktemp("rgb"), "RGB")


@pytest.fixture(scope="module")
def rgb_resnet(rgb, tmp_path_factory):
    """A resnet20 trained one epoch on the RGB folder (its batch norms have statistics)."""
    out = tmp_path_factory.mktemp("src") / "r20"
    train.fit(train.start(fit_cfg(rgb, out, model="resnet20")))
    return out


def weights(rundir, name="model.safetensors"):
    return runs.load_checkpoint(rundir, with_optimizer=False, name=name)[0]


def test_the_same_classes_keep_every_weight_and_run_json_records_the_source(tiny_run,
                                                                            tiny_data, tmp_path):
    run = train.start(train.TrainConfig(data_dir=str(tiny_data), epochs=1, batch_size=64,
                                        out=str(tmp_path / "r"), progress=False,
                                        init=str(tiny_run)))
    source = weights(tiny_run)
    for key, value in run.model.state_dict().items():
        assert torch.equal(value.cpu(), source[key]), key
    record = json.loads((tmp_path / "r" / "run.json").read_text())["init"]
    assert record == {"run": str(tiny_run), "file": "model.safetensors", "epoch": 2,
                      "head": "kept"}
    run.lock.release()


def test_other_classes_remake_the_head_and_freeze_trains_only_it(tiny_run, grey, tmp_path,
                                                                capsys):
    out = tmp_path / "ft"
    code = main(["train", "lenet5", "--dataset", str(grey), "--init", str(tiny_run),
                 "--freeze", "features", "--epochs", "2", "--batch-size", "16", "--out",
                 str(out), "--quiet"])
    line = capsys.readouterr().out
    assert code == 0
    assert (f"started from {tiny_run} (model.safetensors, epoch 2), head re-made for 3 classes "
            "(the run had 10); features frozen: 60,523 of 63,095 parameters trained") in line
    source, tuned = weights(tiny_run), weights(out)
    assert tuned["head.fc3.weight"].shape == (3, 100)
    for key in ("features.conv1.weight", "features.conv2.bias"):  # frozen: not one bit moved
        assert torch.equal(tuned[key], source[key]), key
    for key in ("head.fc1.weight", "head.fc2.bias"):  # copied, then trained
        assert not torch.equal(tuned[key], source[key]), key
    record = runs.read_manifest(out)["init"]
    assert record["frozen"] == "features" and record["trained_params"] == 60_523


def test_grey_filters_are_repeated_to_rgb_and_rgb_filters_summed_to_grey(tiny_run, rgb, grey,
                                                                         rgb_resnet, tmp_path):
    run = train.start(fit_cfg(rgb, tmp_path / "a", init=str(tiny_run)))
    grey_conv = weights(tiny_run)["features.conv1.weight"]  # (6, 1, 5, 5)
    assert torch.allclose(run.model.features.conv1.weight.cpu(), grey_conv.repeat(1, 3, 1, 1) / 3)
    assert runs.read_manifest(tmp_path / "a")["init"]["first_conv"] == \
        "grey filters repeated to 3 channels, divided by 3"
    run.lock.release()
    run = train.start(fit_cfg(grey, tmp_path / "b", model="resnet20", init=str(rgb_resnet)))
    rgb_conv = weights(rgb_resnet)["features.conv1.weight"]  # (16, 3, 3, 3)
    assert torch.allclose(run.model.features.conv1.weight.cpu(), rgb_conv.sum(1, keepdim=True))
    assert runs.read_manifest(tmp_path / "b")["init"]["head"] == "kept"  # the same 3 classes
    run.lock.release()


def test_frozen_batch_norms_keep_the_source_statistics(rgb, rgb_resnet, tmp_path):
    result = convnet.fit("resnet20", dataset=str(rgb), epochs=1, batch_size=16, progress=False,
                         out=str(tmp_path / "r"), init=str(rgb_resnet), freeze="features")
    source, tuned = weights(rgb_resnet), weights(result.path)
    for key in ("features.bn1.running_mean", "features.layer3.2.bn2.running_var",
                "features.layer3.2.bn2.weight"):
        assert torch.equal(tuned[key], source[key]), key
    assert not torch.equal(tuned["head.fc1.weight"], source["head.fc1.weight"])


def test_a_resumed_frozen_run_stays_frozen(tiny_run, grey, tmp_path):
    out = tmp_path / "r"
    train.fit(train.start(fit_cfg(grey, out, init=str(tiny_run), freeze="features")))
    train.fit(train.resume(out, epochs=2, progress=False))
    assert torch.equal(weights(out)["features.conv2.weight"],
                       weights(tiny_run)["features.conv2.weight"])
    assert runs.read_manifest(out)["init"]["frozen"] == "features"


@pytest.mark.parametrize("argv, code, message", [
    (["resnet20", "--init", "{run}"], 7,
     ("--init {run}: that run trained lenet5, this one trains resnet20; --init needs the same "
      "architecture (train lenet5, or leave out --init)")),
    (["lenet5", "--freeze", "features"], 1,
     "--freeze features keeps the weights another run learned: give --init RUNDIR (that run)"),
    (["lenet5", "--init", "{nowhere}"], 7, "--init {nowhere}: not a run directory (no run.json)"),
    (["lenet5", "--init", "{run}", "--freeze", "head"], 2, "invalid choice: 'head'"),
])
def test_what_cannot_be_fine_tuned_is_one_line_before_any_folder(argv, code, message, tiny_run,
                                                                  grey, tmp_path, capsys):
    names = {"run": str(tiny_run), "nowhere": str(tmp_path / "nowhere")}
    argv = [a.format(**names) for a in argv]
    try:
        got = main(["train", *argv, "--dataset", str(grey), "--out", str(tmp_path / "o"),
                    "--quiet"])
    except SystemExit as usage:  # argparse's own refusal
        got = usage.code
    err = capsys.readouterr().err.strip().splitlines()
    assert got == code and message.format(**names) in err[-1]
    if code != 2:
        assert len(err) == 1
    assert not (tmp_path / "o").exists()


def test_channels_other_than_grey_or_rgb_are_refused():
    with pytest.raises(RunError, match="takes 2 channels and this run's images have 1; only "
                                       r"1 <-> 3 \(grey <-> RGB\)"):
        finetune.adapt_channels(torch.ones(4, 2, 3, 3), 1)


def test_the_numpy_engine_cannot_freeze(tiny_run):
    with pytest.raises(ConvnetError, match="--freeze features needs --engine torch"):
        train.check_config(train.TrainConfig(init=str(tiny_run), freeze="features",
                                             engine="numpy"))
