"""The booking rules of DOMAIN.md ("Spaces"), on the pure domain functions."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from contracts.booking import RejectionReason, SpaceId
from services.booking.domain import (
    DEFAULT_POLICY,
    DEFAULT_SPACES,
    Request,
    Situation,
    Standing,
    check_lab_room,
    check_request,
    opening_hours,
    standing_word,
    units_of,
)

TOKYO = ZoneInfo("Asia/Tokyo")


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), TOKYO)


MONDAY = date(2030, 1, 7)
SATURDAY = date(2030, 1, 12)
COMING_OF_AGE_DAY = date(2030, 1, 14)  # 成人の日, second Monday of January
SUBSTITUTE_HOLIDAY = date(2029, 2, 12)  # 建国記念の日 falls on Sunday 2029-02-11
NOW = datetime(2029, 12, 20, 10, 0, tzinfo=TOKYO)
REGISTERED = Standing(valid_until=datetime(2031, 1, 1, tzinfo=TOKYO))


def request(
    space: SpaceId = SpaceId.A,
    start: datetime | None = None,
    end: datetime | None = None,
    attendees: int = 10,
    atrium: bool = False,
    purpose: str = "NPO collaboration meeting",
) -> Request:
    return Request(
        space=space,
        starts_at=start or at(MONDAY, 10),
        ends_at=end or at(MONDAY, 12),
        attendees=attendees,
        atrium=atrium,
        purpose=purpose,
    )


def reason(req: Request, registered: bool = True) -> RejectionReason | None:
    situation = Situation(now=NOW, standing=REGISTERED if registered else None)
    rejection = check_request(req, situation, DEFAULT_POLICY)
    return rejection.reason if rejection else None


def test_weekday_opens_nine_to_twenty() -> None:
    assert opening_hours(MONDAY) == (time(9), time(20))


def test_weekend_opens_nine_to_seventeen() -> None:
    assert opening_hours(SATURDAY) == (time(9), time(17))
    assert opening_hours(date(2030, 1, 13)) == (time(9), time(17))


def test_public_holiday_keeps_weekend_hours() -> None:
    assert opening_hours(COMING_OF_AGE_DAY) == (time(9), time(17))


def test_substitute_holiday_keeps_weekend_hours() -> None:
    assert opening_hours(SUBSTITUTE_HOLIDAY) == (time(9), time(17))


def test_a_request_inside_opening_hours_is_accepted() -> None:
    assert reason(request()) is None


def test_weekday_evening_until_twenty_is_open() -> None:
    assert reason(request(start=at(MONDAY, 18), end=at(MONDAY, 20))) is None


def test_before_nine_is_closed() -> None:
    assert reason(request(start=at(MONDAY, 8, 30), end=at(MONDAY, 10))) is RejectionReason.CLOSED


def test_after_twenty_is_closed() -> None:
    assert reason(request(start=at(MONDAY, 19), end=at(MONDAY, 20, 30))) is RejectionReason.CLOSED


def test_saturday_after_seventeen_is_closed() -> None:
    assert reason(request(start=at(SATURDAY, 16), end=at(SATURDAY, 18))) is RejectionReason.CLOSED


def test_holiday_after_seventeen_is_closed() -> None:
    req = request(start=at(COMING_OF_AGE_DAY, 16), end=at(COMING_OF_AGE_DAY, 18))
    assert reason(req) is RejectionReason.CLOSED


def test_hours_are_judged_in_tokyo_time_whatever_the_offset_sent() -> None:
    utc = ZoneInfo("UTC")
    # 01:00-03:00 UTC is 10:00-12:00 in Tokyo
    req = request(
        start=datetime(2030, 1, 7, 1, 0, tzinfo=utc), end=datetime(2030, 1, 7, 3, 0, tzinfo=utc)
    )
    assert reason(req) is None


def test_a_reservation_across_midnight_is_closed() -> None:
    req = request(start=at(MONDAY, 19), end=at(date(2030, 1, 8), 10))
    assert reason(req) is RejectionReason.CLOSED


def test_more_attendees_than_seats_is_capacity() -> None:
    assert reason(request(space=SpaceId.AB, attendees=49)) is RejectionReason.CAPACITY
    assert reason(request(space=SpaceId.AB, attendees=48)) is None


def test_unregistered_organisation_is_refused() -> None:
    assert reason(request(), registered=False) is RejectionReason.NOT_REGISTERED


def test_end_before_start_is_invalid() -> None:
    assert reason(request(start=at(MONDAY, 12), end=at(MONDAY, 10))) is RejectionReason.INVALID


def test_no_attendees_is_invalid() -> None:
    assert reason(request(attendees=0)) is RejectionReason.INVALID


def test_times_off_the_half_hour_grid_are_invalid() -> None:
    assert reason(request(start=at(MONDAY, 10, 15), end=at(MONDAY, 11))) is RejectionReason.INVALID


def test_atrium_needs_space_ab() -> None:
    assert reason(request(space=SpaceId.A, atrium=True)) is RejectionReason.INVALID
    assert reason(request(space=SpaceId.AB, atrium=True)) is None


def test_exclusive_spaces_need_a_purpose() -> None:
    assert reason(request(space=SpaceId.B, purpose="  ")) is RejectionReason.INVALID


def test_the_lab_needs_no_purpose() -> None:
    assert reason(request(space=SpaceId.LAB, purpose="")) is None


def test_every_rejection_explains_itself() -> None:
    rejection = check_request(request(attendees=500), Situation(NOW, REGISTERED), DEFAULT_POLICY)
    assert rejection is not None and "seats" in rejection.detail


@pytest.mark.parametrize(
    ("space", "atrium", "units"),
    [
        (SpaceId.A, False, {"a"}),
        (SpaceId.B, False, {"b"}),
        (SpaceId.AB, False, {"a", "b"}),
        (SpaceId.AB, True, {"a", "b", "atrium"}),
        (SpaceId.LAB, False, set()),
    ],
)
def test_ab_occupies_both_rooms_so_it_conflicts_with_each(
    space: SpaceId, atrium: bool, units: set[str]
) -> None:
    assert units_of(space, atrium, DEFAULT_SPACES) == frozenset(units)


def test_the_lab_is_shared_up_to_its_seats() -> None:
    seats = DEFAULT_SPACES[SpaceId.LAB].seats
    assert check_lab_room(already=seats - 5, requested=5, seats=seats) is None
    rejection = check_lab_room(already=seats - 5, requested=6, seats=seats)
    assert rejection is not None and rejection.reason is RejectionReason.CAPACITY


def test_the_directory_names_a_suspension_first_then_the_term() -> None:
    now = datetime(2027, 1, 7, 10, tzinfo=TOKYO)
    later, earlier = now + timedelta(days=1), now - timedelta(days=1)
    assert standing_word(Standing(later), now) == "active"
    assert standing_word(Standing(earlier), now) == "expired"
    assert standing_word(Standing(earlier, suspended=True), now) == "suspended"
    assert standing_word(Standing(now), now) == "expired"  # the term ends there
