"""``convnet report RUNDIR --out report.html``: one self-contained offline HTML page."""

import base64
import io
from html.parser import HTMLParser

import numpy as np
import pytest
import torch
from fake_runs import photo_run
from PIL import Image

from convnet.cli import main
from convnet.viz.report import ScoredSplit, default_inputs, parse_inputs


class Page(HTMLParser):
    """Collects element ids, <img> sources, every src/href attribute, and the visible text."""

    def __init__(self, text: str):
        super().__init__()
        self.ids, self.images, self.links, self.text = set(), [], [], []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        self.links += [attrs[k] for k in ("src", "href") if k in attrs]
        assert tag not in ("script", "link", "iframe", "object"), tag

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def page(tiny_run, tiny_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "report.html"
    assert main(["report", str(tiny_run), "--out", str(out), "--data", str(tiny_data),
                 "--indices", "0,3"]) == 0
    text = out.read_text(encoding="utf-8")
    return text, Page(text)


def test_report_has_every_section(page):
    _, p = page
    assert {"summary", "filters", "curves", "confusion", "misclassified", "layers"} <= p.ids
    text = " ".join(p.text)
    assert "conv1" in text and "5·5·1·6 + 6 = 156" in text and "63,802" in text
    assert "(32 + 2·0 − 5)/1 + 1 = 28" in text
    assert "accuracy" in text and "precision" in text and "recall" in text


def test_inputs_pick_exactly_those_layer_views(page):
    _, p = page
    assert sorted(i for i in p.ids if i.startswith("input-")) == ["input-0", "input-3"]


def test_every_image_is_an_embedded_png_and_nothing_is_external(page):
    text, p = page
    assert len(p.images) >= 3 + 2 * 7  # curves, confusion, thumbnails + 6 map grids per input
    for src in p.images:
        assert src.startswith("data:image/png;base64,")
        Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).verify()
    assert all(link.startswith("data:") for link in p.links)
    assert "http://" not in text and "https://" not in text


def test_default_inputs_one_right_and_one_wrong_per_class():
    labels = np.array([0, 0, 1, 1, 2, 0])
    predicted = np.array([0, 1, 1, 1, 2, 0])  # class 0: right 0, wrong 1; no wrong 1 or 2
    probs = np.eye(3)[predicted]
    ts = ScoredSplit(np.zeros((6, 1, 4, 4), np.uint8), torch.zeros(6, 1, 4, 4), labels, probs,
                 ["a", "b", "c"])
    assert default_inputs(ts) == [0, 1, 2, 4]


def test_parse_inputs():
    assert parse_inputs(None) is None and parse_inputs("0,3") == [0, 3]


@pytest.mark.parametrize("inputs, words", [("99999", "out of range"), ("1,x", "indices")])
def test_bad_inputs_are_one_line(tiny_run, tiny_data, tmp_path, capsys, inputs, words):
    out = tmp_path / "r.html"
    code = main(["report", str(tiny_run), "--out", str(out), "--data", str(tiny_data),
                 "--indices", inputs])
    err = capsys.readouterr().err
    assert code == 1 and words in err and inputs in err and err.count("\n") == 1
    assert not out.exists()


def test_bad_run_and_missing_data(tiny_run, tmp_path, capsys):
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "r.html")]) == 7
    assert main(["report", str(tiny_run), "--out", str(tmp_path / "r.html"),
                 "--data", str(tmp_path)]) == 4
    assert capsys.readouterr().err.count("\n") == 2


def png(src: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
                      .convert("RGB")).astype(int)


@pytest.fixture(scope="module")
def colour_page(tmp_path_factory):
    """The report of an untrained seed4 run on a small CIFAR-10 test split (4 classes)."""
    out = tmp_path_factory.mktemp("colour-report") / "report.html"
    run = photo_run(out.parent)
    assert main(["report", str(run), "--out", str(out), "--indices", "0", "--quiet"]) == 0
    return Page(out.read_text(encoding="utf-8"))


def test_colour_report_draws_filters_and_mistakes_in_colour(colour_page):
    p = colour_page
    assert {"filters", "misclassified"} <= p.ids
    filters = png(p.images[0])  # the first image on the page: conv1's 6 filters, RGB
    assert (np.abs(filters[..., 0] - filters[..., 1]) > 40).sum() > 100
    thumbs = [t for t in map(png, p.images) if t.shape == (64, 64, 3)]  # 32x32, enlarged
    assert len(thumbs) >= 2  # the mistakes (an untrained model makes some) and image 0
    assert all(t.std(axis=2).max() > 20 for t in thumbs)  # each in its class's colour, not grey
