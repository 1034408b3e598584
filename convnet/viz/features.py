"""What each layer learned: for every channel of a convolution, the test patches that excite it
most (Zeiler & Fergus, "Visualizing and understanding convolutional networks", 2014, Fig. 2).

A channel's response to an image is its largest activation over all positions; the ``top``
images with the largest responses are its favourites, and each is shown cropped to the
receptive field of the unit where the channel peaked (``viz.receptive``), so a first layer shows
edges and colour blobs a few pixels wide and a last layer whole textures and object parts.
Where a field hangs over the image's border the crop is clipped and the missing part drawn
grey, so the unit's centre stays in the middle of its panel.

The whole test split goes through the model in eval mode, ``BATCH`` images at a time, with no
gradients, and stops at the chosen layer (the layers after it are not run).

Example:
    >>> from convnet.registry import create_model
    >>> model = create_model("lenet5")
    >>> conv_layers(model), choose_layer(model, None)
    (['conv1', 'conv2'], 'conv1')
    >>> choose_layer(model, "relu1")
    Traceback (most recent call last):
    ...
    convnet.errors.ConvnetError: --layer 'relu1' is a relu layer, not a convolution; the \
convolutions are conv1, conv2
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import kinds
from ..data.loader import fit_to_model
from ..errors import ConvnetError
from ..evaluate import prepared_split
from ..kinds.fields import Fields
from ..runs import check_out, eval_mode, load_model
from .capture import named_layers
from .draw import Grid, draw_grid
from .maps import file_stem
from .receptive import receptive_fields

TOP = 9          # Zeiler & Fergus show a 3x3 square of patches per channel
MAX_TOP = 100    # columns of the grid: 4,000 pixels wide; --top 100000 drew for minutes
BATCH = 500      # images per forward pass: a CIFAR batch of resnet20 maps is ~60 MB
OUTSIDE = 0.5    # grey: the part of a clipped field that lies outside the image
MAX_CHANNELS = 512  # the most rows a grid may have (ResNet-50's widest 3x3 convolution)
PANEL_INCHES = 0.5  # 40 pixels at 80 dpi: a 64-channel grid stays under 3,000 pixels tall


class _Stop(Exception):
    """Raised by the hook once the chosen layer has run: the rest of the network is not needed."""


@dataclass
class Patch:
    """One favourite of a channel: test image ``image`` peaked at ``unit`` with ``value``."""

    image: int
    value: float
    unit: tuple[int, int]             # (y, x) in the layer's maps
    box: tuple[int, int, int, int]    # (top, left, bottom, right) input pixels, clipped

    def to_json(self) -> dict:
        return {"image": self.image, "value": round(self.value, 6), "unit": list(self.unit),
                "box": list(self.box)}


@dataclass
class LayerFeatures:
    """The favourite patches of the shown channels of one convolution."""

    layer: str
    channels: int                     # the layer's channels (``shown`` may be fewer)
    field: Fields
    shown: list[int]
    patches: list[list[Patch]]        # one list per shown channel, best first
    grid: Grid | None = None

    def to_json(self) -> dict:
        rows, cols = self.field
        return {"layer": self.layer, "channels": self.channels,
                "field": {"size": [rows.size, cols.size], "jump": [rows.jump, cols.jump],
                          "start": [rows.start, cols.start]},
                "shown": self.shown, "path": self.grid.path if self.grid else None,
                "patches": [[p.to_json() for p in ps] for ps in self.patches]}


def conv_layers(model) -> list[str]:
    """The names of ``model``'s convolutions, in execution order."""
    return [name for name, m in named_layers(model)
            if (kind := kinds.of(m)) is not None and kind.family == "conv"]


def choose_layer(model, layer: str | None) -> str:
    """``layer``, checked to be a convolution of ``model``; None: the first convolution.

    Raises:
        ConvnetError: no such layer, not a convolution, or a model without one.
    """
    convs = conv_layers(model)
    if not convs:
        raise ConvnetError("this model has no convolution to show")
    if layer is None:
        return convs[0]
    modules = dict(named_layers(model))
    if layer not in modules:
        raise ConvnetError(f"--layer {layer!r}: no such layer; the convolutions are "
                           f"{', '.join(convs)}")
    if layer not in convs:
        kind = kinds.of(modules[layer])
        what = kind.name if kind else type(modules[layer]).__name__
        raise ConvnetError(f"--layer {layer!r} is a {what} layer, not a convolution; the "
                           f"convolutions are {', '.join(convs)}")
    return layer


