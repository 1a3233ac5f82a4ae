"""Staff sign-in, sessions and administration on identity's HTTP routes (in process, real
PostgreSQL): a password opens a session whose cookie is exchanged for 5-minute tokens; wrong
and unknown usernames answer alike; five failures lock the account for fifteen minutes; sessions
end on sign-out, when idle, and when the account is disabled; every route is classified and
refuses the wrong caller; the kiosk exchanges its secret for a device token; the audit tells
who signed in, never a password."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from argon2 import extract_parameters
from argon2.profiles import RFC_9106_LOW_MEMORY

from contracts.identity import PrincipalKind, Role
from services.runtime.clock import Clock
from tests import identity_support
from tests.harness import ServiceHarness
from tests.identity_flows import CSRF, cookie_of, make_staff, with_session

pytestmark = pytest.mark.middle

PASSWORD = "correct horse battery"


def admin() -> dict[str, str]:
    return identity_support.http_headers(identity_support.staff_token(Role.ADMINISTRATOR))


async def sign_in(identity: ServiceHarness, username: str, password: str = PASSWORD,
                  **headers: str) -> httpx.Response:  # fmt: skip
    return await identity.http.post(
        "/staff/sign-in", json={"username": username, "password": password}, headers=headers
    )


async def token_for(identity: ServiceHarness, cookie: str) -> httpx.Response:
    return await identity.http.post("/token", headers=with_session(cookie, **CSRF))


# --- signing in -------------------------------------------------------------------------------


async def test_a_password_opens_a_session_exchanged_for_a_token_with_the_roles(
    identity: ServiceHarness,
) -> None:
    await make_staff(identity.pool, "sato", PASSWORD, Role.COORDINATOR, Role.AUDITOR,
                     name="佐藤 一郎")  # fmt: skip
    answer = await sign_in(identity, " Sato ")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"kind": "staff", "subject": "sato", "name": "佐藤 一郎",
                             "roles": ["auditor", "coordinator"]}  # fmt: skip
    cookie = answer.headers["set-cookie"].lower()
    assert cookie.startswith("__host-ycc_session=")
    for flag in ("httponly", "secure", "samesite=strict", "path=/", "max-age=43200"):
        assert flag in cookie
    issued = await token_for(identity, cookie_of(answer))
    assert issued.status_code == 200
    caller = identity_support.keyring().verify(issued.json()["access_token"], datetime.now(UTC))
    assert (caller.kind, caller.subject, caller.name) == (PrincipalKind.STAFF, "sato", "佐藤 一郎")
    assert caller.roles == {Role.COORDINATOR, Role.AUDITOR}


async def test_a_wrong_password_and_an_unknown_username_answer_alike(
    identity: ServiceHarness,
) -> None:
    await make_staff(identity.pool, "sato", PASSWORD)
    wrong = await sign_in(identity, "sato", "not the password")
    unknown = await sign_in(identity, "nobody", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert "set-cookie" not in wrong.headers and "set-cookie" not in unknown.headers


async def test_a_disabled_account_cannot_sign_in_even_with_its_password(
    identity: ServiceHarness,
) -> None:
    await make_staff(identity.pool, "gone", PASSWORD)
    await identity.pool.execute("UPDATE staff_accounts SET disabled_at = now()")
    assert (await sign_in(identity, "gone")).status_code == 401


async def test_a_cheaply_hashed_password_is_rehashed_with_the_current_parameters(
    identity: ServiceHarness,
) -> None:
    await make_staff(identity.pool, "sato", PASSWORD)
    assert (await sign_in(identity, "sato")).status_code == 200
    stored = await identity.pool.fetchval("SELECT password_hash FROM staff_accounts")
    assert extract_parameters(stored) == RFC_9106_LOW_MEMORY


async def test_five_failures_lock_the_account_for_fifteen_minutes_even_for_the_right_password(
    identity: ServiceHarness,
) -> None:
    await make_staff(identity.pool, "sato", PASSWORD)
    codes = [(await sign_in(identity, "sato", f"wrong {n}")).status_code for n in range(5)]
    assert codes == [401] * 5
    locked = await sign_in(identity, "SATO")
    assert locked.status_code == 429
    assert 850 <= int(locked.headers["retry-after"]) <= 900
    later = identity.instance(clock=Clock(timedelta(minutes=15, seconds=1)))
    async with later:
        assert (await later.http.post("/staff/sign-in", json={"username": "sato",
                                                              "password": PASSWORD})).status_code \
            == 200  # fmt: skip


async def test_guesses_sent_all_at_once_still_get_five_tries_per_account(
    identity: ServiceHarness,
) -> None:
    await make_staff(identity.pool, "sato", PASSWORD)
    guesses = [sign_in(identity, "sato", f"guess {n}") for n in range(12)]
    codes = [answer.status_code for answer in await asyncio.gather(*guesses)]
    assert sorted(codes) == [401] * 5 + [429] * 7
    checked = await identity.pool.fetchval(
        "SELECT count(*) FROM sign_in_audit WHERE outcome = 'failure'"
    )
    assert checked == 5


async def test_link_requests_sent_all_at_once_send_three_mails(
    identity: ServiceHarness, sent_mail: Any
) -> None:
    requests = [
        identity.http.post("/sign-in/link", json={"email": "many@example.org", "kind": "citizen"})
        for _ in range(8)
    ]
    codes = [answer.status_code for answer in await asyncio.gather(*requests)]
    assert sorted(codes) == [202] * 3 + [429] * 5
    assert len(sent_mail.to("many@example.org")) == 3


async def test_one_client_may_only_queue_so_many_password_checks(
    identity: ServiceHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIGN_INS_BURST", "2")  # read when the routes are built, on first use
    monkeypatch.setenv("SIGN_INS_PER_MINUTE", "0.01")
    codes = [(await sign_in(identity, f"user{n}", "x")).status_code for n in range(3)]
    assert codes == [401, 401, 429]


async def test_an_unknown_username_is_throttled_exactly_like_a_real_one(
    identity: ServiceHarness,
) -> None:
    codes = [(await sign_in(identity, "nobody", f"guess {n}")).status_code for n in range(6)]
    assert codes == [401] * 5 + [429]


async def test_many_accounts_guessed_from_one_address_lock_that_address(
    identity: ServiceHarness,
) -> None:
    codes = [(await sign_in(identity, f"user{n}", "guess")).status_code for n in range(21)]
    assert codes == [401] * 20 + [429]


async def test_many_accounts_guessed_from_one_ipv6_network_lock_that_network(
    identity: ServiceHarness,
) -> None:
    codes = []
    for n in range(21):  # a new address of the same /64 for every guess
        transport = httpx.ASGITransport(app=identity.app, client=(f"2001:db8:7:8::{n + 1:x}", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://service.test") as http:
            guess = {"username": f"user{n}", "password": "guess"}
            codes.append((await http.post("/staff/sign-in", json=guess)).status_code)
    assert codes == [401] * 20 + [429]


# --- sessions ---------------------------------------------------------------------------------


async def test_sign_out_ends_the_session(identity: ServiceHarness) -> None:
    await make_staff(identity.pool, "sato", PASSWORD)
    cookie = cookie_of(await sign_in(identity, "sato"))
    out = await identity.http.post("/sign-out", headers=with_session(cookie, **CSRF))
    assert out.status_code == 204
    assert "max-age=0" in out.headers["set-cookie"].lower()
    assert (await token_for(identity, cookie)).status_code == 401
    assert (await identity.http.post("/sign-out", headers=CSRF)).status_code == 204


async def test_a_session_idle_for_an_hour_ends_and_one_in_use_lives_on(
    identity: ServiceHarness,
) -> None:
    await make_staff(identity.pool, "sato", PASSWORD)
    busy = cookie_of(await sign_in(identity, "sato"))
    idle = cookie_of(await sign_in(identity, "sato"))
    at_50 = identity.instance(clock=Clock(timedelta(minutes=50)))
    at_100 = identity.instance(clock=Clock(timedelta(minutes=100)))
    async with at_50, at_100:
        assert (await at_50.http.post("/token", headers=with_session(busy, **CSRF))).is_success
        assert (await at_100.http.post("/token", headers=with_session(busy, **CSRF))).is_success
        assert (
            await at_100.http.post("/token", headers=with_session(idle, **CSRF))
        ).status_code == 401


async def test_tokens_are_issued_in_real_time_whatever_the_services_clock(
    identity: ServiceHarness,
) -> None:
    await make_staff(identity.pool, "sato", PASSWORD)
    cookie = cookie_of(await sign_in(identity, "sato"))
    async with identity.instance(clock=Clock(timedelta(minutes=30))) as rehearsing:
        issued = await rehearsing.http.post("/token", headers=with_session(cookie, **CSRF))
        token = issued.json()["access_token"]
        assert identity_support.keyring().verify(token, datetime.now(UTC)).subject == "sato"
        admin_list = await rehearsing.http.get("/staff", headers=admin())
        assert admin_list.status_code == 200  # a real-time token is judged in real time


async def test_a_session_ends_twelve_hours_after_sign_in(identity: ServiceHarness) -> None:
    await make_staff(identity.pool, "sato", PASSWORD)
    cookie = cookie_of(await sign_in(identity, "sato"))
    for minutes in range(50, 12 * 60, 50):  # used every 50 minutes, never idle
        async with identity.instance(clock=Clock(timedelta(minutes=minutes))) as at:
            assert (await at.http.post("/token", headers=with_session(cookie, **CSRF))).is_success
    async with identity.instance(clock=Clock(timedelta(hours=12))) as at:
        assert (await at.http.post("/token", headers=with_session(cookie, **CSRF))).status_code \
            == 401  # fmt: skip


async def test_a_cookie_post_needs_the_csrf_header_and_our_origin(
    identity: ServiceHarness,
) -> None:
    await make_staff(identity.pool, "sato", PASSWORD)
    cookie = cookie_of(await sign_in(identity, "sato"))
    assert (await identity.http.post("/token", headers=with_session(cookie))).status_code == 403
    foreign = with_session(cookie, Origin="https://evil.example.net", **CSRF)
    assert (await identity.http.post("/token", headers=foreign)).status_code == 403
    assert (await identity.http.post("/sign-out", headers=with_session(cookie))).status_code \
        == 403  # fmt: skip
    assert (await token_for(identity, cookie)).is_success  # neither ended the session
    own = with_session(cookie, Origin="http://127.0.0.1:8083", **CSRF)
    assert (await identity.http.post("/token", headers=own)).is_success


async def test_a_forged_or_malformed_cookie_is_nobody(identity: ServiceHarness) -> None:
    for cookie in [b"x" * 43, "\u00e9t\u00e9".encode(), b"a" * 5000, b"", b"%00", b"\xff"]:
        headers = [(b"cookie", b"__Host-ycc_session=" + cookie), (b"x-requested-by", b"t")]
        answer = await identity.http.post("/token", headers=headers)
        assert answer.status_code in (401, 413), (cookie[:10], answer.status_code)


async def test_staff_change_their_own_password_and_their_other_sessions_end(
    identity: ServiceHarness,
) -> None:
    await make_staff(identity.pool, "sato", PASSWORD)
    here = cookie_of(await sign_in(identity, "sato"))
    elsewhere = cookie_of(await sign_in(identity, "sato"))
    change = {"current_password": PASSWORD, "new_password": "a brand new passphrase"}
    wrong = {**change, "current_password": "not it"}
    assert (
        await identity.http.post("/staff/password", json=change, headers=with_session(here))
    ).status_code == 403  # no CSRF
    assert (
        await identity.http.post("/staff/password", json=wrong, headers=with_session(here, **CSRF))
    ).status_code == 401
    changed = await identity.http.post("/staff/password", json=change,
                                       headers=with_session(here, **CSRF))  # fmt: skip
    assert changed.status_code == 204, changed.text
    assert (await token_for(identity, here)).is_success
    assert (await token_for(identity, elsewhere)).status_code == 401
    assert (await sign_in(identity, "sato")).status_code == 401
    assert (await sign_in(identity, "sato", "a brand new passphrase")).status_code == 200


async def test_only_staff_change_a_password(identity: ServiceHarness) -> None:
    change = {"current_password": PASSWORD, "new_password": "a brand new passphrase"}
    org = identity_support.http_headers(identity_support.organisation_token(
        "00000000-0000-4000-8000-000000000001"))  # fmt: skip
    assert (await identity.http.post("/staff/password", json=change, headers=org)).status_code \
        == 403  # fmt: skip
    assert (await identity.http.post("/staff/password", json=change)).status_code == 401


# --- administration ---------------------------------------------------------------------------


async def test_an_administrator_creates_changes_and_disables_staff(
    identity: ServiceHarness,
) -> None:
    new = {"username": "Tanaka", "display_name": "田中 花子", "roles": ["reception"],
           "password": "a long password 1"}  # fmt: skip
    created = await identity.http.post("/staff", json=new, headers=admin())
    assert created.status_code == 201, created.text
    assert created.json()["username"] == "tanaka"
    assert (await identity.http.post("/staff", json=new, headers=admin())).status_code == 409
    cookie = cookie_of(await sign_in(identity, "tanaka", "a long password 1"))

    changed = await identity.http.patch("/staff/tanaka", json={"roles": ["coordinator"]},
                                        headers=admin())  # fmt: skip
    assert changed.json()["roles"] == ["coordinator"]
    token = (await token_for(identity, cookie)).json()["access_token"]
    assert identity_support.keyring().verify(token, datetime.now(UTC)).roles == {
        Role.COORDINATOR
    }  # the session reads the roles as they are now

    await identity.http.patch("/staff/tanaka", json={"disabled": True}, headers=admin())
    assert (await token_for(identity, cookie)).status_code == 401


async def test_a_weak_first_password_is_refused(identity: ServiceHarness) -> None:
    weak = {"username": "tanaka", "display_name": "x", "roles": ["reception"], "password": "12345"}
    answer = await identity.http.post("/staff", json=weak, headers=admin())
    assert answer.status_code == 400 and "password" in answer.json()["error"]


async def test_the_last_administrator_cannot_be_removed(identity: ServiceHarness) -> None:
    await make_staff(identity.pool, "root", PASSWORD, Role.ADMINISTRATOR)
    answer = await identity.http.patch("/staff/root", json={"disabled": True}, headers=admin())
    assert answer.status_code == 409
    answer = await identity.http.patch("/staff/root", json={"roles": ["auditor"]}, headers=admin())
    assert answer.status_code == 409


async def test_an_administrators_session_serves_as_well_as_a_token(
    identity: ServiceHarness,
) -> None:
    await make_staff(identity.pool, "root", PASSWORD, Role.ADMINISTRATOR)
    cookie = cookie_of(await sign_in(identity, "root"))
    assert (await identity.http.get("/staff", headers=with_session(cookie))).status_code == 200
    body = {"name": "kiosk-2"}
    assert (
        await identity.http.post("/devices", json=body, headers=with_session(cookie))
    ).status_code == 403  # no CSRF
    assert (
        await identity.http.post("/devices", json=body, headers=with_session(cookie, **CSRF))
    ).status_code == 201


ADMIN_ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/staff", None),
    ("POST", "/staff", {"username": "x1", "display_name": "x", "roles": ["reception"],
                        "password": "a long password 1"}),
    ("PATCH", "/staff/x1", {"display_name": "y"}),
    ("POST", "/staff/x1/password", {"password": "a long password 2"}),
    ("GET", "/devices", None),
    ("POST", "/devices", {"name": "kiosk-9"}),
    ("DELETE", "/devices/kiosk-9", None),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ROUTES)
async def test_administration_refuses_every_caller_but_an_administrator(
    identity: ServiceHarness, method: str, path: str, body: dict[str, Any] | None
) -> None:
    callers = {
        None: 401,
        identity_support.staff_token(*[r for r in Role if r is not Role.ADMINISTRATOR]): 403,
        identity_support.organisation_token("00000000-0000-4000-8000-000000000001"): 403,
        identity_support.kiosk_token(): 403,
    }
    for token, code in callers.items():
        headers = identity_support.http_headers(token) if token else {}
        answer = await identity.http.request(method, path, json=body, headers=headers)
        assert answer.status_code == code, (token and token[:20], answer.text)


async def test_the_audit_is_for_auditors_and_administrators_only(
    identity: ServiceHarness,
) -> None:
    await make_staff(identity.pool, "sato", PASSWORD)
    await sign_in(identity, "sato")
    await sign_in(identity, "sato", "my secret guess")
    await sign_in(identity, "my-other-secret", "x")
    for role, code in [(Role.AUDITOR, 200), (Role.ADMINISTRATOR, 200), (Role.COORDINATOR, 403)]:
        headers = identity_support.http_headers(identity_support.staff_token(role))
        answer = await identity.http.get("/audit/sign-ins", headers=headers)
        assert answer.status_code == code
    headers = identity_support.http_headers(identity_support.staff_token(Role.AUDITOR))
    entries = (await identity.http.get("/audit/sign-ins", headers=headers)).json()
    assert [(e["outcome"], e["subject"]) for e in entries] == [
        ("failure", None), ("failure", "sato"), ("success", "sato"),
    ]  # fmt: skip
    assert all(e["client"] for e in entries)
    text = str(entries)
    assert "secret" not in text and "horse" not in text
    metrics = (await identity.http.get("/metrics")).text
    assert 'sign_ins_total{kind="staff",outcome="failure"} 2.0' in metrics
    assert 'sign_ins_total{kind="staff",outcome="success"} 1.0' in metrics


# --- the kiosk --------------------------------------------------------------------------------


async def test_the_kiosk_exchanges_its_secret_for_a_device_token_until_revoked(
    identity: ServiceHarness,
) -> None:
    registered = await identity.http.post("/devices", json={"name": "kiosk-lab"},
                                          headers=admin())  # fmt: skip
    secret = registered.json()["secret"]
    stored = await identity.pool.fetchval("SELECT secret_digest FROM devices")
    assert stored == hashlib.sha256(secret.encode()).digest()  # its digest, never the secret
    issued = await identity.http.post(
        "/token/device", json={"device": "kiosk-lab", "secret": secret}
    )
    assert issued.status_code == 200
    caller = identity_support.keyring().verify(issued.json()["access_token"], datetime.now(UTC))
    assert (caller.kind, caller.subject) == (PrincipalKind.DEVICE, "kiosk-lab")
    wrong = await identity.http.post(
        "/token/device", json={"device": "kiosk-lab", "secret": secret[:-1] + "x"}
    )
    assert wrong.status_code == 401
    await identity.http.delete("/devices/kiosk-lab", headers=admin())
    revoked = await identity.http.post(
        "/token/device", json={"device": "kiosk-lab", "secret": secret}
    )
    assert revoked.status_code == 401


@pytest.mark.parametrize("device", ["O\u0088\u0000", "kiosk\u0000lab", "Kiosk Lab", "-kiosk"])
async def test_a_device_name_no_kiosk_can_have_is_refused_with_a_400(
    identity: ServiceHarness, device: str
) -> None:
    answer = await identity.http.post("/token/device", json={"device": device, "secret": "s" * 43})
    assert answer.status_code == 400, answer.text
    assert "device" in answer.json()["error"]


# --- every route classified, hostile input ------------------------------------------------------


async def test_every_route_is_classified_and_states_its_security(identity: ServiceHarness) -> None:
    document = (await identity.http.get("/openapi.json")).json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"]["scheme"] == "bearer"
    assert schemes["session"] == {"type": "apiKey", "in": "cookie",
                                  "name": "__Host-ycc_session",
                                  "description": schemes["session"]["description"]}  # fmt: skip
    own = {"/healthz", "/readyz"}
    for path, operations in document["paths"].items():
        if path in own:
            continue
        for method, operation in operations.items():
            access = operation.get("x-access")
            assert access in {"public", "signed-in", "administrator", "auditor"}, (method, path)
            if access in {"administrator", "auditor", "signed-in"}:
                assert operation.get("security"), (method, path)


@pytest.mark.parametrize("body", [
    b"\xff\xfe\x00binary", b"{" * 5000, b'{"username": "a\\u0000b", "password": "x"}',
    b'{"username": 1, "password": true}', b"[]", b'{"username": "x", "password": "y", "z": 1}',
])  # fmt: skip
async def test_hostile_sign_in_bodies_get_a_clear_4xx(
    identity: ServiceHarness, body: bytes
) -> None:
    answer = await identity.http.post(
        "/staff/sign-in", content=body, headers={"content-type": "application/json"}
    )
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.json()["error"]


@pytest.mark.parametrize("authorization", [
    b"", b"Bearer", b"Bearer ", b"Basic dXNlcjpwdw==", b"Bearer not.a.token", b"bearer e30.e30.e30",
    b"Bearer \xff\xfe\x00", b"Bearer " + b"a" * 20_000,
])  # fmt: skip
async def test_a_garbage_authorization_proves_nobody(
    identity: ServiceHarness, authorization: bytes
) -> None:
    for method, path in [
        ("GET", "/staff"),
        ("GET", "/audit/sign-ins"),
        ("POST", "/staff/password"),
    ]:
        answer = await identity.http.request(
            method, path, json={}, headers=[(b"authorization", authorization)]
        )
        assert answer.status_code == 401, (path, authorization[:20], answer.text)
        assert answer.json()["error"]


@pytest.mark.parametrize(("method", "path"), [
    ("DELETE", "/devices/kiosk%00lab"), ("DELETE", "/devices/Kiosk%20Lab"),
    ("PATCH", "/staff/sa%00to"), ("POST", "/staff/sa%00to/password"),
])  # fmt: skip
async def test_a_name_with_a_nul_or_no_name_at_all_is_a_4xx_for_an_administrator(
    identity: ServiceHarness, method: str, path: str
) -> None:
    body = {"password": "a long password 1"} if method == "POST" else {"display_name": "x"}
    answer = await identity.http.request(method, path, json=body, headers=admin())
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.json()["error"]


async def test_a_body_too_large_is_refused_before_it_is_read(identity: ServiceHarness) -> None:
    answer = await identity.http.post(
        "/sign-in/link", content=b"x" * 100_000, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 413


async def test_a_flood_of_sign_ins_is_answered_not_crashed(identity: ServiceHarness) -> None:
    answers = await asyncio.gather(*(sign_in(identity, "nobody", "x") for _ in range(12)))
    assert {a.status_code for a in answers} <= {401, 429}
