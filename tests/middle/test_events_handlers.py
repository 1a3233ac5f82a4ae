"""The events service's handlers on a real PostgreSQL (tests/harness.py, no Kafka): programs and
their venues through booking, registrations in the center's real frames, retries, duplicates,
cancellation refilling from the waitlist, offers expiring on the durable schedule across a
restart, the full series waiting as a whole, check-in, cancelling a program."""

from __future__ import annotations

from argparse import Namespace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from contracts.booking import (
    CancelReservation,
    Channel,
    RejectionReason,
    RequestReservation,
    Reservation,
    ReservationCancelled,
    ReservationConfirmed,
    ReservationRejected,
    SpaceId,
)
from contracts.envelope import Message
from contracts.identity import AUTHORIZATION_HEADER, PrincipalKind, Role
from contracts.program import (
    AcceptOffer,
    AttendanceRecorded,
    AttendanceRejected,
    CancelProgram,
    CancelRegistration,
    CancelSession,
    ChangeSession,
    CheckIn,
    CreateProgram,
    Frame,
    FramePlan,
    ProgramCancelled,
    ProgramKind,
    ProgramPublished,
    Promotion,
    PublishProgram,
    RegistrationCancelled,
    RegistrationCommandRejected,
    RegistrationConfirmed,
    RegistrationOffered,
    RegistrationOfferExpired,
    RegistrationPromoted,
    RegistrationRejected,
    RegistrationWaitlisted,
    RequestRegistration,
    SessionChanged,
    SessionOpened,
    SessionPlan,
    SessionVenueRejected,
    Venue,
)
from contracts.program import ProgramRejectionReason as Reason
from contracts.topics import BOOKING_COMMANDS
from services.events import app
from services.events.domain import fiscal_year_of
from services.events.report import print_report
from services.events.settings import EventsSettings
from services.runtime.clock import Clock
from services.runtime.identity import bearer_token
from tests import identity_support
from tests.harness import ServiceHarness

pytestmark = pytest.mark.middle

WEEK = timedelta(days=7)


def first_session() -> datetime:
    """18:30 four weeks from now, on the real clock the harness's service keeps."""
    day = (datetime.now(UTC) + 4 * WEEK).date()
    return datetime(day.year, day.month, day.day, 9, 30, tzinfo=UTC)  # 18:30 in Tokyo


def program(
    n: int = 4, venues: list[Venue] | None = None, onsite: int = 20, online: int = 80,
    kind: ProgramKind = ProgramKind.COURSE, **fields: Any,
) -> CreateProgram:  # fmt: skip
    """A course in the center's real frames: on-site 20 seats (30 for sessions 1 and 4),
    online 80; all in Space A+B unless `venues` say otherwise."""
    start = first_session()
    sessions = []
    for i in range(n):
        venue = (venues or [Venue.AB] * n)[i]
        seats = 30 if i in (0, 3) and onsite == 20 else onsite
        frames = [FramePlan(frame=Frame.ONLINE, capacity=online)] if online else []
        if venue is not Venue.ONLINE and seats:
            frames.insert(0, FramePlan(frame=Frame.ONSITE, capacity=seats))
        sessions.append(SessionPlan(
            session_id=uuid4(), starts_at=start + i * WEEK,
            ends_at=start + i * WEEK + timedelta(hours=2), venue=venue, frames=frames,
            online_url="https://meet.example.org/ycc" if online else None,
        ))  # fmt: skip
    return CreateProgram(message_id=uuid4(), kind=kind, title="市民活動はじめて講座",
                         sessions=sessions,
                         registration_opens_at=datetime.now(UTC) - timedelta(days=1),
                         **fields)  # fmt: skip


def of(kind: type[Message], messages: list[Message]) -> list[Any]:
    return [m for m in messages if isinstance(m, kind)]


async def published(events: ServiceHarness, plan: CreateProgram, confirm: bool = True) -> None:
    """Create and publish; booking confirms every venue asked for (unless `confirm` is off)."""
    await events.request(plan)
    sent = await events.send(PublishProgram(message_id=uuid4(), program_id=plan.message_id))
    if confirm:
        for request in of(RequestReservation, sent):
            await events.send(venue_confirmed(request))


