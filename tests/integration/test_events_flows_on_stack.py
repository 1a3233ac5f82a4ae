"""Registration flows on the real stack (Kafka, PostgreSQL, the events service and notify as
processes): the full-series priority period, all-or-nothing series, a party waiting while a
smaller one behind it is served, cancellation refilling from the waitlist, offers expiring on
the durable schedule across a restart of the service, and check-in at the kiosk."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from clients.commands import CommandClient
from contracts.program import (
    CancelRegistration,
    CheckIn,
    CreateProgram,
    Frame,
    FramePlan,
    ProgramEventT,
    ProgramKind,
    Promotion,
    PublishProgram,
    RegistrationCancelled,
    RegistrationConfirmed,
    RegistrationOffered,
    RegistrationOfferExpired,
    RegistrationPromoted,
    RegistrationRejected,
    RegistrationWaitlisted,
    RequestRegistration,
    SessionPlan,
    Venue,
    program_event_adapter,
)
from contracts.program import ProgramRejectionReason as Reason
from contracts.topics import PROGRAM_COMMANDS, PROGRAM_EVENTS
from tests import identity_support
from tests.support import System, credentials, topic_log, unique_email

pytestmark = pytest.mark.stack


async def client_as(system: System, principal: str) -> CommandClient[ProgramEventT]:
    client: CommandClient[ProgramEventT] = CommandClient(
        system.stack.kafka_bootstrap, PROGRAM_COMMANDS, PROGRAM_EVENTS, program_event_adapter,
        sender=credentials(principal), reader=credentials("admin"),
        proof=identity_support.token_for,
    )  # fmt: skip
    return client


@pytest.fixture
async def programs(system: System) -> AsyncIterator[CommandClient[ProgramEventT]]:
    """The web client, sending with each command's sender's proof."""
    async with await client_as(system, "web") as client:
        yield client


def outside(
    sessions: int = 1, onsite: int = 20, starts_in: timedelta = timedelta(days=20),
    kind: ProgramKind = ProgramKind.SEMINAR, **fields: object,
) -> CreateProgram:  # fmt: skip
    """Sessions at a venue outside the center: they open at publication, no booking needed."""
    first = datetime.now(UTC).replace(microsecond=0) + starts_in
    plans = [SessionPlan(session_id=uuid4(), starts_at=first + timedelta(days=7 * n),
                         ends_at=first + timedelta(days=7 * n, hours=2), venue=Venue.OUTSIDE,
                         venue_name="関内ホール", frames=[FramePlan(frame=Frame.ONSITE,
                                                                   capacity=onsite)])
             for n in range(sessions)]  # fmt: skip
    return CreateProgram(message_id=uuid4(), kind=kind, title="ミズベサロン", sessions=plans,
                         registration_opens_at=datetime.now(UTC) - timedelta(days=1),
                         **fields)  # fmt: skip


async def opened(programs: CommandClient[ProgramEventT], plan: CreateProgram) -> None:
    assert await programs.request(plan, 30) is not None
    published = PublishProgram(message_id=uuid4(), program_id=plan.message_id)
    assert await programs.request(published, 30) is not None


async def register(
    programs: CommandClient[ProgramEventT], plan: CreateProgram, *numbers: int,
    party: int = 1, series: bool = False,
) -> ProgramEventT | None:  # fmt: skip
    command = RequestRegistration(
        message_id=uuid4(), program_id=plan.message_id, series=series,
        session_ids=[plan.sessions[n - 1].session_id for n in numbers], frame=Frame.ONSITE,
        party_size=party, name="山田 花子", email=unique_email(),
    )  # fmt: skip
    return await programs.request(command, 30)


async def cancel(
    programs: CommandClient[ProgramEventT], answer: ProgramEventT | None
) -> ProgramEventT | None:
    assert isinstance(answer, RegistrationConfirmed | RegistrationWaitlisted)
    command = CancelRegistration(message_id=uuid4(), registration_id=answer.registration_id,
                                 token=answer.cancel_token)  # fmt: skip
    return await programs.request(command, 30)


async def facts_about(
    system: System, registration_id: UUID, kind: type, count: int = 1, timeout: float = 30.0
) -> list[ProgramEventT]:
    log = topic_log(system.stack.kafka_bootstrap, PROGRAM_EVENTS)

    def found() -> list[ProgramEventT]:
        return [
            e
            for e in log.valid(program_event_adapter)
            if isinstance(e, kind) and getattr(e, "registration_id", None) == registration_id
        ]

    await log.read(until=lambda: len(found()) >= count, timeout=timeout)
    return found()


async def test_during_the_priority_period_only_the_full_series_gets_seats(
    programs: CommandClient[ProgramEventT],
) -> None:
    plan = outside(4, kind=ProgramKind.COURSE,
                   priority_until=datetime.now(UTC) + timedelta(days=2))  # fmt: skip
    await opened(programs, plan)
    single = await register(programs, plan, 2)
    assert isinstance(single, RegistrationRejected) and single.reason is Reason.CLOSED
    series = await register(programs, plan, series=True)
    assert isinstance(series, RegistrationConfirmed) and len(series.sessions) == 4


async def test_a_series_waits_as_a_whole_and_is_promoted_when_it_fits_everywhere(
    system: System,
    programs: CommandClient[ProgramEventT],
) -> None:
    plan = outside(4, onsite=1, kind=ProgramKind.COURSE)
    await opened(programs, plan)
    holder = await register(programs, plan, 3)
    assert isinstance(holder, RegistrationConfirmed)
    series = await register(programs, plan, series=True)
    assert isinstance(series, RegistrationWaitlisted) and len(series.positions) == 4
    single = await register(programs, plan, 1)
    assert isinstance(single, RegistrationConfirmed), "the waiting series kept no seat"
    assert isinstance(await cancel(programs, holder), RegistrationCancelled)
    assert await facts_about(system, series.registration_id, RegistrationPromoted,
                             timeout=2) == [], "session 1 is still full"  # fmt: skip
    assert isinstance(await cancel(programs, single), RegistrationCancelled)
    (promoted,) = await facts_about(system, series.registration_id, RegistrationPromoted)
    assert isinstance(promoted, RegistrationPromoted) and len(promoted.sessions) == 4


async def test_a_party_waits_together_while_a_smaller_one_behind_it_is_served(
    system: System,
    programs: CommandClient[ProgramEventT],
) -> None:
    plan = outside(1, onsite=3)
    await opened(programs, plan)
    pair = await register(programs, plan, 1, party=2)
    assert isinstance(pair, RegistrationConfirmed)
    four = await register(programs, plan, 1, party=2)  # a second pair: one seat left, it waits
    assert isinstance(four, RegistrationWaitlisted)
    alone = await register(programs, plan, 1, party=1)
    assert isinstance(alone, RegistrationConfirmed), "the smaller one behind fits: served"
    assert isinstance(await cancel(programs, alone), RegistrationCancelled)
    assert isinstance(await cancel(programs, pair), RegistrationCancelled)
    (promoted,) = await facts_about(system, four.registration_id, RegistrationPromoted)
    assert promoted.party_size == 2  # type: ignore[union-attr]


async def test_offers_expire_on_the_schedule_across_a_restart_and_move_on_once(
    system: System,
    programs: CommandClient[ProgramEventT],
) -> None:
    """The session starts in 3 hours and 25 seconds: an offer runs no later than 3 hours before
    it, so its deadline comes in 25 seconds; the service restarts meanwhile. Once it expired,
    there is no time left to ask the next one: they are confirmed at once."""
    plan = outside(1, onsite=1, starts_in=timedelta(hours=3, seconds=25),
                   promotion=Promotion.OFFER)  # fmt: skip
    await opened(programs, plan)
    holder = await register(programs, plan, 1)
    second = await register(programs, plan, 1)
    third = await register(programs, plan, 1)
    assert isinstance(second, RegistrationWaitlisted) and isinstance(third, RegistrationWaitlisted)
    assert isinstance(await cancel(programs, holder), RegistrationCancelled)
    (offer,) = await facts_about(system, second.registration_id, RegistrationOffered)
    assert isinstance(offer, RegistrationOffered)
    assert offer.expires_at <= plan.sessions[0].starts_at - timedelta(hours=3)
    system.stack.stop_component("events")
    system.start("events")
    expired = await facts_about(system, second.registration_id, RegistrationOfferExpired,
                                timeout=60)  # fmt: skip
    moved_on = await facts_about(system, third.registration_id, RegistrationPromoted,
                                 timeout=60)  # fmt: skip
    assert len(expired) == 1 and len(moved_on) == 1
    await asyncio.sleep(3)  # a second firing would have come by now
    assert len(await facts_about(system, second.registration_id, RegistrationOfferExpired)) == 1


async def test_a_registrant_checks_in_at_the_kiosk_once(
    system: System,
    programs: CommandClient[ProgramEventT],
) -> None:
    plan = outside(1, starts_in=timedelta(minutes=30))
    await opened(programs, plan)
    confirmed = await register(programs, plan, 1, party=2)
    assert isinstance(confirmed, RegistrationConfirmed)
    sid = plan.sessions[0].session_id
    async with await client_as(system, "kiosk") as kiosk:
        first = await kiosk.request(CheckIn(message_id=uuid4(), session_id=sid,
                                            code=confirmed.check_in_code), 30)  # fmt: skip
        again = await kiosk.request(CheckIn(message_id=uuid4(), session_id=sid,
                                            code=confirmed.check_in_code), 30)  # fmt: skip
    assert first is not None and first.type == "attendance.recorded"
    assert again is not None and again.type == "attendance.rejected"
    assert again.reason is Reason.ALREADY_RECORDED
