"""Every tutorial operation in plain NumPy, each backward written right under its forward.

A layer is micrograd-sized: ``forward(x)`` computes the output and caches what the gradient
needs; ``backward(dy)`` takes dLoss/dOutput, stores dLoss/dParameter in ``grads`` under the
same names as ``params`` (``weight``, ``bias``) and returns dLoss/dInput. Nothing is learned
here: updates live in ``optim.py``, losses in ``losses.py``.

Convolution and pooling share one trick, **im2col**: ``sliding_window_view`` shows every k x k
window of the input without copying; one copy lays the windows out as columns, and the whole
convolution becomes one batched matrix product. Backward is the reverse, ``col2im``: each window
gradient is added back where the window came from, in k*k vectorised slice additions (one per
position inside the window, never one per pixel). Arrays keep their dtype (float32 to train,
float64 for finite-difference checks).

Example (the tutorials' 5x5 image convolved with a 3x3 "X" kernel):
    >>> image = np.array([[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1],
    ...                   [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]], dtype=np.float32)
    >>> kernel = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], dtype=np.float32)
    >>> Conv2d(kernel[None, None])(image[None, None])[0, 0].astype(int).tolist()
    [[4, 3, 4], [2, 4, 3], [2, 3, 4]]
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..shapes import same_padding


# --------------------------------------------------------------------------- windows
def pad2d(x: np.ndarray, pads: tuple[int, int, int, int], fill: float = 0.0) -> np.ndarray:
    """Surround each map with (top, bottom, left, right) copies of ``fill``."""
    top, bottom, left, right = pads
    if not any(pads):
        return x
    n, c, h, w = x.shape
    out = np.full((n, c, h + top + bottom, w + left + right), fill, x.dtype)
    out[:, :, top:top + h, left:left + w] = x
    return out  # (N, C, H + top + bottom, W + left + right)


def unpad2d(x: np.ndarray, pads: tuple[int, int, int, int]) -> np.ndarray:
    """Cut the padding off again (the gradient that fell on padding is dropped)."""
    top, bottom, left, right = pads
    return x[:, :, top:x.shape[2] - bottom, left:x.shape[3] - right]


def windows(x: np.ndarray, k: int, stride: int) -> np.ndarray:
    """A view of every k x k window, stride apart: (N, C, H, W) -> (N, C, H_out, W_out, k, k).

    H_out = floor((H - k) / stride) + 1; nothing is copied.

    >>> windows(np.arange(16.).reshape(1, 1, 4, 4), 2, 2)[0, 0, 1, 0].tolist()
    [[8.0, 9.0], [12.0, 13.0]]
    """
    return sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]


def im2col(x: np.ndarray, k: int, stride: int) -> np.ndarray:
    """Each window as a column: (N, C, H, W) -> (N, C*k*k, H_out*W_out), one contiguous copy."""
    win = windows(x, k, stride)  # (N, C, Ho, Wo, k, k)
    n, c, h_out, w_out = win.shape[:4]
    return win.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * k * k, h_out * w_out)


def positions(k: int) -> list[tuple[int, int]]:
    """The (row, column) offsets inside a k x k window, in row-major (torch's scan) order."""
    return [(i, j) for i in range(k) for j in range(k)]


def col2im(dwin: np.ndarray, shape: tuple[int, ...], stride: int) -> np.ndarray:
    """Add window gradients (N, C, H_out, W_out, k, k) back onto an (N, C, H, W) input.

    Where windows overlap (stride < k) their contributions add up: that is the chain rule
    for an input pixel that feeds several outputs.

    >>> col2im(np.ones((1, 1, 2, 2, 2, 2)), (1, 1, 3, 3), stride=1)[0, 0].tolist()
    [[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]
    """
    h_out, w_out, k = dwin.shape[2], dwin.shape[3], dwin.shape[-1]
    dx = np.zeros(shape, dwin.dtype)
    for i, j in positions(k):  # k*k slice additions, each over the whole batch
        dx[:, :, i:i + stride * h_out:stride, j:j + stride * w_out:stride] += dwin[..., i, j]
    return dx


# --------------------------------------------------------------------------- layers
class Layer:
    """Base: ``params``/``grads`` dicts keyed "weight"/"bias"; ``training`` for dropout."""

    def __init__(self, **params: np.ndarray | None):
        self.params = {name: p for name, p in params.items() if p is not None}
        self.grads: dict[str, np.ndarray] = {}
        self.training = True

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}={v.shape}" for k, v in self.params.items())
        return f"{type(self).__name__}({shapes})"