def venue_confirmed(request: RequestReservation) -> ReservationConfirmed:
    reservation = Reservation(
        organisation_id=request.organisation_id, space=request.space,
        starts_at=request.starts_at, ends_at=request.ends_at, attendees=request.attendees,
        purpose=request.purpose, atrium=False, channel=Channel.EVENTS,
        session_id=request.session_id,
    )  # fmt: skip
    return ReservationConfirmed(message_id=uuid4(), request_id=request.message_id,
                                reservation_id=uuid4(), reservation=reservation)  # fmt: skip


def registration(
    plan: CreateProgram, *numbers: int, frame: Frame = Frame.ONSITE, party: int = 1,
    series: bool = False, email: str | None = None,
) -> RequestRegistration:  # fmt: skip
    return RequestRegistration(
        message_id=uuid4(), program_id=plan.message_id, series=series,
        session_ids=[plan.sessions[n - 1].session_id for n in numbers], frame=frame,
        party_size=party, name="山田 花子", email=email or f"{uuid4().hex[:10]}@example.org",
    )  # fmt: skip


# --- venues through booking --------------------------------------------------------------------


async def test_publishing_asks_booking_for_space_a_b_with_the_services_own_proof(
    events: ServiceHarness,
) -> None:
    plan = program(4, venues=[Venue.AB, Venue.A, Venue.ONLINE, Venue.OUTSIDE])
    await events.request(plan)
    sent = await events.send(PublishProgram(message_id=uuid4(), program_id=plan.message_id))
    (answer,) = of(ProgramPublished, sent)
    ids = [s.session_id for s in plan.sessions]
    assert answer.pending_venue_session_ids == ids[:2]
    assert answer.opened_session_ids == ids[2:]
    requests = of(RequestReservation, sent)
    assert [(r.space, r.session_id, r.channel, r.attendees) for r in requests] == [
        (SpaceId.AB, ids[0], Channel.EVENTS, 30), (SpaceId.A, ids[1], Channel.EVENTS, 20),
    ]  # fmt: skip
    opened = of(SessionOpened, sent)
    assert [o.session_id for o in opened] == ids[2:] and all(o.request_id is None for o in opened)
    rows = await events.rows(topic=BOOKING_COMMANDS)
    for row in rows:
        token = bearer_token(row.headers[AUTHORIZATION_HEADER])
        assert token is not None
        caller = identity_support.keyring().verify(token, datetime.now(UTC))
        assert (caller.kind, caller.subject) == (PrincipalKind.SERVICE, "events")


async def test_a_session_opens_for_registration_only_once_booking_confirms_its_venue(
    events: ServiceHarness,
) -> None:
    plan = program(1, kind=ProgramKind.SEMINAR)
    await published(events, plan, confirm=False)
    early = await events.request(registration(plan, 1))
    assert isinstance(early, RegistrationRejected) and early.reason is Reason.NOT_OPEN
    (request,) = of(RequestReservation, await events.outbox(BOOKING_COMMANDS))
    opened = await events.send(venue_confirmed(request))
    assert [type(m) for m in opened] == [SessionOpened]
    assert isinstance(await events.request(registration(plan, 1)), RegistrationConfirmed)


async def test_a_refused_venue_leaves_the_session_unopened_and_a_change_asks_again(
    events: ServiceHarness,
) -> None:
    plan = program(1, kind=ProgramKind.SEMINAR)
    await published(events, plan, confirm=False)
    (request,) = of(RequestReservation, await events.outbox(BOOKING_COMMANDS))
    refusal = ReservationRejected(
        message_id=uuid4(),
        request_id=request.message_id,
        reason=RejectionReason.CONFLICT,
        detail="already booked",
    )
    (told,) = await events.send(refusal)
    assert isinstance(told, SessionVenueRejected)
    assert (told.reason, told.detail) == ("conflict", "already booked")
    assert (await events.request(registration(plan, 1))).reason is Reason.NOT_OPEN  # type: ignore[attr-defined]
    later = request.starts_at + timedelta(days=1)
    assert request.session_id is not None
    change = ChangeSession(
        message_id=uuid4(),
        session_id=request.session_id,
        starts_at=later,
        ends_at=later + timedelta(hours=2),
        venue=Venue.B,
    )
    sent = await events.send(change)
    (again,) = of(RequestReservation, sent)
    assert (again.space, again.starts_at) == (SpaceId.B, later)
    await events.send(venue_confirmed(again))
    assert isinstance(await events.request(registration(plan, 1)), RegistrationConfirmed)


