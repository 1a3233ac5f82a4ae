"""The Lab at the kiosk and the read API of the booking service, on its consumer path and its
HTTP routes in process (tests/harness.py); the service's clock is the test stack's (10:00 of
an open weekday, see tests/support.py)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from contracts.booking import (
    BlackoutSet,
    LabCheckedIn,
    LabCheckedOut,
    LabCheckIn,
    LabCheckInRejected,
    LabCheckOut,
    LabCheckOutRejected,
    OrganisationRegistered,
    OrganisationSuspended,
    RejectionReason,
    ReservationConfirmed,
    SetBlackout,
    SpaceId,
    SuspendOrganisation,
)
from contracts.envelope import Message
from contracts.identity import Role
from tests.harness import ServiceHarness
from tests.identity_support import http_headers, kiosk_token, organisation_token, staff_token
from tests.support import DAYS, at, register_command, reservation, service_now

pytestmark = pytest.mark.middle


async def register(booking: ServiceHarness) -> UUID:
    outcome = await booking.request(register_command())
    assert isinstance(outcome, OrganisationRegistered), outcome
    return outcome.organisation_id


async def get(
    booking: ServiceHarness, path: str, bearer: str | None = None, **params: Any
) -> httpx.Response:
    headers = http_headers(bearer) if bearer else {}
    return await booking.http.get(path, params=params, headers=headers)


async def occupancy(booking: ServiceHarness) -> dict[str, Any]:
    response = await get(booking, "/lab/occupancy")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def check_in(booking: ServiceHarness, org: UUID, people: int) -> Message:
    return await booking.request(LabCheckIn(message_id=uuid4(), organisation_id=org, people=people))


async def test_check_in_issues_a_slip_counts_people_and_refuses_when_full(
    booking: ServiceHarness,
) -> None:
    org = await register(booking)
    before = await occupancy(booking)
    assert before["space_a_open_as_lab"] and before["space_b_open_as_lab"]
    assert before["seats"] == 30 + 24 + 24  # unbooked Space A/B seat Lab users too
    free = before["seats"] - before["present"]
    first = await check_in(booking, org, free - 1)
    assert isinstance(first, LabCheckedIn)
    assert first.slip_number.startswith(f"{service_now():%Y%m%d}-")
    last_seat = await check_in(booking, org, 1)
    assert isinstance(last_seat, LabCheckedIn) and last_seat.slip_number != first.slip_number
    full = await check_in(booking, org, 1)
    assert isinstance(full, LabCheckInRejected) and full.reason is RejectionReason.CAPACITY
    during = await occupancy(booking)
    assert during["present"] == during["seats"]
    assert during["visitors_today"] == before["visitors_today"] + free

    for slip in (first.slip_number, last_seat.slip_number):
        out = await booking.request(LabCheckOut(message_id=uuid4(), slip_number=slip))
        assert isinstance(out, LabCheckedOut) and out.organisation_id == org
    again = await booking.request(LabCheckOut(message_id=uuid4(), slip_number=first.slip_number))
    assert isinstance(again, LabCheckOutRejected) and again.reason is RejectionReason.NOT_FOUND
    after = await occupancy(booking)
    assert after["present"] == before["present"]
    assert after["visitors_today"] == during["visitors_today"]  # visitors stay counted


async def test_an_unregistered_organisation_cannot_check_in(booking: ServiceHarness) -> None:
    refused = await check_in(booking, uuid4(), 2)
    assert isinstance(refused, LabCheckInRejected)
    assert refused.reason is RejectionReason.NOT_REGISTERED


async def test_availability_shows_free_periods_and_the_days_hours(booking: ServiceHarness) -> None:
    org = await register(booking)
    day = DAYS.next()
    booked = await booking.request(reservation(org, SpaceId.A, at(day, 10), at(day, 12)))
    assert isinstance(booked, ReservationConfirmed)
    one_day = {"from": day.isoformat(), "to": day.isoformat()}
    response = await get(booking, "/spaces/ab/availability", **one_day)
    assert response.status_code == 200, response.text
    (shown,) = response.json()["days"]
    assert shown["open"] and shown["opens"] == "09:00" and shown["closes"] == "20:00"
    assert [(f["starts_at"][11:16], f["ends_at"][11:16]) for f in shown["free"]] == [
        ("09:00", "10:00"),
        ("12:00", "20:00"),
    ]
    space_b = await get(booking, "/spaces/b/availability", **one_day)
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
    booking: ServiceHarness, params: dict[str, str], message: str
) -> None:
    response = await get(booking, "/spaces/a/availability", **params)
    assert response.status_code == 400
    assert message in response.json()["error"]


async def test_a_reservation_and_an_organisations_reservations_can_be_read(
    booking: ServiceHarness,
) -> None:
    org = await register(booking)
    day = DAYS.next()
    booked = await booking.request(reservation(org, SpaceId.B, at(day, 15), at(day, 16)))
    assert isinstance(booked, ReservationConfirmed)
    holder = organisation_token(org)
    one = await get(booking, f"/reservations/{booked.reservation_id}", holder)
    assert one.status_code == 200 and one.json()["space"] == "b"
    assert one.json()["cancelled"] is False
    mine = await get(booking, f"/organisations/{org}/reservations", holder)
    assert [r["reservation_id"] for r in mine.json()["reservations"]] == [
        str(booked.reservation_id)
    ]
    reception = staff_token(Role.RECEPTION)
    assert (await get(booking, f"/reservations/{booked.reservation_id}", reception)).is_success
    assert (await get(booking, f"/reservations/{uuid4()}", reception)).status_code == 404


async def test_the_occupancy_report_counts_ab_full_and_a_alone_half(
    booking: ServiceHarness,
) -> None:
    """Reported for a past fiscal year, written straight into the tables as history."""
    org = await register(booking)
    day = at(service_now().date().replace(year=2021, month=7, day=1), 0).date()  # Thursday
    for space, start, end, atrium in (("ab", 10, 12, True), ("a", 13, 17, False)):
        await booking.pool.execute(
            "INSERT INTO reservations (id, request_id, organisation_id, space, starts_at,"
            " ends_at, attendees, purpose, atrium, channel)"
            " VALUES ($1, $2, $3, $4, $5, $6, 10, 'x', $7, 'staff')",
            uuid4(), uuid4(), org, space, at(day, start), at(day, end), atrium,
        )  # fmt: skip
    coordinator = staff_token(Role.COORDINATOR)
    response = await get(booking, "/reports/occupancy", coordinator, fiscal_year=2021)
    assert response.status_code == 200, response.text
    july = response.json()["months"][3]
    assert july["month"] == "2021-07"
    assert july["atrium_combined_hours"] == 2 and july["ab_alone_hours"] == 2
    assert july["open_hours"] > 0
    csv = await get(booking, "/reports/occupancy", coordinator, fiscal_year=2021, format="csv")
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[4].startswith("2021-07,")
    printed = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "services.booking", "report", "occupancy", "--fiscal-year", "2021",
         "--csv"],
        env={**os.environ, "DATABASE_URL": booking.dsn},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == csv.text  # the command line prints what the endpoint serves


async def test_the_openapi_document_lists_the_read_routes(booking: ServiceHarness) -> None:
    paths = (await get(booking, "/openapi.json")).json()["paths"]
    for path in (
        "/spaces/{space}/availability",
        "/organisations/{organisation_id}/reservations",
        "/reservations/{reservation_id}",
        "/lab/occupancy",
        "/reports/occupancy",
    ):
        assert path in paths


# --- what the kiosk chooses from ------------------------------------------------------------


async def test_the_kiosk_lists_organisations_in_good_standing_by_name_without_contacts(
    booking: ServiceHarness,
) -> None:
    listed, suspended = await register(booking), await register(booking)
    assert isinstance(
        await booking.request(SuspendOrganisation(message_id=uuid4(), organisation_id=suspended)),
        OrganisationSuspended,
    )
    response = await get(booking, "/organisations", kiosk_token())
    assert response.status_code == 200, response.text
    found = {o["id"]: o for o in response.json()["organisations"]}
    assert str(listed) in found and str(suspended) not in found
    assert set(found[str(listed)]) == {"id", "name", "kind"}  # no contact, no address
    names = [o["name"] for o in response.json()["organisations"]]
    assert names == sorted(names)


async def test_only_the_kiosk_and_booking_staff_list_organisations(
    booking: ServiceHarness,
) -> None:
    assert (await get(booking, "/organisations")).status_code == 401
    org = await register(booking)
    assert (await get(booking, "/organisations", organisation_token(org))).status_code == 403
    assert (await get(booking, "/organisations", staff_token(Role.RECEPTION))).status_code == 200


async def test_the_kiosk_sees_who_is_checked_in_now_to_check_them_out(
    booking: ServiceHarness,
) -> None:
    org = await register(booking)
    checked_in = await check_in(booking, org, 2)
    assert isinstance(checked_in, LabCheckedIn)
    response = await get(booking, "/lab/visits", kiosk_token())
    assert response.status_code == 200, response.text
    visits = {v["slip_number"]: v for v in response.json()["visits"]}
    visit = visits[checked_in.slip_number]
    assert visit["people"] == 2 and visit["organisation_id"] == str(org)
    assert visit["organisation_name"]
    out = await booking.request(LabCheckOut(message_id=uuid4(), slip_number=checked_in.slip_number))
    assert isinstance(out, LabCheckedOut)
    after = await get(booking, "/lab/visits", kiosk_token())
    assert checked_in.slip_number not in {v["slip_number"] for v in after.json()["visits"]}
    assert (await get(booking, "/lab/visits")).status_code == 401
    assert (await get(booking, "/lab/visits", organisation_token(org))).status_code == 403


# --- the staff's back-office ------------------------------------------------------------------


async def test_the_staff_directory_lists_every_organisation_with_its_standing_and_contact(
    booking: ServiceHarness,
) -> None:
    active, suspended = await register(booking), await register(booking)
    await booking.request(SuspendOrganisation(message_id=uuid4(), organisation_id=suspended,
                                              reason="利用規約違反の確認中"))  # fmt: skip
    response = await get(booking, "/organisations/directory", staff_token(Role.RECEPTION))
    assert response.status_code == 200, response.text
    found = {o["id"]: o for o in response.json()["organisations"]}
    assert found[str(active)]["standing"] == "active"
    assert found[str(suspended)]["standing"] == "suspended"
    assert found[str(suspended)]["suspension_reason"] == "利用規約違反の確認中"
    assert found[str(active)]["contact_email"].endswith("@example.org")
    assert (await get(booking, "/organisations/directory", kiosk_token())).status_code == 403
    assert (await get(booking, "/organisations/directory",
                      organisation_token(active))).status_code == 403  # fmt: skip


async def test_the_staff_see_blackouts_and_decided_closings_of_a_range(
    booking: ServiceHarness,
) -> None:
    day = DAYS.next()
    staff = staff_token(Role.COORDINATOR)
    closed = await booking.request(SetBlackout(message_id=uuid4(), day=day, reason="設備点検"))
    assert isinstance(closed, BlackoutSet)
    that_day = {"from": day.isoformat(), "to": day.isoformat()}
    response = await get(booking, "/days", staff, **that_day)
    assert response.status_code == 200, response.text
    assert response.json()["blackouts"] == [{"day": day.isoformat(), "reason": "設備点検"}]
    too_long = await get(booking, "/days", staff, **{"from": "2027-01-01", "to": "2028-03-01"})
    assert too_long.status_code == 400
    assert (await get(booking, "/days", kiosk_token(), **that_day)).status_code == 403
