"""The page's Train tab: start, pause and resume a tiny training; watch any run's rows arrive as
server-sent events; bad input is one 4xx line. Trainings here are lenet5 on the 600-image tiny
dataset (10 updates an epoch): seconds."""

import json
import shutil
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
import torch
from fastapi.testclient import TestClient
from safetensors.torch import load_file
from test_web_browser import browser  # noqa: F401 -- the headless Chromium fixture

from convnet.cli import main
from convnet.runs import RunLock, live, read_manifest
from convnet.web import create_app


@pytest.fixture
def app(tiny_run, tiny_data, tmp_path, monkeypatch):
    """The page's app with the tiny data as its data folder, its ./runs in a fresh folder."""
    monkeypatch.chdir(tmp_path)
    return create_app([tiny_run], data_dir=str(tiny_data))


@pytest.fixture
def client(app):
    return TestClient(app, base_url="http://localhost")


def wait_until(check, what: str, timeout: float = 120):
    """Poll ``check()`` until it is true (a deadline, so a hang fails instead of blocking)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def rows_of(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path) as f:
        return live.read_rows(f)


def finished(client, run_id):
    return {r["id"]: r["status"] for r in client.get("/api/train/runs").json()}.get(run_id) \
        in ("finished", "failed")


@pytest.mark.parametrize("body, code, words", [
    ({"model": "lenet6"}, 400, "unknown model 'lenet6'"),
    ({"model": "conv6@40x40 relu fc10"}, 422, "40"),
    ({"model": "lenet5", "dataset": "fashion-mnist"}, 400, "fashion-mnist"),
    ({"model": "lenet5", "dataset": "/etc"}, 422, "dataset must be one of"),
    ({"model": "lenet5", "epochs": 0}, 422, "epochs"),
    ({"model": ""}, 422, "model"),
])
def test_bad_input_is_one_line_and_no_run(client, body, code, words):
    r = client.post("/api/train", json=body)
    assert r.status_code == code, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and words in detail
    assert "Traceback" not in r.text
    assert client.get("/api/train/runs").json() == []  # nothing half-made under ./runs


def test_options_list_models_and_only_the_data_at_hand(client):
    options = client.get("/api/train/options").json()
    assert "lenet5" in options["models"] and options["datasets"] == ["mnist"]


def test_start_pause_resume_and_the_run_is_ordinary(client, app, tmp_path, tiny_data):
    r = client.post("/api/train", json={"model": "lenet5", "epochs": 3, "every": 1,
                                        "batch_size": 64, "seed": 5, "snapshots": 4})
    assert r.status_code == 200, r.text
    run_id = r.json()["run"]
    rundir = tmp_path / "runs" / run_id
    assert r.json()["rundir"] == str(Path("runs") / run_id)
    assert client.post(f"/api/train/{run_id}/pause").json()["status"] == "paused"
    job = app.state.train_jobs[run_id]
    assert not job.go.is_set()
    n = len(rows_of(rundir / live.LIVE))
    time.sleep(1.0)  # a paused loop adds at most the step it was in
    assert len(rows_of(rundir / live.LIVE)) <= n + 1 < 30
    assert client.post(f"/api/train/{run_id}/resume").json()["status"] == "running"
    wait_until(lambda: finished(client, run_id), "the page's training to finish")
    listed = {r["id"]: r for r in client.get("/api/train/runs").json()}[run_id]
    assert listed["status"] == "finished" and listed["page"] is True
    assert [r["step"] for r in rows_of(rundir / live.LIVE)] == list(range(1, 31))
    views = job.views_since(0)[0]
    assert [v["step"] for v in views] == list(range(31))  # the init, then every step
    assert views[0]["weights"] != views[-1]["weights"]
    assert abs(sum(views[-1]["probabilities"]) - 1) < 1e-4
    assert read_manifest(rundir)["status"] == "finished"
    snaps = client.get(f"/api/train/{run_id}/snapshots").json()
    assert snaps["steps"] == [0, 10, 20, 30] and len(snaps["weights"][0]) == 6
    # an ordinary run: the same weights as `convnet train` with the same flags, and resumable
    cli = tmp_path / "cli"
    assert main(["train", "lenet5", "--data", str(tiny_data), "--epochs", "3", "--batch-size",
                 "64", "--seed", "5", "--snapshots", "4", "--out", str(cli), "--quiet"]) == 0
    page_w, cli_w = (load_file(d / "model.safetensors") for d in (rundir, cli))
    assert all(torch.equal(page_w[k], cli_w[k]) for k in cli_w)
    assert main(["train", "--resume", str(rundir), "--epochs", "4", "--quiet"]) == 0
    assert read_manifest(rundir)["final"]["epoch"] == 4


def test_pause_needs_a_page_run(client, tiny_run, tmp_path):
    shutil.copytree(tiny_run, tmp_path / "runs" / "terminal")
    r = client.post("/api/train/terminal/pause")
    assert r.status_code == 409 and "not started from this page" in r.json()["detail"]
    assert client.post("/api/train/nothing/pause").status_code == 404
    assert client.get("/api/train/..%2Fetc/events").status_code == 404


def serve(app):
    """uvicorn serving ``app`` on a free port in a thread; (base URL, server)."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=srv.run, daemon=True).start()
    wait_until(lambda: srv.started, "uvicorn to start", 30)
    return f"http://127.0.0.1:{port}", srv