async def test_a_session_cancelled_before_publication_asks_for_no_venue(
    events: ServiceHarness,
) -> None:
    plan = program(2, kind=ProgramKind.FORUM)
    await events.request(plan)
    await events.request(CancelSession(message_id=uuid4(), session_id=plan.sessions[0].session_id))
    sent = await events.send(PublishProgram(message_id=uuid4(), program_id=plan.message_id))
    assert [r.session_id for r in of(RequestReservation, sent)] == [plan.sessions[1].session_id]


async def test_moving_a_session_rebooks_its_venue_and_tells_its_registrants(
    events: ServiceHarness,
) -> None:
    plan = program(1, kind=ProgramKind.SEMINAR)
    await published(events, plan)
    await events.request(registration(plan, 1, email="hanako@example.org"))
    session = plan.sessions[0]
    later = session.starts_at + timedelta(hours=1)
    sent = await events.send(
        ChangeSession(
            message_id=uuid4(),
            session_id=session.session_id,
            starts_at=later,
            ends_at=later + timedelta(hours=2),
        )
    )
    (changed,) = of(SessionChanged, sent)
    assert changed.moved and [str(r.email) for r in changed.registrants] == ["hanako@example.org"]
    assert len(of(CancelReservation, sent)) == 1 and len(of(RequestReservation, sent)) == 1


async def test_a_venue_cancelled_at_the_desk_closes_the_session_and_tells_staff(
    events: ServiceHarness,
) -> None:
    plan = program(1, kind=ProgramKind.SEMINAR)
    await published(events, plan, confirm=False)
    (request,) = of(RequestReservation, await events.outbox(BOOKING_COMMANDS))
    booked = venue_confirmed(request)
    await events.send(booked)
    at_the_desk = ReservationCancelled(
        message_id=uuid4(), request_id=uuid4(), reservation_id=booked.reservation_id,
        reservation=booked.reservation, cancelled_by=Channel.STAFF,
    )  # fmt: skip
    (told,) = await events.send(at_the_desk)
    assert isinstance(told, SessionVenueRejected) and told.reason == "cancelled"
    late = await events.request(registration(plan, 1))
    assert isinstance(late, RegistrationRejected) and late.reason is Reason.NOT_OPEN


async def test_cancelling_a_program_cancels_its_venues_and_registrations(
    events: ServiceHarness,
) -> None:
    plan = program(4)
    await published(events, plan)
    await events.request(registration(plan, series=True))
    sent = await events.send(CancelProgram(message_id=uuid4(), program_id=plan.message_id,
                                           reason="講師の都合"))  # fmt: skip
    (cancelled,) = of(ProgramCancelled, sent)
    assert len(cancelled.registrants) == 1
    assert len(of(CancelReservation, sent)) == 4
    late = await events.request(registration(plan, series=True))
    assert isinstance(late, RegistrationRejected) and late.reason is Reason.CLOSED


# --- registrations -------------------------------------------------------------------------------


async def test_the_real_case_fills_each_frame_exactly_then_waitlists(
    events: ServiceHarness,
) -> None:
    plan = program(4)
    await published(events, plan)
    onsite = [await events.request(registration(plan, 1)) for _ in range(31)]
    online = [await events.request(registration(plan, 1, frame=Frame.ONLINE)) for _ in range(81)]
    assert len(of(RegistrationConfirmed, onsite)) == 30
    assert len(of(RegistrationConfirmed, online)) == 80
    (waiting,) = of(RegistrationWaitlisted, onsite)
    assert [p.position for p in waiting.positions] == [1]
    joined = {s.join_url for m in of(RegistrationConfirmed, online) for s in m.sessions}
    assert joined == {"https://meet.example.org/ycc"}
    assert {s.join_url for m in of(RegistrationConfirmed, onsite) for s in m.sessions} == {None}
    held = await events.pool.fetch("SELECT frame, held FROM places WHERE session_id = $1",
                                   plan.sessions[0].session_id)  # fmt: skip
    assert {r["frame"]: r["held"] for r in held} == {"onsite": 30, "online": 80}


