"""``convnet serve``: the browser view of a trained run (FastAPI app + static page)."""

from .app import create_app

__all__ = ["create_app"]
