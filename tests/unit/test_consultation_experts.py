"""The rules of expert consultation days: which slots a day may have, when a booked slot's
reminder goes out, who opens days and who books them."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from contracts.identity import PrincipalKind, Role
from services.consultation.experts import (
    DayRefused,
    may_open_days,
    plan_slots,
    reminder_due,
)
from services.runtime.center_calendar import TOKYO
from services.runtime.identity import Caller

MONDAY = date(2024, 6, 10)  # an ordinary weekday: open 9:00-20:00
NOW = datetime(2024, 6, 1, 10, 0, tzinfo=TOKYO)


def staff(*roles: Role) -> Caller:
    return Caller(PrincipalKind.STAFF, "someone", frozenset(roles))


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), TOKYO)


def test_slots_inside_the_opening_hours_that_do_not_overlap_are_planned_in_order() -> None:
    planned = plan_slots(MONDAY, [(time(14), time(14, 45)), (time(13), time(13, 45))], NOW)
    assert planned == [(at(MONDAY, 13), at(MONDAY, 13, 45)), (at(MONDAY, 14), at(MONDAY, 14, 45))]


def test_overlapping_slots_are_refused() -> None:
    refused = plan_slots(MONDAY, [(time(13), time(14)), (time(13, 30), time(14, 30))], NOW)
    assert isinstance(refused, DayRefused) and refused.reason == "slots_overlap"


def test_a_slot_outside_the_opening_hours_is_refused() -> None:
    saturday = MONDAY - timedelta(days=2)  # open 9:00-17:00
    refused = plan_slots(saturday, [(time(16, 30), time(17, 30))], NOW)
    assert isinstance(refused, DayRefused) and refused.reason == "outside_hours"
    assert isinstance(plan_slots(MONDAY, [(time(8, 30), time(9, 30))], NOW), DayRefused)


def test_a_closed_day_or_a_day_gone_by_has_no_slots() -> None:
    new_years_day = date(2025, 1, 1)
    refused = plan_slots(new_years_day, [(time(10), time(11))], NOW)
    assert isinstance(refused, DayRefused) and refused.reason == "closed_day"
    past = plan_slots(date(2024, 5, 31), [(time(10), time(11))], NOW)
    assert isinstance(past, DayRefused) and past.reason == "in_the_past"


def test_slot_lengths_and_counts_are_bounded() -> None:
    assert plan_slots(MONDAY, [(time(10), time(10, 5))], NOW).reason == "slot_length"  # type: ignore[union-attr]
    assert plan_slots(MONDAY, [(time(10), time(14))], NOW).reason == "slot_length"  # type: ignore[union-attr]
    assert plan_slots(MONDAY, [], NOW).reason == "no_slots"  # type: ignore[union-attr]
    many = [(time(9, 0), time(9, 15))] * 30
    assert plan_slots(MONDAY, many, NOW).reason == "too_many_slots"  # type: ignore[union-attr]


def test_the_reminder_goes_out_at_ten_the_day_before_or_at_once_when_that_is_past() -> None:
    slot = at(MONDAY, 14)
    assert reminder_due(slot, NOW) == at(MONDAY - timedelta(days=1), 10)
    late = at(MONDAY - timedelta(days=1), 18)
    assert reminder_due(slot, late) == late
    assert reminder_due(slot, at(MONDAY, 13, 30)) is None  # too late for a reminder


def test_coordinators_and_the_chief_open_days_reception_and_others_do_not() -> None:
    assert may_open_days(staff(Role.COORDINATOR))
    assert may_open_days(staff(Role.CHIEF_COORDINATOR))
    assert not may_open_days(staff(Role.RECEPTION))
    assert not may_open_days(staff(Role.ADMINISTRATOR))
    assert not may_open_days(Caller(PrincipalKind.ORGANISATION, "x", frozenset()))
