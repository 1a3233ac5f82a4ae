"""The events service on the real stack (Kafka, PostgreSQL, booking and notify running): a
session's venue is booked through booking and the session opens on its confirmation; a venue
booking refuses leaves the session unopened with booking's reason; cancelling the program gives
the venue back; registrations are answered over Kafka."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from uuid import UUID, uuid4

import pytest

from clients.commands import CommandClient
from contracts.booking import Channel, ReservationCancelled, ReservationConfirmed
from contracts.program import (
    CancelProgram,
    CreateProgram,
    Frame,
    FramePlan,
    ProgramEventT,
    ProgramKind,
    PublishProgram,
    RegistrationConfirmed,
    RequestRegistration,
    SessionOpened,
    SessionPlan,
    SessionVenueRejected,
    Venue,
    program_event_adapter,
)
from contracts.topics import PROGRAM_COMMANDS, PROGRAM_EVENTS
from services.notify import qr
from tests import identity_support
from tests.support import DAYS, System, at, credentials, topic_log, unique_email, wait_for_event

pytestmark = pytest.mark.stack


@pytest.fixture
async def programs(system: System) -> AsyncIterator[CommandClient[ProgramEventT]]:
    """Sends as the web client with each command's sender's proof; reads the answers as admin."""
    client: CommandClient[ProgramEventT] = CommandClient(
        system.stack.kafka_bootstrap, PROGRAM_COMMANDS, PROGRAM_EVENTS, program_event_adapter,
        sender=credentials("web"), reader=credentials("admin"),
        proof=identity_support.token_for,
    )  # fmt: skip
    async with client:
        yield client


def seminar(start: datetime, venue: Venue = Venue.A) -> CreateProgram:
    session = SessionPlan(
        session_id=uuid4(), starts_at=start, ends_at=start + timedelta(hours=2), venue=venue,
        frames=[FramePlan(frame=Frame.ONSITE, capacity=20),
                FramePlan(frame=Frame.ONLINE, capacity=80)],
        online_url="https://meet.example.org/ycc",
    )  # fmt: skip
    return CreateProgram(
        message_id=uuid4(),
        kind=ProgramKind.SEMINAR,
        title="NPO入門講座",
        sessions=[session],
        registration_opens_at=datetime.now(start.tzinfo) - timedelta(days=1),
    )


async def program_event(
    system: System, match: Callable[[ProgramEventT], bool], timeout: float = 30.0
) -> ProgramEventT | None:
    log = topic_log(system.stack.kafka_bootstrap, PROGRAM_EVENTS)

    def found() -> list[ProgramEventT]:
        return [e for e in log.valid(program_event_adapter) if match(e)]

    await log.read(until=lambda: bool(found()), timeout=timeout)
    return next(iter(found()), None)


def about(session_id: UUID, kind: type) -> Callable[[ProgramEventT], bool]:
    return lambda e: isinstance(e, kind) and getattr(e, "session_id", None) == session_id


async def create_and_publish(programs: CommandClient[ProgramEventT], plan: CreateProgram) -> None:
    assert await programs.request(plan, 30) is not None
    assert (
        await programs.request(PublishProgram(message_id=uuid4(), program_id=plan.message_id), 30)
        is not None
    )


async def test_a_sessions_venue_is_booked_through_booking_and_the_session_then_opens(
    system: System, programs: CommandClient[ProgramEventT]
) -> None:
    plan = seminar(at(DAYS.next(), 10))
    sid = plan.sessions[0].session_id
    await create_and_publish(programs, plan)
    booked = await wait_for_event(
        system.stack.kafka_bootstrap,
        lambda e: isinstance(e, ReservationConfirmed) and e.reservation.session_id == sid,
    )
    assert booked, "booking never confirmed the session's venue"
    assert booked[0].reservation.channel is Channel.EVENTS  # type: ignore[union-attr]
    opened = await program_event(system, about(sid, SessionOpened))
    assert isinstance(opened, SessionOpened)
    registration = RequestRegistration(
        message_id=uuid4(), program_id=plan.message_id, session_ids=[sid], frame=Frame.ONLINE,
        name="山田 花子", email=unique_email(),
    )  # fmt: skip
    answer = await programs.request(registration, 30)
    assert isinstance(answer, RegistrationConfirmed)
    assert answer.sessions[0].join_url == "https://meet.example.org/ycc"

    cancelled = await programs.request(
        CancelProgram(message_id=uuid4(), program_id=plan.message_id), 30
    )
    assert cancelled is not None
    given_back = await wait_for_event(
        system.stack.kafka_bootstrap,
        lambda e: isinstance(e, ReservationCancelled) and e.reservation.session_id == sid,
    )
    assert given_back and given_back[0].cancelled_by is Channel.EVENTS  # type: ignore[union-attr]


async def test_a_venue_booking_refuses_leaves_the_session_unopened_with_bookings_reason(
    system: System, programs: CommandClient[ProgramEventT]
) -> None:
    start = at(DAYS.next(), 14)
    first, second = seminar(start), seminar(start)
    await create_and_publish(programs, first)
    assert await program_event(system, about(first.sessions[0].session_id, SessionOpened))
    await create_and_publish(programs, second)
    refused = await program_event(system, about(second.sessions[0].session_id,
                                                SessionVenueRejected))  # fmt: skip
    assert isinstance(refused, SessionVenueRejected)
    assert refused.reason == "conflict"


def body_of(mail: EmailMessage) -> str:
    part = mail.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


async def test_the_join_link_is_mailed_to_online_registrants_only(
    system: System, programs: CommandClient[ProgramEventT]
) -> None:
    plan = seminar(at(DAYS.next(), 18, 30), venue=Venue.OUTSIDE)
    sid = plan.sessions[0].session_id
    await create_and_publish(programs, plan)
    online, onsite = unique_email(), unique_email()
    confirmed_codes: dict[str, str] = {}
    for email, frame in ((online, Frame.ONLINE), (onsite, Frame.ONSITE)):
        registration = RequestRegistration(message_id=uuid4(), program_id=plan.message_id,
                                           session_ids=[sid], frame=frame, name="山田 花子",
                                           email=email)  # fmt: skip
        answer = await programs.request(registration, 30)
        assert isinstance(answer, RegistrationConfirmed)
        confirmed_codes[email] = answer.check_in_code
    (to_online,) = await system.wait_for_mails(online, 1)
    (to_onsite,) = await system.wait_for_mails(onsite, 1)
    assert "https://meet.example.org/ycc" in body_of(to_online)
    assert "https://meet.example.org/ycc" not in body_of(to_onsite)
    for mail in (to_online, to_onsite):  # the check-in code, in words and as a QR code
        (image,) = [p for p in mail.walk() if p.get_content_type() == "image/png"]
        code = confirmed_codes[str(mail["To"])]
        assert code in body_of(mail)
        assert image.get_content() == qr.png(code)
    assert "参加登録確定" in str(to_onsite["Subject"])
