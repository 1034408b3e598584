"""How convnet's objects show themselves in Jupyter: the HTML behind their ``_repr_html_``.

A ``Network`` and its ``Summary`` show the summary table (layer, output shape, parameters,
multiply-adds), a run from ``convnet.fit`` its curves and final figures, a ``Prediction`` its
top-k bars, a ``convnet show`` result its pictures, an ``explain`` result its matrices.

Everything here builds HTML from plain data (rows, numbers, file paths) and imports nothing
from convnet, so the classes low in the import order (models, summary) can call it. Every piece
of text goes through ``html.escape``; every picture is inline (an SVG curve, CSS bars, PNG
files as data: URIs), so a saved notebook shows them offline and nothing is fetched.

Example:
    >>> bars_html([("ship", 0.875), ("<cat>", 0.125)])[:60]
    '<div style="font:13px sans-serif"><table style="border-colla'
    >>> "&lt;cat&gt;" in bars_html([("<cat>", 1.0)]), "<cat>" in bars_html([("<cat>", 1.0)])
    (True, False)
"""

from __future__ import annotations

import base64
import html
from numbers import Real
from pathlib import Path

FONT = "font:13px sans-serif"
CELL = "padding:2px 8px;border-bottom:1px solid #ddd"
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")  # matplotlib's first four: same as PNGs
SERIES = {  # the metrics rows' columns each curve reads, drawn in this order
    "accuracy": ("train_accuracy", "val_accuracy", "test_accuracy"),
    "loss": ("train_loss", "val_loss", "test_loss"),
}
GRIDS = ("image", "padded", "kernel", "feature_map", "input", "output", "logits", "shifted",
         "exp", "probabilities", "target", "terms")  # an explain result's numbers, in this order
FINAL = ("epoch", "epochs_run", "test_accuracy", "test_loss", "val_accuracy", "val_loss",
         "chosen_by", "seconds")  # a run's figures, in this order, those it has


def esc(value) -> str:
    """Any value as HTML-safe text (quotes too: the text may sit in an attribute)."""
    return html.escape(str(value), quote=True)


def box(*parts: str) -> str:
    return f'<div style="{FONT}">{"".join(parts)}</div>'


def table(head: list[str], rows: list[list], right: tuple[int, ...] = ()) -> str:
    """A plain table, every cell escaped; the columns in ``right`` aligned right (numbers)."""
    def cell(tag: str, i: int, v) -> str:
        align = "right" if i in right else "left"
        return f'<{tag} style="{CELL};text-align:{align}">{esc(v)}</{tag}>'

    top = "".join(cell("th", i, h) for i, h in enumerate(head))
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>"
                   for row in rows)
    return (f'<table style="border-collapse:collapse"><thead><tr>{top}</tr></thead>'
            f"<tbody>{body}</tbody></table>")


# ----------------------------------------------------------------------------- models

def summary_html(summary, title: str | None = None) -> str:
    """A ``convnet.summary.Summary`` (rows, totals) as the ``convnet summary`` table."""
    head = ["layer", "type", "output shape", "params", "parameter arithmetic", "mult-adds",
            "output size arithmetic"]
    rows = [[r.name, r.type, "x".join(map(str, r.output_shape)), f"{r.params:,}",
             r.params_formula, f"{r.mult_adds:,}", r.arithmetic] for r in summary.rows]
    caption = f"<b>{esc(title)}</b> · " if title else ""
    return box(f"<p>{caption}input {esc('x'.join(map(str, summary.input_shape)))}</p>",
               table(head, rows, right=(3, 5)),
               f"<p>total parameters: <b>{summary.total_params:,}</b> · total multiply-adds "
               f"per image: <b>{summary.total_mult_adds:,}</b></p>")


# ----------------------------------------------------------------------------- runs

