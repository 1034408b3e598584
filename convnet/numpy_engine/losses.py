"""The two losses the tutorials use, each returning (loss, dLoss/dlogits) in one call.

Both take raw class scores (logits, shape (N, K)) and integer labels (N,), and average over the
batch, so the gradient of a batch of N carries a 1/N.
"""

from __future__ import annotations

import numpy as np

from .ops import softmax


def _targets(labels: np.ndarray, num_classes: int, dtype) -> np.ndarray:
    """One-hot rows: (N,) integer labels -> (N, K)."""
    onehot = np.zeros((len(labels), num_classes), dtype)
    onehot[np.arange(len(labels)), labels] = 1
    return onehot


def cross_entropy(logits: np.ndarray, labels: np.ndarray, label_smoothing: float = 0.0
                  ) -> tuple[float, np.ndarray]:
    """Mean over the batch of -sum_k t_k log softmax(z)_k, as ``torch.nn.functional.cross_entropy``.

    Args:
        logits (ndarray): (N, K) scores before softmax.
        labels (ndarray): (N,) integer classes.
        label_smoothing (float): the target is (1 - eps) one-hot + eps / K. Default: 0.0.

    Returns:
        (loss, dlogits), dlogits = (softmax(z) - t) / N, shape (N, K).

    Example:
        >>> loss, d = cross_entropy(np.zeros((1, 4)), np.array([2]))
        >>> round(loss, 4), d.tolist()    # log 4 = 1.3863
        (1.3863, [[0.25, 0.25, -0.75, 0.25]])
    """
    n, k = logits.shape
    t = _targets(labels, k, logits.dtype)
    if label_smoothing:
        t = t * (1 - label_smoothing) + label_smoothing / k
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # log softmax
    loss = -(t * log_p).sum() / n
    return float(loss), (np.exp(log_p) - t) / n


def sse(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """The tutorials' total error: 1/2 sum over classes of (target - softmax output)^2.

    Summed over the K classes of each image, then averaged over the N images of the batch (so
    the learning rate does not depend on the batch size). Softmax is applied here, to the
    logits, as the tutorials compute the error on the probabilities.

    Args:
        logits (ndarray): (N, K) scores before softmax.
        labels (ndarray): (N,) integer classes; the target is the one-hot vector.

    Returns:
        (loss, dlogits): with p = softmax(z) and e = p - t, dL/dp = e / N and, through the
        softmax Jacobian, dL/dz = p * (e - sum_k p_k e_k) / N.

    Example (the tutorials' boat: target [0, 0, 1, 0], output [0.2, 0.4, 0.1, 0.3]):
        >>> p = np.log(np.array([[0.2, 0.4, 0.1, 0.3]]))   # logits whose softmax is p
        >>> round(sse(p, np.array([2]))[0], 2)               # 1/2 (0.04+0.16+0.81+0.09)
        0.55
    """
    n, k = logits.shape
    p = softmax(logits)
    e = p - _targets(labels, k, logits.dtype)
    loss = 0.5 * (e * e).sum() / n
    return float(loss), p * (e - (p * e).sum(axis=1, keepdims=True)) / n
