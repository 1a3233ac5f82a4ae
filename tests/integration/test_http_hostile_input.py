"""The read routes of booking and notify on the real stack, driven as an attacker would: a forged
Host header, days at the edges of the calendar, unknown ids, a flood of subscriptions. Every
answer is a 4xx with the one error body shape, never a 5xx, never a redirect to another host."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import uuid4

import httpx
import pytest

from contracts.identity import Role
from tests.identity_support import http_headers, staff_token
from tests.support import System, client_address, unique_email

pytestmark = pytest.mark.stack

FORGED_HOST = "attacker.example"


def booking_staff() -> dict[str, str]:
    """Reception's proof, minted at the booking service's time (the test stack moves its clock
    to an open weekday morning, and a token is judged by the service's clock)."""
    return http_headers(staff_token(Role.RECEPTION))


def newsletter_editor() -> dict[str, str]:
    return http_headers(staff_token(Role.NEWSLETTER_EDITOR))


@pytest.fixture
async def booking(system: System) -> AsyncIterator[httpx.AsyncClient]:
    port = system.by_name["booking-1"].http_port
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        yield client


@pytest.fixture
async def notify(system: System) -> AsyncIterator[httpx.AsyncClient]:
    port = system.by_name["notify"].http_port
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        yield client


def slashed_paths(document: dict[str, object]) -> list[str]:
    """Every documented GET route with a trailing slash added (path parameters filled in)."""
    paths = document["paths"]
    assert isinstance(paths, dict)
    filled = {"{space}": "a", "{organisation_id}": str(uuid4()), "{reservation_id}": str(uuid4()),
              "{issue_id}": str(uuid4()), "{token}": "x", "{request_id}": str(uuid4())}  # fmt: skip
    found = []
    for path, operations in paths.items():
        if "get" not in operations:
            continue
        for name, value in filled.items():
            path = path.replace(name, value)
        assert "{" not in path, f"no value to fill in {path}"
        found.append(path + "/")
    return found


@pytest.mark.parametrize("service", ["booking", "notify"])
async def test_a_trailing_slash_never_redirects_to_the_host_header(
    service: str, booking: httpx.AsyncClient, notify: httpx.AsyncClient
) -> None:
    http = booking if service == "booking" else notify
    document = (await http.get("/openapi.json")).json()
    paths = slashed_paths(document)
    assert len(paths) >= 3
    for path in paths:
        response = await http.get(path, headers={"Host": FORGED_HOST})
        assert FORGED_HOST not in response.headers.get("location", ""), path
        assert response.status_code == 404, path
        assert response.json() == {"error": "Not Found"}, path


@pytest.mark.parametrize(
    ("first", "last"),
    [
        ("0001-01-01", "0001-01-02"),
        ("9999-12-30", "9999-12-31"),
        ("0001-01-01", "9999-12-31"),
        ("2027-01-07", "9999-12-31"),
        ("1700000000", "1700000000"),
        ("2027-02-30", "2027-03-01"),
    ],
)
async def test_availability_at_the_edges_of_the_calendar_is_a_400(
    booking: httpx.AsyncClient, first: str, last: str
) -> None:
    response = await booking.get("/spaces/a/availability", params={"from": first, "to": last})
    assert response.status_code == 400, response.text
    assert isinstance(response.json()["error"], str)


async def test_not_found_has_one_body_shape_in_both_services(
    booking: httpx.AsyncClient, notify: httpx.AsyncClient
) -> None:
    answers = [
        await booking.get(f"/reservations/{uuid4()}", headers=booking_staff()),
        await notify.get(f"/newsletters/{uuid4()}", headers=newsletter_editor()),
        await booking.get("/no-such-route"),
        await notify.get("/no-such-route"),
    ]
    for answer in answers:
        assert answer.status_code == 404
        body = answer.json()
        assert set(body) == {"error"} and isinstance(body["error"], str), body


async def test_bad_parameters_have_one_body_shape_in_both_services(
    booking: httpx.AsyncClient, notify: httpx.AsyncClient
) -> None:
    answers = [
        await booking.get("/reservations/not-a-uuid", headers=booking_staff()),
        await booking.get(
            "/reports/occupancy", params={"fiscal_year": 10**30}, headers=booking_staff()
        ),
        await notify.get("/newsletters/not-a-uuid", headers=newsletter_editor()),
        await notify.post("/subscribers", json={"email": "x" * 10_000 + "@example.org"}),
        await notify.get("/subscribers/confirm", params={"token": "t" * 10_000}),
    ]
    for answer in answers:
        assert answer.status_code == 400, answer.text
        assert isinstance(answer.json()["error"], str)


async def test_the_occupancy_report_as_csv_is_text_csv(booking: httpx.AsyncClient) -> None:
    response = await booking.get("/reports/occupancy", params={"fiscal_year": 2026,
                                                               "format": "csv"},
                                 headers=booking_staff())  # fmt: skip
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    document = (await booking.get("/openapi.json")).json()
    content = document["paths"]["/reports/occupancy"]["get"]["responses"]["200"]["content"]
    assert {"application/json", "text/csv"} <= set(content)


async def test_a_client_posting_subscriptions_in_a_flood_is_told_to_wait(
    notify: httpx.AsyncClient,
) -> None:
    # the service trusts X-Forwarded-For from its local reverse proxy (127.0.0.1): each client
    # here has an address of its own, whatever other tests sent before
    one, other = client_address(), client_address()
    answers = [
        await notify.post(
            "/subscribers", json={"email": unique_email()}, headers={"X-Forwarded-For": one}
        )
        for _ in range(15)
    ]
    codes = [a.status_code for a in answers]
    assert codes[0] == 202 and 429 in codes, codes
    first_refusal = codes.index(429)
    assert all(c == 429 for c in codes[first_refusal:]), codes
    refused = answers[first_refusal]
    assert set(refused.json()) == {"error"} and int(refused.headers["retry-after"]) >= 1
    elsewhere = await notify.post("/subscribers", json={"email": unique_email()},
                                  headers={"X-Forwarded-For": other})  # fmt: skip
    assert elsewhere.status_code == 202


@pytest.mark.parametrize("address", ["山田@example.org", "jörg@example.de"])
async def test_an_address_the_center_cannot_write_to_is_refused_readably(
    notify: httpx.AsyncClient, address: str
) -> None:
    client = {"X-Forwarded-For": client_address()}
    response = await notify.post("/subscribers", json={"email": address}, headers=client)
    assert response.status_code == 400
    error = response.json()["error"]
    assert "@" in error and address not in error  # says why, in both languages, without echoing


async def test_locked_routes_on_the_stack_refuse_anonymous_and_forged_callers(
    booking: httpx.AsyncClient, notify: httpx.AsyncClient
) -> None:
    """The locks hold on the services as they run: no proof is a 401 asking for a bearer token,
    a garbled one too, and a proven caller the route does not admit a 403."""
    forged = {"Authorization": "Bearer " + "e30." * 3}
    answers = [
        (401, await booking.get(f"/reservations/{uuid4()}")),
        (401, await booking.get(f"/reservations/{uuid4()}", headers=forged)),
        (401, await notify.get(f"/newsletters/{uuid4()}")),
        (403, await notify.get(f"/newsletters/{uuid4()}", headers=booking_staff_elsewhere())),
    ]
    for status, answer in answers:
        assert answer.status_code == status, answer.text
        assert set(answer.json()) == {"error"}
        if status == 401:
            assert answer.headers["www-authenticate"].startswith("Bearer")


def booking_staff_elsewhere() -> dict[str, str]:
    """Reception's proof at notify's time: valid there, but reception follows no newsletter."""
    return http_headers(staff_token(Role.RECEPTION))


async def test_the_pixel_is_an_image_whatever_the_token(notify: httpx.AsyncClient) -> None:
    for token in ("x", "%00", "t" * 2_000):
        response = await notify.get(f"/o/{token}.gif")
        assert response.status_code == 200 and response.headers["content-type"] == "image/gif"
