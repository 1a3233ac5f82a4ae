"""Case rules, pure: no I/O, no Kafka, no SQL (DOMAIN.md, "Consultations").

A case moves received → hearing → assigned → in_progress ⇄ referred → closed, and a closed case
may be reopened. Each step is a function taking the case, the proven caller and "now", and
returning either the case as it is after the step or a `Rejection` with a stable reason. Who may
take a step is decided before whether the case's state allows it, so a caller with no business on
a case learns nothing of where it stands.

Who works a case (the one-stop desk's line, DOMAIN.md):
- reception takes cases in (e-mail, phone, walk-in; the web form needs nobody) and does the
  first hearing, which is the requester's first response;
- the chief coordinator assigns the case to a staff member, and may reassign it (the earlier
  assignments stay in its history); the chief coordinator may also do whatever the assignee may;
- the assignee works it: takes it up, refers it and records the referral's outcome, closes it;
- until a case is assigned, reception may classify and close it (a simple facility question is
  closed as `inquiry` and is not counted as a case, DOMAIN.md).
Administrators run the systems, not the desk: they take no step on a case (need to know).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID

from contracts.consultation import (
    CaseKind,
    CaseOutcome,
    CaseState,
    IntakeChannel,
    ReferralOutcome,
    ReferralTarget,
    RejectionReason,
    TopicCode,
)
from contracts.identity import PrincipalKind, Role
from services.runtime.identity import Caller

OPEN_STATES = frozenset(CaseState) - {CaseState.CLOSED}
BEFORE_ASSIGNMENT = frozenset({CaseState.RECEIVED, CaseState.HEARING})
WORKED_STATES = frozenset({CaseState.ASSIGNED, CaseState.IN_PROGRESS, CaseState.REFERRED})
STAFF_CHANNELS = frozenset(IntakeChannel) - {IntakeChannel.WEB}


@dataclass(frozen=True)
class Rejection:
    """Why a step was refused; its words are in `texts.py` (ja/en), never in an event."""

    reason: RejectionReason


@dataclass(frozen=True)
class Assignment:
    assignee: str
    by: str
    at: datetime


@dataclass(frozen=True)
class Referral:
    """A referral to an expert, another organisation or a city department. To whom exactly and
    why are case content, stored (encrypted) beside it under its id, not here."""

    id: UUID
    target: ReferralTarget
    by: str
    referred_at: datetime
    outcome: ReferralOutcome | None = None
    ended_at: datetime | None = None


@dataclass(frozen=True)
class Closing:
    outcome: CaseOutcome
    by: str
    at: datetime


@dataclass(frozen=True)
class Case:
    """A case as the rules see it: where it stands and its history, none of its content."""

    id: UUID
    kind: CaseKind
    channel: IntakeChannel
    received_at: datetime
    state: CaseState = CaseState.RECEIVED
    topics: tuple[TopicCode, ...] = ()
    parent_id: UUID | None = None
    first_response_at: datetime | None = None
    assignments: tuple[Assignment, ...] = ()
    referrals: tuple[Referral, ...] = ()
    closings: tuple[Closing, ...] = ()  # every closing, the reopened ones included

    @property
    def assignee(self) -> str | None:
        """Who works the case now (or worked it last, once closed)."""
        return self.assignments[-1].assignee if self.assignments else None

    @property
    def open_referral(self) -> Referral | None:
        last = self.referrals[-1] if self.referrals else None
        return last if last is not None and last.outcome is None else None

    @property
    def outcome(self) -> CaseOutcome | None:
        return self.closings[-1].outcome if self.state is CaseState.CLOSED else None

    @property
    def closed_at(self) -> datetime | None:
        return self.closings[-1].at if self.state is CaseState.CLOSED else None

    @property
    def counted(self) -> bool:
        """Counted as a case in the statistics: everything but a question closed as inquiry."""
        return self.outcome is not CaseOutcome.INQUIRY


Decision = Case | Rejection


# --- who is who ---------------------------------------------------------------------------------


def _staff(caller: Caller, role: Role) -> bool:
    """Exactly this role: an administrator holds no desk role by being one (need to know)."""
    return caller.kind is PrincipalKind.STAFF and role in caller.roles


def is_reception(caller: Caller) -> bool:
    return _staff(caller, Role.RECEPTION)


def is_chief_coordinator(caller: Caller) -> bool:
    return _staff(caller, Role.CHIEF_COORDINATOR)


def is_assignee(caller: Caller, case: Case) -> bool:
    return caller.kind is PrincipalKind.STAFF and case.assignee == caller.subject


def _not_theirs(caller: Caller) -> Rejection:
    """A refusal to someone on the desk who is not on this case says so; to anyone else, that
    cases are none of their business."""
    if _staff(caller, Role.COORDINATOR) or is_reception(caller):
        return Rejection(RejectionReason.NOT_ASSIGNEE)
    return Rejection(RejectionReason.FORBIDDEN)


def may_work_on(caller: Caller, case: Case) -> Rejection | None:
    """The chief coordinator always; reception until the case is given to someone; from then
    on its assignee."""
    if is_chief_coordinator(caller):
        return None
    if case.assignee is None:
        return None if is_reception(caller) else Rejection(RejectionReason.FORBIDDEN)
    return None if is_assignee(caller, case) else _not_theirs(caller)


def _assignee_only(caller: Caller, case: Case) -> Rejection | None:
    """The assignee's own steps (taking up, referring): the chief coordinator may stand in."""
    if is_assignee(caller, case) or is_chief_coordinator(caller):
        return None
    return _not_theirs(caller)


