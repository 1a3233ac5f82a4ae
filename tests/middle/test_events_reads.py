"""The events service's public reads on PostgreSQL: the programs open to the public with their
sessions and the seats left per frame, and one day's sessions (the kiosk's event check-in). A
draft or cancelled program, a session without its venue and anyone's registration stay out.
Program staff see every program in every state, and each one's registrations and waitlists."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from contracts.identity import PrincipalKind, Role
from tests.harness import ServiceHarness
from tests.identity_support import http_headers, kiosk_token, staff_token, token

pytestmark = pytest.mark.middle

TOKYO = ZoneInfo("Asia/Tokyo")


async def program(conn: asyncpg.Connection, title: str, status: str = "published") -> UUID:
    pid = uuid4()
    await conn.execute(
        "INSERT INTO programs (id, kind, title, title_en, description, status,"
        " registration_opens_at, promotion, offer_hours, waitlist)"
        " VALUES ($1, 'course', $2, $3, '全4回の講座です。', $4, now(), 'auto', 48, true)",
        pid, title, f"{title} (en)", status,
    )  # fmt: skip
    return pid


async def session(
    conn: asyncpg.Connection, program_id: UUID, number: int, start: datetime, *,
    state: str = "open", onsite: tuple[int, int] = (20, 5), online: tuple[int, int] = (80, 0),
) -> UUID:  # fmt: skip
    sid = uuid4()
    await conn.execute(
        "INSERT INTO sessions (id, program_id, number, starts_at, ends_at, venue, venue_name,"
        " online_url, state) VALUES ($1, $2, $3, $4, $5, 'ab', 'スペースA+B',"
        " 'https://meet.example.org/secret-room', $6)",
        sid, program_id, number, start, start + timedelta(hours=2), state,
    )  # fmt: skip
    await conn.executemany(
        "INSERT INTO places (session_id, frame, capacity, held) VALUES ($1, $2, $3, $4)",
        [(sid, "onsite", *onsite), (sid, "online", *online)],
    )
    return sid


def tomorrow_at(hour: int, days: int = 1) -> datetime:
    day = datetime.now(TOKYO).date() + timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, tzinfo=TOKYO)


async def test_the_public_sees_published_programs_with_sessions_and_seats_left(
    events: ServiceHarness,
) -> None:
    async with events.pool.acquire() as conn:
        course = await program(conn, "市民活動はじめて講座")
        first = await session(conn, course, 1, tomorrow_at(18), onsite=(20, 20))
        await session(conn, course, 2, tomorrow_at(18, days=8), state="pending_venue")
        draft = await program(conn, "まだ下書き", status="draft")
        await session(conn, draft, 1, tomorrow_at(10))
    response = await events.http.get("/programs")
    assert response.status_code == 200, response.text
    listed = {p["program_id"]: p for p in response.json()["programs"]}
    assert str(draft) not in listed
    found = listed[str(course)]
    assert found["title"] == "市民活動はじめて講座" and found["title_en"].endswith("(en)")
    assert [s["number"] for s in found["sessions"]] == [1]  # a venue not confirmed: not shown
    shown = found["sessions"][0]
    assert shown["session_id"] == str(first)
    assert shown["seats_left"] == {"onsite": 0, "online": 80}
    assert "secret-room" not in response.text  # the join link goes by mail to registrants only
    async with events.pool.acquire() as conn:  # a session not streamed offers no online frame
        await conn.execute("DELETE FROM places WHERE session_id = $1 AND frame = 'online'", first)
    again = await events.http.get(f"/programs/{course}")
    assert again.json()["sessions"][0]["seats_left"] == {"onsite": 0, "online": None}
    one = await events.http.get(f"/programs/{course}")
    assert one.status_code == 200 and one.json()["program_id"] == str(course)
    assert (await events.http.get(f"/programs/{draft}")).status_code == 404
    assert (await events.http.get(f"/programs/{uuid4()}")).status_code == 404


async def test_one_days_sessions_are_listed_for_the_kiosks_check_in(
    events: ServiceHarness,
) -> None:
    async with events.pool.acquire() as conn:
        salon = await program(conn, "ミズベサロン")
        morning = await session(conn, salon, 1, tomorrow_at(10, days=3))
        evening = await session(conn, salon, 2, tomorrow_at(18, days=3))
        await session(conn, salon, 3, tomorrow_at(10, days=4))
        cancelled = await program(conn, "中止の講座", status="cancelled")
        await session(conn, cancelled, 1, tomorrow_at(13, days=3))
    day = tomorrow_at(0, days=3).date().isoformat()
    response = await events.http.get("/sessions", params={"date": day})
    assert response.status_code == 200, response.text
    ids = [s["session_id"] for s in response.json()["sessions"]]
    assert str(morning) in ids and str(evening) in ids
    assert ids.index(str(morning)) < ids.index(str(evening))
    titles = {s["title"] for s in response.json()["sessions"]}
    assert "中止の講座" not in titles
    assert (await events.http.get("/sessions", params={"date": "2024-02-30"})).status_code == 400


# --- program staff ----------------------------------------------------------------------------


async def registration(
    conn: asyncpg.Connection, program_id: UUID, session_id: UUID, name: str, status: str,
    frame: str = "onsite", attended: bool = False,
) -> UUID:  # fmt: skip
    rid = uuid4()
    await conn.execute(
        "INSERT INTO registrations (id, request_id, program_id, series, frame, party, name,"
        " email, email_key, language, status, check_in_code, created_at)"
        " VALUES ($1, $2, $3, false, $4, 2, $5, $6, $6, 'ja', $7, $8, now())",
        rid, uuid4(), program_id, frame, name, f"{rid.hex[:8]}@example.org", status,
        rid.hex[:8].upper(),
    )  # fmt: skip
    await conn.execute(
        "INSERT INTO registration_sessions (registration_id, session_id) VALUES ($1, $2)",
        rid, session_id,
    )  # fmt: skip
    if attended:
        await conn.execute(
            "INSERT INTO attendance (registration_id, session_id, recorded_at, recorded_by)"
            " VALUES ($1, $2, now(), 'staff:x')", rid, session_id,
        )  # fmt: skip
    return rid


async def test_program_staff_see_every_program_and_its_registrations_and_waitlists(
    events: ServiceHarness,
) -> None:
    async with events.pool.acquire() as conn:
        draft = await program(conn, "企画中の講座", status="draft")
        await session(conn, draft, 1, tomorrow_at(10, days=20), state="draft")
        salon = await program(conn, "ミズベサロン")
        sid = await session(conn, salon, 1, tomorrow_at(18, days=5), onsite=(2, 2))
        came = await registration(conn, salon, sid, "出席 一郎", "confirmed", attended=True)
        await registration(conn, salon, sid, "待ち 一子", "waitlisted")
        second = await registration(conn, salon, sid, "待ち 二郎", "waitlisted")
        await registration(conn, salon, sid, "取消 三郎", "cancelled")
    staff = http_headers(staff_token(Role.PROGRAM_STAFF))
    planned = await events.http.get("/programs/planned", headers=staff)
    assert planned.status_code == 200, planned.text
    found = {p["program_id"]: p for p in planned.json()["programs"]}
    assert found[str(draft)]["status"] == "draft"
    assert found[str(draft)]["sessions"][0]["state"] == "draft"
    listed = await events.http.get(f"/programs/{salon}/registrations", headers=staff)
    assert listed.status_code == 200, listed.text
    rows = {r["registration_id"]: r for r in listed.json()["registrations"]}
    assert rows[str(came)]["sessions"] == [{"session_id": str(sid), "attended": True,
                                            "position": None}]  # fmt: skip
    assert rows[str(second)]["sessions"][0]["position"] == 2  # second in the waitlist
    assert rows[str(came)]["check_in_code"] and rows[str(came)]["email"].endswith("example.org")
    assert len(rows) == 4


async def test_only_program_staff_read_registrations(events: ServiceHarness) -> None:
    async with events.pool.acquire() as conn:
        salon = await program(conn, "ミズベサロン")
    for headers in ({}, http_headers(staff_token(Role.RECEPTION)), http_headers(kiosk_token())):
        for path in (f"/programs/{salon}/registrations", "/programs/planned"):
            answer = await events.http.get(path, headers=headers)
            assert answer.status_code in (401, 403), (path, headers)


async def test_a_citizen_reads_their_own_registrations_and_waitlist_places_only(
    events: ServiceHarness,
) -> None:
    async with events.pool.acquire() as conn:
        salon = await program(conn, "ミズベサロン")
        sid = await session(conn, salon, 1, tomorrow_at(18, days=6), onsite=(2, 2))
        await registration(conn, salon, sid, "先着 一郎", "waitlisted")
        mine = await registration(conn, salon, sid, "私 花子", "waitlisted")
        email = await conn.fetchval("SELECT email FROM registrations WHERE id = $1", mine)
    citizen = http_headers(token(PrincipalKind.CITIZEN, email.upper()))  # one mailbox, any case
    answer = await events.http.get("/registrations/mine", headers=citizen)
    assert answer.status_code == 200, answer.text
    (found,) = answer.json()["registrations"]
    assert found["registration_id"] == str(mine) and found["title"] == "ミズベサロン"
    assert found["sessions"][0]["position"] == 2 and found["sessions"][0]["number"] == 1
    assert "check_in_code" not in found  # it travels by mail, with its QR code
    other = http_headers(token(PrincipalKind.CITIZEN, "someone-else@example.org"))
    assert (await events.http.get("/registrations/mine", headers=other)).json() == {
        "registrations": []}  # fmt: skip
    staff = http_headers(staff_token(Role.PROGRAM_STAFF))
    assert (await events.http.get("/registrations/mine", headers=staff)).status_code == 403
    assert (await events.http.get("/registrations/mine")).status_code == 401
