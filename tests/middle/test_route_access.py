"""Every door of every service, tried with every kind of caller: the route x role table
(tests/contract/route_access.csv, one row per service, method and path; a column per caller) is
what each caller must get, and each service's real app, on a seeded database, is walked route
by route. A route the app serves that the table does not list fails, so no route is added
without saying who may call it; a row for a route the app no longer serves fails too.

Each request is one a permitted caller would make (real ids, valid links, a password that is
right), made afresh for each caller (a sign-in link works once), so a 2xx in the table means the
route answered the caller, not merely that the lock let it through.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from contracts.booking import OrganisationRegistered, ReservationConfirmed, SpaceId
from contracts.consultation import (
    AssignCase,
    CaseRejected,
    ReferCase,
    ReferralTarget,
    StartHearing,
    StartWork,
)
from contracts.identity import PrincipalKind, Role
from services.identity import lifetimes
from services.identity import store as identity_store
from services.notify import links, store
from services.notify.settings import DEV_SIGNING_KEY
from services.registry import SERVICES
from tests.harness import ServiceHarness
from tests.identity_flows import make_staff
from tests.identity_support import (
    http_headers,
    kiosk_token,
    organisation_token,
    staff_token,
    token,
)
from tests.support import (
    DAYS,
    at,
    open_weekday,
    open_weekdays,
    register_command,
    reservation,
    unique_email,
)

pytestmark = pytest.mark.middle

TABLE = Path(__file__).parents[1] / "contract" / "route_access.csv"
KEY_COLUMNS = ("service", "method", "path")
NOTE_COLUMN = "why"
CONFIRM_LINK = re.compile(r"/subscribers/confirm\?token=(\S+)")

Route = tuple[str, str, str]  # service, method, path template


def read_table() -> tuple[list[str], dict[Route, dict[str, str]]]:
    """The callers (the table's columns) and each route's expected answer per caller."""
    with TABLE.open(newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        callers = [c for c in reader.fieldnames or () if c not in (*KEY_COLUMNS, NOTE_COLUMN)]
        rows: dict[Route, dict[str, str]] = {}
        for row in reader:
            key = (row["service"], row["method"], row["path"])
            assert key not in rows, f"{key} is listed twice"
            rows[key] = {caller: row[caller] for caller in callers}
    return callers, rows


def served(service: str, app: FastAPI) -> set[Route]:
    """Every (method, path) the app answers; HEAD is GET without the body (runtime/http.py)."""
    return {
        (service, method, route.path or "")
        for route in iter_route_contexts(app.routes)
        for method in route.methods or ()
        if method != "HEAD"
    }


def matches(expected: str, status: int) -> bool:
    return 200 <= status < 300 if expected == "2xx" else str(status) == expected


PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new passphrase"
SIGN_IN_ACCOUNT = "seed-signin"  # signs in with PASSWORD
TARGET_ACCOUNT = "seed-target"  # what an administrator changes
DEVICE, REVOKED_DEVICE, NEW_DEVICE = "kiosk-seed", "kiosk-seed-old", "kiosk-seed-new"
INTAKE = {"kind": "activity", "name": "相談 太郎", "narrative": "団体の会計について相談したい。"}
NEW_STAFF = {"username": "seed-new", "display_name": "新しい職員", "roles": ["reception"],
             "password": PASSWORD}  # fmt: skip


@dataclass
class Seed:
    """What the requests name: two organisations, a reservation of the first, a newsletter
    issue, a subscription waiting for confirmation and one to unsubscribe; at identity, staff
    accounts (one per staff role's caller, one to sign in with, one to administer), a kiosk's
    secret, a device to revoke and unused sign-in links, one for each caller to use."""

    own: UUID
    other: UUID
    reservation: UUID
    day: str
    request: UUID = field(default_factory=uuid4)  # the reservation's command: the own's answer
    issue: UUID = field(default_factory=uuid4)
    confirm_token: str = ""
    unsubscribe_token: str = ""
    device_secret: str = ""
    links: list[str] = field(default_factory=list)
    case: UUID = field(default_factory=uuid4)  # at consultation: worked by staff-coordinator
    referral: UUID = field(default_factory=uuid4)  # the case's referral
    # expert consultation days: a free slot for each caller to book (a case takes one slot a
    # day, so each on a day of its own), a slot booked for the case for each to free, a day
    free_slots: list[str] = field(default_factory=list)
    booked_slots: list[str] = field(default_factory=list)
    expert_day: str = ""

    def unused_link(self) -> str:
        """A sign-in link nobody used yet: using one spends it."""
        return self.links.pop()

    def link_to_show(self) -> str:
        """A link whose page is shown (showing uses nothing)."""
        return self.links[0]


Request = Callable[[Seed], tuple[str, dict[str, Any]]]

REQUESTS: dict[Route, Request] = {
    ("booking", "GET", "/spaces/{space}/availability"): lambda s: (
        "/spaces/a/availability",
        {"params": {"from": s.day, "to": s.day}},
    ),
    ("booking", "GET", "/organisations/{organisation_id}/reservations"): lambda s: (
        f"/organisations/{s.own}/reservations",
        {},
    ),
    ("booking", "GET", "/reservations/{reservation_id}"): lambda s: (
        f"/reservations/{s.reservation}",
        {},
    ),
    ("booking", "GET", "/reservations"): lambda s: (
        "/reservations",
        {"params": {"from": s.day, "to": s.day}},
    ),
    ("booking", "GET", "/reports/occupancy"): lambda s: (
        "/reports/occupancy",
        {"params": {"fiscal_year": 2026}},
    ),
    ("notify", "POST", "/subscribers"): lambda s: (
        "/subscribers",
        {"json": {"email": unique_email()}},
    ),
    ("notify", "GET", "/subscribers/confirm"): lambda s: (
        "/subscribers/confirm",
        {"params": {"token": s.confirm_token}},
    ),
    ("notify", "POST", "/subscribers/confirm"): lambda s: (
        "/subscribers/confirm",
        {"params": {"token": s.confirm_token}},
    ),
    ("notify", "GET", "/subscribers/unsubscribe"): lambda s: (
        "/subscribers/unsubscribe",
        {"params": {"token": s.unsubscribe_token}},
    ),
    ("notify", "POST", "/subscribers/unsubscribe"): lambda s: (
        "/subscribers/unsubscribe",
        {"params": {"token": s.unsubscribe_token}},
    ),
    ("notify", "GET", "/o/{token}.gif"): lambda s: ("/o/x.gif", {}),
    ("notify", "GET", "/newsletters/{issue_id}"): lambda s: (f"/newsletters/{s.issue}", {}),
    ("booking", "GET", "/answers/{request_id}"): lambda s: (f"/answers/{s.request}", {}),
    ("notify", "GET", "/answers/{request_id}"): lambda s: (f"/answers/{s.request}", {}),
    ("events", "GET", "/answers/{request_id}"): lambda s: (f"/answers/{s.request}", {}),
    ("events", "GET", "/reports/participants"): lambda s: (
        "/reports/participants",
        {"params": {"fiscal_year": 2023}},
    ),
    ("identity", "POST", "/staff/sign-in"): lambda s: (
        "/staff/sign-in",
        {"json": {"username": SIGN_IN_ACCOUNT, "password": PASSWORD}},
    ),
    ("identity", "POST", "/staff/password"): lambda s: (
        "/staff/password",
        {"json": {"current_password": PASSWORD, "new_password": NEW_PASSWORD}},
    ),
    ("identity", "POST", "/sign-in/link"): lambda s: (
        "/sign-in/link",
        {"json": {"email": unique_email(), "kind": "citizen"}},
    ),
    ("identity", "GET", "/links/{token}"): lambda s: (f"/links/{s.link_to_show()}", {}),
    ("identity", "POST", "/links/{token}"): lambda s: (f"/links/{s.unused_link()}", {}),
    ("identity", "POST", "/token/device"): lambda s: (
        "/token/device",
        {"json": {"device": DEVICE, "secret": s.device_secret}},
    ),
    ("identity", "POST", "/staff"): lambda s: ("/staff", {"json": NEW_STAFF}),
    ("identity", "PATCH", "/staff/{username}"): lambda s: (
        f"/staff/{TARGET_ACCOUNT}",
        {"json": {"display_name": "受付 次郎"}},
    ),
    ("identity", "POST", "/staff/{username}/password"): lambda s: (
        f"/staff/{TARGET_ACCOUNT}/password",
        {"json": {"password": NEW_PASSWORD}},
    ),
    ("identity", "POST", "/devices"): lambda s: ("/devices", {"json": {"name": NEW_DEVICE}}),
    ("identity", "DELETE", "/devices/{name}"): lambda s: (f"/devices/{REVOKED_DEVICE}", {}),
    ("identity", "GET", "/audit/sign-ins"): lambda s: (
        "/audit/sign-ins",
        {"params": {"limit": 10}},
    ),
    ("consultation", "GET", "/answers/{request_id}"): lambda s: (f"/answers/{s.request}", {}),
    ("consultation", "POST", "/intake"): lambda s: ("/intake", {"json": INTAKE}),
    ("consultation", "POST", "/cases"): lambda s: (
        "/cases",
        {"json": {**INTAKE, "channel": "phone"}},
    ),
    ("consultation", "GET", "/cases/{case_id}"): lambda s: (f"/cases/{s.case}", {}),
    ("consultation", "POST", "/cases/{case_id}/notes"): lambda s: (
        f"/cases/{s.case}/notes",
        {"json": {"text": "聞き取りの記録"}},
    ),
    ("consultation", "PUT", "/cases/{case_id}/topics"): lambda s: (
        f"/cases/{s.case}/topics",
        {"json": {"topics": ["tax"]}},
    ),
    ("consultation", "PUT", "/cases/{case_id}/referrals/{referral_id}/details"): lambda s: (
        f"/cases/{s.case}/referrals/{s.referral}/details",
        {"json": {"details": "税理士の先生へ"}},
    ),
    ("consultation", "GET", "/cases/{case_id}/audit"): lambda s: (f"/cases/{s.case}/audit", {}),
    ("consultation", "GET", "/reports/topics"): lambda s: (
        "/reports/topics",
        {"params": {"fiscal_year": 2026}},
    ),
    ("consultation", "GET", "/reports/topics/public"): lambda s: (
        "/reports/topics/public",
        {"params": {"fiscal_year": 2026}},
    ),
    ("consultation", "GET", "/cases/search"): lambda s: (
        "/cases/search",
        {"params": {"q": "会計"}},
    ),
    ("consultation", "POST", "/expert-days"): lambda s: (
        "/expert-days",
        {
            "json": {
                "expert": "tax",
                "day": open_weekday().isoformat(),
                "slots": [{"start": "10:00", "end": "10:45"}],
            }
        },
    ),
    ("consultation", "POST", "/expert-days/{day_id}/cancel"): lambda s: (
        f"/expert-days/{s.expert_day}/cancel",
        {},
    ),
    ("consultation", "PUT", "/expert-slots/{slot_id}/booking"): lambda s: (
        f"/expert-slots/{s.free_slots.pop()}/booking",
        {"json": {"case_id": str(s.case)}},
    ),
    ("consultation", "DELETE", "/expert-slots/{slot_id}/booking"): lambda s: (
        f"/expert-slots/{s.booked_slots.pop()}/booking",
        {},
    ),
    ("booking", "GET", "/days"): lambda s: ("/days", {"params": {"from": s.day, "to": s.day}}),
    ("events", "GET", "/programs/{program_id}"): lambda s: (f"/programs/{uuid4()}", {}),
    ("events", "GET", "/programs/{program_id}/registrations"): lambda s: (
        f"/programs/{uuid4()}/registrations",
        {},
    ),
    ("events", "GET", "/sessions"): lambda s: ("/sessions", {"params": {"date": s.day}}),
    ("notify", "POST", "/newsletters/preview"): lambda s: (
        "/newsletters/preview",
        {"json": {"subject": "センターだより", "body_markdown": "# 今月の催し"}},
    ),
}
"""The request a permitted caller would make to each route with parameters or a body; a route
without any is requested as its path. Each is made anew for each caller."""


def request_for(route: Route, seed: Seed) -> tuple[str, dict[str, Any]]:
    make = REQUESTS.get(route)
    if make is not None:
        return make(seed)
    assert "{" not in route[2], f"{route}: add the request a permitted caller makes to REQUESTS"
    return route[2], {}


def caller_tokens(seed: Seed) -> dict[str, str | None]:
    """A token for each caller the table has a column for."""
    return {
        "anonymous": None,
        "organisation_own": organisation_token(seed.own),
        "organisation_other": organisation_token(seed.other),
        "citizen": token(PrincipalKind.CITIZEN, "hanako@example.org"),
        "device": kiosk_token(),
        "service_account": token(PrincipalKind.SERVICE, "events"),
        **{role.value: staff_token(role, subject=f"staff-{role.value}") for role in Role},
    }


def forged_token() -> str:
    """A staff token with its payload swapped for another: the signature no longer holds."""
    genuine = staff_token(Role.ADMINISTRATOR).split(".")
    other = staff_token(Role.RECEPTION).split(".")
    return ".".join((genuine[0], other[1], genuine[2]))


def expired_token() -> str:
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    return token(PrincipalKind.STAFF, "staff-1", [Role.ADMINISTRATOR], now=long_ago)


async def seed_booking(booking: ServiceHarness) -> Seed:
    own_org = await booking.request(register_command())
    other_org = await booking.request(register_command())
    assert isinstance(own_org, OrganisationRegistered)
    assert isinstance(other_org, OrganisationRegistered)
    day = DAYS.next()
    command = reservation(own_org.organisation_id, SpaceId.A, at(day, 10), at(day, 12),
                          purpose="非公開の打合せ")  # fmt: skip
    booked = await booking.request(command)
    assert isinstance(booked, ReservationConfirmed), booked
    return Seed(own_org.organisation_id, other_org.organisation_id, booked.reservation_id,
                day.isoformat(), request=command.message_id)  # fmt: skip


async def seed_notify(notify: ServiceHarness, seed: Seed) -> None:
    """A newsletter issue, a subscription to confirm (its e-mailed link) and one to end."""
    async with notify.pool.acquire() as conn:
        await store.create_issue(conn, seed.issue, "センターだより", "本文", "<p>本文</p>",
                                 datetime.now(UTC) + timedelta(days=30))  # fmt: skip
    to_confirm, to_end = unique_email(), unique_email()
    for email in (to_confirm, to_end):
        answer = await notify.http.post("/subscribers", json={"email": email})
        assert answer.status_code == 202, answer.text
    body = await notify.pool.fetchval(
        "SELECT body_text FROM deliveries WHERE recipient = $1 AND kind = 'subscription_confirm'",
        to_confirm,
    )
    found = CONFIRM_LINK.search(body)
    assert found, "no confirmation link in the e-mail"
    seed.confirm_token = found.group(1)
    public_id = await notify.pool.fetchval(
        "SELECT public_id FROM subscribers WHERE email = $1", to_end
    )
    seed.unsubscribe_token = links.unsubscribe_token(DEV_SIGNING_KEY.encode(), public_id)


async def seed_identity(identity: ServiceHarness, seed: Seed, callers: int) -> None:
    """The staff accounts the staff callers' tokens name (so each changes its own password),
    an account to sign in with and one to administer, the kiosk's device and one to revoke,
    and a citizen's unused sign-in link for each caller."""
    for role in Role:
        await make_staff(identity.pool, f"staff-{role.value}", PASSWORD, role)
    await make_staff(identity.pool, SIGN_IN_ACCOUNT, PASSWORD, Role.RECEPTION)
    await make_staff(identity.pool, TARGET_ACCOUNT, PASSWORD, Role.RECEPTION)
    now = datetime.now(UTC)
    seed.device_secret = lifetimes.new_secret()
    for name, secret in ((DEVICE, seed.device_secret), (REVOKED_DEVICE, lifetimes.new_secret())):
        assert await identity_store.insert_device(identity.pool, name, lifetimes.digest(secret),
                                                  now)  # fmt: skip
    for _ in range(callers + 1):  # one more: the page shown stays unused
        secret = lifetimes.new_secret()
        await identity_store.insert_link(identity.pool, lifetimes.digest(secret),
                                         PrincipalKind.CITIZEN, unique_email(), now,
                                         now + timedelta(minutes=15))  # fmt: skip
        seed.links.append(secret)


@pytest.fixture(autouse=True)
def limits_for_every_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every caller asks for a sign-in link and a device token once, from one client address:
    the per-client limits are not what this test is about. Set before the services are built,
    which read them (autouse fixtures come first)."""
    monkeypatch.setenv("LINKS_PER_CLIENT", "1000")
    monkeypatch.setenv("DEVICE_TOKENS_BURST", "1000")
    monkeypatch.setenv("SIGN_INS_BURST", "1000")
    monkeypatch.setenv("CONSULTATION_INTAKE_BURST", "1000")


async def seed_consultation(consultation: ServiceHarness, seed: Seed) -> None:
    """A case taken in by reception, heard, given to staff-coordinator, taken up and referred."""
    reception = staff_token(Role.RECEPTION, subject="staff-reception")
    chief = staff_token(Role.CHIEF_COORDINATOR, subject="staff-chief_coordinator")
    coordinator = staff_token(Role.COORDINATOR, subject="staff-coordinator")
    answer = await consultation.http.post("/cases", json={**INTAKE, "channel": "phone"},
                                          headers=http_headers(reception))  # fmt: skip
    assert answer.status_code == 201, answer.text
    seed.case = UUID(answer.json()["case_id"])
    steps = [
        (StartHearing(message_id=uuid4(), case_id=seed.case), reception),
        (AssignCase(message_id=uuid4(), case_id=seed.case, assignee="staff-coordinator"), chief),
        (StartWork(message_id=uuid4(), case_id=seed.case), coordinator),
        (ReferCase(message_id=uuid4(), case_id=seed.case, referral_id=seed.referral,
                   target=ReferralTarget.TAX_ACCOUNTANT), coordinator),
    ]  # fmt: skip
    for command, bearer in steps:
        outcome = await consultation.request(command, token=bearer)
        assert not isinstance(outcome, CaseRejected), outcome
    days = open_weekdays(2 * (len(Role) + 8))
    staff = http_headers(coordinator)
    for n, day in enumerate(days):
        opened = await consultation.http.post("/expert-days", headers=staff, json={
            "expert": "accounting", "day": day.isoformat(),
            "slots": [{"start": "13:00", "end": "13:45"}],
        })  # fmt: skip
        assert opened.status_code == 201, opened.text
        slot = opened.json()["slots"][0]["slot_id"]
        seed.expert_day = opened.json()["day_id"]
        if n % 2:
            booked = await consultation.http.put(f"/expert-slots/{slot}/booking", headers=staff,
                                                 json={"case_id": str(seed.case)})  # fmt: skip
            assert booked.status_code == 200, booked.text
            seed.booked_slots.append(slot)
        else:
            seed.free_slots.append(slot)


@pytest.fixture
async def seeded(
    booking: ServiceHarness,
    notify: ServiceHarness,
    identity: ServiceHarness,
    events: ServiceHarness,
    consultation: ServiceHarness,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[dict[str, ServiceHarness], Seed]:
    # every caller subscribes once: the per-client limit is not what this test is about
    monkeypatch.setenv("SUBSCRIBE_BURST", "1000")
    seed = await seed_booking(booking)
    await seed_notify(notify, seed)
    await seed_identity(identity, seed, callers=len(caller_tokens(seed)))
    await seed_consultation(consultation, seed)
    services = {"booking": booking, "notify": notify, "identity": identity, "events": events,
                "consultation": consultation}  # fmt: skip
    return services, seed


async def call(
    http: httpx.AsyncClient, method: str, target: tuple[str, dict[str, Any]], bearer: str | None
) -> httpx.Response:
    path, options = target
    headers = http_headers(bearer) if bearer is not None else {}
    return await http.request(method, path, headers=headers, **options)


async def test_every_route_of_every_service_answers_each_caller_as_the_table_says(
    seeded: tuple[dict[str, ServiceHarness], Seed],
) -> None:
    services, seed = seeded
    registered = {service.name for service in SERVICES if not service.client}
    assert registered == set(services), f"walk every registered service here: {registered}"
    callers, table = read_table()
    tokens = caller_tokens(seed)
    assert set(callers) == set(tokens), "the table's columns are not the callers tried here"
    serving = set().union(*(served(name, h.app) for name, h in services.items()))
    unlisted = sorted(serving - table.keys())
    assert not unlisted, f"routes served but not in {TABLE.name}: say who may call them: {unlisted}"
    stale = sorted(table.keys() - serving)
    assert not stale, f"rows of {TABLE.name} for routes no service serves: {stale}"

    wrong = []
    for route in sorted(table):
        http = services[route[0]].http
        for caller in callers:
            target = request_for(route, seed)
            response = await call(http, route[1], target, tokens[caller])
            expected = table[route][caller]
            if not matches(expected, response.status_code):
                wrong.append(f"{route[1]} {route[0]}{route[2]} as {caller}: "
                             f"{response.status_code}, expected {expected}")  # fmt: skip
            if response.status_code in (401, 403, 404):
                assert set(response.json()) == {"error"}, (route, caller, response.text)
    assert not wrong, "\n".join(wrong)


async def bearer_routes(services: dict[str, ServiceHarness]) -> set[Route]:
    """The routes whose OpenAPI operation accepts the bearer scheme."""
    found: set[Route] = set()
    for name, harness in services.items():
        document = (await harness.http.get("/openapi.json")).json()
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                if any("bearer" in need for need in operation.get("security", ())):
                    found.add((name, method.upper(), path))
    return found


async def test_a_locked_route_refuses_forged_expired_and_malformed_proof_with_a_401(
    seeded: tuple[dict[str, ServiceHarness], Seed],
) -> None:
    """A route that takes a bearer token answers with its challenge (RFC 6750); identity's
    routes that take its session cookie alone refuse every token alike, with no challenge to
    send a token they would not take."""
    services, seed = seeded
    _, table = read_table()
    locked = [route for route, answers in table.items() if answers["anonymous"] == "401"]
    assert locked, "no locked route in the table"
    takes_bearer = await bearer_routes(services)
    for route in locked:
        http = services[route[0]].http
        path, options = request_for(route, seed)
        malformed = ("Bearer", "Basic c3RhZmY6c3RhZmY=", "Bearer \u00ff\u00fe")
        for authorization in (f"Bearer {forged_token()}", f"Bearer {expired_token()}", *malformed):
            headers = [(b"authorization", authorization.encode("latin-1"))]
            response = await http.request(route[1], path, headers=headers, **options)
            assert response.status_code == 401, (route, authorization, response.text)
            if route in takes_bearer:
                assert response.headers["www-authenticate"].startswith("Bearer"), route


async def test_the_openapi_documents_demand_proof_exactly_on_locked_routes(
    seeded: tuple[dict[str, ServiceHarness], Seed],
) -> None:
    """A locked route names the schemes it takes; a public one names none, or makes proof
    optional with the empty requirement `{}` (identity's sign-out ends a session if there is
    one)."""
    services, _ = seeded
    _, table = read_table()
    for name, harness in services.items():
        document = (await harness.http.get("/openapi.json")).json()
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                expected = table[(name, method.upper(), path)]
                locked = expected["anonymous"] == "401"
                security = operation.get("security", [])
                demanded = bool(security) and {} not in security
                assert demanded is locked, (name, method, path)


async def test_availability_shows_a_reserved_slot_as_taken_and_nothing_of_who_or_why(
    seeded: tuple[dict[str, ServiceHarness], Seed],
) -> None:
    services, seed = seeded
    booking = services["booking"]
    response = await booking.http.get(
        "/spaces/a/availability", params={"from": seed.day, "to": seed.day}
    )
    assert response.status_code == 200
    (day,) = response.json()["days"]
    free = [(f["starts_at"][11:16], f["ends_at"][11:16]) for f in day["free"]]
    assert ("09:00", "10:00") in free and all(not (s < "12:00" and e > "10:00") for s, e in free)
    for secret in (str(seed.own), str(seed.reservation), "非公開の打合せ", "attendees"):
        assert secret not in response.text


async def test_an_organisation_reads_its_own_reservation_and_list(
    seeded: tuple[dict[str, ServiceHarness], Seed],
) -> None:
    services, seed = seeded
    http = services["booking"].http
    own = http_headers(organisation_token(seed.own))
    one = await http.get(f"/reservations/{seed.reservation}", headers=own)
    mine = await http.get(f"/organisations/{seed.own}/reservations", headers=own)
    assert one.status_code == 200 and one.json()["purpose"] == "非公開の打合せ"
    assert [r["reservation_id"] for r in mine.json()["reservations"]] == [str(seed.reservation)]


async def test_another_organisation_cannot_tell_a_reservation_exists(
    seeded: tuple[dict[str, ServiceHarness], Seed],
) -> None:
    services, seed = seeded
    http = services["booking"].http
    other = http_headers(organisation_token(seed.other))
    theirs = await http.get(f"/reservations/{seed.reservation}", headers=other)
    nobodys = await http.get(f"/reservations/{uuid4()}", headers=other)
    assert theirs.status_code == nobodys.status_code == 404
    assert theirs.json() == nobodys.json()
