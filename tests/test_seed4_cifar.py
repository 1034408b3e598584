"""The tutorials' 4-class dog/cat/boat/bird classifier on CIFAR-10 files in the real format."""

import json
import pickle

import numpy as np
import pytest
from PIL import Image

from convnet.cli import main

NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory):
    """DIR/cifar-10-batches-py with 5 small train batches, a test batch and batches.meta.

    Each class gets its own colour so that the task is learnable in a few steps.
    """
    root = tmp_path_factory.mktemp("cifar")
    folder = root / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)

    def batch(n):
        labels = rng.integers(0, 10, n)
        images = rng.integers(0, 60, (n, 3, 32, 32)).astype(np.uint8)
        for i, k in enumerate(labels):
            images[i, k % 3, 8:24, 8:24] = 120 + 13 * k  # a class-coloured square
        return {b"batch_label": b"x", b"labels": labels.tolist(),
                b"data": images.reshape(n, 3072), b"filenames": [b"f.png"] * n}

    for i in range(1, 6):
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps(batch(80), protocol=2))
    (folder / "test_batch").write_bytes(pickle.dumps(batch(100), protocol=2))
    meta = {b"label_names": [n.encode() for n in NAMES], b"num_cases_per_batch": 80,
            b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return root


def test_seed4_trains_on_the_four_tutorial_classes(cifar_root, tmp_path, capsys):
    out = tmp_path / "seed4"
    code = main(["train", "seed4", "--dataset", "cifar10", "--classes", "dog,cat,ship,bird",
                 "--data", str(cifar_root), "--epochs", "3", "--batch-size", "32", "--lr", "0.003", "--out",
                 str(out), "--quiet", "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["dataset"]["classes"] == ["dog", "cat", "ship", "bird"]
    assert manifest["model"]["num_classes"] == 4 and manifest["model"]["input_shape"] == [3, 32, 32]
    assert result["test_accuracy"] > 0.5  # 4 classes: chance is 0.25

    image = np.zeros((32, 32, 3), np.uint8)
    image[8:24, 8:24, 8 % 3] = 120 + 13 * 8  # a "ship" square
    Image.fromarray(image).save(tmp_path / "ship.png")
    assert main(["predict", str(out), str(tmp_path / "ship.png"), "--json"]) == 0
    [pred] = json.loads(capsys.readouterr().out)
    assert pred["label"] in ("dog", "cat", "ship", "bird")
    assert sum(t["probability"] for t in pred["top"]) == pytest.approx(1.0, abs=1e-5)


SMALL = ["tinyvgg", "resnet20", "vgg11-small", "densenet-small", "googlenet-small",
         "alexnet-small", "zfnet-small", "seed4", "lenet5"]


@pytest.mark.parametrize("name", SMALL)
def test_every_small_model_trains_on_cifar10(name, cifar_root, tmp_path, capsys):
    # `convnet train MODEL --dataset cifar10` for each small model: a few steps on the real
    # pickle format, RGB 32x32, the model built for 3 channels and 10 classes, a loadable run.
    out = tmp_path / name
    code = main(["train", name, "--dataset", "cifar10", "--data", str(cifar_root), "--epochs", "1",
                 "--limit", "64", "--batch-size", "32", "--out", str(out), "--quiet", "--json"])
    assert code == 0, capsys.readouterr().err
    result = json.loads(capsys.readouterr().out)
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["model"]["input_shape"] == [3, 32, 32]
    assert manifest["model"]["num_classes"] == 10 and manifest["status"] == "finished"
    assert 0.0 <= result["test_accuracy"] <= 1.0 and result["epoch"] == 1
    assert main(["evaluate", str(out), "--data", str(cifar_root), "--json"]) == 0
    evaluation = json.loads(capsys.readouterr().out)
    assert evaluation["accuracy"] == pytest.approx(result["test_accuracy"])
