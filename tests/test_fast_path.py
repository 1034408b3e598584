"""The fast paths keep the maths: channels-last, bf16 autocast (the GPU recipe, run here on CPU),
and the onnxruntime inference backend. Speed itself is measured in benchmarks/, not here."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from convnet import create_model, kinds, runs
from convnet.descent import make_optimizer
from convnet.errors import ConvnetError, ExportError
from convnet.models.network import Network, max_first
from convnet.predict import Predictor
from convnet.registry import list_models, model_info
from convnet.train import TrainConfig, fit, start


def train(tiny_data, tmp_path, name, **kw):
    cfg = TrainConfig(data_dir=str(tiny_data), epochs=2, batch_size=64, out=str(tmp_path / name),
                      progress=False, **kw)
    run = start(cfg)
    return run, fit(run)


def test_channels_last_is_the_same_maths(tiny_data, tmp_path):
    sgd = {"optimizer": "momentum", "lr": 0.05}  # linear in the gradient: rounding stays rounding
    run, fast = train(tiny_data, tmp_path, "nhwc", **sgd)
    assert run.model.features.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    _, plain = train(tiny_data, tmp_path, "nchw", channels_last=False, **sgd)
    a, b = runs.load_checkpoint(tmp_path / "nhwc")[0], runs.load_checkpoint(tmp_path / "nchw")[0]
    for name in a:  # other summation order in oneDNN, nothing else
        torch.testing.assert_close(a[name], b[name], rtol=1e-5, atol=1e-6, msg=name)
    assert fast["test_accuracy"] == pytest.approx(plain["test_accuracy"], abs=0.011)


def test_bf16_autocast_trains_and_keeps_fp32_weights(tiny_data, tmp_path, monkeypatch):
    seen = []
    real = torch.nn.functional.conv2d

    def spy(x, *args, **kw):  # what the convolutions really compute in
        out = real(x, *args, **kw)
        seen.append(out.dtype)
        return out

    monkeypatch.setattr(torch.nn.functional, "conv2d", spy)
    _, result = train(tiny_data, tmp_path, "bf16", precision="bf16")
    assert torch.bfloat16 in seen  # the training steps ran in bf16
    assert result["test_accuracy"] > 0.5  # and learned (10 classes: chance is 0.1)
    weights = runs.load_checkpoint(tmp_path / "bf16")[0]
    assert {t.dtype for t in weights.values()} == {torch.float32}
    assert runs.read_manifest(tmp_path / "bf16")["config"]["precision"] == "bf16"


def test_precision_auto_is_fp32_on_cpu_and_bad_values_are_one_line(tiny_data, tmp_path):
    run = start(TrainConfig(data_dir=str(tiny_data), epochs=1, out=str(tmp_path / "a"),
                            progress=False, device="cpu"))
    assert run.cfg.precision == "fp32" and run.data.train.x.device == run.device
    with pytest.raises(ConvnetError, match="--precision must be"):
        start(TrainConfig(data_dir=str(tiny_data), out=str(tmp_path / "b"), precision="fp8"))


def predictor(backend):
    torch.manual_seed(0)
    return Predictor(create_model("lenet5"), list("0123456789"), backend=backend)


@pytest.mark.parametrize("batch", [1, 16, 17, 256])  # both sessions: <= 16 and > 16 images
def test_onnxruntime_backend_matches_torch(batch):
    x = np.random.default_rng(batch).standard_normal((batch, 1, 32, 32), dtype=np.float32)
    fast, plain = predictor("auto"), predictor("torch")
    got, want = fast.probabilities(x), plain.probabilities(x)
    assert fast.sessions() is not None and plain.sessions() is None
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert (got.argmax(1) == want.argmax(1)).all()


def test_auto_falls_back_to_torch_when_the_model_does_not_convert(monkeypatch):
    from convnet import export

    def refuse(*a, **k):
        raise ExportError("torch.onnx could not export the model: no")

    monkeypatch.setattr(export, "compile_onnx", refuse)
    x = np.zeros((2, 1, 32, 32), np.float32)
    auto = predictor("auto")
    assert auto.probabilities(x).shape == (2, 10) and "could not export" in auto.fallback
    with pytest.raises(ExportError):
        predictor("onnxruntime").probabilities(x)
    with pytest.raises(ConvnetError, match="backend must be"):
        predictor("tensorrt")


SMALL = [n for n in list_models() if model_info(n).input_shape[1] <= 32]


@pytest.mark.parametrize("name", SMALL)
@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
def test_max_pool_first_gives_the_same_logits_and_gradients_bit_for_bit(name, layout, one_thread):
    """Training runs each max pool before the ReLU in front of it; nothing may change."""
    torch.manual_seed(0)
    net = create_model(name)
    shape = model_info(name).input_shape
    x = torch.randn(6, *shape)
    x[:, :, :4] = 0.0  # a blank band: windows of equal values, where a pool must pick the same
    if layout == "channels_last":
        net, x = net.to(memory_format=torch.channels_last), x.contiguous(
            memory_format=torch.channels_last)
    results = []
    for forward in (net.logits, net.train_logits):
        torch.manual_seed(1)  # dropout draws the same masks both times
        net.zero_grad()
        logits = forward(x)
        torch.nn.functional.cross_entropy(logits, torch.arange(6) % logits.shape[1]).backward()
        results.append((logits.detach(), {n: p.grad.clone() for n, p in net.named_parameters()
                                             if p.requires_grad}))
    (a, grads_a), (b, grads_b) = results
    assert torch.equal(a, b)
    for n in grads_a:
        assert torch.equal(grads_a[n], grads_b[n]), n


def test_max_first_moves_pools_only_past_relu():
    net = Network.from_spec("conv4@3x3/p1 relu maxpool2 conv4@3x3/p1 tanh maxpool2 "
                            "conv4@3x3/p1 relu avgpool2 fc10", (1, 32, 32))
    order = [kinds.of(m).name for m in max_first(net.features)]
    assert order == ["conv", "maxpool", "relu", "conv", "tanh", "maxpool", "conv", "relu",
                     "avgpool"]
    assert [kinds.of(m).name for m in net.features][1:3] == ["relu", "maxpool"]  # unchanged


def test_adam_is_the_fused_kernel_and_takes_the_reference_steps():
    torch.manual_seed(0)
    a, b = create_model("lenet5"), create_model("lenet5")
    b.load_state_dict(a.state_dict())
    fused = make_optimizer(TrainConfig(optimizer="adam", lr=1e-2, weight_decay=1e-4), a)
    assert fused.defaults["fused"]
    plain = torch.optim.Adam(b.parameters(), lr=1e-2, weight_decay=1e-4, foreach=False)
    x, y = torch.randn(8, 1, 32, 32), torch.arange(8)
    for _ in range(5):
        for net, opt in ((a, fused), (b, plain)):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
    for (n, p), q in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=n)


FAULTS = """
import resource, torch
from convnet import create_model
from convnet.allocator import keep_freed_memory
from convnet.train import TrainConfig, torch_step
assert keep_freed_memory()
torch.set_num_threads(1)
cfg = TrainConfig(model="lenet5", optimizer="adam", lr=1e-3, channels_last=True, precision="fp32")
net = create_model("lenet5").to(memory_format=torch.channels_last)
opt = torch.optim.Adam(net.parameters(), 1e-3)
x, y = torch.randn(128, 1, 32, 32), torch.arange(128) % 10
for _ in range(5):
    torch_step(cfg, net.train_logits, opt, x, y, 1e-3)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    torch_step(cfg, net.train_logits, opt, x, y, 1e-3)
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc settings")
def test_training_steps_reuse_memory_instead_of_faulting_in_new_pages():
    """A fresh process (the setting is process-wide): after keep_freed_memory, a LeNet-5 step at
    batch 128, which allocates about 5 MB of activations and as much of their gradients (some
    2,400 pages), faults in fewer than 112 pages (0-20 measured; glibc's defaults: about 550)."""
    done = subprocess.run([sys.executable, "-c", FAULTS], capture_output=True, text=True,
                          check=True)
    assert float(done.stdout.strip()) < 112
