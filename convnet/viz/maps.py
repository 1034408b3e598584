"""Feature maps: what every convolution, non-linearity (rectified maps) and pooling produced.

One PNG grid per layer whose output is still a stack of maps (N, C, H, W), one panel per map,
``grid_shape`` columns; a layer with more than MAX_MAPS maps shows its first MAX_MAPS and says
so in the title. All panels of a layer share one grey scale, so a map that stayed dark is dark.

Example:
    >>> map_title("conv1", 6, 6, 28, 28), map_title("layer4.1.conv2", 512, 64, 4, 4)
    ('conv1: 6 maps 28x28', 'layer4.1.conv2: 64 of 512 maps 4x4')
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from .draw import Grid, draw_grid, grid_shape

MAX_MAPS = 64  # an 8 x 8 grid: more panels become too small to read at 80 dpi


def map_title(name: str, total: int, shown: int, h: int, w: int) -> str:
    count = f"{total}" if shown == total else f"{shown} of {total}"
    return f"{name}: {count} maps {h}x{w}"


def file_stem(name: str) -> str:
    """A layer name made safe for a file name: 'layer1.0.conv1' -> 'layer1-0-conv1'."""
    return re.sub(r"[^A-Za-z0-9_]+", "-", name).strip("-")


def draw_maps(name: str, activation: torch.Tensor, path: str | Path) -> Grid:
    """One layer's maps of the first image as a grid of panels.

    Shape:
        activation (N, C, H, W) -> min(C, MAX_MAPS) panels of H x W.
    """
    maps = activation[0].detach().float().cpu().numpy()  # (N, C, H, W) -> (C, H, W)
    total, h, w = maps.shape
    shown = min(total, MAX_MAPS)
    rows, cols = grid_shape(shown)
    return draw_grid(list(maps[:shown]), rows, cols, path, map_title(name, total, shown, h, w),
                     panel_inches=max(0.7, 6.0 / cols))


def render_maps(activations: dict[str, torch.Tensor], out_dir: str | Path) -> list[Grid]:
    """A grid for every captured layer with a (N, C, H, W) output: DIR/maps_NN_<layer>.png."""
    spatial = [(n, a) for n, a in activations.items() if a.dim() == 4]
    return [draw_maps(name, act, Path(out_dir) / f"maps_{i:02d}_{file_stem(name)}.png")
            for i, (name, act) in enumerate(spatial, 1)]
