"""The expert consultation days in the database (migrations/003_expert_days.sql). A slot is
booked by one conditional UPDATE (free, of a day not cancelled, not begun): two staff members
booking the same slot at once get one booking and one refusal, never two."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from uuid import UUID, uuid4

import asyncpg

from contracts.consultation import ExpertKind
from contracts.notify import Language


@dataclass(frozen=True)
class Slot:
    id: UUID
    day_id: UUID
    starts_at: datetime
    ends_at: datetime
    case_id: UUID | None
    assignee: str | None  # of the booked case: who may see which case it is (need to know)
    reference: str | None
    language: Language | None


@dataclass(frozen=True)
class Day:
    id: UUID
    expert: ExpertKind
    day: date
    cancelled: bool
    slots: tuple[Slot, ...]


class Booked(StrEnum):
    BOOKED = "booked"
    TAKEN = "slot_taken"
    NO_SLOT = "no_slot"
    DAY_CANCELLED = "day_cancelled"
    BEGUN = "slot_begun"
    SAME_DAY = "case_booked_that_day"


async def open_day(
    conn: asyncpg.Connection,
    expert: ExpertKind,
    day: date,
    slots: Sequence[tuple[datetime, datetime]],
    by: str,
    at: datetime,
) -> Day:
    day_id = uuid4()
    await conn.execute(
        "INSERT INTO expert_days (id, expert, day, opened_by, opened_at)"
        " VALUES ($1, $2, $3, $4, $5)",
        day_id, expert.value, day, by, at,
    )  # fmt: skip
    made = [(uuid4(), day_id, start, end) for start, end in slots]
    await conn.executemany(
        "INSERT INTO expert_slots (id, day_id, starts_at, ends_at) VALUES ($1, $2, $3, $4)", made
    )
    return Day(day_id, expert, day, False,
               tuple(Slot(i, d, s, e, None, None, None, None) for i, d, s, e in made))  # fmt: skip


async def days_between(conn: asyncpg.Connection, first: date, last: date) -> list[Day]:
    rows = await conn.fetch(
        "SELECT d.id AS day_id, d.expert, d.day, d.cancelled_at, s.id, s.starts_at, s.ends_at,"
        "  s.case_id, s.language, c.assignee, c.reference"
        " FROM expert_days d JOIN expert_slots s ON s.day_id = d.id"
        " LEFT JOIN cases c ON c.id = s.case_id"
        " WHERE d.day BETWEEN $1 AND $2 ORDER BY d.day, d.id, s.starts_at",
        first, last,
    )  # fmt: skip
    days: dict[UUID, Day] = {}
    for r in rows:
        slot = Slot(r["id"], r["day_id"], r["starts_at"], r["ends_at"], r["case_id"],
                    r["assignee"], r["reference"],
                    Language(r["language"]) if r["language"] else None)  # fmt: skip
        found = days.get(r["day_id"])
        if found is None:
            found = Day(r["day_id"], ExpertKind(r["expert"]), r["day"],
                        r["cancelled_at"] is not None, ())  # fmt: skip
        days[r["day_id"]] = Day(found.id, found.expert, found.day, found.cancelled,
                                (*found.slots, slot))  # fmt: skip
    return list(days.values())


async def book(
    conn: asyncpg.Connection,
    slot_id: UUID,
    case_id: UUID,
    language: Language,
    by: str,
    now: datetime,
) -> tuple[Booked, datetime | None]:
    """Book a free slot for a case: (what became of it, when the slot begins)."""
    try:
        starts_at = await conn.fetchval(
            "UPDATE expert_slots s SET case_id = $2, language = $3, booked_by = $4, booked_at = $5"
            " FROM expert_days d WHERE s.id = $1 AND d.id = s.day_id AND d.cancelled_at IS NULL"
            " AND s.case_id IS NULL AND s.starts_at > $5 RETURNING s.starts_at",
            slot_id, case_id, language.value, by, now,
        )  # fmt: skip
    except asyncpg.UniqueViolationError:
        return Booked.SAME_DAY, None
    if starts_at is not None:
        return Booked.BOOKED, starts_at
    row = await conn.fetchrow(
        "SELECT s.case_id, s.starts_at, d.cancelled_at FROM expert_slots s"
        " JOIN expert_days d ON d.id = s.day_id WHERE s.id = $1",
        slot_id,
    )
    if row is None:
        return Booked.NO_SLOT, None
    if row["cancelled_at"] is not None:
        return Booked.DAY_CANCELLED, None
    if row["case_id"] is not None:
        return Booked.TAKEN, None
    return Booked.BEGUN, None


async def slot(conn: asyncpg.Connection, slot_id: UUID) -> tuple[Slot, ExpertKind, bool] | None:
    """A slot with its day's expert and whether the day was cancelled."""
    r = await conn.fetchrow(
        "SELECT s.id, s.day_id, s.starts_at, s.ends_at, s.case_id, s.language, c.assignee,"
        "  c.reference, d.expert, d.cancelled_at FROM expert_slots s"
        " JOIN expert_days d ON d.id = s.day_id LEFT JOIN cases c ON c.id = s.case_id"
        " WHERE s.id = $1",
        slot_id,
    )
    if r is None:
        return None
    found = Slot(r["id"], r["day_id"], r["starts_at"], r["ends_at"], r["case_id"], r["assignee"],
                 r["reference"], Language(r["language"]) if r["language"] else None)  # fmt: skip
    return found, ExpertKind(r["expert"]), r["cancelled_at"] is not None


async def release(conn: asyncpg.Connection, slot_id: UUID, case_id: UUID) -> bool:
    """Free a slot booked for the case; False when it is not booked for it."""
    status: str = await conn.execute(
        "UPDATE expert_slots SET case_id = NULL, language = NULL, booked_by = NULL,"
        " booked_at = NULL WHERE id = $1 AND case_id = $2",
        slot_id, case_id,
    )  # fmt: skip
    return status.endswith(" 1")


async def cancel_day(conn: asyncpg.Connection, day_id: UUID, at: datetime) -> list[UUID] | None:
    """Cancel a day; the ids of its booked slots (their reminders to cancel), None when there
    is no such day."""
    status: str = await conn.execute(
        "UPDATE expert_days SET cancelled_at = coalesce(cancelled_at, $2) WHERE id = $1",
        day_id, at,
    )  # fmt: skip
    if not status.endswith(" 1"):
        return None
    rows = await conn.fetch(
        "SELECT id FROM expert_slots WHERE day_id = $1 AND case_id IS NOT NULL", day_id
    )
    return [r["id"] for r in rows]
