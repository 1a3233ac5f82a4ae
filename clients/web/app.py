"""The web client: the center's public pages and the staff's, served as HTML by the server
(FastAPI and Jinja2, as the services use them), working without JavaScript.

It is the browser's edge (backend for frontend): it holds identity's opaque session in its own
HttpOnly cookie, asks identity for short-lived tokens, reads the services' HTTP routes with
them, and publishes commands to Kafka as the `web` principal with the person's token as proof
(clients/commands.py). It decides nothing the services decide: what is free, whether a booking
stands and why not all come from booking, and are shown in Japanese or English.

`create_app(settings)` builds it; `python -m clients.web` serves it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode
from uuid import UUID

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from clients.commands import CommandClient
from clients.upstream import Upstream
from clients.web import i18n, security
from clients.web.booking import Booking
from clients.web.consultation import Consultation, Desk
from clients.web.identity import Identity, Signed
from clients.web.notify import Notify
from clients.web.programs import Programs
from clients.web.report_data import Reports, Source
from clients.web.settings import WebSettings
from contracts.booking import booking_event_adapter
from contracts.consultation import consultation_event_adapter
from contracts.envelope import Message
from contracts.notify import notify_event_adapter
from contracts.program import program_event_adapter
from contracts.topics import (
    BOOKING_COMMANDS,
    BOOKING_EVENTS,
    CONSULTATION_COMMANDS,
    CONSULTATION_EVENTS,
    NOTIFY_COMMANDS,
    NOTIFY_EVENTS,
    PROGRAM_COMMANDS,
    PROGRAM_EVENTS,
)
from services.runtime.http import client_of
from services.runtime.probes import KafkaProbe

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
BROWSER_COOKIE = "browser"
START_RETRY_S = 2.0


class Commands(Protocol):
    """What the pages need of a command client (clients/commands.py, CommandClient)."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def publish(self, cmd: Message, token: str | None) -> None: ...
    async def answer(self, request_id: UUID, token: str, wait: float) -> Any: ...


@dataclass
class Parts:
    """What the routes use, made once per process."""

    settings: WebSettings
    identity: Identity
    booking: Booking
    commands: Commands | None
    templates: Jinja2Templates
    metrics: CollectorRegistry
    pages: Counter
    ready: bool = False
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # what keeps the web from taking commands now (Kafka silent), None when nothing does
    kafka_problem: Callable[[], str | None] = lambda: None
    consultation: Consultation | None = None  # its public intake (the consultation form)
    notify: Notify | None = None  # the newsletter's subscription, preview and progress
    notify_commands: Commands | None = None  # newsletter.publish, with the editor's token
    reports: Reports | None = None  # the services' staff reports
    desk: Desk | None = None  # the consultation service's staff routes
    consultation_commands: Commands | None = None  # the desk's steps, with the staff's token
    programs: Programs | None = None  # the events service's public reads
    program_commands: Commands | None = None  # the kiosk's event check-in, with its token

    @property
    def session_cookie(self) -> str:
        return "__Host-ycc_web" if self.settings.secure_cookies else "ycc_web"


@dataclass
class Visit:
    """One request as the pages see it: the language, this browser, the session and who it
    is, and what the answer must set."""

    request: Request
    parts: Parts
    language: str
    texts: i18n.Texts
    browser_id: str
    new_browser: bool
    session: str | None
    signed: Signed | None = None
    set_session: str | None = None
    clear_session: bool = False

    @property
    def client(self) -> str:
        return client_of(self.request)

    def csrf(self) -> str:
        session = self.set_session or self.session
        return security.csrf_token(self.parts.settings.secret_key, self.browser_id, session)

    def switch_url(self) -> str:
        other = "en" if self.language == "ja" else "ja"
        query = {**self.request.query_params, "lang": other}
        return f"{self.request.url.path}?{urlencode(query)}"

    def finish(self, response: Response) -> Response:
        """The cookies this visit must set on its answer."""
        settings = self.parts.settings
        secure = settings.secure_cookies
        if self.new_browser:
            response.set_cookie(BROWSER_COOKIE, self.browser_id, max_age=400 * 86400, path="/",
                                httponly=True, samesite="lax", secure=secure)  # fmt: skip
        if self.request.query_params.get("lang") in i18n.LANGUAGES:
            response.set_cookie(i18n.COOKIE, self.language, max_age=365 * 86400, path="/",
                                httponly=True, samesite="lax", secure=secure)  # fmt: skip
        if self.set_session:
            response.set_cookie(self.parts.session_cookie, self.set_session, max_age=12 * 3600,
                                path="/", httponly=True, samesite="lax", secure=secure)  # fmt: skip
        elif self.clear_session:
            response.delete_cookie(self.parts.session_cookie, path="/", httponly=True,
                                   samesite="lax", secure=secure)  # fmt: skip
        if self.session or self.set_session:
            response.headers["Cache-Control"] = "no-store"
        return response

    def render(self, template: str, status: int = 200, **context: Any) -> Response:
        response = self.parts.templates.TemplateResponse(
            self.request,
            template,
            {"t": self.texts, "lang": self.language, "visit": self, "who": self.signed
             and self.signed.who, **context},
            status_code=status,
        )  # fmt: skip
        return self.finish(response)


