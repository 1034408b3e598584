"""How good is a trained run: accuracy, per-class precision/recall, the confusion matrix."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .data import load_dataset
from .data.loader import fit_to_model, normalize
from .errors import ConvnetError, DataError
from .export import logits_session
from .runs import BEST, atomic_write, eval_mode, load_model, weights_note


# Images per forward pass over a split: resnet20 through onnxruntime runs 10,000 CIFAR images in
# 3.9 s at 128, 4.1 s at 256, 4.6 s at 500 and 4.9 s at 1,000 on this 2-core CPU (the
# activations of a small batch stay in the caches); LeNet-5 does not care.
BATCH = 128


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Count each (true class, predicted class) pair: row = true class, column = predicted.

    Shape:
        labels (N,), predicted (N,) ints in 0..num_classes-1 -> (num_classes, num_classes) int64.

    Example:
        >>> confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]), 3).tolist()
        [[1, 1, 0], [0, 1, 0], [0, 1, 0]]
    """
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (np.asarray(labels), np.asarray(predicted)), 1)
    return confusion


@dataclass
class Evaluation:
    dataset: str
    classes: list[str]
    confusion: np.ndarray  # (K, K): row = true class, column = predicted class
    flip: bool = False  # classified with test-time flips (image and mirror image averaged)
    weights: dict | None = None  # the run's file that was loaded: {"file": ..., "epoch": ...}

    @property
    def accuracy(self) -> float:
        return float(np.trace(self.confusion) / max(1, self.confusion.sum()))

    def per_class(self) -> list[dict]:
        cm = self.confusion
        rows = []
        for i, name in enumerate(self.classes):
            tp, predicted, actual = cm[i, i], cm[:, i].sum(), cm[i, :].sum()
            rows.append({"class": name, "precision": float(tp / predicted) if predicted else 0.0,
                         "recall": float(tp / actual) if actual else 0.0, "support": int(actual)})
        return rows

    def to_json(self) -> dict:
        weights = {"weights": self.weights} if self.weights else {}
        return {"dataset": self.dataset, "accuracy": self.accuracy, "flip": self.flip,
                "images": int(self.confusion.sum()), **weights,
                "per_class": self.per_class(), "classes": self.classes,
                "confusion_matrix": self.confusion.tolist()}

    def table(self) -> str:
        width = max(5, max(len(c) for c in self.classes))
        how = " (each image and its mirror image, probabilities averaged)" if self.flip else ""
        lines = [f"{self.dataset}: accuracy {self.accuracy:.2%} on {self.confusion.sum():,} "
                 f"images{how}",
                 *([weights_note(self.weights)] if self.weights and self.weights["file"] == BEST
                   else []),  # not the last epoch's: say so
                 "", f"{'class':<{width}}  precision  recall  support"]
        for r in self.per_class():
            lines.append(f"{r['class']:<{width}}  {r['precision']:9.2%}  {r['recall']:6.2%}  "
                         f"{r['support']:7,}")
        cell = max(len(str(self.confusion.max())), width, 4)
        lines += ["", "confusion matrix (rows: true class, columns: predicted)",
                  " " * width + "".join(f" {c[:cell]:>{cell}}" for c in self.classes)]
        for name, row in zip(self.classes, self.confusion):
            lines.append(f"{name:<{width}}" + "".join(f" {v:>{cell}}" for v in row))
        return "\n".join(lines)


def prepared_split(model, manifest: dict, dataset: str | None = None,
                   data_dir: str | None = None, split: str = "test"):
    """(Dataset, normalised inputs) for a run: fitted and normalised exactly like its training data.

    The run's own class subset applies to its own dataset only; ``data_dir`` defaults to the
    run's.
    """
    info, cfg = manifest["dataset"], manifest["config"]
    name = dataset or info["name"]
    classes = cfg.get("classes") if name == info["name"] else None
    data = load_dataset(name, split, data_dir or cfg.get("data_dir"), classes=classes)
    x = normalize(fit_to_model(data.images, model.input_shape), info["mean"], info["std"])
    return data, x


def batched_logits(model, x: torch.Tensor, batch: int = BATCH, onnx_session=None
                   ) -> torch.Tensor:
    """``model.logits`` in eval mode over a whole split, ``batch`` images at a time: (N, K).

    ``onnx_session`` (``export.logits_session(model)``) computes them with onnxruntime, the
    inference path; without it torch does, and the caller's training flags are restored.
    """
    if onnx_session is not None:
        return torch.cat([torch.from_numpy(onnx_session.run(
            None, {"image": np.ascontiguousarray(x[i:i + batch].numpy())})[0])
            for i in range(0, len(x), batch)])
    with eval_mode(model), torch.inference_mode():
        return torch.cat([model.logits(x[i:i + batch]) for i in range(0, len(x), batch)])


