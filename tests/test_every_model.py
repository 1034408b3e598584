"""Every small registered model answers the same for the same image, whichever way it is asked.

Issue 11, bug 1: building the ONNX backend put the model back in training mode, so batch norm
normalised each image by its own statistics and ``predict``, the Python API and ``serve`` gave
wrong probabilities for every model with batch norm. Here each small model is trained for two
steps on tiny CIFAR-format data, then one colour image goes through every path that runs a model
for a user; all must equal a plain eval-mode forward of the loaded run, on every call, and leave
the model in eval mode.
"""

import base64
import contextlib
import io
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

import convnet
from convnet import runs
from convnet.cli import main
from convnet.evaluate import batched_logits, evaluate
from convnet.explain_step import explain_train_step
from convnet.export import export_onnx
from convnet.predict import Predictor
from convnet.registry import list_models, model_info
from convnet.web import create_app

with warnings.catch_warnings():  # starlette's note about httpx vs httpx2 is not ours to fix
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

SMALL = [n for n in list_models() if model_info(n).input_shape[1] <= 32]
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
REAL_CIFAR = (Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cifar10"
              / "cifar-10-batches-bin" / "test_batch.bin")
ATOL = 1e-4


def cifar_records(n: int, rng: np.random.Generator) -> bytes:
    """``n`` binary CIFAR records (label byte + 3,072 pixels), a class-coloured square in each."""
    labels = rng.integers(0, 10, n)
    images = rng.integers(0, 60, (n, 3, 32, 32)).astype(np.uint8)
    for i, k in enumerate(labels):
        images[i, k % 3, 8:24, 8:24] = 120 + 13 * k
    records = np.concatenate([labels[:, None].astype(np.uint8), images.reshape(n, 3072)], axis=1)
    return records.tobytes()  # (n, 3073)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory) -> Path:
    """DIR/cifar-10-batches-bin: 5 train batches of 16 images, a test batch of 20."""
    folder = tmp_path_factory.mktemp("cifar-bin") / "cifar-10-batches-bin"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(1, 6):
        (folder / f"data_batch_{i}.bin").write_bytes(cifar_records(16, rng))
    (folder / "test_batch.bin").write_bytes(cifar_records(20, rng))
    (folder / "batches.meta.txt").write_text("\n".join(CLASSES) + "\n")
    return folder.parent


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    """A 50x40 colour PNG: CIFAR-10's first test image (a cat) enlarged, else a smooth scene.

    Not 32x32, so the resize of preprocessing is part of every path.
    """
    if REAL_CIFAR.is_file():
        record = np.frombuffer(REAL_CIFAR.read_bytes()[:3073], np.uint8)
        image = Image.fromarray(record[1:].reshape(3, 32, 32).transpose(1, 2, 0))  # -> (H, W, 3)
    else:
        yy, xx = np.mgrid[0:40, 0:50] / 40.0
        rgb = np.stack([0.6 + 0.3 * np.sin(3 * xx), 0.4 + 0.3 * yy, 0.5 - 0.3 * xx * yy], -1)
        noise = np.random.default_rng(1).normal(0, 0.03, rgb.shape)
        image = Image.fromarray(np.clip((rgb + noise) * 255, 0, 255).astype(np.uint8))
    path = tmp_path_factory.mktemp("photo") / "photo.png"
    image.resize((50, 40), Image.BICUBIC).save(path)
    return path


@pytest.fixture(scope="module")
def trained(cifar_root, tmp_path_factory) -> dict[str, Path]:
    """Every small model after two training steps (64 images, batch 32): {name: RUNDIR}."""
    root, out = tmp_path_factory.mktemp("every-model"), {}
    for name in SMALL:
        out[name] = root / name
        with contextlib.redirect_stdout(io.StringIO()):
            code = main(["train", name, "--dataset", "cifar10", "--data", str(cifar_root),
                         "--epochs", "1", "--limit", "64", "--batch-size", "32",
                         "--out", str(out[name]), "--quiet"])
        assert code == 0, name
    return out


@pytest.fixture
def predictors(monkeypatch) -> list[Predictor]:
    """Every Predictor made from a run during the test (CLI and serve build their own)."""
    made, original = [], Predictor.from_run.__func__

    def spy(cls, rundir, backend="auto"):
        made.append(original(cls, rundir, backend))
        return made[-1]

    monkeypatch.setattr(Predictor, "from_run", classmethod(spy))
    return made


def reference(rundir: Path, photo: Path) -> tuple[np.ndarray, np.ndarray]:
    """(prepared input (C, H, W), probabilities (K,)) of a plain eval-mode forward."""
    model, manifest = runs.load_model(rundir)
    ds = manifest["dataset"]
    x = Predictor(model, ds["classes"], ds.get("framing"), ds["mean"], ds["std"],
                  "torch").prepare(photo)
    with torch.no_grad():
        p = model.eval().logits(torch.from_numpy(x)[None]).softmax(dim=1)[0]  # (1, K) -> (K,)
    return x, p.numpy()


def by_class(top: list[dict], classes: list[str]) -> np.ndarray:
    """A ``top`` list of {"label", "probability"} (all classes) -> (K,) in class order."""
    found = {t["label"]: t["probability"] for t in top}
    return np.array([found[c] for c in classes])


