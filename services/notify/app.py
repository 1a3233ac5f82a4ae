"""Wiring of the notify service: the events it reads, the e-mail each queues, the SMTP sender."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import Counter

from contracts.booking import OrganisationRegistered, ReservationConfirmed, ReservationRejected
from contracts.topics import BOOKING_EVENTS
from services.notify import handlers
from services.notify.sender import Sender, SenderSettings
from services.runtime.consumer import Subscription
from services.runtime.service import ServiceContext, ServiceSpec

HTTP_PORT = 8082


async def run_sender(ctx: ServiceContext) -> None:
    outcomes = Counter(
        "emails_total",
        "E-mail delivery attempts by outcome (sent, temporary, permanent, gave_up).",
        ["outcome"],
        registry=ctx.metrics.registry,
    )
    await Sender(ctx.pool, SenderSettings.from_env(), outcomes).run()


def build_spec() -> ServiceSpec:
    return ServiceSpec(
        name="notify",
        default_http_port=HTTP_PORT,
        migrations=Path(__file__).parent / "migrations",
        subscriptions=[
            Subscription(
                BOOKING_EVENTS,
                {
                    OrganisationRegistered: handlers.on_organisation_registered,
                    ReservationConfirmed: handlers.on_reservation_confirmed,
                    ReservationRejected: handlers.on_reservation_rejected,
                },
                ignore_unknown_types=True,
            )
        ],
        workers=[run_sender],
    )
