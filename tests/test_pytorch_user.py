"""A PyTorch user's habits work on convnet's models (issue 15, traps 1 and 3).

- Trap 1: ``net(x)`` returns logits: their own loop with ``nn.CrossEntropyLoss`` learns, and
  ``net.probabilities(x)`` is ``softmax(net(x))`` while the softmax stays the head's last layer.
- Trap 3: ``torch.jit.script`` compiles every registered small model, and the compiled module
  gives what the Python one gives.

Trap 2 (a run's weights are a plain state_dict): tests/test_checkpoint_layout.py.
"""

import pytest
import torch
from torch import nn

from convnet.models import Network
from convnet.registry import create_model, list_models, model_info
from convnet.summary import summarize
from convnet.viz.capture import capture

SMALL = [n for n in list_models() if model_info(n).input_shape[1] <= 32]


def separable_set(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 1, 32, 32) images of 3 classes: class k is a bright band at rows 6 + 8k, plus noise."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=gen)
    x = 0.3 * torch.randn(n, 1, 32, 32, generator=gen)
    for i, k in enumerate(y.tolist()):
        x[i, 0, 6 + 8 * k:10 + 8 * k, 4:28] += 2.0
    return x, y


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_own_loop_with_cross_entropy_learns(optimizer):
    torch.manual_seed(0)
    net = create_model("lenet5", num_classes=3)
    x, y = separable_set(96, seed=1)
    opt = (torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9) if optimizer == "sgd"
           else torch.optim.Adam(net.parameters(), lr=1e-3))
    loss_fn = nn.CrossEntropyLoss()
    with torch.no_grad():
        first = loss_fn(net(x), y).item()
    for step in range(40):
        batch = slice(32 * (step % 3), 32 * (step % 3) + 32)
        loss = loss_fn(net(x[batch]), y[batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
    x_test, y_test = separable_set(60, seed=2)
    with torch.no_grad():
        last = loss_fn(net(x), y).item()
        accuracy = (net(x_test).argmax(dim=1) == y_test).float().mean().item()
    assert first > 0.9 and last < 0.3 * first, (first, last)  # ln 3 = 1.10 at the start
    assert accuracy >= 0.95


def test_forward_gives_logits_that_cross_entropy_expects():
    torch.manual_seed(0)
    net = create_model("lenet5").eval()
    x, y = torch.randn(4, 1, 32, 32), torch.tensor([0, 3, 5, 9])
    with torch.no_grad():
        logits, probs = net(x), net.probabilities(x)
    assert not torch.allclose(logits.sum(dim=1), torch.ones(4))  # not probabilities
    assert torch.allclose(probs.sum(dim=1), torch.ones(4), atol=1e-6)
    assert torch.allclose(nn.CrossEntropyLoss()(logits, y),
                          nn.NLLLoss()(probs.log(), y), atol=1e-6)
    assert torch.equal(net.logits(x), logits)  # the older name still answers


@pytest.mark.parametrize("name", SMALL)
def test_probabilities_are_the_softmax_of_forward(name):
    torch.manual_seed(0)
    net = create_model(name).eval()
    x = torch.randn(3, *net.input_shape)
    with torch.no_grad():
        assert torch.allclose(net.probabilities(x), net(x).softmax(dim=1), atol=1e-6)
    assert isinstance(net.head[-1], nn.Softmax)  # still drawn as the last layer ...
    assert list(capture(net, x[:1]))[-1] == "softmax"  # ... and shown by feature maps ...
    assert summarize(net).rows[-1].name == "softmax"  # ... and the summary


def test_a_head_without_softmax_and_one_edited_after_building():
    net = Network.from_spec("conv4@3x3 relu fc5", (1, 8, 8))
    x = torch.randn(2, 1, 8, 8)
    assert torch.allclose(net.probabilities(x), net(x).softmax(dim=1))
    net.head.append(nn.Softmax(dim=1))  # now the head ends in one: forward stops before it
    assert torch.allclose(net(x).softmax(dim=1), net.probabilities(x))
    assert not torch.allclose(net(x).sum(dim=1), torch.ones(2))


@pytest.mark.parametrize("name", SMALL)
def test_every_small_model_compiles_with_torch_jit_script(name):
    torch.manual_seed(0)
    net = create_model(name).eval()
    scripted = torch.jit.script(net)
    x = torch.randn(2, *net.input_shape)
    with torch.no_grad():
        assert torch.allclose(scripted(x), net(x), atol=1e-5)
        assert torch.allclose(scripted.probabilities(x), net.probabilities(x), atol=1e-6)


def test_script_takes_same_padding_on_both_sides_and_odd_inputs():
    # "same" with an even kernel pads unevenly (1 before, 2 after), resolved per input size
    net = Network.from_spec("conv4@4x4/same relu conv3@3x3/s2/same conv2@3x3/p1 fc3 softmax",
                            (1, 9, 9)).eval()
    scripted = torch.jit.script(net)
    x = torch.randn(2, 1, 9, 9)
    with torch.no_grad():
        assert torch.allclose(scripted(x), net(x), atol=1e-6)