def listen(url: str, got: list) -> threading.Thread:
    """Collect (event, data) pairs of a server-sent event stream until it ends."""
    def run():
        event = None
        with httpx.stream("GET", url, timeout=60) as r:
            for line in r.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    got.append((event, json.loads(line[6:])))
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_events_stream_rows_as_a_terminal_run_appends_them(app, tiny_run, tmp_path):
    """Two viewers of a run another process writes: each row arrives after it is appended,
    in order, then the end once run.json says finished and nobody holds the lock."""
    rundir = tmp_path / "runs" / "terminal"
    shutil.copytree(tiny_run, rundir)
    (rundir / live.LIVE).unlink(missing_ok=True)
    manifest = read_manifest(rundir)
    (rundir / "run.json").write_text(json.dumps(dict(manifest, status="running")))
    lock = RunLock(rundir)  # as a `convnet train` in a terminal holds it
    base, srv = serve(app)
    try:
        viewers = [[], []]
        threads = [listen(f"{base}/api/train/terminal/events", got) for got in viewers]
        wait_until(lambda: all(("status", {"status": "running", "error": None}) in got
                               for got in viewers), "both viewers to see it running")
        for step in (1, 2, 3):
            with open(rundir / live.LIVE, "a") as f:
                f.write(json.dumps({"step": step, "epoch": step / 10, "loss": 2.0 / step,
                                    "accuracy": 0.1 * step}) + "\n")
            wait_until(lambda s=step: all(("row", {"step": s, "epoch": s / 10,
                                                   "loss": 2.0 / s, "accuracy": 0.1 * s})
                                          in got for got in viewers), f"row {step}")
        with open(rundir / live.LIVE, "a") as f:
            f.write('{"step": 4, "epo')  # half a line: not sent until it is whole
        (rundir / "run.json").write_text(json.dumps(dict(manifest, status="finished")))
        lock.release()
        for t in threads:
            t.join(30)
            assert not t.is_alive(), "the stream did not end with the run"
        for got in viewers:
            rows = [d["step"] for e, d in got if e == "row"]
            epochs = [d["epoch"] for e, d in got if e == "epoch"]
            assert rows == [1, 2, 3] and epochs == [1, 2]  # tiny_run's two epochs
            assert got[-1] == ("end", {"status": "finished"})
            filters = [d for e, d in got if e == "filters"]  # no snapshots: the checkpoint's
            assert filters[0]["layer"] == "features.conv1" and filters[0]["shape"] == [6, 1, 5, 5]
    finally:
        lock.release()
        srv.should_exit = True


def test_a_killed_terminal_run_reads_as_stopped(client, tiny_run, tmp_path):
    rundir = tmp_path / "runs" / "killed"
    shutil.copytree(tiny_run, rundir)
    manifest = read_manifest(rundir)
    (rundir / "run.json").write_text(json.dumps(dict(manifest, status="running")))
    assert client.get("/api/train/runs").json()[0]["status"] == "stopped"  # nobody holds it


# ----------------------------------------------------------------------------- in a browser

# Every drawing of the Train tab (train.js dispatches "train-drawn"), with what the canvas
# showed then: the test reads what the page drew, not the data it was sent.
RECORD = """
window.__drawn = [];
document.addEventListener("train-drawn", (e) => {
  const id = {curves: "#train-loss", filters: "#train-filters", evolution: "#train-evolution"};
  const canvas = document.querySelector(id[e.detail.what]);
  window.__drawn.push({what: e.detail.what, count: e.detail.count, png: canvas.toDataURL()});
});
"""


def test_browser_starts_a_training_and_sees_it_learn(browser, app):  # noqa: F811
    base, srv = serve(app)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.add_init_script(RECORD)
    try:
        page.goto(base + "/")
        page.wait_for_function("!!document.querySelector('#tabs button[data-tab=train]').onclick",
                               timeout=120_000)  # app.js is ready (a busy CI machine: slow)
        page.click("#tabs button[data-tab=train]")
        page.wait_for_selector("#train-dataset option", state="attached")
        page.fill("#train-model", "lenet6")  # a typo: one line on the page, nothing started
        page.click("#train-start")
        page.wait_for_function("document.querySelector('#train-status').textContent"
                               ".includes('unknown model')")
        page.fill("#train-model", "lenet5")
        page.fill("#train-epochs", "2")
        page.click("#train-start")
        page.wait_for_function("window.__drawn.some((d) => d.what === 'evolution') && "
                               "window.__drawn.some((d) => d.what === 'curves' && d.count === 10)",
                               timeout=120_000)  # the end: the strip and the last row drawn
        drawn = page.evaluate("window.__drawn")
        curves = [d for d in drawn if d["what"] == "curves"]
        filters = [d for d in drawn if d["what"] == "filters"]
        # 600 images in batches of 128 (the recipe's): 5 updates an epoch, a row after each
        counts = [d["count"] for d in curves]
        assert counts[0] == 0 and max(counts) == 10 and counts == sorted(counts)
        assert len({d["png"] for d in curves}) >= 3  # the curve grew on screen
        assert filters[0]["count"] == 0 and filters[-1]["count"] == 10  # init, then the end
        assert filters[0]["png"] != filters[-1]["png"]  # a filter changed on screen
        assert page.locator("#train-probe .bar").count() == 10
        assert "step 10 of 10" in page.inner_text("#train-frame-step")
        assert errors == []
    finally:
        page.close()
        srv.should_exit = True
