"""``convnet report RUNDIR --out report.html``: one run, explained in a single offline HTML file.

The page has eight sections, each filled from the library, never recomputed here:

    summary        the model's layer table with its arithmetic (``summary.summarize``)
    filters        the first convolution's filters (``filters.draw_filters``), in colour for RGB
    evolution      those filters from random init to the end (``--snapshots``, ``evolution``)
    features       what the first convolution learned: each channel's top-9 test patches
                   (``features.favourites``)
    curves         loss and accuracy per epoch, train and test (``RUNDIR/metrics.jsonl``)
    confusion      the confusion matrix on the test split, accuracy, precision and recall
    misclassified  test images the model got wrong, each with its top-3 probabilities
    layers         the feature-map grids (``maps.draw_maps``) of a few chosen test images

Every image is a PNG embedded as a base64 ``data:`` URI and the CSS is inline, so the file
opens from disk with no network, no scripts and no other files.

Example:
    >>> parse_inputs("0, 3,17")
    [0, 3, 17]
    >>> parse_inputs("a,b")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    convnet.errors.ConvnetError: --indices must be test-set indices ... got 'a,b'
"""

from __future__ import annotations

import base64
import html
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.loader import fit_to_model
from ..errors import ConvnetError
from ..evaluate import (BATCH, Evaluation, confusion_matrix, plot_confusion, prepared_split,
                        split_scores)
from ..predict import top_k
from ..runs import atomic_write, load_model, read_metrics
from ..summary import summarize
from .capture import capture, named_layers
from .draw import png_uri, pyplot, save
from .evolution import evolution_section
from .features import conv_layers, draw_features, favourites
from .filters import draw_filters
from .maps import draw_maps

MAX_MISCLASSIFIED = 24  # a 6 x 4 gallery: enough to see the kinds of mistakes
MAX_CLASSES_SHOWN = 10  # default layer views: one right and one wrong image for each of these
MAX_FEATURE_CHANNELS = 16  # rows of the features grid: a 64-channel layer would fill pages
MAX_INPUTS = 50  # --indices: layer views on one page (each is every layer's maps; 2,000 ran
#   for minutes), 2.5x the default's 20
THUMB_SCALE = 2         # 28x28 digits become 56x56 thumbnails (nearest neighbour, no blur)

CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 2px 8px; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; } td.text { text-align: left; font-family: monospace; }
.gallery { display: flex; flex-wrap: wrap; gap: 10px; }
figure { margin: 0; padding: 4px; border: 1px solid #eee; font-size: 12px; }
img.thumb { image-rendering: pixelated; display: block; }
.maps img { max-width: 360px; vertical-align: top; }
"""

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title><style>{css}</style></head>
<body>
<h1>{title}</h1>
<p>{subtitle}</p>
{sections}
</body></html>
"""


@dataclass
class ScoredSplit:
    """The run's test split as the model sees it, and the model's answers on it."""

    images: np.ndarray   # uint8 (N, C, H, W) as stored on disk (for thumbnails)
    x: torch.Tensor      # float32 (N, C, H, W) fitted to the model and normalised
    labels: np.ndarray   # (N,) true classes
    probs: np.ndarray    # (N, K) softmax probabilities
    classes: list[str]
    files: list[str] | None = None  # an image folder's file of each image (under its root)

    @property
    def predicted(self) -> np.ndarray:
        return self.probs.argmax(axis=1)


def parse_inputs(text: str | None) -> list[int] | None:
    """'0,3,17' -> [0, 3, 17]; None stays None (the default choice of inputs)."""
    if text is None:
        return None
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise ConvnetError("--indices must be test-set indices separated by commas, "
                           f"e.g. 0,3,17; got {text!r}") from None


def _uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _file_uri(path: str | Path) -> str:
    return _uri(Path(path).read_bytes())


def _thumbnail(image: np.ndarray) -> str:
    """One uint8 (C, H, W) image as an enlarged PNG data URI."""
    return png_uri(image, THUMB_SCALE)


def _img(uri: str, alt: str, cls: str = "") -> str:
    return f'<img src="{uri}" alt="{html.escape(alt)}"' + (f' class="{cls}"' if cls else "") + ">"


def _table(head: list[str], rows: list[list], text_cols: tuple[int, ...] = ()) -> str:
    """An HTML table; columns in ``text_cols`` are left-aligned monospace (names, formulas)."""
    def cell(i, v):
        return f'<td class="text">{html.escape(str(v))}</td>' if i in text_cols else \
            f"<td>{html.escape(str(v))}</td>"
    out = ["<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    out += ["<tr>" + "".join(cell(i, v) for i, v in enumerate(r)) + "</tr>" for r in rows]
    return "\n".join(out) + "</table>"


def load_test_set(model, manifest: dict, data_dir: str | None, batch: int = BATCH
                  ) -> ScoredSplit:
    """The run's own test split, prepared exactly as ``evaluate`` prepares it, and its scores."""
    data, x = prepared_split(model, manifest, data_dir=data_dir)
    probs = split_scores(model, x, batch=batch)[0].float().softmax(dim=1).numpy()  # (N, K)
    # an image folder's Dataset.files has one entry per image, in order (data/folder.py)
    files = list(data.files) if data.name.startswith("folder:") else None
    return ScoredSplit(data.images, x, data.labels, probs, list(manifest["dataset"]["classes"]),
                       files if files and len(files) == len(data.images) else None)


def default_inputs(ts: ScoredSplit) -> list[int]:
    """The first right and the first wrong test image of each of the first 10 classes."""
    right = ts.predicted == ts.labels
    chosen = []
    for k in range(min(len(ts.classes), MAX_CLASSES_SHOWN)):
        for want in (True, False):
            hits = np.flatnonzero((ts.labels == k) & (right == want))
            if len(hits):
                chosen.append(int(hits[0]))
    return chosen


def _top3(ts: ScoredSplit, i: int) -> str:
    return ", ".join(f"{name} {q:.2f}" for _, name, q in top_k(ts.probs[i], ts.classes, 3))


def summary_section(model) -> str:
    s = summarize(model)
    rows = [[r.name, r.type, "x".join(map(str, r.output_shape)), f"{r.params:,}",
             r.params_formula, f"{r.mult_adds:,}", r.arithmetic] for r in s.rows]
    rows.append(["total", "", "", f"{s.total_params:,}", "", f"{s.total_mult_adds:,}", ""])
    head = ["layer", "type", "output shape", "params", "parameter arithmetic", "mult-adds",
            "output size arithmetic"]
    return (f'<section id="summary"><h2>Model summary</h2><p>input: '
            f'{"x".join(map(str, s.input_shape))}; {s.total_params:,} parameters, '
            f'{s.total_mult_adds:,} multiply-adds per image</p>'
            f'{_table(head, rows, text_cols=(0, 1, 4, 6))}</section>')


def filters_section(model, tmp: Path) -> str:
    """The first convolution's filters: what the network looks for in the pixels themselves."""
    name, conv = next(((n, m) for n, m in named_layers(model) if isinstance(m, torch.nn.Conv2d)),
                      (None, None))
    if conv is None:
        return '<section id="filters"><h2>First-layer filters</h2><p>no convolution</p></section>'
    grid = draw_filters(name, conv, tmp / "filters.png", label=True,
                        colour=model.input_shape[0] == 3)
    return (f'<section id="filters"><h2>First-layer filters</h2>'
            f'{_img(_file_uri(grid.path), grid.title)}</section>')


def features_section(model, ts: ScoredSplit, tmp: Path) -> str:
    """The first convolution's channels, each by the test patches that excite it most."""
    head = '<section id="features"><h2>What the first layer learned</h2>'
    convs = conv_layers(model)
    if not convs:
        return f"{head}<p>no convolution</p></section>"
    found = favourites(model, convs[0], ts.x, channels=MAX_FEATURE_CHANNELS)
    grid = draw_features(found, fit_to_model(ts.images, model.input_shape), tmp / "features.png")
    return (f"{head}<p>each row: a channel of {html.escape(found.layer)} and the test patches "
            "that excite it most, cropped to the pixels its units see</p>"
            f"{_img(_file_uri(grid.path), grid.title)}</section>")


def curves_section(metrics: list[dict], tmp: Path) -> str:
    """Loss and accuracy per epoch, train and test, as one PNG with two charts."""
    if not metrics:
        return '<section id="curves"><h2>Training curves</h2><p>no epochs recorded</p></section>'
    plt = pyplot()
    epochs = [m["epoch"] for m in metrics]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), layout="constrained")
    for ax, what in zip(axes, ("loss", "accuracy")):
        for split in ("train", "test"):
            ax.plot(epochs, [m[f"{split}_{what}"] for m in metrics], marker="o", label=split)
        ax.set_xlabel("epoch")
        ax.set_title(what)
        ax.legend()
    path = save(fig, tmp / "curves.png")
    last = metrics[-1]
    return (f'<section id="curves"><h2>Training curves</h2>{_img(_file_uri(path), "curves")}'
            f'<p>after epoch {last["epoch"]}: test accuracy {last["test_accuracy"]:.2%}, '
            f'test loss {last["test_loss"]:.4f}</p></section>')


def confusion_section(ts: ScoredSplit, dataset: str, tmp: Path) -> str:
    confusion = confusion_matrix(ts.labels, ts.predicted, len(ts.classes))
    ev = Evaluation(dataset, ts.classes, confusion)
    png = plot_confusion(ev, tmp / "confusion.png")
    matrix = _table(["true \\ predicted", *ts.classes],
                    [[c, *row] for c, row in zip(ts.classes, confusion.tolist())], (0,))
    per_class = _table(["class", "precision", "recall", "support"],
                       [[r["class"], f"{r['precision']:.2%}", f"{r['recall']:.2%}", r["support"]]
                        for r in ev.per_class()], (0,))
    return (f'<section id="confusion"><h2>Confusion matrix</h2><p>{html.escape(dataset)} test '
            f'split: accuracy {ev.accuracy:.2%} on {confusion.sum():,} images</p>'
            f'{_img(_file_uri(png), "confusion matrix")}{matrix}{per_class}</section>')


