"""``convnet serve`` with no RUNDIR, on a machine that has trained nothing yet: the page and the
run-free routes answer, every route that needs a run says so in one line of JSON (never a
500), and a run trained meanwhile (from the Train tab, or appearing under ./runs) is served once
it has saved a checkpoint, with the numbers a server started on that RUNDIR gives.
Trainings here are lenet5 on the 600-image tiny dataset, one epoch of 10 updates: seconds."""

import json
import shutil
import socket
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from test_web import seven
from test_web_browser import browser  # noqa: F401 -- the headless Chromium fixture
from test_web_train import finished, serve, wait_until

from convnet.cli import main
from convnet.runs.files import BEST, WEIGHTS
from convnet.web import create_app

NO_RUN = "no trained run yet: start one on the Train tab, or run `convnet train lenet5`"
IMAGE = seven()
NEEDS_A_RUN = [  # (method, path, body or query) of every route that reads a run
    ("post", "/api/predict", {"run": "lenet5-mnist", "image": IMAGE}),
    ("post", "/api/activations", {"run": "lenet5-mnist", "image": IMAGE}),
    ("post", "/api/unit", {"run": "lenet5-mnist", "image": IMAGE, "layer": "maxpool1",
                           "index": [0, 0, 0]}),
    ("post", "/api/slide", {"run": "lenet5-mnist", "image": IMAGE, "layer": "conv1"}),
    ("get", "/api/filters", {"run": "lenet5-mnist"}),
    ("get", "/api/samples", {"run": "lenet5-mnist"}),
    ("get", "/api/sandbox", {"run": "lenet5-mnist", "layer": "conv1"}),
    ("get", "/api/features", {"run": "lenet5-mnist"}),
]


@pytest.fixture
def app(tiny_data, tmp_path, monkeypatch):
    """``convnet serve --data TINY`` in a fresh folder: no RUNDIR, no ./runs yet."""
    monkeypatch.chdir(tmp_path)
    return create_app([], data_dir=str(tiny_data))


@pytest.fixture
def client(app):
    return TestClient(app, base_url="http://localhost")


def ask(client, method, path, args):
    if method == "post":
        return client.post(path, json=args)
    return client.get(path, params=args)


def one_line(r, code: int, words: str) -> str:
    assert r.status_code == code, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and words in detail, detail
    return detail


def train_on_the_page(client) -> str:
    r = client.post("/api/train", json={"model": "lenet5", "epochs": 1, "batch_size": 64})
    assert r.status_code == 200, r.text
    run_id = r.json()["run"]
    wait_until(lambda: finished(client, run_id), "the page's training to finish")
    return run_id


def test_the_page_and_the_run_free_routes_answer(client):
    page = client.get("/")
    assert page.status_code == 200 and '<canvas id="pad"' in page.text
    assert client.get("/static/norun.js").status_code == 200
    assert client.get("/api/runs").json() == []
    assert client.get("/api/train/runs").json() == []
    assert client.get("/api/train/options").json()["datasets"] == ["mnist"]
    assert "sobel x" in client.get("/api/kernels").json()
    r = client.post("/api/kernel", json={"image": IMAGE, "kernel": "identity"})
    assert r.status_code == 200, r.text  # the kernel playground needs no run


def test_runs_that_is_not_a_folder_is_no_runs(client, tmp_path):
    (tmp_path / "runs").write_text("not a folder")
    r = client.get("/api/runs")
    assert r.status_code == 200 and r.json() == []
    one_line(client.get("/api/filters", params={"run": "runs"}), 404, NO_RUN)


@pytest.mark.parametrize("method, path, args", NEEDS_A_RUN, ids=[p for _, p, _ in NEEDS_A_RUN])
def test_every_route_that_needs_a_run_says_there_is_none(client, method, path, args):
    one_line(ask(client, method, path, args), 404, NO_RUN)


def test_a_run_appears_under_runs_once_it_has_saved_a_checkpoint(client, tiny_run, tiny_data,
                                                                  tmp_path):
    half = tmp_path / "runs" / "half"
    shutil.copytree(tiny_run, half)
    weights = half / WEIGHTS
    kept = weights.rename(tmp_path / "kept.safetensors")
    (half / BEST).unlink(missing_ok=True)
    (tmp_path / "runs" / "broken").mkdir()
    (tmp_path / "runs" / "broken" / "run.json").write_text("{not json")
    assert client.get("/api/runs").json() == []  # a run.json, no checkpoint yet; a broken run
    one_line(client.get("/api/filters", params={"run": "half"}), 404, NO_RUN)
    kept.rename(weights)  # the first epoch's checkpoint
    assert [r["id"] for r in client.get("/api/runs").json()] == ["half"]
    assert client.get("/api/filters", params={"run": "half"}).status_code == 200
    one_line(client.get("/api/filters", params={"run": "nope"}), 404, "unknown run 'nope'; "
             "serving half")
    # another epoch (`convnet train --resume`): the page gets the new weights, and answers
    # cached for the old ones are not given for the new
    assert client.get("/api/runs").json()[0]["weights"]["epoch"] == 2
    before = client.get("/api/features", params={"run": "half"}).json()
    assert main(["train", "--resume", str(half), "--epochs", "3", "--quiet"]) == 0
    assert client.get("/api/runs").json()[0]["weights"]["epoch"] == 3
    after = client.get("/api/features", params={"run": "half"}).json()
    fresh = TestClient(create_app([half], data_dir=str(tiny_data)), base_url="http://localhost")
    assert after == fresh.get("/api/features", params={"run": "half"}).json() != before


