"""The shape sandbox against every registered model: each convolution and pooling layer the
library builds, its settings read off the running model with forward hooks, is one the sandbox
calls valid, with the layer's real output size (``convnet.web.sandbox.settings_of``, where the
page's numbers come from). ResNet-18/34/50's 1x1 stride-2 shortcuts and airbench94's 2x2
pooling of odd maps are among them: torch floors (H + 2p - k)/s + 1, and so does the sandbox,
with a note on the input it never covers and the spec grammar's own, stricter verdict beside it.
"""

import pytest
import torch
from torch import nn

from convnet.kinds.conv import pads
from convnet.models.registry import model_info
from convnet.registry import create_model, list_models
from convnet.web.sandbox import settings_of


def pair(value) -> tuple[int, int]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def window_layers(name: str) -> list[dict]:
    """Every convolution and pooling window the model runs on a zero input of its own size:
    its kernel, stride, padding (top, bottom, left, right), dilation, input and output."""
    net = create_model(name).eval()
    seen = []

    def hook(module, inputs, output):
        _, c, h, w = inputs[0].shape
        conv = isinstance(module, nn.Conv2d)
        seen.append({"module": module, "kernel": pair(module.kernel_size),
                     "stride": pair(module.stride), "in": (c, h, w), "out": tuple(output.shape[2:]),
                     "dilation": pair(module.dilation) if conv else (1, 1),
                     "pads": pads(module, h, w) if conv else pair(module.padding) * 2})

    windows = [m for m in net.modules() if hasattr(m, "kernel_size") and hasattr(m, "stride")]
    handles = [m.register_forward_hook(hook) for m in windows]
    with torch.no_grad():
        net(torch.zeros(1, *model_info(name).input_shape))
    for handle in handles:
        handle.remove()
    assert seen and {id(s["module"]) for s in seen} == {id(m) for m in windows}  # all ran
    return seen


@pytest.mark.parametrize("name", list_models())
def test_every_window_layer_of_every_model_is_valid_in_the_sandbox(name):
    for layer in window_layers(name):
        module, (c, h, w) = layer["module"], layer["in"]
        (kh, kw), (sh, sw), (dh, dw) = layer["kernel"], layer["stride"], layer["dilation"]
        top, bottom, left, right = layer["pads"]
        # the sandbox takes one k, s, p: every layer the library builds is square and symmetric
        assert kh == kw and sh == sw and dh == dw and top == bottom == left == right, layer
        conv = isinstance(module, nn.Conv2d)
        filters = module.out_channels if conv else c
        s = settings_of(c // module.groups if conv else c, h, w, kernel=(kh - 1) * dh + 1,
                        stride=sh, padding=top, filters=filters,
                        bias=conv and module.bias is not None)
        assert s["ok"] and s["problems"] == [], (name, layer, s["problems"])
        assert s["output"] == [filters, *layer["out"]], (name, layer)
        for side, size in (("height", h), ("width", w)):
            unread = (size + 2 * top - kh) % sh
            if unread > top:  # the floor drops input: the note counts it
                lost = f"the last {unread - top} row"
                assert any(lost in n and "never covered" in n for n in s["notes"]), s["notes"]
                assert s[side]["uncovered"] >= unread - top
                assert s["spec"]["ok"] == (top > 0)  # the spec refuses it only unpadded


def test_resnet_projection_shortcuts_are_valid_and_noted():
    shortcuts = [layer for layer in window_layers("resnet18")
                 if layer["kernel"] == (1, 1) and layer["stride"] == (2, 2)]
    assert [layer["in"][1:] for layer in shortcuts] == [(56, 56), (28, 28), (14, 14)]
    s = settings_of(64, 56, 56, kernel=1, stride=2, padding=0, filters=128, bias=False)
    assert s["ok"] and s["output"] == [128, 28, 28]
    assert s["height"]["uncovered"] == 28  # rows 1, 3, ..., 55: every other one
    assert s["notes"][0].endswith("the last 1 row and column of the input is never covered")
    assert s["spec"] == {"token": "conv128@1x1/s2/nobias", "ok": False,
                         "text": "'conv128@1x1/s2/nobias': stride 2 does not tile the 56x56 "
                                 "input: (56 - 1)/2 + 1 = 28.5; pad it or change the stride"}
