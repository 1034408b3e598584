"""``convnet serve``: draw a digit and watch every layer of your own trained run, in the browser.

The page (``static/``: plain HTML, JS and CSS, no build step, no CDN) talks to a small JSON API,
one router per tab:

    network_api   GET /api/runs, POST /api/predict, /api/activations, /api/unit
    weights_api   GET /api/filters, /api/samples, /api/kernels; POST /api/kernel
    detail_api    POST /api/slide, GET /api/sandbox (the sliding kernel, the shape sandbox)
    features_api  GET /api/features (each channel's top test patches, ``viz.features``)
    training      /api/train...: start, pause, watch a training live (server-sent events)

Images travel as a data URL (``data:image/png;base64,...``) or plain base64 of a PNG, JPEG,
GIF, BMP, WebP or TIFF file (``images.decode_image``: bounded, decoded reduced). Bad input is a
4xx with one line of JSON ``{"detail": "..."}``, never a 500; who may ask, how much and how
many at once is ``guard``. OpenAPI at ``/docs`` and ``/redoc``, their scripts served from the
package (``fastapi_offline``), so they work offline too; examples in docs/web.md.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from . import detail_api, features_api, network_api, training, weights_api
from .discover import Watch
from .guard import LOCAL_HOSTS, Busy, protect
from .served import load_runs

STATIC = Path(__file__).parent / "static"


def create_app(rundirs: list[str | Path], data_dir: str | None = None,
               hosts: set[str] | None = None, busy: Busy | None = None) -> FastAPI:
    """The FastAPI app serving ``rundirs`` (loaded now: a bad run fails here, not on a click).

    With no ``rundirs`` it serves no run at first: the page opens on its Train tab, and every
    run under ./runs is served once it has saved a checkpoint (``discover``).

    Args:
        data_dir (str | None): where the runs' datasets are, for the gallery of test images.
            Default: each run's recorded data folder, then ``$CONVNET_DATA`` and the cache.
        hosts (set[str] | None): the Host names answered (``guard.served_hosts``; "*": any).
            Default: localhost, 127.0.0.1, ::1.
        busy (Busy | None): the limit on heavy requests at once. Default: ``Busy()``.
    """
    app = FastAPIOffline(title="convnet serve", version="1",  # /docs, /redoc: no CDN
                         description="Every layer of a trained convnet run, for one image at a "
                         "time.", swagger_ui_parameters={"validatorUrl": None})  # no badge
    #   fetched from validator.swagger.io, which Swagger UI does for a spec not on localhost
    app.state.runs = load_runs(rundirs)  # what the routers read (served.get_run)
    # runs trained meanwhile (discover): the page's own, and with no RUNDIR all of ./runs
    app.state.watch = Watch(None if rundirs else training.RUNS)
    app.state.busy = busy or Busy()
    app.state.data_dir = data_dir
    protect(app, set(LOCAL_HOSTS) if hosts is None else hosts)
    app.include_router(network_api.router)
    app.include_router(weights_api.router)
    app.include_router(detail_api.router)
    app.include_router(training.router)
    app.include_router(features_api.router)
    add_page(app)
    return app


def add_page(app: FastAPI) -> None:
    """The page itself: index.html at /, its modules and styles under /static."""

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon():
        return Response(status_code=204)

    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
