"""The NumPy engine against two oracles: torch (values and gradients) and finite differences.

(a) every layer vs its torch layer on random shapes and options (hypothesis);
(b) float64 central differences for every layer and both losses;
(c) whole training steps (SGD, momentum, Adam) on LeNet-5 and LeNet-5 1998 vs torch;
(d)-(e) the tutorials' hand examples; plus the NumpyNetwork interface and its errors.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from convnet import create_model, kinds
from convnet import layers as L
from convnet.errors import ModelError
from convnet.models import Network
from convnet.numpy_engine import SGD, Adam, NumpyNetwork, cross_entropy, ops, sse
from convnet.numpy_engine.network import convert

FEW = settings(max_examples=25, deadline=None)


def assert_close(actual, expected, rtol=1e-4):
    expected = np.asarray(expected)
    atol = rtol * max(1.0, float(np.abs(expected).max(initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


def check_against_torch(module, x):
    """Forward output, dLoss/dInput and every dLoss/dParameter agree for a random upstream grad."""
    layer = convert(module, "layer")
    xt = torch.tensor(x, requires_grad=True)
    yt = module(xt)
    g = np.random.default_rng(1).standard_normal(tuple(yt.shape)).astype(np.float32)
    (yt * torch.from_numpy(g)).sum().backward()
    assert_close(layer.forward(x), yt.detach().numpy())
    assert_close(layer.backward(g), xt.grad.numpy())
    for name, p in module.named_parameters():
        assert_close(layer.grads[name], p.grad.numpy())


def images(seed, n, c, h, w):
    return np.random.default_rng(seed).standard_normal((n, c, h, w)).astype(np.float32)


# ----------------------------------------------------------------------------- (a) vs torch
@FEW
@given(k=st.integers(1, 5), stride=st.integers(1, 3),
       padding=st.sampled_from(["valid", "same", 1, 2]), c_in=st.integers(1, 4),
       c_out=st.integers(1, 5), extra=st.tuples(st.integers(0, 7), st.integers(0, 7)),
       n=st.integers(1, 3), bias=st.booleans(), seed=st.integers(0, 2**16))
def test_conv_matches_torch(k, stride, padding, c_in, c_out, extra, n, bias, seed):
    torch.manual_seed(seed)
    conv = L.Conv2d(c_in, c_out, k, stride, padding, bias)
    check_against_torch(conv, images(seed, n, c_in, k + extra[0], k + extra[1]))


@FEW
@given(k=st.integers(1, 4), stride=st.integers(1, 2), padding=st.sampled_from(["valid", "same", 1]),
       shape=st.tuples(st.integers(1, 5), st.integers(1, 5)), seed=st.integers(0, 2**16))
def test_connection_table_conv_matches_torch(k, stride, padding, shape, seed):
    rng = np.random.default_rng(seed)
    table = torch.from_numpy((rng.random(shape) < 0.5).astype(np.float32))
    torch.manual_seed(seed)
    conv = L.ConnectionTableConv2d(shape[1], shape[0], k, table, stride, padding)
    check_against_torch(conv, images(seed, 2, shape[1], k + 3, k + 4))


def test_lenet_c3_table_matches_torch():
    torch.manual_seed(0)
    c3 = L.ConnectionTableConv2d(6, 16, 5, L.lenet_c3_table())
    check_against_torch(c3, images(0, 3, 6, 14, 14))
    assert convert(c3, "c3").forward(images(0, 1, 6, 14, 14)).shape == (1, 16, 10, 10)


@FEW
@given(kind=st.sampled_from(["max", "avg", "sum", "subsample"]), k=st.integers(1, 4),
       stride=st.integers(1, 4), pad_fraction=st.floats(0, 1), c=st.integers(1, 3),
       extra=st.tuples(st.integers(0, 6), st.integers(0, 6)), seed=st.integers(0, 2**16))
def test_pools_match_torch(kind, k, stride, pad_fraction, c, extra, seed):
    p = int(pad_fraction * (k // 2))  # torch allows at most half the window
    pool = {"max": lambda: L.MaxPool2d(k, stride, p), "avg": lambda: L.AvgPool2d(k, stride, p),
            "sum": lambda: L.SumPool2d(k, stride, p),
            "subsample": lambda: L.Subsample2d(c, k, stride, p)}[kind]()
    if kind == "subsample":  # non-trivial coefficients and biases
        with torch.no_grad():
            pool.weight.normal_()
            pool.bias.normal_()
    check_against_torch(pool, images(seed, 2, c, k + extra[0], k + extra[1]))


@FEW
@given(name=st.sampled_from(["relu", "tanh", "sigmoid", "stanh", "leakyrelu"]),
       shape=st.lists(st.integers(1, 5), min_size=2, max_size=4), seed=st.integers(0, 2**16))
def test_activations_match_torch(name, shape, seed):
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32) * 3
    check_against_torch(kinds.get(name).new(), x)


@FEW
@given(n=st.integers(1, 4), features=st.tuples(st.integers(1, 40), st.integers(1, 12)),
       bias=st.booleans(), seed=st.integers(0, 2**16))
def test_linear_softmax_flatten_gap_match_torch(n, features, bias, seed):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    check_against_torch(L.Linear(*features, bias=bias),
                        rng.standard_normal((n, features[0])).astype(np.float32))
    check_against_torch(L.Softmax(), rng.standard_normal((n, features[1])).astype(np.float32) * 4)
    x = images(seed, n, 3, 2, features[1])
    check_against_torch(L.Flatten(), x)
    check_against_torch(L.GlobalAvgPool2d(), x)


def test_dropout_scales_in_training_and_is_identity_in_eval():
    x = np.ones((200, 50), np.float32)
    layer = convert(L.Dropout(0.3), "drop")
    y = layer.forward(x)
    np.testing.assert_allclose(np.unique(y), [0.0, 1 / 0.7], rtol=1e-6)
    assert abs((y == 0).mean() - 0.3) < 0.02
    np.testing.assert_array_equal(layer.backward(x), y)  # the same mask routes the gradient
    layer.training = False
    np.testing.assert_array_equal(layer.forward(x), x)
    np.testing.assert_array_equal(layer.backward(x), x)


# ----------------------------------------------------------------------------- (b) finite diff.
def numeric_grad(f, a, eps=1e-6):
    """Central differences of the scalar f() with respect to every entry of a (changed in place)."""
    grad = np.zeros_like(a)
    for idx in np.ndindex(a.shape):
        old = a[idx]
        a[idx] = old + eps
        up = f()
        a[idx] = old - eps
        down = f()
        a[idx] = old
        grad[idx] = (up - down) / (2 * eps)
    return grad


def r64(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


LAYERS = {  # name -> (float64 layer, input shape)
    "conv valid s2": (lambda: ops.Conv2d(r64(3, 2, 3, 3), r64(3), stride=2), (2, 2, 7, 6)),
    "conv same even": (lambda: ops.Conv2d(r64(2, 2, 4, 4), r64(2), padding="same"), (2, 2, 5, 5)),
    "conv same s2": (lambda: ops.Conv2d(r64(2, 1, 3, 3), None, 2, "same"), (1, 1, 6, 5)),
    "conv pad1": (lambda: ops.Conv2d(r64(2, 3, 3, 3), r64(2), padding=1), (2, 3, 4, 4)),
    "conv table": (lambda: ops.Conv2d(r64(3, 2, 2, 2), r64(3), table=np.array(
        [[1.0, 0], [0, 1], [1, 1]])), (2, 2, 4, 4)),
    "maxpool 3/2/1": (lambda: ops.MaxPool2d(3, 2, 1), (2, 2, 5, 6)),
    "avgpool 3/2/1": (lambda: ops.AvgPool2d(3, 2, 1), (2, 2, 5, 5)),
    "sumpool 2/1": (lambda: ops.SumPool2d(2, 1), (2, 2, 4, 5)),
    "subsample 2": (lambda: ops.Subsample2d(r64(2), r64(2), 2), (2, 2, 4, 4)),
    "gap": (lambda: ops.GlobalAvgPool2d(), (2, 3, 3, 3)),
    "relu": (ops.ReLU, (3, 7)), "tanh": (ops.Tanh, (3, 7)), "sigmoid": (ops.Sigmoid, (3, 7)),
    "stanh": (ops.ScaledTanh, (3, 7)), "leakyrelu": (ops.LeakyReLU, (3, 7)),
    "softmax": (ops.Softmax, (3, 5)),
    "flatten": (ops.Flatten, (2, 2, 3, 3)),
    "linear": (lambda: ops.Linear(r64(4, 6), r64(4)), (3, 6)),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_layer_gradients_match_finite_differences(name):
    make, shape = LAYERS[name]
    layer, x = make(), r64(*shape, seed=1)
    g = r64(*layer.forward(x).shape, seed=2)
    dx = layer.backward(g)
    loss = lambda: float((layer.forward(x) * g).sum())
    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=1e-5, atol=1e-7)
    for pname, p in layer.params.items():
        np.testing.assert_allclose(layer.grads[pname], numeric_grad(loss, p), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("loss_fn", [cross_entropy, lambda z, y: cross_entropy(z, y, 0.1), sse])
def test_loss_gradients_match_finite_differences(loss_fn):
    z, y = r64(4, 5) * 2, np.array([0, 3, 4, 3])
    _, dz = loss_fn(z, y)
    np.testing.assert_allclose(dz, numeric_grad(lambda: loss_fn(z, y)[0], z), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("smoothing", [0.0, 0.05])
def test_losses_match_torch(smoothing):
    z = torch.tensor(r64(6, 10, seed=3), requires_grad=True)
    y = torch.tensor([1, 0, 9, 9, 4, 2])
    F.cross_entropy(z, y, label_smoothing=smoothing).backward()
    loss, dz = cross_entropy(z.detach().numpy(), y.numpy(), smoothing)
    assert loss == pytest.approx(F.cross_entropy(z, y, label_smoothing=smoothing).item())
    np.testing.assert_allclose(dz, z.grad.numpy(), atol=1e-12)
    z.grad = None  # the tutorials' error: 1/2 sum_k (t_k - p_k)^2, mean over the batch
    total = 0.5 * ((z.softmax(1) - F.one_hot(y, 10)) ** 2).sum(1).mean()
    total.backward()
    loss, dz = sse(z.detach().numpy(), y.numpy())
    assert loss == pytest.approx(total.item())
    np.testing.assert_allclose(dz, z.grad.numpy(), atol=1e-12)


# ----------------------------------------------------------------------------- (c) training steps
def make_optimizers(kind, model, params):
    if kind == "adam":  # Adam moves every weight by ~lr whatever the gradient's size, so a
        # gradient that is float32 noise (~1e-9) moves by ~lr on one engine and not the other:
        # lr = 1e-4 keeps that within atol 1e-5 (the exact formula is tested below).
        return (torch.optim.Adam(model.parameters(), lr=1e-4, weight_decay=1e-4),
                Adam(params, lr=1e-4, weight_decay=1e-4))
    momentum = 0.9 if kind == "momentum" else 0.0
    return (torch.optim.SGD(model.parameters(), lr=0.05, momentum=momentum, weight_decay=5e-4),
            SGD(params, lr=0.05, momentum=momentum, weight_decay=5e-4))


@pytest.mark.parametrize("kind", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("name", ["lenet5", "lenet5-1998"])
def test_training_steps_match_torch(name, kind):
    torch.manual_seed(0)
    model = create_model(name)
    net = NumpyNetwork.from_torch(model)
    torch_opt, numpy_opt = make_optimizers(kind, model, net.params)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 1, 32, 32)).astype(np.float32), rng.integers(0, 10, 16)
    for step in range(2):  # the second step uses the momentum / Adam state and a new lr
        for group in torch_opt.param_groups:
            group["lr"] *= 0.5 ** step
        numpy_opt.lr *= 0.5 ** step
        loss_t = F.cross_entropy(model.logits(torch.from_numpy(x)), torch.from_numpy(y),
                                 label_smoothing=0.05)
        torch_opt.zero_grad()
        loss_t.backward()
        torch_opt.step()
        loss_n, dlogits = cross_entropy(net.logits(x), y, label_smoothing=0.05)
        net.backward(dlogits)
        numpy_opt.step(net.grads)
        assert loss_n == pytest.approx(loss_t.item(), rel=1e-5)
    for key, value in model.state_dict().items():
        np.testing.assert_allclose(net.params[key], value.numpy(), atol=1e-5, err_msg=key)


@pytest.mark.parametrize("kind", ["sgd", "momentum", "adam"])
def test_optimizers_match_torch_on_the_same_gradients(kind):
    weight = torch.nn.Parameter(torch.tensor(r64(5, 4), dtype=torch.float32))
    params = {"w": weight.detach().numpy().copy()}
    torch_opt, numpy_opt = make_optimizers(kind, torch.nn.ParameterList([weight]), params)
    for step in range(5):
        grad = r64(5, 4, seed=step).astype(np.float32) * 10 ** -step  # down to tiny gradients
        weight.grad = torch.from_numpy(grad.copy())
        for group in torch_opt.param_groups:
            group["lr"] = 0.1 / (step + 1)
        numpy_opt.lr = 0.1 / (step + 1)
        torch_opt.step()
        numpy_opt.step({"w": grad})
        np.testing.assert_allclose(params["w"], weight.detach().numpy(), rtol=1e-6, atol=1e-7)


# ----------------------------------------------------------------------------- (d), (e) by hand
def test_tutorial_convolution_example():
    image = np.array([[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1],
                      [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]], np.float32)[None, None]
    kernel = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], np.float32)[None, None]
    out = ops.Conv2d(kernel, stride=1, padding="valid").forward(image)
    assert out[0, 0].tolist() == [[4, 3, 4], [2, 4, 3], [2, 3, 4]]


def test_max_pool_backward_routes_to_the_winner():
    x = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], np.float32)[None, None]
    pool = ops.MaxPool2d(2)
    assert pool.forward(x)[0, 0].tolist() == [[6, 8], [3, 4]]
    dx = pool.backward(np.array([[[[10, 20], [30, 40]]]], np.float32))
    assert dx[0, 0].tolist() == [[0, 0, 0, 0], [0, 10, 0, 20], [30, 0, 0, 0], [0, 0, 0, 40]]
    ties = np.zeros((1, 1, 2, 2), np.float32)  # equal maxima: the first one wins, as in torch
    pool.forward(ties)
    assert pool.backward(np.ones((1, 1, 1, 1), np.float32))[0, 0].tolist() == [[1, 0], [0, 0]]


# ----------------------------------------------------------------------------- NumpyNetwork
def test_network_round_trips_weights_and_matches_torch_forward():
    torch.manual_seed(0)
    model = create_model("lenet5-1998").eval()
    net = NumpyNetwork.from_torch(model)
    assert set(net.state_dict()) == set(model.state_dict())
    x = images(0, 4, 1, 32, 32)
    probs = net.forward(x)
    assert_close(probs, model.probabilities(torch.from_numpy(x)).detach().numpy())
    other = create_model("lenet5-1998")
    net.load_state_dict(other.state_dict())  # torch tensors in ...
    assert_close(net(x), other.probabilities(torch.from_numpy(x)).detach().numpy())
    back = net.copy_to(create_model("lenet5-1998"))  # ... and back out
    assert all(torch.equal(back.state_dict()[k], v) for k, v in other.state_dict().items())


def test_network_input_gradient_matches_torch():
    torch.manual_seed(0)
    model, x = create_model("lenet5"), images(0, 2, 1, 32, 32)
    xt = torch.tensor(x, requires_grad=True)
    model.logits(xt)[:, 3].sum().backward()
    net = NumpyNetwork.from_torch(model)
    dlogits = np.zeros((2, 10), np.float32)
    dlogits[:, 3] = 1
    net.logits(x)
    assert_close(net.backward(dlogits, input_grad=True), xt.grad.numpy())
    assert net.backward(dlogits) is None


def test_network_dropout_follows_train_and_eval_and_seed():
    model = Network.from_spec("fc20 relu dropout0.5 fc3 softmax", (1, 4, 4))
    net = NumpyNetwork.from_torch(model, seed=0)
    x = images(0, 8, 1, 4, 4)
    assert not np.allclose(net.eval().logits(x), net.train().logits(x))
    np.testing.assert_array_equal(net.eval().logits(x), net.logits(x))
    again = [NumpyNetwork.from_torch(model, seed=0).logits(x) for _ in range(2)]
    np.testing.assert_array_equal(*again)


@pytest.mark.parametrize("spec", ["conv4@3x3 bn relu fc10", "conv4@3x3 relu fc10 bn"])
def test_unsupported_layers_raise_model_error(spec):
    with pytest.raises(ModelError, match="cannot run layer .*BatchNorm"):
        NumpyNetwork.from_torch(Network.from_spec(spec, (1, 8, 8)))


def test_bad_models_and_state_dicts_raise_model_error():
    with pytest.raises(ModelError, match="features and head"):
        NumpyNetwork.from_torch(torch.nn.Linear(3, 3))
    net = NumpyNetwork.from_torch(create_model("lenet5"))
    with pytest.raises(ModelError, match="forward pass first"):
        net.backward(np.zeros((1, 10), np.float32))
    with pytest.raises(ModelError, match="missing"):
        net.load_state_dict({})
    state = net.state_dict()
    state["head.fc3.bias"] = np.zeros(7, np.float32)
    with pytest.raises(ModelError, match="head.fc3.bias"):
        net.load_state_dict(state)
