"""The participants report (DOMAIN.md: "Participant counts by program and fiscal year"; the
center reported 3,274 participants in its programs for FY2023), and its command line:

    python -m services.events report participants --fiscal-year 2023 [--csv]

reads DATABASE_URL like the service and prints the table (or CSV).

Counting rules: a session belongs to the fiscal year (April-March, Tokyo) it starts in; cancelled
sessions are left out. `registered` counts the people (parties count each person) of confirmed
registrations holding the session, `attended` the people checked in to it, each by frame
(on-site, online). A session's no-shows are its registered people who did not check in, once the
session is over (unknown before). The year's participants are the people who attended.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from contracts.program import Frame
from services.events import domain
from services.runtime.clock import Clock
from services.runtime.settings import env_str

PARTICIPANTS_SQL = (
    "SELECT p.id AS program_id, p.title, p.kind, s.id AS session_id, s.number, s.starts_at,"
    " s.ends_at, r.frame,"
    " coalesce(sum(r.party) FILTER (WHERE r.status = 'confirmed'), 0) AS registered,"
    " coalesce(sum(r.party) FILTER (WHERE a.registration_id IS NOT NULL), 0) AS attended"
    " FROM sessions s JOIN programs p ON p.id = s.program_id"
    " LEFT JOIN registration_sessions rs ON rs.session_id = s.id"
    " LEFT JOIN registrations r ON r.id = rs.registration_id"
    " LEFT JOIN attendance a ON a.registration_id = r.id AND a.session_id = s.id"
    " WHERE s.state <> 'cancelled' AND s.starts_at >= $1 AND s.starts_at < $2"
    " GROUP BY p.id, p.title, p.kind, s.id, s.number, s.starts_at, s.ends_at, r.frame"
    " ORDER BY s.starts_at, p.id, s.number"
)


@dataclass
class SessionFigures:
    program_id: UUID
    program_title: str
    kind: str
    session_id: UUID
    number: int
    starts_at: datetime
    ended: bool
    registered: dict[Frame, int] = field(default_factory=lambda: dict.fromkeys(Frame, 0))
    attended: dict[Frame, int] = field(default_factory=lambda: dict.fromkeys(Frame, 0))

    @property
    def no_shows(self) -> int | None:
        if not self.ended:
            return None
        return max(0, sum(self.registered.values()) - sum(self.attended.values()))


@dataclass(frozen=True)
class ParticipantsReport:
    fiscal_year: int
    sessions: list[SessionFigures]

    def total(self, figures: str, frame: Frame | None = None) -> int:
        return sum(getattr(s, figures)[f] for s in self.sessions for f in Frame
                   if frame in (None, f))  # fmt: skip

    @property
    def participants(self) -> int:
        """The year's figure the center reports: people who attended its programs."""
        return self.total("attended")


def participants_report(fiscal_year: int, rows: Sequence[Any], now: datetime) -> ParticipantsReport:
    """One line per session (rows come one per session and frame), in order of start."""
    found: dict[UUID, SessionFigures] = {}
    for row in rows:
        sid = row["session_id"]
        figures = found.get(sid)
        if figures is None:
            figures = SessionFigures(
                row["program_id"],
                row["title"],
                row["kind"],
                sid,
                row["number"],
                row["starts_at"],
                row["ends_at"] <= now,
            )
            found[sid] = figures
        if row["frame"] is not None:
            frame = Frame(row["frame"])
            figures.registered[frame] += row["registered"]
            figures.attended[frame] += row["attended"]
    return ParticipantsReport(fiscal_year, list(found.values()))


async def load_participants(
    db: asyncpg.Connection | asyncpg.Pool, fiscal_year: int, now: datetime
) -> ParticipantsReport:
    """One plain read, no transaction: the report never holds up registrations."""
    first, after = domain.fiscal_year_bounds(fiscal_year)
    rows = await db.fetch(PARTICIPANTS_SQL, first, after)
    return participants_report(fiscal_year, rows, now)


HEADER = ["program", "kind", "session", "date", "registered_onsite", "registered_online",
          "attended_onsite", "attended_online", "no_shows"]  # fmt: skip


def csv_rows(report: ParticipantsReport) -> list[list[str]]:
    rows = []
    for s in report.sessions:
        rows.append([
            s.program_title, s.kind, str(s.number),
            f"{s.starts_at.astimezone(domain.TOKYO):%Y-%m-%d %H:%M}",
            str(s.registered[Frame.ONSITE]), str(s.registered[Frame.ONLINE]),
            str(s.attended[Frame.ONSITE]), str(s.attended[Frame.ONLINE]),
            "" if s.no_shows is None else str(s.no_shows),
        ])  # fmt: skip
    totals = [str(report.total(figures, frame)) for figures in ("registered", "attended")
              for frame in (Frame.ONSITE, Frame.ONLINE)]  # fmt: skip
    no_shows = str(sum(s.no_shows or 0 for s in report.sessions))
    rows.append([f"FY{report.fiscal_year} total", "", "", "", *totals, no_shows])
    return rows


def to_csv(report: ParticipantsReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(csv_rows(report))
    return out.getvalue()


def to_table(report: ParticipantsReport) -> str:
    rows = [HEADER, *csv_rows(report)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
             for r in rows]  # fmt: skip
    lines.append(f"participants (attended) in FY{report.fiscal_year}: {report.participants}")
    return "\n".join(lines)


def as_json(report: ParticipantsReport) -> dict[str, object]:
    return {
        "fiscal_year": report.fiscal_year,
        "sessions": [
            {
                "program_id": str(s.program_id), "program": s.program_title, "kind": s.kind,
                "session_id": str(s.session_id), "number": s.number,
                "starts_at": s.starts_at.isoformat(),
                "registered": {f.value: n for f, n in s.registered.items()},
                "attended": {f.value: n for f, n in s.attended.items()},
                "no_shows": s.no_shows,
            }
            for s in report.sessions
        ],
        "total": {
            "registered": {f.value: report.total("registered", f) for f in Frame},
            "attended": {f.value: report.total("attended", f) for f in Frame},
            "participants": report.participants,
        },
    }  # fmt: skip


async def print_report(args: argparse.Namespace) -> int:
    dsn = env_str("DATABASE_URL", "postgresql://postgres@127.0.0.1:15432/events")
    conn = await asyncpg.connect(dsn)
    try:
        report = await load_participants(conn, args.fiscal_year, Clock.from_env().now())
    finally:
        await conn.close()
    print(to_csv(report) if args.csv else to_table(report), end="" if args.csv else "\n")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.events report")
    sub = parser.add_subparsers(dest="report", required=True)
    participants = sub.add_parser("participants", help="registered and attended per session")
    participants.add_argument("--fiscal-year", type=int, required=True, help="e.g. 2023 (Apr-Mar)")
    participants.add_argument("--csv", action="store_true", help="CSV instead of the table")
    args = parser.parse_args(argv)
    return asyncio.run(print_report(args))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
