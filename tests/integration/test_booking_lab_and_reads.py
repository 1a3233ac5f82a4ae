"""The Lab at the kiosk and the read API, on the running services (their clock: 10:00 of an
open weekday, see tests/support.py)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from typing import Any
from uuid import uuid4

import asyncpg
import httpx
import pytest

from clients.kiosk.client import BookingClient
from contracts.booking import (
    LabCheckedIn,
    LabCheckedOut,
    LabCheckIn,
    LabCheckInRejected,
    LabCheckOut,
    LabCheckOutRejected,
    RejectionReason,
    ReservationConfirmed,
    SpaceId,
)
from tests.support import DAYS, SERVICES, System, at, register, reservation, service_now

pytestmark = pytest.mark.stack

BOOKING_HTTP = f"http://127.0.0.1:{SERVICES[0].http_port}"


async def get(path: str, **params: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=BOOKING_HTTP, timeout=10) as http:
        return await http.get(path, params=params)


async def occupancy() -> dict[str, Any]:
    response = await get("/lab/occupancy")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def check_in(client: BookingClient, org: Any, people: int) -> Any:
    return await client.request(
        LabCheckIn(message_id=uuid4(), organisation_id=org, people=people), 30
    )


async def test_check_in_issues_a_slip_counts_people_and_refuses_when_full(
    client: BookingClient,
) -> None:
    org = await register(client)
    before = await occupancy()
    assert before["space_a_open_as_lab"] and before["space_b_open_as_lab"]
    assert before["seats"] == 30 + 24 + 24  # unbooked Space A/B seat Lab users too
    free = before["seats"] - before["present"]
    first = await check_in(client, org, free - 1)
    assert isinstance(first, LabCheckedIn)
    assert first.slip_number.startswith(f"{service_now():%Y%m%d}-")
    last_seat = await check_in(client, org, 1)
    assert isinstance(last_seat, LabCheckedIn) and last_seat.slip_number != first.slip_number
    full = await check_in(client, org, 1)
    assert isinstance(full, LabCheckInRejected) and full.reason is RejectionReason.CAPACITY
    during = await occupancy()
    assert during["present"] == during["seats"]
    assert during["visitors_today"] == before["visitors_today"] + free

    for slip in (first.slip_number, last_seat.slip_number):
        out = await client.request(LabCheckOut(message_id=uuid4(), slip_number=slip), 30)
        assert isinstance(out, LabCheckedOut) and out.organisation_id == org
    again = await client.request(LabCheckOut(message_id=uuid4(), slip_number=first.slip_number), 30)
    assert isinstance(again, LabCheckOutRejected) and again.reason is RejectionReason.NOT_FOUND
    after = await occupancy()
    assert after["present"] == before["present"]
    assert after["visitors_today"] == during["visitors_today"]  # visitors stay counted


async def test_an_unregistered_organisation_cannot_check_in(client: BookingClient) -> None:
    refused = await check_in(client, uuid4(), 2)
    assert isinstance(refused, LabCheckInRejected)
    assert refused.reason is RejectionReason.NOT_REGISTERED


async def test_availability_shows_free_periods_and_the_days_hours(client: BookingClient) -> None:
    org = await register(client)
    day = DAYS.next()
    booked = await client.request(reservation(org, SpaceId.A, at(day, 10), at(day, 12)), 30)
    assert isinstance(booked, ReservationConfirmed)
    response = await get(
        "/spaces/ab/availability", **{"from": day.isoformat(), "to": day.isoformat()}
    )
    assert response.status_code == 200, response.text
    (shown,) = response.json()["days"]
    assert shown["open"] and shown["opens"] == "09:00" and shown["closes"] == "20:00"
    assert [(f["starts_at"][11:16], f["ends_at"][11:16]) for f in shown["free"]] == [
        ("09:00", "10:00"),
        ("12:00", "20:00"),
    ]
    space_b = await get(
        "/spaces/b/availability", **{"from": day.isoformat(), "to": day.isoformat()}
    )
    assert [
        (f["starts_at"][11:16], f["ends_at"][11:16]) for f in space_b.json()["days"][0]["free"]
    ] == [("09:00", "20:00")]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "2027-01-10", "to": "2027-01-07"}, "'from' must not be after 'to'"),
        ({"from": "2027-01-01", "to": "2027-03-01"}, "at most 31 days"),
        ({"from": "2027-01-01"}, "query parameter 'to'"),
        ({"from": "yesterday", "to": "2027-01-01"}, "query parameter 'from'"),
    ],
)
async def test_bad_availability_parameters_get_a_readable_400(
    params: dict[str, str], message: str
) -> None:
    response = await get("/spaces/a/availability", **params)
    assert response.status_code == 400
    assert message in response.json()["error"]


async def test_a_reservation_and_an_organisations_reservations_can_be_read(
    client: BookingClient,
) -> None:
    org = await register(client)
    day = DAYS.next()
    booked = await client.request(reservation(org, SpaceId.B, at(day, 15), at(day, 16)), 30)
    assert isinstance(booked, ReservationConfirmed)
    one = await get(f"/reservations/{booked.reservation_id}")
    assert one.status_code == 200 and one.json()["space"] == "b"
    assert one.json()["cancelled"] is False
    mine = await get(f"/organisations/{org}/reservations")
    assert [r["reservation_id"] for r in mine.json()["reservations"]] == [
        str(booked.reservation_id)
    ]
    assert (await get(f"/reservations/{uuid4()}")).status_code == 404


async def test_the_occupancy_report_counts_ab_full_and_a_alone_half(
    system: System, client: BookingClient
) -> None:
    """Reported for a past fiscal year, written straight into the tables as history."""
    org = await register(client)
    conn = await asyncpg.connect(system.dsn("booking"))
    day = at(service_now().date().replace(year=2021, month=7, day=1), 0).date()  # Thursday
    try:
        for space, start, end, atrium in (
            ("ab", 10, 12, True),
            ("a", 13, 17, False),
        ):
            await conn.execute(
                "INSERT INTO reservations (id, request_id, organisation_id, space, starts_at,"
                " ends_at, attendees, purpose, atrium, channel)"
                " VALUES ($1, $2, $3, $4, $5, $6, 10, 'x', $7, 'staff')",
                uuid4(), uuid4(), org, space, at(day, start), at(day, end), atrium,
            )  # fmt: skip
    finally:
        await conn.close()
    response = await get("/reports/occupancy", fiscal_year=2021)
    assert response.status_code == 200, response.text
    july = response.json()["months"][3]
    assert july["month"] == "2021-07"
    assert july["atrium_combined_hours"] == 2 and july["ab_alone_hours"] == 2
    assert july["open_hours"] > 0
    csv = await get("/reports/occupancy", fiscal_year=2021, format="csv")
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[4].startswith("2021-07,")
    printed = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "services.booking", "report", "occupancy", "--fiscal-year", "2021",
         "--csv"],
        env={**os.environ, "DATABASE_URL": system.dsn("booking")},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == csv.text  # the command line prints what the endpoint serves


async def test_the_openapi_document_lists_the_read_routes() -> None:
    paths = (await get("/openapi.json")).json()["paths"]
    for path in (
        "/spaces/{space}/availability",
        "/organisations/{organisation_id}/reservations",
        "/reservations/{reservation_id}",
        "/lab/occupancy",
        "/reports/occupancy",
    ):
        assert path in paths
