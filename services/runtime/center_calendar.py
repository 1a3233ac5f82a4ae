"""The center's calendar, pure: Tokyo time, Japanese public holidays, the opening hours and the
fiscal year (DOMAIN.md, "Spaces" and "Information and notifications").

Booking decides reservations by it and the consultation desk counts business hours by it, so
it lives here, once, rather than in either service: both must agree on what a holiday is.
"""

from __future__ import annotations

from datetime import date, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

TOKYO = ZoneInfo("Asia/Tokyo")
WEEKDAY_HOURS = (time(9), time(20))
WEEKEND_HOURS = (time(9), time(17))
MonthDay = tuple[int, int]
YEAR_END_BREAK: tuple[tuple[MonthDay, MonthDay], ...] = (((12, 29), (1, 3)),)
"""The year-end break 12/29-1/3 that Yokohama's public facilities observe."""


def tokyo_midnight(day: date) -> datetime:
    """The start of a day in Tokyo, the boundary every daily and monthly figure uses."""
    return datetime.combine(day, time(0), TOKYO)


@lru_cache(maxsize=64)
def _japanese_holidays(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("JP", years=year)


def is_public_holiday(day: date) -> bool:
    """Japanese public holidays, substitute holidays and 国民の休日 included."""
    return day in _japanese_holidays(day.year)


@lru_cache(maxsize=4096)
def opening_hours(day: date) -> tuple[time, time]:
    """Weekdays 9:00-20:00; Saturdays, Sundays and public holidays 9:00-17:00. Remembered per
    day: every request asks it two or three times, and a batch asks it of the same few days."""
    if day.weekday() >= 5 or is_public_holiday(day):
        return WEEKEND_HOURS
    return WEEKDAY_HOURS


def is_closure_day(day: date, closures: tuple[tuple[MonthDay, MonthDay], ...]) -> bool:
    """Inside a yearly closed period; a period whose end comes before its start wraps the year."""
    md = (day.month, day.day)
    for first, last in closures:
        inside = first <= md <= last if first <= last else md >= first or md <= last
        if inside:
            return True
    return False


def fiscal_year_of(day: date) -> int:
    """The Japanese fiscal year (年度) runs April to March: 2024-03-31 belongs to FY2023."""
    return day.year if day.month >= 4 else day.year - 1


def fiscal_year_range(fiscal_year: int) -> tuple[date, date]:
    """First day and the day after the last day of a fiscal year."""
    return date(fiscal_year, 4, 1), date(fiscal_year + 1, 4, 1)