def _in(case: Case, states: Iterable[CaseState]) -> Rejection | None:
    return None if case.state in frozenset(states) else Rejection(RejectionReason.WRONG_STATE)


# --- intake -------------------------------------------------------------------------------------


def intake_channel(caller: Caller, stated: IntakeChannel) -> IntakeChannel | Rejection:
    """Where a case came in, by who takes it in: anyone who is not staff uses the public web
    form (whatever it states), reception and the chief coordinator enter e-mails, calls and
    visits (never `web`: that is the requester's own form); other staff do not take cases in."""
    if caller.kind is not PrincipalKind.STAFF:
        return IntakeChannel.WEB
    if not (is_reception(caller) or is_chief_coordinator(caller)):
        return Rejection(RejectionReason.FORBIDDEN)
    if stated not in STAFF_CHANNELS:
        return Rejection(RejectionReason.INVALID)
    return stated


def distinct_topics(topics: Iterable[TopicCode]) -> tuple[TopicCode, ...]:
    """Each topic once, in the order first given."""
    return tuple(dict.fromkeys(topics))


def receive(
    case_id: UUID,
    kind: CaseKind,
    channel: IntakeChannel,
    topics: Iterable[TopicCode],
    now: datetime,
) -> Case:
    """A new case, as the intake opened it. Topics may be empty: reception sets them at the
    hearing if the requester did not choose any."""
    return Case(case_id, kind, channel, now, topics=distinct_topics(topics))


def case_reference(fiscal_year: int, sequence: int) -> str:
    """The number the requester is given (`C2024-0123`): per fiscal year, as the desk's
    ledger counts them; four digits and more (about 1,000 cases a year)."""
    return f"C{fiscal_year:04d}-{sequence:04d}"


def check_inquiry(caller: Caller) -> Rejection | None:
    """Logging a simple question is the desk's: reception, coordinators, the chief."""
    desk = (Role.RECEPTION, Role.COORDINATOR, Role.CHIEF_COORDINATOR)
    if any(_staff(caller, role) for role in desk):
        return None
    return Rejection(RejectionReason.FORBIDDEN)


# --- the steps ----------------------------------------------------------------------------------


def start_hearing(case: Case, caller: Caller, now: datetime) -> Decision:
    """Reception (or the chief coordinator) begins the first hearing: the first response."""
    if not (is_reception(caller) or is_chief_coordinator(caller)):
        return Rejection(RejectionReason.FORBIDDEN)
    if rejection := _in(case, {CaseState.RECEIVED}):
        return rejection
    return replace(case, state=CaseState.HEARING, first_response_at=case.first_response_at or now)


def classify(
    case: Case, caller: Caller, topics: Iterable[TopicCode], kind: CaseKind | None = None
) -> Decision:
    """Set the topics (one or more) and, when given, the kind: until the case is closed."""
    if rejection := may_work_on(caller, case):
        return rejection
    if rejection := _in(case, OPEN_STATES):
        return rejection
    chosen = distinct_topics(topics)
    if not chosen:
        return Rejection(RejectionReason.INVALID)
    return replace(case, topics=chosen, kind=kind or case.kind)