def curve_svg(history: list[dict], keys: tuple[str, ...], title: str,
              width: int = 320, height: int = 170) -> str:
    """The columns ``keys`` of the metrics rows against the epoch, as an inline SVG chart.

    Example:
        >>> svg = curve_svg([{"epoch": 1, "test_loss": 0.5}, {"epoch": 2, "test_loss": 0.25}],
        ...                 ("test_loss",), "loss")
        >>> svg.count("<circle"), "test_loss" in svg
        (2, True)
    """
    series = [(k, [(r["epoch"], r[k]) for r in history if isinstance(r.get(k), Real)])
              for k in keys]
    series = [(k, pts) for k, pts in series if pts]
    if not series:
        return ""
    xs = [x for _, pts in series for x, _ in pts]
    ys = [y for _, pts in series for _, y in pts]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    pad = (y1 - y0) * 0.1 or max(abs(y1) * 0.1, 0.01)  # one point or a flat line: still a band
    y0, y1 = y0 - pad, y1 + pad
    left, right, top, bottom = 44, 8, 20, 34  # room for the y labels, title and legend

    def at(x, y) -> tuple[float, float]:
        u = left + (x - x0) / ((x1 - x0) or 1) * (width - left - right)
        v = top + (y1 - y) / (y1 - y0) * (height - top - bottom)
        return round(u, 1), round(v, 1)

    marks = [f'<text x="{left}" y="13" font-weight="bold">{esc(title)}</text>',
             f'<text x="{left - 4}" y="{top + 4}" text-anchor="end">{y1:.3g}</text>',
             f'<text x="{left - 4}" y="{height - bottom}" text-anchor="end">{y0:.3g}</text>',
             f'<text x="{left}" y="{height - bottom + 14}">epoch {x0:g}</text>',
             (f'<text x="{width - right}" y="{height - bottom + 14}" text-anchor="end">'
              f"{x1:g}</text>"),
             (f'<rect x="{left}" y="{top}" width="{width - left - right}" '
              f'height="{height - top - bottom}" fill="none" stroke="#ccc"/>')]
    for i, (key, pts) in enumerate(series):
        colour, xy = COLOURS[i % len(COLOURS)], [at(x, y) for x, y in pts]
        line = " ".join(f"{u},{v}" for u, v in xy)
        marks.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"/>')
        marks += [f'<circle cx="{u}" cy="{v}" r="2.5" fill="{colour}"><title>{esc(key)} '
                  f"{y:.4g}</title></circle>" for (u, v), (_, y) in zip(xy, pts)]
        marks.append(f'<text x="{8 + 100 * i}" y="{height - 4}" fill="{colour}">'
                     f"{esc(key)}</text>")
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'font-family="sans-serif" font-size="11">{"".join(marks)}</svg>')


def figure(key: str, value) -> str:
    """One final figure as the CLI writes it: accuracies in %, seconds with one decimal."""
    if isinstance(value, bool) or not isinstance(value, Real):
        return str(value)
    if key.endswith("accuracy"):
        return f"{value:.2%}"
    return f"{value:.1f} s" if key == "seconds" else f"{value:.4g}"


def run_html(path, history: list[dict], result: dict) -> str:
    """A finished run: where it is, its accuracy and loss curves, the figures it delivers."""
    charts = "".join(curve_svg(history, keys, name) for name, keys in SERIES.items())
    rows = [[k, figure(k, result[k])] for k in FINAL if k in result]
    return box(f"<p><b>run</b> {esc(path)} · {len(history)} epoch(s)</p>",
               f'<div style="display:flex;gap:12px">{charts}</div>' if charts else "",
               table(["delivered", "value"], rows, right=(1,)) if rows else "")


# ----------------------------------------------------------------------------- predictions

