"""Jupyter: every object shows itself as escaped HTML with its real numbers, and
examples/tour.ipynb runs from top to bottom with the outputs the tutorials give."""

import json
import re
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import SHARED

import convnet
from convnet import notebook
from convnet.predict import Prediction
from convnet.summary import Row, Summary
from convnet.viz.show import show

EVIL = '<script>alert("x")</script>'


def well_formed(fragment: str) -> ET.Element:
    """Parse the HTML as XML: unbalanced tags or a raw '<' or '&' from some text fail here."""
    return ET.fromstring(f"<root>{fragment}</root>")


def texts(fragment: str) -> list[str]:
    return [t.strip() for t in well_formed(fragment).itertext() if t.strip()]


@pytest.fixture(scope="module")
def run(tiny_data, tmp_path_factory):
    """``convnet.fit`` on the tiny digits: 2 epochs with a validation split (seconds)."""
    out = tmp_path_factory.mktemp("runs") / "nb"
    return convnet.fit("lenet5", dataset="mnist", data_dir=str(tiny_data), epochs=2,
                       batch_size=64, val=100, out=str(out), progress=False)


# ----------------------------------------------------------------------------- models

@pytest.mark.parametrize("name", ["lenet5", "lenet5-1998", "resnet20"])
def test_a_network_shows_its_summary_table(name):
    net = convnet.create_model(name)
    page, summary = net._repr_html_(), convnet.summarize(net)
    cells = texts(page)
    assert name in page
    assert f"{summary.total_params:,}" in cells and f"{summary.total_mult_adds:,}" in cells
    names = [r.name for r in summary.rows]
    assert [c for c in cells if c in names] == names  # every layer, in order
    assert page == notebook.summary_html(summary, name)


def test_lenet5_shows_the_tutorials_numbers():
    cells = texts(convnet.create_model("lenet5")._repr_html_())
    assert "63,802" in cells and "418,600" in cells
    assert "5·5·1·6 + 6 = 156" in cells and "(32 + 2·0 − 5)/1 + 1 = 28" in cells
    assert "6x28x28" in cells and "117,600" in cells


def test_a_summary_escapes_its_text():
    s = Summary([1, 4, 4], [Row(EVIL, "T&<", [1, 4, 4], [2], 7, "a<b", 3, "c>d")])
    page = s._repr_html_()
    assert "<script" not in page and "&lt;script&gt;" in page
    cells = texts(page)
    assert EVIL in cells and "T&<" in cells and "a<b" in cells and "c>d" in cells
    assert "7" in cells and "3" in cells  # the row's figures and the totals


# ----------------------------------------------------------------------------- runs

def test_a_run_shows_its_curves_and_final_figures(run):
    page, history = run._repr_html_(), run.history
    assert len(history) == 2
    root = well_formed(page)
    svgs = root.findall(".//{http://www.w3.org/2000/svg}svg")
    assert len(svgs) == 2  # accuracy and loss
    points = [c.findtext("{http://www.w3.org/2000/svg}title")
              for c in root.iter("{http://www.w3.org/2000/svg}circle")]
    # a point per epoch for train, val and test, accuracy and loss
    assert len(points) == 2 * 3 * 2
    assert f"test_accuracy {history[1]['test_accuracy']:.4g}" in points
    assert f"val_loss {history[0]['val_loss']:.4g}" in points
    cells = texts(page)
    assert f"{run.result['test_accuracy']:.2%}" in cells
    assert "val_accuracy" in cells and str(run.result["epoch"]) in cells
    assert str(run.path) in page


def test_curves_with_one_epoch_or_a_flat_line():
    one = notebook.curve_svg([{"epoch": 1, "test_accuracy": 0.5}], ("test_accuracy",), "a")
    flat = notebook.curve_svg([{"epoch": e, "test_loss": 0.0} for e in (1, 2)], ("test_loss",),
                              "l")
    for svg in (one, flat):
        assert "nan" not in svg and well_formed(svg) is not None
    assert notebook.curve_svg([{"epoch": 1}], ("test_loss",), "l") == ""


def test_a_run_path_is_escaped(run, tmp_path):
    page = notebook.run_html(tmp_path / EVIL, run.history, {"test_accuracy": 0.5, "note": EVIL})
    assert "<script" not in page and "50.00%" in texts(page)


# ----------------------------------------------------------------------------- predictions

