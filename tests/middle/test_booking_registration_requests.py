"""Registration requests on booking's consumer path and HTTP routes (tests/harness.py): anyone
asks, without proof; one open request per address; the staff who handle bookings read the
open ones with their contacts; registering names the request and closes it, once; staff may
close one without registering; nobody else may."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest

from contracts.booking import (
    CloseRegistrationRequest,
    OrganisationCommandRejected,
    OrganisationKind,
    OrganisationRegistered,
    RegisterOrganisation,
    RegistrationRequestClosed,
    RegistrationRequested,
    RejectionReason,
    RequestOrganisationRegistration,
)
from contracts.identity import Role
from tests.harness import ServiceHarness
from tests.identity_support import http_headers, organisation_token, staff_token
from tests.support import unique_email

pytestmark = pytest.mark.middle


def request(email: str) -> RequestOrganisationRegistration:
    return RequestOrganisationRegistration(
        message_id=uuid4(), name="港北みどりの会", kind=OrganisationKind.CITIZEN_GROUP,
        contact_name="山田 花子", contact_email=email, note="緑道の清掃をしています。",
    )  # fmt: skip


async def open_requests(booking: ServiceHarness) -> dict[str, dict[str, Any]]:
    answer = await booking.http.get("/organisations/requests",
                                    headers=http_headers(staff_token(Role.RECEPTION)))  # fmt: skip
    assert answer.status_code == 200, answer.text
    return {r["registration_request_id"]: r for r in answer.json()["requests"]}


async def test_a_request_waits_for_its_interview_once_per_address(booking: ServiceHarness) -> None:
    email = unique_email()
    first = await booking.request(request(email))
    assert isinstance(first, RegistrationRequested)
    assert "hanako" not in first.model_dump_json() and email not in first.model_dump_json()
    again = await booking.request(request(email.upper()))
    assert isinstance(again, OrganisationCommandRejected)
    assert again.reason is RejectionReason.CONFLICT
    waiting = await open_requests(booking)
    found = waiting[str(first.registration_request_id)]
    assert found["contact_email"] == email and found["note"] == "緑道の清掃をしています。"


async def test_registering_completes_the_request_once(booking: ServiceHarness) -> None:
    email = unique_email()
    asked = await booking.request(request(email))
    assert isinstance(asked, RegistrationRequested)

    def register() -> RegisterOrganisation:
        return RegisterOrganisation(
            message_id=uuid4(), name="港北みどりの会", kind=OrganisationKind.CITIZEN_GROUP,
            contact_name="山田 花子", contact_email=email,
            registration_request_id=asked.registration_request_id,
        )  # fmt: skip

    registered = await booking.request(register())
    assert isinstance(registered, OrganisationRegistered)
    assert str(asked.registration_request_id) not in await open_requests(booking)
    twice = await booking.request(register())
    assert isinstance(twice, OrganisationCommandRejected)
    assert twice.reason is RejectionReason.NOT_FOUND
    assert isinstance(await booking.request(request(email)), RegistrationRequested)  # anew


async def test_staff_close_a_request_and_nobody_else_may(booking: ServiceHarness) -> None:
    asked = await booking.request(request(unique_email()))
    assert isinstance(asked, RegistrationRequested)
    close = CloseRegistrationRequest(
        message_id=uuid4(), reason="対象外の活動",
        registration_request_id=asked.registration_request_id,
    )
    closed = await booking.request(close)
    assert isinstance(closed, RegistrationRequestClosed)
    assert str(asked.registration_request_id) not in await open_requests(booking)
    unknown = CloseRegistrationRequest(message_id=uuid4(), registration_request_id=uuid4())
    gone = await booking.request(unknown)
    assert isinstance(gone, OrganisationCommandRejected)
    assert gone.reason is RejectionReason.NOT_FOUND


async def test_only_booking_staff_read_the_requests(booking: ServiceHarness) -> None:
    assert (await booking.http.get("/organisations/requests")).status_code == 401
    someone = http_headers(organisation_token(UUID(int=7)))
    assert (await booking.http.get("/organisations/requests", headers=someone)).status_code == 403
