"""The kiosk screen in process, with identity, booking and events answered by fakes: only a
paired screen shows anything; each command carries the id its form was shown with and the
device's token; Kafka away, the form comes back with the same id to be sent again; bad input
is answered and nothing sent; names others wrote are escaped; refusals are said by reason."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import FastAPI

from clients.commands import Unsent
from clients.web.app import build_parts, create_app
from clients.web.programs import Programs
from contracts.booking import (
    LabCheckedIn,
    LabCheckIn,
    LabCheckOut,
    LabCheckOutRejected,
    RejectionReason,
)
from contracts.program import AttendanceRejected, CheckIn, ProgramRejectionReason
from tests.unit.test_web_pages import HOSTILE, FakeCommands, csrf_of, day_answer, settings

ORG = UUID("0b7d3c56-8a0f-4f56-9a3e-1d2b3c4d5e6f")
SESSION = UUID("5d2c1b0a-9e8f-4a7b-8c6d-5e4f3a2b1c0d")
DEVICE, SECRET = "kiosk-lab", "the-device-secret"
NOW = datetime.now(UTC).isoformat()


def services(request: httpx.Request) -> httpx.Response:
    host, path = request.url.host, request.url.path
    if host == "identity" and path == "/token/device":
        body = request.read().decode()
        if f'"secret":"{SECRET}"' not in body.replace(" ", ""):
            return httpx.Response(401, json={"error": "unknown device or wrong secret"})
        who = {"kind": "device", "subject": DEVICE, "name": DEVICE, "roles": []}
        return httpx.Response(200, json={"access_token": "DEV", "expires_in": 300, "who": who})
    if host == "booking" and path in {"/organisations", "/lab/visits"}:
        assert request.headers["authorization"] == "Bearer DEV"
        if path == "/organisations":
            orgs = [{"id": str(ORG), "name": HOSTILE, "kind": "npo"}] + [
                {"id": str(uuid4()), "name": f"港北の会 {n:02d}", "kind": "citizen_group"}
                for n in range(30)
            ]
            return httpx.Response(200, json={"organisations": orgs})
        visit = {"slip_number": "20270107-004", "organisation_id": str(ORG),
                 "organisation_name": HOSTILE, "people": 3, "checked_in_at": NOW}  # fmt: skip
        return httpx.Response(200, json={"date": "2027-01-07", "visits": [visit]})
    if host == "booking" and path == "/lab/occupancy":
        return httpx.Response(200, json={"date": "2027-01-07", "present": 12, "seats": 78,
                                         "space_a_open_as_lab": True, "space_b_open_as_lab": True,
                                         "visitors_today": 20,
                                         "drop_in_hours": "09:00-21:30"})  # fmt: skip
    if host == "booking" and path.endswith("/availability"):
        day = datetime.fromisoformat(request.url.params["from"]).date()
        days = [day_answer(day, [("13:00", "15:00")])]
        return httpx.Response(200, json={"space": path.split("/")[2], "days": days})
    if host == "events" and path == "/sessions":
        session = {"session_id": str(SESSION), "program_id": str(uuid4()), "title": HOSTILE,
                   "title_en": None, "number": 2, "starts_at": NOW, "ends_at": NOW,
                   "venue": "ab", "venue_name": "スペースA+B",
                   "seats_left": {"onsite": 3, "online": 40}}  # fmt: skip
        return httpx.Response(200, json={"date": "2027-01-07", "sessions": [session]})
    return httpx.Response(404, json={"error": "no such route"})


class Kiosk:
    def __init__(self, http: httpx.AsyncClient, booking: FakeCommands, events: FakeCommands):
        self.http, self.booking, self.events = http, booking, events

    async def pair(self, secret: str = SECRET) -> httpx.Response:
        page = await self.http.get("/kiosk")
        return await self.http.post("/kiosk/pair", data={
            "csrf": csrf_of(page.text), "device": DEVICE, "secret": secret})  # fmt: skip


@pytest.fixture
async def kiosk() -> AsyncIterator[Kiosk]:
    made = build_parts(settings())
    transport = httpx.MockTransport(services)
    made.identity.http = httpx.AsyncClient(transport=transport, base_url="http://identity")
    made.booking.http = httpx.AsyncClient(transport=transport, base_url="http://booking")
    made.programs = Programs(httpx.AsyncClient(transport=transport, base_url="http://events"))
    made.commands, made.program_commands = FakeCommands(), FakeCommands()
    made.ready = True
    app: FastAPI = create_app(made.settings, made)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver",
                                 headers={"Origin": "http://testserver"}) as http:  # fmt: skip
        yield Kiosk(http, made.commands, made.program_commands)  # type: ignore[arg-type]


def field(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, page
    return found.group(1)


async def test_an_unpaired_screen_shows_only_the_pairing_form(kiosk: Kiosk) -> None:
    for path in ("/kiosk", "/kiosk/lab", "/kiosk/out", f"/kiosk/lab/{ORG}", "/kiosk/event",
                 "/kiosk/spaces", f"/kiosk/answers/booking/{uuid4()}"):  # fmt: skip
        page = await kiosk.http.get(path)
        assert page.status_code == 401 and 'action="/kiosk/pair"' in page.text, path
        assert "港北の会" not in page.text
    refused = await kiosk.pair(secret="guessed")
    assert refused.status_code == 401 and "合言葉が違います" in refused.text
    assert "ycc_kiosk" not in refused.headers.get("set-cookie", "")


async def test_a_paired_screen_keeps_its_device_in_an_httponly_strict_cookie(kiosk: Kiosk) -> None:
    paired = await kiosk.pair()
    assert paired.status_code == 303
    cookie = paired.headers["set-cookie"].lower()
    assert "ycc_kiosk=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    home = await kiosk.http.get("/kiosk")
    assert home.status_code == 200 and "12 人が利用中" in home.text
    assert home.headers["cache-control"] == "no-store"


async def test_lab_check_in_sends_the_forms_own_id_with_the_devices_token(kiosk: Kiosk) -> None:
    await kiosk.pair()
    listed = await kiosk.http.get("/kiosk/lab")
    assert listed.status_code == 200
    assert HOSTILE not in listed.text and "&lt;script&gt;" in listed.text
    assert "1 / 2 ページ" in listed.text  # 31 organisations, 24 a page
    found = await kiosk.http.get("/kiosk/lab", params={"q": "港北の会 ０"})  # full-width 0
    assert found.text.count('class="choice"') == 10  # 00 to 09
    chosen = await kiosk.http.get(f"/kiosk/lab/{ORG}")
    message_id = field(chosen.text, "message_id")
    form = {"csrf": csrf_of(chosen.text), "message_id": message_id,
            "organisation_id": str(ORG), "people": "3"}  # fmt: skip
    sent = await kiosk.http.post("/kiosk/lab/check-in", data=form)
    assert sent.status_code == 303
    assert sent.headers["location"] == f"/kiosk/answers/booking/{message_id}"
    ((command, token),) = kiosk.booking.sent
    assert isinstance(command, LabCheckIn) and token == "DEV"
    assert command.message_id == UUID(message_id) and command.people == 3
    again = await kiosk.http.post("/kiosk/lab/check-in", data=form)  # a second touch
    assert again.status_code == 303
    assert {c.message_id for c, _ in kiosk.booking.sent} == {UUID(message_id)}


async def test_kafka_away_the_form_comes_back_with_the_same_id(kiosk: Kiosk) -> None:
    await kiosk.pair()
    chosen = await kiosk.http.get(f"/kiosk/lab/{ORG}")
    message_id = field(chosen.text, "message_id")

    async def away(cmd: Any, token: str) -> None:
        raise Unsent("no broker")

    kiosk.booking.publish = away  # type: ignore[method-assign]
    unsent = await kiosk.http.post("/kiosk/lab/check-in", data={
        "csrf": csrf_of(chosen.text), "message_id": message_id, "organisation_id": str(ORG),
        "people": "4"})  # fmt: skip
    assert unsent.status_code == 503 and "data-resend-now" in unsent.text
    assert field(unsent.text, "message_id") == message_id
    assert field(unsent.text, "people") == "4" and field(unsent.text, "organisation_id") == str(ORG)
    assert unsent.text.count('name="csrf"') == 1  # a fresh token, not the posted one twice


async def test_a_fault_that_is_no_outage_is_not_shown_as_unsent(kiosk: Kiosk) -> None:
    """Only Kafka or a service away makes the 'not sent, try again' page: a bug is raised (the
    server logs it and answers 500) instead of being resent for ever."""
    await kiosk.pair()
    chosen = await kiosk.http.get(f"/kiosk/lab/{ORG}")

    async def broken(cmd: Any, token: str) -> None:
        raise RuntimeError("a bug, not an outage")

    kiosk.booking.publish = broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        await kiosk.http.post("/kiosk/lab/check-in", data={
            "csrf": csrf_of(chosen.text), "message_id": field(chosen.text, "message_id"),
            "organisation_id": str(ORG), "people": "4"})  # fmt: skip


@pytest.mark.parametrize("people", ["0", "101", "three", ""])
async def test_a_bad_head_count_is_answered_and_nothing_sent(kiosk: Kiosk, people: str) -> None:
    await kiosk.pair()
    chosen = await kiosk.http.get(f"/kiosk/lab/{ORG}")
    answer = await kiosk.http.post("/kiosk/lab/check-in", data={
        "csrf": csrf_of(chosen.text), "message_id": field(chosen.text, "message_id"),
        "organisation_id": str(ORG), "people": people})  # fmt: skip
    assert answer.status_code == 400 and kiosk.booking.sent == []


async def test_a_form_without_its_id_or_from_another_site_is_refused(kiosk: Kiosk) -> None:
    await kiosk.pair()
    chosen = await kiosk.http.get(f"/kiosk/lab/{ORG}")
    no_id = await kiosk.http.post("/kiosk/lab/check-in", data={
        "csrf": csrf_of(chosen.text), "message_id": "<x>", "organisation_id": str(ORG),
        "people": "2"})  # fmt: skip
    assert no_id.status_code == 400
    forged = await kiosk.http.post("/kiosk/lab/check-in", headers={"Origin": "https://evil.example"},
                                   data={"csrf": csrf_of(chosen.text), "people": "2",
                                         "message_id": str(uuid4()),
                                         "organisation_id": str(ORG)})  # fmt: skip
    assert forged.status_code == 403 and kiosk.booking.sent == []


async def test_check_out_is_a_touch_on_an_open_slip(kiosk: Kiosk) -> None:
    await kiosk.pair()
    listed = await kiosk.http.get("/kiosk/out")
    assert "20270107-004" in listed.text and HOSTILE not in listed.text
    sent = await kiosk.http.post("/kiosk/out", data={
        "csrf": csrf_of(listed.text), "message_id": field(listed.text, "message_id"),
        "slip": "20270107-004"})  # fmt: skip
    assert sent.status_code == 303
    ((command, _),) = kiosk.booking.sent
    assert isinstance(command, LabCheckOut) and command.slip_number == "20270107-004"
    kiosk.booking.answers[command.message_id] = LabCheckOutRejected(
        message_id=uuid4(), request_id=command.message_id, slip_number="20270107-004",
        reason=RejectionReason.NOT_FOUND, detail="no open visit")  # fmt: skip
    shown = await kiosk.http.get(sent.headers["location"])
    assert shown.status_code == 409 and "すでに退室済み" in shown.text


async def test_the_slip_number_is_shown_once_checked_in(kiosk: Kiosk) -> None:
    await kiosk.pair()
    request_id = uuid4()
    kiosk.booking.answers[request_id] = LabCheckedIn(
        message_id=uuid4(), request_id=request_id, slip_number="20270107-012",
        organisation_id=ORG, people=3, checked_in_at=datetime.now(UTC))  # fmt: skip
    shown = await kiosk.http.get(f"/kiosk/answers/booking/{request_id}")
    assert shown.status_code == 200 and 'id="slip">20270107-012<' in shown.text
    pending = await kiosk.http.get(f"/kiosk/answers/booking/{uuid4()}")
    assert pending.status_code == 202 and 'id="pending"' in pending.text
    unknown = await kiosk.http.get(f"/kiosk/answers/elsewhere/{uuid4()}")
    assert unknown.status_code == 404


async def test_event_check_in_chooses_todays_session_then_sends_the_code(kiosk: Kiosk) -> None:
    await kiosk.pair()
    listed = await kiosk.http.get("/kiosk/event")
    assert listed.status_code == 200 and f"/kiosk/event/{SESSION}" in listed.text
    assert HOSTILE not in listed.text
    page = await kiosk.http.get(f"/kiosk/event/{SESSION}", params={"title": HOSTILE})
    assert HOSTILE not in page.text and "autofocus" in page.text
    sent = await kiosk.http.post("/kiosk/event/check-in", data={
        "csrf": csrf_of(page.text), "message_id": field(page.text, "message_id"),
        "session_id": str(SESSION), "code": " K7PM-Q2XR "})  # fmt: skip
    assert sent.headers["location"].startswith("/kiosk/answers/events/")
    ((command, token),) = kiosk.events.sent
    assert isinstance(command, CheckIn) and token == "DEV"
    assert command.session_id == SESSION and command.code == "K7PM-Q2XR"
    kiosk.events.answers[command.message_id] = AttendanceRejected(
        message_id=uuid4(), request_id=command.message_id, session_id=SESSION,
        reason=ProgramRejectionReason.ALREADY_RECORDED, detail="used")  # fmt: skip
    shown = await kiosk.http.get(sent.headers["location"])
    assert shown.status_code == 409 and "すでに受付済み" in shown.text
    assert kiosk.booking.sent == []


async def test_todays_spaces_show_free_times_in_words_and_symbols(kiosk: Kiosk) -> None:
    await kiosk.pair()
    page = await kiosk.http.get("/kiosk/spaces", params={"lang": "en"})
    assert page.status_code == 200
    assert "○ 13:00–15:00" in page.text and "12 people are in the Collaboration Lab" in page.text
