"""What the pages show, computed from the services' answers: pure functions, no I/O, so the
unit tests read them without a server. No rule of the center is decided here: which slots are
free, the opening hours and the evening come from booking's availability answer as they are.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from contracts.booking import SpaceId

TOKYO = ZoneInfo("Asia/Tokyo")
SLOT = timedelta(minutes=30)  # the booking grid, as booking's availability answer is cut


def tokyo(moment: str | datetime) -> datetime:
    found = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return found.astimezone(TOKYO)


def folded(text: str) -> str:
    """Full-width and half-width, upper and lower case alike, for finding a name."""
    return unicodedata.normalize("NFKC", text).casefold()


def hhmm(moment: str | datetime) -> str:
    return f"{tokyo(moment):%H:%M}"


@dataclass(frozen=True)
class Cell:
    space: SpaceId
    free: bool


@dataclass(frozen=True)
class SlotRow:
    starts: time
    ends: time
    evening: bool  # reservation-only (the weekday evening)
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class DayGrid:
    day: date
    open: bool
    opens: str | None
    closes: str | None
    closing_decided: bool
    evening_from: str | None
    rows: tuple[SlotRow, ...]


def _parse_time(text: str) -> time:
    return time.fromisoformat(text)


def _free_slots(day_answer: dict[str, Any]) -> set[datetime]:
    found: set[datetime] = set()
    for period in day_answer.get("free", []):
        slot, end = tokyo(period["starts_at"]), tokyo(period["ends_at"])
        while slot < end:
            found.add(slot)
            slot += SLOT
    return found


def day_grid(day: date, answers: dict[SpaceId, list[dict[str, Any]]]) -> DayGrid:
    """One day's half-hour slots from opening to closing, each space free or not."""
    days = {space: next(d for d in found if d["date"] == day.isoformat())
            for space, found in answers.items()}  # fmt: skip
    first = next(iter(days.values()))
    if not first["open"]:
        return DayGrid(day, False, None, None, False, None, ())
    opens, closes = _parse_time(first["opens"]), _parse_time(first["closes"])
    evening = first.get("evening_from")
    free = {space: _free_slots(found) for space, found in days.items()}
    rows = []
    slot = datetime.combine(day, opens, TOKYO)
    end = datetime.combine(day, closes, TOKYO)
    while slot < end:
        cells = tuple(Cell(space, slot in free[space]) for space in answers)
        is_evening = evening is not None and slot.time() >= _parse_time(evening)
        rows.append(SlotRow(slot.time(), (slot + SLOT).time(), is_evening, cells))
        slot += SLOT
    return DayGrid(day, True, first["opens"], first["closes"], bool(first["closing_decided"]),
                   evening, tuple(rows))  # fmt: skip


@dataclass(frozen=True)
class WeekDay:
    day: date
    open: bool
    opens: str | None
    closes: str | None
    evening_from: str | None
    free: dict[SpaceId, list[tuple[str, str]]]


def week(answers: dict[SpaceId, list[dict[str, Any]]]) -> list[WeekDay]:
    """Each day of the answers: its hours and each space's free periods (HH:MM-HH:MM)."""
    first_space = next(iter(answers))
    found = []
    for index, day_answer in enumerate(answers[first_space]):
        free = {
            space: [(hhmm(p["starts_at"]), hhmm(p["ends_at"])) for p in days[index]["free"]]
            for space, days in answers.items()
        }
        found.append(WeekDay(date.fromisoformat(day_answer["date"]), bool(day_answer["open"]),
                             day_answer["opens"], day_answer["closes"],
                             day_answer.get("evening_from"), free))  # fmt: skip
    return found


def half_hours(first: time = time(9), last: time = time(20)) -> list[str]:
    """The times a booking form offers (HH:MM every 30 minutes); booking judges the choice."""
    found = []
    moment = datetime.combine(date(2000, 1, 3), first)
    while moment.time() <= last:
        found.append(f"{moment:%H:%M}")
        moment += SLOT
    return found


@dataclass(frozen=True)
class ReservationRow:
    reservation_id: str
    space: SpaceId
    day: date
    starts: str
    ends: str
    attendees: int
    purpose: str
    atrium: bool
    cancelled: bool
    upcoming: bool
    organisation_name: str | None = None


def reservation_rows(found: list[dict[str, Any]], now: datetime) -> list[ReservationRow]:
    rows = []
    for r in found:
        starts, ends = tokyo(r["starts_at"]), tokyo(r["ends_at"])
        rows.append(ReservationRow(
            str(r["reservation_id"]), SpaceId(r["space"]), starts.date(), f"{starts:%H:%M}",
            f"{ends:%H:%M}", int(r["attendees"]), str(r.get("purpose") or ""),
            bool(r.get("atrium")), bool(r["cancelled"]), starts > now,
            r.get("organisation_name"),
        ))  # fmt: skip
    return rows
