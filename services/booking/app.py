"""Wiring of the booking service: what it consumes, which handler takes each command, what it
publishes, its scheduled jobs and read routes. The one place to read to know what the service
does on Kafka."""

from __future__ import annotations

from pathlib import Path

from contracts.booking import (
    COMMAND_REJECTIONS,
    CancelReservation,
    CloseRegistrationRequest,
    LabCheckIn,
    LabCheckOut,
    LiftBlackout,
    RegisterOrganisation,
    ReinstateOrganisation,
    RenewOrganisation,
    RequestOrganisationRegistration,
    RequestReservation,
    SetBlackout,
    SuspendOrganisation,
    UpdateOrganisation,
)
from contracts.topics import BOOKING_COMMANDS, BOOKING_EVENTS
from services.booking import access
from services.booking.api import build_routers
from services.booking.days import evening_planner, job_handlers
from services.booking.handlers import BookingHandlers
from services.booking.settings import BookingSettings
from services.registry import service
from services.runtime.consumer import Routes, Subscription
from services.runtime.service import ServiceContext, ServiceSpec

HTTP_PORT = service("booking").http_port


def build_spec(settings: BookingSettings | None = None) -> ServiceSpec:
    settings = settings or BookingSettings.from_env()
    h = BookingHandlers(settings)

    async def plan_evenings(ctx: ServiceContext) -> None:
        await evening_planner(ctx.pool, settings)

    return ServiceSpec(
        name="booking",
        default_http_port=HTTP_PORT,
        migrations=Path(__file__).parent / "migrations",
        subscriptions=[
            Subscription(
                BOOKING_COMMANDS,
                Routes()
                .on(RegisterOrganisation, h.register_organisation, allow=access.REGISTER)
                .on(
                    RequestOrganisationRegistration,
                    h.request_registration,
                    allow=access.REQUEST_REGISTRATION,
                )
                .on(
                    CloseRegistrationRequest,
                    h.close_registration_request,
                    allow=access.CLOSE_REQUEST,
                )
                .on(UpdateOrganisation, h.update_organisation, allow=access.UPDATE)
                .on(RenewOrganisation, h.renew_organisation, allow=access.RENEW)
                .on(SuspendOrganisation, h.suspend_organisation, allow=access.SUSPEND)
                .on(ReinstateOrganisation, h.reinstate_organisation, allow=access.REINSTATE)
                .on(
                    RequestReservation,
                    h.request_reservation,
                    allow=access.REQUEST,
                    bulk=h.request_reservations,
                )
                .on(CancelReservation, h.cancel_reservation, allow=access.CANCEL)
                .on(SetBlackout, h.set_blackout, allow=access.BLACKOUT)
                .on(LiftBlackout, h.lift_blackout, allow=access.BLACKOUT)
                .on(LabCheckIn, h.lab_check_in, allow=access.LAB)
                .on(LabCheckOut, h.lab_check_out, allow=access.LAB),
                rejections=COMMAND_REJECTIONS,
                answers_on=BOOKING_EVENTS,
            )
        ],
        produces=[BOOKING_EVENTS],
        workers=[plan_evenings],
        routers=lambda ctx: build_routers(ctx, settings),
        jobs=lambda ctx: job_handlers(settings),
    )
