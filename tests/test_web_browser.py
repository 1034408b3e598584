"""``convnet serve`` end to end in a real headless Chromium: draw, read the guess, hover a unit;
open a colour run on its own test images and click one.

Needs Debian's ``chromium`` and Playwright for Python (``.ci/run`` installs both). Without
them the test skips, except under CI (``CI=true``), where a missing browser is a failure.
"""

import functools
import itertools
import os
import re
import shutil
import socket
import threading
import time

import pytest
from fake_runs import photo_run
from PIL import Image

CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking"]


def need(what: str, ok: bool) -> None:
    if not ok:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{what} is missing: .ci/run must install it")
        pytest.skip(f"{what} is not installed")


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    need("playwright (pip)", sync_playwright is not None)
    need("chromium (apt)", shutil.which("chromium") is not None)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        yield b
        b.close()


def serving(rundir):
    """uvicorn serving one run on a free port, in a background thread; yields the page's URL."""
    import uvicorn

    from convnet.web import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app([rundir]), host="127.0.0.1", port=port,
                                        log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}/"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def server(tiny_run):
    yield from serving(tiny_run)


@pytest.fixture(scope="module")
def colour_server(tmp_path_factory):
    """An untrained 4-class CIFAR run whose data folder has a small test split."""
    yield from serving(photo_run(tmp_path_factory.mktemp("photo-serve")))


def draw_seven(page) -> None:
    """A mouse stroke across the pad: the top bar and the diagonal of a 7."""
    box = page.locator("#pad").bounding_box()
    points = [(70, 60), (210, 60), (120, 240)]
    page.mouse.move(box["x"] + points[0][0], box["y"] + points[0][1])
    page.mouse.down()
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        for t in range(1, 16):
            page.mouse.move(box["x"] + x0 + (x1 - x0) * t / 15, box["y"] + y0 + (y1 - y0) * t / 15)
    page.mouse.up()


def open_page(browser, url, width=1400, height=900, timeout=30_000):  # noqa: F811 - the fixture
    """A page on ``url`` with a 7 drawn and classified; its script errors in ``page.errors``."""
    page = browser.new_page(viewport={"width": width, "height": height})
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(url)
    page.wait_for_selector(".layer[data-name=conv1]")
    draw_seven(page)
    page.wait_for_selector("#guess", timeout=timeout)
    return page


def test_draw_predict_and_hover_a_pooled_unit(browser, server):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server)
    page.wait_for_selector(".layer[data-name=maxpool1]")
    draw_seven(page)
    page.wait_for_selector("#guess", timeout=15_000)
    assert page.inner_text("#guess") in [str(i) for i in range(10)]
    assert "second guess" in page.inner_text("#prediction")
    page.wait_for_selector('.layer[data-name=maxpool1] .map[data-channel="0"] canvas')
    unit = page.locator('.layer[data-name=maxpool1] .map[data-channel="0"] canvas').bounding_box()
    page.mouse.move(unit["x"] + unit["width"] * 0.5, unit["y"] + unit["height"] * 0.4)
    outline = page.locator(".layer[data-name=relu1] .outline").first
    outline.wait_for(timeout=10_000)
    assert (outline.get_attribute("data-h"), outline.get_attribute("data-w")) == ("2", "2")
    assert page.locator(".layer[data-name=relu1] .winner").count() == 1
    assert "max(window)" in page.inner_text("#panel")
    assert errors == []
    page.close()


