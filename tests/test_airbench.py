"""airbench94: patch whitening set from the data, frozen layers, per-parameter rates.

The network's tricks live in the model (convnet/models/airbench.py) and in two generic trainer
hooks (``train.init_from_data``, ``lr_scale`` groups in ``train.make_optimizer``); these tests
hold each to what it claims, on tiny CIFAR-format data (the real runs are in docs/performance.md).
"""

from pathlib import Path

import numpy as np
import pytest
import torch

from convnet import create_model
from convnet.models.airbench import BIAS_LR_SCALE, PatchWhitening
from convnet.train import TrainConfig, fit, make_optimizer, start, torch_step

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


@pytest.fixture(scope="module")
def cifar_dir(tmp_path_factory) -> Path:
    """DIR/cifar10/cifar-10-batches-bin with 5 x 40 training and 40 test records."""
    folder = tmp_path_factory.mktemp("data") / "cifar10" / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        labels = rng.integers(0, 10, (40, 1)).astype(np.uint8)
        pixels = rng.integers(0, 256, (40, 3072)).astype(np.uint8)
        pixels[:, :1024] //= 2  # channels with different statistics: red darker
        (folder / name).write_bytes(np.concatenate([labels, pixels], axis=1).tobytes())
    (folder / "batches.meta.txt").write_text("\n".join(CLASSES) + "\n")
    return folder.parents[1]


def test_whitening_decorrelates_patches_to_unit_variance():
    torch.manual_seed(0)
    mix = torch.tensor([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.5, 0.5, 0.7]])  # correlated colours
    x = torch.einsum("dc,nchw->ndhw", mix, torch.randn(200, 3, 10, 10))
    layer = PatchWhitening(3)
    layer.init_from_data(x)
    y = layer(x)  # (200, 24, 9, 9)
    plus = y[:, :12].permute(0, 2, 3, 1).reshape(-1, 12)  # (200*9*9, 12)
    assert torch.allclose(torch.cov(plus.T), torch.eye(12), atol=0.03)
    assert torch.equal(y[:, 12:], -y[:, :12])  # the - half mirrors the + half (bias 0)


def test_start_whitens_from_the_training_images_and_training_leaves_it_fixed(cifar_dir, tmp_path):
    cfg = TrainConfig(model="airbench94", dataset="cifar10", data_dir=str(cifar_dir), epochs=1,
                      batch_size=50, out=str(tmp_path / "run"), progress=False)
    run = start(cfg)
    expected = PatchWhitening(3)
    expected.init_from_data(run.data.train.x[:5000])
    whitening = run.model.features.whitening
    assert torch.allclose(whitening.weight, expected.weight)
    assert not torch.allclose(whitening.weight, PatchWhitening(3).weight)  # not the default
    before = {k: v.clone() for k, v in run.model.state_dict().items()}
    fit(run)
    after = run.model.state_dict()
    assert torch.equal(after["features.whitening.weight"], before["features.whitening.weight"])
    assert torch.equal(after["features.group1.bn1.weight"], torch.ones(64))  # gamma frozen at 1
    assert not torch.equal(after["features.group1.bn1.bias"], before["features.group1.bn1.bias"])
    assert not torch.equal(after["features.group1.conv1.weight"],
                           before["features.group1.conv1.weight"])


def test_batch_norm_shifts_learn_64_times_faster_with_the_same_decay():
    model = create_model("airbench94")
    cfg = TrainConfig(optimizer="nesterov", lr=0.5, momentum=0.85, weight_decay=1e-3)
    opt = make_optimizer(cfg, model)
    groups = {g["lr_scale"]: g for g in opt.param_groups}
    assert set(groups) == {1.0, BIAS_LR_SCALE}
    fast = {id(p) for p in groups[BIAS_LR_SCALE]["params"]}
    biases = [p for n, p in model.named_parameters() if ".bn" in n and n.endswith("bias")]
    assert fast == {id(p) for p in biases} and len(biases) == 6
    for scale, group in groups.items():  # lr * decay is the same for every group
        assert group["weight_decay"] * scale == pytest.approx(1e-3)
    x, y = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    torch_step(TrainConfig(precision="fp32", label_smoothing=0.0, channels_last=False),
               model, opt, x, y, 0.01)
    assert groups[1.0]["lr"] == pytest.approx(0.01)
    assert groups[BIAS_LR_SCALE]["lr"] == pytest.approx(0.01 * BIAS_LR_SCALE)


def test_models_without_scales_keep_one_group_and_their_decay():
    opt = make_optimizer(TrainConfig(optimizer="adam", lr=1e-3, weight_decay=5e-4),
                         create_model("lenet5"))
    assert len(opt.param_groups) == 1 and opt.param_groups[0]["weight_decay"] == 5e-4
