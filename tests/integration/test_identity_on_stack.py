"""The identity service on the real stack: the first administrator made by the command-line
step, staff sign-in and its throttle, sign-out, and an organisation's contact signing in by a
link that really arrives over SMTP in the sink's Maildir, once, after identity has learnt the
organisation from booking.events. Every token verifies with the public keys every service
loads (`Keyring.load()`). The rules behind each step are tested on the middle level
(tests/middle/test_identity_*.py) and as pure functions (tests/unit/test_identity_*.py)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.message import EmailMessage
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest

from clients.kiosk.client import BookingClient
from contracts.identity import PrincipalKind, Role
from services.runtime.identity import Caller, Keyring
from tests.identity_flows import CSRF, cookie_of, links_in, path_of, with_session
from tests.support import System, register, unique_email

pytestmark = pytest.mark.stack

PASSWORD = "a long and fine password"


@pytest.fixture
async def http(system: System) -> AsyncIterator[httpx.AsyncClient]:
    port = system.by_name["identity"].http_port
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        yield client


def verified(token: str, monkeypatch: pytest.MonkeyPatch) -> Caller:
    """What another service makes of the token: the keyring it loads at start-up."""
    monkeypatch.setenv("DEVELOPMENT", "1")
    monkeypatch.delenv("TOKEN_KEYS_DIR", raising=False)
    return Keyring.load().verify(token, datetime.now(UTC))


def create_staff(system: System, username: str, *roles: Role, password: str = PASSWORD) -> None:
    """`python -m services.identity create-staff`, the password on stdin."""
    env = {"DEVELOPMENT": "1", "DATABASE_URL": system.dsn("identity"), "PATH": "/usr/bin:/bin"}
    args = [f"--role={role.value}" for role in roles]
    done = subprocess.run(
        [sys.executable, "-m", "services.identity", "create-staff", "--username", username,
         *args], input=password + "\n", env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert password not in done.stdout + done.stderr


async def sign_in(http: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await http.post("/staff/sign-in", json={"username": username, "password": password})


async def test_the_first_administrator_signs_in_gets_a_token_and_signs_out(
    system: System, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    username = f"admin-{uuid4().hex[:8]}"
    create_staff(system, username, Role.ADMINISTRATOR)
    assert (await sign_in(http, username, "not the password")).status_code == 401
    answer = await sign_in(http, username, PASSWORD)
    assert answer.status_code == 200, answer.text
    cookie = cookie_of(answer)
    issued = await http.post("/token", headers=with_session(cookie, **CSRF))
    assert issued.status_code == 200, issued.text
    caller = verified(issued.json()["access_token"], monkeypatch)
    assert (caller.kind, caller.subject, caller.roles) == (
        PrincipalKind.STAFF, username, frozenset({Role.ADMINISTRATOR}),
    )  # fmt: skip
    token = issued.json()["access_token"]
    staff = await http.get("/staff", headers={"Authorization": f"Bearer {token}"})
    assert username in [a["username"] for a in staff.json()]

    assert (await http.post("/sign-out", headers=with_session(cookie, **CSRF))).status_code == 204
    assert (await http.post("/token", headers=with_session(cookie, **CSRF))).status_code == 401


async def test_five_wrong_passwords_lock_the_account(
    system: System, http: httpx.AsyncClient
) -> None:
    username = f"reception-{uuid4().hex[:8]}"
    create_staff(system, username, Role.RECEPTION)
    codes = [(await sign_in(http, username, f"wrong {n}")).status_code for n in range(5)]
    assert codes == [401] * 5
    locked = await sign_in(http, username, PASSWORD)
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 800


async def wait_for_organisation(system: System, organisation_id: UUID) -> None:
    """Until identity has consumed the registration from booking.events."""
    conn = await asyncpg.connect(system.dsn("identity"))
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if await conn.fetchval("SELECT 1 FROM organisations WHERE id = $1", organisation_id):
                return
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
    raise AssertionError("identity never learnt the organisation")


async def sign_in_mail(system: System, email: str, count: int) -> EmailMessage:
    """The `count`-th sign-in mail to `email`, once it is in the sink's Maildir."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = [m for m in system.mails_to(email) if "sign-in link" in str(m["Subject"])]
        if len(found) >= count:
            return found[count - 1]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no sign-in mail number {count} to {email}")


async def test_an_organisation_signs_in_once_by_the_mailed_link(
    system: System, client: BookingClient, http: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    email = unique_email()
    organisation_id = await register(client, email)
    await wait_for_organisation(system, organisation_id)

    assert (await http.post("/sign-in/link", json={"email": email})).status_code == 202
    (link,) = links_in(await sign_in_mail(system, email, 1))
    page = await http.get(path_of(link))
    assert page.status_code == 200 and 'method="post"' in page.text
    signed_in = await http.post(path_of(link))
    assert signed_in.status_code == 200, signed_in.text
    issued = await http.post("/token", headers=with_session(cookie_of(signed_in), **CSRF))
    caller = verified(issued.json()["access_token"], monkeypatch)
    assert (caller.kind, caller.subject) == (PrincipalKind.ORGANISATION, str(organisation_id))
    again = await http.post(path_of(link))
    assert again.status_code == 400 and "set-cookie" not in again.headers

    assert (await http.post("/sign-in/link", json={"email": email})).status_code == 202
    (late,) = links_in(await sign_in_mail(system, email, 2))
    conn = await asyncpg.connect(system.dsn("identity"))
    try:  # the link's fifteen minutes have passed
        await conn.execute(
            "UPDATE sign_in_links SET expires_at = now() - interval '1 second'"
            " WHERE kind = 'organisation' AND subject = $1 AND used_at IS NULL",
            str(organisation_id),
        )
    finally:
        await conn.close()
    expired = await http.post(path_of(late))
    assert expired.status_code == 400 and "set-cookie" not in expired.headers