def test_colour_run_opens_on_its_test_images_and_a_click_classifies_one(browser, colour_server,
                                                                         tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(colour_server)
    page.wait_for_selector("#gallery .sample.chosen")  # the first test image opens the page
    page.wait_for_selector("#guess", timeout=15_000)
    assert page.locator("#gallery .sample").count() == 24
    assert page.inner_text("#truth").startswith("true class: dog")
    samples = page.evaluate("fetch('/api/samples?run=photos&n=24').then((r) => r.json())")
    with page.expect_response(lambda r: r.url.endswith("/api/activations")) as answer:
        page.locator("#gallery .sample").nth(2).click()  # the first ship
    assert answer.value.request.post_data_json["image"] == samples["samples"][2]["image"]
    top = answer.value.json()["prediction"]["top"]
    bars = page.locator(".layer[data-name=softmax] .bars")
    expected = f"{100 * top[0]['probability']:.1f} %"
    page.wait_for_function("(t) => document.querySelector('.layer[data-name=softmax] .bars')"
                           ".innerText.includes(t)", arg=expected)
    assert top[0]["label"] in bars.inner_text()
    assert page.inner_text("#guess") == top[0]["label"]
    assert page.inner_text("#truth").startswith("true class: ship")
    assert page.locator("#gallery .sample.chosen").count() == 1

    # an upload still works, and replaces the chosen test image
    Image.new("RGB", (40, 30), (200, 30, 30)).save(tmp_path / "red.png")
    with page.expect_response(lambda r: r.url.endswith("/api/activations")):
        page.set_input_files("#upload", str(tmp_path / "red.png"))
    assert page.locator("#gallery .sample.chosen").count() == 0
    assert page.inner_text("#truth") == ""
    assert errors == []
    page.close()


# ----------------------------------------------------------------------------- server strings

def payload(tag: str) -> str:
    """Markup that sets window.__pwned to ``tag`` if the page ever parses it as HTML."""
    return f"<img src=x onerror=window.__pwned='{tag}'>"


CLASSES = [payload(f"class{k}") + str(k) for k in range(10)]


@pytest.fixture(scope="module")
def payload_server(tmp_path_factory):
    """A run whose directory name, class names and dataset name are script payloads."""
    from fake_runs import fake_run

    rundir = fake_run(tmp_path_factory.mktemp("payload-serve"), payload("rundir"), "lenet5",
                      CLASSES, [0.1307], [0.3081], "mnist", dataset=payload("dataset"))
    yield from serving(rundir)


def payload_fires_in_this_browser(page) -> None:
    """The payloads do run when parsed as HTML here (else the tests below would prove nothing)."""
    page.evaluate("document.body.insertAdjacentHTML('beforeend', "
                  "\"<img src=x onerror=window.__control='yes'>\")")
    page.wait_for_function("window.__control === 'yes'", timeout=5_000)


def visit_everything(page) -> None:
    """Draw, hover a map unit, a vector unit and the output, open the other two tabs."""
    draw_seven(page)
    page.wait_for_selector("#guess", timeout=15_000)
    for layer, source in (("maxpool1", "relu1"), ("conv2", "maxpool1")):
        box = page.locator(f'.layer[data-name="{layer}"] canvas').first.bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
        page.locator(f".layer[data-name={source}] .outline").first.wait_for(timeout=10_000)
    for layer in ("fc1", "softmax"):
        box = page.locator(f'.layer[data-name="{layer}"] .units canvas').bounding_box()
        page.mouse.click(box["x"] + 3, box["y"] + 3)
    page.click("#tabs button[data-tab=filters]")
    page.wait_for_selector("#filters .layer")
    page.click("#tabs button[data-tab=kernels]")
    page.wait_for_selector("#kernel-view canvas", timeout=10_000)
    page.wait_for_timeout(500)  # an <img src=x> error event arrives after its failed fetch


def test_class_and_run_names_are_shown_as_text_never_run(browser, payload_server):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(payload_server)
    page.wait_for_selector(".layer[data-name=maxpool1]")
    visit_everything(page)
    assert page.evaluate("window.__pwned") is None
    assert page.inner_text("#run option") == f"{payload('rundir')} (lenet5)"  # literally
    assert page.inner_text("#guess") in CLASSES
    assert page.inner_text(".layer[data-name=softmax] .bars .name") in CLASSES
    assert payload("dataset") in page.inner_text("#run-info")
    payload_fires_in_this_browser(page)
    assert page.evaluate("window.__pwned") is None and errors == []
    page.close()


def poison(route, edit) -> None:  # called as poison(route) by page.route
    """Answer with the server's own JSON after ``edit`` put payloads into its strings."""
    response = route.fetch()
    data = response.json()
    edit(data)
    route.fulfill(response=response, json=data)


def poison_runs(runs) -> None:
    for run in runs:
        run["model"] = payload("model")
        for layer in run["layers"]:
            layer["type"] = payload("type")


def poison_unit(unit) -> None:
    unit["layer"], unit["value"] = payload("unit-layer"), payload("value")
    a = unit["arithmetic"]
    a["formula"], a["note"] = payload("formula"), payload("note")
    for key in ("mode", "output", "total", "bias", "sum"):
        if key in a:
            a[key] = payload(key)
    for term in a.get("terms", []):
        term["sum" if "sum" in term else "x"] = payload("term")
    if "window" in a:
        a["window"][0][0] = payload("window")
    for line in a.get("lines", []):  # what the panel renders, whatever the layer's kind
        for parts in line["row"] if "row" in line else line.values():
            parts[:] = [payload("line") if isinstance(p, (str, int, float)) else p for p in parts]
            for p in parts:
                if isinstance(p, dict):
                    p["matrix"][0][0] = payload("cell")


def poison_filters(filters) -> None:
    for layer in filters["layers"]:
        layer["name"] = payload("filter-name")
        for near in layer.get("nearest", []):
            near["name"] = near["closest"] = payload("nearest")


def poison_kernel(answer) -> None:
    answer["kernel"][0][0] = payload("kernel-value")


def test_every_server_string_reaches_the_page_escaped(browser, server):
    """Each string field of every answer replaced with a payload: the page stays inert."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    for path, edit in (("runs", poison_runs), ("unit", poison_unit), ("filters", poison_filters),
                       ("kernels", lambda k: k.update({payload("kernel-name"): [[1]]})),
                       ("kernel", poison_kernel)):
        page.route(re.compile(rf".*/api/{path}(\?.*)?$"), functools.partial(poison, edit=edit))
    page.goto(server)
    page.wait_for_selector(".layer[data-name=maxpool1]")
    visit_everything(page)
    assert page.evaluate("window.__pwned") is None
    assert payload("type") in page.inner_text(".layer[data-name=conv1] h3")
    assert payload("formula") in page.inner_text("#panel")
    assert payload("line") in page.inner_text("#panel")
    assert payload("filter-name") in page.inner_text("#filters")
    assert payload("kernel-name") in page.inner_text("#kernel-name")
    payload_fires_in_this_browser(page)
    assert page.evaluate("window.__pwned") is None and errors == []
    page.close()


# ----------------------------------------------------------------------------- the unit panel

@pytest.fixture(scope="module")
def resnet_server(tmp_path_factory):
    """An untrained resnet20 run (no test images: the pad is the input)."""
    from fake_runs import fake_run

    yield from serving(fake_run(tmp_path_factory.mktemp("resnet-serve"), "resnet", "resnet20",
                                [f"c{k}" for k in range(10)], [0.5] * 3, [0.25] * 3))


def in_view(page, selector: str) -> bool:
    """The element's top part lies inside the viewport as it is now (no scrolling needed)."""
    box, view = page.locator(selector).bounding_box(), page.viewport_size
    return (box is not None and 0 <= box["x"] and box["x"] + box["width"] <= view["width"]
            and 0 <= box["y"] <= view["height"] - 60)


def hover_unit(page, layer: str, channel: int = 0) -> None:
    page.locator(f'.layer[data-name="{layer}"]').scroll_into_view_if_needed()  # drawn when seen
    canvas = page.locator(f'.layer[data-name="{layer}"] .map[data-channel="{channel}"] canvas')
    canvas.scroll_into_view_if_needed(timeout=30_000)
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.45)


