"""ONNX export (checked by onnxruntime against torch) and repeating a run from its manifest."""

import json
import shutil

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from convnet import export
from convnet.cli import main
from convnet.errors import RunError
from convnet.classifier import Classifier
from convnet.evaluate import split_scores
from convnet.models.registry import model_info
from convnet.registry import create_model, list_models
from convnet.runs import eval_mode as runs_eval_mode
from convnet.runs import load_model


@pytest.fixture(scope="module")
def exported(tiny_run, tmp_path_factory):
    """tiny_run exported once (to a copy, so the shared run directory stays as it was)."""
    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    assert main(["export", str(tiny_run), "--out", str(path)]) == 0
    return path


def torch_probs(rundir, x: np.ndarray) -> np.ndarray:
    model, _ = load_model(rundir)
    with torch.inference_mode():
        return model.logits(torch.from_numpy(x)).softmax(dim=1).numpy()


def test_export_runs_in_onnxruntime_with_dynamic_batch(exported, tiny_run):
    session = ort.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["image"]
    assert [o.name for o in session.get_outputs()] == ["probabilities"]
    rng = np.random.default_rng(1)
    for n in (1, 7):
        x = rng.standard_normal((n, 1, 32, 32), dtype=np.float32)
        p = session.run(["probabilities"], {"image": x})[0]
        assert p.shape == (n, 10)
        np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
        assert np.abs(p - torch_probs(tiny_run, x)).max() < 1e-5


