"""The consultation desk's pages with the service faked: a step is the service's command sent
with the staff member's token and its refusal is shown by reason; a note goes over HTTP, never
on Kafka; a case the service refuses shows nothing of it; no desk page is cached."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import httpx
from fastapi import FastAPI

from clients.web.app import build_parts, create_app
from clients.web.consultation import Desk
from clients.web.desk import step_command
from contracts.consultation import (
    AssignCase,
    CaseRejected,
    CloseCase,
    RejectionReason,
    StartHearing,
)
from tests.unit.test_web_newsletter import identity_for
from tests.unit.test_web_pages import HOSTILE, FakeCommands, csrf_of, settings

MINE, THEIRS = uuid4(), uuid4()


def consultation(request: httpx.Request) -> httpx.Response:
    assert request.headers["authorization"] == "Bearer ED"
    path = request.url.path
    if path == f"/cases/{THEIRS}":
        return httpx.Response(403, json={"error": "forbidden"})
    if path == f"/cases/{MINE}":
        return httpx.Response(200, json={
            "case_id": str(MINE), "fields": ["reference", "narrative"], "reference": "C2026-0007",
            "state": "hearing", "narrative": HOSTILE, "notes": []})  # fmt: skip
    if path == f"/cases/{MINE}/notes":
        return httpx.Response(201, json={"note_id": 1})
    return httpx.Response(404, json={"error": "no"})


def site(commands: FakeCommands) -> httpx.AsyncClient:
    made = build_parts(settings())
    made.desk = Desk(httpx.AsyncClient(transport=httpx.MockTransport(consultation),
                                       base_url="http://consultation"))  # fmt: skip
    made.identity.http = httpx.AsyncClient(transport=identity_for(["coordinator"]),
                                           base_url="http://identity")  # fmt: skip
    made.commands = made.notify_commands = made.consultation_commands = commands
    made.ready = True
    app: FastAPI = create_app(made.settings, made)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver",
                             headers={"Origin": "http://testserver"},
                             cookies={"ycc_web": "session"})  # fmt: skip


def test_each_step_form_makes_the_services_command() -> None:
    assert isinstance(step_command("hearing", MINE, {}), StartHearing)
    assigned = step_command("assign", MINE, {"assignee": " tanaka "})
    assert isinstance(assigned, AssignCase) and assigned.assignee == "tanaka"
    closed = step_command("close", MINE, {"outcome": "resolved"})
    assert isinstance(closed, CloseCase) and closed.case_id == MINE
    assert step_command("close", MINE, {"outcome": "<bogus>"}) is None
    assert step_command("erase_everything", MINE, {}) is None


async def test_a_refused_step_shows_the_services_reason_and_a_note_stays_off_kafka() -> None:
    commands = FakeCommands()

    async def answer(request_id: UUID, token: str, wait: float) -> Any:
        return CaseRejected(message_id=uuid4(), request_id=request_id, case_id=MINE,
                            reason=RejectionReason.NOT_CHIEF_COORDINATOR)  # fmt: skip

    commands.answer = answer  # type: ignore[method-assign]
    async with site(commands) as http:
        page = await http.get(f"/staff/desk/{MINE}")
        assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
        assert HOSTILE not in page.text and "&lt;script&gt;" in page.text
        step = await http.post(f"/staff/desk/{MINE}/step", data={
            "csrf": csrf_of(page.text), "step": "assign", "assignee": "tanaka"})  # fmt: skip
        assert step.status_code == 409 and "統括コーディネーターだけ" in step.text
        ((sent, token),) = commands.sent
        assert isinstance(sent, AssignCase) and token == "ED"
        note = await http.post(f"/staff/desk/{MINE}/note",
                               data={"csrf": csrf_of(page.text), "text": "面談の記録"})  # fmt: skip
        assert note.status_code == 303 and len(commands.sent) == 1  # over HTTP, not Kafka


async def test_a_case_the_service_refuses_shows_nothing_of_it() -> None:
    async with site(FakeCommands()) as http:
        refused = await http.get(f"/staff/desk/{THEIRS}")
    assert refused.status_code == 403 and "C2026" not in refused.text