def assign(case: Case, caller: Caller, assignee: str, now: datetime) -> Decision:
    """The chief coordinator assigns a case after its hearing, or reassigns one being worked
    (its state stays; the earlier assignments stay in its history)."""
    if not is_chief_coordinator(caller):
        if caller.kind is PrincipalKind.STAFF:
            return Rejection(RejectionReason.NOT_CHIEF_COORDINATOR)
        return Rejection(RejectionReason.FORBIDDEN)
    if rejection := _in(case, {CaseState.HEARING, *WORKED_STATES}):
        return rejection
    if assignee == case.assignee:
        return Rejection(RejectionReason.INVALID)
    state = CaseState.ASSIGNED if case.state is CaseState.HEARING else case.state
    given = Assignment(assignee, caller.subject, now)
    return replace(case, state=state, assignments=(*case.assignments, given))


def start_work(case: Case, caller: Caller) -> Decision:
    if rejection := _assignee_only(caller, case):
        return rejection
    if rejection := _in(case, {CaseState.ASSIGNED}):
        return rejection
    return replace(case, state=CaseState.IN_PROGRESS)


def refer(
    case: Case, caller: Caller, referral_id: UUID, target: ReferralTarget, now: datetime
) -> Decision:
    """Refer a case in work to an expert, an organisation or a city department."""
    if rejection := _assignee_only(caller, case):
        return rejection
    if rejection := _in(case, {CaseState.IN_PROGRESS}):
        return rejection
    if any(r.id == referral_id for r in case.referrals):
        return Rejection(RejectionReason.INVALID)
    referral = Referral(referral_id, target, caller.subject, now)
    return replace(case, state=CaseState.REFERRED, referrals=(*case.referrals, referral))


def end_referral(
    case: Case, caller: Caller, referral_id: UUID, outcome: ReferralOutcome, now: datetime
) -> Decision:
    """The open referral came back with its outcome: the case is in work again."""
    if rejection := _assignee_only(caller, case):
        return rejection
    if rejection := _in(case, {CaseState.REFERRED}):
        return rejection
    referral = case.open_referral
    if referral is None or referral.id != referral_id:
        return Rejection(RejectionReason.INVALID)
    ended = replace(referral, outcome=outcome, ended_at=now)
    return replace(case, state=CaseState.IN_PROGRESS, referrals=(*case.referrals[:-1], ended))


def close(case: Case, caller: Caller, outcome: CaseOutcome, now: datetime) -> Decision:
    """Close with an outcome. A referred case is closed once its referral came back; `inquiry`
    (a simple facility question, not counted) only before the case was assigned."""
    if rejection := may_work_on(caller, case):
        return rejection
    allowed = BEFORE_ASSIGNMENT if outcome is CaseOutcome.INQUIRY else OPEN_STATES
    if rejection := _in(case, allowed - {CaseState.REFERRED}):
        return rejection
    closing = Closing(outcome, caller.subject, now)
    return replace(case, state=CaseState.CLOSED, closings=(*case.closings, closing))


def reopened_state(case: Case) -> CaseState:
    """Where a reopened case resumes: with its assignee when it had one, otherwise at the
    hearing (or at intake if it never had one)."""
    if case.assignee is not None:
        return CaseState.IN_PROGRESS
    return CaseState.HEARING if case.first_response_at is not None else CaseState.RECEIVED


def reopen(case: Case, caller: Caller) -> Decision:
    """A closed case is reopened by whoever could work it (its last assignee, the chief
    coordinator, or reception for one never assigned); its closings stay in its history."""
    if rejection := may_work_on(caller, case):
        return rejection
    if rejection := _in(case, {CaseState.CLOSED}):
        return rejection
    return replace(case, state=reopened_state(case))


def open_follow_up(parent: Case, caller: Caller, case_id: UUID, now: datetime) -> Decision:
    """A new matter after a closed case: a new case linked to its parent, of the same kind,
    channel and topics. It stays with the parent's assignee (the chief coordinator may
    reassign it); one whose parent was never assigned starts at intake. Opening it is a
    response to the requester, so its first response is now."""
    if rejection := may_work_on(caller, parent):
        return rejection
    if rejection := _in(parent, {CaseState.CLOSED}):
        return rejection
    if case_id == parent.id:
        return Rejection(RejectionReason.INVALID)
    case = Case(case_id, parent.kind, parent.channel, now, topics=parent.topics,
                parent_id=parent.id, first_response_at=now)  # fmt: skip
    if parent.assignee is None:
        return case
    kept = Assignment(parent.assignee, caller.subject, now)
    return replace(case, state=CaseState.ASSIGNED, assignments=(kept,))