async def test_a_retried_registration_gets_the_same_answer_and_never_a_second_place(
    events: ServiceHarness,
) -> None:
    plan = program(1, kind=ProgramKind.SEMINAR)
    await published(events, plan)
    command = registration(plan, 1, party=2)
    first = await events.request(command)
    again = await events.request(command)
    assert first == again
    assert await events.pool.fetchval("SELECT sum(held) FROM places") == 2


async def test_the_same_address_twice_in_a_session_and_frame_is_a_duplicate(
    events: ServiceHarness,
) -> None:
    plan = program(1, kind=ProgramKind.SEMINAR)
    await published(events, plan)
    await events.request(registration(plan, 1, email="Hanako@Example.org"))
    twice = await events.request(registration(plan, 1, email="hanako@example.org"))
    assert isinstance(twice, RegistrationRejected) and twice.reason is Reason.DUPLICATE
    other_frame = registration(plan, 1, frame=Frame.ONLINE, email="hanako@example.org")
    assert isinstance(await events.request(other_frame), RegistrationConfirmed)


async def test_a_series_waits_as_a_whole_when_one_session_is_full(events: ServiceHarness) -> None:
    plan = program(4, onsite=1, online=0)
    await published(events, plan)
    assert isinstance(await events.request(registration(plan, 3)), RegistrationConfirmed)
    waiting = await events.request(registration(plan, series=True))
    assert isinstance(waiting, RegistrationWaitlisted)
    assert len(waiting.positions) == 4
    assert await events.pool.fetchval("SELECT sum(held) FROM places") == 1


async def test_during_the_priority_period_single_sessions_are_closed(
    events: ServiceHarness,
) -> None:
    plan = program(4, priority_until=datetime.now(UTC) + timedelta(days=3))
    await published(events, plan)
    single = await events.request(registration(plan, 2))
    assert isinstance(single, RegistrationRejected) and single.reason is Reason.CLOSED
    assert isinstance(await events.request(registration(plan, series=True)),
                      RegistrationConfirmed)  # fmt: skip


# --- cancellation and promotion ---------------------------------------------------------------


async def test_a_cancellation_by_its_link_promotes_the_first_that_fits(
    events: ServiceHarness,
) -> None:
    plan = program(1, onsite=2, online=0, kind=ProgramKind.SEMINAR)
    await published(events, plan)
    first = await events.request(registration(plan, 1, party=2))
    big = await events.request(registration(plan, 1, party=3))
    small = await events.request(registration(plan, 1, party=1))
    assert isinstance(first, RegistrationConfirmed)
    assert isinstance(big, RegistrationWaitlisted) and isinstance(small, RegistrationWaitlisted)
    forged = CancelRegistration(message_id=uuid4(), registration_id=first.registration_id,
                                token=small.cancel_token)  # fmt: skip
    refused = await events.request(forged)
    assert isinstance(refused, RegistrationCommandRejected) and refused.reason is Reason.FORBIDDEN
    sent = await events.send(CancelRegistration(message_id=uuid4(),
                                                registration_id=first.registration_id,
                                                token=first.cancel_token))  # fmt: skip
    assert [type(m) for m in sent] == [RegistrationCancelled, RegistrationPromoted]
    assert sent[1].registration_id == small.registration_id  # type: ignore[attr-defined]
    assert await events.pool.fetchval("SELECT held FROM places") == 1


