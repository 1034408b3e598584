"""Load test of ``convnet serve`` on loopback: a flood with malformed requests, then big uploads.

    python -m benchmarks.web_load              # 16 clients x 200 requests each
    python -m benchmarks.web_load --full       # 16 clients x 2,000 requests each (issue 12)
    python -m benchmarks.web_load RUNDIR       # a trained run instead of an untrained LeNet-5

``convnet serve`` runs in a child process on a free port of 127.0.0.1 (never another address)
and is stopped at the end. Without a RUNDIR it serves an untrained LeNet-5 with MNIST framing
(random weights cost the same time as trained ones). Two phases:

1. Flood: ``--clients`` coroutines share one httpx connection pool (one keep-alive connection
   each); each sends ``--requests`` POST /api/activations of a drawn 140x140 digit, and every
   ``--bad-every``-th of its requests is malformed instead (a data URL without a comma, bad
   base64, a NaN or ragged kernel, an unknown run, broken JSON, a 30000x30000 header, a
   foreign Host), on the same pool. Every valid request must be a 200 and every malformed one
   a 4xx. Reported: p50/p99 latency of the valid ones, requests/s, the server's RSS before and
   after, and its peak (VmHWM).
2. Big uploads: ``--uploads`` concurrent 4096x4096 RGBA PNGs (a drawn digit, about 90 KB each)
   to /api/activations; each must be a 200 or a 503 (busy), and the server must still answer
   afterwards with its peak RSS under 2 GB.

Bounded: the flood stops after ``--max-seconds`` whatever its size. Exit code 1 when any check
fails. ``--json`` prints the figures as one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import platform
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import httpx
import numpy as np
from PIL import Image, ImageDraw

ARGS = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ARGS.add_argument("rundir", nargs="?", help="a run to serve (default: an untrained LeNet-5)")
ARGS.add_argument("--clients", type=int, default=16, help="concurrent clients (default: 16)")
ARGS.add_argument("--requests", type=int, default=200, help="requests per client (default: 200)")
ARGS.add_argument("--full", action="store_true", help="2,000 requests per client")
ARGS.add_argument("--bad-every", type=int, default=5, help="every Nth request is malformed")
ARGS.add_argument("--uploads", type=int, default=16, help="concurrent 4096x4096 RGBA uploads")
ARGS.add_argument("--max-seconds", type=float, default=900, help="the flood stops after this")
ARGS.add_argument("--json", action="store_true")
RSS_LIMIT_MB = 2048  # the big uploads must leave the server under this


# ----------------------------------------------------------------------------- inputs

def png_url(im: Image.Image) -> str:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def digit(side: int, mode: str = "L") -> Image.Image:
    """A drawn 7, white on black (opaque black for RGBA: transparent paper reads as white)."""
    im = Image.new(mode, (side, side), (0, 0, 0, 255) if mode == "RGBA" else 0)
    s = side / 140
    ImageDraw.Draw(im).line([(30 * s, 30 * s), (110 * s, 30 * s), (60 * s, 120 * s)],
                            fill=255 if mode == "L" else (255,) * 4, width=int(12 * s))
    return im


def png_declaring(width: int, height: int) -> str:
    """Base64 of a PNG whose header declares width x height RGBA, with no pixel data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    raw = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b""))
           + chunk(b"IEND", b""))
    return base64.b64encode(raw).decode()


def malformed(run: str, image: str) -> list[dict]:
    """Requests the server must answer with a 4xx, each as keyword arguments for httpx."""
    post = "/api/activations"
    return [
        {"url": post, "json": {"run": run, "image": "data:x"}},
        {"url": post, "json": {"run": run, "image": "data:image/png;base64,!!!"}},
        {"url": post, "json": {"run": "no-such-run", "image": image}},
        {"url": post, "json": {"run": run}},
        {"url": post, "json": {"run": run, "image": png_declaring(30000, 30000)}},
        {"url": post, "content": b"{not json", "headers": {"content-type": "application/json"}},
        {"url": post, "json": {"run": run, "image": image}, "headers": {"host": "evil.example"}},
        {"url": "/api/kernel", "json": {"image": image, "kernel": "nan,0;0,1"}},
        {"url": "/api/kernel", "json": {"image": image, "kernel": [[1, 0], [0]]}},
    ]


def untrained_run(root: Path) -> Path:
    """ROOT/lenet5-untrained: LeNet-5 with random weights and MNIST framing, as a run."""
    import torch

    from convnet import runs
    from convnet.registry import create_model

    torch.manual_seed(0)
    model = create_model("lenet5")
    rundir = root / "lenet5-untrained"
    rundir.mkdir()
    runs.save_checkpoint(rundir, model, None, {})
    runs.write_json(rundir / runs.MANIFEST, {
        "format": runs.FORMAT, "status": "done", "model": runs.describe_model(model),
        "dataset": {"name": "mnist", "classes": [str(d) for d in range(10)],
                    "mean": [0.1307], "std": [0.3081], "framing": "mnist"},
        "config": {}, "final": {}})
    return rundir


# ----------------------------------------------------------------------------- the server

def memory_mb(pid: int) -> dict:
    """The process's resident memory now (VmRSS) and at its peak (VmHWM), in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    kb = {line.split(":")[0]: int(line.split()[1]) for line in status.splitlines()
          if line.startswith(("VmRSS:", "VmHWM:"))}
    return {"rss": kb["VmRSS"] // 1024, "peak": kb["VmHWM"] // 1024}


def start_server(rundir: Path) -> tuple[subprocess.Popen, str]:
    """``convnet serve RUNDIR`` on a free loopback port; returns (process, base URL)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "convnet", "serve", str(rundir),
                             "--host", "127.0.0.1", "--port", str(port)],
                            stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"convnet serve exited with {proc.returncode}: {proc.stderr.read()}")
        try:
            if httpx.get(url + "/api/runs", timeout=5).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("convnet serve did not start within 120 s")


