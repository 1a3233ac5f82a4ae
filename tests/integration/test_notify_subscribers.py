"""Subscribers on the real stack: double opt-in through the e-mailed link, readable refusals of
bad addresses, forged unsubscribe links refused without effect, one-click unsubscribe (link and
RFC 8058 POST), and subscribing again."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from services.notify import links
from services.notify.settings import DEV_SIGNING_KEY
from tests.support import System, unique_email

pytestmark = pytest.mark.stack

LINK = re.compile(r"(http://\S+/subscribers/confirm\?token=\S+)")


@pytest.fixture
async def http(system: System) -> AsyncIterator[httpx.AsyncClient]:
    port = system.by_name["notify"].http_port
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        yield client


async def status_of(system: System, email: str) -> str | None:
    conn = await asyncpg.connect(system.dsn("notify"))
    try:
        status: str | None = await conn.fetchval(
            "SELECT status FROM subscribers WHERE email = $1", email
        )
        return status
    finally:
        await conn.close()


async def subscriber_id(system: System, email: str) -> int:
    conn = await asyncpg.connect(system.dsn("notify"))
    try:
        found: int = await conn.fetchval("SELECT id FROM subscribers WHERE email = $1", email)
        return found
    finally:
        await conn.close()


async def confirmation_links(system: System, email: str, count: int = 1) -> set[str]:
    """The confirmation links of the `count` e-mails the address received (in no order)."""
    mails = await system.wait_for_mails(email, count)
    assert len(mails) == count, f"expected {count} confirmation e-mails, got {len(mails)}"
    found = set()
    for mail in mails:
        body = mail.get_body(("plain",))
        assert body is not None
        link = LINK.search(body.get_content())
        assert link, "no confirmation link in the e-mail"
        found.add(link.group(1))
    return found


async def confirmation_link(system: System, email: str) -> str:
    (link,) = await confirmation_links(system, email)
    return link


async def test_double_opt_in_round_trip(system: System, http: httpx.AsyncClient) -> None:
    email = unique_email()
    answer = await http.post("/subscribers", json={"email": email, "language": "en"})
    assert answer.status_code == 202
    assert await status_of(system, email) == "pending"

    link = await confirmation_link(system, email)
    mail = system.mails_to(email)[0]
    assert "confirm" in str(mail["Subject"]).lower()
    assert (await http.get(link)).status_code == 200
    assert await status_of(system, email) == "active"
    again = await http.get(link)
    assert again.status_code == 200 and "Already subscribed" in again.text


async def test_an_invalid_address_is_refused_with_a_reason(http: httpx.AsyncClient) -> None:
    answer = await http.post("/subscribers", json={"email": "not-an-address"})
    assert answer.status_code == 400
    assert "email" in answer.json()["error"]


def tampered(token: str) -> str:
    """The token with the first character of its signature changed. That character carries six
    bits of the MAC, so the result always differs; the last character would not do: part of its
    bits are padding that decoding ignores."""
    payload, mac = token.split(".")
    return f"{payload}.{'B' if mac[0] == 'A' else 'A'}{mac[1:]}"


async def test_a_forged_link_is_refused_and_changes_nothing(
    system: System, http: httpx.AsyncClient
) -> None:
    email = unique_email()
    await http.post("/subscribers", json={"email": email})
    assert (await http.get(await confirmation_link(system, email))).status_code == 200
    sid = await subscriber_id(system, email)

    forged = [
        links.unsubscribe_token(b"guessed-key", sid),
        tampered(links.unsubscribe_token(DEV_SIGNING_KEY.encode(), sid)),
        links.open_token(DEV_SIGNING_KEY.encode(), sid),  # genuine, but for another purpose
        "garbage",
    ]
    for token in forged:
        assert (
            await http.get("/subscribers/unsubscribe", params={"token": token})
        ).status_code == 400
        assert (
            await http.post("/subscribers/unsubscribe", params={"token": token})
        ).status_code == 400
    assert await status_of(system, email) == "active"


async def test_unsubscribe_in_one_click_and_subscribe_again(
    system: System, http: httpx.AsyncClient
) -> None:
    email = unique_email()
    await http.post("/subscribers", json={"email": email})
    first_link = await confirmation_link(system, email)
    assert (await http.get(first_link)).status_code == 200
    token = links.unsubscribe_token(DEV_SIGNING_KEY.encode(), await subscriber_id(system, email))

    one_click = await http.post(
        "/subscribers/unsubscribe",
        params={"token": token},
        content="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert one_click.status_code == 200
    assert await status_of(system, email) == "unsubscribed"
    assert (await http.get("/subscribers/unsubscribe", params={"token": token})).status_code == 200

    # the old confirmation link does not bring the address back; a new request does
    assert (await http.get(first_link)).status_code == 400
    assert await status_of(system, email) == "unsubscribed"
    await http.post("/subscribers", json={"email": email})
    (second_link,) = await confirmation_links(system, email, count=2) - {first_link}
    assert (await http.get(second_link)).status_code == 200
    assert await status_of(system, email) == "active"
