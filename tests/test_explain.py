"""``convnet explain MODE``: the tutorials' numbers, in JSON and in the text."""

import json

import pytest
import torch
import torch.nn.functional as F

from convnet.cli import build_parser, main
from convnet.explain import MODES, explain_conv, parse_matrix


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(["explain", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def as_json(capsys, *argv) -> dict:
    code, out, _ = run(capsys, *argv, "--json")
    assert code == 0
    return json.loads(out)


def test_conv_tutorial_example_json(capsys):
    e = as_json(capsys, "conv")
    assert e["feature_map"] == [[4, 3, 4], [2, 4, 3], [2, 3, 4]]
    assert len(e["steps"]) == 9
    first = e["steps"][0]["channels"][0]
    assert first["patch"] == [[1, 1, 1], [0, 1, 1], [0, 0, 1]]
    assert first["products"] == [[1, 0, 1], [0, 1, 0], [0, 0, 1]] and first["sum"] == 4
    assert e["steps"][3] == {"position": [1, 0], "bias": 0, "sum": 2, "channels": [
        {"patch": [[0, 1, 1], [0, 0, 1], [0, 0, 1]],
         "products": [[0, 0, 1], [0, 0, 0], [0, 0, 1]], "sum": 2}]}
    assert e["output_size"]["height"] == "⌊(5 + 0 + 0 − 3)/1⌋ + 1 = 3"


def test_conv_tutorial_example_text(capsys):
    code, out, _ = run(capsys, "conv")
    assert code == 0
    assert "position (0, 0):" in out and "position (2, 2):" in out
    assert "sum = 1 + 0 + 1 + 0 + 1 + 0 + 0 + 0 + 1 = 4" in out
    assert "height ⌊(5 + 0 + 0 − 3)/1⌋ + 1 = 3" in out and "bias" not in out
    assert out.rstrip().endswith("feature map:\n  4 3 4\n  2 4 3\n  2 3 4")


@pytest.mark.parametrize("padding, stride, expected", [
    ("valid", 2, [[4, 4], [2, 4]]),
    ("1", 1, [[2, 2, 3, 1, 1], [1, 4, 3, 4, 1], [1, 2, 4, 3, 3], [1, 2, 3, 4, 1],
              [0, 2, 2, 1, 1]]),
    ("same", 2, [[2, 3, 1], [1, 4, 3], [0, 2, 1]]),
])
def test_conv_stride_and_padding(capsys, padding, stride, expected):
    e = as_json(capsys, "conv", "--padding", padding, "--stride", stride)
    assert e["feature_map"] == expected


def test_conv_custom_matrices(capsys):
    e = as_json(capsys, "conv", "--image", "1,2,3;4,5,6;7,8,9", "--kernel", "0,1;1,0")
    assert e["feature_map"] == [[6, 8], [12, 14]]
    e = as_json(capsys, "conv", "--image", "0.5,1;1,1", "--kernel", "2")
    assert e["feature_map"] == [[1, 2], [2, 2]]


def test_relu(capsys):
    e = as_json(capsys, "relu", "--image=-1,2;3,-4.5")
    assert e["output"] == [[0, 2], [3, 0]] and e["zeroed"] == [[0, 0], [1, 1]]
    code, out, _ = run(capsys, "relu")
    assert code == 0 and "max(0, x)" in out and "output = max(0, input):\n  3 0 0" in out


@pytest.mark.parametrize("mode, expected", [
    ("max", [[6, 8], [3, 4]]), ("avg", [[3.25, 5.25], [2, 2]]), ("sum", [[13, 21], [8, 8]]),
])
def test_pool_tutorial_example(capsys, mode, expected):
    e = as_json(capsys, "pool", "--mode", mode)
    assert e["output"] == expected
    assert e["steps"][0]["window"] == [[1, 1], [5, 6]]
    code, out, _ = run(capsys, "pool", "--mode", mode)
    assert code == 0 and f"{mode} pooling: a 2x2 window moved by 2" in out


def test_pool_overlapping_windows(capsys):
    e = as_json(capsys, "pool", "--size", 3, "--stride", 1)
    assert e["output"] == [[7, 8], [7, 8]]


@pytest.mark.parametrize("argv, words", [
    (["conv", "--image", "1,2;3"], ["--image", "different lengths", "[2, 1]"]),
    (["conv", "--image", "1,a;2,3"], ["--image", "'1,a;2,3'"]),
    (["conv", "--image", "1,2;3,4"], ["--kernel 3x3", "larger", "2x2"]),
    (["conv", "--kernel", "1,2,3;4,5,6"], ["--kernel must be square", "2x3"]),
    (["conv", "--stride", "0"], ["--stride", "0"]),
    (["conv", "--padding", "diagonal"], ["--padding", "wide", "'diagonal'"]),
    (["pool", "--size", "5"], ["--size 5", "4x4"]),
    (["pool", "--stride", "0"], ["--stride", "0"]),
    (["relu", "--image", ";"], ["--image is empty"]),
    (["conv", "--image", "nan,1;1,1"], ["--image must hold finite numbers", "'nan,1;1,1'"]),
    (["pool", "--image=-inf,1;1,1"], ["--image must hold finite numbers"]),
    (["conv", "--kernel", "1e300"], ["--kernel must hold finite numbers of at most 1e+15"]),
])
def test_bad_matrices_are_one_line_spec_errors(capsys, argv, words):
    code, out, err = run(capsys, *argv)
    assert code == 3 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert all(w in err for w in words), err


def test_large_numbers_are_explained_not_refused(capsys):
    """The shown arithmetic is checked against the layer to float32's precision: numbers
    whose 6-digit roundings differ between the two sums of products still pass."""
    e = explain_conv([[1.2345645, 1e6], [3e-7, -1e6]], [[1, 1], [1, 1]])
    assert len(e["feature_map"]) == 1


def test_parse_matrix_accepts_spaces_and_commas():
    assert parse_matrix("1 2; 3,4") == [[1, 2], [3, 4]]
    assert explain_conv([[1]], [[3]])["feature_map"] == [[3]]


# ----------------------------------------------------------------------------- conv: channels

def torch_conv(image, kernel, bias, stride, padding) -> list:
    x = torch.tensor(image, dtype=torch.float64)[None]  # (C, H, W) -> (1, C, H, W)
    w = torch.tensor(kernel, dtype=torch.float64)[None]  # one filter: (1, C, k, k)
    out = F.conv2d(x, w, torch.tensor([float(bias)], dtype=torch.float64), stride, padding)
    return out[0, 0].tolist()


def channels_text(t: torch.Tensor) -> str:
    return " | ".join(";".join(",".join(str(int(v)) for v in row) for row in m) for m in t)


@pytest.mark.parametrize("channels, k, stride, padding, bias", [
    (3, 3, 1, "1", "1"), (3, 3, 2, "valid", "-2.5"), (2, 2, 1, "0", "0"), (4, 3, 2, "2", "7"),
])
def test_multichannel_conv_with_bias_equals_torch_conv2d(capsys, channels, k, stride, padding,
                                                         bias):
    g = torch.Generator().manual_seed(channels * 10 + k)
    image = torch.randint(-5, 6, (channels, 6, 7), generator=g)
    kernel = torch.randint(-3, 4, (channels, k, k), generator=g)
    e = as_json(capsys, "conv", "--image", channels_text(image), "--kernel",
                channels_text(kernel), "--stride", stride, "--padding", padding, "--bias", bias)
    want = torch_conv(image.tolist(), kernel.tolist(), float(bias), stride, int(
        padding if padding != "valid" else 0))
    assert e["feature_map"] == want  # small integers and halves: exact in float32 too
    assert len(e["steps"][0]["channels"]) == channels
    for s in e["steps"]:  # each output: the channels' sums plus the bias
        assert s["sum"] == pytest.approx(sum(c["sum"] for c in s["channels"]) + float(bias))
    assert len(e["feature_map"]) == int(e["output_size"]["height"].rsplit("= ", 1)[1])
    assert len(e["feature_map"][0]) == int(e["output_size"]["width"].rsplit("= ", 1)[1])


def test_rgb_example_is_the_tutorials_3x3x3_kernel(capsys):
    e = as_json(capsys, "conv", "--rgb")
    first = e["steps"][0]
    assert [c["sum"] for c in first["channels"]] == [308, -498, 164]
    assert first["bias"] == 1 and first["sum"] == -25  # 308 − 498 + 164 + 1
    assert e["padding"]["mode"] == "same" and len(e["feature_map"]) == 5
    assert e["feature_map"] == torch_conv(e["image"], e["kernel"], 1, 1, 1)
    assert e["output_size"]["height"] == "⌊(5 + 1 + 1 − 3)/1⌋ + 1 = 5"
    code, out, _ = run(capsys, "conv", "--rgb")
    assert code == 0 and "output = 308 + -498 + 164 + 1 (bias) = -25" in out
    assert "image, channel 2:" in out and "kernel, channel 0:" in out


@pytest.mark.parametrize("word, same_as, zeros", [("wide", "full", 2), ("narrow", "valid", 0)])
def test_wide_and_narrow_name_full_and_valid_padding(capsys, word, same_as, zeros):
    e = as_json(capsys, "conv", "--padding", word)
    assert e["padding"]["mode"] == same_as
    assert [e["padding"][s] for s in ("top", "bottom", "left", "right")] == [zeros] * 4
    assert e["feature_map"] == as_json(capsys, "conv", "--padding", same_as)["feature_map"]
    assert e["feature_map"] == torch_conv(e["image"], e["kernel"], 0, 1, zeros)
    size = 5 + 2 * zeros - 3 + 1  # wide: 7x7, narrow: 3x3
    assert len(e["feature_map"]) == size


# ----------------------------------------------------------------------------- softmax, error

def test_error_the_tutorials_boat_is_055(capsys):
    e = as_json(capsys, "error")
    assert e["error"] == 0.55 and e["terms"] == [0.04, 0.16, 0.81, 0.09]
    assert e["classes"] == ["dog", "cat", "boat", "bird"]
    typed = as_json(capsys, "error", "--output", "0.2, 0.4, 0.1, 0.3", "--target", "0,0,1,0")
    assert typed["error"] == 0.55
    by_index = as_json(capsys, "error", "--output", "0.2 0.4 0.1 0.3", "--target", "2")
    assert by_index["target"] == [0, 0, 1, 0] and by_index["error"] == 0.55
    code, out, _ = run(capsys, "error")
    assert code == 0 and "E = ½ (0.04 + 0.16 + 0.81 + 0.09) = ½ × 1.1 = 0.55" in out
    assert "boat" in out and "note:" not in out


def test_error_cross_entropy_and_outputs_that_do_not_add_to_one(capsys):
    e = as_json(capsys, "error", "--loss", "cross-entropy")
    assert e["error"] == pytest.approx(-torch.log(torch.tensor(0.1)).item(), rel=1e-5)
    e = as_json(capsys, "error", "--output", "0.5,0.9", "--target", "1,0")
    assert e["error"] == pytest.approx(0.5 * (0.25 + 0.81))
    _, out, _ = run(capsys, "error", "--output", "0.5,0.9", "--target", "1,0")
    assert "note: the outputs add up to 1.4, not 1" in out


def test_softmax_on_typed_numbers_equals_torch(capsys):
    e = as_json(capsys, "softmax", "--logits=-1, 3.5, 0, 2")
    want = torch.softmax(torch.tensor([-1, 3.5, 0, 2], dtype=torch.float64), 0).tolist()
    assert e["probabilities"] == pytest.approx(want, rel=1e-5)
    assert e["max"] == 3.5 and e["shifted"] == [-4.5, 0, -3.5, -1.5]
    assert sum(e["probabilities"]) == pytest.approx(1, abs=1e-5)
    big = as_json(capsys, "softmax", "--logits", "1000, 999")  # the max shift: no overflow
    assert big["probabilities"] == pytest.approx([0.731059, 0.268941], rel=1e-5)
    code, out, _ = run(capsys, "softmax")
    assert code == 0 and "Σ_j e^(z_j − 2) = 1 + 0.367879 + 0.149569 = 1.51745" in out


@pytest.mark.parametrize("argv, words", [
    (["softmax", "--logits", "1, two"], ["--logits", "'1, two'"]),
    (["softmax", "--logits", "inf,1"], ["--logits must hold finite numbers"]),
    (["softmax", "--logits", " , "], ["--logits is empty"]),
    (["error", "--output", "0.5,x", "--target", "1"], ["--output", "'0.5,x'"]),
    (["error", "--output", "0.5,0.5"], ["--target is needed"]),
    (["error", "--output", "0.5,0.5", "--target", "1,0,0"], ["3 values", "has 2"]),
    (["error", "--output", "0,1", "--target", "0", "--loss", "cross-entropy"], ["ln 0"]),
    (["conv", "--bias", "nan"], ["--bias must hold finite numbers"]),
    (["conv", "--bias", "1,2"], ["--bias must be one number", "'1,2'"]),
    (["conv", "--kernel", "1,0;0,1|1,1;1,1"], ["2 channel(s)", "--image has 1"]),
    (["conv", "--image", "1,2;3,4|1,2"], ["channels of different sizes 2x2, 1x2"]),
    (["conv", "--rgb", "--kernel", "1,0;0,1"], ["1 channel(s)", "--image has 3"]),
    (["activation", "--kind", "maxpool2"], ["'maxpool2' is not an element-wise layer"]),
    (["conv", "--stride", str(10 ** 20)], ["--stride must be from 1 to 5"]),
    (["pool", "--stride", str(10 ** 20)], ["--stride must be from 1 to 4"]),
    (["conv", "--padding", "100000"], ["too many to show", "200005x200005"]),
    (["conv", "--padding", str(10 ** 20)], ["too many to show"]),
])
def test_bad_numbers_are_one_line_spec_errors(capsys, argv, words):
    code, out, err = run(capsys, *argv)
    assert code == 3 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert all(w in err for w in words), err


def test_activation_mode_runs_any_elementwise_kind(capsys):
    e = as_json(capsys, "activation", "--kind", "leakyrelu", "--image=-2,3")
    assert e["output"] == [[-0.02, 3]]
    assert as_json(capsys, "activation")["kind"] == "tanh"


# ----------------------------------------------------------------------------- the modes table

def mode_parsers() -> dict:
    explain = build_parser()._subparsers._group_actions[0].choices["explain"]
    return dict(explain._subparsers._group_actions[0].choices)


def test_the_cli_modes_are_the_table():
    assert list(mode_parsers()) == list(MODES)
    for name, parser in mode_parsers().items():
        dests = {a.dest for a in parser._actions}
        for names, _ in MODES[name].flags:
            assert names[0].lstrip("-").replace("-", "_") in dests


@pytest.mark.parametrize("mode", list(MODES))
def test_every_mode_has_help_and_json(capsys, mode):
    with pytest.raises(SystemExit) as done:
        main(["explain", mode, "--help"])
    out = capsys.readouterr().out
    assert done.value.code == 0 and out.startswith(f"usage: convnet explain {mode}")
    assert "--json" in out
    parser = mode_parsers()[mode]
    for action in parser._actions:
        if action.option_strings and action.help != "==SUPPRESS==":
            assert action.help, f"{mode} {action.option_strings} has no help"
    if mode != "train-step":  # train-step: tests/test_explain_step.py
        e = as_json(capsys, mode)  # the whole of stdout parses
        assert e["operation"] == mode


def test_json_is_alone_on_stdout_at_the_file_descriptor(capfd):
    assert main(["explain", "error", "--json"]) == 0
    out, err = capfd.readouterr()
    assert json.loads(out)["error"] == 0.55 and err == ""
