"""Reservation reminders on the real stack: scheduled from `reservation.confirmed`, kept across a
restart of the notify service, sent once; cancelled by `reservation.cancelled`, never sent.

The booking events are published here directly, as the booking service would, with addresses of
this test's own, so the reminder path is tested whatever the state of the booking service."""

from __future__ import annotations

from uuid import UUID, uuid4

import asyncpg
import pytest

from contracts.booking import (
    Channel,
    Contact,
    Reservation,
    ReservationCancelled,
    ReservationConfirmed,
    SpaceId,
)
from tests.notify_support import publish, wait_until
from tests.support import DAYS, System, at, unique_email

pytestmark = pytest.mark.stack


def confirmed(email: str) -> ReservationConfirmed:
    day = DAYS.next()
    return ReservationConfirmed(
        message_id=uuid4(),
        request_id=uuid4(),
        reservation_id=uuid4(),
        reservation=Reservation(
            organisation_id=uuid4(),
            space=SpaceId.B,
            starts_at=at(day, 13),
            ends_at=at(day, 15),
            attendees=8,
            purpose="定例会",
            atrium=False,
            channel=Channel.WEB,
        ),
        contact=Contact(name="佐藤 一郎", email=email),
    )


async def job_status(system: System, reservation_id: UUID) -> str | None:
    conn = await asyncpg.connect(system.dsn("notify"))
    try:
        status: str | None = await conn.fetchval(
            "SELECT status FROM scheduled_jobs WHERE kind = 'reminder.reservation' AND key = $1",
            str(reservation_id),
        )
        return status
    finally:
        await conn.close()


async def make_due(system: System, reservation_id: UUID) -> None:
    conn = await asyncpg.connect(system.dsn("notify"))
    try:
        await conn.execute(
            "UPDATE scheduled_jobs SET due_at = now()"
            " WHERE kind = 'reminder.reservation' AND key = $1",
            str(reservation_id),
        )
    finally:
        await conn.close()


def reminders(system: System, email: str) -> int:
    return sum("明日" in str(m["Subject"]) for m in system.mails_to(email))


async def test_a_reminder_survives_a_restart_and_fires_once(system: System) -> None:
    email = unique_email()
    event = confirmed(email)
    await publish(system.stack.kafka_bootstrap, "booking.events", "b", event)
    await wait_until(lambda: job_status(system, event.reservation_id), 30, "reminder scheduled")
    assert await job_status(system, event.reservation_id) == "pending"

    system.stack.stop_component("notify")
    system.start("notify")
    await make_due(system, event.reservation_id)
    await wait_until(lambda: reminders(system, email) >= 1, 30, "the reminder")
    mails = await system.wait_for_mails(email, 2, timeout=5)  # confirmation + reminder
    assert reminders(system, email) == 1 and len(mails) == 2
    assert await job_status(system, event.reservation_id) == "done"
    reminder = next(m for m in mails if "明日" in str(m["Subject"])).get_body(("plain",))
    assert reminder is not None
    assert event.reservation.starts_at.strftime("%Y-%m-%d") in reminder.get_content()


async def test_a_cancelled_reservation_gets_no_reminder(system: System) -> None:
    email = unique_email()
    event = confirmed(email)
    await publish(system.stack.kafka_bootstrap, "booking.events", "b", event)
    await wait_until(lambda: job_status(system, event.reservation_id), 30, "reminder scheduled")
    cancelled = ReservationCancelled(
        message_id=uuid4(), request_id=uuid4(), reservation_id=event.reservation_id,
        reservation=event.reservation, cancelled_by=Channel.WEB, contact=event.contact,
    )  # fmt: skip
    await publish(system.stack.kafka_bootstrap, "booking.events", "b", cancelled)

    async def is_cancelled() -> bool:
        return await job_status(system, event.reservation_id) == "cancelled"

    await wait_until(is_cancelled, 30, "reminder cancelled")
    await make_due(system, event.reservation_id)
    await system.wait_for_mails(email, 3, timeout=4)  # confirmation + cancellation, no reminder
    assert reminders(system, email) == 0
    assert await job_status(system, event.reservation_id) == "cancelled"