def misclassified_section(ts: ScoredSplit) -> str:
    wrong = np.flatnonzero(ts.predicted != ts.labels)
    figures = [f'<figure class="wrong" id="wrong-{i}">'
               f'{_img(_thumbnail(ts.images[i]), f"test image {_name(ts, i)}", "thumb")}'
               f'<figcaption>{html.escape(_name(ts, i))} true {html.escape(ts.classes[ts.labels[i]])}<br>'
               f'{html.escape(_top3(ts, i))}</figcaption></figure>'
               for i in wrong[:MAX_MISCLASSIFIED]]
    shown = f"the first {len(figures)} of " if len(figures) < len(wrong) else ""
    return (f'<section id="misclassified"><h2>Misclassified test images</h2><p>{shown}'
            f'{len(wrong):,} wrong; each with its top-3 probabilities</p>'
            f'<div class="gallery">{"".join(figures)}</div></section>')


def _name(ts: ScoredSplit, i: int) -> str:
    """How the page names test image ``i``: its file in an image folder, else its index."""
    return f"#{i} {ts.files[i]}" if ts.files else f"#{i}"


def layer_view(model, ts: ScoredSplit, i: int, tmp: Path) -> str:
    """One test image through the network: its thumbnail, answer and every layer's maps."""
    activations = capture(model, ts.x[i:i + 1])  # (1, C, H, W) in, {layer: (1, ...)} out
    grids = [draw_maps(name, act, tmp / f"in{i}_{n}.png")
             for n, (name, act) in enumerate(activations.items()) if act.dim() == 4]
    verdict = "right" if ts.predicted[i] == ts.labels[i] else "wrong"
    head = (f"test image #{i}: true {ts.classes[ts.labels[i]]}, predicted "
            f"{ts.classes[ts.predicted[i]]} ({verdict}); top 3: {_top3(ts, i)}")
    maps = "".join(_img(_file_uri(g.path), g.title) for g in grids)
    return (f'<div class="input" id="input-{i}"><h3>{html.escape(head)}</h3>'
            f'{_img(_thumbnail(ts.images[i]), f"test image {i}", "thumb")}'
            f'<div class="maps">{maps}</div></div>')


def render_report(rundir: str | Path, inputs: list[int] | None = None,
                  data_dir: str | None = None, progress: bool = False) -> str:
    """The report page for a run as one HTML string (see the module docstring).

    Args:
        inputs (list[int] | None): test-set indices for the layer views. Default: one right
            and one wrong image per class, for up to 10 classes.
        data_dir (str | None): where the run's dataset is. Default: the run's own setting.
        progress (bool): a progress bar over the layer views (the slow part). Default: False.

    Raises:
        RunError: not a usable run. DataError: the test data is missing or corrupt.
        ConvnetError: an index in ``inputs`` is outside the test split, or more than
            ``MAX_INPUTS`` of them.
    """
    if inputs is not None and len(inputs) > MAX_INPUTS:  # before the minutes of work
        raise ConvnetError(f"--indices names {len(inputs):,} images; a report shows at most "
                           f"{MAX_INPUTS} layer by layer")
    model, manifest = load_model(Path(rundir))
    ts = load_test_set(model, manifest, data_dir)
    bad = [i for i in inputs or [] if not 0 <= i < len(ts.labels)]
    if bad:
        raise ConvnetError(f"--indices {bad[0]} is out of range: the test split has "
                           f"{len(ts.labels):,} images (0..{len(ts.labels) - 1})")
    chosen = default_inputs(ts) if inputs is None else inputs
    name = manifest["dataset"]["name"]
    with tempfile.TemporaryDirectory(prefix="convnet-report-") as tmp:
        views = "".join(layer_view(model, ts, i, Path(tmp))
                        for i in tqdm(chosen, desc="layer views", unit="image",
                                      disable=not progress, leave=False))
        sections = [summary_section(model), filters_section(model, Path(tmp)),
                    evolution_section(rundir, Path(tmp)), features_section(model, ts, Path(tmp)),
                    curves_section(read_metrics(Path(rundir)), Path(tmp)),
                    confusion_section(ts, name, Path(tmp)), misclassified_section(ts),
                    f'<section id="layers"><h2>Layer by layer</h2>{views}</section>']
    title = f"{manifest['model'].get('name') or 'model'} on {name}"
    return PAGE.format(title=html.escape(title), css=CSS, sections="\n".join(sections),
                       subtitle=html.escape(f"run {Path(rundir).resolve()}"))


def write_report(rundir: str | Path, out: str | Path, inputs: list[int] | None = None,
                 data_dir: str | None = None, progress: bool = False) -> Path:
    """Render the report and write it atomically to ``out`` (a crash leaves no half file)."""
    page = render_report(rundir, inputs, data_dir, progress)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)

    def write(tmp: str) -> None:
        Path(tmp).write_text(page, encoding="utf-8")
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a report is meant to be shared

    atomic_write(out, write)
    return out