def bars_html(top: list[tuple[str, float]], title: str | None = None) -> str:
    """(class name, probability) pairs, most probable first, as horizontal bars."""
    rows = []
    for i, (name, p) in enumerate(top):
        colour = COLOURS[1] if i == 0 else COLOURS[0]
        bar = (f'<div title="{float(p):.6f}" style="background:{colour};height:12px;'
               f'width:{max(0.0, min(1.0, float(p))) * 200:.1f}px"></div>')
        rows.append(f'<tr><td style="padding:1px 8px;text-align:right">{esc(name)}</td>'
                    f'<td style="padding:1px 0;width:200px">{bar}</td>'
                    f'<td style="padding:1px 8px;text-align:right">{float(p):.2%}</td></tr>')
    head = f"<p>{esc(title)}</p>" if title else ""
    return box(head, f'<table style="border-collapse:collapse">{"".join(rows)}</table>')


def prediction_html(label: str, probability: float, top: list[tuple[str, float]],
                    image: str | None = None) -> str:
    """A ``Prediction``: the winning class, then its top-k bars."""
    source = f"{esc(image)}: " if image else ""
    return bars_html(top, f"{source}{label} ({probability:.2%})")


# ----------------------------------------------------------------------------- pictures

def png_img(path: str | Path, alt: str) -> str:
    """A PNG file inline (a data: URI), so the notebook keeps it when the folder is gone."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return (f'<img alt="{esc(alt)}" title="{esc(alt)}" style="max-width:100%" '
            f'src="data:image/png;base64,{data}"/>')


def shown_html(image: str, prediction: dict, files: list[str], layers: list[dict]) -> str:
    """What ``convnet show`` wrote for one image: the prediction, then every picture."""
    shapes = ", ".join(f"{d['name']} {'x'.join(map(str, d['shape'][1:]))}" for d in layers)
    pictures = "".join(f"<div>{png_img(f, Path(f).name)}</div>" for f in files
                       if str(f).lower().endswith(".png") and Path(f).is_file())
    return box(f"<p><b>{esc(image)}</b> → {esc(prediction['label'])} "
               f"({prediction['probability']:.2%})</p>",
               f"<p>layers: {esc(shapes)}</p>" if shapes else "", pictures)


# ----------------------------------------------------------------------------- explain

def is_vector(v) -> bool:
    return (isinstance(v, list) and bool(v)
            and all(isinstance(x, Real) and not isinstance(x, bool) for x in v))


def is_matrix(v) -> bool:
    return isinstance(v, list) and bool(v) and all(is_vector(row) for row in v)


def matrix_html(name: str, matrix: list[list[float]]) -> str:
    """One matrix as a grid of numbers under its name."""
    cells = "".join("<tr>" + "".join(f'<td style="border:1px solid #bbb;padding:2px 6px;'
                                     f'text-align:right">{esc(v)}</td>' for v in row) + "</tr>"
                    for row in matrix)
    return (f'<div><div style="text-align:center">{esc(name)}</div>'
            f'<table style="border-collapse:collapse">{cells}</table></div>')


def explain_html(result: dict, text: str) -> str:
    """An ``explain`` result: its numbers as grids side by side (image, kernel, feature map;
    input, output; logits, probabilities...), then the whole walk-through as text in a fold.

    The grids are the result's values under ``GRIDS`` that are a matrix, a vector (one row) or
    a list of matrices (one per channel), each shown once (``padded`` is the image when there
    is no padding).
    """
    shown, panels = [], []
    for key in GRIDS:
        value = result.get(key)
        if is_vector(value):
            value = [value]
        if is_matrix(value):
            parts = [(key, value)]
        elif isinstance(value, list) and value and all(is_matrix(m) for m in value):
            parts = [(f"{key} [{i}]" if len(value) > 1 else key, m) for i, m in enumerate(value)]
        else:
            continue
        for name, m in parts:
            if m not in shown:
                shown.append(m)
                panels.append(matrix_html(name, m))
    title = str(result.get("operation", "explain"))
    return box(f"<p><b>{esc(title)}</b></p>",
               f'<div style="display:flex;gap:16px;align-items:flex-end">{"".join(panels)}</div>',
               f"<details><summary>every step</summary><pre>{esc(text)}</pre></details>")
