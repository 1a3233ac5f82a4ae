"""Wiring of the consultation service: the commands it takes on consultation.commands and who
may send each, what it publishes, its scheduled jobs and its HTTP API. Intake is not a command:
content comes in over HTTP only (api.py)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from fastapi import APIRouter

from contracts.consultation import (
    COMMAND_REJECTIONS,
    AssignCase,
    ClassifyCase,
    CloseCase,
    EndReferral,
    LogInquiry,
    OpenFollowUp,
    ReferCase,
    ReopenCase,
    StartHearing,
    StartWork,
)
from contracts.topics import CONSULTATION_COMMANDS, CONSULTATION_EVENTS, NOTIFY_COMMANDS
from services.consultation import access, api
from services.consultation.expert_api import build_expert_router
from services.consultation.handlers import ConsultationHandlers
from services.consultation.jobs import job_handlers, plan_sweeps
from services.consultation.metrics import DeskMetrics
from services.consultation.settings import ConsultationSettings
from services.registry import service
from services.runtime.consumer import Routes, Subscription
from services.runtime.identity import Signer
from services.runtime.schedule import JobHandler
from services.runtime.service import ServiceContext, ServiceSpec

HTTP_PORT = service("consultation").http_port


def build_spec(
    settings: ConsultationSettings | None = None, signer: Signer | None = None
) -> ServiceSpec:
    """The service; outside DEVELOPMENT=1 it does not start without CONSULTATION_SEALING_KEYS,
    nor without its own signing key (TOKEN_SIGNING_KEY_FILE)."""
    settings = settings or ConsultationSettings.from_env()
    h = ConsultationHandlers(settings, signer or Signer.load("consultation"))

    def bind(ctx: ServiceContext) -> DeskMetrics:
        h.metrics = DeskMetrics.of(ctx.metrics)
        return h.metrics

    def routers(ctx: ServiceContext) -> list[APIRouter]:
        bind(ctx)
        return [api.build_router(ctx, settings, h), build_expert_router(ctx, settings)]

    def jobs(ctx: ServiceContext) -> Mapping[str, JobHandler]:
        return job_handlers(settings, bind(ctx), h.signer)

    async def sweeps(ctx: ServiceContext) -> None:
        await plan_sweeps(ctx.pool, settings)

    return ServiceSpec(
        name="consultation",
        default_http_port=HTTP_PORT,
        migrations=Path(__file__).parent / "migrations",
        subscriptions=[
            Subscription(
                CONSULTATION_COMMANDS,
                Routes()
                .on(StartHearing, h.start_hearing, allow=access.DESK)
                .on(ClassifyCase, h.classify, allow=access.DESK)
                .on(AssignCase, h.assign, allow=access.DESK)
                .on(StartWork, h.start_work, allow=access.DESK)
                .on(ReferCase, h.refer, allow=access.DESK)
                .on(EndReferral, h.end_referral, allow=access.DESK)
                .on(CloseCase, h.close, allow=access.DESK)
                .on(ReopenCase, h.reopen, allow=access.DESK)
                .on(OpenFollowUp, h.open_follow_up, allow=access.DESK)
                .on(LogInquiry, h.log_inquiry, allow=access.DESK),
                rejections=COMMAND_REJECTIONS,
                answers_on=CONSULTATION_EVENTS,
            )
        ],
        produces=[CONSULTATION_EVENTS],
        sends=[NOTIFY_COMMANDS],  # the acknowledgement of a case and expert reminders
        workers=[sweeps],
        routers=routers,
        jobs=jobs,
    )
