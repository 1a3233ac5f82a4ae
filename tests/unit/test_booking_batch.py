"""A batch of reservation requests decided together (domain.decide_in_order): each is judged as
if every earlier request of its batch had been decided and stored before it."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from contracts.booking import RejectionReason, SpaceId
from services.booking.domain import (
    DEFAULT_POLICY,
    Asked,
    Facts,
    Request,
    Standing,
    decide_in_order,
)

TOKYO = ZoneInfo("Asia/Tokyo")
MONDAY = date(2030, 1, 7)
SATURDAY = date(2030, 1, 12)
NOW = datetime(2029, 12, 20, 10, 0, tzinfo=TOKYO)
REGISTERED = Facts(standing=Standing(valid_until=datetime(2031, 1, 1, tzinfo=TOKYO)))
ORG = uuid4()


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), TOKYO)


def asked(
    space: SpaceId = SpaceId.A,
    hours: tuple[int, int] = (10, 12),
    day: date = MONDAY,
    attendees: int = 10,
    atrium: bool = False,
    organisation_id: UUID = ORG,
    facts: Facts = REGISTERED,
) -> Asked:
    request = Request(space, at(day, hours[0]), at(day, hours[1]), attendees, atrium, "協働会議")
    return Asked(organisation_id, request, facts)


def reasons(*batch: Asked, quota: int = 10) -> list[RejectionReason | None]:
    policy = replace(DEFAULT_POLICY, max_active_reservations=quota)
    return [r.reason if r else None for r in decide_in_order(batch, NOW, policy)]


def test_requests_for_distinct_free_slots_are_all_accepted() -> None:
    assert reasons(
        asked(SpaceId.A, (10, 12)), asked(SpaceId.B, (10, 12)), asked(SpaceId.A, (12, 14))
    ) == [None, None, None]


def test_a_later_request_for_a_room_an_earlier_one_took_is_a_conflict() -> None:
    assert reasons(asked(SpaceId.A, (10, 12)), asked(SpaceId.AB, (11, 13))) == [
        None,
        RejectionReason.CONFLICT,
    ]


def test_atrium_combined_uses_conflict_over_the_atrium() -> None:
    first = asked(SpaceId.AB, (10, 12), atrium=True)
    assert reasons(first, asked(SpaceId.AB, (11, 12), atrium=True)) == [
        None,
        RejectionReason.CONFLICT,
    ]


def test_a_request_the_rules_refuse_leaves_its_room_to_a_later_one() -> None:
    too_many = asked(SpaceId.A, (10, 12), attendees=25)
    assert reasons(too_many, asked(SpaceId.A, (10, 12))) == [RejectionReason.CAPACITY, None]


def test_a_room_already_held_is_a_conflict_but_the_rules_reason_comes_first() -> None:
    held = replace(REGISTERED, rooms_taken=True)
    assert reasons(
        asked(SpaceId.A, (10, 12), facts=held),
        asked(SpaceId.A, (16, 18), day=SATURDAY, facts=held),
        asked(SpaceId.A, (10, 12)),
    ) == [RejectionReason.CONFLICT, RejectionReason.CLOSED, None]


def test_back_to_back_slots_do_not_conflict() -> None:
    assert reasons(asked(SpaceId.A, (10, 12)), asked(SpaceId.A, (12, 13))) == [None, None]


def test_the_same_hours_of_another_day_do_not_conflict() -> None:
    other_day = date(2030, 1, 8)
    assert reasons(asked(SpaceId.A, (10, 12)), asked(SpaceId.A, (10, 12), day=other_day)) == [
        None,
        None,
    ]


def test_the_quota_counts_what_earlier_requests_of_the_batch_booked() -> None:
    one_held = replace(REGISTERED, active_reservations=1)
    assert reasons(
        asked(SpaceId.A, (10, 11), facts=one_held),
        asked(SpaceId.A, (10, 11), facts=one_held),  # a conflict books nothing
        asked(SpaceId.B, (10, 11), facts=one_held),
        asked(SpaceId.B, (14, 15), facts=one_held),
        asked(SpaceId.B, (15, 16), organisation_id=uuid4()),
        quota=3,
    ) == [None, RejectionReason.CONFLICT, None, RejectionReason.QUOTA, None]


def test_lab_requests_of_a_batch_share_its_seats() -> None:
    ten_booked = replace(REGISTERED, lab_attendees=10)
    assert reasons(
        asked(SpaceId.LAB, (10, 12), attendees=15, facts=ten_booked),
        asked(SpaceId.LAB, (11, 13), attendees=15, facts=ten_booked),
        asked(SpaceId.LAB, (12, 14), attendees=15),
    ) == [None, RejectionReason.CAPACITY, None]
