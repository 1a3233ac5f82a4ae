"""Expert consultation days (専門相談): the rules, as pure functions.

The center holds days on which an expert (an accountant, a labour consultant ...) sees
requesters in short slots. A coordinator or the chief coordinator opens a day with its slots;
whoever may work on a case (domain.may_work_on: its assignee, the chief, reception before it is
assigned) books a slot for that case's requester, one case per slot. The day before, at
REMIND_AT, the requester is reminded through notify (when, which kind of expert, the case's
reference); a slot booked after that is reminded at once, one booked for within REMIND_NOT_WITHIN
not at all. A day's slots lie inside the desk's opening hours on an open day, never overlap,
and last SLOT_SHORTEST to SLOT_LONGEST each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import pairwise

from contracts.identity import PrincipalKind, Role
from services.consultation.hours import DESK, DeskCalendar
from services.runtime.center_calendar import TOKYO
from services.runtime.identity import Caller

SLOT_SHORTEST = timedelta(minutes=15)
SLOT_LONGEST = timedelta(hours=3)
MOST_SLOTS = 24
REMIND_AT = time(10, 0)
REMIND_NOT_WITHIN = timedelta(hours=2)


@dataclass(frozen=True)
class DayRefused:
    """Why a day cannot be opened as asked: a stable reason for the caller."""

    reason: str


def plan_slots(
    day: date,
    slots: Sequence[tuple[time, time]],
    now: datetime,
    calendar: DeskCalendar = DESK,
) -> list[tuple[datetime, datetime]] | DayRefused:
    """The day's slots as instants, in order, or why they cannot be."""
    if not slots:
        return DayRefused("no_slots")
    if len(slots) > MOST_SLOTS:
        return DayRefused("too_many_slots")
    if day <= now.astimezone(TOKYO).date():
        return DayRefused("in_the_past")
    window = calendar.window(day)
    if window is None:
        return DayRefused("closed_day")
    opens, closes = window
    planned = sorted((datetime.combine(day, s, TOKYO), datetime.combine(day, e, TOKYO))
                     for s, e in slots)  # fmt: skip
    for start, end in planned:
        if not SLOT_SHORTEST <= end - start <= SLOT_LONGEST:
            return DayRefused("slot_length")
        if start < opens or end > closes:
            return DayRefused("outside_hours")
    for (_, end), (start, _) in pairwise(planned):
        if start < end:
            return DayRefused("slots_overlap")
    return planned


def reminder_due(starts_at: datetime, now: datetime) -> datetime | None:
    """When a booked slot's reminder goes out: REMIND_AT the day before, or now if that has
    passed; None when the slot is too near for a reminder to help."""
    if starts_at - now < REMIND_NOT_WITHIN:
        return None
    day_before = starts_at.astimezone(TOKYO).date() - timedelta(days=1)
    return max(datetime.combine(day_before, REMIND_AT, TOKYO), now)


def may_open_days(caller: Caller) -> bool:
    """Coordinators and the chief coordinator plan the experts' days."""
    return caller.kind is PrincipalKind.STAFF and bool(
        caller.roles & {Role.COORDINATOR, Role.CHIEF_COORDINATOR}
    )
