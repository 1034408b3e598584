"""``convnet serve`` against hostile or careless clients (issue 12): DNS rebinding, malformed
requests, image bombs, floods, offline docs, and the serve command's port errors.

Every refusal must be a 4xx (503 when busy) with one line of JSON, never a 500, and never a
dropped keep-alive connection that a client's next valid request would fail on.
"""

import base64
import http.client
import io
import json
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time
import warnings
import zlib

import pytest
from fake_runs import fake_run
from PIL import Image, ImageDraw

from convnet.web import create_app
from convnet.web.guard import Busy, host_of, served_hosts
from convnet.data.preprocess import decode_keep
from convnet.web.images import MAX_PIXELS, decode_image

with warnings.catch_warnings():  # starlette's note about httpx vs httpx2 is not ours to fix
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

DIGITS = [str(d) for d in range(10)]


def data_url(im: Image.Image, fmt: str = "PNG") -> str:
    buf = io.BytesIO()
    im.save(buf, fmt)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buf.getvalue()).decode()


def seven(size: int = 140, mode: str = "L") -> Image.Image:
    """A drawn 7, white on black (opaque black for RGBA: transparent paper reads as white)."""
    im = Image.new(mode, (size, size), (0, 0, 0, 255) if mode == "RGBA" else 0)
    s = size / 140
    ImageDraw.Draw(im).line([(30 * s, 30 * s), (110 * s, 30 * s), (60 * s, 120 * s)],
                            fill=255 if mode == "L" else (255,) * len(mode), width=int(12 * s))
    return im


def png_declaring(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height RGBA and whose pixel data is missing."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b""))
            + chunk(b"IEND", b""))


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("security-runs")
    return [fake_run(root, "tiny", "lenet5", DIGITS, [0.1307], [0.3081], "mnist"),
            fake_run(root, "rgb", "seed4", ["dog", "cat", "boat", "bird"], [0.5] * 3, [0.25] * 3)]


@pytest.fixture(scope="module")
def client(runs):
    return TestClient(create_app(runs), base_url="http://localhost")


def assert_one_line(r, code):
    assert r.status_code == code, (r.status_code, r.text)
    detail = r.json()["detail"]
    assert isinstance(detail, str) and detail and "\n" not in detail
    assert "--" not in detail, detail  # web errors speak of request fields, not CLI flags
    return detail


# ----------------------------------------------------------------------------- Host header

@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.evil.example",
                                  "localhost.evil.example", "", "localhost:x", "a/b"])
@pytest.mark.parametrize("path", ["/api/runs", "/api/filters?run=tiny", "/", "/docs"])
def test_a_foreign_host_header_is_refused(client, host, path):
    r = client.get(path, headers={"host": host})
    assert r.status_code == 400, (host, path, r.status_code)
    detail = r.json()["detail"]
    assert detail.startswith("Host header") and "\n" not in detail and "--allow-host" in detail


@pytest.mark.parametrize("host", ["localhost", "localhost:8000", "127.0.0.1:8000", "[::1]:8000",
                                  "LOCALHOST"])
def test_local_host_names_are_answered(client, host):
    assert client.get("/api/runs", headers={"host": host}).status_code == 200


def test_a_dns_rebinding_post_is_refused_before_any_work(client):
    r = client.post("/api/predict", json={"run": "tiny", "image": data_url(seven())},
                    headers={"host": "attacker.example"})
    assert r.status_code == 400


def test_served_hosts_add_the_bound_address_and_allowed_names():
    assert served_hosts("127.0.0.1") == {"localhost", "127.0.0.1", "::1"}
    assert served_hosts("192.168.1.20") == {"localhost", "127.0.0.1", "::1", "192.168.1.20"}
    assert "mybox.lan" in served_hosts("0.0.0.0", ["MyBox.lan"])
    assert "0.0.0.0" not in served_hosts("0.0.0.0") and "::" not in served_hosts("::")
    assert host_of("[::1]:80") == "::1" and host_of("") is None and host_of("u@localhost") is None