class Conv2d(Layer):
    """Convolution: y[n, o] = sum over c, i, j of x_pad[n, c, s*h+i, s*w+j] * w[o, c, i, j] + b[o].

    Args:
        weight (ndarray): (C_out, C_in, k, k) filters.
        bias (ndarray | None): (C_out,) or None. Default: None.
        stride (int): step between windows. Default: 1.
        padding (str | int): "valid", "same" (extra zero bottom/right, ``shapes.same_padding``)
            or zeros on every side. Default: "valid".
        table (ndarray | None): (C_out, C_in) 0/1 connection table (LeNet's C3); the filter
            slices it zeroes are neither used nor updated. Default: None.

    Shape:
        (N, C_in, H, W) -> (N, C_out, H_out, W_out), H_out = floor((H + pads - k) / stride) + 1.
    """

    def __init__(self, weight, bias=None, stride=1, padding="valid", table=None):
        super().__init__(weight=weight, bias=bias)
        self.stride, self.padding, self.table = stride, padding, table
        self.input_grad = True  # the network turns it off for the first layer (saves time)

    def pads(self, h: int, w: int) -> tuple[int, int, int, int]:
        k, s = self.params["weight"].shape[-1], self.stride
        if self.padding == "same":
            return same_padding(h, k, s) + same_padding(w, k, s)
        p = 0 if self.padding == "valid" else int(self.padding)
        return (p, p, p, p)

    def forward(self, x):
        w = self.params["weight"]
        if self.table is not None:
            w = w * self.table[:, :, None, None]  # unconnected filter slices are zero
        c_out, k, n = w.shape[0], w.shape[-1], x.shape[0]
        pads = self.pads(x.shape[2], x.shape[3])
        xp = pad2d(x, pads)  # (N, C, Hp, Wp)
        cols = im2col(xp, k, self.stride)  # (N, C*k*k, Ho*Wo)
        y = w.reshape(c_out, -1) @ cols  # (C_out, C*k*k) @ (N, C*k*k, Ho*Wo) -> (N, C_out, Ho*Wo)
        if "bias" in self.params:
            y += self.params["bias"][:, None]
        self.cache = (xp.shape, pads, cols, w)
        h_out = (xp.shape[2] - k) // self.stride + 1
        return y.reshape(n, c_out, h_out, -1)  # (N, C_out, Ho, Wo)

    def backward(self, dy):
        padded_shape, pads, cols, w = self.cache
        n, c_out, h_out, w_out = dy.shape
        dy = dy.reshape(n, c_out, h_out * w_out)  # (N, C_out, Ho*Wo)
        # dL/dw = sum over images of dy (C_out, Ho*Wo) @ cols^T (Ho*Wo, C*k*k)
        if h_out * w_out >= c_out:  # many positions: N products, then their sum
            dw = (dy @ cols.transpose(0, 2, 1)).sum(axis=0)
        else:  # few (LeNet's C5 has 1x1): N tiny products cost more than one over all images
            dw = np.tensordot(dy, cols, axes=([0, 2], [0, 2]))
        dw = dw.reshape(w.shape)
        self.grads["weight"] = dw if self.table is None else dw * self.table[:, :, None, None]
        if "bias" in self.params:
            self.grads["bias"] = dy.sum(axis=(0, 2))
        if not self.input_grad:
            return None
        c_in, k = w.shape[1], w.shape[-1]
        dcols = w.reshape(c_out, -1).T @ dy  # (C*k*k, C_out) @ (N, C_out, Ho*Wo)
        dcols = dcols.reshape(n, c_in, k, k, h_out, w_out)  # -> (N, C, k, k, Ho, Wo)
        dwin = dcols.transpose(0, 1, 4, 5, 2, 3)  # (N, C, Ho, Wo, k, k), a view
        return unpad2d(col2im(dwin, padded_shape, self.stride), pads)  # (N, C_in, H, W)


