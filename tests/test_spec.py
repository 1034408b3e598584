"""The one-line grammar: round trips, every option, and impossible specs caught at definition."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from convnet import Network
from convnet.errors import ConvnetError, SpecError
from convnet.layers import ConnectionTableConv2d, Conv2d, SumPool2d
from convnet.spec import conv, fc, layer, maxpool, parse, sumpool, to_text

LENET = "conv6@5x5 relu maxpool2 conv16@5x5 relu maxpool2 fc120 relu fc100 relu fc10 softmax"


def test_tutorial_lenet_spec_builds_with_400_inputs_into_fc120():
    net = Network.from_spec(LENET, (1, 32, 32))
    assert net.head.fc1.in_features == 400
    assert net(torch.zeros(3, 1, 32, 32)).shape == (3, 10)


def test_round_trip_of_every_option():
    text = ("conv8@3x3/s2/same conv8@4x4/p1/nobias tanh conv6@5x5 sigmoid maxpool3/s2/p1 "
            "conv16@5x5/c3 stanh avgpool2 sumpool2/s1 subsample2 bn dropout0.25 gap fc10/nobias "
            "softmax")
    assert to_text(parse(text)) == text
    assert parse(to_text(parse(text))) == parse(text)


def test_python_definition_equals_text():
    from_python = [conv(6, 5), layer("relu"), maxpool(2), conv(16, 5), layer("relu"),
                   sumpool(2), fc(10), layer("softmax")]
    text = "conv6@5x5 relu maxpool2 conv16@5x5 relu sumpool2 fc10 softmax"
    assert to_text(from_python) == text
    net = Network.from_spec(from_python, (1, 32, 32))
    assert isinstance(net.features.sumpool1, SumPool2d)


def test_options_reach_the_layers():
    net = Network.from_spec("conv4@3x3/s2/same relu fc2", (6, 28, 28))
    assert isinstance(net.features.conv1, Conv2d) and net.features.conv1.stride == (2, 2)
    assert net.features.conv1.mode == "same"
    net = Network.from_spec("conv16@5x5/c3 fc2", (6, 14, 14))
    assert isinstance(net.features.conv1, ConnectionTableConv2d)


def test_multichannel_input_filters_span_all_channels():
    net = Network.from_spec("conv6@5x5 fc4", (3, 32, 32))
    assert tuple(net.features.conv1.weight.shape) == (6, 3, 5, 5)


@pytest.mark.parametrize("text,shape,words", [
    ("conv6@7x7 fc10", (1, 5, 5), ["layer 1", "conv6@7x7", "7x7", "5x5"]),
    ("conv6@5x5 maxpool9 fc10", (1, 12, 12), ["layer 2", "maxpool9", "window 9x9", "8x8"]),
    ("conv6@5x5 foo fc10", (1, 32, 32), ["layer 2", "'foo'", "unknown token"]),
    ("conv0@5x5 fc10", (1, 32, 32), ["layer 1", "at least 1 filter", "got 0"]),
    ("conv6@5x5 maxpool2 fc10", (1, 33, 33), ["layer 2", "stride 2 does not tile", "29x29"]),
    ("conv6@3x3/s2 fc10", (1, 32, 32), ["layer 1", "stride 2 does not tile"]),
    ("fc0", (1, 32, 32), ["layer 1", "at least 1 unit"]),
    ("conv6@5x3 fc10", (1, 32, 32), ["square"]),
    ("softmax fc10", (1, 32, 32), ["softmax can only be the last layer"]),
    ("conv6@5x5/q7 fc10", (1, 32, 32), ["unknown option '/q7'"]),
    ("fc10/s2", (1, 32, 32), ["fc layer takes no option"]),
    ("conv6@5x5 relu", (1, 32, 32), ["never reaches a classifier"]),
    ("fc10 conv6@5x5", (1, 32, 32), ["layer 2", "flat vector"]),
    ("conv6@5x5/c3 fc10", (1, 32, 32), ["C3 connection table joins 6 maps to 16"]),
    ("dropout1.5 fc10", (1, 32, 32), ["dropout probability"]),
    ("", (1, 32, 32), ["empty network spec"]),
    # too large to allocate: refused with the size before any weight exists (they took
    # gigabytes, or died in torch's allocator)
    ("conv999999@5x5 fc10", (1, 32, 32), ["layer 1", "999999x28x28 = 783,999,216 values"]),
    ("fc100000 fc100000 fc10", (1, 32, 32), ["layer 2", "10,000,100,000 weights",
                                             "500,000,000"]),
    ("conv6@5x5/p99999 fc10", (1, 32, 32), ["layer 1", "6x200026x200026"]),
    ("fc10", (3, 100000, 100000), ["the input", "3x100000x100000"]),
    ("conv6@5x5 fc1000000000", (1, 32, 32), ["layer 2", "1,000,000,000 values"]),
])
def test_impossible_specs_fail_at_definition_naming_layer_and_numbers(text, shape, words):
    with pytest.raises(SpecError) as err:
        Network.from_spec(text, shape)
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message


TOKENS = st.sampled_from(["conv", "fc", "maxpool", "avgpool", "sumpool", "relu", "tanh", "@",
                          "x", "/", "s", "p", "same", "c3", "softmax", "dropout", ".", " ", "-"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(TOKENS, st.integers(0, 40).map(str)), max_size=14),
       st.integers(1, 3), st.integers(1, 40))
def test_fuzz_parser_and_builder_only_raise_spec_errors(pieces, channels, side):
    try:
        Network.from_spec("".join(pieces), (channels, side, side))
    except SpecError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_fuzz_random_text(text):
    try:
        parse(text)
    except ConvnetError:
        pass
