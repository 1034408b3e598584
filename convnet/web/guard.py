"""What stands between the network and the model: who may ask, how much, how many at once.

Every refusal is one line of JSON, ``{"detail": "..."}``, with a 4xx code (503 when busy):

* ``HostCheck``: the ``Host`` header must name this server (localhost names, the address it
  was bound to, names given with ``convnet serve --allow-host``). A page on any other site
  can point its own domain at 127.0.0.1 (DNS rebinding) and read the API from the
  browser; its requests carry *its* domain as Host, so they are refused (400).
* ``BodyLimit``: a POST must declare its length, at most ``MAX_BODY`` bytes (411, 413),
  checked on the header, before the body is read.
* ``CatchAll``: a bug of ours is one line of JSON and a 500 on a connection that stays open.
  (Starlette re-raises after its 500, and uvicorn then drops the keep-alive connection, so the
  next valid request a client had pooled on it failed too.)
* ``Busy``: at most ``HEAVY_SLOTS`` images are decoded and run through a model at once; a
  request that finds them all taken waits up to ``HEAVY_WAIT_S``, then gets 503.

Example:
    >>> sorted(served_hosts("0.0.0.0", ["mybox.local"]))
    ['127.0.0.1', '::1', 'localhost', 'mybox.local']
    >>> host_of("[::1]:8000"), host_of("LocalHost"), host_of("a/b")
    ('::1', 'localhost', None)
"""

from __future__ import annotations

import logging
import os
import threading
from contextlib import contextmanager
from urllib.parse import urlsplit

from fastapi import FastAPI, HTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ..errors import ConvnetError, ImageError, RunError, SpecError
from .images import MAX_BODY
from .layers import UnitError

LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")  # what a browser on this machine sends
WILDCARDS = ("", "0.0.0.0", "::")  # every address: no one name to add
HEAVY_SLOTS = min(4, os.cpu_count() or 1)  # 4 x ~130 MB peak per 4096x4096 RGBA upload
HEAVY_WAIT_S = 10.0  # a request queued behind them waits this long, then 503
STATUS = {UnitError: 404, RunError: 404, ImageError: 422, SpecError: 422}

log = logging.getLogger("uvicorn.error")  # where uvicorn writes its own errors


def host_of(header: str | None) -> str | None:
    """The host name of a Host header, lower case, without port or IPv6 brackets; None if bad."""
    if not header:
        return None
    try:
        parts = urlsplit(f"//{header}")
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return None
    if parts.path or parts.query or parts.fragment or parts.username is not None:
        return None
    return parts.hostname or None


def served_hosts(bind: str, allow: list[str] | tuple[str, ...] = ()) -> set[str]:
    """The host names a server bound to ``bind`` answers to: localhost names, ``bind``, ``allow``.

    ``"*"`` in ``allow`` turns the check off (any Host is answered).
    """
    hosts = set(LOCAL_HOSTS) | {h.strip("[]").lower() for h in allow}
    if bind not in WILDCARDS:
        hosts.add(bind.strip("[]").lower())
    return hosts


class HostCheck:
    """ASGI middleware: answer only requests whose Host header names this server (else 400)."""

    def __init__(self, app, hosts: set[str]):
        self.app, self.hosts, self.any = app, hosts, "*" in hosts

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket") and not self.any:
            header = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            if host_of(header) not in self.hosts:
                if scope["type"] == "websocket":  # none served today; refused all the same
                    return await send({"type": "websocket.close", "code": 1008})
                detail = (f"Host header {header[:80]!r} is not a name this server answers "
                          "to; its operator can allow it with convnet serve --allow-host NAME")
                return await JSONResponse({"detail": detail}, 400)(scope, receive, send)
        await self.app(scope, receive, send)


class BodyLimit:
    """ASGI middleware: a POST must declare its length, and no more than ``limit`` bytes (413).

    Checked on the header, so an oversized upload is refused before it is read.
    """

    def __init__(self, app, limit: int = MAX_BODY):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH"):
            length = dict(scope["headers"]).get(b"content-length", b"")
            error = (None if length.isdigit() and int(length) <= self.limit else
                     (413, f"request body over the {self.limit:,}-byte limit")
                     if length.isdigit() else (411, "request needs a Content-Length header"))
            if error:
                return await JSONResponse({"detail": error[1]}, error[0])(scope, receive, send)
        await self.app(scope, receive, send)


class CatchAll:
    """ASGI middleware: an unexpected exception -> logged, and a one-line JSON 500 that keeps
    the connection open (a response already begun is cut, as uvicorn would)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def tracking_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as e:
            if started:
                raise
            log.exception("convnet serve: error in %s %s", scope["method"], scope["path"])
            detail = f"internal error: {type(e).__name__}: {str(e)[:200]}".splitlines()[0]
            await JSONResponse({"detail": detail}, 500)(scope, receive, send)


class Busy:
    """At most ``slots`` heavy requests at once; others wait up to ``wait_s``, then 503."""

    def __init__(self, slots: int = HEAVY_SLOTS, wait_s: float = HEAVY_WAIT_S):
        self.slots, self.wait_s = slots, wait_s
        self.semaphore = threading.BoundedSemaphore(slots)

    @contextmanager
    def slot(self):
        if not self.semaphore.acquire(timeout=self.wait_s):
            raise HTTPException(503, f"server busy: {self.slots} images are being processed; "
                                "try again in a moment", headers={"Retry-After": "1"})
        try:
            yield
        finally:
            self.semaphore.release()


def add_error_handlers(app: FastAPI) -> None:
    """Library errors and invalid requests -> one line of JSON and a 4xx, never a 500."""
    @app.exception_handler(ConvnetError)
    async def convnet_error(request, exc: ConvnetError):
        code = next((c for cls, c in STATUS.items() if isinstance(exc, cls)), 400)
        return JSONResponse({"detail": str(exc).splitlines()[0] if str(exc) else "bad request"},
                            code)

    @app.exception_handler(RequestValidationError)
    async def invalid(request, exc: RequestValidationError):
        e = (exc.errors() or [{}])[0]
        if e.get("type") == "json_invalid":
            return JSONResponse({"detail": "request body is not valid JSON"}, 400)
        where = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
        msg = str(e.get("msg", "invalid")).splitlines()[0]
        return JSONResponse({"detail": f"{where or 'request'}: {msg}"}, 422)


def protect(app: FastAPI, hosts: set[str]) -> None:
    """Wrap ``app`` in the guards above (outermost first: Host, body size, catch-all)."""
    add_error_handlers(app)
    app.add_middleware(CatchAll)
    app.add_middleware(BodyLimit)
    app.add_middleware(HostCheck, hosts=hosts)  # added last: runs first
