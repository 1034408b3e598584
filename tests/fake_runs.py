"""Runs without training and a small CIFAR-10 test split: what the colour-network views need.

A fake run has random weights (``torch.manual_seed``) and a manifest naming its dataset and
classes, so ``show``, ``report``, ``serve`` and ``explain`` treat it like a finished run. The
test split is written in the real binary format (``cifar-10-batches-bin``), one colour per
class, so a picture can be checked against its label. ``to_legacy_layout`` rewrites a run's
checkpoint as versions before the separate optimizer file wrote it.
"""

import json

import numpy as np
import torch
from safetensors.torch import save_file

from convnet import runs
from convnet.registry import create_model

CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
               "truck"]
PHOTO_CLASSES = ["dog", "cat", "ship", "bird"]


def fake_run(root, name: str, model_name: str, classes, mean, std, framing=None, seed=0,
             dataset="synthetic", config=None):
    """ROOT/NAME: a run directory with random weights (no training): enough to serve a model."""
    torch.manual_seed(seed)
    model = create_model(model_name, num_classes=len(classes))
    rundir = root / name
    rundir.mkdir()
    runs.save_checkpoint(rundir, model, None, {})
    runs.write_json(rundir / runs.MANIFEST, {
        "format": runs.FORMAT, "status": "done", "model": runs.describe_model(model),
        "dataset": {"name": dataset, "classes": list(classes), "mean": mean, "std": std,
                    "framing": framing}, "config": config or {}, "final": {}})
    return rundir


def cifar_colour(k: int) -> tuple[int, int]:
    """Class k's images are one colour: channel k % 3 (R, G or B) at value 100 + 15k."""
    return k % 3, 100 + 15 * k


def write_cifar_test_split(root, n: int = 60) -> None:
    """ROOT/cifar10/cifar-10-batches-bin: the class names and a test batch of n images.

    Image i has label i % 10 and is filled with its class's colour (``cifar_colour``).
    """
    folder = root / "cifar10" / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    (folder / "batches.meta.txt").write_text("\n".join(CIFAR_NAMES) + "\n")
    labels = np.arange(n) % 10
    images = np.zeros((n, 3, 32, 32), np.uint8)
    for i, k in enumerate(labels):
        channel, value = cifar_colour(k)
        images[i, channel] = value
    records = np.concatenate([labels[:, None].astype(np.uint8), images.reshape(n, -1)], axis=1)
    (folder / "test_batch.bin").write_bytes(records.tobytes())  # (n, 1 label byte + 3072)


def photo_run(root, name: str = "photos", model_name: str = "seed4"):
    """An untrained 4-class CIFAR run whose recorded data folder holds a small test split."""
    write_cifar_test_split(root / "data")
    return fake_run(root, name, model_name, PHOTO_CLASSES, [0.5] * 3, [0.25] * 3,
                    dataset="cifar10", config={"data_dir": str(root / "data"),
                                               "classes": PHOTO_CLASSES})


def to_legacy_layout(rundir) -> None:
    """RUNDIR's checkpoint as the one file earlier versions wrote (their ``save_checkpoint``):
    ``model.<weight>`` and ``optim.<param>.<slot>`` tensors in model.safetensors, the
    param_groups in its metadata, format ``convnet-run/1``, and no optimizer.safetensors."""
    weights, optim, meta = runs.load_checkpoint(rundir)
    tensors = {f"model.{k}": v for k, v in weights.items()}
    opt_meta = {}
    if optim:
        for pid, slots in optim["state"].items():
            for slot, value in slots.items():
                tensors[f"optim.{pid}.{slot}"] = value
        opt_meta = {"param_groups": optim["param_groups"]}
    header = {"format": "convnet-run/1", "meta": json.dumps(meta),
              "optimizer": json.dumps(opt_meta)}
    save_file(tensors, rundir / runs.WEIGHTS, metadata=header)
    (rundir / runs.OPTIMIZER).unlink(missing_ok=True)
