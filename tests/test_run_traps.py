"""Traps a practitioner falls into after training: the chosen (best) weights not being the ones
used, a resume that cannot start TensorBoard, run files another command may overwrite, progress
lines on stdout."""

import json

import pytest
import torch

import convnet
from convnet import runs, train
from convnet.cli import main
from convnet.errors import RunError, WriteError
from convnet.predict import Predictor


def config(tiny_data, out, **kw) -> train.TrainConfig:
    base = {"data_dir": str(tiny_data), "epochs": 2, "batch_size": 64, "out": str(out),
            "progress": False}
    return train.TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def val_run(tiny_data, tmp_path_factory):
    """A 2-epoch lenet5 run with a validation split, whose best.safetensors is then replaced by
    weights that classify every image as class 3 (whatever epoch was best, the file used is
    then visible in every prediction)."""
    out = tmp_path_factory.mktemp("traps") / "run"
    train.fit(train.start(config(tiny_data, out, val=0.25)))
    model, _ = runs.load_model(out)
    state = model.state_dict()
    state["head.fc3.bias"] = torch.full_like(state["head.fc3.bias"], -100.0)
    state["head.fc3.bias"][3] = 100.0
    runs.save_weights(out / runs.BEST, state, {"epoch": 1, "metrics": runs.read_metrics(out)[0]})
    return out


@pytest.fixture
def image(digit):
    return digit


def test_metrics_csv_and_best_weights_are_the_runs_own_files(val_run):
    assert {"metrics.csv", "best.safetensors"} <= set(runs.OWN_FILES)
    for name in ("metrics.csv", "best.safetensors"):
        with pytest.raises(WriteError, match=f"is the run's own {name}"):
            runs.check_out(val_run / name)  # e.g. convnet export RUNDIR --out RUNDIR/metrics.csv


def test_every_loader_takes_the_chosen_weights_and_says_so(val_run, image, capsys):
    model, manifest = runs.load_model(val_run)
    assert manifest["weights"] == {"file": "best.safetensors", "epoch": 1}
    assert model.head.fc3.bias[3].item() == 100.0
    assert convnet.create_model("lenet5", checkpoint=val_run).head.fc3.bias[3].item() == 100.0
    predictor = Predictor.from_run(val_run, backend="torch")  # what serve loads
    assert predictor.weights["file"] == "best.safetensors"
    assert predictor.predict(image).label == predictor.classes[3]

    assert main(["predict", str(val_run), str(image), "--backend", "torch", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert row["weights"] == "best.safetensors" and row["label"] == predictor.classes[3]
    main(["predict", str(val_run), str(image), "--backend", "torch"])
    assert ("weights: best.safetensors (epoch 1, chosen on the validation split)"
            in capsys.readouterr().err)
    assert main(["evaluate", str(val_run), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["weights"]["file"] == "best.safetensors"
    assert result["per_class"][3]["recall"] == 1.0  # everything is class 3
    main(["evaluate", str(val_run)])
    assert "weights: best.safetensors (epoch 1" in capsys.readouterr().out


def test_serve_says_which_weights_it_loaded(val_run, tiny_run):
    from fastapi.testclient import TestClient

    from convnet.web.app import create_app

    client = TestClient(create_app([str(val_run), str(tiny_run)]),
                        base_url="http://localhost")  # the Host header is checked
    served = {r["path"]: r["weights"] for r in client.get("/api/runs").json()}
    assert served[str(val_run)] == {"file": "best.safetensors", "epoch": 1}
    assert served[str(tiny_run)]["file"] == "model.safetensors"


def test_a_run_without_a_validation_split_uses_its_last_epoch(tiny_run):
    _, manifest = runs.load_model(tiny_run)
    assert manifest["weights"] == {"file": "model.safetensors", "epoch": 2}


def test_resume_may_start_tensorboard_but_not_change_the_maths(tiny_data, tmp_path, capsys):
    pytest.importorskip("tensorboard")
    out, board = tmp_path / "r", tmp_path / "tb"
    train.fit(train.start(config(tiny_data, out, epochs=1)))
    with pytest.raises(RunError, match="may change only --epochs, --data .* --tensorboard"):
        train.resume(out, 2, progress=False, lr=0.5)
    code = main(["train", "--resume", str(out), "--epochs", "2", "--tensorboard", str(board),
                 "--quiet", "--json"])
    assert code == 0 and json.loads(capsys.readouterr().out)["epoch"] == 2
    assert list(board.glob("events.out.tfevents.*"))
    assert runs.read_manifest(out)["config"]["tensorboard"] == str(board)


def test_fit_writes_progress_to_stderr_and_train_json_stdout_is_json_alone(tiny_data, tmp_path,
                                                                           capsys):
    convnet.fit("lenet5", dataset="mnist", data_dir=str(tiny_data), epochs=1, batch_size=64,
                out=str(tmp_path / "a"))
    captured = capsys.readouterr()
    assert captured.out == "" and "epoch 1/1" in captured.err
    assert main(["train", "lenet5", "--data", str(tiny_data), "--epochs", "1", "--batch-size",
                 "64", "--out", str(tmp_path / "b"), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["epoch"] == 1 and "epoch 1/1" in captured.err
