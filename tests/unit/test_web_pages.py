"""The web client's pages in process, with identity and booking answered by fakes: languages,
the accessible layout, CSRF, security headers, escaping of what others wrote, and what the
availability page makes of booking's answer."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import FastAPI

from clients.web import i18n, security
from clients.web.app import Parts, build_parts, create_app
from clients.web.settings import WebSettings
from contracts.booking import (
    RejectionReason,
    RequestReservation,
    Reservation,
    ReservationConfirmed,
    ReservationRejected,
    SpaceId,
)
from contracts.envelope import Message
from services.runtime.kafka_auth import KafkaCredentials

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'
ORG = UUID("6f1c2f0e-1f7e-4d7a-9a53-3f4c2b1d0e9a")
DAY = date(2027, 1, 7)  # a Thursday


def settings() -> WebSettings:
    return WebSettings(
        http_host="127.0.0.1", http_port=8080, public_base_url="http://testserver",
        booking_url="http://booking", identity_url="http://identity",
        kafka_bootstrap="127.0.0.1:1", kafka_credentials=KafkaCredentials("web", "x"),
        secret_key=b"k" * 32, forwarded_allow_ips="127.0.0.1", answer_wait_s=0.1,
        token_reuse_s=60,
    )  # fmt: skip


def day_answer(day: date, free: list[tuple[str, str]], open_: bool = True) -> dict[str, Any]:
    weekday = day.weekday() < 5
    return {
        "date": day.isoformat(), "open": open_, "opens": "09:00" if open_ else None,
        "closes": ("20:00" if weekday else "17:00") if open_ else None, "closing_decided": False,
        "evening_from": "18:00" if open_ and weekday else None,
        "free": [{"starts_at": f"{day}T{s}:00+09:00", "ends_at": f"{day}T{e}:00+09:00"}
                 for s, e in free],
    }  # fmt: skip


class FakeCommands:
    def __init__(self) -> None:
        self.sent: list[tuple[Message, str | None]] = []
        self.answers: dict[UUID, Any] = {}

    async def start(self) -> None: ...
    async def stop(self) -> None: ...

    async def publish(self, cmd: Message, token: str | None) -> None:
        self.sent.append((cmd, token))

    async def answer(self, request_id: UUID, token: str, wait: float) -> Any:
        return self.answers.get(request_id)


def services(request: httpx.Request) -> httpx.Response:
    """identity and booking as the pages call them."""
    host, path = request.url.host, request.url.path
    if host == "identity" and path == "/token":
        if "ycc_session=org" in request.headers.get("cookie", ""):
            who = {"kind": "organisation", "subject": str(ORG), "name": HOSTILE, "roles": []}
            return httpx.Response(200, json={"access_token": "T", "expires_in": 300, "who": who})
        return httpx.Response(401, json={"error": "no session"})
    if host == "identity" and path == "/sign-in/link":
        return httpx.Response(202, json={"status": "accepted", "message": "ok"})
    if host == "booking" and path.endswith("/availability"):
        first = date.fromisoformat(request.url.params["from"])
        last = date.fromisoformat(request.url.params["to"])
        days = []
        while first <= last:
            closed = first.weekday() == 6
            free = [] if closed else [("09:00", "10:00"), ("18:00", "20:00")]
            days.append(day_answer(first, free, open_=not closed))
            first += timedelta(days=1)
        return httpx.Response(200, json={"space": path.split("/")[2], "days": days})
    if host == "booking" and path == f"/organisations/{ORG}/reservations":
        assert request.headers["authorization"] == "Bearer T"
        row = {"reservation_id": str(uuid4()), "organisation_id": str(ORG), "space": "a",
               "starts_at": "2999-01-07T10:00:00+09:00", "ends_at": "2999-01-07T12:00:00+09:00",
               "attendees": 5, "purpose": HOSTILE, "atrium": False, "channel": "web",
               "cancelled": False}  # fmt: skip
        return httpx.Response(200, json={"organisation_id": str(ORG), "reservations": [row]})
    return httpx.Response(404, json={"error": "no such route"})


@pytest.fixture
async def web() -> AsyncIterator[tuple[httpx.AsyncClient, FakeCommands]]:
    made = build_parts(settings())
    transport = httpx.MockTransport(services)
    made.identity.http = httpx.AsyncClient(transport=transport, base_url="http://identity")
    made.booking.http = httpx.AsyncClient(transport=transport, base_url="http://booking")
    fake = FakeCommands()
    made.commands = fake
    made.ready = True
    app: FastAPI = create_app(made.settings, made)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver") as http:  # fmt: skip
        yield http, fake


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def test_both_catalogs_hold_the_same_words_and_every_word_a_template_asks_for() -> None:
    ja, en = i18n.catalog("ja"), i18n.catalog("en")
    assert set(ja) == set(en)
    folder = Path(i18n.__file__).parent / "templates"
    asked = {key for f in folder.rglob("*.html")
             for key in re.findall(r'\bt\(["\']([a-z_.]+)["\'][,)]', f.read_text())}  # fmt: skip
    assert asked and asked <= set(ja)
    for reason in RejectionReason:
        assert f"reason.{reason.value}" in ja
    for space in SpaceId:
        assert f"space.{space.value}" in ja


def test_a_word_written_in_two_catalogs_of_one_language_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "area").mkdir()
    (tmp_path / "ja.json").write_text('{"site.name": "x", "a.b": "y"}')
    (tmp_path / "area" / "ja.json").write_text('{"a.b": "z"}')
    monkeypatch.setattr(i18n, "FOLDER", tmp_path)
    i18n.catalog.cache_clear()
    try:
        with pytest.raises(ValueError, match=r"a\.b"):
            i18n.catalog("ja")
        (tmp_path / "area" / "ja.json").write_text('{"a.c": "z"}')
        assert i18n.catalog("ja") == {"site.name": "x", "a.b": "y", "a.c": "z"}
    finally:
        i18n.catalog.cache_clear()


async def test_pages_are_japanese_first_with_an_english_switch_remembered(web: Any) -> None:
    http, _ = web
    page = await http.get("/")
    assert page.status_code == 200
    assert '<html lang="ja">' in page.text and "本文へ移動" in page.text
    assert 'href="#main"' in page.text and '<main id="main"' in page.text
    english = await http.get("/spaces?lang=en")
    assert '<html lang="en">' in english.text and "Space availability" in english.text
    assert english.cookies.get("lang") == "en"
    again = await http.get("/")  # the cookie remembers the choice
    assert '<html lang="en">' in again.text


async def test_every_answer_carries_the_security_headers(web: Any) -> None:
    http, _ = web
    for path in ("/", "/spaces", "/sign-in", "/nowhere"):
        response = await http.get(path)
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
    assert (await http.get("/nowhere")).status_code == 404


async def test_no_page_holds_inline_script_or_style(web: Any) -> None:
    http, _ = web
    for path in ("/", "/spaces", "/spaces?view=week", "/sign-in", "/staff/sign-in"):
        text = (await http.get(path)).text
        assert "<script>" not in text and " style=" not in text and "<style" not in text
        assert re.findall(r"<script[^>]*>", text) in ([], ['<script src="/static/wait.js" defer>'])


async def test_a_form_posted_without_its_token_or_from_another_site_is_refused(web: Any) -> None:
    http, _ = web
    page = await http.get("/sign-in")
    token = csrf_of(page.text)
    assert (await http.post("/sign-in", data={"email": "a@example.org"})).status_code == 403
    forged = await http.post("/sign-in", data={"email": "a@example.org", "csrf": token},
                             headers={"Origin": "https://evil.example"})  # fmt: skip
    assert forged.status_code == 403
    stranger = httpx.AsyncClient(transport=http._transport, base_url="http://testserver")
    other = await stranger.post("/sign-in", data={"email": "a@example.org", "csrf": token})
    assert other.status_code == 403  # another browser's token
    ok = await http.post("/sign-in", data={"email": "a@example.org", "csrf": token},
                         headers={"Origin": "http://testserver"})  # fmt: skip
    assert ok.status_code == 200 and "メールを確認してください" in ok.text


def test_a_csrf_token_is_bound_to_the_browser_the_session_and_its_age() -> None:
    key = b"k" * 32
    token = security.csrf_token(key, "browser-1", "session-1", now=1000)
    assert security.csrf_valid(key, "browser-1", "session-1", token, now=1000)
    assert not security.csrf_valid(key, "browser-2", "session-1", token, now=1000)
    assert not security.csrf_valid(key, "browser-1", None, token, now=1000)
    assert not security.csrf_valid(key, "browser-1", "session-1", token, now=1000 + 13 * 3600)
    assert not security.csrf_valid(b"x" * 32, "browser-1", "session-1", token, now=1000)
    assert not security.csrf_valid(key, "browser-1", "session-1", "1000.00", now=1000)


async def test_the_day_shows_each_space_free_or_not_by_words_and_the_evening_rule(
    web: Any,
) -> None:
    http, _ = web
    page = (await http.get(f"/spaces?date={DAY}")).text
    assert page.count('○ 空き<span class="vh">') == 4 * (
        2 + 4
    )  # 09:00-10:00 and 18:00-20:00, four spaces
    assert "× 空きなし" in page
    assert "予約制" in page and "18:00〜20:00は予約制" in page
    assert f"/book?space=ab&amp;date={DAY}&amp;start=18:30" in page
    sunday = (await http.get(f"/spaces?date={DAY + timedelta(days=3)}")).text
    assert "休館日です" in sunday
    week = (await http.get(f"/spaces?date={DAY}&view=week")).text
    assert "休館" in week and "09:00–10:00" in week and "18:00〜 予約制" in week


async def test_what_others_wrote_is_escaped_on_every_page(web: Any) -> None:
    http, _ = web
    http.cookies.set("ycc_web", "org")
    page = await http.get("/my/reservations")
    assert page.status_code == 200
    assert HOSTILE not in page.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.text  # name and purpose
    assert page.headers["cache-control"] == "no-store"


async def test_booking_publishes_the_request_as_the_person_and_shows_the_outcome(
    web: Any,
) -> None:
    http, fake = web
    http.cookies.set("ycc_web", "org")
    form = await http.get(f"/book?space=ab&date={DAY}&start=18:00")
    assert form.status_code == 200 and "<option selected>18:00</option>" in form.text
    data = {"csrf": csrf_of(form.text), "space": "ab", "date": DAY.isoformat(),
            "start": "18:00", "end": "19:00", "attendees": "20", "purpose": HOSTILE}  # fmt: skip
    sent = await http.post("/book", data=data)
    assert sent.status_code == 303
    command, token = fake.sent[-1]
    assert isinstance(command, RequestReservation) and token == "T"
    assert command.organisation_id == ORG and command.space is SpaceId.AB
    assert command.starts_at.isoformat() == f"{DAY}T18:00:00+09:00"
    pending = await http.get(sent.headers["location"])
    assert pending.status_code == 202 and 'data-pending="' in pending.text
    fake.answers[command.message_id] = ReservationRejected(
        message_id=uuid4(), request_id=command.message_id, reason=RejectionReason.CONFLICT,
        detail="taken",
    )  # fmt: skip
    rejected = await http.get(sent.headers["location"])
    assert "その時間はすでに予約が入っています" in rejected.text
    reservation = Reservation(organisation_id=ORG, space=SpaceId.AB, starts_at=command.starts_at,
                              ends_at=command.ends_at, attendees=20, purpose=HOSTILE,
                              atrium=False, channel=command.channel)  # fmt: skip
    fake.answers[command.message_id] = ReservationConfirmed(
        message_id=uuid4(), request_id=command.message_id, reservation_id=uuid4(),
        reservation=reservation,
    )  # fmt: skip
    confirmed = await http.get(sent.headers["location"] + "?lang=en")
    assert "Booking confirmed" in confirmed.text and HOSTILE not in confirmed.text


async def test_a_form_that_makes_no_request_keeps_what_was_typed(web: Any) -> None:
    http, fake = web
    http.cookies.set("ycc_web", "org")
    form = await http.get("/book")
    data = {"csrf": csrf_of(form.text), "space": "a", "date": "someday", "start": "10:00",
            "end": "11:00", "attendees": "x", "purpose": "打合せ"}  # fmt: skip
    answer = await http.post("/book", data=data)
    assert answer.status_code == 400 and 'value="打合せ"' in answer.text and not fake.sent


async def test_pages_for_signed_in_people_ask_to_sign_in_first(web: Any) -> None:
    http, _ = web
    for path in ("/book", "/my/reservations", f"/requests/{uuid4()}"):
        answer = await http.get(path)
        assert answer.status_code == 401 and 'action="/sign-in"' in answer.text
    assert (await http.get("/staff")).status_code == 401


async def test_health_and_readiness(web: Any) -> None:
    http, _ = web
    assert (await http.get("/healthz")).json() == {"status": "alive"}
    assert (await http.get("/readyz")).json() == {"status": "ready"}
    assert "web_pages_total" in (await http.get("/metrics")).text


async def test_the_web_is_not_ready_while_kafka_is_silent(web: Any) -> None:
    http, _ = web
    app = http._transport.app
    app.state.parts.kafka_problem = lambda: "Kafka has not answered for 12 s"
    answer = await http.get("/readyz")
    assert answer.status_code == 503 and "Kafka" in answer.json()["status"]
    app.state.parts.kafka_problem = lambda: None
    assert (await http.get("/readyz")).status_code == 200


def test_settings_default_to_the_registry_and_refuse_a_missing_key_outside_development(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from services.runtime.secrets import SecretError

    monkeypatch.setenv("DEVELOPMENT", "1")
    found = WebSettings.from_env()
    assert found.booking_url == "http://127.0.0.1:8081" and found.http_port == 8080
    assert not found.secure_cookies and found.origin == "http://127.0.0.1:8080"
    assert replace(found, public_base_url="https://center.example/").secure_cookies
    monkeypatch.delenv("DEVELOPMENT")
    monkeypatch.setenv("KAFKA_USERNAME", "web")
    monkeypatch.setenv("KAFKA_PASSWORD", "x" * 40)
    with pytest.raises(SecretError, match="WEB_SECRET_KEY"):
        WebSettings.from_env()


def test_parts_are_made_without_a_running_loop() -> None:
    made: Parts = build_parts(settings())
    assert made.commands is None and json.dumps(made.settings.origin)