def split_scores(model, x: torch.Tensor, flip: bool = False, batch: int = BATCH
                 ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(logits (N, K), flip scores (N, K) or None) of a whole split, at inference speed.

    The flip scores (test-time augmentation) are the sum of each image's and its mirror
    image's probabilities. A model on the CPU runs through onnxruntime on its current weights
    (exported and checked against torch first, ~0.3-0.7 s, repaid by a 1.6-2x faster pass over
    10,000 images, docs/performance.md); on a GPU, or a module that does not export, torch.
    """
    onnx_session = logits_session(model) if x.device.type == "cpu" else None
    logits = batched_logits(model, x, batch, onnx_session)
    if not flip:
        return logits, None
    mirrored = batched_logits(model, x.flip(3), batch, onnx_session)
    return logits, logits.softmax(dim=1) + mirrored.softmax(dim=1)


def evaluate(rundir: str | Path, dataset: str | None = None, data_dir: str | None = None,
             split: str = "test", batch: int = BATCH, flip: bool = False) -> Evaluation:
    """Evaluate a run on the test split of its own dataset or another with the same classes.

    ``flip``: classify each image by the mean of its own and its mirror image's probabilities
    (test-time augmentation; it helps runs trained with flips, and hurts digits).
    """
    model, manifest = load_model(Path(rundir))
    ev = evaluate_model(model, manifest, dataset, data_dir, split, batch, flip)
    ev.weights = manifest["weights"]
    return ev


def evaluate_model(model, manifest: dict, dataset: str | None = None,
                   data_dir: str | None = None, split: str = "test", batch: int = BATCH,
                   flip: bool = False) -> Evaluation:
    """``evaluate`` for a model in memory (anything with ``logits`` and ``input_shape``: a
    ``Network``, or ``classifier.Classifier`` around a module) and a run.json-like ``manifest``
    (its ``dataset`` and ``config``)."""
    info = manifest["dataset"]
    name = dataset or info["name"]
    data, x = prepared_split(model, manifest, dataset, data_dir, split)
    if list(data.classes) != list(info["classes"]):  # same count, other meaning: no accuracy
        raise DataError(f"{name} has the classes {_listed(data.classes)} but the run was trained "
                        f"on {_listed(info['classes'])} ({info['name']}); evaluate on a dataset "
                        f"of the run's classes, in the same order")
    logits, flip_scores = split_scores(model, x, flip, batch)
    scores = logits if flip_scores is None else flip_scores
    confusion = confusion_matrix(data.labels, scores.argmax(dim=1).numpy(), len(info["classes"]))
    return Evaluation(name, list(info["classes"]), confusion, flip)


def _listed(classes, most: int = 5) -> str:
    """A class list in a message: the first ``most`` names, then how many more.

    Example:
        >>> _listed([str(i) for i in range(10)])
        "'0', '1', '2', '3', '4' ... (10)"
    """
    more = f" ... ({len(classes)})" if len(classes) > most else ""
    return ", ".join(repr(str(c)) for c in classes[:most]) + more


def check_plot_path(path: str | Path) -> tuple[Path, str]:
    """(path, image format) for ``--plot``: a format matplotlib writes, in an existing folder.

    Raises:
        ConvnetError: an unknown suffix (``cm.xyz``) or a folder that does not exist.

    Example:
        >>> check_plot_path("cm.SVG")
        (PosixPath('cm.SVG'), 'svg')
        >>> check_plot_path("cm.xyz")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        convnet.errors.ConvnetError: --plot cm.xyz: unknown image format 'xyz'; use .png, ...
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path = Path(path)
    fmt = path.suffix[1:].lower() or "png"
    formats = FigureCanvasAgg.get_supported_filetypes()
    if fmt not in formats:
        raise ConvnetError(f"--plot {path}: unknown image format {fmt!r}; use "
                           + ", ".join(f".{f}" for f in ("png", *sorted(set(formats) - {"png"}))))
    if not path.parent.is_dir():
        raise ConvnetError(f"--plot {path}: folder {path.parent} does not exist")
    return path, fmt


def plot_confusion(ev: Evaluation, path: str | Path) -> Path:
    """Save the confusion matrix as a heat map with counts in the cells (PNG, or the format
    the suffix names), written whole or not at all.

    Raises:
        ConvnetError: see ``check_plot_path``; the write failed (disk full...): one line.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path, fmt = check_plot_path(path)
    k = len(ev.classes)
    fig, ax = plt.subplots(figsize=(1 + 0.6 * k, 1 + 0.6 * k), dpi=100)
    ax.imshow(ev.confusion, cmap="Blues")
    ax.set_xticks(range(k), ev.classes, rotation=90 if k > 10 else 0)
    ax.set_yticks(range(k), ev.classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{ev.dataset}: accuracy {ev.accuracy:.2%}")
    top = ev.confusion.max() or 1
    for (i, j), v in np.ndenumerate(ev.confusion):
        ax.text(j, i, str(v), ha="center", va="center", fontsize=7,
                color="white" if v > top / 2 else "black")
    fig.tight_layout()
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt))
    finally:
        plt.close(fig)
    return path
