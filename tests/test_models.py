"""Every registered model (timm style), the papers' parameter counts, and the blocks they use.

Paper configurations (224x224, up to 144 M parameters) are built once each and run on a single
image under no_grad; small models run a batch of 2 forward and backward in training mode.
"""

import numpy as np
import pytest
import torch
from torch import nn

from convnet import layers as L
from convnet.models.small import tinyvgg
from convnet.registry import create_model, list_models, model_info
from convnet.summary import summarize

# Parameter counts the papers' reference implementations give (torchvision for all but ZF Net).
PAPER_PARAMS = {
    "alexnet": 61_100_840, "zfnet": 62_357_608, "googlenet": 6_624_904,
    "vgg11": 132_863_336, "vgg13": 133_047_848, "vgg16": 138_357_544, "vgg19": 143_667_240,
    "resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032,
    "densenet121": 7_978_856,
}
SMALL = ["resnet20", "vgg11-small", "densenet-small", "googlenet-small", "alexnet-small",
         "zfnet-small", "tinyvgg"]


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def is_paper_size(name: str) -> bool:
    return model_info(name).input_shape[1] >= 224


def test_every_architecture_is_registered_in_both_sizes():
    assert set(PAPER_PARAMS) | set(SMALL) <= set(list_models())


@pytest.mark.parametrize("name", list_models())
def test_registered_model(name):
    """Output (N, classes) of probabilities; paper counts exact; small models: every gradient."""
    torch.manual_seed(0)
    info = model_info(name)
    model = create_model(name)
    last_name, last = list(model.head.named_children())[-1]
    assert last_name == "softmax" and isinstance(last, L.Softmax)
    assert isinstance(model.features, nn.Sequential) and model.input_shape == info.input_shape
    if name in PAPER_PARAMS:
        assert n_params(model) == PAPER_PARAMS[name]
    if is_paper_size(name):  # one image, no autograd graph: 224x224 forwards are the slow part
        model.eval()
        with torch.no_grad():
            probs = model.probabilities(torch.randn(1, *info.input_shape))
        n = 1
    else:
        n = 2
        x = torch.randn(n, *info.input_shape)
        probs = model.probabilities(x)
        model.zero_grad()
        model(x).sum().backward()
        # a parameter frozen by design (airbench94's whitening filters, its batch-norm scales)
        # gets none; every trainable one must
        missing = [k for k, p in model.named_parameters() if p.requires_grad and p.grad is None]
        assert not missing, f"{name}: no gradient for {missing}"
        assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.requires_grad)
    assert probs.shape == (n, info.num_classes)
    assert not torch.isnan(probs).any()
    assert torch.allclose(probs.sum(dim=1), torch.ones(n), atol=1e-5)


@pytest.mark.parametrize("name", SMALL)
def test_small_models_summary_accounts_for_every_parameter(name):
    """summarize() reaches every leaf layer, nested blocks included, and counts what torch does."""
    model = create_model(name)
    summary = summarize(model)
    assert summary.total_params == n_params(model)
    assert summary.total_mult_adds > 0


@pytest.mark.parametrize("name", ["alexnet-small", "zfnet-small", "resnet20", "densenet-small",
                                  "googlenet-small"])
def test_small_models_take_unpadded_grayscale_28x28(name):
    model = create_model(name, in_chans=1).eval()
    with torch.no_grad():
        assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize("side, flat", [(28, 160), (32, 250), (64, 1690)])
def test_tinyvgg_sizes(side, flat):
    model = tinyvgg(in_chans=1, img_size=side)
    assert model.head.fc1.in_features == flat
    assert model(torch.zeros(2, 1, side, side)).shape == (2, 10)


def test_nested_block_rows_in_summary():
    rows = {r.name: r for r in summarize(create_model("resnet18")).rows}
    assert rows["layer1.0.conv1"].params == 3 * 3 * 64 * 64
    assert rows["layer2.0.shortcut.conv"].output_shape == [128, 28, 28]
    assert rows["fc1"].params == 512 * 1000 + 1000
    googlenet = summarize(create_model("googlenet"))
    assert googlenet.total_params == PAPER_PARAMS["googlenet"]
    names = [r.name for r in googlenet.rows]
    assert "inception3a.branch2.1.conv" in names and names[-1] == "softmax"
    densenet = [r.name for r in summarize(create_model("densenet-small")).rows]
    assert "denseblock3.denselayer8.conv2" in densenet and "transition1.pool" in densenet