def test_serve_allow_host_reaches_the_app(runs, monkeypatch, capsys):
    """``convnet serve --allow-host NAME``: NAME is answered, others are not."""
    import convnet.web.listen as listen
    from convnet.cli import main

    served = {}
    monkeypatch.setattr(listen, "run", lambda app, sock: (served.update(app=app), sock.close()))
    assert main(["serve", str(runs[0]), "--port", str(free_port()),
                 "--allow-host", "mybox.lan", "--allow-host", "10.1.2.3"]) == 0
    client = TestClient(served["app"])
    assert client.get("/api/runs", headers={"host": "mybox.lan:8000"}).status_code == 200
    assert client.get("/api/runs", headers={"host": "10.1.2.3"}).status_code == 200
    assert client.get("/api/runs", headers={"host": "other.lan"}).status_code == 400
    assert "mybox.lan" in capsys.readouterr().err


# ----------------------------------------------------------------------------- malformed requests

NAN_KERNEL = b'{"image": "IMG", "kernel": [[NaN, 0], [0, 1]]}'
MALFORMED = [  # (path, body, code)
    ("/api/activations", {"run": "tiny", "image": "data:x"}, 400),
    ("/api/activations", {"run": "tiny", "image": "data:image/png,abc"}, 400),
    ("/api/activations", {"run": "tiny", "image": "data:image/png;base64,"}, 400),
    ("/api/activations", {"run": "tiny", "image": "data:,"}, 400),
    ("/api/activations", {"run": "tiny", "image": "ÿÿÿÿ"}, 400),
    ("/api/activations", {"run": "tiny", "image": "iVBO\nRw0K"}, 400),
    ("/api/activations", {"run": "tiny", "image": b64(b"\x89PNG\r\n\x1a\ntruncated")}, 415),
    ("/api/activations", {"run": "tiny", "image": b64(b"%!PS-Adobe-3.0 EPSF-3.0\n%%Bound")}, 415),
    ("/api/activations", {"run": "tiny", "image": b64(png_declaring(30000, 30000))}, 413),
    ("/api/activations", {"run": "tiny", "image": b64(png_declaring(4097, 4097))}, 413),
    ("/api/activations", {"run": "tiny", "image": b64(png_declaring(20000, 10))}, 413),
    ("/api/activations", {"run": "tiny", "image": b64(png_declaring(64, 64))}, 415),
    ("/api/activations", {"run": "tiny", "image": None}, 422),
    ("/api/activations", {"run": "tiny", "image": "x", "invert": "maybe"}, 422),
    ("/api/activations", [], 422),
    ("/api/activations", "text", 422),
    ("/api/unit", {"run": "tiny", "layer": "conv1", "index": []}, 422),
    ("/api/unit", {"run": "tiny", "layer": "conv1", "index": [0, 0, 0, 0]}, 422),
    ("/api/unit", {"run": "tiny", "layer": "conv1", "index": [1.5]}, 422),
    ("/api/unit", {"run": "tiny", "layer": "conv1", "index": [10 ** 30, 0, 0]}, 404),
    ("/api/unit", {"run": "tiny", "layer": "<script>", "index": [0, 0, 0]}, 404),
    ("/api/kernel", {"kernel": [[float("inf"), 0], [0, 1]]}, 422),
    ("/api/kernel", {"kernel": [[1e39]]}, 422),
    ("/api/kernel", {"kernel": "nan,0;0,1"}, 422),
    ("/api/kernel", {"kernel": "inf,0;0,-inf"}, 422),
    ("/api/kernel", {"kernel": [[1, 0], [0]]}, 422),
    ("/api/kernel", {"kernel": [[1, 0, 0], [0, 1, 0]]}, 422),
    ("/api/kernel", {"kernel": [[]]}, 422),
    ("/api/kernel", {"kernel": []}, 422),
    ("/api/kernel", {"kernel": [[1] * 16] * 16}, 422),
    ("/api/kernel", {"kernel": ""}, 422),
    ("/api/kernel", {"kernel": "no such kernel"}, 422),
]


def send(client, path, body):
    """POST ``body`` (JSON, with a drawn 7 as its image unless it has one; bytes as they are)."""
    if isinstance(body, bytes):
        content = body.replace(b"IMG", data_url(seven()).encode())
    else:
        if isinstance(body, dict) and "image" not in body:
            body = {**body, "image": data_url(seven())}
        content = json.dumps(body).encode()  # inf is written Infinity, as Python reads it
    return client.post(path, content=content, headers={"content-type": "application/json"})


@pytest.mark.parametrize("path, body, code", MALFORMED)
def test_malformed_requests_are_one_line_4xx(client, path, body, code):
    assert_one_line(send(client, path, body), code)


def test_nan_in_a_json_kernel_is_4xx(client):
    r = send(client, "/api/kernel", NAN_KERNEL)
    assert 400 <= r.status_code < 500 and "\n" not in r.json()["detail"]


