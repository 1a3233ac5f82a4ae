"""The booking rules through Kafka and PostgreSQL, on the running services: the booking window,
closure days and blackouts, the evening rule, quotas, cancellation, organisations' standing,
bookings on behalf of the city. The services' clock is 10:00 of an open weekday, with the evening
cut-off at 09:00 (tests/support.py), so today's evening is already decided."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from uuid import UUID, uuid4

import asyncpg
import pytest

from clients.kiosk.client import BookingClient
from contracts.booking import (
    BlackoutLifted,
    BlackoutLiftRejected,
    BlackoutSet,
    CancelReservation,
    Channel,
    DayClosingTimeSet,
    LiftBlackout,
    OrganisationCommandRejected,
    OrganisationExpired,
    OrganisationRegistered,
    OrganisationReinstated,
    OrganisationRenewed,
    OrganisationSuspended,
    OrganisationUpdated,
    ReinstateOrganisation,
    RejectionReason,
    RenewOrganisation,
    RequestReservation,
    ReservationCancelled,
    ReservationCancelRejected,
    ReservationConfirmed,
    ReservationRejected,
    SetBlackout,
    SpaceId,
    SuspendOrganisation,
    UpdateOrganisation,
)
from services.booking.domain import DEFAULT_POLICY, day_hours, has_evening
from tests.support import (
    DAYS,
    TEST_QUOTA,
    TOKYO,
    System,
    at,
    booking_events,
    register,
    register_command,
    reservation,
    service_now,
    unique_email,
    wait_for_event,
)

pytestmark = pytest.mark.stack


def today() -> date:
    return service_now().date()


async def rejected_for(client: BookingClient, cmd: RequestReservation) -> RejectionReason | None:
    outcome = await client.request(cmd, 30)
    assert isinstance(outcome, ReservationConfirmed | ReservationRejected), outcome
    return outcome.reason if isinstance(outcome, ReservationRejected) else None


async def test_a_start_in_the_past_or_beyond_the_horizon_is_out_of_window(
    client: BookingClient,
) -> None:
    org = await register(client)
    yesterday = today() - timedelta(days=1)
    past = reservation(org, SpaceId.A, at(yesterday, 10), at(yesterday, 11))
    far = today() + timedelta(days=400)  # the test services book 12 months ahead
    beyond = reservation(org, SpaceId.A, at(far, 10), at(far, 11))
    assert await rejected_for(client, past) is RejectionReason.OUT_OF_WINDOW
    assert await rejected_for(client, beyond) is RejectionReason.OUT_OF_WINDOW


async def test_the_year_end_break_is_closed(client: BookingClient) -> None:
    org = await register(client)
    year_end = date(today().year, 12, 29)
    if year_end <= today():
        year_end = date(today().year + 1, 12, 29)
    cmd = reservation(org, SpaceId.B, at(year_end, 10), at(year_end, 11))
    assert await rejected_for(client, cmd) is RejectionReason.CLOSED


async def test_a_blackout_set_by_staff_closes_the_day(client: BookingClient) -> None:
    org = await register(client)
    day = DAYS.next()
    blackout = SetBlackout(message_id=uuid4(), day=day, reason="館内設備点検")
    outcome = await client.request(blackout, 30)
    assert isinstance(outcome, BlackoutSet) and outcome.day == day
    cmd = reservation(org, SpaceId.A, at(day, 10), at(day, 11))
    assert await rejected_for(client, cmd) is RejectionReason.CLOSED


async def test_a_blackout_lists_the_confirmed_reservations_and_once_lifted_the_day_is_bookable(
    client: BookingClient,
) -> None:
    org = await register(client)
    day = DAYS.next()
    kept = await client.request(reservation(org, SpaceId.A, at(day, 10), at(day, 11)), 30)
    lab = await client.request(reservation(org, SpaceId.LAB, at(day, 9), at(day, 10), 3), 30)
    dropped = await client.request(reservation(org, SpaceId.B, at(day, 13), at(day, 14)), 30)
    assert isinstance(kept, ReservationConfirmed) and isinstance(lab, ReservationConfirmed)
    assert isinstance(dropped, ReservationConfirmed)
    cancel = CancelReservation(
        message_id=uuid4(), reservation_id=dropped.reservation_id, organisation_id=org
    )
    assert isinstance(await client.request(cancel, 30), ReservationCancelled)

    blackout = SetBlackout(message_id=uuid4(), day=day, reason="投票所として使用")
    set_ = await client.request(blackout, 30)
    assert isinstance(set_, BlackoutSet)
    assert set_.affected_reservation_ids == [lab.reservation_id, kept.reservation_id]
    held = reservation(org, SpaceId.B, at(day, 15), at(day, 16))
    assert await rejected_for(client, held) is RejectionReason.CLOSED

    lift = LiftBlackout(message_id=uuid4(), day=day)
    lifted = await client.request(lift, 30)
    assert isinstance(lifted, BlackoutLifted) and lifted.day == day
    again = reservation(org, SpaceId.B, at(day, 15), at(day, 16))
    assert await rejected_for(client, again) is None

    twice = await client.request(LiftBlackout(message_id=uuid4(), day=day), 30)
    assert isinstance(twice, BlackoutLiftRejected) and twice.reason is RejectionReason.NOT_FOUND


async def test_an_evening_after_the_cut_off_is_too_late_but_a_later_evening_is_not(
    client: BookingClient,
) -> None:
    org = await register(client)
    tonight = reservation(org, SpaceId.A, at(today(), 18), at(today(), 20))
    day = DAYS.next()
    later = reservation(org, SpaceId.A, at(day, 18), at(day, 20))
    assert await rejected_for(client, tonight) is RejectionReason.TOO_LATE
    assert await rejected_for(client, later) is None


async def test_an_organisation_at_its_quota_is_refused_until_it_cancels(
    client: BookingClient,
) -> None:
    org = await register(client)
    days = [DAYS.next(), DAYS.next()]  # 22 half-hours a weekday
    slots = [(d, h, m) for d in days for h in range(9, 20) for m in (0, 30)][: TEST_QUOTA + 1]
    commands = [
        reservation(org, SpaceId.LAB, at(d, h, m), at(d, h, m) + timedelta(minutes=30), 1)
        for d, h, m in slots
    ]
    outcomes = [await client.request(c, 30) for c in commands]
    confirmed = [o for o in outcomes if isinstance(o, ReservationConfirmed)]
    assert len(confirmed) == TEST_QUOTA
    last = outcomes[-1]
    assert isinstance(last, ReservationRejected) and last.reason is RejectionReason.QUOTA
    cancel = CancelReservation(
        message_id=uuid4(), reservation_id=confirmed[0].reservation_id, organisation_id=org
    )
    assert isinstance(await client.request(cancel, 30), ReservationCancelled)
    again = reservation(org, SpaceId.LAB, at(days[1], 19, 30), at(days[1], 20), 1)
    assert await rejected_for(client, again) is None


async def test_a_cancelled_slot_is_free_at_once(client: BookingClient) -> None:
    org, other = await register(client), await register(client)
    day = DAYS.next()
    first = await client.request(reservation(org, SpaceId.AB, at(day, 13), at(day, 15)), 30)
    assert isinstance(first, ReservationConfirmed)
    blocked = reservation(other, SpaceId.A, at(day, 14), at(day, 15))
    assert await rejected_for(client, blocked) is RejectionReason.CONFLICT
    cancel = CancelReservation(
        message_id=uuid4(), reservation_id=first.reservation_id, organisation_id=org
    )
    cancelled = await client.request(cancel, 30)
    assert isinstance(cancelled, ReservationCancelled)
    assert cancelled.cancelled_by is Channel.WEB and cancelled.reservation.space is SpaceId.AB
    retry = reservation(other, SpaceId.A, at(day, 14), at(day, 15))
    assert await rejected_for(client, retry) is None


async def test_a_cancellation_by_another_organisation_or_of_nothing_is_refused(
    client: BookingClient,
) -> None:
    org, other = await register(client), await register(client)
    day = DAYS.next()
    mine = await client.request(reservation(org, SpaceId.B, at(day, 10), at(day, 11)), 30)
    assert isinstance(mine, ReservationConfirmed)
    cases = [
        (mine.reservation_id, other, Channel.WEB, RejectionReason.NOT_OWNER),
        (uuid4(), org, Channel.WEB, RejectionReason.NOT_FOUND),
    ]
    for reservation_id, by, channel, reason in cases:
        cmd = CancelReservation(
            message_id=uuid4(), reservation_id=reservation_id, organisation_id=by, channel=channel
        )
        outcome = await client.request(cmd, 30)
        assert isinstance(outcome, ReservationCancelRejected), outcome
        assert outcome.reason is reason and outcome.request_id == cmd.message_id
    by_staff = CancelReservation(
        message_id=uuid4(), reservation_id=mine.reservation_id, channel=Channel.STAFF
    )
    outcome = await client.request(by_staff, 30)
    assert isinstance(outcome, ReservationCancelled) and outcome.cancelled_by is Channel.STAFF
    twice = CancelReservation(
        message_id=uuid4(), reservation_id=mine.reservation_id, channel=Channel.STAFF
    )
    again = await client.request(twice, 30)
    assert isinstance(again, ReservationCancelRejected)
    assert again.reason is RejectionReason.NOT_FOUND


async def test_staff_and_the_events_service_book_on_behalf_of_the_city(
    client: BookingClient,
) -> None:
    city = uuid4()  # the city is no registered organisation
    day = DAYS.next()
    staff = RequestReservation(
        message_id=uuid4(), organisation_id=city, space=SpaceId.AB, starts_at=at(day, 10),
        ends_at=at(day, 12), attendees=40, purpose="市民協働フォーラム", channel=Channel.STAFF,
    )  # fmt: skip
    session = uuid4()
    venue = RequestReservation(
        message_id=uuid4(), organisation_id=city, space=SpaceId.AB, starts_at=at(day, 18),
        ends_at=at(day, 20), attendees=20, purpose="トライアルゼミ 第1回", session_id=session,
    )  # fmt: skip
    by_staff = await client.request(staff, 30)
    for_session = await client.request(venue, 30)
    assert isinstance(by_staff, ReservationConfirmed)
    assert by_staff.reservation.channel is Channel.STAFF
    assert isinstance(for_session, ReservationConfirmed)
    assert for_session.reservation.session_id == session


async def test_contact_updates_travel_as_organisation_updated(client: BookingClient) -> None:
    org = await register(client)
    new_email = unique_email()
    cmd = UpdateOrganisation(
        message_id=uuid4(), organisation_id=org, contact_email=new_email, newsletter_consent=False
    )
    outcome = await client.request(cmd, 30)
    assert isinstance(outcome, OrganisationUpdated)
    assert str(outcome.contact.email) == new_email and outcome.newsletter_consent is False
    assert outcome.contact.name == "山田 花子"  # what was not sent is kept
    unknown = UpdateOrganisation(message_id=uuid4(), organisation_id=uuid4(), contact_name="x")
    refused = await client.request(unknown, 30)
    assert isinstance(refused, OrganisationCommandRejected)
    assert refused.reason is RejectionReason.NOT_FOUND


async def test_a_suspended_organisation_cannot_book_until_reinstated(
    client: BookingClient,
) -> None:
    org = await register(client)
    day = DAYS.next()
    suspend = SuspendOrganisation(message_id=uuid4(), organisation_id=org, reason="規約違反の確認")
    assert isinstance(await client.request(suspend, 30), OrganisationSuspended)
    refused = await client.request(reservation(org, SpaceId.A, at(day, 10), at(day, 11)), 30)
    assert isinstance(refused, ReservationRejected)
    assert refused.reason is RejectionReason.NOT_REGISTERED and "suspended" in refused.detail
    reinstate = ReinstateOrganisation(message_id=uuid4(), organisation_id=org)
    assert isinstance(await client.request(reinstate, 30), OrganisationReinstated)
    booked = reservation(org, SpaceId.A, at(day, 10), at(day, 11))
    assert await rejected_for(client, booked) is None


async def expire(system: System, org: UUID) -> None:
    """Let the registration term end now: the term and its scheduled expiry both move."""
    conn = await asyncpg.connect(system.dsn("booking"))
    try:
        await conn.execute(
            "UPDATE organisations SET valid_until = $2 WHERE id = $1",
            org, service_now() - timedelta(minutes=1),
        )  # fmt: skip
        await conn.execute(
            "UPDATE scheduled_jobs SET due_at = now() WHERE kind = 'organisation_expiry'"
            " AND payload->>'organisation_id' = $1",
            str(org),
        )
    finally:
        await conn.close()


async def test_an_expired_registration_is_announced_refused_and_renewable(
    system: System, client: BookingClient
) -> None:
    registered = await client.request(register_command(), 30)
    assert isinstance(registered, OrganisationRegistered) and registered.valid_until is not None
    assert registered.valid_until.year == service_now().year + 3
    org = registered.organisation_id
    await expire(system, org)
    expired = await wait_for_event(
        system.stack.kafka_bootstrap,
        lambda e: isinstance(e, OrganisationExpired) and e.organisation_id == org,
    )
    assert len(expired) == 1
    day = DAYS.next()
    refused = await client.request(reservation(org, SpaceId.B, at(day, 10), at(day, 11)), 30)
    assert isinstance(refused, ReservationRejected)
    assert refused.reason is RejectionReason.NOT_REGISTERED and "Renew" in refused.detail
    renewed = await client.request(RenewOrganisation(message_id=uuid4(), organisation_id=org), 30)
    assert isinstance(renewed, OrganisationRenewed) and renewed.valid_until > service_now()
    booked = reservation(org, SpaceId.B, at(day, 10), at(day, 11))
    assert await rejected_for(client, booked) is None


async def test_todays_evening_was_decided_once_at_the_cut_off(system: System) -> None:
    """Two instances and any restarts: one decision for the day, published once."""
    assert has_evening(today()) and day_hours(today(), DEFAULT_POLICY) is not None
    found = await wait_for_event(
        system.stack.kafka_bootstrap,
        lambda e: isinstance(e, DayClosingTimeSet) and e.day == today() and not e.correlation_id,
    )
    assert len(found) == 1
    assert isinstance(found[0], DayClosingTimeSet)
    assert found[0].closes_at.astimezone(TOKYO).hour == 18


async def test_evening_decisions_are_planned_for_the_coming_weekdays(system: System) -> None:
    conn = await asyncpg.connect(system.dsn("booking"))
    try:
        keys = {
            r["key"]
            for r in await conn.fetch(
                "SELECT key FROM scheduled_jobs WHERE kind = 'evening_closing'"
            )
        }
    finally:
        await conn.close()
    coming = [today() + timedelta(days=n) for n in range(1, 8)]
    weekdays = {d.isoformat() for d in coming if has_evening(d) and day_hours(d, DEFAULT_POLICY)}
    assert weekdays and weekdays <= keys


async def test_a_day_with_an_evening_reservation_stays_open_until_twenty(
    system: System, client: BookingClient
) -> None:
    org = await register(client)
    day = DAYS.next()
    evening = await client.request(reservation(org, SpaceId.A, at(day, 18), at(day, 20)), 30)
    assert isinstance(evening, ReservationConfirmed)
    conn = await asyncpg.connect(system.dsn("booking"))
    try:  # the cut-off of that day arrives
        await conn.execute(
            "UPDATE scheduled_jobs SET due_at = now() WHERE kind = 'evening_closing' AND key = $1",
            day.isoformat(),
        )
    finally:
        await conn.close()
    found = await wait_for_event(
        system.stack.kafka_bootstrap, lambda e: isinstance(e, DayClosingTimeSet) and e.day == day
    )
    assert len(found) == 1 and isinstance(found[0], DayClosingTimeSet)
    assert found[0].closes_at.astimezone(TOKYO).hour == 20


async def test_cancelling_tonights_only_evening_reservation_closes_at_eighteen(
    system: System, client: BookingClient
) -> None:
    """Made before the cut-off (stored directly: the services' cut-off has passed), cancelled
    after it: the evening is decided again."""
    org = await register(client)
    reservation_id = uuid4()
    start, end = at(today(), 18), at(today(), 20)
    conn = await asyncpg.connect(system.dsn("booking"))
    try:
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO reservations (id, request_id, organisation_id, space, starts_at,"
                " ends_at, attendees, purpose, atrium, channel)"
                " VALUES ($1, $2, $3, 'lab', $4, $5, 3, '', false, 'kiosk')",
                reservation_id, uuid4(), org, start, end,
            )  # fmt: skip
    finally:
        await conn.close()
    before = len(
        [
            e
            for e in await booking_events(system.stack.kafka_bootstrap)
            if isinstance(e, DayClosingTimeSet) and e.day == today()
        ]
    )
    cancel = CancelReservation(
        message_id=uuid4(), reservation_id=reservation_id, organisation_id=org
    )
    assert isinstance(await client.request(cancel, 30), ReservationCancelled)
    await asyncio.sleep(1)
    after = [
        e
        for e in await booking_events(system.stack.kafka_bootstrap)
        if isinstance(e, DayClosingTimeSet) and e.day == today()
    ]
    assert len(after) == before + 1
    assert after[-1].correlation_id == cancel.message_id
    assert after[-1].closes_at.astimezone(TOKYO).hour == 18
