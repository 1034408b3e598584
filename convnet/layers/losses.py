"""The tutorials' total error as a torch function; ``numpy_engine/losses.py`` is its NumPy twin.

Cross-entropy needs no home here: ``torch.nn.functional.cross_entropy`` is it.
"""

import torch
import torch.nn.functional as F


def sse(probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The tutorials' total error E = ½Σ(target − output)², mean over the images of a batch.

    Summed over the K classes of each image against its one-hot target, then averaged over the
    N images (so the learning rate does not depend on the batch size). It is computed on the
    output probabilities, as the tutorials do: pass ``logits.softmax(dim=1)``.

    Args:
        probs (torch.Tensor): (N, K) output probabilities.
        labels (torch.Tensor): (N,) integer classes.

    Shape:
        (N, K), (N,) -> a scalar.

    Example:
        >>> sse(torch.tensor([[0.25, 0.75]]), torch.tensor([1]))  # ½(0.25² + 0.25²)
        tensor(0.0625)
    """
    target = F.one_hot(labels, probs.shape[1]).to(probs.dtype)
    return 0.5 * ((target - probs) ** 2).sum(dim=1).mean()
