"""``convnet explain conv|relu|pool``: the tutorials' numbers, in JSON and in the text."""

import json

import pytest

from convnet.cli import main
from convnet.explain import explain_conv, parse_matrix


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
    first = e["steps"][0]
    assert first["patch"] == [[1, 1, 1], [0, 1, 1], [0, 0, 1]]
    assert first["products"] == [[1, 0, 1], [0, 1, 0], [0, 0, 1]] and first["sum"] == 4
    assert e["steps"][3] == {"position": [1, 0], "patch": [[0, 1, 1], [0, 0, 1], [0, 0, 1]],
                             "products": [[0, 0, 1], [0, 0, 0], [0, 0, 1]], "sum": 2}


def test_conv_tutorial_example_text(capsys):
    code, out, _ = run(capsys, "conv")
    assert code == 0
    assert "position (0, 0):" in out and "position (2, 2):" in out
    assert "sum = 1 + 0 + 1 + 0 + 1 + 0 + 0 + 0 + 1 = 4" in out
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
    (["conv", "--padding", "wide"], ["--padding", "'wide'"]),
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
