"""convnet.fit: a registered name, a spec line, a Network or any nn.Module, trained as `convnet
train` trains it, returning a run with history, evaluate() and predict()."""

import json

import pytest
import torch
from safetensors.torch import load_file

import convnet
from convnet import runs, validation
from convnet.cli import main
from convnet.errors import ConvnetError, SpecError
from conftest import synthetic_digits


class TinyNet(torch.nn.Module):
    """A plain PyTorch model: 28x28 grey images -> 10 logits."""

    def __init__(self, outputs: int = 10):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 5)
        self.fc = torch.nn.Linear(4 * 12 * 12, outputs)

    def forward(self, x):
        x = torch.nn.functional.max_pool2d(self.conv(x).relu(), 2)  # (N, 4, 24, 24) -> 12x12
        return self.fc(x.flatten(1))  # (N, 4, 12, 12) -> (N, 576) -> logits


def options(tiny_data, out, **kw) -> dict:
    return {"data_dir": str(tiny_data), "epochs": 1, "batch_size": 64, "limit": 256,
            "out": str(out), "progress": False, **kw}


@pytest.fixture(scope="module")
def lenet_run(tiny_data, tmp_path_factory):
    return convnet.fit("lenet5", **options(tiny_data, tmp_path_factory.mktemp("fit") / "r",
                                           epochs=2))


def test_a_named_model_gives_a_run_with_history_evaluate_and_predict(lenet_run, tmp_path):
    run = lenet_run
    assert isinstance(run, convnet.TrainedRun) and (run.path / "run.json").is_file()
    assert run.history == runs.read_metrics(run.path) and len(run.history) == 2
    assert run.result["test_accuracy"] == run.history[-1]["test_accuracy"]
    assert run.config.optimizer == "adam" and run.config.epochs == 2  # the recipe, filled in
    assert run.evaluate().accuracy == pytest.approx(run.result["test_accuracy"], abs=0.01)
    image = synthetic_digits(1, seed=9)[0][0]  # (28, 28) uint8
    prediction = run.predict(image)
    assert prediction.label in [str(i) for i in range(10)] and 0 < prediction.probability <= 1
    assert "TrainedRun(" in repr(run) and "test_accuracy=" in repr(run)


def test_the_cli_trains_through_the_same_code(lenet_run, tiny_data, tmp_path, capsys):
    code = main(["train", "lenet5", "--data", str(tiny_data), "--epochs", "2", "--batch-size",
                 "64", "--limit", "256", "--out", str(tmp_path / "cli"), "--quiet", "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["test_accuracy"] == lenet_run.result["test_accuracy"]
    a, b = load_file(lenet_run.path / runs.WEIGHTS), load_file(tmp_path / "cli" / runs.WEIGHTS)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_spec_line_trains(tiny_data, tmp_path):
    run = convnet.fit("conv4@5x5 relu maxpool2 fc10 softmax", **options(tiny_data, tmp_path / "r"))
    assert json.loads((run.path / "run.json").read_text())["model"]["spec"].startswith("conv4")
    assert 0 <= run.result["test_accuracy"] <= 1


def test_a_network_object_is_trained_in_place_and_recorded_by_name(tiny_data, tmp_path):
    net = convnet.create_model("lenet5")
    before = net.features.conv1.weight.detach().clone()
    run = convnet.fit(net, **options(tiny_data, tmp_path / "r"))
    assert run.model is net and not torch.equal(before, net.features.conv1.weight.detach())
    assert json.loads((run.path / "run.json").read_text())["config"]["model"] == "lenet5"
    assert main(["evaluate", str(run.path), "--json"]) == 0  # rebuilt from its name


def test_any_module_trains_and_its_run_says_how_to_load_it(tiny_data, tmp_path, capsys):
    module = TinyNet()
    run = convnet.fit(module, **options(tiny_data, tmp_path / "r", epochs=2, val=64))
    assert run.model is module and run.result["test_accuracy"] > 0.2  # 10 classes: chance 0.1
    manifest = json.loads((run.path / "run.json").read_text())
    assert manifest["model"]["module"].endswith("TinyNet") and manifest["model"]["name"] is None
    assert run.evaluate().accuracy == pytest.approx(run.result["test_accuracy"], abs=0.01)
    assert run.predict(synthetic_digits(1, seed=9)[0][0]).label in run.dataset["classes"]
    again = TinyNet()
    again.load_state_dict(load_file(run.path / validation.BEST))  # the user's class, weights in
    capsys.readouterr()
    code = main(["predict", str(run.path), str(tmp_path / "any.png")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 7 and len(err) == 1
    assert "a Python class" in err[0] and "TinyNet" in err[0] and "only its own code" in err[0]


def test_a_module_whose_output_does_not_fit_the_dataset_is_refused_first(tiny_data, tmp_path):
    with pytest.raises(SpecError, match=r"maps a batch of 2 images to shape \(2, 3\), but "
                                        r"mnist needs \(2, 10\)"):
        convnet.fit(TinyNet(outputs=3), **options(tiny_data, tmp_path / "r"))
    assert not (tmp_path / "r").exists()


def test_an_unknown_option_names_the_nearest_one():
    with pytest.raises(TypeError, match="unknown option 'epoch'; did you mean 'epochs'"):
        convnet.fit("lenet5", epoch=3)


def test_a_model_of_another_type_is_one_line():
    with pytest.raises(ConvnetError, match="model must be a registered name, a spec line or a "
                                           "torch.nn.Module, got int"):
        convnet.fit(42)
