"""`fastpitch serve`: the HTTP API and web page (FastAPI + uvicorn)."""

from fastpitch.server.app import create_app

__all__ = ["create_app"]
