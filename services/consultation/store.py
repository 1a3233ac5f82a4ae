"""The consultation service's queries (asyncpg).

A case's facts and history are plain columns; its content is sealed (sealing.py) before it is
written and opened only here, after the caller's need to know was judged. No function logs, and
no error raised here quotes a value: a database error can quote what it failed to store, so
content only ever reaches the database sealed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from contracts.consultation import (
    CaseKind,
    CaseOutcome,
    CaseState,
    IntakeChannel,
    ReferralOutcome,
    ReferralTarget,
    TopicCode,
)
from services.consultation import domain, search
from services.consultation.access import CaseField
from services.consultation.sealing import SealingKeys, seal, unseal
from services.consultation.statistics import CaseFacts
from services.runtime.identity import Caller

NOTES = "notes"


def note_field(note_id: int) -> str:
    return f"{NOTES}/{note_id}"


def referral_field(referral_id: UUID) -> str:
    return f"{CaseField.REFERRAL_DETAILS}/{referral_id}"


@dataclass(frozen=True)
class StoredCase:
    case: domain.Case
    reference: str
    erased_at: datetime | None = None


# --- references and intake ---------------------------------------------------------------------


async def next_reference(conn: asyncpg.Connection, fiscal_year: int) -> str:
    """The next number of the fiscal year's ledger (the row lock orders concurrent intakes)."""
    sequence: int = await conn.fetchval(
        "INSERT INTO case_references (fiscal_year, last) VALUES ($1, 1)"
        " ON CONFLICT (fiscal_year) DO UPDATE SET last = case_references.last + 1"
        " RETURNING last",
        fiscal_year,
    )
    return domain.case_reference(fiscal_year, sequence)


async def insert_case(
    conn: asyncpg.Connection, case: domain.Case, reference: str, by: str | None
) -> None:
    await conn.execute(
        "INSERT INTO cases (id, reference, kind, channel, state, topics, parent_id, assignee,"
        " received_at, first_response_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        case.id, reference, case.kind.value, case.channel.value, case.state.value,
        [t.value for t in case.topics], case.parent_id, case.assignee, case.received_at,
        case.first_response_at,
    )  # fmt: skip
    await conn.executemany(
        "INSERT INTO case_assignments (case_id, assignee, by, at) VALUES ($1, $2, $3, $4)",
        [(case.id, a.assignee, a.by, a.at) for a in case.assignments],
    )
    await add_step(conn, case.id, "case.received", case.state, by, case.received_at)


async def add_step(
    conn: asyncpg.Connection,
    case_id: UUID,
    step: str,
    state: CaseState,
    by: str | None,
    at: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO case_steps (case_id, step, state, by, at) VALUES ($1, $2, $3, $4, $5)",
        case_id, step, state.value, by, at,
    )  # fmt: skip


# --- loading and saving a case ------------------------------------------------------------------


async def load_case(
    conn: asyncpg.Connection, case_id: UUID, for_update: bool = False
) -> StoredCase | None:
    """The case with its history; `for_update` locks it until the transaction ends (the HTTP
    routes and the consumer may change one case at once)."""
    row = await conn.fetchrow(
        "SELECT * FROM cases WHERE id = $1" + (" FOR UPDATE" if for_update else ""), case_id
    )
    if row is None:
        return None
    assignments = await conn.fetch(
        "SELECT assignee, by, at FROM case_assignments WHERE case_id = $1 ORDER BY id", case_id
    )
    referrals = await conn.fetch(
        "SELECT id, target, by, referred_at, outcome, ended_at FROM referrals"
        " WHERE case_id = $1 ORDER BY seq",
        case_id,
    )
    closings = await conn.fetch(
        "SELECT outcome, by, at FROM case_closings WHERE case_id = $1 ORDER BY id", case_id
    )
    case = domain.Case(
        id=row["id"],
        kind=CaseKind(row["kind"]),
        channel=IntakeChannel(row["channel"]),
        received_at=row["received_at"],
        state=CaseState(row["state"]),
        topics=tuple(TopicCode(t) for t in row["topics"]),
        parent_id=row["parent_id"],
        first_response_at=row["first_response_at"],
        assignments=tuple(domain.Assignment(a["assignee"], a["by"], a["at"]) for a in assignments),
        referrals=tuple(
            domain.Referral(
                r["id"],
                ReferralTarget(r["target"]),
                r["by"],
                r["referred_at"],
                ReferralOutcome(r["outcome"]) if r["outcome"] else None,
                r["ended_at"],
            )
            for r in referrals
        ),
        closings=tuple(
            domain.Closing(CaseOutcome(c["outcome"]), c["by"], c["at"]) for c in closings
        ),
    )
    return StoredCase(case, row["reference"], row["erased_at"])