def test_a_ragged_kernel_reports_its_real_rows(client):
    detail = assert_one_line(send(client, "/api/kernel", {"kernel": [[1, 0], [0]]}), 422)
    assert "2 rows of 2, 1 numbers" in detail


def test_deeply_nested_json_is_4xx(client):
    body = b'{"run": "tiny", "image": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    r = client.post("/api/predict", content=body, headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500


def test_a_bug_in_a_handler_is_a_one_line_500(client, monkeypatch):
    import convnet.web.network_api as web_app

    def broken(run, x):
        raise RuntimeError("a bug\nover two lines")

    monkeypatch.setattr(web_app, "prediction", broken)
    r = send(client, "/api/predict", {"run": "tiny"})
    assert r.status_code == 500 and r.json()["detail"] == "internal error: RuntimeError: a bug"


# ----------------------------------------------------------------------------- big images

def test_a_30000x30000_image_is_413_on_its_header(client):
    r = send(client, "/api/predict", {"run": "tiny", "image": b64(png_declaring(30000, 30000))})
    assert "pixel limit" in assert_one_line(r, 413)


@pytest.mark.parametrize("keep, side", [(decode_keep((1, 32, 32), "mnist"), 1024),
                                        (decode_keep((3, 32, 32), None), 98)])
def test_large_images_are_decoded_reduced(keep, side):
    """To what the next step keeps: 1024 px for MNIST framing, 3 x 32 for a 32x32 resize."""
    im = decode_image(data_url(seven(4096, "RGBA")), keep)  # reduce(4), reduce(42)
    assert im.mode == "RGB" and im.size == (side, side)
    jpeg = decode_image(data_url(seven(4000, "L"), "JPEG"), keep)  # Image.draft, then reduce
    assert jpeg.mode == "L" and max(jpeg.size) <= 2 * side


def test_a_small_image_is_decoded_as_it_is():
    im = decode_image(data_url(seven(140, "RGBA")), decode_keep((1, 32, 32), "mnist"))
    assert im.size == (140, 140) and im.mode == "RGB"
    p = seven(300, "L").convert("P")
    assert decode_image(data_url(p, "GIF"), decode_keep((3, 32, 32), None)).size == (100, 100)


MEMORY_PROBE = """
import base64, io, resource, sys, warnings
warnings.simplefilter("ignore")
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw
from convnet.web import create_app
client = TestClient(create_app([sys.argv[1]]), base_url="http://localhost")
def url(raw):
    return "data:image/png;base64," + base64.b64encode(raw).decode()
small = Image.new("L", (140, 140))
ImageDraw.Draw(small).line([(30, 30), (110, 30), (60, 120)], fill=255, width=12)
buf = io.BytesIO()
small.save(buf, "PNG")
warm = client.post("/api/activations", json={"run": "tiny", "image": url(buf.getvalue())})
assert warm.status_code == 200, warm.text
url = url(open(sys.argv[2], "rb").read())
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
r = client.post("/api/activations", json={"run": "tiny", "image": url})
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(r.status_code, (after - before) // 1024)
"""


def test_a_4096x4096_rgba_upload_costs_little_memory(runs, tmp_path):
    """An 88 KB drawing declaring 4096x4096 RGBA cost 1.3 GB in serve; now under 300 MB."""
    path = tmp_path / "big.png"
    seven(4096, "RGBA").save(path)
    assert path.stat().st_size < 200_000
    out = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(runs[0]), str(path)],
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    status, grown_mb = out.stdout.split()
    assert status == "200", out.stderr[-2000:]
    assert int(grown_mb) < 300, f"peak memory grew by {grown_mb} MB"


# ----------------------------------------------------------------------------- too many at once

def test_a_request_that_finds_every_slot_taken_waits_then_gets_503(runs):
    busy = Busy(slots=1, wait_s=0.2)
    client = TestClient(create_app(runs[:1], busy=busy), base_url="http://localhost")
    body = {"run": "tiny", "image": data_url(seven())}
    busy.semaphore.acquire()  # a heavy request in progress
    try:
        start = time.perf_counter()
        r = client.post("/api/activations", json=body)
        assert time.perf_counter() - start >= 0.2
        assert "busy" in assert_one_line(r, 503) and r.headers["retry-after"] == "1"
    finally:
        busy.semaphore.release()
    assert client.post("/api/activations", json=body).status_code == 200