async def visit_of(request: Request) -> Visit:
    parts: Parts = request.app.state.parts
    language = i18n.language_of(request)
    browser = request.cookies.get(BROWSER_COOKIE)
    session = request.cookies.get(parts.session_cookie) or None
    visit = Visit(request, parts, language, i18n.Texts(language),
                  browser or security.new_browser_id(), browser is None, session)  # fmt: skip
    if session:
        visit.signed = await parts.identity.signed(session, visit.client)
        if visit.signed is None:  # ended (signed out elsewhere, idle, suspended): forget it
            visit.session, visit.clear_session = None, True
    return visit


def build_parts(settings: WebSettings) -> Parts:
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.autoescape = True  # every page escapes what it shows, whatever the file name
    metrics = CollectorRegistry()
    pages = Counter("web_pages_total", "pages answered, by route and status",
                    ["route", "status"], registry=metrics)  # fmt: skip
    identity_http = Upstream(settings.identity_url, timeout=15)
    booking_http = Upstream(settings.booking_url, timeout=15)
    consultation_http = Upstream(settings.consultation_url or "http://127.0.0.1", timeout=15)
    notify_http = Upstream(settings.notify_url or "http://127.0.0.1", timeout=15)
    events_http = Upstream(settings.events_url or "http://127.0.0.1", timeout=30)
    reports = Reports({
        "occupancy": Source(booking_http, "/reports/occupancy"),
        "participants": Source(events_http, "/reports/participants"),
        "topics": Source(consultation_http, "/reports/topics"),
    })  # fmt: skip
    return Parts(settings, Identity(identity_http, settings.token_reuse_s), Booking(booking_http),
                 None, templates, metrics, pages,
                 closers=[identity_http.aclose, booking_http.aclose, consultation_http.aclose,
                          notify_http.aclose, events_http.aclose],
                 consultation=Consultation(consultation_http),
                 notify=Notify(notify_http), reports=reports,
                 desk=Desk(consultation_http), programs=Programs(events_http))  # fmt: skip


def booking_commands(settings: WebSettings) -> Commands:
    """Booking's commands, published as the `web` principal; answers read over HTTP from
    booking (this client may read no events topic). Made inside the running loop."""
    client: CommandClient[Any] = CommandClient(
        settings.kafka_bootstrap, BOOKING_COMMANDS, BOOKING_EVENTS, booking_event_adapter,
        sender=settings.kafka_credentials, answers_url=settings.booking_url,
    )  # fmt: skip
    return client


def notify_commands(settings: WebSettings) -> Commands:
    """notify's commands (the newsletter an editor publishes), answers read over HTTP from
    notify. Made inside the running loop."""
    client: CommandClient[Any] = CommandClient(
        settings.kafka_bootstrap, NOTIFY_COMMANDS, NOTIFY_EVENTS, notify_event_adapter,
        sender=settings.kafka_credentials, answers_url=settings.notify_url or None,
    )  # fmt: skip
    return client


def consultation_commands(settings: WebSettings) -> Commands:
    """The desk's steps on a case, answers read over HTTP from the consultation service."""
    client: CommandClient[Any] = CommandClient(
        settings.kafka_bootstrap, CONSULTATION_COMMANDS, CONSULTATION_EVENTS,
        consultation_event_adapter, sender=settings.kafka_credentials,
        answers_url=settings.consultation_url or None,
    )  # fmt: skip
    return client


