"""The program staff's pages with the events service faked: only program staff see them (names
and addresses escaped, never cached); the new-program form makes the service's command with
each session's frames and leaves unused rows out; publishing and checking in at the door are
the service's commands with the staff member's token; a check-in code never reaches the page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import FastAPI

from clients.web.app import build_parts, create_app
from clients.web.program_office import program_plan
from clients.web.programs import Programs
from contracts.program import (
    CheckIn,
    CreateProgram,
    Frame,
    ProgramCreated,
    ProgramKind,
    ProgramRejected,
    ProgramRejectionReason,
    PublishProgram,
    Venue,
)
from tests.unit.test_web_newsletter import identity_for
from tests.unit.test_web_pages import HOSTILE, FakeCommands, csrf_of, settings

PROGRAM, SESSION, CONFIRMED, WAITING = uuid4(), uuid4(), uuid4(), uuid4()
START = datetime.now(UTC) + timedelta(days=3)
CODE = "K7QW3ZPA"


def events(request: httpx.Request) -> httpx.Response:
    assert request.headers["authorization"] == "Bearer ED"
    if request.url.path == "/programs/planned":
        frames = [{"frame": "onsite", "capacity": 1, "held": 1, "waiting": 1}]
        session = {"session_id": str(SESSION), "number": 1, "starts_at": START.isoformat(),
                   "ends_at": (START + timedelta(hours=2)).isoformat(), "venue": "ab",
                   "venue_name": None, "state": "open", "venue_reason": None,
                   "frames": frames}  # fmt: skip
        program = {"program_id": str(PROGRAM), "kind": "salon", "title": HOSTILE,
                   "status": "draft", "registration_opens_at": START.isoformat(),
                   "waitlist": True, "promotion": "auto", "sessions": [session]}  # fmt: skip
        return httpx.Response(200, json={"programs": [program]})
    if request.url.path == f"/programs/{PROGRAM}/registrations":

        def row(rid: UUID, status: str, position: int | None) -> dict[str, Any]:
            return {"registration_id": str(rid), "name": HOSTILE, "email": "a@example.org",
                    "frame": "onsite", "party": 1, "series": False, "status": status,
                    "check_in_code": CODE, "note": "", "created_at": START.isoformat(),
                    "sessions": [{"session_id": str(SESSION), "attended": False,
                                  "position": position}]}  # fmt: skip

        return httpx.Response(200, json={"program_id": str(PROGRAM), "registrations": [
            row(CONFIRMED, "confirmed", None), row(WAITING, "waitlisted", 1)]})  # fmt: skip
    return httpx.Response(404, json={"error": "no"})


async def site(roles: list[str], commands: FakeCommands) -> httpx.AsyncClient:
    made = build_parts(settings())
    made.programs = Programs(httpx.AsyncClient(transport=httpx.MockTransport(events),
                                               base_url="http://events"))  # fmt: skip
    made.identity.http = httpx.AsyncClient(transport=identity_for(roles),
                                           base_url="http://identity")  # fmt: skip
    made.program_commands = commands
    made.ready = True
    app: FastAPI = create_app(made.settings, made)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver",
                             headers={"Origin": "http://testserver"},
                             cookies={"ycc_web": "session"})  # fmt: skip


@pytest.fixture
async def planner() -> AsyncIterator[tuple[httpx.AsyncClient, FakeCommands]]:
    commands = FakeCommands()
    async with await site(["program_staff"], commands) as http:
        yield http, commands


def test_the_form_makes_a_program_with_each_sessions_frames_and_skips_unused_rows() -> None:
    form = {"kind": "course", "title": "市民活動はじめて講座", "opens_date": "2027-01-10",
            "opens_time": "09:00", "promotion": "offer", "waitlist": "yes",
            "s1_date": "2027-02-03", "s1_start": "18:30", "s1_end": "20:30", "s1_venue": "ab",
            "s1_onsite": "20", "s1_online": "80", "s1_url": "https://meet.example.org/x",
            "s2_date": "2027-02-10", "s2_start": "18:30", "s2_end": "20:30", "s2_venue": "a",
            "s2_onsite": "30", "s3_date": "", "s3_onsite": "99"}  # fmt: skip
    plan = program_plan(form)
    assert isinstance(plan, CreateProgram) and plan.kind is ProgramKind.COURSE
    assert len(plan.sessions) == 2 and plan.waitlist and plan.promotion.value == "offer"
    first, second = plan.sessions
    assert [(f.frame, f.capacity) for f in first.frames] == [(Frame.ONSITE, 20), (Frame.ONLINE, 80)]
    assert [(f.frame, f.capacity) for f in second.frames] == [(Frame.ONSITE, 30)]
    assert second.venue is Venue.A and first.starts_at.utcoffset() == timedelta(hours=9)
    assert program_plan({**form, "s1_onsite": "-1"}) is None
    assert program_plan({**form, "kind": "rave"}) is None
    assert program_plan({**form, "s1_date": "", "s2_date": ""}) is None  # no session at all


async def test_program_staff_see_programs_and_registrations_escaped_and_uncached(
    planner: tuple[httpx.AsyncClient, FakeCommands],
) -> None:
    http, _ = planner
    listed = await http.get("/staff/programs")
    assert listed.status_code == 200 and HOSTILE not in listed.text and "下書き" in listed.text
    page = await http.get(f"/staff/programs/{PROGRAM}")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert HOSTILE not in page.text and "キャンセル待ち (1番目)" in page.text
    assert CODE not in page.text  # the code is looked up when checking in, never shown


async def test_creating_publishing_and_checking_in_send_the_services_commands(
    planner: tuple[httpx.AsyncClient, FakeCommands],
) -> None:
    http, commands = planner

    async def answer(request_id: UUID, token: str, wait: float) -> Any:
        return ProgramCreated(message_id=uuid4(), request_id=request_id, program_id=request_id,
                              kind=ProgramKind.SALON, title="x", session_ids=[])  # fmt: skip

    commands.answer = answer  # type: ignore[method-assign]
    form_page = await http.get("/staff/programs/new")
    created = await http.post("/staff/programs/new", data={
        "csrf": csrf_of(form_page.text), "kind": "salon", "title": "ミズベサロン",
        "opens_date": "2027-01-10", "s1_date": "2027-02-03", "s1_start": "18:30",
        "s1_end": "20:00", "s1_venue": "outside", "s1_venue_name": "関内ホール",
        "s1_onsite": "20"})  # fmt: skip
    assert created.status_code == 303 and "done=create" in created.headers["location"]
    page = await http.get(f"/staff/programs/{PROGRAM}")
    await http.post(f"/staff/programs/{PROGRAM}/publish", data={"csrf": csrf_of(page.text)})
    await http.post(f"/staff/programs/{PROGRAM}/check-in", data={
        "csrf": csrf_of(page.text), "registration_id": str(CONFIRMED),
        "session_id": str(SESSION)})  # fmt: skip
    sent = [c for c, _ in commands.sent]
    assert [type(c) for c in sent] == [CreateProgram, PublishProgram, CheckIn]
    assert all(token == "ED" for _, token in commands.sent)
    check_in = sent[2]
    assert isinstance(check_in, CheckIn) and check_in.code == CODE
    assert check_in.session_id == SESSION


async def test_a_refusal_is_shown_by_reason_and_a_bad_form_keeps_what_was_typed(
    planner: tuple[httpx.AsyncClient, FakeCommands],
) -> None:
    http, commands = planner

    async def answer(request_id: UUID, token: str, wait: float) -> Any:
        return ProgramRejected(message_id=uuid4(), request_id=request_id, program_id=PROGRAM,
                               reason=ProgramRejectionReason.CONFLICT, detail="no")  # fmt: skip

    commands.answer = answer  # type: ignore[method-assign]
    page = await http.get(f"/staff/programs/{PROGRAM}")
    refused = await http.post(f"/staff/programs/{PROGRAM}/publish",
                              data={"csrf": csrf_of(page.text)})  # fmt: skip
    assert refused.status_code == 409 and "いまの状態ではできない操作" in refused.text
    bad = await http.post("/staff/programs/new", data={
        "csrf": csrf_of(page.text), "kind": "salon", "title": HOSTILE,
        "opens_date": "x"})  # fmt: skip
    assert bad.status_code == 400 and len(commands.sent) == 1
    assert HOSTILE not in bad.text and "&lt;script&gt;" in bad.text
    unknown = await http.post(f"/staff/programs/{PROGRAM}/check-in", data={
        "csrf": csrf_of(page.text), "registration_id": str(uuid4()),
        "session_id": str(SESSION)})  # fmt: skip
    assert unknown.status_code == 400 and len(commands.sent) == 1


async def test_other_staff_see_no_program_planning() -> None:
    async with await site(["reception"], FakeCommands()) as http:
        for path in ("/staff/programs", f"/staff/programs/{PROGRAM}", "/staff/programs/new"):
            page = await http.get(path)
            assert page.status_code == 403 and "a@example.org" not in page.text
