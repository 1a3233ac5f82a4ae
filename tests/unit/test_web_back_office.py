"""The staff's back-office for organisations and days, with booking and identity faked: only
the staff who handle bookings see the directory (contacts escaped, never cached); each step is
booking's command sent with the staff member's token and its refusal is shown by reason; who
may suspend or close a day is offered the form, who may not is not."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import FastAPI

from clients.web.app import build_parts, create_app
from contracts.booking import (
    BlackoutSet,
    CloseRegistrationRequest,
    Contact,
    LiftBlackout,
    OrganisationCommandRejected,
    OrganisationKind,
    OrganisationRegistered,
    RegisterOrganisation,
    RejectionReason,
    RequestOrganisationRegistration,
    SetBlackout,
    SuspendOrganisation,
)
from tests.unit.test_web_newsletter import identity_for
from tests.unit.test_web_pages import HOSTILE, FakeCommands, csrf_of, settings

ORG = UUID("8c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f")
REQUEST = UUID("1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d")


def booking(request: httpx.Request) -> httpx.Response:
    assert request.headers["authorization"] == "Bearer ED"
    if request.url.path == "/organisations/directory":
        row = {"id": str(ORG), "name": HOSTILE, "kind": "npo", "contact_name": "山田 花子",
               "contact_email": "hanako@example.org", "registered_at": "2025-04-01T10:00:00+09:00",
               "valid_until": "2028-04-01T10:00:00+09:00", "standing": "suspended",
               "suspension_reason": HOSTILE}  # fmt: skip
        return httpx.Response(200, json={"organisations": [row]})
    if request.url.path == "/organisations/requests":
        asked = {"registration_request_id": str(REQUEST), "name": "港北みどりの会",
                 "kind": "citizen_group", "contact_name": "山田 花子",
                 "contact_email": "hanako@example.org", "newsletter_consent": True,
                 "note": HOSTILE, "requested_at": "2026-12-01T10:00:00+09:00"}  # fmt: skip
        return httpx.Response(200, json={"requests": [asked]})
    if request.url.path == "/days":
        closing = {"day": "2027-02-10", "closes_at": "2027-02-10T18:00:00+09:00"}
        blackout = {"day": "2027-02-11", "reason": "設備点検"}
        return httpx.Response(200, json={"blackouts": [blackout], "closings": [closing]})
    return httpx.Response(404, json={"error": "no"})


async def site(roles: list[str], commands: FakeCommands) -> httpx.AsyncClient:
    made = build_parts(settings())
    made.booking.http = httpx.AsyncClient(transport=httpx.MockTransport(booking),
                                          base_url="http://booking")  # fmt: skip
    made.identity.http = httpx.AsyncClient(transport=identity_for(roles),
                                           base_url="http://identity")  # fmt: skip
    made.commands = commands
    made.ready = True
    app: FastAPI = create_app(made.settings, made)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver",
                             headers={"Origin": "http://testserver"},
                             cookies={"ycc_web": "session"})  # fmt: skip


@pytest.fixture
async def coordinator() -> AsyncIterator[tuple[httpx.AsyncClient, FakeCommands]]:
    commands = FakeCommands()
    async with await site(["coordinator"], commands) as http:
        yield http, commands


async def test_the_directory_shows_standing_in_words_escaped_and_uncached(
    coordinator: tuple[httpx.AsyncClient, FakeCommands],
) -> None:
    http, _ = coordinator
    page = await http.get("/staff/organisations")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert HOSTILE not in page.text and "&lt;script&gt;" in page.text
    assert "⏸ 停止中" in page.text and "hanako@example.org" in page.text
    assert f"/staff/organisations/{ORG}/reinstate" in page.text  # suspended: reinstate offered


async def test_registering_after_the_interview_sends_booking_the_command(
    coordinator: tuple[httpx.AsyncClient, FakeCommands],
) -> None:
    http, commands = coordinator

    async def answer(request_id: UUID, token: str, wait: float) -> Any:
        return OrganisationRegistered(
            message_id=uuid4(),
            request_id=request_id,
            organisation_id=uuid4(),
            name="港北の会",
            kind=OrganisationKind.CITIZEN_GROUP,
            contact=Contact(name="山田 花子", email="hanako@example.org"),
        )

    commands.answer = answer  # type: ignore[method-assign]
    page = await http.get("/staff/organisations")
    sent = await http.post("/staff/organisations/register", data={
        "csrf": csrf_of(page.text), "name": "港北の会", "kind": "citizen_group",
        "contact_name": "山田 花子", "contact_email": "hanako@example.org"})  # fmt: skip
    assert sent.status_code == 303 and "done=register" in sent.headers["location"]
    assert "q=%E6%B8%AF%E5%8C%97" in sent.headers["location"]  # the new one is shown
    ((command, token),) = commands.sent
    assert isinstance(command, RegisterOrganisation) and token == "ED"
    assert command.name == "港北の会" and not command.newsletter_consent


async def test_a_refused_step_is_shown_by_reason_and_a_bad_form_is_not_sent(
    coordinator: tuple[httpx.AsyncClient, FakeCommands],
) -> None:
    http, commands = coordinator

    async def answer(request_id: UUID, token: str, wait: float) -> Any:
        return OrganisationCommandRejected(
            message_id=uuid4(),
            request_id=request_id,
            organisation_id=ORG,
            reason=RejectionReason.FORBIDDEN,
            detail="no",
        )

    commands.answer = answer  # type: ignore[method-assign]
    page = await http.get("/staff/organisations")
    refused = await http.post(f"/staff/organisations/{ORG}/suspend",
                              data={"csrf": csrf_of(page.text), "reason": "確認中"})  # fmt: skip
    assert refused.status_code == 409 and "権限がありません" in refused.text
    ((command, _),) = commands.sent
    assert isinstance(command, SuspendOrganisation) and command.reason == "確認中"
    bad = await http.post("/staff/organisations/register", data={
        "csrf": csrf_of(page.text), "name": "x", "kind": "cult", "contact_name": "y",
        "contact_email": "not an address"})  # fmt: skip
    assert bad.status_code == 400 and len(commands.sent) == 1
    assert 'value="not an address"' in bad.text  # what was typed is kept
    strange = await http.post(f"/staff/organisations/{ORG}/erase",
                              data={"csrf": csrf_of(page.text)})  # fmt: skip
    assert strange.status_code == 400 and len(commands.sent) == 1


async def test_a_coordinator_closes_a_day_and_opens_it_again(
    coordinator: tuple[httpx.AsyncClient, FakeCommands],
) -> None:
    http, commands = coordinator

    async def answer(request_id: UUID, token: str, wait: float) -> Any:
        return BlackoutSet(message_id=uuid4(), request_id=request_id, day=date(2027, 2, 11),
                           reason="設備点検")  # fmt: skip

    commands.answer = answer  # type: ignore[method-assign]
    page = await http.get("/staff/days")
    assert "✖ 2027-02-11 設備点検" in page.text and "18:00 閉館" in page.text
    closed = await http.post("/staff/days/blackout", data={
        "csrf": csrf_of(page.text), "day": "2027-02-11", "reason": "設備点検"})  # fmt: skip
    assert closed.status_code == 303
    lifted = await http.post("/staff/days/2027-02-11/lift", data={"csrf": csrf_of(page.text)})
    assert lifted.status_code == 303
    kinds = [type(c) for c, _ in commands.sent]
    assert kinds == [SetBlackout, LiftBlackout]
    nonsense = await http.post("/staff/days/not-a-day/lift", data={"csrf": csrf_of(page.text)})
    assert nonsense.status_code == 400 and len(commands.sent) == 2


async def test_reception_renews_but_is_offered_neither_suspension_nor_closing() -> None:
    async with await site(["reception"], FakeCommands()) as http:
        page = await http.get("/staff/organisations")
        assert f"/staff/organisations/{ORG}/renew" in page.text
        assert "/suspend" not in page.text and "/reinstate" not in page.text
        days = await http.get("/staff/days")
        assert days.status_code == 200 and 'action="/staff/days/blackout"' not in days.text


async def test_staff_who_do_not_handle_bookings_see_neither_page() -> None:
    async with await site(["newsletter_editor"], FakeCommands()) as http:
        for path in ("/staff/organisations", "/staff/days"):
            page = await http.get(path)
            assert page.status_code == 403 and "hanako" not in page.text


async def test_the_directory_is_searched_by_name_full_and_half_width_alike(
    coordinator: tuple[httpx.AsyncClient, FakeCommands],
) -> None:
    http, _ = coordinator
    found = await http.get("/staff/organisations", params={"q": "ＳＣＲＩＰＴ"})
    assert f"/staff/organisations/{ORG}/" in found.text  # the hostile name holds "script"
    none = await http.get("/staff/organisations", params={"q": "港南"})
    assert f"/staff/organisations/{ORG}/" not in none.text and "（0団体）" in none.text


async def test_a_request_is_registered_as_it_asked_or_closed_with_a_reason(
    coordinator: tuple[httpx.AsyncClient, FakeCommands],
) -> None:
    http, commands = coordinator
    page = await http.get("/staff/organisations")
    assert "面談待ち 1件" in page.text and HOSTILE not in page.text
    await http.post(f"/staff/organisations/requests/{REQUEST}/register",
                    data={"csrf": csrf_of(page.text)})  # fmt: skip
    await http.post(f"/staff/organisations/requests/{REQUEST}/close",
                    data={"csrf": csrf_of(page.text), "reason": "市外の団体"})  # fmt: skip
    (registered, _), (closed, _) = commands.sent
    assert isinstance(registered, RegisterOrganisation)
    assert registered.registration_request_id == REQUEST and registered.newsletter_consent
    assert registered.name == "港北みどりの会" and registered.contact_email == "hanako@example.org"
    assert isinstance(closed, CloseRegistrationRequest) and closed.reason == "市外の団体"
    unknown = await http.post(f"/staff/organisations/requests/{uuid4()}/register",
                              data={"csrf": csrf_of(page.text)})  # fmt: skip
    assert unknown.status_code == 404 and len(commands.sent) == 2


async def test_anyone_asks_to_register_without_proof_and_a_bad_form_keeps_what_was_typed() -> None:
    commands = FakeCommands()
    async with await site([], commands) as http:
        page = await http.get("/organisations/apply")
        assert page.status_code == 200
        form = {"csrf": csrf_of(page.text), "name": "港北みどりの会", "kind": "citizen_group",
                "contact_name": "山田 花子", "contact_email": "hanako@example.org",
                "note": "緑道の清掃"}  # fmt: skip
        bad = await http.post("/organisations/apply", data={**form, "contact_email": "x"})
        assert bad.status_code == 400 and 'value="緑道の清掃"' in bad.text and not commands.sent
        sent = await http.post("/organisations/apply", data=form)
        assert sent.status_code == 200 and "職員からご連絡します" in sent.text
    ((command, token),) = commands.sent
    assert isinstance(command, RequestOrganisationRegistration) and token is None
    assert command.note == "緑道の清掃" and not command.newsletter_consent