async def save(conn: asyncpg.Connection, before: domain.Case, after: domain.Case) -> None:
    """Store what a step changed: the case's columns, and what it added to its history (an
    assignment, a referral or its outcome, a closing)."""
    await conn.execute(
        "UPDATE cases SET kind = $2, state = $3, topics = $4, assignee = $5,"
        " first_response_at = $6, closed_at = $7, outcome = $8 WHERE id = $1",
        after.id, after.kind.value, after.state.value, [t.value for t in after.topics],
        after.assignee, after.first_response_at, after.closed_at,
        after.outcome.value if after.outcome else None,
    )  # fmt: skip
    await conn.executemany(
        "INSERT INTO case_assignments (case_id, assignee, by, at) VALUES ($1, $2, $3, $4)",
        [(after.id, a.assignee, a.by, a.at) for a in after.assignments[len(before.assignments) :]],
    )
    await conn.executemany(
        "INSERT INTO case_closings (case_id, outcome, by, at) VALUES ($1, $2, $3, $4)",
        [(after.id, c.outcome.value, c.by, c.at) for c in after.closings[len(before.closings) :]],
    )
    known = {r.id: r for r in before.referrals}
    for referral in after.referrals:
        if referral.id not in known:
            await conn.execute(
                "INSERT INTO referrals (id, case_id, target, by, referred_at)"
                " VALUES ($1, $2, $3, $4, $5)",
                referral.id, after.id, referral.target.value, referral.by, referral.referred_at,
            )  # fmt: skip
        elif referral != known[referral.id] and referral.outcome is not None:
            await conn.execute(
                "UPDATE referrals SET outcome = $2, ended_at = $3 WHERE id = $1",
                referral.id, referral.outcome.value, referral.ended_at,
            )  # fmt: skip


# --- content -----------------------------------------------------------------------------------


async def write_content(
    conn: asyncpg.Connection,
    keys: SealingKeys,
    case_id: UUID,
    values: Mapping[CaseField, str],
    by: str,
    at: datetime,
) -> None:
    """Seal and store content fields of a case (a field written again replaces its value)."""
    await conn.executemany(
        "INSERT INTO case_content (case_id, field, sealed, written_by, written_at)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (case_id, field) DO UPDATE"
        " SET sealed = excluded.sealed, written_by = excluded.written_by,"
        "  written_at = excluded.written_at",
        [
            (case_id, str(name), seal(keys, case_id, str(name), value), by, at)
            for name, value in values.items()
        ],
    )


async def read_content(
    conn: asyncpg.Connection, keys: SealingKeys, case_id: UUID, fields: Iterable[CaseField]
) -> dict[CaseField, str]:
    """The content fields asked for that the case holds, opened."""
    wanted = [str(f) for f in fields]
    rows = await conn.fetch(
        "SELECT field, sealed FROM case_content WHERE case_id = $1 AND field = ANY($2::text[])",
        case_id,
        wanted,
    )
    return {
        CaseField(r["field"]): unseal(keys, case_id, r["field"], bytes(r["sealed"])) for r in rows
    }


@dataclass(frozen=True)
class Note:
    id: int
    text: str
    written_by: str
    written_at: datetime


async def add_note(
    conn: asyncpg.Connection, keys: SealingKeys, case_id: UUID, text: str, by: str, at: datetime
) -> int:
    """A working note; its id is drawn first, as the sealed value is bound to it."""
    note_id: int = await conn.fetchval("SELECT nextval('case_notes_id_seq')")
    await conn.execute(
        "INSERT INTO case_notes (id, case_id, sealed, written_by, written_at)"
        " VALUES ($1, $2, $3, $4, $5)",
        note_id, case_id, seal(keys, case_id, note_field(note_id), text), by, at,
    )  # fmt: skip
    return note_id


