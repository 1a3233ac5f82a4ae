"""Need to know (services/consultation/access.py): who reads which parts of a case, and lists
and counts that never show a case the caller may not open."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest

from contracts.consultation import CaseKind, IntakeChannel
from contracts.identity import PrincipalKind, Role
from services.consultation import access, domain
from services.consultation.access import CONTENT, INTAKE, WHOLE_CASE, CaseField
from services.runtime.identity import ANONYMOUS, Caller

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Asia/Tokyo"))


def staff(subject: str, *roles: Role) -> Caller:
    return Caller(PrincipalKind.STAFF, subject, frozenset(roles))


RECEPTION = staff("tanaka.m", Role.RECEPTION)
CHIEF = staff("chief", Role.CHIEF_COORDINATOR)
SATO = staff("sato.k", Role.COORDINATOR)
SUZUKI = staff("suzuki.a", Role.COORDINATOR)
AUDITOR = staff("audit", Role.AUDITOR)
ADMIN = staff("root", Role.ADMINISTRATOR)
EVERY_ROLE_BUT_THE_DESK = staff(
    "many", Role.ADMINISTRATOR, Role.PROGRAM_STAFF, Role.NEWSLETTER_EDITOR
)


@dataclass(frozen=True)
class OnFile:
    assignee: str | None


UNASSIGNED = OnFile(None)
SATOS = OnFile("sato.k")


def test_reception_reads_what_intake_needs_of_cases_not_yet_assigned() -> None:
    readable = access.readable_fields(RECEPTION, UNASSIGNED)
    assert readable == INTAKE
    assert {CaseField.REQUESTER_NAME, CaseField.REQUESTER_CONTACT, CaseField.NARRATIVE} <= readable
    assert not readable & {CaseField.NOTES, CaseField.REFERRAL_DETAILS, CaseField.AUDIT}


def test_once_assigned_a_case_is_no_longer_receptions() -> None:
    assert access.readable_fields(RECEPTION, SATOS) == frozenset()
    assert not access.may_open(RECEPTION, SATOS)


def test_the_assignee_reads_the_whole_case_but_not_its_audit() -> None:
    assert access.readable_fields(SATO, SATOS) == WHOLE_CASE
    assert CONTENT <= WHOLE_CASE
    assert not access.may_read_audit(SATO, SATOS)


@pytest.mark.parametrize("case", [UNASSIGNED, SATOS])
def test_the_chief_coordinator_reads_every_case_and_its_audit(case: OnFile) -> None:
    assert access.readable_fields(CHIEF, case) == frozenset(CaseField)


@pytest.mark.parametrize("case", [UNASSIGNED, SATOS])
def test_the_auditor_reads_the_audit_only(case: OnFile) -> None:
    assert access.readable_fields(AUDITOR, case) == {CaseField.AUDIT}
    assert access.may_read_audit(AUDITOR, case)
    assert not access.may_open(AUDITOR, case)


@pytest.mark.parametrize(
    "caller",
    [
        SUZUKI,  # another coordinator
        ADMIN,
        EVERY_ROLE_BUT_THE_DESK,
        ANONYMOUS,
        Caller(PrincipalKind.ORGANISATION, str(uuid4())),
        Caller(PrincipalKind.CITIZEN, "hanako@example.org"),
        Caller(PrincipalKind.DEVICE, "lab-kiosk"),
        Caller(PrincipalKind.SERVICE, "notify"),
        # a token naming the assignee but not proving staff
        Caller(PrincipalKind.CITIZEN, "sato.k"),
    ],
)
def test_anyone_else_reads_nothing(caller: Caller) -> None:
    for case in (UNASSIGNED, SATOS):
        assert access.readable_fields(caller, case) == frozenset()
        assert not access.may_open(caller, case)
        assert access.project(caller, case, {f: "x" for f in CaseField}) == {}


def test_an_earlier_assignee_reads_nothing_once_the_case_is_reassigned() -> None:
    case = domain.receive(uuid4(), CaseKind.ACTIVITY, IntakeChannel.WEB, (), NOW)
    heard = domain.start_hearing(case, RECEPTION, NOW)
    assert isinstance(heard, domain.Case)
    first = domain.assign(heard, CHIEF, "sato.k", NOW)
    assert isinstance(first, domain.Case)
    second = domain.assign(first, CHIEF, "suzuki.a", NOW)
    assert isinstance(second, domain.Case)
    assert access.may_open(SATO, first) and not access.may_open(SATO, second)
    assert access.readable_fields(SUZUKI, second) == WHOLE_CASE


def test_roles_add_up() -> None:
    both = staff("tanaka.m", Role.RECEPTION, Role.AUDITOR)
    assert access.readable_fields(both, UNASSIGNED) == INTAKE | {CaseField.AUDIT}
    assert access.readable_fields(both, SATOS) == {CaseField.AUDIT}


def test_lists_and_counts_hold_only_the_cases_the_caller_may_open() -> None:
    mine, theirs, new = OnFile("sato.k"), OnFile("suzuki.a"), OnFile(None)
    cases = [new, mine, theirs]
    assert access.visible(SATO, cases) == [mine]
    assert access.visible(SUZUKI, cases) == [theirs]
    assert access.visible(RECEPTION, cases) == [new]
    assert access.visible(CHIEF, cases) == cases
    assert access.count_visible(AUDITOR, cases) == 0
    assert access.count_visible(ADMIN, cases) == 0
    assert access.count_visible(ANONYMOUS, cases) == 0


def test_a_search_looks_only_into_fields_the_caller_reads() -> None:
    asked = [CaseField.NARRATIVE, CaseField.NOTES, CaseField.REQUESTER_NAME]
    assert access.matchable(RECEPTION, UNASSIGNED, asked) == {
        CaseField.NARRATIVE,
        CaseField.REQUESTER_NAME,
    }
    assert access.matchable(SATO, SATOS, asked) == set(asked)
    assert access.matchable(SUZUKI, SATOS, asked) == frozenset()
    assert access.matchable(AUDITOR, SATOS, [*asked, CaseField.AUDIT]) == frozenset()


def test_a_read_shows_and_audits_only_what_may_be_read() -> None:
    values = {CaseField.STATE: "hearing", CaseField.NARRATIVE: "…", CaseField.NOTES: "…"}
    shown = access.project(RECEPTION, UNASSIGNED, values)
    assert set(shown) == {CaseField.STATE, CaseField.NARRATIVE}
    assert access.disclosed(RECEPTION, UNASSIGNED, values) == set(shown)


def test_the_audit_log_is_queried_by_the_chief_coordinator_and_the_auditor() -> None:
    assert access.may_query_audit(CHIEF) and access.may_query_audit(AUDITOR)
    for caller in (RECEPTION, SATO, ADMIN, ANONYMOUS):
        assert not access.may_query_audit(caller)
