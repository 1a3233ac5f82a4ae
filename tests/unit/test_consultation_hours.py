"""Business hours on the center's calendar (services/consultation/hours.py): weekdays 9-20,
weekends and Japanese holidays 9-17, the year-end break closed."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.consultation.hours import (
    DeskCalendar,
    business_hours_between,
    first_response_due,
    overdue,
)
from services.runtime.center_calendar import is_public_holiday

TOKYO = ZoneInfo("Asia/Tokyo")
H = timedelta(hours=1)


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TOKYO)


def test_a_whole_weekday_is_eleven_hours_and_a_weekend_day_eight() -> None:
    assert business_hours_between(at(2026, 11, 24), at(2026, 11, 25)) == 11 * H  # Tuesday
    assert business_hours_between(at(2026, 11, 28), at(2026, 11, 29)) == 8 * H  # Saturday
    assert business_hours_between(at(2026, 11, 29), at(2026, 11, 30)) == 8 * H  # Sunday


def test_a_public_holiday_on_a_weekday_keeps_weekend_hours() -> None:
    assert is_public_holiday(date(2026, 11, 23))  # 勤労感謝の日, a Monday
    assert business_hours_between(at(2026, 11, 23), at(2026, 11, 24)) == 8 * H


def test_the_night_counts_nothing() -> None:
    assert business_hours_between(at(2026, 11, 24, 20), at(2026, 11, 25, 9)) == timedelta(0)
    assert business_hours_between(at(2026, 11, 24, 22), at(2026, 11, 25, 9, 30)) == H / 2


def test_from_friday_evening_to_monday_morning() -> None:
    # Friday 19-20 (1h), Saturday and Sunday (8h each), Monday 9-10 (1h)
    assert business_hours_between(at(2026, 11, 27, 19), at(2026, 11, 30, 10)) == 18 * H


def test_golden_week_counts_holiday_hours() -> None:
    # Wed 4/29 Showa Day ... Wed 5/6 substitute holiday: every day 9-17 but Thu 4/30, Fri 5/1
    total = business_hours_between(at(2026, 4, 29), at(2026, 5, 7))
    assert total == (6 * 8 + 2 * 11) * H


def test_the_national_holiday_between_two_holidays_is_a_holiday() -> None:
    assert is_public_holiday(date(2026, 9, 22))  # 国民の休日 between 9/21 and 9/23
    assert business_hours_between(at(2026, 9, 22), at(2026, 9, 23)) == 8 * H


def test_the_year_end_break_is_closed() -> None:
    # Mon 12/28 19:00 to Mon 1/4 10:00: one hour on either side of the break
    assert business_hours_between(at(2026, 12, 28, 19), at(2027, 1, 4, 10)) == 2 * H


def test_a_desk_without_closures_counts_the_break_as_holidays_and_weekdays() -> None:
    open_all_year = DeskCalendar(closures=())
    # 12/29 Tue-12/31 Thu weekdays (33h), 1/1 holiday, 1/2-1/3 weekend (24h)
    assert business_hours_between(at(2026, 12, 29), at(2027, 1, 4), open_all_year) == 57 * H


def test_instants_in_any_zone_count_the_same() -> None:
    utc = ZoneInfo("UTC")
    start = at(2026, 11, 24, 9).astimezone(utc)
    assert business_hours_between(start, at(2026, 11, 24, 12).astimezone(utc)) == 3 * H


def test_an_end_before_the_start_is_no_time() -> None:
    assert business_hours_between(at(2026, 11, 25), at(2026, 11, 24)) == timedelta(0)


def test_the_first_response_is_due_after_business_hours() -> None:
    # Tuesday 10:00 + 8h: 18:00 the same day
    assert first_response_due(at(2026, 11, 24, 10), 8 * H) == at(2026, 11, 24, 18)


def test_a_due_time_runs_over_the_weekend() -> None:
    # Friday 18:00 + 8h: Friday 2h, Saturday 9:00 + 6h
    assert first_response_due(at(2026, 11, 20, 18), 8 * H) == at(2026, 11, 21, 15)


def test_a_case_in_at_night_starts_counting_when_the_desk_opens() -> None:
    assert first_response_due(at(2026, 11, 24, 23), 2 * H) == at(2026, 11, 25, 11)


def test_a_case_in_before_the_year_end_break_is_due_after_it() -> None:
    # Mon 12/28 18:00 + 11h: 2h on Monday, then 9h from Monday 1/4 9:00
    assert first_response_due(at(2026, 12, 28, 18), 11 * H) == at(2027, 1, 4, 18)


def test_a_due_time_on_the_closing_hour_is_that_hour() -> None:
    assert first_response_due(at(2026, 11, 24, 9), 11 * H) == at(2026, 11, 24, 20)


@pytest.mark.parametrize("hours", [1, 5, 11, 16, 24, 40])
def test_due_and_elapsed_agree(hours: int) -> None:
    received = at(2026, 11, 20, 16, 30)
    due = first_response_due(received, hours * H)
    assert business_hours_between(received, due) == hours * H


def test_a_case_without_a_response_is_overdue_when_due() -> None:
    received = at(2026, 11, 20, 18)
    assert not overdue(received, None, at(2026, 11, 21, 14, 59), 8 * H)
    assert overdue(received, None, at(2026, 11, 21, 15), 8 * H)


def test_a_response_in_time_is_never_overdue_and_a_late_one_stays_late() -> None:
    received = at(2026, 11, 20, 18)
    later = at(2026, 12, 20)
    assert not overdue(received, at(2026, 11, 21, 15), later, 8 * H)
    assert overdue(received, at(2026, 11, 21, 15, 1), later, 8 * H)


def test_a_calendar_with_no_open_hours_is_refused() -> None:
    closed = DeskCalendar(closures=(((1, 1), (12, 31)),))
    with pytest.raises(ValueError):
        first_response_due(at(2026, 11, 24), H, closed)
