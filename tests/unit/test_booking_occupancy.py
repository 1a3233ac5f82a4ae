"""The Space A/B occupancy report: how bookings count, open hours, months and the average."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from contracts.booking import SpaceId
from services.booking.occupancy import Booked, occupancy_report, to_csv, to_table

TOKYO = ZoneInfo("Asia/Tokyo")
JULY_1 = date(2024, 7, 1)  # a Monday


def at(day: date, hh: int) -> datetime:
    return datetime.combine(day, time(hh), TOKYO)


def only_july_first(day: date) -> tuple[time, time] | None:
    """A fiscal year open ten hours on one day only, to make the arithmetic visible."""
    return (time(9), time(19)) if day == JULY_1 else None


def july(bookings: list[Booked]) -> tuple[float, float, float]:
    report = occupancy_report(2024, bookings, only_july_first)
    month = report.months[3]
    assert month.month == JULY_1
    return month.open_hours, month.atrium_hours, month.alone_hours


def test_ab_counts_its_full_hours() -> None:
    assert july([Booked(SpaceId.AB, at(JULY_1, 10), at(JULY_1, 12), False)]) == (10, 0, 2)


def test_a_or_b_alone_count_half_their_hours() -> None:
    booked = [
        Booked(SpaceId.A, at(JULY_1, 10), at(JULY_1, 12), False),
        Booked(SpaceId.B, at(JULY_1, 10), at(JULY_1, 12), False),
    ]
    assert july(booked) == (10, 0, 2)


def test_atrium_combined_use_is_counted_apart() -> None:
    booked = [
        Booked(SpaceId.AB, at(JULY_1, 10), at(JULY_1, 13), True),
        Booked(SpaceId.A, at(JULY_1, 14), at(JULY_1, 16), False),
    ]
    assert july(booked) == (10, 3, 1)


def test_the_lab_does_not_count_toward_space_ab() -> None:
    assert july([Booked(SpaceId.LAB, at(JULY_1, 10), at(JULY_1, 12), False)]) == (10, 0, 0)


def test_time_outside_the_open_hours_is_not_counted() -> None:
    # the day closed at 19:00 (an evening closing), though the booking ran to 20:00
    assert july([Booked(SpaceId.AB, at(JULY_1, 18), at(JULY_1, 20), False)]) == (10, 0, 1)


def test_the_year_has_twelve_months_from_april_and_an_hour_weighted_average() -> None:
    def weekdays(day: date) -> tuple[time, time] | None:
        return (time(9), time(19)) if day.weekday() < 5 else None

    booked = [Booked(SpaceId.AB, at(JULY_1, 9), at(JULY_1, 19), True)]
    report = occupancy_report(2024, booked, weekdays, {JULY_1: 42})
    assert report.months[0].month == date(2024, 4, 1)
    assert report.months[-1].month == date(2025, 3, 1)
    assert report.year.open_hours == sum(m.open_hours for m in report.months)
    assert report.year.atrium_rate == 10 / report.year.open_hours
    assert report.year.lab_visitors == 42
    assert report.months[3].atrium_rate == 10 / (23 * 10)  # July 2024 has 23 weekdays


def test_csv_and_table_show_every_month_and_the_year() -> None:
    report = occupancy_report(2024, [], only_july_first)
    csv = to_csv(report).splitlines()
    assert len(csv) == 1 + 12 + 1 and csv[-1].startswith("FY2024,")
    assert "average" in to_table(report)
