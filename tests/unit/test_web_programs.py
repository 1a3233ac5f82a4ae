"""The programs' public pages in process, with the events service faked: the list and a
program with its seats per frame in words and symbols; a registration is the service's command
sent with no person's proof and answered "mailed", never with someone's outcome; the form's
errors keep what was typed; the mailed links ask for a touch before anything is sent, and a
link's command carries its token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import FastAPI

from clients.web.app import build_parts, create_app
from clients.web.programs import Programs
from contracts.program import (
    AcceptOffer,
    CancelRegistration,
    DeclineOffer,
    Frame,
    RequestRegistration,
)
from tests.unit.test_web_pages import HOSTILE, FakeCommands, csrf_of, settings

PROGRAM, FIRST, SECOND = uuid4(), uuid4(), uuid4()
LATER = datetime.now(UTC) + timedelta(days=10)


def session(sid: UUID, number: int, onsite: int) -> dict[str, object]:
    starts = LATER + timedelta(days=7 * number)
    return {"session_id": str(sid), "program_id": str(PROGRAM), "title": HOSTILE,
            "title_en": "Starting civic activities", "number": number,
            "starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=2)).isoformat(),
            "venue": "ab", "venue_name": None,
            "seats_left": {"onsite": onsite, "online": 80 if number == 2 else None}}  # fmt: skip


PROGRAM_BODY = {
    "program_id": str(PROGRAM), "kind": "course", "title": HOSTILE,
    "title_en": "Starting civic activities", "description": "全2回", "description_en": None,
    "registration_opens_at": LATER.isoformat(), "registration_closes_at": None,
    "sessions": [session(FIRST, 1, 0), session(SECOND, 2, 5)],
}  # fmt: skip


def events(request: httpx.Request) -> httpx.Response:
    assert "authorization" not in request.headers  # public reads, no one's token
    if request.url.path == "/programs":
        return httpx.Response(200, json={"programs": [PROGRAM_BODY]})
    if request.url.path == f"/programs/{PROGRAM}":
        return httpx.Response(200, json=PROGRAM_BODY)
    return httpx.Response(404, json={"error": "no such published program"})


@pytest.fixture
async def site() -> AsyncIterator[tuple[httpx.AsyncClient, FakeCommands]]:
    made = build_parts(settings())
    made.programs = Programs(httpx.AsyncClient(transport=httpx.MockTransport(events),
                                               base_url="http://events"))  # fmt: skip
    commands = FakeCommands()
    made.program_commands = commands
    made.ready = True
    app: FastAPI = create_app(made.settings, made)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver",
                                 headers={"Origin": "http://testserver"}) as http:  # fmt: skip
        yield http, commands


async def test_the_list_and_a_program_show_sessions_and_seats_escaped(
    site: tuple[httpx.AsyncClient, FakeCommands],
) -> None:
    http, _ = site
    listed = await http.get("/programs")
    assert listed.status_code == 200 and HOSTILE not in listed.text
    assert "連続講座" in listed.text and "全2回" in listed.text
    page = await http.get(f"/programs/{PROGRAM}")
    assert page.status_code == 200 and HOSTILE not in page.text
    assert "✖ 満席（キャンセル待ち）" in page.text and "○ 残り5席" in page.text
    assert "<td>—</td>" in page.text  # the first session is not streamed
    assert 'value="online"' in page.text  # the second is: the frame is offered
    english = await http.get(f"/programs/{PROGRAM}", params={"lang": "en"})
    assert "Starting civic activities" in english.text and "Full (waitlist)" in english.text
    assert (await http.get(f"/programs/{uuid4()}")).status_code == 404


async def test_a_registration_is_sent_without_proof_and_its_outcome_is_mailed(
    site: tuple[httpx.AsyncClient, FakeCommands],
) -> None:
    http, commands = site
    page = await http.get(f"/programs/{PROGRAM}")
    sent = await http.post(f"/programs/{PROGRAM}/register", data={
        "csrf": csrf_of(page.text), "sessions": [str(SECOND), str(uuid4())], "frame": "online",
        "party_size": "2", "name": "山田 花子", "email": "hanako@example.org"})  # fmt: skip
    assert sent.status_code == 200 and "結果はメールでお知らせします" in sent.text
    ((command, token),) = commands.sent
    assert isinstance(command, RequestRegistration) and token is None
    assert command.session_ids == [SECOND]  # a session of another program is not passed on
    assert command.frame is Frame.ONLINE and command.party_size == 2
    assert command.program_id == PROGRAM and command.language.value == "ja"
    assert "hanako@example.org" not in sent.text


@pytest.mark.parametrize("change", [
    {"email": "not an address"}, {"name": " "}, {"party_size": "5"}, {"frame": "balcony"},
    {"sessions": []},
])  # fmt: skip
async def test_a_bad_registration_keeps_what_was_typed_and_sends_nothing(
    site: tuple[httpx.AsyncClient, FakeCommands], change: dict[str, object]
) -> None:
    http, commands = site
    page = await http.get(f"/programs/{PROGRAM}")
    form = {"csrf": csrf_of(page.text), "sessions": [str(FIRST)], "frame": "onsite",
            "party_size": "1", "name": "山田 花子", "email": "hanako@example.org",
            "note": HOSTILE, **change}  # fmt: skip
    answer = await http.post(f"/programs/{PROGRAM}/register", data=form)
    assert answer.status_code == 400 and commands.sent == []
    assert HOSTILE not in answer.text and "&lt;script&gt;" in answer.text
    assert answer.headers["cache-control"] == "no-store"


async def test_a_whole_course_needs_no_session_chosen(
    site: tuple[httpx.AsyncClient, FakeCommands],
) -> None:
    http, commands = site
    page = await http.get(f"/programs/{PROGRAM}")
    await http.post(f"/programs/{PROGRAM}/register", data={
        "csrf": csrf_of(page.text), "series": "yes", "frame": "onsite", "party_size": "1",
        "name": "山田 花子", "email": "hanako@example.org"})  # fmt: skip
    ((command, _),) = commands.sent
    assert isinstance(command, RequestRegistration) and command.series and command.session_ids == []


async def test_kafka_away_the_registration_form_keeps_what_was_typed(
    site: tuple[httpx.AsyncClient, FakeCommands],
) -> None:
    http, commands = site

    async def away(cmd: object, token: str | None) -> None:
        raise ConnectionError("no broker")

    commands.publish = away  # type: ignore[method-assign]
    page = await http.get(f"/programs/{PROGRAM}")
    answer = await http.post(f"/programs/{PROGRAM}/register", data={
        "csrf": csrf_of(page.text), "sessions": [str(FIRST)], "frame": "onsite",
        "party_size": "1", "name": "山田 花子", "email": "hanako@example.org"})  # fmt: skip
    assert answer.status_code == 503 and 'value="hanako@example.org"' in answer.text


@pytest.mark.parametrize(("action", "answer", "kind"), [
    ("cancel", "cancel", CancelRegistration), ("offer", "accept", AcceptOffer),
    ("offer", "decline", DeclineOffer),
])  # fmt: skip
async def test_a_mailed_link_sends_its_token_only_after_a_touch(
    site: tuple[httpx.AsyncClient, FakeCommands], action: str, answer: str, kind: type
) -> None:
    http, commands = site
    registration = uuid4()
    page = await http.get(f"/registrations/{registration}/{action}", params={"token": "tok.en"})
    assert page.status_code == 200 and commands.sent == []  # a mail scanner changes nothing
    assert page.headers["referrer-policy"] == "same-origin"
    sent = await http.post(f"/registrations/{registration}/answer", data={
        "csrf": csrf_of(page.text), "token": "tok.en", "answer": answer})  # fmt: skip
    assert sent.status_code == 200
    ((command, token),) = commands.sent
    assert isinstance(command, kind) and token is None
    assert command.registration_id == registration and command.token == "tok.en"


async def test_a_link_without_its_token_or_with_a_strange_answer_sends_nothing(
    site: tuple[httpx.AsyncClient, FakeCommands],
) -> None:
    http, commands = site
    registration = uuid4()
    assert (await http.get(f"/registrations/{registration}/cancel")).status_code == 404
    assert (await http.get(f"/registrations/{registration}/erase?token=x")).status_code == 404
    page = await http.get(f"/registrations/{registration}/cancel", params={"token": "t"})
    for form in ({"answer": "cancel", "token": ""}, {"answer": "erase", "token": "t"},
                 {"answer": "cancel", "token": "x" * 301}):  # fmt: skip
        refused = await http.post(f"/registrations/{registration}/answer",
                                  data={"csrf": csrf_of(page.text), **form})  # fmt: skip
        assert refused.status_code == 400
    assert commands.sent == []
