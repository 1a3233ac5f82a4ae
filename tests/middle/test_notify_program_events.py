"""Notify's handlers of program events on its consumer path (tests/harness.py): a confirmation
queues its e-mail and a reminder per session; the reminder follows a moved session and comes
once when due; a cancellation withdraws the reminders; the online join link reaches online
registrants only; a refused registration is told why, without flooding a mailbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from contracts.notify import Language
from contracts.program import (
    Frame,
    HeldSession,
    ProgramRejectionReason,
    Registrant,
    RegistrationCancelled,
    RegistrationConfirmed,
    RegistrationRejected,
    SessionChanged,
    Venue,
)
from services.notify import programs
from tests.harness import ServiceHarness
from tests.support import unique_email

pytestmark = pytest.mark.middle

LINK = "https://meet.example.org/ycc"
ZONE = ZoneInfo("Asia/Tokyo")
START = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)


def confirmed(email: str, frame: Frame) -> RegistrationConfirmed:
    week = timedelta(days=7)
    sessions = [HeldSession(session_id=uuid4(), number=n + 1, starts_at=START + n * week,
                            ends_at=START + n * week + timedelta(hours=2), venue=Venue.AB,
                            join_url=LINK if frame is Frame.ONLINE else None)
                for n in range(2)]  # fmt: skip
    return RegistrationConfirmed(
        message_id=uuid4(), request_id=uuid4(), registration_id=uuid4(), program_id=uuid4(),
        program_title="市民活動はじめて講座", frame=frame, party_size=1, sessions=sessions,
        registrant=Registrant(name="山田 花子", email=email, language=Language.JA),
        check_in_code="K7QW3ZPA", cancel_token="tok.en",
    )  # fmt: skip


async def queued(notify: ServiceHarness, recipient: str) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await notify.pool.fetch(
        "SELECT kind, subject, body_text FROM deliveries WHERE recipient = $1 ORDER BY id",
        recipient,
    )
    return rows


async def reminders(notify: ServiceHarness, registration_id: UUID) -> list[str]:
    rows = await notify.pool.fetch(
        "SELECT status FROM scheduled_jobs WHERE kind = 'reminder.registration'"
        " AND key LIKE $1 ORDER BY key", f"{registration_id}:%",
    )  # fmt: skip
    return [r["status"] for r in rows]


async def test_a_confirmation_is_mailed_with_a_reminder_per_session(notify: ServiceHarness) -> None:
    online, onsite = unique_email(), unique_email()
    event = confirmed(online, Frame.ONLINE)
    await notify.send(event)
    await notify.send(confirmed(onsite, Frame.ONSITE))
    (mail,) = await queued(notify, online)
    assert mail["kind"] == "registration_confirmed" and LINK in mail["body_text"]
    assert LINK not in (await queued(notify, onsite))[0]["body_text"]
    assert await reminders(notify, event.registration_id) == ["pending", "pending"]


async def test_cancelling_withdraws_the_reminders(notify: ServiceHarness) -> None:
    email = unique_email()
    event = confirmed(email, Frame.ONSITE)
    await notify.send(event)
    await notify.send(RegistrationCancelled(
        message_id=uuid4(), request_id=uuid4(), registration_id=event.registration_id,
        program_id=event.program_id, program_title=event.program_title,
        registrant=event.registrant, session_ids=[s.session_id for s in event.sessions],
    ))  # fmt: skip
    assert [m["kind"] for m in await queued(notify, email)] == [
        "registration_confirmed", "registration_ended"]  # fmt: skip
    assert await reminders(notify, event.registration_id) == ["cancelled", "cancelled"]


async def test_a_reminder_follows_its_moved_session_and_comes_once(notify: ServiceHarness) -> None:
    email = unique_email()
    event = confirmed(email, Frame.ONLINE)
    await notify.send(event)
    first = event.sessions[0]
    later = first.starts_at + timedelta(days=1)
    registrant = event.registrant.model_copy(update={"registration_id": event.registration_id,
                                                     "frame": Frame.ONLINE})  # fmt: skip
    await notify.send(SessionChanged(
        message_id=uuid4(), request_id=uuid4(), program_id=event.program_id,
        session_id=first.session_id, starts_at=later, ends_at=later + timedelta(hours=2),
        venue=Venue.AB, moved=True, registrants=[registrant], program_title="講座", number=1,
    ))  # fmt: skip
    assert (await queued(notify, email))[-1]["kind"] == "program_notice"
    await notify.pool.execute("UPDATE scheduled_jobs SET due_at = now() WHERE key = $1",
                              f"{event.registration_id}:{first.session_id}")  # fmt: skip
    await notify.run_due_jobs()
    async with notify.instance() as restarted:
        await restarted.run_due_jobs()
    (reminder,) = [m for m in await queued(notify, email) if m["kind"] == "registration_reminder"]
    local = later.astimezone(ZONE)
    assert f"{local:%Y-%m-%d}" in reminder["body_text"] and LINK in reminder["body_text"]


async def test_a_refused_registration_is_mailed_once_and_at_most_five_a_day_per_address(
    notify: ServiceHarness,
) -> None:
    email = unique_email()
    registrant = Registrant(name="山田 花子", email=email, language=Language.JA)

    def refused() -> RegistrationRejected:
        return RegistrationRejected(
            message_id=uuid4(), request_id=uuid4(), program_id=uuid4(),
            program_title="ミズベサロン", registrant=registrant,
            reason=ProgramRejectionReason.DUPLICATE, detail="x",
        )  # fmt: skip

    first = refused()
    await notify.send(first)
    await notify.send(first)  # redelivered: one mail
    (mail,) = await queued(notify, email)
    assert mail["kind"] == "registration_rejected"
    assert "すでに申し込まれています" in mail["body_text"]
    for _ in range(8):  # the same refused request again and again: no flood
        await notify.send(refused())
    assert len(await queued(notify, email)) == programs.REJECTIONS_MAX_PER_DAY
