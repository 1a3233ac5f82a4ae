"""Booking rules, pure: no I/O, no Kafka, no SQL (DOMAIN.md, "Spaces").

The handler loads what the rules need (is the organisation registered, how full is the Lab) and
asks these functions; overlaps are left to PostgreSQL's exclusion constraint, the only place that
can see concurrent requests, fed with the rooms (`units_of`) each reservation occupies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from contracts.booking import RejectionReason, SpaceId

TOKYO = ZoneInfo("Asia/Tokyo")
SLOT = timedelta(minutes=30)
WEEKDAY_HOURS = (time(9), time(20))
WEEKEND_HOURS = (time(9), time(17))


@dataclass(frozen=True)
class Space:
    """A bookable space: its seats, and the rooms it occupies exclusively (none for the Lab)."""

    seats: int
    rooms: frozenset[str]
    needs_purpose: bool


DEFAULT_SPACES: Mapping[SpaceId, Space] = {
    SpaceId.LAB: Space(seats=30, rooms=frozenset(), needs_purpose=False),
    SpaceId.A: Space(seats=24, rooms=frozenset({"a"}), needs_purpose=True),
    SpaceId.B: Space(seats=24, rooms=frozenset({"b"}), needs_purpose=True),
    SpaceId.AB: Space(seats=48, rooms=frozenset({"a", "b"}), needs_purpose=True),
}
ATRIUM = "atrium"


@dataclass(frozen=True)
class Request:
    space: SpaceId
    starts_at: datetime
    ends_at: datetime
    attendees: int
    atrium: bool
    purpose: str


@dataclass(frozen=True)
class Rejection:
    reason: RejectionReason
    detail: str


@lru_cache(maxsize=64)
def _japanese_holidays(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("JP", years=year)


def is_public_holiday(day: date) -> bool:
    """Japanese public holidays, substitute holidays and 国民の休日 included."""
    return day in _japanese_holidays(day.year)


def opening_hours(day: date) -> tuple[time, time]:
    """Weekdays 9:00-20:00; Saturdays, Sundays and public holidays 9:00-17:00."""
    if day.weekday() >= 5 or is_public_holiday(day):
        return WEEKEND_HOURS
    return WEEKDAY_HOURS


def units_of(space: SpaceId, atrium: bool, spaces: Mapping[SpaceId, Space]) -> frozenset[str]:
    """The rooms a reservation holds exclusively: A+B holds both A and B, so it conflicts with
    each; atrium-combined use also holds the atrium."""
    rooms = spaces[space].rooms
    return rooms | {ATRIUM} if atrium else rooms


def _on_grid(moment: datetime) -> bool:
    local = moment.astimezone(TOKYO)
    return local.second == 0 and local.microsecond == 0 and local.minute % 30 == 0


def _check_shape(req: Request, space: Space) -> Rejection | None:
    if req.ends_at <= req.starts_at:
        return Rejection(RejectionReason.INVALID, "The end time must be after the start time.")
    if req.attendees < 1:
        return Rejection(RejectionReason.INVALID, "The number of attendees must be at least 1.")
    if not (_on_grid(req.starts_at) and _on_grid(req.ends_at)):
        return Rejection(
            RejectionReason.INVALID, "Reservations start and end on the hour or the half hour."
        )
    if req.atrium and req.space is not SpaceId.AB:
        return Rejection(
            RejectionReason.INVALID, "Atrium-combined use needs Space A and B together (ab)."
        )
    if space.needs_purpose and not req.purpose.strip():
        return Rejection(
            RejectionReason.INVALID,
            "Space A/B is for collaboration events: please state the purpose of the use.",
        )
    return None


def _check_hours(req: Request) -> Rejection | None:
    start = req.starts_at.astimezone(TOKYO)
    end = req.ends_at.astimezone(TOKYO)
    opens, closes = opening_hours(start.date())
    day_opens = datetime.combine(start.date(), opens, TOKYO)
    day_closes = datetime.combine(start.date(), closes, TOKYO)
    if start < day_opens or end > day_closes:
        return Rejection(
            RejectionReason.CLOSED,
            f"The center is open {opens:%H:%M}-{closes:%H:%M} on {start.date():%Y-%m-%d}"
            " (weekdays 9:00-20:00; Saturdays, Sundays and holidays 9:00-17:00).",
        )
    return None


def check_request(
    req: Request, organisation_registered: bool, spaces: Mapping[SpaceId, Space]
) -> Rejection | None:
    """Every rule that needs no knowledge of other reservations; None when they all pass."""
    space = spaces[req.space]
    if rejection := _check_shape(req, space):
        return rejection
    if not organisation_registered:
        return Rejection(
            RejectionReason.NOT_REGISTERED,
            "This organisation is not registered. Register at the center's reception first.",
        )
    if rejection := _check_hours(req):
        return rejection
    if req.attendees > space.seats:
        return Rejection(
            RejectionReason.CAPACITY,
            f"{req.attendees} attendees exceed the {space.seats} seats of this space.",
        )
    return None


def check_lab_room(already: int, requested: int, seats: int) -> Rejection | None:
    """The Lab is shared: reservations may overlap as long as their attendees fit its seats."""
    if already + requested > seats:
        return Rejection(
            RejectionReason.CAPACITY,
            f"The Collaboration Lab has {seats - already} of {seats} seats free at that time.",
        )
    return None


def conflict() -> Rejection:
    return Rejection(RejectionReason.CONFLICT, "The space is already booked for part of that time.")
