"""metrics.csv beside metrics.jsonl, and --tensorboard events read back with TensorBoard's
reader."""

import csv
import importlib.util
import json

import pytest

from convnet import logs, runs, train
from convnet.cli import main
from convnet.errors import ConvnetError
from conftest import fit_until_first_epoch


def config(tiny_data, out, **kw) -> train.TrainConfig:
    base = {"data_dir": str(tiny_data), "epochs": 2, "batch_size": 64, "limit": 256,
            "out": str(out), "progress": False}
    return train.TrainConfig(**{**base, **kw})


def read_csv(rundir) -> list[dict]:
    with open(rundir / logs.CSV, newline="") as f:
        return list(csv.DictReader(f))


def same_rows(csv_rows: list[dict], rows: list[dict]) -> bool:
    """Each CSV cell reads back as its jsonl value (repr of a float round-trips exactly)."""
    return len(csv_rows) == len(rows) and all(
        set(c) == set(r) and all(float(c[k]) == float(r[k]) for k in r)
        for c, r in zip(csv_rows, rows))


def test_metrics_csv_holds_the_jsonl_rows(tiny_data, tmp_path):
    train.fit(train.start(config(tiny_data, tmp_path / "r", val=64)))
    rows = runs.read_metrics(tmp_path / "r")
    assert len(rows) == 2 and "val_accuracy" in rows[0]
    assert same_rows(read_csv(tmp_path / "r"), rows)
    header = (tmp_path / "r" / logs.CSV).read_text().splitlines()[0]
    assert header.startswith("epoch,train_loss,train_accuracy,val_loss,val_accuracy,test_loss")


def test_metrics_csv_agrees_with_the_jsonl_after_a_crash_and_a_resume(tiny_data, tmp_path,
                                                                      monkeypatch):
    out = tmp_path / "r"
    fit_until_first_epoch(train.start(config(tiny_data, out)), monkeypatch)
    run = train.resume(out, progress=False)  # the row written before the crash, in both files
    assert same_rows(read_csv(out), runs.read_metrics(out)) and len(read_csv(out)) == 1
    train.fit(run)
    assert same_rows(read_csv(out), runs.read_metrics(out)) and len(read_csv(out)) == 2


def test_csv_cells_are_empty_where_a_row_lacks_a_field():
    text = logs.csv_text([{"epoch": 1, "a": 0.5}, {"epoch": 2, "b": "x,y"}])
    assert text.splitlines() == ["epoch,a,b", "1,0.5,", '2,,"x,y"']


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None,
                    reason="the tensorboard extra is not installed")
def test_tensorboard_events_hold_scalars_filters_and_histograms(tiny_data, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    board = tmp_path / "tb"
    train.fit(train.start(config(tiny_data, tmp_path / "r", val=64, tensorboard=str(board))))
    events = EventAccumulator(str(board), size_guidance={"images": 0, "histograms": 0})
    events.Reload()
    tags = events.Tags()
    rows = runs.read_metrics(tmp_path / "r")
    for tag, key in (("loss/train", "train_loss"), ("accuracy/val", "val_accuracy"),
                     ("accuracy/test", "test_accuracy"), ("lr", "lr")):
        logged = [(e.step, e.value) for e in events.Scalars(tag)]
        assert logged == [(r["epoch"], pytest.approx(r[key], rel=1e-6)) for r in rows], tag
    images = events.Images("filters/first_layer")
    assert [i.step for i in images] == [1, 2] and images[0].width > 5  # 6 filters of 5x5
    assert {"weights/features.conv1.weight", "weights/head.fc3.bias"} <= set(tags["histograms"])
    histogram = events.Histograms("weights/features.conv1.weight")
    assert [h.step for h in histogram] == [1, 2] and histogram[0].histogram_value.num == 150


def test_filter_images_scale_each_filter_to_zero_one():
    import torch

    images = logs.filter_images(torch.tensor([[[[1.0, 3.0]]], [[[-2.0, -2.0]]]]))
    assert images.tolist() == [[[[0.0, 1.0]]], [[[0.0, 0.0]]]]


def test_a_missing_tensorboard_package_is_one_line_before_any_file(tiny_data, tmp_path,
                                                                   monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "tensorboard" else real(name, *a))
    with pytest.raises(ConvnetError, match=r"pip install 'convnet\[tensorboard\]'"):
        train.start(config(tiny_data, tmp_path / "r", tensorboard=str(tmp_path / "tb")))
    assert not (tmp_path / "r").exists() and not (tmp_path / "tb").exists()
    code = main(["train", "lenet5", "--data", str(tiny_data), "--tensorboard",
                 str(tmp_path / "tb"), "--out", str(tmp_path / "r"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "needs the tensorboard package" in err[0]


def test_run_json_records_the_tensorboard_folder(tiny_data, tmp_path):
    if importlib.util.find_spec("tensorboard") is None:
        pytest.skip("the tensorboard extra is not installed")
    train.fit(train.start(config(tiny_data, tmp_path / "r", epochs=1,
                                 tensorboard=str(tmp_path / "tb"))))
    assert json.loads((tmp_path / "r" / "run.json").read_text())["config"]["tensorboard"] == \
        str(tmp_path / "tb")