@pytest.mark.parametrize("which, conv, source, block_sum", [
    ("server", "conv2", "maxpool1", None),
    ("resnet_server", "layer1.0.conv1", "relu1", "layer3.2.relu2")])
def test_the_panel_is_docked_in_view_and_follows_the_hover(browser, request, which, conv, source,
                                                           block_sum):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(request.getfixturevalue(which))
    page.wait_for_selector(f'.layer[data-name="{conv}"]')
    assert page.evaluate("window.scrollY") == 0 and in_view(page, "#panel")
    draw_seven(page)
    page.wait_for_selector("#guess", timeout=60_000)  # resnet20 on two busy cores: seconds
    hover_unit(page, conv, 1)
    page.wait_for_function("document.querySelector('#panel').innerText.includes('w·x')",
                           timeout=30_000)
    assert in_view(page, "#panel")
    first = page.locator(f'.layer[data-name="{source}"] .outline.c0')
    first.wait_for(timeout=10_000)
    frame = page.locator("#panel table.m.c0").first  # the first term, framed in its colour
    assert frame.evaluate("(t) => getComputedStyle(t).borderTopColor") == \
        first.evaluate("(o) => getComputedStyle(o).borderTopColor")
    if conv == "layer1.0.conv1":  # 16 input maps: 8 listed, 8 summed into "rest"
        assert "the other 8 maps" in page.inner_text("#panel")
        assert page.locator('.layer[data-name="relu1"] .outline.rest').count() == 8
    if block_sum:  # far down the page: the panel is still in view, and shows both operands
        hover_unit(page, block_sum, 2)
        page.wait_for_function("document.querySelector('#panel').innerText.includes("
                               "'the shortcut')", timeout=30_000)
        assert page.evaluate("window.scrollY") > 900 and in_view(page, "#panel")
        assert page.locator('.block[data-block="layer3.2"] .layer').count() == 7
    assert errors == []
    page.close()


