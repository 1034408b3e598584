"""Every layer's output shape against the formula H_out = floor((H + pads - k) / s) + 1."""

import math

import pytest
import torch

from convnet.layers import AvgPool2d, Conv2d, MaxPool2d, Subsample2d, SumPool2d
from convnet.shapes import conv_output_size, same_padding

SIZES = [5, 7, 8, 28, 32]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("s", [1, 2, 3])
@pytest.mark.parametrize("padding", ["valid", "same", 0, 1, 2])
def test_conv_output_shape_matches_formula(size, k, s, padding):
    conv = Conv2d(2, 3, k, stride=s, padding=padding)
    out = conv(torch.zeros(1, 2, size, size + 1))
    if padding == "same":
        expect_h, expect_w = math.ceil(size / s), math.ceil((size + 1) / s)
        assert conv.pads(size, size + 1)[:2] == same_padding(size, k, s)
    else:
        p = 0 if padding == "valid" else padding
        expect_h = (size + 2 * p - k) // s + 1
        expect_w = (size + 1 + 2 * p - k) // s + 1
        assert expect_h == conv_output_size(size, k, s, (p, p))
    assert tuple(out.shape) == (1, 3, expect_h, expect_w)


@pytest.mark.parametrize("cls", [MaxPool2d, AvgPool2d, SumPool2d])
@pytest.mark.parametrize("size,k,s", [(28, 2, 2), (10, 2, 2), (7, 3, 2), (8, 3, 1), (9, 3, 3)])
def test_pool_output_shape_matches_formula(cls, size, k, s):
    out = cls(k, s)(torch.zeros(2, 4, size, size))
    assert tuple(out.shape) == (2, 4, (size - k) // s + 1, (size - k) // s + 1)


def test_subsample_shape_and_params():
    s2 = Subsample2d(6, 2)
    assert tuple(s2(torch.zeros(1, 6, 28, 28)).shape) == (1, 6, 14, 14)
    assert sum(p.numel() for p in s2.parameters()) == 12


@pytest.mark.parametrize("size,k,s,expected", [
    (28, 5, 1, (2, 2)), (28, 4, 1, (1, 2)), (28, 3, 2, (0, 1)), (28, 4, 2, (1, 1)),
    (7, 2, 2, (0, 1)), (32, 1, 1, (0, 0)), (5, 7, 1, (3, 3)),
])
def test_same_padding_split(size, k, s, expected):
    """Odd totals put the extra zero after (bottom/right), as TensorFlow/Keras do."""
    assert same_padding(size, k, s) == expected
    top, bottom = same_padding(size, k, s)
    assert conv_output_size(size, k, s, (top, bottom)) == math.ceil(size / s)
