"""``convnet train --snapshots N``: the first layer's filters from random init to the end, the
live rows beside them, and the report's strip."""

import json

import pytest
import torch
from safetensors.torch import load_file

from convnet.cli import main
from convnet.registry import create_model
from convnet.runs import OWN_FILES, live
from convnet.runs.snapshots import SNAPSHOTS, first_conv, load_snapshots, schedule
from convnet.viz.evolution import strip_columns
from convnet.viz.report import render_report

# 600 tiny images in batches of 64: 10 updates an epoch, 20 in all
STEPS = 20


def cli(*argv) -> int:
    """``convnet ARGV``'s exit code (argparse's errors exit; the others return)."""
    try:
        return main([str(a) for a in argv])
    except SystemExit as e:
        return e.code


def train(tiny_data, out, *flags) -> int:
    return cli("train", "lenet5", "--data", tiny_data, "--epochs", "2", "--batch-size", "64",
               "--out", out, "--quiet", *flags)


@pytest.fixture(scope="module")
def snapped(tiny_data, tmp_path_factory):
    """A tiny lenet5 run with 5 snapshots, seed 3."""
    out = tmp_path_factory.mktemp("snap") / "run"
    assert train(tiny_data, out, "--snapshots", "5", "--seed", "3") == 0
    return out


@pytest.mark.parametrize("n, total, steps", [(5, 20, [0, 5, 10, 15, 20]), (2, 7, [0, 7]),
                                             (4, 2, [0, 1, 2]), (3, 10, [0, 5, 10])])
def test_schedule_is_evenly_spaced_from_init_to_end(n, total, steps):
    assert schedule(n, total) == steps


def test_count_steps_and_the_file_is_a_known_run_file(snapped):
    snaps = load_snapshots(snapped)
    assert snaps.steps == [0, 5, 10, 15, 20] and snaps.total == STEPS
    assert snaps.layer == "features.conv1"
    assert [tuple(w.shape) for w in snaps.weights] == [(6, 1, 5, 5)] * 5
    assert SNAPSHOTS in OWN_FILES and live.LIVE in OWN_FILES


def test_first_is_the_init_and_last_is_the_final_model(snapped):
    snaps = load_snapshots(snapped)
    torch.manual_seed(3)  # the run's initial weights depend on the seed only
    init = first_conv(create_model("lenet5"))[1].weight.detach()
    assert torch.equal(snaps.weights[0], init)
    final = load_file(snapped / "model.safetensors")["features.conv1.weight"]
    assert torch.equal(snaps.weights[-1], final)
    assert not torch.equal(snaps.weights[0], snaps.weights[-1])  # the filters did learn


def test_same_seed_same_snapshots_other_seed_other(snapped, tiny_data, tmp_path):
    train(tiny_data, tmp_path / "again", "--snapshots", "5", "--seed", "3")
    train(tiny_data, tmp_path / "other", "--snapshots", "5", "--seed", "4")
    a, b, c = (load_snapshots(p) for p in (snapped, tmp_path / "again", tmp_path / "other"))
    assert all(torch.equal(x, y) for x, y in zip(a.weights, b.weights))
    assert not torch.equal(a.weights[0], c.weights[0])


def test_live_rows_count_updates_and_end_each_epoch(snapped):
    with open(snapped / live.LIVE) as f:
        rows = live.read_rows(f)
    steps = [r["step"] for r in rows]
    assert steps == sorted(steps) and {10, 20} <= set(steps)  # every epoch's last update
    assert all(0 <= r["accuracy"] <= 1 and r["loss"] > 0 for r in rows)


def test_resume_keeps_the_earlier_snapshots_and_adds_the_new_end(tiny_data, tmp_path):
    train(tiny_data, tmp_path / "r", "--snapshots", "3")
    assert cli("train", "--resume", tmp_path / "r", "--epochs", "4", "--quiet") == 0
    snaps = load_snapshots(tmp_path / "r")
    assert snaps.steps[:3] == [0, 10, 20] and snaps.steps[-1] == 40 and snaps.total == 40
    final = load_file(tmp_path / "r" / "model.safetensors")["features.conv1.weight"]
    assert torch.equal(snaps.weights[-1], final)


def test_without_the_flag_no_snapshots(tiny_run):
    assert load_snapshots(tiny_run) is None


@pytest.mark.parametrize("value", ["1", "0", "1001", "x"])
def test_bad_count_is_one_line(tiny_data, tmp_path, capsys, value):
    assert train(tiny_data, tmp_path / "bad", "--snapshots", value) in (1, 2)
    err = capsys.readouterr().err
    assert "--snapshots" in err.strip().splitlines()[-1] and "Traceback" not in err
    assert not (tmp_path / "bad" / SNAPSHOTS).exists()


def test_strip_columns_keep_first_and_last():
    assert strip_columns(3) == [0, 1, 2]
    cols = strip_columns(50, 10)
    assert len(cols) == 10 and cols[0] == 0 and cols[-1] == 49


def test_report_shows_the_strip(snapped, tiny_data, tiny_run):
    page = render_report(snapped, inputs=[0], data_dir=str(tiny_data))
    section = page.split('<section id="evolution">')[1].split("</section>")[0]
    assert 'class="strip" src="data:image/png;base64,' in section
    assert "5 evenly spaced steps of 20" in section
    plain = render_report(tiny_run, inputs=[0], data_dir=str(tiny_data))
    assert "--snapshots N" in plain.split('<section id="evolution">')[1]


def test_json_metrics_unchanged_by_watching(snapped, tiny_data, tmp_path):
    """The hook reads but never changes the run: same rows without --snapshots."""
    train(tiny_data, tmp_path / "plain", "--seed", "3")
    rows = [json.loads(line) for line in (tmp_path / "plain" / "metrics.jsonl").open()]
    snap_rows = [json.loads(line) for line in (snapped / "metrics.jsonl").open()]
    key = ("train_loss", "test_loss", "test_accuracy")
    assert [[r[k] for k in key] for r in rows] == [[r[k] for k in key] for r in snap_rows]
