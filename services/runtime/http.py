"""The HTTP side every service shares: /metrics, /healthz (alive), /readyz (able to work), plus the
service's own read routes, with an OpenAPI document at /openapi.json and /docs.

Invalid requests get a 400 whose `error` a person can read ("query parameter 'from': ...") rather
than the framework's raw error list; the list is kept under `details` for programs.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any

import asyncpg
import uvicorn
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.runtime.metrics import Metrics

LOCATIONS = {"query": "query parameter", "path": "path parameter", "body": "field"}


class Readiness:
    """Ready once the broker and the workers run, and as long as the database answers."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.started = False

    async def check(self) -> tuple[bool, str]:
        if not self.started:
            return False, "starting"
        try:
            await self.pool.fetchval("SELECT 1", timeout=2)
        except Exception as exc:
            return False, f"database unavailable: {type(exc).__name__}"
        return True, "ready"


def readable(errors: Sequence[Any]) -> str:
    """One sentence per problem, naming where it is: "query parameter 'from': invalid date"."""
    parts = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ())]
        where = LOCATIONS.get(loc[0], loc[0]) if loc else "request"
        name = ".".join(loc[1:])
        parts.append(f"{where} '{name}': {err.get('msg', 'invalid')}" if name else err["msg"])
    return "; ".join(parts)


async def validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    details = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in errors]
    return JSONResponse({"error": readable(errors), "details": details}, status_code=400)


def build_http_app(
    service: str,
    metrics: Metrics,
    readiness: Readiness,
    routers: Sequence[APIRouter] = (),
) -> FastAPI:
    app = FastAPI(title=f"{service} service", version="1.0.0")
    app.add_exception_handler(RequestValidationError, validation_error)

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "alive"}

    @app.get("/readyz", tags=["operations"])
    async def readyz() -> Response:
        """The service consumes, publishes and reaches its database."""
        ok, why = await readiness.check()
        return JSONResponse({"status": why}, status_code=200 if ok else 503)

    for router in routers:
        app.include_router(router)
    return app


class Server(uvicorn.Server):
    """uvicorn without its own signal handling: the service decides how to shut down gracefully."""

    @contextmanager
    def capture_signals(self) -> Any:
        yield


def build_server(app: FastAPI, host: str, port: int) -> Server:
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False)
    return Server(config)
