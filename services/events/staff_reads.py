"""What program staff read: every program in every state with its sessions and seat counters,
and a program's registrations with the sessions each holds or waits for, who came, and each
waiting registration's place in its session's waitlist. Personal data (names, addresses,
check-in codes): for program staff only (services/events/access.py). A citizen signed in with
an address reads that address's own registrations the same way, without the codes."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any
from uuid import UUID

import asyncpg

MAX_PROGRAMS = 500
MAX_REGISTRATIONS = 5000
WAITING = ("waitlisted", "offered")


async def planned_programs(conn: asyncpg.Connection | asyncpg.Pool) -> list[dict[str, Any]]:
    """The newest programs first, each with its sessions in order and their frames."""
    programs = await conn.fetch(
        "SELECT id AS program_id, kind, title, status, registration_opens_at, waitlist,"
        " promotion FROM programs ORDER BY created_at DESC, id LIMIT $1",
        MAX_PROGRAMS,
    )
    ids = [p["program_id"] for p in programs]
    sessions = await conn.fetch(
        "SELECT s.program_id, s.id AS session_id, s.number, s.starts_at, s.ends_at, s.venue,"
        " s.venue_name, s.state, s.venue_reason, coalesce(json_agg(json_build_object("
        "'frame', p.frame, 'capacity', p.capacity, 'held', p.held, 'waiting', p.waiting)"
        " ORDER BY p.frame) FILTER (WHERE p.frame IS NOT NULL), '[]') AS frames"
        " FROM sessions s LEFT JOIN places p ON p.session_id = s.id"
        " WHERE s.program_id = ANY($1::uuid[]) GROUP BY s.id ORDER BY s.number",
        ids,
    )
    by_program: dict[UUID, list[dict[str, Any]]] = defaultdict(list)
    for s in sessions:
        row = dict(s)
        row["frames"] = frames_of(row["frames"])
        by_program[row.pop("program_id")].append(row)
    return [{**dict(p), "sessions": by_program[p["program_id"]]} for p in programs]


def frames_of(value: Any) -> list[dict[str, Any]]:
    """json_agg's frames, as asyncpg gives them (text, without a JSON codec)."""
    found: list[dict[str, Any]] = json.loads(value) if isinstance(value, str) else list(value)
    return found


async def registrations_of(
    conn: asyncpg.Connection | asyncpg.Pool, program_id: UUID
) -> list[dict[str, Any]]:
    """In order of arrival, each with its sessions: attended or not, and for a waiting one its
    place among those waiting for that session and frame."""
    rows = await conn.fetch(
        "SELECT r.id AS registration_id, r.seq, r.name, r.email, r.frame, r.party, r.series,"
        " r.status, r.check_in_code, r.note, r.created_at, rs.session_id,"
        " a.recorded_at IS NOT NULL AS attended"
        " FROM registrations r JOIN registration_sessions rs ON rs.registration_id = r.id"
        " LEFT JOIN attendance a ON a.registration_id = r.id AND a.session_id = rs.session_id"
        " WHERE r.program_id = $1 ORDER BY r.seq LIMIT $2",
        program_id,
        MAX_REGISTRATIONS,
    )
    waiting: dict[tuple[UUID, str], int] = defaultdict(int)
    found: dict[UUID, dict[str, Any]] = {}
    for r in rows:
        entry = found.get(r["registration_id"])
        if entry is None:
            entry = found[r["registration_id"]] = {
                k: r[k] for k in ("registration_id", "name", "email", "frame", "party", "series",
                                  "status", "check_in_code", "note", "created_at")
            } | {"sessions": []}  # fmt: skip
        position = None
        if r["status"] in WAITING:
            waiting[(r["session_id"], r["frame"])] += 1
            position = waiting[(r["session_id"], r["frame"])]
        entry["sessions"].append(
            {"session_id": r["session_id"], "attended": r["attended"], "position": position}
        )
    return list(found.values())


async def registrations_of_address(
    conn: asyncpg.Connection | asyncpg.Pool, email: str
) -> list[dict[str, Any]]:
    """One address's registrations, newest first, each with its program's title and its
    sessions: their number and time, attended or not, and the place in each waitlist (counted
    among everyone waiting, as program staff see it). No check-in code: that goes by mail."""
    programs = await conn.fetch(
        "SELECT DISTINCT r.program_id, p.title, p.title_en FROM registrations r"
        " JOIN programs p ON p.id = r.program_id WHERE r.email_key = $1",
        email.lower(),
    )
    found: list[dict[str, Any]] = []
    for p in programs:
        sessions = {
            s["id"]: s
            for s in await conn.fetch(
                "SELECT id, number, starts_at, ends_at FROM sessions WHERE program_id = $1",
                p["program_id"],
            )
        }
        for r in await registrations_of(conn, p["program_id"]):
            if r["email"].lower() != email.lower():
                continue
            r.pop("check_in_code")
            r["title"], r["title_en"], r["program_id"] = p["title"], p["title_en"], p["program_id"]
            for held in r["sessions"]:
                s = sessions[held["session_id"]]
                held |= {"number": s["number"], "starts_at": s["starts_at"],
                         "ends_at": s["ends_at"]}  # fmt: skip
            found.append(r)
    return sorted(found, key=lambda r: r["created_at"], reverse=True)
