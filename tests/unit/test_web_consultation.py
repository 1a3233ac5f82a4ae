"""The public consultation form of the web client, with the consultation service faked: what a
person writes goes to the service's intake alone (with the browser's address, for its limit
per client), the answer shows the reference number, a refusal keeps what was written on a page
no cache keeps, and nothing of it is logged."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from clients.web.app import build_parts, create_app
from clients.web.consultation import Consultation
from tests.unit.test_web_pages import HOSTILE, csrf_of, settings

SECRET = "CANARY-consult-3b9e 体調のこと"


class FakeIntake:
    def __init__(self) -> None:
        self.received: list[tuple[dict[str, Any], str]] = []
        self.answer = httpx.Response(201, json={"reference": "C2026-0042", "message": "ok"})

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/intake"
        self.received.append((json.loads(request.content), request.headers["x-forwarded-for"]))
        return self.answer


@pytest.fixture
async def site() -> AsyncIterator[tuple[httpx.AsyncClient, FakeIntake]]:
    made = build_parts(settings())
    intake = FakeIntake()
    made.consultation = Consultation(httpx.AsyncClient(transport=httpx.MockTransport(intake),
                                                       base_url="http://consultation"))  # fmt: skip
    made.ready = True
    app: FastAPI = create_app(made.settings, made)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("198.51.100.7", 1)),
                                 base_url="http://testserver") as http:  # fmt: skip
        yield http, intake


async def post_form(http: httpx.AsyncClient, **fields: Any) -> httpx.Response:
    page = await http.get("/consultation")
    data = {"csrf": csrf_of(page.text), "kind": "activity", "name": "山田 花子",
            "narrative": SECRET, "email": "", "topics": ["founding", "tax"], **fields}  # fmt: skip
    return await http.post("/consultation", data=data, headers={"Origin": "http://testserver"})


async def test_the_form_says_who_reads_a_consultation_and_needs_no_sign_in(site: Any) -> None:
    http, _ = site
    page = await http.get("/consultation")
    assert page.status_code == 200
    assert "担当するコーディネーター" in page.text and "暗号化" in page.text
    assert page.headers["cache-control"] == "no-store"
    english = await http.get("/consultation?lang=en")
    assert "encrypted" in english.text


async def test_a_consultation_goes_to_the_intake_alone_and_the_answer_is_its_reference(
    site: Any, caplog: pytest.LogCaptureFixture
) -> None:
    http, intake = site
    caplog.set_level(logging.DEBUG)
    answer = await post_form(http, email=" hanako@example.org ", phone="")
    assert answer.status_code == 200
    assert "C2026-0042" in answer.text and SECRET not in answer.text
    ((body, client),) = intake.received
    assert body == {"kind": "activity", "topics": ["founding", "tax"], "language": "ja",
                    "name": "山田 花子", "narrative": SECRET,
                    "email": "hanako@example.org"}  # fmt: skip
    assert client == "198.51.100.7"  # the browser's address, for the service's limit
    assert SECRET not in caplog.text and "hanako" not in caplog.text


async def test_a_refused_form_keeps_what_was_written_escaped_and_names_the_fields(
    site: Any,
) -> None:
    http, intake = site
    intake.answer = httpx.Response(400, json={"error": "invalid", "details": [
        {"loc": ["body", "email"], "msg": "not an address", "type": "value_error"}]})  # fmt: skip
    answer = await post_form(http, name=HOSTILE, email="not-an-address")
    assert answer.status_code == 400
    assert HOSTILE not in answer.text and "&lt;script&gt;" in answer.text
    assert "<li>メールアドレス</li>" in answer.text  # the field at fault, by its label
    assert SECRET in answer.text  # what was written is kept, on this page only
    assert answer.headers["cache-control"] == "no-store"


async def test_too_many_or_a_service_away_is_said_plainly_and_nothing_is_lost(
    site: Any,
) -> None:
    http, intake = site
    intake.answer = httpx.Response(429, json={"error": "too many"})
    assert (await post_form(http)).status_code == 429
    intake.answer = httpx.Response(502, json={"error": "away"})
    away = await post_form(http)
    assert away.status_code == 503 and SECRET in away.text


async def test_a_consultation_without_the_forms_token_is_refused(site: Any) -> None:
    http, intake = site
    answer = await http.post("/consultation", data={"name": "x", "narrative": "y"},
                             headers={"Origin": "http://testserver"})  # fmt: skip
    assert answer.status_code == 403 and intake.received == []