def test_a_prediction_shows_its_top_k_bars(run, digit):
    p = run.predict(str(digit), top=3)
    page = p._repr_html_()
    cells = texts(page)
    for name, prob in p.top:
        assert name in cells and f"{prob:.2%}" in cells
    widths = [float(d.get("style").split("width:")[1].split("px")[0])
              for d in well_formed(page).iter("div") if "width:" in (d.get("style") or "")]
    assert widths == pytest.approx([200 * q for _, q in p.top], abs=0.06)
    assert str(digit) in page


def test_a_prediction_escapes_class_names():
    page = Prediction(EVIL, 0.75, [(EVIL, 0.75), ("a&b", 0.25)], image="<x>.png")._repr_html_()
    assert "<script" not in page and "<x>" not in page
    assert {"75.00%", "25.00%", "a&b", EVIL} <= set(texts(page))


# ----------------------------------------------------------------------------- pictures

def test_show_puts_every_picture_inline(run, digit, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # convnet.show's default folder
    shown = convnet.show(run, str(digit))  # a run object, as fit returns it
    assert all(Path(f).parent.parent == tmp_path for f in shown.files)
    assert shown.to_json() == show(run.path, str(digit), tmp_path / "again").to_json() | {
        "files": shown.files}
    page = shown._repr_html_()
    images = list(well_formed(page).iter("img"))
    assert len(images) == len(shown.files) == 10
    assert all(im.get("src").startswith("data:image/png;base64,iVBOR") for im in images)
    assert [im.get("alt") for im in images] == [Path(f).name for f in shown.files]
    assert f"{shown.prediction['probability']:.2%}" in page


# ----------------------------------------------------------------------------- explain

def grids(page: str) -> dict[str, list[list[str]]]:
    """Each grid's title -> its rows of cell texts."""
    out = {}
    for panel in well_formed(page).iter("div"):
        kids = list(panel)
        if len(kids) == 2 and kids[0].tag == "div" and kids[1].tag == "table":
            out[kids[0].text] = [[td.text for td in tr] for tr in kids[1].iter("tr")]
    return out


def test_the_tutorial_convolution_shows_image_kernel_and_feature_map():
    from convnet.explain import TUTORIAL_IMAGE, TUTORIAL_KERNEL, explain_conv, explain_text

    result = explain_conv(TUTORIAL_IMAGE, TUTORIAL_KERNEL)
    assert isinstance(result, dict) and json.loads(json.dumps(result)) == result
    page = result._repr_html_()
    shown = grids(page)
    assert list(shown) == ["image", "kernel", "feature_map"]  # padded == image: shown once
    assert shown["feature_map"] == [["4", "3", "4"], ["2", "4", "3"], ["2", "3", "4"]]
    assert shown["kernel"] == [["1", "0", "1"], ["0", "1", "0"], ["1", "0", "1"]]
    assert well_formed(page).find(".//pre").text == explain_text(result)


@pytest.mark.parametrize("call, grid, want", [
    ("explain_relu(TUTORIAL_RELU)", "output", [["3", "0", "0"], ["0", "5", "0"], ["1", "0", "2"]]),
    ("explain_pool(TUTORIAL_POOL)", "output", [["6", "8"], ["3", "4"]]),
    ("explain_error([0.2, 0.4, 0.1, 0.3], [0, 0, 1, 0])", "target", [["0", "0", "1", "0"]]),
])
def test_every_explain_result_shows_its_numbers(call, grid, want):
    import convnet.explain as ex

    result = eval(call, vars(ex))
    assert grids(result._repr_html_())[grid] == want


def test_an_explain_page_escapes_its_text():
    page = notebook.explain_html({"operation": EVIL, "input": [[1, 2]]}, f"{EVIL} & more")
    assert "<script" not in page
    assert EVIL in texts(page) and f"{EVIL} & more" in texts(page)


# ----------------------------------------------------------------------------- the tour

TOUR = Path(__file__).resolve().parents[1] / "examples" / "tour.ipynb"


def execute(tmp_path: Path, data: Path, monkeypatch) -> dict[str, list]:
    """Run examples/tour.ipynb in a fresh kernel of this interpreter (the one with convnet
    installed, wherever Jupyter's own kernels point) with CONVNET_DATA=data; each tagged
    cell's outputs. A cell that raises fails the test (nbclient's CellExecutionError)."""
    import nbclient
    import nbformat
    from ipykernel.kernelspec import write_kernel_spec
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    write_kernel_spec(tmp_path / "kernels" / "convnet-tour")  # argv: this sys.executable
    specs = KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")])
    (tmp_path / "tmp").mkdir()
    for name, value in (("CONVNET_DATA", data), ("TMPDIR", tmp_path / "tmp"),
                        ("IPYTHONDIR", tmp_path / "ipython"), ("MPLBACKEND", "Agg")):
        monkeypatch.setenv(name, str(value))  # the kernel inherits this environment
    nb = nbformat.read(TOUR, as_version=4)
    km = KernelManager(kernel_name="convnet-tour", kernel_spec_manager=specs)
    nbclient.NotebookClient(nb, km=km, timeout=900,
                            resources={"metadata": {"path": str(TOUR.parent)}}).execute()
    return {tag: cell.outputs for cell in nb.cells for tag in cell.metadata.get("tags", [])}


def stdout(outputs: list) -> str:
    return "".join(o.text for o in outputs if o.output_type == "stream" and o.name == "stdout")


def shown(outputs: list, kind: str = "text/html") -> list[str]:
    return [o.data[kind] for o in outputs
            if o.output_type in ("display_data", "execute_result") and kind in o.data]


def check_the_data_free_cells(out: dict[str, list]) -> None:
    assert "feature map: [[4, 3, 4], [2, 4, 3], [2, 3, 4]]" in stdout(out["convolution"])
    assert "-> sum 4" in stdout(out["convolution"])
    (conv,) = shown(out["convolution"])
    assert grids(conv)["feature_map"] == [["4", "3", "4"], ["2", "4", "3"], ["2", "3", "4"]]
    (lenet,) = shown(out["lenet-summary"])
    assert {"63,802", "418,600", "5·5·1·6 + 6 = 156"} <= set(texts(lenet))
    by_hand, by_layer = map(float, re.findall(r"-?\d+\.\d{6}", stdout(out["lenet-unit"])))
    assert by_hand == pytest.approx(by_layer, abs=2e-6)
    assert "(32 - 5)/1 + 1 = 28" in stdout(out["lenet-unit"])
    assert "sobel" in stdout(out["boat-kernels"]).lower()
    assert len(shown(out["boat-kernels"], "image/png")) == 1


def test_the_tour_runs_and_shows_the_tutorials_numbers(tmp_path, monkeypatch, tiny_data):
    """With the real data beside the repository the tour trains on it (accuracy floors);
    without, on the small fake digits (CIFAR-10 then absent: the boat's training skipped)."""
    real = SHARED if (SHARED / "mnist" / "train-images-idx3-ubyte.gz").is_file() else None
    out = execute(tmp_path, real or tiny_data, monkeypatch)
    check_the_data_free_cells(out)

    accuracy = re.search(r"test accuracy (\d+\.\d+)% after 1 epoch", stdout(out["train"]))
    assert accuracy, stdout(out["train"])
    (run,) = shown(out["train"])
    assert f"{accuracy[1]}%" in texts(run) and "<svg" in run
    if real:
        assert float(accuracy[1]) >= 90  # 10,000 images, one epoch: about 96 %
    prediction, pictures = shown(out["feature-maps"])
    assert len(list(well_formed(prediction).iter("tr"))) == 3  # the top-3 bars
    assert "seven.jpg" in prediction
    assert pictures.count("<img") == 10 and pictures.count("data:image/png;base64,") == 10

    if real and (real / "cifar10").is_dir():
        assert re.search(r"test accuracy \d+\.\d+%", stdout(out["boat"]))
        bars, boat = shown(out["boat"])
        assert {"dog", "cat", "ship", "bird"} <= set(texts(bars))
        assert boat.count("<img") > 0 and "ship.png" in boat
    else:
        assert "skipped: no CIFAR-10" in stdout(out["boat"])


def test_the_tour_skips_its_training_cleanly_without_data(tmp_path, monkeypatch):
    out = execute(tmp_path, tmp_path / "no-data", monkeypatch)
    check_the_data_free_cells(out)
    assert stdout(out["train"]).startswith("skipped: no MNIST")
    assert stdout(out["feature-maps"]).startswith("skipped: no trained run")
    assert stdout(out["boat"]).startswith("skipped: no CIFAR-10")
    assert not shown(out["train"]) and not shown(out["boat"])