def test_a_click_on_the_pad_sends_it_once(browser, server):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    sent = []
    page.on("request", lambda r: sent.append(r) if r.url.endswith("/api/activations") else None)
    page.goto(server)
    page.wait_for_selector(".layer[data-name=maxpool1]")
    box = page.locator("#pad").bounding_box()
    page.mouse.click(box["x"] + 140, box["y"] + 140)
    page.wait_for_selector("#guess", timeout=15_000)
    page.wait_for_timeout(1000)  # a second request would follow the first answer at once
    assert len(sent) == 1
    page.select_option("#invert", "true")  # a new setting is a new request
    page.wait_for_function("(n) => true", arg=0)
    page.wait_for_timeout(1000)
    assert len(sent) == 2 and sent[1].post_data_json["invert"] is True
    page.close()


def test_a_portrait_dark_on_light_photo_is_read_not_blank(browser, server, tmp_path):
    from PIL import ImageDraw

    photo = Image.new("RGB", (120, 200), (225, 222, 215))  # paper, taller than wide
    ImageDraw.Draw(photo).line([(30, 40), (90, 40), (50, 170)], fill=(30, 30, 40), width=12)
    photo.save(tmp_path / "seven.png")
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(server)
    page.wait_for_selector(".layer[data-name=maxpool1]")
    with page.expect_response(lambda r: r.url.endswith("/api/activations")) as answer:
        page.set_input_files("#upload", str(tmp_path / "seven.png"))
    assert answer.value.ok, answer.value.text()
    page.wait_for_selector("#guess", timeout=15_000)
    assert page.inner_text("#status") == ""
    page.close()


def test_the_kernel_playground_shows_an_example_first_and_clears_on_an_error(browser, server):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(server)
    page.wait_for_selector(".layer[data-name=maxpool1]")
    page.click("#tabs button[data-tab=kernels]")  # nothing drawn yet
    page.wait_for_selector("#kernel-view canvas", timeout=15_000)
    assert "example" in page.inner_text("#kernel-view")
    page.fill("#kernel-text", "1,2;3")
    page.click("#kernel-apply")
    page.wait_for_selector("#kernel-view .status", timeout=15_000)
    assert page.locator("#kernel-view canvas").count() == 0
    assert "rows of different lengths" in page.inner_text("#kernel-view")
    page.close()