def test_a_run_trained_on_the_page_is_served_as_its_rundir_would_be(client, tiny_data):
    run_id = train_on_the_page(client)
    listed = client.get("/api/runs").json()
    assert [r["id"] for r in listed] == [run_id]
    assert listed[0]["weights"] == {"file": "model.safetensors", "epoch": 1}
    alone = TestClient(create_app([f"runs/{run_id}"], data_dir=str(tiny_data)),
                       base_url="http://localhost")  # `convnet serve runs/RUN`
    assert listed == alone.get("/api/runs").json()
    for method, path, args in NEEDS_A_RUN:
        args = dict(args, run=run_id)
        here, there = ask(client, method, path, args), ask(alone, method, path, args)
        assert here.status_code == 200, (path, here.text)
        if path != "/api/activations":  # its answer says how long the server took
            assert here.json() == there.json(), path


def test_given_rundirs_are_served_as_before(tiny_run, tiny_data, tmp_path, monkeypatch):
    """With RUNDIRs, ./runs is not searched; a run trained from the page is still offered."""
    monkeypatch.chdir(tmp_path)
    client = TestClient(create_app([tiny_run], data_dir=str(tiny_data)),
                        base_url="http://localhost")
    shutil.copytree(tiny_run, tmp_path / "runs" / "terminal")
    assert [r["id"] for r in client.get("/api/runs").json()] == ["tiny"]
    one_line(client.get("/api/filters", params={"run": "terminal"}), 404,
             "unknown run 'terminal'; serving tiny")
    run_id = train_on_the_page(client)
    assert [r["id"] for r in client.get("/api/runs").json()] == ["tiny", run_id]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_without_a_rundir(tmp_path, monkeypatch, capsys):
    from convnet.web import listen

    monkeypatch.chdir(tmp_path)
    served = {}
    monkeypatch.setattr(listen, "run", lambda app, sock: (served.update(app=app), sock.close()))
    assert main(["serve", "--port", str(free_port())]) == 0
    assert served["app"].state.runs == {}
    assert "serving each run under ./runs once it has saved a checkpoint (no RUNDIR given" \
        in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    assert "[RUNDIR ...]" in capsys.readouterr().out


def test_serve_json_says_where_and_what_in_one_line(tiny_run, tmp_path, monkeypatch, capsys):
    from convnet.web import listen

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(listen, "run", lambda app, sock: sock.close())
    port = free_port()
    assert main(["serve", str(tiny_run), "--port", str(port), "--json"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1
    said = json.loads(out[0])
    assert said["url"] == f"http://127.0.0.1:{port}/"
    assert said["runs"] == [Path(tiny_run).name] and "localhost" in said["hosts"]


# ----------------------------------------------------------------------------- in a browser

def test_browser_empty_page_opens_on_train_and_shows_the_run_once_trained(browser, app):  # noqa: F811
    base, srv = serve(app)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(base + "/")
        page.wait_for_selector("#tabs button[data-tab=train].active", timeout=120_000)
        assert page.locator("#tab-train").is_visible() and not page.locator("#pad").is_visible()
        page.click("#tabs button[data-tab=network]")
        note = page.inner_text("#tab-network .no-run-note")
        assert "no trained run yet: start one on the Train tab, or run convnet train lenet5" \
            in " ".join(note.split())
        page.click("#tab-network .no-run-note a")  # the note's link opens the Train tab
        page.wait_for_selector("#train-dataset option", state="attached")
        page.fill("#train-epochs", "1")
        page.click("#train-start")
        # the run's checkpoint: the chooser offers it and the network tab draws its layers
        page.wait_for_selector("#run option[value^=lenet5]", state="attached", timeout=120_000)
        page.click("#tabs button[data-tab=network]")
        page.wait_for_selector(".layer[data-name=maxpool1]", timeout=60_000)
        assert not page.locator(".no-run-note").first.is_visible()
        assert page.locator("#pad").is_visible()
        assert errors == []
    finally:
        page.close()
        srv.should_exit = True
