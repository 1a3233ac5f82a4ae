"""Wiring of the identity service: what it learns from booking.events, its routes, its signer
and mailer, and the housekeeping of ended sessions, dead links and old attempts."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi import APIRouter

from contracts.booking import (
    OrganisationExpired,
    OrganisationRegistered,
    OrganisationReinstated,
    OrganisationRenewed,
    OrganisationSuspended,
    OrganisationUpdated,
)
from contracts.topics import BOOKING_EVENTS
from services.identity import admin, api, store
from services.identity.handlers import Handlers
from services.identity.mail import Mailer, SmtpMailer
from services.identity.settings import IdentitySettings
from services.registry import service
from services.runtime.consumer import Routes, Subscription
from services.runtime.http import RateLimit
from services.runtime.identity import PEOPLE_ISSUER, Signer, anyone
from services.runtime.periodic import every
from services.runtime.service import ServiceContext, ServiceSpec
from services.runtime.settings import env_float, env_int

HTTP_PORT = service("identity").http_port
FORGET_ATTEMPTS_AFTER = timedelta(days=1)
PURGE_EVERY_S = 600.0


def build_spec(
    settings: IdentitySettings | None = None,
    signer: Signer | None = None,
    mailer: Mailer | None = None,
) -> ServiceSpec:
    """The service; outside DEVELOPMENT=1 `Signer.load` refuses to go on without
    TOKEN_SIGNING_KEY_FILE, so the service does not start without its key."""
    settings = settings or IdentitySettings.from_env(
        f"http://127.0.0.1:{env_int('HTTP_PORT', HTTP_PORT)}"
    )
    signer = signer or Signer.load(PEOPLE_ISSUER)
    mailer = mailer or SmtpMailer(settings.smtp_host, settings.smtp_port, settings.smtp_timeout_s)
    handlers = Handlers(settings.clock)

    def routers(ctx: ServiceContext) -> list[APIRouter]:
        routes = api.SignInRoutes(ctx, settings, signer, mailer)
        device_limit = RateLimit(per_minute=env_float("DEVICE_TOKENS_PER_MINUTE", 30.0),
                                 burst=env_int("DEVICE_TOKENS_BURST", 10))  # fmt: skip
        sign_in_limit = RateLimit(per_minute=env_float("SIGN_INS_PER_MINUTE", 30.0),
                                  burst=env_int("SIGN_INS_BURST", 30))  # fmt: skip
        return [
            api.build_router(routes, sign_in_limit, device_limit),
            admin.build_router(ctx, routes.guards),
        ]

    async def housekeeping(ctx: ServiceContext) -> None:
        async def purge() -> None:
            now = settings.clock.now()
            await store.purge(ctx.pool, now - FORGET_ATTEMPTS_AFTER, now - settings.session.idle,
                              now - settings.session.absolute,
                              now - FORGET_ATTEMPTS_AFTER)  # fmt: skip

        await every(PURGE_EVERY_S, purge, "forgetting ended sessions and old attempts")

    return ServiceSpec(
        name="identity",
        default_http_port=HTTP_PORT,
        migrations=Path(__file__).parent / "migrations",
        subscriptions=[
            Subscription(
                BOOKING_EVENTS,
                # only booking may write booking.events (the broker's ACLs): its events are
                # trusted by who wrote them, not by a token
                Routes()
                .on(OrganisationRegistered, handlers.on_registered, allow=anyone)
                .on(OrganisationUpdated, handlers.on_updated, allow=anyone)
                .on(OrganisationSuspended, handlers.on_suspended, allow=anyone)
                .on(OrganisationReinstated, handlers.on_reinstated, allow=anyone)
                .on(OrganisationExpired, handlers.on_expired, allow=anyone)
                .on(OrganisationRenewed, handlers.on_renewed, allow=anyone),
                ignore_unknown_types=True,
            )
        ],
        workers=[housekeeping],
        routers=routers,
    )
