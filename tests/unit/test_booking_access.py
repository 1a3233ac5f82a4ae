"""Who may read the booking service's reservations: the organisation holding them and the staff
who handle bookings; nobody else, whatever they hold."""

from __future__ import annotations

from uuid import uuid4

import pytest

from contracts.identity import PrincipalKind, Role
from services.booking.access import (
    REPORT_READERS,
    RESERVATION_READERS,
    may_read_reservations_of,
)
from services.runtime.identity import ANONYMOUS, Caller

HOLDER = uuid4()


def member(*roles: Role) -> Caller:
    return Caller(PrincipalKind.STAFF, "staff-1", frozenset(roles))


def test_an_organisation_reads_its_own_reservations() -> None:
    assert may_read_reservations_of(Caller(PrincipalKind.ORGANISATION, str(HOLDER)), HOLDER)


def test_the_same_id_written_otherwise_is_the_same_organisation() -> None:
    capitals = Caller(PrincipalKind.ORGANISATION, str(HOLDER).upper())
    assert may_read_reservations_of(capitals, HOLDER)
    assert not may_read_reservations_of(Caller(PrincipalKind.ORGANISATION, "not-an-id"), HOLDER)


def test_another_organisation_does_not() -> None:
    other = Caller(PrincipalKind.ORGANISATION, str(uuid4()))
    assert RESERVATION_READERS(other)  # past the lock: what it asks for decides
    assert not may_read_reservations_of(other, HOLDER)


@pytest.mark.parametrize(
    "role",
    [Role.RECEPTION, Role.COORDINATOR, Role.CHIEF_COORDINATOR, Role.AUDITOR, Role.ADMINISTRATOR],
)
def test_staff_who_handle_bookings_read_any_organisations_reservations(role: Role) -> None:
    assert RESERVATION_READERS(member(role))
    assert may_read_reservations_of(member(role), HOLDER)


@pytest.mark.parametrize("role", [Role.PROGRAM_STAFF, Role.NEWSLETTER_EDITOR])
def test_staff_whose_work_is_elsewhere_read_no_reservations(role: Role) -> None:
    assert not RESERVATION_READERS(member(role))
    assert not may_read_reservations_of(member(role), HOLDER)


@pytest.mark.parametrize(
    "caller",
    [
        ANONYMOUS,
        Caller(PrincipalKind.CITIZEN, "hanako@example.org"),
        Caller(PrincipalKind.DEVICE, "kiosk-lab"),
        Caller(PrincipalKind.SERVICE, "events"),
        Caller(PrincipalKind.CITIZEN, str(HOLDER)),  # a subject that is an organisation's id
        member(),
    ],
)
def test_nobody_else_reads_reservations(caller: Caller) -> None:
    assert not RESERVATION_READERS(caller)
    assert not may_read_reservations_of(caller, HOLDER)


def test_the_occupancy_report_is_for_any_staff_member_only() -> None:
    assert REPORT_READERS(member()) and REPORT_READERS(member(Role.NEWSLETTER_EDITOR))
    assert not REPORT_READERS(Caller(PrincipalKind.ORGANISATION, str(HOLDER)))
    assert not REPORT_READERS(ANONYMOUS)
