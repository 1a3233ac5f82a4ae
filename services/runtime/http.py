"""The HTTP side every service shares: /metrics, /healthz (alive), /readyz (able to work), plus the
service's own read routes, with an OpenAPI document at /openapi.json and /docs.

Every answer that is not a success has one body shape, `ErrorBody` (`{"error": ...}`, with the
framework's error list under `details` for a bad request), whoever produced it: a bad parameter
(400, "query parameter 'from': ..." rather than the framework's raw 422 list), an unknown route
or id (404), a body too large (413), a client asking too often (429), or a bug (500, logged
without echoing the request). The OpenAPI document says so, route by route, so a client or a
fuzzer can check every answer against it.

A path with a trailing slash is not redirected: a redirect would be built from the Host header
the client sent, and so would send a person wherever a forged link says. It is a 404.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import re
import time
import traceback
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from typing import Annotated, Any, Protocol

import asyncpg
import uvicorn
from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contracts.envelope import EARLIEST_YEAR, LATEST_YEAR
from services.runtime.http_auth import PUBLIC, UnclassifiedRoutes, unclassified
from services.runtime.metrics import Metrics

log = logging.getLogger(__name__)

LOCATIONS = {"query": "query parameter", "path": "path parameter", "body": "field"}

# No route takes more than a small JSON object; a larger body is refused before it is read whole.
MAX_BODY_BYTES = 16 * 1024
# Days a route accepts: the years a message may carry (contracts/envelope.py), wide enough for
# anything the center plans, narrow enough that arithmetic on them (the day after, midnight in
# Tokyo as UTC) and PostgreSQL's timestamptz never overflow.
FIRST_DAY = date(EARLIEST_YEAR, 1, 1)
LAST_DAY = date(LATEST_YEAR, 12, 31)
ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
# Clients a rate limit remembers; the least recently seen are forgotten first, so a flood of
# addresses costs bounded memory (a forgotten client starts again with a full bucket).
MAX_CLIENTS = 10_000


class ErrorDetail(BaseModel):
    loc: list[str | int] = Field(description="where: query, path or body, then the name")
    msg: str
    type: str


class ErrorBody(BaseModel):
    """What every service answers when it does not do what was asked."""

    error: str = Field(description="what went wrong, in words a person can read")
    details: list[ErrorDetail] | None = Field(
        default=None, description="for a bad request: each problem, for programs"
    )


class Status(BaseModel):
    status: str = Field(description="alive, ready, or why the service is not ready")


class ReadinessCheck(Protocol):
    async def check(self) -> tuple[bool, str]: ...


ERROR_TEXT = {
    400: "A parameter or the body is not valid; `error` names it.",
    401: "No proof of who calls, or a token that proves nothing (`WWW-Authenticate` says which).",
    403: "The caller the token proves may not call this route.",
    404: "No such route or no such thing.",
    405: "The route does not take this method.",
    413: f"The body is larger than {MAX_BODY_BYTES} bytes.",
    429: "Too many requests from this client; `Retry-After` says how many seconds to wait.",
    500: "An unexpected fault of the service (a bug); nothing about the request is echoed.",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the error answers a route gives besides the ones every route
    has (see `document_errors`)."""
    return {code: {"model": ErrorBody, "description": ERROR_TEXT[code]} for code in codes}


