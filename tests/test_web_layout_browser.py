"""The network tab's layout in a real headless Chromium: connection lines on hover, the network
overview, click-to-zoom, maps that grow with the window, the phone layout, and only the layers
on screen asked for. Skips like tests/test_web_browser.py without Playwright and Chromium.
"""

import pytest
from fake_runs import fake_run
from test_web_browser import browser, draw_seven, open_page, serving  # noqa: F401 - browser is a fixture


@pytest.fixture(scope="module")
def lenet_server(tmp_path_factory):
    yield from serving(fake_run(tmp_path_factory.mktemp("lenet-view"), "lenet", "lenet5",
                                list("0123456789"), [0.1307], [0.3081], "mnist"))


@pytest.fixture(scope="module")
def resnet_server(tmp_path_factory):
    yield from serving(fake_run(tmp_path_factory.mktemp("resnet-view"), "resnet", "resnet20",
                                list("0123456789"), [0.5] * 3, [0.25] * 3))


def rect(page, selector):
    return page.locator(selector).first.bounding_box()


def inside(point, box, slack=2):
    x, y = point
    return (box["x"] - slack <= x <= box["x"] + box["width"] + slack
            and box["y"] - slack <= y <= box["y"] + box["height"] + slack)


def test_hovering_a_unit_draws_lines_from_it_to_its_source_window(browser, lenet_server):  # noqa: F811
    page = open_page(browser, lenet_server)
    unit = rect(page, '.layer[data-name=maxpool1] .map[data-channel="0"] canvas')
    page.mouse.move(unit["x"] + unit["width"] * 0.5, unit["y"] + unit["height"] * 0.4)
    page.wait_for_selector(".layer[data-name=relu1] .outline", timeout=15_000)
    page.wait_for_function("document.querySelectorAll('#lines line').length === 4")  # 4 corners
    origin = rect(page, "#tab-network")
    ends = page.evaluate("[...document.querySelectorAll('#lines line')].map((l) => "
                         "['x1', 'y1', 'x2', 'y2'].map((k) => +l.getAttribute(k)))")
    window = rect(page, ".layer[data-name=relu1] .outline")
    for x1, y1, x2, y2 in ends:
        assert inside((origin["x"] + x1, origin["y"] + y1), rect(page, "#layers .selected"))
        assert inside((origin["x"] + x2, origin["y"] + y2), window)
    assert page.errors == []
    page.close()


def test_hovering_the_overview_shows_what_a_node_reads_and_inspects_it(browser, lenet_server):  # noqa: F811
    page = open_page(browser, lenet_server)
    columns = page.evaluate("new Set([...document.querySelectorAll('#overview .node')]"
                            ".map((n) => n.dataset.layer)).size")
    assert columns == 1 + 13  # the input and every layer of LeNet-5
    page.locator('#overview .node[data-layer="conv2"][data-index="3"]').hover()
    page.wait_for_function("document.querySelector('#panel').innerText.includes('conv2 unit [3, 5, 5]')",
                           timeout=15_000)
    assert page.locator("#overview .hot line").count() == 6  # all six maps of maxpool1
    assert page.locator('#overview .node.on[data-layer="maxpool1"]').count() == 6
    page.wait_for_function("document.querySelectorAll('.layer[data-name=maxpool1] .outline')"
                           ".length === 6")  # and its 5x5 patch in each, below
    assert page.errors == []
    page.close()


def test_a_click_opens_the_map_large_with_its_range_and_hoverable(browser, lenet_server):  # noqa: F811
    page = open_page(browser, lenet_server)
    small = rect(page, '.layer[data-name=conv1] .map[data-channel="2"] canvas')
    page.mouse.click(small["x"] + 5, small["y"] + 5)
    page.wait_for_selector("#zoom:not([hidden])")
    big = rect(page, "#zoom canvas")
    assert big["width"] >= 3 * small["width"]
    assert "conv1 · map 2 · 28×28" in page.inner_text("#zoom .title")
    lo, hi = page.inner_text('.layer[data-name=conv1] .map[data-channel="2"] .range').split(" … ")
    assert float(lo) < float(hi) and lo in page.inner_text("#zoom .legend")
    page.mouse.move(big["x"] + big["width"] * 0.99, big["y"] + big["height"] * 0.01)
    page.wait_for_function("document.querySelector('#panel').innerText.includes('conv1 unit [2, 0, 27]')",
                           timeout=15_000)
    page.keyboard.press("Escape")
    assert page.locator("#zoom").is_hidden()
    assert page.errors == []
    page.close()


def test_maps_grow_with_the_window(browser, lenet_server):  # noqa: F811
    widths = []
    for width in (1280, 2560):
        page = open_page(browser, lenet_server, width, 1200)
        widths.append(rect(page, '.layer[data-name=conv1] .map canvas')["width"])
        page.close()
    assert widths[1] >= 2 * widths[0] and widths[1] >= 150


def test_a_phone_gets_one_column_no_sideways_scroll_and_whole_tabs(browser, resnet_server):  # noqa: F811
    page = open_page(browser, resnet_server, 390, 844)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert rect(page, "main")["width"] >= 350  # the network column, not squeezed beside the pad
    assert page.evaluate("(() => { const h = document.querySelector('header');"
                         " return h.scrollWidth <= h.clientWidth; })()")
    for tab in page.locator("#tabs button").all():
        box = tab.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, tab.inner_text()
        assert tab.evaluate("(b) => b.scrollWidth <= b.clientWidth"), tab.inner_text()
        assert float(tab.evaluate("(b) => getComputedStyle(b).fontSize")[:-2]) >= 13
    assert page.errors == []
    page.close()


def test_only_the_layers_on_screen_are_asked_for(browser, resnet_server):  # noqa: F811
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    asked = []
    page.on("request", lambda r: asked.append(r.post_data_json.get("layers"))
            if r.url.endswith("/api/activations") else None)
    page.goto(resnet_server)
    page.wait_for_selector(".layer[data-name=conv1]")
    draw_seven(page)
    page.wait_for_selector("#guess", timeout=30_000)
    first = asked[0]
    assert "conv1" in first and "softmax" in first and "layer3.2.conv1" not in first
    assert len(first) < 69 / 2
    page.locator(".layer[data-name='layer3.2.conv1']").scroll_into_view_if_needed()
    page.wait_for_selector(".layer[data-name='layer3.2.conv1'] .map canvas", timeout=30_000)
    assert any(names and "layer3.2.conv1" in names for names in asked[1:])
    page.close()
