"""Who may send what to the events service (services/events/access.py)."""

from __future__ import annotations

from contracts.identity import PrincipalKind, Role
from services.events import access
from services.runtime.identity import ANONYMOUS, Caller


def staff(*roles: Role) -> Caller:
    return Caller(PrincipalKind.STAFF, "staff-1", frozenset(roles))


KIOSK = Caller(PrincipalKind.DEVICE, "kiosk-lab")
CITIZEN = Caller(PrincipalKind.CITIZEN, "Hanako@Example.org")


def test_only_program_staff_and_the_administrator_plan_programs() -> None:
    assert access.PLAN(staff(Role.PROGRAM_STAFF)) and access.PLAN(staff(Role.ADMINISTRATOR))
    for caller in (staff(Role.RECEPTION), staff(Role.COORDINATOR), KIOSK, CITIZEN, ANONYMOUS):
        assert not access.PLAN(caller)


def test_anyone_may_ask_for_a_registration() -> None:
    assert all(access.REGISTER(c) for c in (ANONYMOUS, CITIZEN, KIOSK, staff(Role.AUDITOR)))


def test_the_kiosk_program_staff_and_reception_check_registrants_in() -> None:
    for caller in (KIOSK, staff(Role.PROGRAM_STAFF), staff(Role.RECEPTION)):
        assert access.CHECK_IN(caller)
    for caller in (CITIZEN, ANONYMOUS, staff(Role.NEWSLETTER_EDITOR)):
        assert not access.CHECK_IN(caller)


def test_a_registration_is_acted_on_by_its_own_citizen_or_program_staff() -> None:
    assert access.acts_for_registrant(CITIZEN, "hanako@example.org")
    assert not access.acts_for_registrant(CITIZEN, "taro@example.org")
    assert access.acts_for_registrant(staff(Role.PROGRAM_STAFF), "taro@example.org")
    assert not access.acts_for_registrant(staff(Role.RECEPTION), "taro@example.org")
    assert not access.acts_for_registrant(ANONYMOUS, "hanako@example.org")