def channel_maxima(model, layer: str, x: torch.Tensor, batch: int = BATCH
                   ) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Each channel's largest activation in each image, where it is, and the maps' width.

    Shape:
        x (N, C_in, H, W) -> values (N, C), flat positions (N, C) into the (h, w) maps, w.
    """
    module = dict(named_layers(model))[layer]
    values, where, width = [], [], [0]

    def hook(_module, _inputs, out):
        flat = out.flatten(2)  # (B, C, h, w) -> (B, C, h*w)
        best, at = flat.max(dim=2)
        values.append(best.float())
        where.append(at)
        width[0] = out.shape[-1]
        raise _Stop

    handle = module.register_forward_hook(hook)
    try:
        with eval_mode(model), torch.no_grad():
            for i in range(0, len(x), batch):
                try:
                    model(x[i:i + batch])
                except _Stop:
                    pass
    finally:
        handle.remove()
    return torch.cat(values), torch.cat(where), width[0]


def favourites(model, layer: str, x: torch.Tensor, top: int = TOP,
               channels: int | None = None) -> LayerFeatures:
    """The ``top`` test images of each of the first ``channels`` channels (None: all).

    Ties keep the lower image index first (a stable sort), so a run gives the same grid twice.
    """
    values, where, width = channel_maxima(model, layer, x)
    field = receptive_fields(model)[layer]
    _, h, w = model.input_shape
    count = values.shape[1]
    shown = list(range(count if channels is None else min(channels, count)))
    order = torch.sort(values, dim=0, descending=True, stable=True).indices[:top]  # (top, C)
    patches = []
    for c in shown:
        row = []
        for i in order[:, c].tolist():
            y, x_ = divmod(int(where[i, c]), width)
            (top_, bottom), (left, right) = field[0].span(y, h), field[1].span(x_, w)
            row.append(Patch(i, float(values[i, c]), (y, x_), (top_, left, bottom, right)))
        patches.append(row)
    return LayerFeatures(layer, count, field, shown, patches)


def panel(image: np.ndarray, field: Fields, patch: Patch) -> np.ndarray:
    """One patch as an (h, w, 3) colour panel in [0, 1], h and w the field's size (at most the
    image's), with a clipped field's outside part grey.

    Example:
        >>> from convnet.shapes import Field
        >>> img = np.full((1, 4, 4), 255, np.uint8)
        >>> p = panel(img, (Field(3, 1, -1), Field(3, 1, -1)), Patch(0, 1.0, (0, 0), (0, 0, 2, 2)))
        >>> p[:, :, 0].tolist()      # the unit at (0, 0): its first row and column are outside
        [[0.5, 0.5, 0.5], [0.5, 1.0, 1.0], [0.5, 1.0, 1.0]]
    """
    c, h, w = image.shape
    top, left, bottom, right = patch.box
    crop = image[:, top:bottom, left:right].astype(np.float32) / 255  # (C, bh, bw)
    crop = np.repeat(crop, 3, axis=0) if c == 1 else crop[:3]
    size_h, size_w = min(field[0].size, h), min(field[1].size, w)
    out = np.full((size_h, size_w, 3), OUTSIDE, np.float32)
    # where the crop sits in the field: after the part cut off at the top/left border
    dy = min(top - (field[0].start + patch.unit[0] * field[0].jump), size_h - (bottom - top))
    dx = min(left - (field[1].start + patch.unit[1] * field[1].jump), size_w - (right - left))
    out[dy:dy + bottom - top, dx:dx + right - left] = crop.transpose(1, 2, 0)  # -> (h, w, 3)
    return out


def draw_features(found: LayerFeatures, images: np.ndarray, path: str | Path,
                  title: str | None = None) -> Grid:
    """One row per shown channel, its favourites left to right (best first).

    Args:
        images (ndarray): uint8 (N, C, H, W), the test split fitted to the model's input.
    """
    cols = max(len(ps) for ps in found.patches)
    panels, labels = [], []
    for c, ps in zip(found.shown, found.patches):
        for j in range(cols):
            panels.append(panel(images[ps[j].image], found.field, ps[j]) if j < len(ps)
                          else np.full((1, 1, 3), np.nan))
            labels.append(f"ch {c}" if j == 0 else "")
    rows, cols_ = found.field
    title = title or (f"{found.layer}: top {cols} test patches of {len(found.shown)} of "
                      f"{found.channels} channels; field {rows.size}x{cols_.size}, step "
                      f"{rows.jump}")
    return draw_grid(panels, len(found.shown), cols, path, title, labels=labels,
                     panel_inches=PANEL_INCHES)


def split_images(model, manifest: dict, data_dir: str | None = None
                ) -> tuple[torch.Tensor, np.ndarray]:
    """The run's test split as the model sees it (normalised) and as pixels (uint8, fitted to
    the model's input: the receptive fields are in those pixels)."""
    data, x = prepared_split(model, manifest, data_dir=data_dir)
    return x, fit_to_model(data.images, model.input_shape)


def features(rundir: str | Path, out: str | Path | None = None, layer: str | None = None,
             top: int = TOP, channels: int | None = None, data_dir: str | None = None
             ) -> LayerFeatures:
    """``convnet features``: find the favourites of ``layer`` in a run and draw them to ``out``
    (default: ``features-<layer>.png`` in the current folder).

    Raises:
        RunError: not a usable run. DataError: its test data is missing.
        ConvnetError: a bad ``layer``, ``top`` or ``channels``.
    """
    if top < 1 or (channels is not None and channels < 1):
        raise ConvnetError(f"--top and --channels must be at least 1, got {top} and {channels}")
    if top > MAX_TOP:
        raise ConvnetError(f"--top must be at most {MAX_TOP} (patches per channel), got {top}")
    if channels is not None and channels > MAX_CHANNELS:
        raise ConvnetError(f"--channels must be at most {MAX_CHANNELS} (rows of the grid), got "
                           f"{channels}")
    model, manifest = load_model(Path(rundir))
    layer = choose_layer(model, layer)
    out = check_out(out or f"features-{file_stem(layer)}.png")  # before the long part
    x, images = split_images(model, manifest, data_dir)
    found = favourites(model, layer, x, top, channels)
    found.grid = draw_features(found, images, out)
    return found
