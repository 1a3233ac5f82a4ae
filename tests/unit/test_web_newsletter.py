"""The newsletter's pages of the web client with notify faked: asking for the newsletter says
the same whether the address was subscribed already and passes the browser's address on; the
editor's preview is shown in a sandboxed frame, escaped; sending publishes the issue with the
editor's token; only editors reach the editor's pages."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from clients.web.app import build_parts, create_app
from clients.web.notify import Notify
from contracts.identity import Role
from contracts.notify import PublishNewsletter
from tests.unit.test_web_pages import HOSTILE, FakeCommands, csrf_of, settings


class FakeNotify:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any], httpx.Headers]] = []
        self.subscribe_status = 202

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else {}
        self.calls.append((request.url.path, body, request.headers))
        if request.url.path == "/subscribers":
            return httpx.Response(self.subscribe_status, json={"status": "confirmation_sent",
                                                               "error": "bad / 不可"})  # fmt: skip
        if request.url.path == "/newsletters/preview":
            return httpx.Response(200, json={"html": f"<h1>{body['body_markdown']}</h1>",
                                             "text": body["body_markdown"]})  # fmt: skip
        return httpx.Response(200, json={"issue": "x", "subject": HOSTILE, "status": "sending",
                                         "send_at": "2026-11-24T00:00:00Z", "recipients": 10,
                                         "sent": 4, "failed": 1, "remaining": 5, "opened": 2,
                                         "rate": 0.5, "seconds_left": 3.0})  # fmt: skip


def identity_for(roles: list[str]) -> httpx.MockTransport:
    """identity as the pages call it: any session is a staff member holding `roles`."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            who = {"kind": "staff", "subject": "editor-1", "name": "編集 担当", "roles": roles}
            return httpx.Response(200, json={"access_token": "ED", "expires_in": 300, "who": who})
        return httpx.Response(401, json={"error": "no session"})

    return httpx.MockTransport(answer)


async def site(roles: list[str]) -> tuple[httpx.AsyncClient, FakeNotify, FakeCommands]:
    made = build_parts(settings())
    notify = FakeNotify()
    made.notify = Notify(httpx.AsyncClient(transport=httpx.MockTransport(notify),
                                           base_url="http://notify"))  # fmt: skip
    made.identity.http = httpx.AsyncClient(transport=identity_for(roles), base_url="http://id")
    commands = FakeCommands()
    made.commands = made.notify_commands = commands
    made.ready = True
    app: FastAPI = create_app(made.settings, made)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("203.0.113.9", 1)),
                             base_url="http://testserver", headers={"Origin": "http://testserver"},
                             cookies={"ycc_web": "session"})  # fmt: skip
    return http, notify, commands


@pytest.fixture
async def editor() -> AsyncIterator[tuple[httpx.AsyncClient, FakeNotify, FakeCommands]]:
    found = await site([Role.NEWSLETTER_EDITOR.value])
    yield found
    await found[0].aclose()


async def test_asking_for_the_newsletter_is_answered_alike_and_passes_the_browsers_address(
    editor: Any,
) -> None:
    http, notify, _ = editor
    page = await http.get("/newsletter")
    answer = await http.post("/newsletter", data={"csrf": csrf_of(page.text),
                                                  "email": "reader@example.org"})  # fmt: skip
    assert answer.status_code == 200 and "確認のメール" in answer.text
    path, body, headers = notify.calls[-1]
    assert path == "/subscribers" and body == {"email": "reader@example.org", "language": "ja"}
    assert headers["x-forwarded-for"] == "203.0.113.9"
    notify.subscribe_status = 429
    again = await http.post("/newsletter", data={"csrf": csrf_of(page.text), "email": "a@b.jp"})
    assert again.status_code == 429


async def test_the_preview_is_notifys_rendering_in_a_sandboxed_frame_escaped(
    editor: Any,
) -> None:
    http, notify, commands = editor
    page = await http.get("/staff/newsletter")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    shown = await http.post("/staff/newsletter/preview", data={
        "csrf": csrf_of(page.text), "subject": "センターだより", "body": HOSTILE})  # fmt: skip
    assert shown.status_code == 200
    assert "<iframe" in shown.text and "sandbox" in shown.text
    assert HOSTILE not in shown.text and "<script>" not in shown.text.split("<iframe")[1]
    assert notify.calls[-1][2]["authorization"] == "Bearer ED"
    assert commands.sent == []  # a preview sends nothing


async def test_sending_publishes_the_issue_with_the_editors_token_and_shows_its_progress(
    editor: Any,
) -> None:
    http, _, commands = editor
    page = await http.get("/staff/newsletter")
    sent = await http.post("/staff/newsletter", data={
        "csrf": csrf_of(page.text), "subject": "12月号", "body": "# 今月の催し"})  # fmt: skip
    assert sent.status_code == 303
    ((issue, token),) = commands.sent
    assert isinstance(issue, PublishNewsletter) and token == "ED"
    assert (issue.subject, issue.body_markdown) == ("12月号", "# 今月の催し")
    assert sent.headers["location"] == f"/staff/newsletter/{issue.message_id}"
    progress = await http.get(sent.headers["location"])
    assert progress.status_code == 200 and "配信しています" in progress.text
    assert 'data-final="no"' in progress.text and "/static/progress.js" in progress.text
    assert 'http-equiv="refresh"' not in progress.text and HOSTILE not in progress.text


async def test_the_editors_pages_are_for_editors_alone() -> None:
    http, _, commands = await site([Role.RECEPTION.value])
    try:
        assert (await http.get("/staff/newsletter")).status_code == 403
        page = await http.get("/newsletter")
        refused = await http.post("/staff/newsletter", data={
            "csrf": csrf_of(page.text), "subject": "x", "body": "y"})  # fmt: skip
        assert refused.status_code == 403 and commands.sent == []
    finally:
        await http.aclose()
