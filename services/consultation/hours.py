"""Business hours on the center's calendar, pure: how long a requester waited, counted in the
hours the desk is open (DOMAIN.md: contact weekdays 9:00-20:00, weekends and holidays
9:00-17:00; Japanese public holidays; closed over the year-end break).

The desk keeps the center's contact hours (services/runtime/center_calendar.py). A weekday
evening without a reservation closes the *rooms* at 18:00, not the telephone and e-mail desk,
so response times count the full contact hours.

A case whose first response has not come after a configured number of business hours is
overdue (`first_response_due`, `overdue`): the service puts the due time on its durable schedule
when the case comes in and raises the alert then, if nobody has responded.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from services.runtime.center_calendar import (
    TOKYO,
    YEAR_END_BREAK,
    MonthDay,
    is_closure_day,
    opening_hours,
)

SEARCH_LIMIT_DAYS = 2 * 366
"""How far ahead `first_response_due` looks for open hours before it gives up: no sane
calendar of closures leaves two years without an open hour."""


@dataclass(frozen=True)
class DeskCalendar:
    """The days and hours the desk is open; `closures` as booking's (yearly, may wrap)."""

    closures: tuple[tuple[MonthDay, MonthDay], ...] = YEAR_END_BREAK

    def window(self, day: date) -> tuple[datetime, datetime] | None:
        """When the desk is open on a day, as instants; None when it is closed all day."""
        if is_closure_day(day, self.closures):
            return None
        opens, closes = opening_hours(day)
        return datetime.combine(day, opens, TOKYO), datetime.combine(day, closes, TOKYO)

    def windows_from(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The open windows from `start` on, the first cut to begin at `start`."""
        day = start.astimezone(TOKYO).date()
        for offset in range(SEARCH_LIMIT_DAYS):
            window = self.window(day + timedelta(days=offset))
            if window is not None and window[1] > start:
                yield max(window[0], start), window[1]


DESK = DeskCalendar()


def business_hours_between(
    start: datetime, end: datetime, calendar: DeskCalendar = DESK
) -> timedelta:
    """The open time of the desk between two instants (zero when `end` is not after `start`)."""
    if end <= start:
        return timedelta(0)
    total = timedelta(0)
    day, last = start.astimezone(TOKYO).date(), end.astimezone(TOKYO).date()
    while day <= last:
        window = calendar.window(day)
        if window is not None:
            opens, closes = max(window[0], start), min(window[1], end)
            total += max(closes - opens, timedelta(0))
        day += timedelta(days=1)
    return total


def first_response_due(
    received_at: datetime, within: timedelta, calendar: DeskCalendar = DESK
) -> datetime:
    """The instant when `within` business hours have passed since `received_at`: a case that
    came in at night or on a closed day starts counting when the desk opens."""
    remaining = within
    for opens, closes in calendar.windows_from(received_at):
        if remaining <= closes - opens:
            return opens + remaining
        remaining -= closes - opens
    raise ValueError("the desk's calendar has no open hours ahead")


def overdue(
    received_at: datetime,
    first_response_at: datetime | None,
    now: datetime,
    within: timedelta,
    calendar: DeskCalendar = DESK,
) -> bool:
    """The first response did not come within `within` business hours: none yet and the time
    is up, or one that came after it was due."""
    due = first_response_due(received_at, within, calendar)
    if first_response_at is None:
        return now >= due
    return first_response_at > due