class Pool2d(Layer):
    """Shared by the pools: a k x k window every ``stride``, ``padding`` on every side.

    Shape:
        (N, C, H, W) -> (N, C, H_out, W_out), H_out = floor((H + 2*padding - k) / stride) + 1.
    """

    def __init__(self, kernel_size: int, stride: int | None = None, padding: int = 0, **params):
        super().__init__(**params)
        self.k, self.stride, self.padding = kernel_size, stride or kernel_size, padding

    def window_sums(self, x):
        """Sum of each window (sum, average and subsampling pools build on it)."""
        p = (self.padding,) * 4
        xp = pad2d(x, p)  # (N, C, Hp, Wp)
        win = windows(xp, self.k, self.stride)  # (N, C, Ho, Wo, k, k) view
        self.cache_shapes = (xp.shape, p)
        total = win[..., 0, 0].copy()
        for i, j in positions(self.k)[1:]:  # k*k slice additions (a sum over the small
            total += win[..., i, j]  # trailing axes of the view is ~15x slower)
        return total  # (N, C, Ho, Wo)

    def window_sums_backward(self, dy):
        """Every input in a window receives the window's gradient."""
        padded_shape, p = self.cache_shapes
        dwin = np.broadcast_to(dy[..., None, None], dy.shape + (self.k, self.k))
        return unpad2d(col2im(dwin, padded_shape, self.stride), p)


class MaxPool2d(Pool2d):
    """Max pooling: the largest value in each window; padding is -inf, as in torch.

    Backward routes each output's gradient to the one input that won its window (the first
    of equal maxima, like torch); the other inputs get zero.

    >>> pool = MaxPool2d(2)
    >>> pool(np.array([[[[1., 3], [4, 2]]]])).tolist()
    [[[[4.0]]]]
    >>> pool.backward(np.ones((1, 1, 1, 1))).tolist()
    [[[[0.0, 0.0], [1.0, 0.0]]]]
    """

    def forward(self, x):
        p = (self.padding,) * 4
        xp = pad2d(x, p, -np.inf)  # (N, C, Hp, Wp)
        win = windows(xp, self.k, self.stride)  # (N, C, Ho, Wo, k, k) view
        y = win[..., 0, 0].copy()
        for i, j in positions(self.k)[1:]:
            np.maximum(y, win[..., i, j], out=y)
        self.cache = (xp.shape, p, win, y)
        return y  # (N, C, Ho, Wo)

    def backward(self, dy):
        padded_shape, p, win, y = self.cache
        dwin = np.zeros(win.shape, dy.dtype)  # (N, C, Ho, Wo, k, k)
        routed = np.zeros(y.shape, bool)  # outputs whose winner was already found
        for i, j in positions(self.k):  # scan order: the first maximum wins ties
            winner = (win[..., i, j] == y) & ~routed
            dwin[..., i, j] = winner * dy
            routed |= winner
        return unpad2d(col2im(dwin, padded_shape, self.stride), p)


class SumPool2d(Pool2d):
    """Sum pooling: the sum of each window (zeros padded count as zeros)."""

    def forward(self, x):
        return self.window_sums(x)

    def backward(self, dy):
        return self.window_sums_backward(dy)


class AvgPool2d(Pool2d):
    """Average pooling: window sum / (k*k), padding zeros counted (torch's default)."""

    def forward(self, x):
        return self.window_sums(x) / (self.k * self.k)

    def backward(self, dy):
        return self.window_sums_backward(dy / (self.k * self.k))


class Subsample2d(Pool2d):
    """LeNet-1998 subsampling: y[n, c] = weight[c] * window_sum(x[n, c]) + bias[c].

    Args:
        weight, bias (ndarray): (C,) coefficient and bias per map; the rest as the pools.
    """

    def __init__(self, weight, bias, kernel_size, stride=None, padding=0):
        super().__init__(kernel_size, stride, padding, weight=weight, bias=bias)

    def forward(self, x):
        self.sums = self.window_sums(x)  # (N, C, Ho, Wo)
        return self.sums * self.params["weight"][:, None, None] + self.params["bias"][:, None, None]

    def backward(self, dy):
        self.grads["weight"] = (dy * self.sums).sum(axis=(0, 2, 3))
        self.grads["bias"] = dy.sum(axis=(0, 2, 3))
        return self.window_sums_backward(dy * self.params["weight"][:, None, None])


class GlobalAvgPool2d(Layer):
    """One mean per map: (N, C, H, W) -> (N, C)."""

    def forward(self, x):
        self.shape = x.shape
        return x.mean(axis=(2, 3))

    def backward(self, dy):
        h, w = self.shape[2:]
        return np.broadcast_to(dy[:, :, None, None] / (h * w), self.shape).copy()


class ReLU(Layer):
    """max(0, x); the gradient passes where x > 0 and is 0 elsewhere (x = 0 included)."""

    def forward(self, x):
        self.y = np.maximum(x, 0)
        return self.y

    def backward(self, dy):
        return dy * (self.y > 0)


