"""The layers on hand-computed examples, including the tutorials' own numbers."""

import numpy as np
import pytest
import torch

from convnet.layers import (AvgPool2d, ConnectionTableConv2d, Conv2d, MaxPool2d, ScaledTanh,
                            Softmax, Subsample2d, SumPool2d, lenet_c3_table)

IMAGE = [[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]]
KERNEL = [[1, 0, 1], [0, 1, 0], [1, 0, 1]]


def test_tutorial_convolution_example():
    """The 5x5 image convolved (stride 1, valid) with the 3x3 kernel gives the 3x3 feature map."""
    conv = Conv2d(1, 1, 3, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(KERNEL, dtype=torch.float32)[None, None])
    out = conv(torch.tensor(IMAGE, dtype=torch.float32)[None, None])
    assert out[0, 0].tolist() == [[4, 3, 4], [2, 4, 3], [2, 3, 4]]


def test_filter_spans_all_channels_plus_one_bias():
    conv = Conv2d(3, 1, 2)
    with torch.no_grad():
        conv.weight.fill_(1.0)
        conv.bias.fill_(0.5)
    x = torch.arange(3 * 2 * 2, dtype=torch.float32).reshape(1, 3, 2, 2)
    assert conv(x).item() == pytest.approx(x.sum().item() + 0.5)


def test_same_padding_even_kernel_puts_extra_zero_bottom_right():
    conv = Conv2d(1, 1, 2, padding="same", bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0)
    out = conv(torch.ones(1, 1, 3, 3))[0, 0]
    # the last row/column windows overhang the bottom/right edge: only 2 (or 1) ones inside
    assert out.tolist() == [[4, 4, 2], [4, 4, 2], [2, 2, 1]]


POOL_IN = torch.tensor([[[[1., 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]]]])


@pytest.mark.parametrize("cls,expected", [
    (MaxPool2d, [[6, 8], [3, 4]]),        # the tutorial's max pooling figure
    (AvgPool2d, [[3.25, 5.25], [2, 2]]),
    (SumPool2d, [[13, 21], [8, 8]]),
])
def test_pooling_on_hand_example(cls, expected):
    assert cls(2)(POOL_IN)[0, 0].tolist() == expected


def test_sum_pool_stride_smaller_than_window():
    out = SumPool2d(3, stride=1)(torch.arange(16.0).reshape(1, 1, 4, 4))
    by_hand = [[sum(range(r * 4 + c, r * 4 + c + 3)) + sum(range((r + 1) * 4 + c, (r + 1) * 4 + c + 3))
                + sum(range((r + 2) * 4 + c, (r + 2) * 4 + c + 3)) for c in range(2)] for r in range(2)]
    assert out[0, 0].tolist() == by_hand


def test_subsample_is_coefficient_times_sum_plus_bias():
    s = Subsample2d(1, 2)
    with torch.no_grad():
        s.weight.fill_(0.5)
        s.bias.fill_(1.0)
    assert s(POOL_IN)[0, 0].tolist() == [[7.5, 11.5], [5.0, 5.0]]


def test_c3_table_matches_lecun_table_one():
    table = lenet_c3_table()
    columns = {0: [0, 1, 2], 5: [0, 1, 5], 6: [0, 1, 2, 3], 11: [0, 1, 2, 5], 12: [0, 1, 3, 4],
               13: [1, 2, 4, 5], 14: [0, 2, 3, 5], 15: [0, 1, 2, 3, 4, 5]}
    for out, ins in columns.items():
        assert table[out].nonzero().flatten().tolist() == ins
    assert int(table.sum()) == 60


def test_connection_table_conv_ignores_unconnected_maps():
    c3 = ConnectionTableConv2d(6, 16, 5, table=lenet_c3_table())
    x = torch.randn(1, 6, 14, 14)
    y0 = c3(x)
    x2 = x.clone()
    x2[:, 5] += 100.0  # map 5 feeds outputs 3, 4, 5, 8..11, 13, 14, 15 only
    changed = (c3(x2) - y0).abs().amax(dim=(0, 2, 3)) > 1e-3
    assert changed.nonzero().flatten().tolist() == [3, 4, 5, 8, 9, 10, 11, 13, 14, 15]
    c3(x).sum().backward()
    assert torch.all(c3.weight.grad[lenet_c3_table() == 0] == 0)


def test_scaled_tanh_and_softmax():
    assert ScaledTanh()(torch.tensor([1.0, -1.0])).tolist() == pytest.approx([1.0, -1.0], abs=1e-4)
    p = Softmax()(torch.randn(5, 10) * 10)
    assert torch.allclose(p.sum(dim=1), torch.ones(5))
    assert bool((p > 0).all())
    z = np.array([1.0, 2.0, 3.0])
    assert Softmax()(torch.tensor(z[None])).numpy()[0] == pytest.approx(np.exp(z) / np.exp(z).sum())