def test_resnet20_option_a_shortcuts_have_no_parameters():
    model = create_model("resnet20")
    shortcut = model.features.layer2[0].shortcut
    assert isinstance(shortcut, L.ZeroPadShortcut) and n_params(shortcut) == 0
    out = shortcut(torch.ones(1, 16, 8, 8))
    assert out.shape == (1, 32, 4, 4) and out[:, :16].eq(1).all() and out[:, 16:].eq(0).all()


@pytest.mark.parametrize("shortcut, params", [("A", 9 * 16 * 32 + 64 + 9 * 32 * 32 + 64),
                                              ("B", 9 * 16 * 32 + 64 + 9 * 32 * 32 + 64
                                               + 16 * 32 + 64)])
def test_residual_block_shortcuts(shortcut, params):
    block = L.ResidualBlock(16, 32, stride=2, shortcut=shortcut)
    assert block(torch.randn(2, 16, 9, 9)).shape == (2, 32, 5, 5)
    # conv1 3x3 16->32 + bn, conv2 3x3 32->32 + bn, and for B a 1x1 16->32 + bn
    assert n_params(block) == params


def test_residual_block_adds_its_input():
    block = L.ResidualBlock(4, 4)
    nn.init.zeros_(block.bn2.weight)  # residual branch outputs 0: the block is relu(x)
    x = torch.randn(2, 4, 5, 5)
    assert torch.allclose(block(x), torch.relu(x))


def test_bottleneck_expands_four_times():
    block = L.Bottleneck(256, 128, stride=2)
    assert block(torch.zeros(1, 256, 8, 8)).shape == (1, 512, 4, 4)


def test_dense_block_keeps_its_input_and_adds_growth_maps():
    block = L.DenseBlock(3, 8, growth=4).eval()
    x = torch.randn(1, 8, 6, 6)
    out = block(x)
    assert out.shape == (1, 8 + 3 * 4, 6, 6) and torch.equal(out[:, :8], x)
    assert L.Transition(20, 10)(out).shape == (1, 10, 3, 3)


def test_inception_concatenates_its_four_branches():
    block = L.Inception(8, 2, 4, 3, 2, 5, 7).eval()
    x = torch.randn(1, 8, 6, 6)
    out = block(x)
    assert out.shape == (1, 2 + 3 + 5 + 7, 6, 6)
    assert block.branch3[1].conv.kernel_size == (5, 5)
    assert torch.equal(out[:, :2], block.branch1(x))  # branch order = map order
    assert torch.equal(out[:, 10:], block.branch4(x))


def test_conv_bn_act_has_no_conv_bias():
    block = L.ConvBNAct(3, 8, 3, stride=2)
    assert block.conv.bias is None and n_params(block) == 3 * 3 * 3 * 8 + 2 * 8
    assert block(torch.zeros(1, 3, 7, 7)).shape == (1, 8, 4, 4)


def test_local_response_norm_matches_the_paper_formula():
    """b_c = a_c / (k + alpha * sum of a^2 over the n maps around c)^beta, written with NumPy."""
    x = torch.randn(2, 7, 3, 3)
    lrn = L.LocalResponseNorm()  # n=5, alpha=1e-4, beta=0.75, k=2
    a = x.numpy().astype(np.float64) * 30  # large values so the alpha term matters
    expected = np.empty_like(a)
    for c in range(7):
        lo, hi = max(0, c - 2), min(7, c + 3)
        expected[:, c] = a[:, c] / (2 + 1e-4 * (a[:, lo:hi] ** 2).sum(axis=1)) ** 0.75
    got = lrn(torch.from_numpy(a).float()).numpy()
    assert np.allclose(got, expected, rtol=1e-4)
