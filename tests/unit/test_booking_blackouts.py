"""Blackouts staff set and lift: which confirmed reservations a blackout affects, when a blackout
can be lifted, and when lifting it calls for the day's evening decision (DOMAIN.md, "Spaces")."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from uuid import uuid4
from zoneinfo import ZoneInfo

from contracts.booking import RejectionReason, SpaceId
from services.booking.domain import (
    DEFAULT_POLICY,
    Booked,
    Request,
    Situation,
    Standing,
    affected_by_blackout,
    check_blackout_lift,
    check_request,
    needs_evening_decision_on_lift,
)

TOKYO = ZoneInfo("Asia/Tokyo")
MONDAY = date(2030, 1, 7)
SATURDAY = date(2030, 1, 12)
NOW = datetime(2030, 1, 6, 10, 0, tzinfo=TOKYO)  # the Sunday before


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), TOKYO)


def booked(day: date, start: int, end: int) -> Booked:
    return Booked(id=uuid4(), starts_at=at(day, start), ends_at=at(day, end))


# --- what a blackout affects -----------------------------------------------------------------


def test_a_blackout_lists_the_confirmed_reservations_of_the_day_in_order_of_their_start() -> None:
    late, early = booked(MONDAY, 15, 17), booked(MONDAY, 9, 10)
    assert affected_by_blackout(MONDAY, [late, early], NOW) == (early.id, late.id)


def test_a_blackout_does_not_list_reservations_of_other_days() -> None:
    other = booked(MONDAY + timedelta(days=1), 10, 11)
    assert affected_by_blackout(MONDAY, [other], NOW) == ()


def test_a_blackout_set_during_the_day_does_not_list_reservations_already_over() -> None:
    over, running, later = booked(MONDAY, 9, 10), booked(MONDAY, 10, 12), booked(MONDAY, 14, 15)
    listed = affected_by_blackout(MONDAY, [over, running, later], at(MONDAY, 11))
    assert listed == (running.id, later.id)


# --- lifting a blackout ----------------------------------------------------------------------


def test_a_blackout_of_a_coming_day_can_be_lifted() -> None:
    assert check_blackout_lift(True, MONDAY, NOW) is None
    assert check_blackout_lift(True, MONDAY, at(MONDAY, 15)) is None  # the same day still


def test_lifting_a_day_without_a_blackout_is_not_found() -> None:
    rejection = check_blackout_lift(False, MONDAY, NOW)
    assert rejection is not None and rejection.reason is RejectionReason.NOT_FOUND
    assert "2030-01-07" in rejection.detail


def test_the_blackout_of_a_day_already_over_stays_on_record() -> None:
    rejection = check_blackout_lift(True, MONDAY, at(MONDAY + timedelta(days=1), 9))
    assert rejection is not None and rejection.reason is RejectionReason.OUT_OF_WINDOW


def test_a_lifted_day_is_bookable_again() -> None:
    req = Request(SpaceId.A, at(MONDAY, 10), at(MONDAY, 12), 5, False, "協働イベント")
    standing = Standing(valid_until=datetime(2031, 1, 1, tzinfo=TOKYO))
    closed = check_request(req, Situation(NOW, standing, blacked_out=True), DEFAULT_POLICY)
    assert closed is not None and closed.reason is RejectionReason.CLOSED
    assert check_request(req, Situation(NOW, standing, blacked_out=False), DEFAULT_POLICY) is None


# --- the evening of a day reopened after its cut-off -----------------------------------------


def test_lifting_a_weekday_after_its_cut_off_decides_its_closing_time_at_once() -> None:
    assert needs_evening_decision_on_lift(MONDAY, at(MONDAY, 17), DEFAULT_POLICY)


def test_lifting_before_the_cut_off_leaves_the_decision_to_the_schedule() -> None:
    assert not needs_evening_decision_on_lift(MONDAY, at(MONDAY, 16, 59), DEFAULT_POLICY)
    assert not needs_evening_decision_on_lift(MONDAY, NOW, DEFAULT_POLICY)


def test_lifting_a_day_without_an_evening_needs_no_decision() -> None:
    assert not needs_evening_decision_on_lift(SATURDAY, at(SATURDAY, 18), DEFAULT_POLICY)
