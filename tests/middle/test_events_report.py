"""The participants report on PostgreSQL (services/events/report.py): a year of programs shaped
like the center's FY2023 (3,274 participants) is counted to the person, sessions on either side
of the fiscal year and cancelled sessions left out."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from contracts.program import Frame
from services.events.report import load_participants, to_csv
from tests.harness import ServiceHarness

pytestmark = pytest.mark.middle

TOKYO = ZoneInfo("Asia/Tokyo")
FY2023_PARTICIPANTS = 3274  # the center's own figure for FY2023


async def program(conn: asyncpg.Connection, title: str) -> UUID:
    pid = uuid4()
    await conn.execute(
        "INSERT INTO programs (id, kind, title, status, registration_opens_at, promotion,"
        " offer_hours, waitlist) VALUES ($1, 'seminar', $2, 'published', $3, 'auto', 48, true)",
        pid, title, datetime(2023, 3, 1, tzinfo=TOKYO),
    )  # fmt: skip
    return pid


async def session(
    conn: asyncpg.Connection, program_id: UUID, number: int, start: datetime, *,
    attended: dict[Frame, int], no_shows: int = 0, state: str = "open",
) -> None:  # fmt: skip
    """A session with people checked in per frame (each alone) and some who did not come."""
    sid = uuid4()
    await conn.execute(
        "INSERT INTO sessions (id, program_id, number, starts_at, ends_at, venue, state)"
        " VALUES ($1, $2, $3, $4, $5, 'ab', $6)",
        sid, program_id, number, start, start + timedelta(hours=2), state,
    )  # fmt: skip
    people = [(f, True) for f, n in attended.items() for _ in range(n)]
    people += [(Frame.ONSITE, False)] * no_shows
    regs = [(uuid4(), uuid4(), program_id, f.value, uuid4().hex[:8], came) for f, came in people]
    await conn.executemany(
        "INSERT INTO registrations (id, request_id, program_id, series, frame, party, name,"
        " email, email_key, language, status, check_in_code, created_at)"
        " VALUES ($1, $2, $3, false, $4, 1, 'x', 'x@example.org', 'x@example.org', 'ja',"
        " 'confirmed', $5, now())",
        [r[:5] for r in regs],
    )
    await conn.executemany(
        "INSERT INTO registration_sessions (registration_id, session_id) VALUES ($1, $2)",
        [(r[0], sid) for r in regs],
    )
    await conn.executemany(
        "INSERT INTO attendance (registration_id, session_id, recorded_at, recorded_by)"
        " VALUES ($1, $2, $3, 'device:kiosk-lab')",
        [(r[0], sid, start) for r in regs if r[5]],
    )


async def test_a_fiscal_year_like_fy2023_is_counted_to_the_person(events: ServiceHarness) -> None:
    async with events.pool.acquire() as conn:
        course = await program(conn, "市民活動はじめて講座")
        salon = await program(conn, "ミズベサロン")
        # 40 sessions from April 2023 to March 2024: 81 people each, 34 more at the forum
        for n in range(40):
            start = datetime(2023, 4, 12, 18, 30, tzinfo=TOKYO) + timedelta(days=8 * n)
            attended = {Frame.ONSITE: 21, Frame.ONLINE: 60 + (34 if n == 0 else 0)}
            await session(conn, course if n % 2 else salon, n + 1, start, attended=attended,
                          no_shows=2)  # fmt: skip
        # outside FY2023, and a cancelled session inside it: not counted
        await session(conn, salon, 101, datetime(2023, 3, 31, 18, tzinfo=TOKYO),
                      attended={Frame.ONSITE: 9})  # fmt: skip
        await session(conn, salon, 102, datetime(2024, 4, 1, 10, tzinfo=TOKYO),
                      attended={Frame.ONSITE: 9})  # fmt: skip
        await session(conn, salon, 103, datetime(2023, 9, 1, 10, tzinfo=TOKYO),
                      attended={Frame.ONSITE: 9}, state="cancelled")  # fmt: skip
    report = await load_participants(events.pool, 2023, datetime(2024, 6, 1, tzinfo=TOKYO))
    assert report.participants == FY2023_PARTICIPANTS
    assert len(report.sessions) == 40
    assert report.total("attended", Frame.ONSITE) == 40 * 21
    assert report.total("registered", Frame.ONSITE) == 40 * 23
    assert all(s.no_shows == 2 for s in report.sessions)
    assert to_csv(report).splitlines()[-1].endswith(",80")
