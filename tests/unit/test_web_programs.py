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

from clients.commands import Unsent
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
        raise Unsent("no broker")

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


MINE = uuid4()


def citizen_services(request: httpx.Request) -> httpx.Response:
    if request.url.host == "identity" and request.url.path == "/token":
        who = {"kind": "citizen", "subject": "hanako@example.org", "name": None, "roles": []}
        return httpx.Response(200, json={"access_token": "CIT", "expires_in": 300, "who": who})
    if request.url.host == "identity" and request.url.path == "/sign-in/link":
        LINKS_ASKED.append(request.read().decode())
        return httpx.Response(202, json={"status": "accepted"})
    if request.url.path == "/registrations/mine":
        assert request.headers["authorization"] == "Bearer CIT"
        held = {"session_id": str(SECOND), "number": 2, "starts_at": LATER.isoformat(),
                "ends_at": LATER.isoformat(), "attended": False, "position": 3}  # fmt: skip
        row = {"registration_id": str(MINE), "program_id": str(PROGRAM), "title": HOSTILE,
               "title_en": None, "frame": "onsite", "party": 2, "series": False,
               "status": "waitlisted", "created_at": LATER.isoformat(),
               "sessions": [held]}  # fmt: skip
        return httpx.Response(200, json={"registrations": [row]})
    return httpx.Response(404, json={"error": "no"})


LINKS_ASKED: list[str] = []


@pytest.fixture
async def citizen() -> AsyncIterator[tuple[httpx.AsyncClient, FakeCommands]]:
    made = build_parts(settings())
    transport = httpx.MockTransport(citizen_services)
    made.identity.http = httpx.AsyncClient(transport=transport, base_url="http://identity")
    made.programs = Programs(httpx.AsyncClient(transport=transport, base_url="http://events"))
    commands = FakeCommands()
    made.program_commands = commands
    made.ready = True
    app: FastAPI = create_app(made.settings, made)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver",
                                 headers={"Origin": "http://testserver"}) as http:  # fmt: skip
        yield http, commands


async def test_a_citizen_asks_for_a_link_and_sees_their_waitlist_place(
    citizen: tuple[httpx.AsyncClient, FakeCommands],
) -> None:
    http, _ = citizen
    page = await http.get("/sign-in", params={"as": "citizen"})
    assert 'name="as" value="citizen"' in page.text
    await http.post("/sign-in", data={"csrf": csrf_of(page.text), "as": "citizen",
                                      "email": "hanako@example.org"})  # fmt: skip
    assert '"kind":"citizen"' in LINKS_ASKED[-1].replace(" ", "")
    http.cookies.set("ycc_web", "session")
    landing = await http.get("/my")
    assert landing.status_code == 303 and landing.headers["location"] == "/my/registrations"
    mine = await http.get("/my/registrations")
    assert mine.status_code == 200 and "キャンセル待ち 3番目" in mine.text
    assert HOSTILE not in mine.text and mine.headers["cache-control"] == "no-store"


async def test_a_citizen_cancels_with_their_own_proof_and_no_link(
    citizen: tuple[httpx.AsyncClient, FakeCommands],
) -> None:
    http, commands = citizen
    http.cookies.set("ycc_web", "session")
    page = await http.get("/my/registrations")
    gone = await http.post(f"/my/registrations/{MINE}/cancel", data={"csrf": csrf_of(page.text)})
    assert gone.status_code == 303 and "problem=programs.pending" in gone.headers["location"]
    ((command, token),) = commands.sent
    assert isinstance(command, CancelRegistration) and token == "CIT"
    assert command.registration_id == MINE and command.token is None
    shown = await http.get(gone.headers["location"])
    assert "まだ結果が届いていません" in shown.text


async def test_someone_not_signed_in_as_a_citizen_sees_no_registrations(
    site: tuple[httpx.AsyncClient, FakeCommands],
) -> None:
    http, commands = site
    assert (await http.get("/my/registrations")).status_code == 401
    page = await http.get(f"/programs/{PROGRAM}")
    refused = await http.post(f"/my/registrations/{MINE}/cancel", data={"csrf": csrf_of(page.text)})
    assert refused.status_code == 401 and commands.sent == []