# ----------------------------------------------------------------------------- the phases

async def flood(url: str, run: str, clients: int, per_client: int, bad_every: int,
                max_seconds: float) -> dict:
    image = png_url(digit(140))
    bad = malformed(run, image)
    latencies, failures, wrong, sent_bad = [], [], [], 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    start = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        async def one_client(c: int):
            nonlocal sent_bad
            for i in range(per_client):
                if time.perf_counter() - start > max_seconds:
                    return
                if (i + c) % bad_every == bad_every - 1:  # malformed, on the same pool
                    req = bad[(i // bad_every + c) % len(bad)]
                    sent_bad += 1
                    try:
                        r = await client.post(**req)
                        if not 400 <= r.status_code < 500:
                            wrong.append(f"{req['url']} -> {r.status_code}")
                    except httpx.HTTPError as e:
                        wrong.append(f"{req['url']} -> {type(e).__name__}")
                    continue
                t = time.perf_counter()
                try:
                    r = await client.post("/api/activations", json={"run": run, "image": image})
                    if r.status_code == 200:
                        latencies.append(time.perf_counter() - t)
                    else:
                        failures.append(f"{r.status_code}: {r.text[:100]}")
                except httpx.HTTPError as e:
                    failures.append(f"{type(e).__name__}: {e}")

        await asyncio.gather(*(one_client(c) for c in range(clients)))
    elapsed = time.perf_counter() - start
    ms = np.array(latencies) * 1000
    return {"valid_ok": len(latencies), "valid_failed": len(failures),
            "malformed": sent_bad, "malformed_not_4xx": len(wrong),
            "examples": (failures + wrong)[:5], "seconds": round(elapsed, 1),
            "requests_per_s": round((len(latencies) + len(failures) + sent_bad) / elapsed, 1),
            "p50_ms": round(float(np.percentile(ms, 50)), 1) if len(ms) else None,
            "p99_ms": round(float(np.percentile(ms, 99)), 1) if len(ms) else None}


async def big_uploads(url: str, run: str, n: int) -> dict:
    image = png_url(digit(4096, "RGBA"))
    async with httpx.AsyncClient(base_url=url, timeout=300) as client:
        start = time.perf_counter()
        answers = await asyncio.gather(
            *(client.post("/api/activations", json={"run": run, "image": image})
              for _ in range(n)), return_exceptions=True)
        elapsed = time.perf_counter() - start
        alive = (await client.get("/api/runs")).status_code == 200
    codes = [a.status_code if isinstance(a, httpx.Response) else type(a).__name__
             for a in answers]
    return {"upload_kb": round(len(image) * 3 / 4 / 1024), "codes": {str(c): codes.count(c)
                                                                      for c in set(codes)},
            "seconds": round(elapsed, 1), "alive": alive}


def main() -> int:
    args = ARGS.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the server is stopped too
    per_client = 2000 if args.full else args.requests
    with tempfile.TemporaryDirectory() as tmp:
        rundir = Path(args.rundir) if args.rundir else untrained_run(Path(tmp))
        proc, url = start_server(rundir)
        try:
            run = httpx.get(url + "/api/runs").json()[0]["id"]
            asyncio.run(flood(url, run, 2, 5, 1000, 60))  # warm up: model, allocator
            before = memory_mb(proc.pid)
            f = asyncio.run(flood(url, run, args.clients, per_client, args.bad_every,
                                  args.max_seconds))
            after_flood = memory_mb(proc.pid)
            b = asyncio.run(big_uploads(url, run, args.uploads))
            after_uploads = memory_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(30)
    import torch

    result = {"flood": dict(f, clients=args.clients, per_client=per_client,
                            rss_before_mb=before["rss"], rss_after_mb=after_flood["rss"],
                            peak_mb=after_flood["peak"]),
              "uploads": dict(b, n=args.uploads, rss_after_mb=after_uploads["rss"],
                              peak_mb=after_uploads["peak"]),
              "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} "
                         f"CPUs, python {platform.python_version()}, torch {torch.__version__}, "
                         f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}"}
    ok = (f["valid_failed"] == 0 and f["malformed_not_4xx"] == 0 and b["alive"]
          and set(b["codes"]) <= {"200", "503"} and after_uploads["peak"] < RSS_LIMIT_MB)
    if args.json:
        print(json.dumps(dict(result, ok=ok)))
    else:
        fl, up = result["flood"], result["uploads"]
        print(f"flood: {fl['clients']} clients x {fl['per_client']} requests in {fl['seconds']} s "
              f"({fl['requests_per_s']} req/s): {fl['valid_ok']} valid OK, {fl['valid_failed']} "
              f"failed; {fl['malformed']} malformed, {fl['malformed_not_4xx']} not 4xx; "
              f"p50 {fl['p50_ms']} ms, p99 {fl['p99_ms']} ms; server RSS {fl['rss_before_mb']} "
              f"-> {fl['rss_after_mb']} MB (peak {fl['peak_mb']} MB)")
        print(f"uploads: {up['n']} x 4096x4096 RGBA PNG ({up['upload_kb']} KB) at once: "
              f"{up['codes']} in {up['seconds']} s; alive after: {up['alive']}; server RSS "
              f"{up['rss_after_mb']} MB, peak {up['peak_mb']} MB (limit {RSS_LIMIT_MB})")
        print(f"machine: {result['machine']}")
        for line in f["examples"]:
            print(f"  e.g. {line}")
        print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
