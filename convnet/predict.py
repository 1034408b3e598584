"""Use a trained run: class probabilities for images, converted exactly like the training data.

Example (with a finished run):
    >>> import convnet                                        # doctest: +SKIP
    >>> convnet.load("runs/lenet5-mnist").predict("digit.png")  # doctest: +SKIP
    Prediction(label='8', probability=0.97, top=[('8', 0.97), ('3', 0.02), ...])

Over many files, as a batch tool: ``predict_files(find_images(["photos/", "*.jpg"]))`` yields
each file's Prediction, or the ImageError that names it, and goes on with the others.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .data.decode import in_memory_image, read_image
from .data.folder import IMAGE_EXTENSIONS
from .data.preprocess import decode_keep, prepare
from . import notebook
from .errors import ConvnetError, ImageError
from .runs import load_model

BACKENDS = ("auto", "torch", "onnxruntime")
BATCH = 64  # files decoded and run at once by predict_files: memory stays flat over a folder


def find_images(sources: list[str]) -> list[str | ImageError]:
    """Command-line sources -> image paths, in order: a folder gives its image files (sorted,
    sub-folders included, hidden ones skipped), a glob its matches, anything else itself (a
    missing file fails when it is read, naming itself). A folder or glob with no image gives
    an ImageError in its place.

    Example:
        >>> find_images(["a.png", "no/such/*.png"])
        ['a.png', ImageError("no file matches 'no/such/*.png'")]
    """
    found: list[str | ImageError] = []
    for source in map(str, sources):
        path = Path(source)
        if path.is_dir():
            images = sorted(str(p) for p in path.rglob("*") if p.is_file()
                            and p.suffix.lower() in IMAGE_EXTENSIONS
                            and not any(part.startswith(".") for part in p.relative_to(path).parts))
            exts = ", ".join(IMAGE_EXTENSIONS)
            found += images or [ImageError(f"{source}: no image files in this folder ({exts})")]
        elif glob.has_magic(source) and not path.exists():
            matches = sorted(m for m in glob.glob(source, recursive=True) if Path(m).is_file())
            found += matches or [ImageError(f"no file matches {source!r}")]
        else:
            found.append(source)
    return found


@dataclass
class Prediction:
    label: str                            # the most probable class name
    probability: float
    top: list[tuple[str, float]]          # the K most probable (label, probability)
    image: str | None = None              # the path as given, when there was one

    def to_json(self) -> dict:
        return {"image": self.image, "label": self.label, "probability": self.probability,
                "top": [{"label": k, "probability": p} for k, p in self.top]}

    def __str__(self) -> str:
        return ", ".join(f"{k}: {p:.2f}" for k, p in self.top)

    def _repr_html_(self) -> str:
        """Jupyter shows the top-k classes as bars."""
        return notebook.prediction_html(self.label, self.probability, self.top, self.image)


def top_k(probs: np.ndarray, classes: list[str], k: int | None = None
          ) -> list[tuple[int, str, float]]:
    """The ``k`` most probable classes, most probable first, as (index, name, probability).

    Equal probabilities keep the class order (a stable sort), so a ranking is the same on every
    run and in every view: ``predict --top``, the web page and the report. ``k`` None: all.

    Example:
        >>> top_k(np.array([0.2, 0.5, 0.2, 0.1]), ["a", "b", "c", "d"], 3)
        [(1, 'b', 0.5), (0, 'a', 0.2), (2, 'c', 0.2)]
    """
    order = np.argsort(-np.asarray(probs), kind="stable")[:k]
    return [(int(i), classes[i], float(probs[i])) for i in order]


class Predictor:
    """A trained model plus the exact preprocessing of its training data.

    Args:
        model (Network): the trained network; put in eval mode here, and again before any
            torch forward pass if something has switched it back to training mode.
        classes (list[str]): class names in output order.
        framing (str | None): "mnist" to frame digits as MNIST was, else None.
        mean, std (list[float]): the training data's per-channel normalisation.
        backend (str): what computes ``probabilities``: "torch" (eager), "onnxruntime" (the
            model converted in memory on first use and checked against torch; 3-8x faster on
            small CPU batches, see docs/performance.md) or "auto" (onnxruntime, falling back
            to torch if the model does not convert). ``model`` stays the torch network either
            way: feature maps, saliency and the web view read it. Default: "torch".
    """

    def __init__(self, model, classes, framing=None, mean=(0.0,), std=(1.0,), backend="torch"):
        if backend not in BACKENDS:
            raise ConvnetError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        self.model, self.classes, self.framing = model.eval(), list(classes), framing
        self.mean, self.std = list(mean), list(std)
        self.backend = backend
        self.fallback: str | None = None  # why "auto" ended up on torch
        self.weights: dict | None = None  # from_run: {"file": ..., "epoch": ...} it loaded
        self._sessions = None

    @classmethod
    def from_run(cls, rundir: str | Path, backend: str = "auto") -> Predictor:
        model, manifest = load_model(Path(rundir))
        ds = manifest["dataset"]
        predictor = cls(model, ds["classes"], ds.get("framing"), ds["mean"], ds["std"], backend)
        predictor.weights = manifest["weights"]  # which of the run's files: best or last
        return predictor

    @classmethod
    def from_onnx(cls, path: str | Path) -> Predictor:
        """A file from ``convnet export``, run by onnxruntime with the preprocessing it carries."""
        from .export import OnnxModel

        model = OnnxModel(path)
        return cls(model, model.classes, model.framing, model.mean, model.std)

    @classmethod
    def open(cls, source: str | Path, backend: str = "auto") -> Predictor:
        """A run directory (with ``backend``), or an exported ``.onnx`` file (onnxruntime)."""
        if str(source).lower().endswith(".onnx"):
            return cls.from_onnx(source)
        return cls.from_run(source, backend)

    def prepare(self, image, invert: bool | None = None) -> np.ndarray:
        """A path, PIL image or uint8 array -> the normalised (C, H, W) float32 model input.

        A file is decoded only as large as this model needs (``decode_keep``), as the image
        folder reader decodes training images: a 7000x7000 PNG costs megabytes, not gigabytes.
        """
        shape, path = self.model.input_shape, None
        if isinstance(image, (np.ndarray, Image.Image)):
            image = in_memory_image(image)
        else:
            if isinstance(image, (str, os.PathLike)):
                path = os.fspath(image)
            image = read_image(image, decode_keep(shape, self.framing))
        try:
            return prepare(image, shape, self.framing, invert, self.mean, self.std)
        except ImageError as e:  # "image is blank": among many files, say which one
            raise ImageError(f"'{path}': {e}" if path is not None else str(e)) from None

    def sessions(self):
        """The onnxruntime sessions for this model (built on first use), or None for torch."""
        if self._sessions is None and self.backend != "torch" and self.fallback is None:
            from .export import Sessions, compile_onnx

            try:
                self._sessions = Sessions(compile_onnx(self.model)[0])
            except ConvnetError as e:
                if self.backend == "onnxruntime":
                    raise
                self.fallback = str(e)
        return self._sessions

    @torch.inference_mode()
    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """(N, C, H, W) prepared inputs -> (N, K) probabilities, rows summing to 1."""
        if not isinstance(self.model, torch.nn.Module):  # an OnnxModel: softmax is in the graph
            return self.model.probabilities(batch)
        if self.sessions() is not None:
            return self._sessions.probabilities(batch)
        if self.model.training:  # one flag read; batch norm must use its running statistics
            self.model.eval()
        logits = self.model.logits(torch.from_numpy(np.ascontiguousarray(batch)))
        return logits.float().softmax(dim=1).numpy()

    def predict(self, images, top: int = 5, invert: bool | None = None):
        """One image -> a Prediction; a list of images -> a list of Predictions (one batch).

        Raises:
            ConvnetError: ``top`` below 1 (more than the number of classes shows them all).
            ImageError: an image cannot be read (the first such; ``predict_files`` goes on).
        """
        check_top(top)
        single = not isinstance(images, (list, tuple))
        items = [images] if single else list(images)
        out = self._ranked(items, [self.prepare(im, invert) for im in items], top)
        return out[0] if single else out

    def predict_files(self, paths: list, top: int = 5, invert: bool | None = None,
                      batch: int = BATCH) -> Iterator[tuple[str | None, Prediction | ImageError]]:
        """Each path (or ``find_images``'s ImageError) -> (path, its Prediction or its
        ImageError), in order, ``batch`` files at a time: one unreadable file does not stop
        the others.

        Raises:
            ConvnetError: ``top`` below 1, before any file is read.
        """
        check_top(top)
        for start in range(0, len(paths), batch):
            chunk, got = paths[start:start + batch], {}
            for i, path in enumerate(chunk):
                try:
                    got[i] = path if isinstance(path, ImageError) else self.prepare(path, invert)
                except ImageError as e:  # its message names the file
                    got[i] = e
            ready = [i for i in got if not isinstance(got[i], ImageError)]
            ranked = self._ranked([chunk[i] for i in ready], [got[i] for i in ready], top)
            got.update(zip(ready, ranked))
            for i, path in enumerate(chunk):
                yield (None if isinstance(path, ImageError) else str(path)), got[i]

    def _ranked(self, items: list, inputs: list[np.ndarray], top: int) -> list[Prediction]:
        """Prepared (C, H, W) inputs -> one Prediction each, its ``top`` classes ranked."""
        if not inputs:
            return []
        probs = self.probabilities(np.stack(inputs))  # (N, C, H, W) -> (N, K)
        k = min(top, len(self.classes))
        out = []
        for item, p in zip(items, probs):
            ranked = [(name, q) for _, name, q in top_k(p, self.classes, k)]
            name = str(item) if isinstance(item, (str, Path)) else None
            out.append(Prediction(ranked[0][0], ranked[0][1], ranked, name))
        return out


def check_top(top: int) -> None:
    if top < 1:
        raise ConvnetError(f"--top must be at least 1, got {top}")