async def notes(conn: asyncpg.Connection, keys: SealingKeys, case_id: UUID) -> list[Note]:
    rows = await conn.fetch(
        "SELECT id, sealed, written_by, written_at FROM case_notes WHERE case_id = $1 ORDER BY id",
        case_id,
    )
    return [
        Note(r["id"], unseal(keys, case_id, note_field(r["id"]), bytes(r["sealed"])),
             r["written_by"], r["written_at"])
        for r in rows
    ]  # fmt: skip


async def set_referral_details(
    conn: asyncpg.Connection, keys: SealingKeys, case_id: UUID, referral_id: UUID, text: str
) -> bool:
    """To whom exactly and why; False when the case has no such referral."""
    status: str = await conn.execute(
        "UPDATE referrals SET details = $3 WHERE id = $1 AND case_id = $2",
        referral_id, case_id, seal(keys, case_id, referral_field(referral_id), text),
    )  # fmt: skip
    return status.endswith(" 1")


async def referral_details(
    conn: asyncpg.Connection, keys: SealingKeys, case_id: UUID
) -> dict[UUID, str]:
    rows = await conn.fetch(
        "SELECT id, details FROM referrals WHERE case_id = $1 AND details IS NOT NULL", case_id
    )
    return {
        r["id"]: unseal(keys, case_id, referral_field(r["id"]), bytes(r["details"])) for r in rows
    }


# --- lists -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Listed:
    """A line of a list: what a case is, none of its content."""

    id: UUID
    reference: str
    state: CaseState
    kind: CaseKind
    channel: IntakeChannel
    topics: tuple[TopicCode, ...]
    received_at: datetime
    assignee: str | None


def listed(r: asyncpg.Record) -> Listed:
    return Listed(r["id"], r["reference"], CaseState(r["state"]), CaseKind(r["kind"]),
                  IntakeChannel(r["channel"]), tuple(TopicCode(t) for t in r["topics"]),
                  r["received_at"], r["assignee"])  # fmt: skip


async def list_cases(
    conn: asyncpg.Connection,
    caller: Caller,
    chief: bool,
    reception: bool,
    states: Sequence[CaseState],
    limit: int,
) -> list[Listed]:
    """The newest cases the caller may be entitled to (need to know narrows it once more, in
    access.visible): the chief's, the assignee's own, reception's unassigned ones."""
    rows = await conn.fetch(
        "SELECT id, reference, state, kind, channel, topics, received_at, assignee FROM cases"
        " WHERE ($1 OR assignee = $2 OR ($3 AND assignee IS NULL))"
        " AND (cardinality($4::text[]) = 0 OR state = ANY($4::text[]))"
        " ORDER BY received_at DESC, id LIMIT $5",
        chief, caller.subject, reception, [s.value for s in states], limit,
    )  # fmt: skip
    return [listed(r) for r in rows]


async def search_cases(
    conn: asyncpg.Connection,
    caller: Caller,
    chief: bool,
    reception: bool,
    facts: search.Filter,
    limit: int,
) -> list[Listed]:
    """The newest cases the caller may be entitled to (as list_cases) whose plain facts match:
    the reference (exact, or its beginning), the states, any of the topics, the intake dates."""
    rows = await conn.fetch(
        "SELECT id, reference, state, kind, channel, topics, received_at, assignee FROM cases"
        " WHERE ($1 OR assignee = $2 OR ($3 AND assignee IS NULL))"
        " AND ($4::text IS NULL OR reference LIKE $4 || '%')"
        " AND (cardinality($5::text[]) = 0 OR state = ANY($5::text[]))"
        " AND (cardinality($6::text[]) = 0 OR topics && $6::text[])"
        " AND ($7::timestamptz IS NULL OR received_at >= $7)"
        " AND ($8::timestamptz IS NULL OR received_at < $8)"
        " ORDER BY received_at DESC, id LIMIT $9",
        chief, caller.subject, reception, facts.reference, [s.value for s in facts.states],
        [t.value for t in facts.topics], facts.received_from, facts.received_before, limit,
    )  # fmt: skip
    return [listed(r) for r in rows]


# --- inquiries ---------------------------------------------------------------------------------