class LeakyReLU(Layer):
    """x where x > 0, else slope·x; the gradient is 1 there and slope elsewhere (x = 0 too).

    >>> LeakyReLU()(np.array([-2.0, 3.0])).tolist()
    [-0.02, 3.0]
    """

    def __init__(self, slope: float = 0.01):
        super().__init__()
        self.slope = slope

    def forward(self, x):
        self.positive = x > 0
        return np.where(self.positive, x, x * np.asarray(self.slope, x.dtype))

    def backward(self, dy):
        return np.where(self.positive, dy, dy * np.asarray(self.slope, dy.dtype))


class Tanh(Layer):
    """tanh(x); d/dx = 1 - tanh(x)^2."""

    def forward(self, x):
        self.y = np.tanh(x)
        return self.y

    def backward(self, dy):
        return dy * (1 - self.y * self.y)


class Sigmoid(Layer):
    """1 / (1 + exp(-x)); d/dx = y (1 - y)."""

    def forward(self, x):
        self.y = 1 / (1 + np.exp(-x))
        return self.y

    def backward(self, dy):
        return dy * self.y * (1 - self.y)


class ScaledTanh(Layer):
    """LeNet's A tanh(S x), A = 1.7159, S = 2/3; d/dx = A S (1 - tanh(S x)^2).

    >>> round(float(ScaledTanh()(np.array(1.0))), 4)
    1.0
    """

    amplitude, slope = 1.7159, 2.0 / 3.0

    def forward(self, x):
        self.t = np.tanh(self.slope * x)
        return self.amplitude * self.t

    def backward(self, dy):
        return dy * (self.amplitude * self.slope) * (1 - self.t * self.t)


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise exp(z_i) / sum_j exp(z_j), shifted by the row max so exp cannot overflow.

    >>> softmax(np.array([[1.0, 2.0, 3.0]])).round(3).tolist()
    [[0.09, 0.245, 0.665]]
    """
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class Softmax(Layer):
    """Class probabilities; backward is the Jacobian product dx = p * (dy - sum(dy * p))."""

    def forward(self, x):
        self.p = softmax(x)
        return self.p

    def backward(self, dy):
        return self.p * (dy - (dy * self.p).sum(axis=1, keepdims=True))


class Flatten(Layer):
    """(N, C, H, W) -> (N, C*H*W) in C, H, W order (torch's), and back for the gradient."""

    def forward(self, x):
        self.shape = x.shape
        return x.reshape(x.shape[0], -1)  # (N, C, H, W) -> (N, C*H*W)

    def backward(self, dy):
        return dy.reshape(self.shape)  # (N, C*H*W) -> (N, C, H, W)


class Linear(Layer):
    """Fully connected: y = x W^T + b, W (out, in), as torch stores it.

    Shape:
        (N, in) -> (N, out).
    """

    def __init__(self, weight, bias=None):
        super().__init__(weight=weight, bias=bias)
        self.input_grad = True

    def forward(self, x):
        self.x = x
        y = x @ self.params["weight"].T  # (N, in) @ (in, out) -> (N, out)
        if "bias" in self.params:
            y += self.params["bias"]
        return y

    def backward(self, dy):
        self.grads["weight"] = dy.T @ self.x  # (out, N) @ (N, in) -> (out, in)
        if "bias" in self.params:
            self.grads["bias"] = dy.sum(axis=0)
        return dy @ self.params["weight"] if self.input_grad else None  # (N, in)


class Dropout(Layer):
    """Training: zero each input with probability p and scale the rest by 1/(1-p) (inverted
    dropout, as torch); evaluation: the identity. Its own RNG, so masks differ from torch's."""

    def __init__(self, p: float = 0.5, seed: int | None = None):
        super().__init__()
        self.p, self.rng = p, np.random.default_rng(seed)

    def forward(self, x):
        if not self.training or self.p == 0:
            self.mask = None
            return x
        keep = self.rng.random(x.shape, dtype=np.float32) >= self.p
        self.mask = keep.astype(x.dtype) * (1 / (1 - self.p) if self.p < 1 else 0.0)
        return x * self.mask

    def backward(self, dy):
        return dy if self.mask is None else dy * self.mask


class Identity(Layer):
    """y = x (what torch's nn.Identity does)."""

    def forward(self, x):
        return x

    def backward(self, dy):
        return dy