def error_response(
    status: int, message: str, details: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:  # fmt: skip
    body: dict[str, Any] = {"error": message}
    if details is not None:
        body["details"] = details
    return JSONResponse(body, status_code=status, headers=headers)


def _iso_day(value: object) -> object:
    """A day is written YYYY-MM-DD and nothing else: left alone, the parser would also take a
    bare number (as a Unix time) or a date-time at midnight for a day."""
    if isinstance(value, str) and not ISO_DAY.fullmatch(value):
        raise ValueError("a day is written YYYY-MM-DD")
    return value


def _sane_day(value: date) -> date:
    if not FIRST_DAY <= value <= LAST_DAY:
        raise ValueError(f"a day from {FIRST_DAY} to {LAST_DAY}")
    return value


# A day as a route takes it: YYYY-MM-DD, from FIRST_DAY to LAST_DAY.
Day = Annotated[date, BeforeValidator(_iso_day), AfterValidator(_sane_day)]


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
    return error_response(400, readable(errors), details)


async def http_error(_: Request, exc: Exception) -> Response:
    """The framework's own answers (unknown route, wrong method, a route's HTTPException) in
    the shape of every other error, keeping their headers (Allow, Retry-After)."""
    assert isinstance(exc, StarletteHTTPException)
    return error_response(exc.status_code, str(exc.detail), headers=exc.headers)


class Guard:
    """The outermost layer of a service's HTTP app: refuses bodies over MAX_BODY_BYTES (by their
    Content-Length, or as they stream in) and turns any exception that escaped a route into a
    500 with the error body. The log line names the exception's type, where it was raised and
    the route's template, but not the exception's text: that may quote the request (a database
    error quotes the value it could not store)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            await error_response(413, ERROR_TEXT[413])(scope, receive, send)
            return
        started = False
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > MAX_BODY_BYTES:  # answered by `http_error`, as any HTTPException
                raise HTTPException(413, ERROR_TEXT[413])
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except Exception as exc:
            log.error("unexpected %s at %s on %s %s", type(exc).__name__, raised_at(exc),
                      scope.get("method"), route_template(scope))  # fmt: skip
            if started:
                raise
            await error_response(500, "internal error")(scope, receive, send)


def raised_at(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"


def route_template(scope: Scope) -> str:
    """The matched route's template (/reservations/{reservation_id}), never the path itself."""
    route = scope.get("route")
    return str(getattr(route, "path", "(no route)"))


def proof_required(operation: Mapping[str, Any]) -> bool:
    """Whether an OpenAPI operation demands proof of who calls: it names security
    requirements, none of them the empty one (`{}`), which makes proof optional (identity's
    sign-out takes a session cookie when there is one, and answers without one as well)."""
    security = operation.get("security") or []
    return bool(security) and {} not in security


def document_errors(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """The OpenAPI document as the service answers: the framework documents a 422 with its own
    error list; ours is a 400 with ErrorBody, on every operation that takes parameters or a
    body; a 404 wherever a path parameter names something; a 401 and a 403 on every route
    that demands proof (services/runtime/http_auth.py); a 500 everywhere."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = get_openapi(title=app.title, version=app.version,
                               description=app.description, routes=app.routes)  # fmt: skip
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        for model in (ErrorBody, ErrorDetail):
            schemas[model.__name__] = model.model_json_schema(
                ref_template="#/components/schemas/{model}"
            )
            schemas[model.__name__].pop("$defs", None)
        error = {"schema": {"$ref": "#/components/schemas/ErrorBody"}}
        for operations in document["paths"].values():
            for operation in operations.values():
                responses = operation["responses"]
                responses.pop("422", None)
                places = {p["in"] for p in operation.get("parameters", [])}
                needed = {500}
                if places or "requestBody" in operation:
                    needed.add(400)
                if "path" in places:
                    needed.add(404)
                if "requestBody" in operation:
                    needed.add(413)
                if proof_required(operation):
                    needed.update((401, 403))
                for code in needed:  # besides what the route documents (an HTML page)
                    response = responses.setdefault(str(code), {"description": ERROR_TEXT[code]})
                    response.setdefault("content", {}).setdefault("application/json", error)
        app.openapi_schema = document
        return document

    return openapi


class RateLimit:
    """A token bucket per client: `burst` requests at once, then `per_minute` a minute. Kept in
    the process: each instance limits on its own, which bounds a client however requests are
    spread (instances times the rate)."""

    def __init__(
        self, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic,
        max_clients: int = MAX_CLIENTS,
    ) -> None:  # fmt: skip
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self.max_clients = max_clients
        self.buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self.buckets)

    def wait(self, client: str) -> float:
        """0 when the client may go on now (and its request is counted), else the seconds until
        it may."""
        now = self.clock()
        tokens, then = self.buckets.pop(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        waiting = 0.0 if tokens >= 1 else (1 - tokens) / self.rate if self.rate > 0 else math.inf
        self.buckets[client] = (tokens - 1 if waiting == 0 else tokens, now)
        while len(self.buckets) > self.max_clients:
            self.buckets.popitem(last=False)
        return waiting


def client_of(request: Request) -> str:
    """The client's address: the connection's, or what the local reverse proxy forwards
    (`build_server`); "unknown" when there is none (a Unix socket)."""
    return request.client.host if request.client else "unknown"


def counted_as(address: str) -> str:
    """What a client's requests are counted under (rate limits, lockouts): an IPv4 address
    alone, but an IPv6 address by its /64, since one host commonly holds a whole /64 and could
    otherwise spread its requests over 2**64 counts. Anything else (no address) as it is."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def limited(limit: RateLimit) -> Callable[[Request], Awaitable[None]]:
    """A route dependency: 429 with Retry-After once the client's bucket is empty. The client is
    the address the connection comes from (or, from the local reverse proxy only, the address
    it forwards), an IPv6 one by its /64 (`counted_as`)."""

    async def check(request: Request) -> None:
        waiting = limit.wait(counted_as(client_of(request)))
        if waiting > 0:
            seconds = max(1, math.ceil(min(waiting, 86_400)))
            raise HTTPException(429, f"too many requests; try again in {seconds} s",
                                headers={"Retry-After": str(seconds)})  # fmt: skip

    return check


class HeadAsGet:
    """HEAD is GET without the body (RFC 9110): health checkers and load balancers probe with
    it, and a 405 would mark a healthy service down. The headers are those of the GET."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, without_body)


def build_http_app(
    service: str,
    metrics: Metrics,
    readiness: ReadinessCheck,
    routers: Sequence[APIRouter] = (),
) -> FastAPI:
    app = FastAPI(title=f"{service} service", version="1.0.0", redirect_slashes=False)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_middleware(Guard)
    app.add_middleware(HeadAsGet)  # added last: the outermost layer

    # The operations routes are public: a service listens on loopback (HTTP_HOST, 127.0.0.1 by
    # default) where only Prometheus, the supervisor and the local proxy reach them; they tell
    # figures and health, never a person's data.
    @app.get("/metrics", include_in_schema=False, dependencies=[PUBLIC])
    async def metrics_endpoint() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", tags=["operations"], dependencies=[PUBLIC])
    async def healthz() -> Status:
        """The process is alive."""
        return Status(status="alive")

    @app.get("/readyz", tags=["operations"], response_model=Status, dependencies=[PUBLIC],
             responses={503: {"model": Status, "description": "not ready, and why"}})  # fmt: skip
    async def readyz() -> Response:
        """The service consumes, publishes and reaches its database."""
        ok, why = await readiness.check()
        return JSONResponse({"status": why}, status_code=200 if ok else 503)

    for router in routers:
        app.include_router(router)
    if missing := unclassified(app.routes):
        raise UnclassifiedRoutes(
            "every route must be PUBLIC or locked (services/runtime/http_auth.py); these are "
            "neither: " + ", ".join(missing)
        )
    app.openapi = document_errors(app)  # type: ignore[method-assign]
    return app


class Server(uvicorn.Server):
    """uvicorn without its own signal handling: the service decides how to shut down gracefully."""

    @contextmanager
    def capture_signals(self) -> Any:
        yield


def build_server(
    app: FastAPI, host: str, port: int, forwarded_allow_ips: str = "127.0.0.1"
) -> Server:
    """X-Forwarded-For is believed only from ``forwarded_allow_ips`` (FORWARDED_ALLOW_IPS: by
    default 127.0.0.1, the web client or a reverse proxy on the same host), so a client elsewhere
    cannot choose the address its rate limit is counted under."""
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False,
                            proxy_headers=True,
                            forwarded_allow_ips=forwarded_allow_ips)  # fmt: skip
    return Server(config)