async def insert_inquiry(
    conn: asyncpg.Connection,
    inquiry_id: UUID,
    channel: IntakeChannel,
    topics: Sequence[TopicCode],
    by: str | None,
    at: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO inquiries (id, channel, topics, by, logged_at) VALUES ($1, $2, $3, $4, $5)",
        inquiry_id, channel.value, [t.value for t in topics], by, at,
    )  # fmt: skip


# --- the read audit ----------------------------------------------------------------------------


async def record_read(
    conn: asyncpg.Connection | asyncpg.Pool,
    caller: Caller,
    case_id: UUID | None,
    action: str,
    fields: Iterable[CaseField],
    outcome: str,
) -> None:
    await conn.execute(
        "INSERT INTO case_reads (principal, roles, case_id, action, fields, outcome)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        caller.label(), sorted(r.value for r in caller.roles), case_id, action,
        sorted(str(f) for f in fields), outcome,
    )  # fmt: skip


async def record_reads(
    conn: asyncpg.Connection,
    caller: Caller,
    opened: Sequence[tuple[UUID, Iterable[CaseField]]],
    action: str,
    outcome: str,
) -> None:
    """`record_read` for several cases at once (a search opens many)."""
    await conn.executemany(
        "INSERT INTO case_reads (principal, roles, case_id, action, fields, outcome)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        [(caller.label(), sorted(r.value for r in caller.roles), case_id, action,
          sorted(str(f) for f in fields), outcome) for case_id, fields in opened],
    )  # fmt: skip


async def reads(
    conn: asyncpg.Connection | asyncpg.Pool,
    case_id: UUID | None,
    principal: str | None,
    before: int | None,
    limit: int,
) -> list[asyncpg.Record]:
    """The newest entries of the read audit, of one case or one reader or all."""
    found: list[asyncpg.Record] = await conn.fetch(
        "SELECT id, at, principal, roles, case_id, action, fields, outcome FROM case_reads"
        " WHERE ($1::uuid IS NULL OR case_id = $1) AND ($2::text IS NULL OR principal = $2)"
        " AND ($3::bigint IS NULL OR id < $3) ORDER BY id DESC LIMIT $4",
        case_id, principal, before, limit,
    )  # fmt: skip
    return found


# --- statistics and retention ------------------------------------------------------------------


async def facts(
    conn: asyncpg.Connection | asyncpg.Pool, start: datetime, end: datetime
) -> list[CaseFacts]:
    """What the statistics count of the cases received in [start, end): no content."""
    rows = await conn.fetch(
        "SELECT received_at, channel, kind, topics, first_response_at, closed_at, outcome"
        " FROM cases WHERE received_at >= $1 AND received_at < $2",
        start,
        end,
    )
    return [
        CaseFacts(
            received_at=r["received_at"], channel=IntakeChannel(r["channel"]),
            kind=CaseKind(r["kind"]), topics=tuple(TopicCode(t) for t in r["topics"]),
            first_response_at=r["first_response_at"], closed_at=r["closed_at"],
            counted=r["outcome"] != CaseOutcome.INQUIRY.value,
        )
        for r in rows
    ]  # fmt: skip


async def erase_closed_before(conn: asyncpg.Connection, cutoff: datetime, now: datetime) -> int:
    """Erase the personal data of the cases closed before `cutoff`: their sealed content, notes
    and referral details. What they were (kind, channel, topics, times, outcomes) stays for the
    statistics; the read audit stays, as it holds no content."""
    ids = [
        r["id"]
        for r in await conn.fetch(
            "SELECT id FROM cases WHERE state = 'closed' AND erased_at IS NULL"
            " AND closed_at < $1 FOR UPDATE",
            cutoff,
        )
    ]
    if not ids:
        return 0
    await conn.execute("DELETE FROM case_content WHERE case_id = ANY($1::uuid[])", ids)
    await conn.execute("DELETE FROM case_notes WHERE case_id = ANY($1::uuid[])", ids)
    await conn.execute("UPDATE referrals SET details = NULL WHERE case_id = ANY($1::uuid[])", ids)
    await conn.execute("UPDATE cases SET erased_at = $2 WHERE id = ANY($1::uuid[])", ids, now)
    return len(ids)