def test_metadata_round_trips(exported, tiny_run):
    proto = onnx.load(str(exported))
    assert min(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
    props = {p.key: p.value for p in proto.metadata_props}
    manifest = json.loads((tiny_run / "run.json").read_text())
    assert props["convnet.format"] == export.FORMAT
    assert json.loads(props["convnet.classes"]) == manifest["dataset"]["classes"]
    assert json.loads(props["convnet.mean"]) == manifest["dataset"]["mean"]
    assert json.loads(props["convnet.std"]) == manifest["dataset"]["std"]
    assert json.loads(props["convnet.framing"]) == manifest["dataset"]["framing"]
    assert json.loads(props["convnet.input_shape"]) == manifest["model"]["input_shape"]
    assert json.loads(props["convnet.channels"]) == 1
    assert json.loads(props["convnet.invert"]) in ("auto", "keep")


def test_predict_onnx_equals_predict_rundir(exported, tiny_run, tmp_path, capsys):
    digit = np.zeros((60, 50), np.uint8)
    digit[10:50, 22:28] = 255  # a "1", light on dark
    image = tmp_path / "digit.png"
    Image.fromarray(digit).save(image)
    outputs = []
    for source in (exported, tiny_run):
        assert main(["predict", str(source), str(image), "--json"]) == 0
        outputs.append(json.loads(capsys.readouterr().out))
    (a,), (b,) = outputs
    assert [t["label"] for t in a["top"]] == [t["label"] for t in b["top"]]
    assert a["label"] == b["label"]
    np.testing.assert_allclose([t["probability"] for t in a["top"]],
                               [t["probability"] for t in b["top"]], atol=1e-5)


def batch_norm_net(training: bool) -> torch.nn.Module:
    """Batch norm with running statistics far from any batch's, and dropout: train != eval."""
    from convnet.models import Network

    torch.manual_seed(0)
    net = Network.from_spec("conv4@3x3 bn relu dropout0.5 flatten fc3", (3, 8, 8))
    net.features.bn1.running_mean.uniform_(-2, 2)
    net.features.bn1.running_var.uniform_(0.2, 4)
    return net.train(training)


@pytest.mark.parametrize("training", [True, False])
def test_export_keeps_the_callers_mode_and_checks_eval_mode(training):
    # issue 11: torch.onnx.export restored its wrapper's fresh training flag into the model
    net = batch_norm_net(training)
    data, diff = export.compile_onnx(net)  # parity: eval-mode torch vs the exported graph
    assert diff <= export.TOLERANCE
    assert all(m.training is training for m in net.modules())
    x = np.random.default_rng(2).standard_normal((5, 3, 8, 8), dtype=np.float32)
    with torch.inference_mode():
        expected = net.eval().logits(torch.from_numpy(x)).softmax(dim=1).numpy()
    got = export.session(data).run(["probabilities"], {"image": x})[0]
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_mnist_test_images_agree(mnist_run, real_data, tmp_path):
    from convnet.data import load_dataset
    from convnet.data.loader import fit_to_model, normalize

    result = export.export_onnx(mnist_run, tmp_path / "mnist.onnx")
    model, manifest = load_model(mnist_run)
    test = load_dataset("mnist", "test", data_dir=real_data)
    images = fit_to_model(test.images[:200], model.input_shape)
    ds = manifest["dataset"]
    x = normalize(images, ds["mean"], ds["std"], torch.device("cpu")).numpy()
    got = export.OnnxModel(result.path).probabilities(x)
    expected = torch_probs(mnist_run, x)
    assert (got.argmax(1) == expected.argmax(1)).all()
    assert np.abs(got - expected).max() < 1e-5


def test_export_of_broken_run_is_run_error(tmp_path, capsys):
    (tmp_path / "run.json").write_text("{not json")
    assert main(["export", str(tmp_path)]) == 7
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_parity_failure_writes_nothing(tiny_run, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(export, "max_abs_difference", lambda a, b: 0.5)
    out = tmp_path / "bad.onnx"
    assert main(["export", str(tiny_run), "--out", str(out)]) == 10
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "0.5" in err[0]
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_onnx_without_our_metadata_is_refused(exported, tmp_path, capsys):
    proto = onnx.load(str(exported))
    del proto.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    onnx.save(proto, str(bare))
    with pytest.raises(RunError, match="not exported by convnet"):
        export.OnnxModel(bare)
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    assert main(["predict", str(tmp_path / "junk.onnx"), str(tmp_path / "x.png")]) == 7
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


# ----------------------------------------------------------------------------- from manifest

def test_train_from_manifest_gives_identical_weights(tiny_run, tmp_path):
    out = tmp_path / "again"
    code = main(["train", "--from-manifest", str(tiny_run / "run.json"), "--out", str(out),
                 "--quiet"])
    assert code == 0
    original = load_file(tiny_run / "model.safetensors")  # plain state_dicts
    repeated = load_file(out / "model.safetensors")
    assert original and sorted(original) == sorted(repeated)
    for key in original:
        assert torch.equal(original[key], repeated[key]), key
    assert json.loads((out / "run.json").read_text())["config"]["out"] == str(out)


def test_from_manifest_refuses_another_format(tiny_run, tmp_path, capsys):
    old = tmp_path / "old"
    shutil.copytree(tiny_run, old)
    manifest = json.loads((old / "run.json").read_text())
    (old / "run.json").write_text(json.dumps({**manifest, "format": "convnet-run/0"}))
    assert main(["train", "--from-manifest", str(old / "run.json"), "--quiet"]) == 7
    assert "convnet-run/0" in capsys.readouterr().err


# ------------------------------------------------------------- evaluation's inference path

SMALL_MODELS = [n for n in list_models() if model_info(n).input_shape[1] <= 32]


@pytest.mark.parametrize("name", SMALL_MODELS)
def test_evaluation_runs_every_model_through_onnxruntime_with_torchs_numbers(name):
    # what each epoch's test pass, evaluate and report compute (evaluate.split_scores), on the
    # model's own input shape: digits for the 1-channel models, colour images for the rest
    torch.manual_seed(0)
    model = create_model(name).train()  # a training-mode model, as the loop hands it over
    x = torch.randn(40, *model.input_shape)
    assert export.logits_session(model) is not None, name  # really the onnxruntime path
    logits, flips = split_scores(model, x, flip=True, batch=16)
    assert model.training  # the caller's mode is left alone
    with runs_eval_mode(model), torch.inference_mode():
        want = model.logits(x)
        want_flips = want.softmax(dim=1) + model.logits(x.flip(3)).softmax(dim=1)
    torch.testing.assert_close(logits, want, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(flips, want_flips, rtol=1e-4, atol=1e-4)


class Unexportable(torch.nn.Module):
    """Maps (N, 1, 32, 32) images to 10 logits through a Python loop over a numpy call: the
    ONNX tracer cannot follow it, so evaluation must fall back to torch."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(32 * 32, 10)

    def forward(self, x):
        flat = torch.from_numpy(np.ascontiguousarray(x.detach().numpy().reshape(len(x), -1)))
        return self.fc(flat)


def test_a_module_that_does_not_export_is_evaluated_by_torch():
    model = Classifier(Unexportable(), (1, 32, 32))
    x = torch.randn(8, 1, 32, 32)
    logits, _ = split_scores(model, x)
    with torch.inference_mode():
        torch.testing.assert_close(logits, model.logits(x))


def test_weights_that_make_nan_are_not_trusted_to_onnxruntime():
    # a diverged model: the parity check sees NaN and refuses the session; torch's NaN logits
    # are what evaluation reports (train stops on a NaN loss before it gets here)
    model = create_model("lenet5")
    with torch.no_grad():
        model.head.fc3.bias.fill_(float("nan"))
    assert export.logits_session(model) is None
    logits, _ = split_scores(model, torch.randn(4, 1, 32, 32))
    assert torch.isnan(logits).all()
