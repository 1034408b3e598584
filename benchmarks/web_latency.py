"""How long one stroke takes to update ``convnet serve``'s page, in a real headless Chromium.

    python -m benchmarks.web_latency                  # untrained LeNet-5 (MNIST) and ResNet-20
    python -m benchmarks.web_latency RUNDIR [...]     # trained runs instead
    python -m benchmarks.web_latency --updates 40 --json

For each run: the server (uvicorn, in a thread of this process, on a free 127.0.0.1 port) and
the page in Chromium at 1400x900; the mouse draws a 7 on the pad, slowly, until ``--updates``
updates have been painted. An update is timed by the page itself, from the moment it sends
``POST /api/activations`` to the moment the last canvas is painted (its "updated" event, also
shown under the guess), so it is what a learner waits for after a stroke. Reported per run:
median, min and max of those times, the server's own time (``server_ms``), and the median size
of the answers. Needs Playwright for Python and Debian's ``chromium`` (as the browser tests).
Timing lives here, never in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ARGS = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ARGS.add_argument("rundirs", nargs="*", help="runs to time (default: untrained lenet5, resnet20)")
ARGS.add_argument("--updates", type=int, default=30, help="updates timed per run (default: 30)")
ARGS.add_argument("--width", type=int, default=1400, help="viewport width (default: 1400)")
ARGS.add_argument("--height", type=int, default=900, help="viewport height (default: 900)")
ARGS.add_argument("--threads", type=int, default=None, help="torch threads of the server "
                  "(default: convnet serve's, web.listen.SERVE_THREADS; 0: torch's default)")
ARGS.add_argument("--json", action="store_true", help="one JSON object on stdout")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
LISTEN = """document.addEventListener("updated", (e) => {
  (window.__updates = window.__updates || []).push(e.detail); });"""


def untrained_runs(root: Path) -> list[Path]:
    """LeNet-5 with MNIST framing and ResNet-20 on 32x32 RGB, random weights (same cost)."""
    import torch

    from convnet import runs
    from convnet.registry import create_model

    out = []
    for name, mean, std, framing in (("lenet5", [0.1307], [0.3081], "mnist"),
                                     ("resnet20", [0.49, 0.48, 0.45], [0.25] * 3, None)):
        torch.manual_seed(0)
        model = create_model(name)
        rundir = root / f"{name}-untrained"
        rundir.mkdir()
        runs.save_checkpoint(rundir, model, None, {})
        runs.write_json(rundir / runs.MANIFEST, {
            "format": runs.FORMAT, "status": "done", "model": runs.describe_model(model),
            "dataset": {"name": "none", "classes": [str(d) for d in range(10)], "mean": mean,
                        "std": std, "framing": framing}, "config": {}, "final": {}})
        out.append(rundir)
    return out


def serve(rundir: Path):
    """uvicorn serving one run on a free loopback port, in a thread; returns (server, URL).

    As ``convnet serve`` runs it (``web.listen.run``), but in this process: set the torch
    threads first (``main``)."""
    import uvicorn

    from convnet.web import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app([rundir]), host="127.0.0.1", port=port,
                                        log_level="warning"))
    threading.Thread(target=srv.run, daemon=True).start()
    deadline = time.time() + 60
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    return srv, f"http://127.0.0.1:{port}/"


def stroke_points(n: int) -> list[tuple[float, float]]:
    """n points along a 7 on the 280x280 pad: the top bar, then the diagonal."""
    corners = [(60, 60), (220, 60), (110, 250)]
    pts = []
    for i in range(n):
        t = 2 * i / max(1, n - 1)
        (x0, y0), (x1, y1) = corners[min(int(t), 1)], corners[min(int(t), 1) + 1]
        f = t - min(int(t), 1)
        pts.append((x0 + (x1 - x0) * f, y0 + (y1 - y0) * f))
    return pts


def time_run(browser, url: str, updates: int, viewport: dict) -> dict:
    """Draw until ``updates`` updates are painted; their times as the page measured them."""
    page = browser.new_page(viewport=viewport)
    page.add_init_script(LISTEN)
    sizes = []
    page.on("response", lambda r: sizes.append(len(r.body())) if r.url.endswith(
        "/api/activations") and r.ok else None)
    page.goto(url)
    page.wait_for_selector(".layer")
    page.wait_for_timeout(1000)  # the gallery, the filters: let the page settle
    page.evaluate("window.__updates = []")
    box = page.locator("#pad").bounding_box()
    pts = stroke_points(8 * updates)
    page.mouse.move(box["x"] + pts[0][0], box["y"] + pts[0][1])
    page.mouse.down()
    for x, y in pts:
        done = page.evaluate("window.__updates.length")
        if done >= updates:
            break
        page.mouse.move(box["x"] + x, box["y"] + y)
        page.wait_for_function(f"window.__updates.length > {done}", timeout=60_000)
    page.mouse.up()
    got = page.evaluate("window.__updates")[:updates]
    page.close()
    ms = [u["ms"] for u in got]
    return {"updates": len(ms), "median_ms": round(statistics.median(ms), 1),
            "min_ms": round(min(ms), 1), "max_ms": round(max(ms), 1),
            "server_median_ms": round(statistics.median(u["server_ms"] for u in got), 1),
            "response_kb": round(statistics.median(sizes) / 1024, 1) if sizes else None}


def machine() -> str:
    import torch

    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, python "
            f"{platform.python_version()}, torch {torch.__version__} on "
            f"{torch.get_num_threads()} thread(s), chromium headless")


def main() -> int:
    import torch
    from playwright.sync_api import sync_playwright

    args = ARGS.parse_args()
    if args.threads is None:
        from convnet.web.listen import SERVE_THREADS
        args.threads = SERVE_THREADS
    if args.threads:
        torch.set_num_threads(args.threads)
    viewport = {"width": args.width, "height": args.height}
    results = {}
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        rundirs = [Path(r) for r in args.rundirs] or untrained_runs(Path(tmp))
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        for rundir in rundirs:
            srv, url = serve(rundir)
            try:
                results[rundir.name] = time_run(browser, url, args.updates, viewport)
            finally:
                srv.should_exit = True
        browser.close()
    if args.json:
        print(json.dumps({"runs": results, "viewport": viewport, "machine": machine()}))
    else:
        for name, r in results.items():
            print(f"{name}: {r['updates']} updates, median {r['median_ms']} ms (min "
                  f"{r['min_ms']}, max {r['max_ms']}); server {r['server_median_ms']} ms; "
                  f"response {r['response_kb']} KB")
        print(f"viewport {args.width}x{args.height}; {machine()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