def data_url(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def in_eval_mode(model: torch.nn.Module) -> bool:
    return not any(m.training for m in model.modules())


def assert_all_equal(got: dict[str, np.ndarray], expected: np.ndarray, name: str) -> None:
    wrong = {k: round(float(np.abs(v - expected).max()), 4) for k, v in got.items()
             if not np.allclose(v, expected, atol=ATOL)}
    assert not wrong, f"{name}: max |p - p_eval| by path: {wrong}"


@pytest.mark.parametrize("name", SMALL)
def test_every_path_gives_the_eval_mode_probabilities(name, trained, photo, predictors, capsys):
    rundir = trained[name]
    x, expected = reference(rundir, photo)
    classes = runs.read_manifest(rundir)["dataset"]["classes"]

    # what a user gets with the defaults (backend "auto": the first call builds ONNX sessions)
    got = {}
    assert main(["predict", str(rundir), str(photo), "--json", "--top", "10"]) == 0
    got["cli"] = by_class(json.loads(capsys.readouterr().out)[0]["top"], classes)
    api = convnet.load(rundir)
    for call in (1, 2):
        got[f"api {call}"] = by_class(api.predict(photo, top=10).to_json()["top"], classes)
    client = TestClient(create_app([rundir]), base_url="http://localhost")  # the Host check
    for call in (1, 2):
        r = client.post("/api/predict", json={"run": rundir.name, "image": data_url(photo)})
        assert r.status_code == 200, r.text
        got[f"serve {call}"] = np.array(r.json()["probabilities"])
    torch_only = Predictor.from_run(rundir, backend="torch")
    for call in (1, 2):
        got[f"torch {call}"] = torch_only.probabilities(x[None])[0]
    step = explain_train_step(runs.load_model(rundir)[0], torch.from_numpy(x)[None], 0, classes)
    got["train-step before"] = np.array([step["before"]["probabilities"][c] for c in classes])
    assert_all_equal(got, expected, name)
    assert api.fallback is None and api.sessions() is not None  # auto did end on onnxruntime

    # onnxruntime asked for by name, and the file `convnet export` writes (its parity check)
    got = {}
    ort = Predictor.from_run(rundir, backend="onnxruntime")
    for call in (1, 2):
        got[f"onnxruntime {call}"] = ort.probabilities(x[None])[0]
    onnx_file = export_onnx(rundir, rundir / "model.onnx").path
    got["exported"] = Predictor.from_onnx(onnx_file).probabilities(x[None])[0]
    assert_all_equal(got, expected, name)

    assert predictors and all(in_eval_mode(p.model) for p in predictors + [api])


@pytest.mark.parametrize("name", SMALL)
def test_every_run_loads_into_a_plain_pytorch_model(name, trained):
    """RUNDIR/model.safetensors is a plain state_dict (issue 15, trap 2): strict
    ``load_state_dict`` into a freshly built model gives the run's model."""
    rundir = trained[name]
    desc = runs.read_manifest(rundir)["model"]
    net = convnet.create_model(name, num_classes=desc["num_classes"],
                               in_chans=desc["input_shape"][0])
    net.load_state_dict(load_file(rundir / runs.WEIGHTS))
    x = torch.randn(2, *net.input_shape)
    with torch.no_grad():
        assert torch.equal(net.eval()(x), runs.load_model(rundir)[0](x))


def test_batched_logits_and_train_step_use_eval_mode_and_restore_it(trained, photo):
    # evaluate and report compute through batched_logits; train-step shows probabilities
    x, expected = reference(trained["resnet20"], photo)
    model = runs.load_model(trained["resnet20"])[0].train()
    probs = batched_logits(model, torch.from_numpy(x)[None]).softmax(dim=1)[0].numpy()
    assert np.allclose(probs, expected, atol=ATOL) and model.training
    step = explain_train_step(model, torch.from_numpy(x)[None], 0, [str(i) for i in range(10)])
    before = np.array(list(step["before"]["probabilities"].values()))
    assert np.allclose(before, expected, atol=ATOL)
    assert all(m.training for m in model.modules())


def test_evaluate_agrees_with_the_training_test_pass(trained, cifar_root):
    manifest = runs.read_manifest(trained["resnet20"])
    ev = evaluate(trained["resnet20"], data_dir=str(cifar_root))
    assert ev.accuracy == pytest.approx(manifest["final"]["test_accuracy"])


def test_flip_evaluation_agrees_with_the_training_row_and_a_hand_count(trained, cifar_root):
    # a photos run trains with flips, so its rows carry the flip accuracy; evaluate --flip must
    # give the same figure, and it must be the mean of the image's and the mirror's probabilities
    rundir = trained["resnet20"]
    manifest = runs.read_manifest(rundir)
    assert manifest["config"]["flip"] is True
    ev = evaluate(rundir, data_dir=str(cifar_root), flip=True)
    assert ev.accuracy == pytest.approx(manifest["final"]["test_accuracy_flip"])
    model = runs.load_model(rundir)[0]
    test = convnet.data.load_dataset("cifar10", "test", str(cifar_root))
    x = convnet.data.loader.normalize(test.images, manifest["dataset"]["mean"],
                                      manifest["dataset"]["std"])
    with torch.no_grad():
        both = model.logits(x).softmax(dim=1) + model.logits(x.flip(3)).softmax(dim=1)
    assert ev.accuracy == pytest.approx(float((both.argmax(dim=1).numpy() == test.labels).mean()))
    assert ev.to_json()["flip"] is True and "mirror image" in ev.table().splitlines()[0]


def test_digit_runs_have_no_flip_accuracy():
    # digits never train with flips (a mirrored 2 is no digit), so their rows stay as they were
    from convnet.train import TrainConfig, evaluate_split, Split
    model = convnet.create_model("lenet5")
    split = Split(torch.zeros(4, 1, 32, 32), torch.zeros(4, dtype=torch.long))
    cfg = TrainConfig(label_smoothing=0.0)
    assert evaluate_split(cfg, model, split)[2] is None
    assert evaluate_split(cfg, model, split, flip=True)[2] in (0.0, 1.0)
