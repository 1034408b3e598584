"""Test images to click: a few images of a run's own test split, spread over its classes.

A colour run (CIFAR-10, a folder of photos) has nothing sensible to draw on a pad, so the page
opens with these instead; an MNIST run shows them beside the pad. The split is read with
``data.load_dataset`` exactly as ``evaluate`` reads it (the run's dataset name and class subset),
from the first of: the folder given to ``convnet serve --data``, the run's recorded data
folder, then ``$CONVNET_DATA`` and the cache. Nothing is ever downloaded for this, and data
that cannot be read is reported in one line (``"note"``), not raised: the page then offers the
upload alone.

Example:
    >>> spread(np.array([0, 0, 1, 0, 2, 1]), 5)  # round-robin: first of each class, then second
    [0, 2, 4, 1, 5]
"""

from __future__ import annotations

import warnings

import numpy as np

from ..data import load_dataset
from ..errors import ConvnetError
from ..viz.draw import png_uri

MAX_SAMPLES = 64  # the most a request may ask for; the page asks for 24


def spread(labels: np.ndarray, n: int) -> list[int]:
    """Indices of ``n`` images taken round-robin over the classes, in test-split order.

    The first image of every class, then the second of every class, and so on: 24 images are
    6 of each of 4 classes, or 2 or 3 of each of 10.
    """
    per_class = [np.flatnonzero(labels == k) for k in np.unique(labels)]
    chosen: list[int] = []
    for rank in range(max((len(p) for p in per_class), default=0)):
        chosen += [int(p[rank]) for p in per_class if rank < len(p)]
        if len(chosen) >= n:
            break
    return chosen[:n]


def _read_test_split(manifest: dict, data_dir: str | None):
    """The run's test split from the first folder that has it; DataError from the last tried."""
    info, cfg = manifest.get("dataset", {}), manifest.get("config", {})
    name = info.get("name")
    if not name:
        raise ConvnetError("the run does not record which dataset it was trained on")
    roots = list(dict.fromkeys(r for r in (data_dir, cfg.get("data_dir")) if r)) + [None]
    error: ConvnetError | None = None
    for root in roots:  # None: $CONVNET_DATA, then the cache
        try:
            with warnings.catch_warnings():  # a re-packed copy's checksum note is not news here
                warnings.simplefilter("ignore")
                return load_dataset(name, "test", root, classes=cfg.get("classes"),
                                    download=False)
        except (ConvnetError, OSError) as e:
            error = e if isinstance(e, ConvnetError) else ConvnetError(f"{name}: {e}")
    raise error


def gallery(manifest: dict, data_dir: str | None = None, n: int = MAX_SAMPLES) -> dict:
    """Up to ``n`` test images of the run's dataset as PNG data URLs with their true classes.

    Returns:
        {"dataset": name, "samples": [{"index": i in the test split, "label": class name,
        "class_index": k, "image": "data:image/png;base64,..."}], "note": "" or why none}.
    """
    name = manifest.get("dataset", {}).get("name")
    classes = list(manifest.get("dataset", {}).get("classes", []))
    try:
        data = _read_test_split(manifest, data_dir)
    except ConvnetError as e:
        return {"dataset": name, "samples": [], "note": f"no test images to show: {e}"}
    if list(data.classes) != classes:
        return {"dataset": name, "samples": [],
                "note": f"no test images to show: {data.name} has classes "
                        f"{', '.join(data.classes)}, the run {', '.join(classes)}"}
    samples = [{"index": i, "label": classes[data.labels[i]],
                "class_index": int(data.labels[i]), "image": png_uri(data.images[i])}
               for i in spread(data.labels, n)]
    return {"dataset": name, "samples": samples, "note": ""}
