"""What each layer learned (issue 14 item 11): receptive fields and the top-9 patches.

The receptive field (``kinds.fields``, ``viz.receptive``) is checked against brute force: the
input pixels with a nonzero gradient of one unit, in a copy of the model made linear and
positive (activations removed, max pooling made average pooling over the same window, every
weight positive) so that no pixel of the field can have a zero gradient by chance. The chosen
patches are recomputed from the layer's activations; the command runs over every registered
model with untrained weights on a tiny CIFAR-format test split.
"""

import copy
import json

import numpy as np
import pytest
import torch
from torch import nn

from convnet import kinds
from convnet.cli import main
from convnet.registry import create_model, list_models, model_info
from convnet.viz.capture import named_layers, recording
from convnet.viz.receptive import receptive_fields

from fake_runs import CIFAR_NAMES, fake_run, write_cifar_test_split


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Torch on one thread: on a busy 2-core machine a spinning pool costs 5x the CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ----------------------------------------------------------------------------- receptive field
def linear_positive(model: nn.Module) -> nn.Module:
    """A copy in which every input pixel of a unit's field reaches it with a positive weight."""
    model = copy.deepcopy(model).double().eval()
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            kind = kinds.of(child)
            if kind is not None and kind.family == "act" or isinstance(child, nn.LocalResponseNorm):
                setattr(parent, name, nn.Identity())
            elif isinstance(child, nn.MaxPool2d):
                setattr(parent, name, nn.AvgPool2d(child.kernel_size, child.stride,
                                                   child.padding, child.ceil_mode))
    for module in model.modules():
        if isinstance(module, nn.Conv2d):  # a mean over the window keeps values near 1
            module.weight.data.fill_(1.0 / module.weight[0].numel())
        elif isinstance(module, nn.BatchNorm2d):
            module.weight.data.fill_(1.0)
            module.running_var.fill_(1.0)
        elif hasattr(module, "weight") and isinstance(module.weight, torch.Tensor):
            module.weight.data.abs_().add_(0.1)
    return model


def seen_pixels(model: nn.Module, layer: str, unit: tuple[int, int, int]) -> np.ndarray:
    """(H, W) bool: the input pixels whose gradient of ``unit`` (channel, y, x) is not zero."""
    x = torch.ones(1, *model.input_shape, dtype=torch.float64, requires_grad=True)
    with recording(model, detach=False) as acts:
        model.forward_features(x)
    c, y, x_ = unit
    acts[layer][0, c, y, x_].backward()
    return (x.grad[0].abs().sum(dim=0) > 0).numpy()


def field_box(fields, layer: str, y: int, x: int, h: int, w: int) -> np.ndarray:
    rows, cols = fields[layer]
    (top, bottom), (left, right) = rows.span(y, h), cols.span(x, w)
    box = np.zeros((h, w), bool)
    box[top:bottom, left:right] = True
    return box


@pytest.mark.parametrize("name", ["lenet5", "lenet5-1998", "resnet20", "googlenet-small",
                                  "densenet-small", "airbench94"])
def test_receptive_field_is_the_set_of_pixels_with_a_gradient(name):
    """Every convolution; units in the corners (clipped fields) and one in the middle."""
    torch.manual_seed(0)
    model = create_model(name)
    fields = receptive_fields(model)
    probe = linear_positive(model)
    _, h, w = model.input_shape
    with torch.no_grad(), recording(probe) as acts:
        probe.forward_features(torch.zeros(1, *model.input_shape, dtype=torch.float64))
    convs = [n for n, m in named_layers(model) if isinstance(m, nn.Conv2d)]
    assert convs and set(convs) <= set(fields)
    for layer in convs:
        _, c, oh, ow = acts[layer].shape
        for y, x in {(0, 0), (oh - 1, ow - 1), (oh // 2, ow // 3)}:
            seen = seen_pixels(probe, layer, (c - 1, y, x))
            assert np.array_equal(seen, field_box(fields, layer, y, x, h, w)), (layer, y, x)


def test_receptive_field_numbers():
    """The textbook numbers: LeNet-5's C3 sees 14x14 pixels; ResNet-20 ends at 81 (jump 4)."""
    lenet = receptive_fields(create_model("lenet5"))
    assert [(lenet[n][0].size, lenet[n][0].jump) for n in ("conv1", "maxpool1", "conv2",
                                                           "maxpool2")] == \
        [(5, 1), (6, 2), (14, 2), (16, 4)]
    resnet = receptive_fields(create_model("resnet20"))
    assert [(resnet[n][0].size, resnet[n][0].jump, resnet[n][0].start) for n in
            ("conv1", "layer1.2.conv2", "layer2.0.conv1", "layer3.2.conv2")] == \
        [(3, 1, -1), (15, 1, -7), (17, 2, -8), (81, 4, -40)]


def test_every_model_has_a_field_for_every_convolution():
    for name in list_models():
        model = create_model(name)
        fields = receptive_fields(model)
        convs = [n for n, m in named_layers(model) if isinstance(m, nn.Conv2d)]
        assert all(fields.get(n) is not None for n in convs), name