def program_commands(settings: WebSettings) -> Commands:
    """The events service's commands (the kiosk's event check-in), answers over HTTP."""
    client: CommandClient[Any] = CommandClient(
        settings.kafka_bootstrap, PROGRAM_COMMANDS, PROGRAM_EVENTS, program_event_adapter,
        sender=settings.kafka_credentials, answers_url=settings.events_url or None,
    )  # fmt: skip
    return client


async def _connected(make: Callable[[], Commands]) -> Commands:
    """A command client that has started: a new one for each try (one that failed to start
    has closed what it opened)."""
    while True:
        client = make()
        try:
            await client.start()
        except Exception as error:
            log.warning("cannot reach Kafka yet (%s); trying again", type(error).__name__)
            await asyncio.sleep(START_RETRY_S)
            continue
        return client


async def _start_commands(parts: Parts) -> None:
    """Connect to Kafka, again and again until it answers: the pages that only read work
    meanwhile, and /readyz says not ready."""
    if parts.commands is None:
        parts.commands = booking_commands(parts.settings)
    while True:
        try:
            await parts.commands.start()
        except Exception as error:  # Kafka not there yet, or a refused login: say, try again
            log.warning("cannot reach Kafka yet (%s); trying again", type(error).__name__)
            await asyncio.sleep(START_RETRY_S)
            continue
        if parts.notify_commands is None:
            parts.notify_commands = await _connected(lambda: notify_commands(parts.settings))
        if parts.consultation_commands is None:
            parts.consultation_commands = await _connected(
                lambda: consultation_commands(parts.settings)
            )
        if parts.program_commands is None:
            parts.program_commands = await _connected(lambda: program_commands(parts.settings))
        probe = (KafkaProbe(parts.commands.producer)
                 if isinstance(parts.commands, CommandClient) else None)  # fmt: skip
        if probe is not None:
            parts.kafka_problem = probe.problem
        parts.ready = True
        if probe is not None:
            await probe.run()  # until the process stops: readiness follows the broker
        return


def create_app(settings: WebSettings, parts: Parts | None = None) -> FastAPI:
    from clients.web import (  # they import Visit
        apply,
        back_office,
        consult,
        desk,
        kiosk,
        newsletter,
        program_office,
        program_pages,
        reports,
        routes,
    )

    made = parts or build_parts(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        starting = asyncio.create_task(_start_commands(made))
        try:
            yield
        finally:
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
            for commands in (
                made.commands,
                made.notify_commands,
                made.consultation_commands,
                made.program_commands,
            ):
                if commands is not None:
                    await commands.stop()
            for close in made.closers:
                await close()

    app = FastAPI(title="web client", redirect_slashes=False, lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None)  # fmt: skip
    app.state.parts = made
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.middleware("http")
    async def headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        for name, value in security.HEADERS.items():
            response.headers.setdefault(name, value)
        route = request.scope.get("route")
        made.pages.labels(getattr(route, "path", "(none)"), str(response.status_code)).inc()
        return response

    @app.exception_handler(StarletteHTTPException)
    async def error_page(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        visit = await visit_of(request)
        key = {403: "error.forbidden", 404: "error.not_found"}.get(exc.status_code,
                                                                    "error.general")  # fmt: skip
        return visit.render("error.html", exc.status_code, message=visit.texts(key))

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "alive"})

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        """Ready while Kafka takes commands (a broker silent for a while makes it not ready,
        as it does the services); the services' pages say when one of them is away."""
        if not made.ready:
            return JSONResponse({"status": "connecting to Kafka"}, status_code=503)
        if (problem := made.kafka_problem()) is not None:
            return JSONResponse({"status": problem}, status_code=503)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(made.metrics), media_type=CONTENT_TYPE_LATEST)

    app.include_router(routes.router)
    app.include_router(consult.router)
    app.include_router(newsletter.router)
    app.include_router(reports.router)
    app.include_router(desk.router)
    app.include_router(kiosk.router)
    app.include_router(program_pages.router)
    app.include_router(back_office.router)
    app.include_router(apply.router)
    app.include_router(program_office.router)
    return app
