"""The fast data path (airbench style): a whole split as one tensor, shuffled by index.

A split is fitted to the model's input once (channels, then zero-padding or resizing), kept as
uint8, normalised once into float32 on the device, and batched by slicing a ``randperm``. There is
no DataLoader and no per-sample Python in the training loop.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .preprocess import pad_or_resize


def fit_channels(images: np.ndarray, channels: int) -> np.ndarray:
    """Give uint8 (N, C, H, W) images the model's channel count (gray <-> RGB).

    Example:
        >>> fit_channels(np.zeros((2, 1, 4, 4), np.uint8), 3).shape
        (2, 3, 4, 4)
    """
    have = images.shape[1]
    if have == channels:
        return images
    if have == 1:
        return np.repeat(images, channels, axis=1)  # (N, 1, H, W) -> (N, C, H, W)
    if channels == 1 and have == 3:  # ITU-R 601 luma, as Pillow's convert("L")
        luma = images.astype(np.float32).transpose(0, 2, 3, 1) @ np.float32([0.299, 0.587, 0.114])
        return np.clip(luma.round(), 0, 255).astype(np.uint8)[:, None]  # (N, H, W) -> (N, 1, H, W)
    raise ValueError(f"cannot turn {have}-channel images into {channels} channels")


def fit_to_model(images: np.ndarray, input_shape: tuple[int, int, int]) -> np.ndarray:
    """uint8 (N, C, H, W) -> the model's channels and size, by the same rule ``predict`` uses.

    Example:
        >>> fit_to_model(np.zeros((1, 1, 28, 28), np.uint8), (3, 32, 32)).shape
        (1, 3, 32, 32)
    """
    c, h, w = input_shape
    return pad_or_resize(fit_channels(images, c), h, w)


def channel_stats(images: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 images scaled to [0, 1] (stored in the run manifest)."""
    x = torch.from_numpy(images).float().div_(255)
    return x.mean(dim=(0, 2, 3)).tolist(), x.std(dim=(0, 2, 3)).clamp_min(1e-6).tolist()


def normalize(images: np.ndarray | torch.Tensor, mean: list[float], std: list[float],
              device: str | torch.device = "cpu") -> torch.Tensor:
    """uint8 (N, C, H, W) -> float32 ((x / 255) - mean) / std on ``device``, done once per split."""
    x = torch.as_tensor(images).to(device).float().div_(255)
    m = torch.tensor(mean, device=device).view(1, -1, 1, 1)
    s = torch.tensor(std, device=device).view(1, -1, 1, 1)
    return x.sub_(m).div_(s)


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator,
                 fill: torch.Tensor | float = 0.0) -> torch.Tensor:
    """Translate each image by its own random (dy, dx) in [-max_shift, max_shift].

    Vectorised: one padded copy of the batch and a single ``gather`` with per-image flat
    offsets, no Python per sample. ``fill`` (a number or a (1, C, 1, 1) tensor) is what uncovered
    pixels become: pass the normalised value of a black pixel, -mean/std.
    """
    if max_shift <= 0:
        return x
    n, c, h, w = x.shape
    p = max_shift
    hp, wp = h + 2 * p, w + 2 * p
    padded = (F.pad(x - fill, (p, p, p, p)) + fill).reshape(n, c * hp * wp)  # (N, C*Hp*Wp)
    dy = torch.randint(0, 2 * p + 1, (n,), generator=generator).to(x.device)
    dx = torch.randint(0, 2 * p + 1, (n,), generator=generator).to(x.device)
    # Flat index of output pixel (ch, r, col) in the padded image shifted by (dy, dx).
    ar = lambda k: torch.arange(k, device=x.device)  # noqa: E731
    base = (ar(c)[:, None, None] * hp * wp + ar(h)[None, :, None] * wp + ar(w)).reshape(-1)
    index = base[None, :] + (dy * wp + dx)[:, None]  # (N, C*H*W)
    return padded.gather(1, index).reshape(n, c, h, w)  # (N, C*H*W) -> (N, C, H, W)


def random_flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror each image left-right with probability 1/2 (natural photos; never digits)."""
    flip = (torch.rand(len(x), generator=generator) < 0.5).to(x.device)  # (N,)
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