async def test_offers_expire_on_the_durable_schedule_once_and_move_on(
    events: ServiceHarness,
) -> None:
    plan = program(1, onsite=1, online=0, kind=ProgramKind.SEMINAR, promotion=Promotion.OFFER)
    await published(events, plan)
    first = await events.request(registration(plan, 1))
    second = await events.request(registration(plan, 1))
    third = await events.request(registration(plan, 1))
    assert isinstance(first, RegistrationConfirmed)
    sent = await events.send(CancelRegistration(message_id=uuid4(),
                                                registration_id=first.registration_id,
                                                token=first.cancel_token))  # fmt: skip
    (offered,) = of(RegistrationOffered, sent)
    assert offered.registration_id == second.registration_id  # type: ignore[attr-defined]
    in_48_hours = datetime.now(UTC) + timedelta(hours=48)
    assert abs((offered.expires_at - in_48_hours).total_seconds()) < 60
    await events.pool.execute("UPDATE scheduled_jobs SET due_at = now()")  # the deadline comes
    async with events.instance() as restarted:
        moved_on = await restarted.run_due_jobs()
        assert await restarted.run_due_jobs() == []
    assert [type(m) for m in moved_on] == [RegistrationOfferExpired, RegistrationOffered]
    assert await events.run_due_jobs() == [], "fired once, even by another instance"
    (next_offer,) = of(RegistrationOffered, moved_on)
    assert next_offer.registration_id == third.registration_id  # type: ignore[attr-defined]
    accepted = await events.request(AcceptOffer(message_id=uuid4(),
                                                registration_id=next_offer.registration_id,
                                                token=next_offer.offer_token))  # fmt: skip
    assert isinstance(accepted, RegistrationPromoted)
    assert await events.pool.fetchval("SELECT held FROM places") == 1


async def test_raising_a_capacity_promotes_and_lowering_it_below_the_held_seats_is_refused(
    events: ServiceHarness,
) -> None:
    plan = program(1, onsite=1, online=0, kind=ProgramKind.SEMINAR)
    await published(events, plan)
    await events.request(registration(plan, 1))
    waiting = await events.request(registration(plan, 1))
    sid = plan.sessions[0].session_id
    lower = ChangeSession(message_id=uuid4(), session_id=sid,
                          frames=[FramePlan(frame=Frame.ONSITE, capacity=0)])  # fmt: skip
    assert (await events.request(lower)).reason is Reason.CONFLICT  # type: ignore[attr-defined]
    raise_ = ChangeSession(message_id=uuid4(), session_id=sid,
                           frames=[FramePlan(frame=Frame.ONSITE, capacity=2)])  # fmt: skip
    promoted = of(RegistrationPromoted, await events.send(raise_))
    assert [p.registration_id for p in promoted] == [waiting.registration_id]  # type: ignore[attr-defined]


# --- check-in ------------------------------------------------------------------------------------


async def test_a_check_in_code_is_recorded_once_and_a_wrong_one_is_told_so(
    events: ServiceHarness,
) -> None:
    plan = program(1, kind=ProgramKind.SEMINAR)
    await published(events, plan)
    confirmed = await events.request(registration(plan, 1, party=2))
    assert isinstance(confirmed, RegistrationConfirmed)
    sid = plan.sessions[0].session_id
    at_the_door = plan.sessions[0].starts_at - timedelta(minutes=20)
    clock = Clock(at_the_door - datetime.now(UTC))
    spec = app.build_spec(EventsSettings(clock=clock))
    async with events.instance(spec=spec) as door:
        code = confirmed.check_in_code.lower()
        recorded = await door.request(CheckIn(message_id=uuid4(), session_id=sid, code=code))
        assert isinstance(recorded, AttendanceRecorded) and recorded.party_size == 2
        again = await door.request(CheckIn(message_id=uuid4(), session_id=sid, code=code))
        assert isinstance(again, AttendanceRejected)
        assert again.reason is Reason.ALREADY_RECORDED
        wrong = await door.request(CheckIn(message_id=uuid4(), session_id=sid, code="XXXX2222"))
        assert isinstance(wrong, AttendanceRejected) and wrong.reason is Reason.NOT_FOUND


async def test_only_program_staff_plan_programs(events: ServiceHarness) -> None:
    plan = program(1, kind=ProgramKind.SEMINAR)
    refused = await events.request(plan, token=identity_support.kiosk_token())
    assert refused.reason == "forbidden"  # type: ignore[attr-defined]
    unproven = await events.request(program(1, kind=ProgramKind.SEMINAR), token=None)
    assert unproven.reason == "unauthorized"  # type: ignore[attr-defined]


