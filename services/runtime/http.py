"""The HTTP side every service shares: /metrics, /healthz (alive) and /readyz (able to work)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any

import asyncpg
import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from services.runtime.metrics import Metrics


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


def build_http_app(
    metrics: Metrics, readiness: Readiness, extra_routes: Sequence[BaseRoute] = ()
) -> Starlette:
    async def metrics_endpoint(_: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "alive"})

    async def readyz(_: Request) -> Response:
        ok, why = await readiness.check()
        return JSONResponse({"status": why}, status_code=200 if ok else 503)

    routes: list[BaseRoute] = [
        Route("/metrics", metrics_endpoint),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        *extra_routes,
    ]
    return Starlette(routes=routes)


class Server(uvicorn.Server):
    """uvicorn without its own signal handling: the service decides how to shut down gracefully."""

    @contextmanager
    def capture_signals(self) -> Any:
        yield


def build_server(app: Starlette, host: str, port: int) -> Server:
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False)
    return Server(config)
