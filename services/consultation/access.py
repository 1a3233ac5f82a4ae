"""Need to know: which parts of a case a caller may read, pure (DOMAIN.md, "Consultations":
"Only staff working the case see it"; ARCHITECTURE.md, "Security").

- Reception reads what intake needs (the case's facts, who the requester is and how to reach
  them, what they asked) of cases not yet given to anyone: the cases it hears, classifies and
  may close or reopen (domain.may_work_on). Once the chief coordinator assigns a case, it is no
  longer reception's.
- The assignee and the chief coordinator read the whole case; the chief coordinator, who
  answers for the desk, also its audit (who read what, when).
- The auditor reads the audit of any case and nothing of the case itself.
- Anyone else reads nothing: another coordinator, an earlier assignee (the case was taken from
  them), an administrator (they run the systems, not the desk), anyone not staff.

Lists, search results and counts are built from `visible`: a case the caller may not open is
not in them, not even by its reference, and a search may only match a caller's readable fields
(`matchable`), or a hit would tell what an unreadable field holds. Every read is audited with
the fields it disclosed (`disclosed`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Protocol, TypeVar

from contracts.identity import PrincipalKind, Role
from services.runtime.identity import Allow, Caller, kinds


class CaseField(StrEnum):
    """The readable parts of a case."""

    # what the case is: no content, but a case's existence and circumstances are confidential
    REFERENCE = "reference"
    STATE = "state"
    KIND = "kind"
    CHANNEL = "channel"
    TOPICS = "topics"
    TIMES = "times"  # received, first response, closed
    PARENT = "parent"
    ASSIGNMENTS = "assignments"  # who worked it, who assigned, when
    REFERRALS = "referrals"  # target categories, dates and outcomes
    OUTCOME = "outcome"
    # content: stored sealed (sealing.py), never on Kafka, in a log or a metric
    REQUESTER_NAME = "requester_name"
    REQUESTER_CONTACT = "requester_contact"
    ORGANISATION_NAME = "organisation_name"
    NARRATIVE = "narrative"  # what the requester asked
    NOTES = "notes"  # the staff's working notes
    REFERRAL_DETAILS = "referral_details"  # to whom exactly, and why
    # who read the case
    AUDIT = "audit"


CONTENT = frozenset({
    CaseField.REQUESTER_NAME,
    CaseField.REQUESTER_CONTACT,
    CaseField.ORGANISATION_NAME,
    CaseField.NARRATIVE,
    CaseField.NOTES,
    CaseField.REFERRAL_DETAILS,
})  # fmt: skip
"""The fields stored encrypted at rest."""

INTAKE = frozenset({
    CaseField.REFERENCE,
    CaseField.STATE,
    CaseField.KIND,
    CaseField.CHANNEL,
    CaseField.TOPICS,
    CaseField.TIMES,
    CaseField.PARENT,
    CaseField.REQUESTER_NAME,
    CaseField.REQUESTER_CONTACT,
    CaseField.ORGANISATION_NAME,
    CaseField.NARRATIVE,
})  # fmt: skip
"""What reception needs to take a case in, hear it and put it before the chief coordinator."""

WHOLE_CASE = frozenset(CaseField) - {CaseField.AUDIT}
NOTHING: frozenset[CaseField] = frozenset()


class OnFile(Protocol):
    """What need to know looks at: who works the case (domain.Case is one)."""

    @property
    def assignee(self) -> str | None: ...


C = TypeVar("C", bound=OnFile)
V = TypeVar("V")


def _holds(caller: Caller, role: Role) -> bool:
    """Exactly this role: an administrator is not on the desk by being one."""
    return caller.kind is PrincipalKind.STAFF and role in caller.roles


def readable_fields(caller: Caller, case: OnFile) -> frozenset[CaseField]:
    """What of `case` the caller may read; a staff member holding several roles reads what
    any of them may."""
    if caller.kind is not PrincipalKind.STAFF:
        return NOTHING
    fields: set[CaseField] = set()
    if _holds(caller, Role.CHIEF_COORDINATOR):
        fields |= WHOLE_CASE | {CaseField.AUDIT}
    if case.assignee is not None and case.assignee == caller.subject:
        fields |= WHOLE_CASE
    if _holds(caller, Role.RECEPTION) and case.assignee is None:
        fields |= INTAKE
    if _holds(caller, Role.AUDITOR):
        fields.add(CaseField.AUDIT)
    return frozenset(fields)


def may_open(caller: Caller, case: OnFile) -> bool:
    """The caller may see the case itself (not only its audit): it may appear in their lists."""
    return bool(readable_fields(caller, case) & WHOLE_CASE)


def may_read_audit(caller: Caller, case: OnFile) -> bool:
    return CaseField.AUDIT in readable_fields(caller, case)


def may_query_audit(caller: Caller) -> bool:
    """The audit log as a whole: the chief coordinator and the auditor."""
    return _holds(caller, Role.CHIEF_COORDINATOR) or _holds(caller, Role.AUDITOR)


def visible(caller: Caller, cases: Iterable[C]) -> list[C]:
    """The cases of a list, a search or a count that the caller may open, in their order."""
    return [case for case in cases if may_open(caller, case)]


def count_visible(caller: Caller, cases: Iterable[C]) -> int:
    return len(visible(caller, cases))


def matchable(caller: Caller, case: OnFile, fields: Iterable[CaseField]) -> frozenset[CaseField]:
    """The fields a search may look into on this case for this caller."""
    return frozenset(fields) & readable_fields(caller, case) & WHOLE_CASE


def disclosed(caller: Caller, case: OnFile, asked: Iterable[CaseField]) -> frozenset[CaseField]:
    """What a read of `asked` shows the caller: the fields the audit records for it."""
    return frozenset(asked) & readable_fields(caller, case)


def project(caller: Caller, case: OnFile, values: Mapping[CaseField, V]) -> dict[CaseField, V]:
    """A case's values cut down to what the caller may read."""
    readable = readable_fields(caller, case)
    return {field: value for field, value in values.items() if field in readable}


# --- who may send what ---------------------------------------------------------------------------
# The runtime checks these before a handler runs (and audits a refusal); the domain then decides
# with the case in hand (domain.may_work_on: reception before assignment, the assignee, the chief
# coordinator). Administrators, auditors and anyone not on the desk send no case command: unlike
# the runtime's `staff(...)`, which admits an administrator to whatever any role may do, these
# rules admit the roles named and no other.


def holding(*roles: Role) -> Allow:
    """Staff holding one of exactly these roles."""

    def allow(caller: Caller) -> bool:
        return any(_holds(caller, role) for role in roles)

    return allow


DESK = holding(Role.RECEPTION, Role.COORDINATOR, Role.CHIEF_COORDINATOR)
"""The one-stop desk: every case command and the inquiry log."""

INTAKE_STAFF = holding(Role.RECEPTION, Role.CHIEF_COORDINATOR)
"""Who enters an e-mail, a call or a visit as a case (domain.intake_channel)."""

AUDIT_READERS = holding(Role.CHIEF_COORDINATOR, Role.AUDITOR)
"""The read audit as a whole (may_query_audit)."""

REPORT_READERS = kinds(PrincipalKind.STAFF)
"""The topic table counts cases, never shows one: any staff member reads it; its public
version (small counts hidden) is open to anyone."""