# --- the participants report ---------------------------------------------------------------------


async def test_the_participants_report_counts_people_registered_and_attended_per_frame(
    events: ServiceHarness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = program(1, kind=ProgramKind.SEMINAR)
    await published(events, plan)
    party = await events.request(registration(plan, 1, party=2))
    await events.request(registration(plan, 1, frame=Frame.ONLINE))
    assert isinstance(party, RegistrationConfirmed)
    session = plan.sessions[0]
    door_clock = Clock(session.starts_at - timedelta(minutes=10) - datetime.now(UTC))
    async with events.instance(spec=app.build_spec(EventsSettings(clock=door_clock))) as door:
        await door.request(CheckIn(message_id=uuid4(), session_id=session.session_id,
                                   code=party.check_in_code))  # fmt: skip
    year = fiscal_year_of(session.starts_at)
    staff = identity_support.http_headers(identity_support.staff_token(Role.PROGRAM_STAFF))
    answer = await events.http.get("/reports/participants", params={"fiscal_year": year},
                                   headers=staff)  # fmt: skip
    assert answer.status_code == 200, answer.text
    (line,) = answer.json()["sessions"]
    assert line["registered"] == {"onsite": 2, "online": 1}
    assert line["attended"] == {"onsite": 2, "online": 0}
    assert answer.json()["total"]["participants"] == 2
    as_csv = await events.http.get("/reports/participants",
                                   params={"fiscal_year": year, "format": "csv"},
                                   headers=staff)  # fmt: skip
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.text.splitlines()[-1].split(",")[4:8] == ["2", "1", "2", "0"]
    monkeypatch.setenv("DATABASE_URL", events.dsn)
    await print_report(Namespace(fiscal_year=year, csv=False))
    assert f"participants (attended) in FY{year}: 2" in capsys.readouterr().out


async def test_a_batch_of_requests_is_decided_in_its_order_as_one_by_one(
    events: ServiceHarness,
) -> None:
    """The consumer's bulk path: a run of registrations of two programs in one batch, with a
    duplicate inside the run and an unknown program, each answered as if decided alone."""
    first = program(1, onsite=2, online=0, kind=ProgramKind.SEMINAR)
    second = program(1, onsite=1, online=0, kind=ProgramKind.SEMINAR)
    await published(events, first)
    await published(events, second)
    stranger = registration(first, 1)
    stranger = stranger.model_copy(update={"program_id": uuid4()})
    batch = [
        registration(first, 1, email="hanako@example.org"),
        registration(first, 1, email="HANAKO@example.org"),
        registration(second, 1, party=2),
        stranger,
        registration(first, 1),
        registration(first, 1),
        registration(second, 1),
        registration(first, 1, party=2),
    ]
    sent = await events.send_batch(batch)
    answers = {m.request_id: m for m in sent if hasattr(m, "request_id")}
    kinds = [type(answers[c.message_id]).__name__ for c in batch]
    assert kinds == ["RegistrationConfirmed", "RegistrationRejected", "RegistrationWaitlisted",
                     "RegistrationRejected", "RegistrationConfirmed", "RegistrationWaitlisted",
                     "RegistrationConfirmed", "RegistrationWaitlisted"]  # fmt: skip
    assert answers[batch[1].message_id].reason is Reason.DUPLICATE  # type: ignore[attr-defined]
    assert answers[batch[3].message_id].reason is Reason.INVALID  # type: ignore[attr-defined]
    positions = [answers[batch[i].message_id].positions[0].position for i in (5, 7)]  # type: ignore[attr-defined]
    assert positions == [1, 2]
    order = await events.pool.fetch("SELECT request_id FROM registrations ORDER BY seq")
    decided = [c.message_id for c in batch if c.message_id not in
               (batch[1].message_id, batch[3].message_id)]  # fmt: skip
    assert [r["request_id"] for r in order][-len(decided) :] == decided
    held = await events.pool.fetch("SELECT held, capacity FROM places")
    assert all(r["held"] == r["capacity"] for r in held)
