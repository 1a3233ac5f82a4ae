"""Wiring of the notify service: what it consumes, its scheduled jobs, the SMTP sender, the
newsletter metrics and its HTTP routes."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import APIRouter
from prometheus_client import CollectorRegistry, Counter, Gauge

from contracts.booking import (
    OrganisationRegistered,
    OrganisationUpdated,
    ReservationCancelled,
    ReservationConfirmed,
    ReservationRejected,
)
from contracts.identity import Role
from contracts.notify import (
    COMMAND_REJECTIONS,
    PublishNewsletter,
    RequestAcknowledgement,
    RequestExpertReminder,
    RequestSubscription,
)
from contracts.program import (
    ProgramCancelled,
    RegistrationCancelled,
    RegistrationConfirmed,
    RegistrationOffered,
    RegistrationOfferExpired,
    RegistrationPromoted,
    RegistrationRejected,
    RegistrationWaitlisted,
    SessionCancelled,
    SessionChanged,
)
from contracts.topics import BOOKING_EVENTS, NOTIFY_COMMANDS, NOTIFY_EVENTS, PROGRAM_EVENTS
from services.notify import api, domain, store
from services.notify.handlers import (
    FAN_OUT_JOB,
    REGISTRATION_REMINDER_JOB,
    REMINDER_JOB,
    Handlers,
)
from services.notify.monitor import run_monitor
from services.notify.sender import Sender, SenderSettings
from services.notify.settings import NotifySettings
from services.registry import service
from services.runtime.consumer import Routes, Subscription
from services.runtime.identity import anyone, service_account, staff
from services.runtime.periodic import every
from services.runtime.schedule import JobHandler
from services.runtime.service import ServiceContext, ServiceSpec
from services.runtime.settings import env_float, env_int

log = logging.getLogger(__name__)

HTTP_PORT = service("notify").http_port


EDITORS = staff(Role.NEWSLETTER_EDITOR)
CONSULTATION = service_account("consultation")


def build_spec() -> ServiceSpec:
    settings = NotifySettings.from_env(f"http://127.0.0.1:{env_int('HTTP_PORT', HTTP_PORT)}")
    handlers = Handlers(settings)

    async def run_sender(ctx: ServiceContext) -> None:
        outcomes = ctx.metrics.once(
            "emails_total",
            lambda registry: Counter(
                "emails_total",
                "E-mail delivery attempts by outcome (sent, temporary, permanent, gave_up,"
                " lease_lost: skipped because another sender's lease took the e-mail).",
                ["outcome"],
                registry=registry,
            ),
        )
        await Sender(ctx.pool, SenderSettings.from_env(), settings, outcomes).run()

    def routers(ctx: ServiceContext) -> list[APIRouter]:
        return api.build_routers(ctx, handlers)

    def jobs(ctx: ServiceContext) -> dict[str, JobHandler]:
        return {
            FAN_OUT_JOB: handlers.fan_out_newsletter,
            REMINDER_JOB: handlers.send_reminder,
            REGISTRATION_REMINDER_JOB: handlers.send_registration_reminder,
        }

    return ServiceSpec(
        name="notify",
        default_http_port=HTTP_PORT,
        migrations=Path(__file__).parent / "migrations",
        subscriptions=[
            Subscription(
                BOOKING_EVENTS,
                # only booking may write booking.events (the broker's ACLs): its events are
                # believed as they come
                Routes()
                .on(OrganisationRegistered, handlers.on_organisation_registered, allow=anyone)
                .on(OrganisationUpdated, handlers.on_organisation_updated, allow=anyone)
                .on(ReservationConfirmed, handlers.on_reservation_confirmed, allow=anyone)
                .on(ReservationRejected, handlers.on_reservation_rejected, allow=anyone)
                .on(ReservationCancelled, handlers.on_reservation_cancelled, allow=anyone),
                ignore_unknown_types=True,
            ),
            Subscription(
                NOTIFY_COMMANDS,
                Routes()
                .on(PublishNewsletter, handlers.on_publish_newsletter, allow=EDITORS)
                # double opt-in is the proof: only who reads the mailbox confirms it
                .on(RequestSubscription, handlers.on_subscription_requested, allow=anyone)
                # the consultation service alone, with the token it signs for itself; the
                # handler still caps it per address
                .on(
                    RequestAcknowledgement,
                    handlers.on_acknowledgement_requested,
                    allow=CONSULTATION,
                )
                .on(
                    RequestExpertReminder,
                    handlers.on_expert_reminder_requested,
                    allow=CONSULTATION,
                ),
                rejections=COMMAND_REJECTIONS,
                answers_on=NOTIFY_EVENTS,
            ),
            Subscription(
                PROGRAM_EVENTS,
                # registrants of the center's programs; only the events service may write
                # program.events (the broker's ACLs): its events are believed as they come
                Routes()
                .on(RegistrationConfirmed, handlers.on_registration_confirmed, allow=anyone)
                .on(RegistrationPromoted, handlers.on_registration_promoted, allow=anyone)
                .on(RegistrationWaitlisted, handlers.on_registration_waitlisted, allow=anyone)
                .on(RegistrationRejected, handlers.on_registration_rejected, allow=anyone)
                .on(RegistrationOffered, handlers.on_registration_offered, allow=anyone)
                .on(RegistrationOfferExpired, handlers.on_offer_expired, allow=anyone)
                .on(RegistrationCancelled, handlers.on_registration_cancelled, allow=anyone)
                .on(SessionChanged, handlers.on_session_changed, allow=anyone)
                .on(SessionCancelled, handlers.on_session_cancelled, allow=anyone)
                .on(ProgramCancelled, handlers.on_program_cancelled, allow=anyone),
                ignore_unknown_types=True,
            ),
        ],
        produces=[NOTIFY_EVENTS],
        workers=[
            run_sender,
            run_monitor,
            newsletter_metrics,
            finish_newsletters,
            expire_subscriptions,
        ],
        routers=routers,
        jobs=jobs,
    )


async def newsletter_metrics(ctx: ServiceContext) -> None:
    """Progress and open rate of the latest issues as gauges, refreshed every NEWSLETTER_STATS_S
    (2 s): what Prometheus and the dashboards show while an issue goes out."""
    gauges = ctx.metrics.once("newsletter", newsletter_gauges)

    async def refresh() -> None:
        for row in await store.recent_progress(ctx.pool):
            issue = str(row["id"])
            left = domain.seconds_left(row["remaining"], row["sent_last_10s"])
            values = {
                "recipients": row["recipients"] or 0,
                "sent": row["sent"],
                "failed": row["failed"],
                "remaining": row["remaining"],
                "opened": row["opened"],
                "open_rate": domain.open_rate(row["sent"], row["opened"]),
                "seconds_left": -1.0 if left is None else left,
            }
            for name, value in values.items():
                gauges[name].labels(issue).set(value)

    await every(env_float("NEWSLETTER_STATS_S", 2.0), refresh, "newsletter gauges")


def newsletter_gauges(registry: CollectorRegistry) -> dict[str, Gauge]:
    return {
        name: Gauge(f"newsletter_{name}", help_, ["issue"], registry=registry)
        for name, help_ in [
            ("recipients", "Deliveries queued for the issue."),
            ("sent", "E-mails of the issue accepted by the SMTP server."),
            ("failed", "E-mails of the issue given up on."),
            ("remaining", "E-mails of the issue still to send."),
            ("opened", "Recipients who opened the issue (tracking pixel)."),
            ("open_rate", "Opened / sent for the issue (target: 0.2 or more)."),
            ("seconds_left", "Estimated seconds until the issue is sent (-1: unknown)."),
        ]
    }


async def finish_newsletters(ctx: ServiceContext) -> None:
    """Every NEWSLETTER_FINISH_S (2 s), announce the issues whose deliveries are all settled."""

    async def finish() -> None:
        for event in await store.finish_issues(ctx.pool):
            log.info("newsletter %s finished: %d sent, %d failed of %d", event.issue_id,
                     event.sent, event.failed, event.recipients)  # fmt: skip

    await every(env_float("NEWSLETTER_FINISH_S", 2.0), finish, "finishing newsletters")


async def expire_subscriptions(ctx: ServiceContext) -> None:
    """Unconfirmed subscription requests are forgotten once their link has expired."""

    async def expire() -> None:
        if removed := await store.expire_unconfirmed(ctx.pool):
            log.info("forgot %d unconfirmed subscription requests", removed)

    await every(600, expire, "expiring subscription requests")