def test_a_waiting_request_gets_the_slot_when_it_frees(runs):
    busy = Busy(slots=1, wait_s=10)
    client = TestClient(create_app(runs[:1], busy=busy), base_url="http://localhost")
    busy.semaphore.acquire()
    threading.Timer(0.3, busy.semaphore.release).start()
    r = client.post("/api/predict", json={"run": "tiny", "image": data_url(seven())})
    assert r.status_code == 200


# ----------------------------------------------------------------------------- a real server

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(runs):
    """uvicorn on a socket bound by ``listen.bind``, in a thread; yields its port."""
    import uvicorn

    from convnet.web.listen import MAX_CONNECTIONS, bind

    sock = bind("127.0.0.1", free_port())
    config = uvicorn.Config(create_app(runs), log_level="critical",
                            limit_concurrency=MAX_CONNECTIONS)
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started
    yield sock.getsockname()[1]
    srv.should_exit = True
    thread.join(10)


def test_malformed_and_valid_requests_share_one_keep_alive_connection(server, monkeypatch):
    """A malformed request, or even a bug, must not drop the connection: the next valid request
    a client pooled on it would fail (data:x was a 500 that closed it)."""
    import convnet.web.network_api as web_app

    conn = http.client.HTTPConnection("127.0.0.1", server, timeout=30)
    valid = {"run": "tiny", "image": data_url(seven())}
    conn.request("GET", "/api/runs")
    conn.getresponse().read()
    sock = conn.sock
    for bad, code in [({"run": "tiny", "image": "data:x"}, 400),
                      ({"image": data_url(seven()), "kernel": "nan,0;0,1"}, 422),
                      ({"run": "tiny", "image": b64(png_declaring(30000, 30000))}, 413)] * 3:
        for body, expected in [(bad, code), (valid, 200)]:
            path = "/api/kernel" if "kernel" in body else "/api/activations"
            conn.request("POST", path, json.dumps(body), {"content-type": "application/json"})
            r = conn.getresponse()
            assert r.status == expected, r.read()
            r.read()
            assert conn.sock is sock, "the server closed the keep-alive connection"
    real = web_app.prediction
    monkeypatch.setattr(web_app, "prediction", lambda run, x: 1 / 0)
    conn.request("POST", "/api/predict", json.dumps(valid), {"content-type": "application/json"})
    r = conn.getresponse()
    assert r.status == 500 and "ZeroDivisionError" in json.loads(r.read())["detail"]
    monkeypatch.setattr(web_app, "prediction", real)
    conn.request("POST", "/api/predict", json.dumps(valid), {"content-type": "application/json"})
    assert conn.getresponse().status == 200 and conn.sock is sock


def test_a_foreign_host_is_refused_by_the_real_server(server):
    conn = http.client.HTTPConnection("127.0.0.1", server, timeout=30)
    conn.request("GET", "/api/filters?run=tiny", headers={"Host": "rebind.attacker.example"})
    r = conn.getresponse()
    assert r.status == 400 and json.loads(r.read())["detail"].startswith("Host header")


# ----------------------------------------------------------------------------- offline docs

@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_nothing_from_other_sites(client, page):
    r = client.get(page)
    assert r.status_code == 200
    assert not re.search(r"https?:|//[a-z]|cdn", r.text, re.I), r.text  # no other site at all
    urls = re.findall(r"""(?:src|href|spec-url|url:)\s*=?\s*["']([^"']+)""", r.text)
    assert len(urls) >= 3, r.text  # the script, the style sheet or the spec, the icon
    if page == "/docs":  # Swagger UI would fetch a badge from validator.swagger.io
        assert '"validatorUrl": null' in r.text
    for url in urls:  # every script, stylesheet and icon is served from the package
        assert client.get(url).status_code == 200, url


# ----------------------------------------------------------------------------- the serve command

def test_serve_with_an_impossible_port_is_a_usage_error(runs, capsys):
    from convnet.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["serve", str(runs[0]), "--port", "99999"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "port number 1..65535, got '99999'" in err


def test_serve_on_a_port_in_use_says_so_before_serving(runs, capsys):
    from convnet.cli import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", str(runs[0]), "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert err == f"error: port {port} is in use on 127.0.0.1: stop the program using it or " \
                  "choose another --port\n"
    assert "serving" not in err


def test_pixel_limit_is_what_the_docs_say():
    assert MAX_PIXELS == 4096 * 4096
