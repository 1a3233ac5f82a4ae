"""The case's life, pure (services/consultation/domain.py): every step, who may take it, and the
state it must find (DOMAIN.md, "Consultations")."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import pytest

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
from services.consultation import domain, texts
from services.consultation.domain import Case, Decision, Rejection
from services.runtime.identity import ANONYMOUS, Caller

TOKYO = ZoneInfo("Asia/Tokyo")
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=TOKYO)
LATER = NOW + timedelta(hours=2)


def staff(subject: str, *roles: Role) -> Caller:
    return Caller(PrincipalKind.STAFF, subject, frozenset(roles))


RECEPTION = staff("tanaka.m", Role.RECEPTION)
CHIEF = staff("chief", Role.CHIEF_COORDINATOR)
SATO = staff("sato.k", Role.COORDINATOR)
SUZUKI = staff("suzuki.a", Role.COORDINATOR)
ADMIN = staff("root", Role.ADMINISTRATOR)
AUDITOR = staff("audit", Role.AUDITOR)
ORGANISATION = Caller(PrincipalKind.ORGANISATION, str(uuid4()))


def ok(decision: Decision) -> Case:
    assert isinstance(decision, Case), decision
    return decision


def refused(decision: object, reason: RejectionReason) -> None:
    assert decision == Rejection(reason)


def received(topics: tuple[TopicCode, ...] = ()) -> Case:
    return domain.receive(uuid4(), CaseKind.ACTIVITY, IntakeChannel.WEB, topics, NOW)


def heard() -> Case:
    return ok(domain.start_hearing(received(), RECEPTION, NOW))


def assigned(to: str = "sato.k") -> Case:
    return ok(domain.assign(heard(), CHIEF, to, NOW))


def in_progress() -> Case:
    return ok(domain.start_work(assigned(), SATO))


REFERRAL = UUID("c4d5e6f7-a8b9-4c0d-9e1f-2a3b4c5d6e7f")


def referred() -> Case:
    return ok(domain.refer(in_progress(), SATO, REFERRAL, ReferralTarget.TAX_ACCOUNTANT, NOW))


def closed() -> Case:
    return ok(domain.close(in_progress(), SATO, CaseOutcome.RESOLVED, LATER))


# --- intake --------------------------------------------------------------------------------------


def test_a_case_comes_in_received_with_its_topics_once_each() -> None:
    case = received((TopicCode.TAX, TopicCode.FOUNDING, TopicCode.TAX))
    assert case.state is CaseState.RECEIVED
    assert case.topics == (TopicCode.TAX, TopicCode.FOUNDING)
    assert case.received_at == NOW
    assert case.assignee is None and case.first_response_at is None


@pytest.mark.parametrize("caller", [ANONYMOUS, ORGANISATION])
def test_the_public_form_is_the_web_whatever_it_states(caller: Caller) -> None:
    assert domain.intake_channel(caller, IntakeChannel.WALK_IN) is IntakeChannel.WEB


@pytest.mark.parametrize("caller", [RECEPTION, CHIEF])
@pytest.mark.parametrize(
    "channel", [IntakeChannel.EMAIL, IntakeChannel.PHONE, IntakeChannel.WALK_IN]
)
def test_the_desk_enters_mails_calls_and_visits(caller: Caller, channel: IntakeChannel) -> None:
    assert domain.intake_channel(caller, channel) is channel


def test_staff_do_not_pretend_to_be_the_web_form() -> None:
    assert domain.intake_channel(RECEPTION, IntakeChannel.WEB) == Rejection(RejectionReason.INVALID)


@pytest.mark.parametrize("caller", [SATO, ADMIN, AUDITOR])
def test_other_staff_take_no_cases_in(caller: Caller) -> None:
    refused(domain.intake_channel(caller, IntakeChannel.PHONE), RejectionReason.FORBIDDEN)


def test_the_reference_number_counts_per_fiscal_year() -> None:
    assert domain.case_reference(2024, 123) == "C2024-0123"
    assert domain.case_reference(2024, 12345) == "C2024-12345"


@pytest.mark.parametrize("caller", [RECEPTION, SATO, CHIEF])
def test_the_desk_logs_inquiries(caller: Caller) -> None:
    assert domain.check_inquiry(caller) is None


@pytest.mark.parametrize("caller", [ANONYMOUS, ADMIN, AUDITOR, ORGANISATION])
def test_nobody_else_logs_inquiries(caller: Caller) -> None:
    assert domain.check_inquiry(caller) == Rejection(RejectionReason.FORBIDDEN)


# --- hearing -------------------------------------------------------------------------------------


def test_reception_begins_the_hearing_which_is_the_first_response() -> None:
    case = ok(domain.start_hearing(received(), RECEPTION, LATER))
    assert case.state is CaseState.HEARING
    assert case.first_response_at == LATER


@pytest.mark.parametrize("caller", [SATO, ADMIN, AUDITOR, ANONYMOUS])
def test_only_the_desk_hears(caller: Caller) -> None:
    refused(domain.start_hearing(received(), caller, NOW), RejectionReason.FORBIDDEN)


def test_a_hearing_begins_once() -> None:
    refused(domain.start_hearing(heard(), RECEPTION, NOW), RejectionReason.WRONG_STATE)


# --- assignment ----------------------------------------------------------------------------------


def test_the_chief_coordinator_assigns_after_the_hearing() -> None:
    case = ok(domain.assign(heard(), CHIEF, "sato.k", LATER))
    assert case.state is CaseState.ASSIGNED
    assert case.assignee == "sato.k"
    assert case.assignments == (domain.Assignment("sato.k", "chief", LATER),)


def test_no_assignment_before_the_hearing() -> None:
    refused(domain.assign(received(), CHIEF, "sato.k", NOW), RejectionReason.WRONG_STATE)


@pytest.mark.parametrize("caller", [RECEPTION, SATO, ADMIN])
def test_only_the_chief_coordinator_assigns(caller: Caller) -> None:
    refused(domain.assign(heard(), caller, "sato.k", NOW), RejectionReason.NOT_CHIEF_COORDINATOR)


def test_who_is_not_staff_is_not_even_told_who_assigns() -> None:
    refused(domain.assign(heard(), ANONYMOUS, "sato.k", NOW), RejectionReason.FORBIDDEN)


@pytest.mark.parametrize("make", [assigned, in_progress, referred])
def test_reassignment_keeps_the_state_and_the_history(make: Callable[[], Case]) -> None:
    case = make()
    again = ok(domain.assign(case, CHIEF, "suzuki.a", LATER))
    assert again.state is case.state
    assert again.assignee == "suzuki.a"
    assert [a.assignee for a in again.assignments] == ["sato.k", "suzuki.a"]


def test_reassigning_to_the_same_person_is_no_reassignment() -> None:
    refused(domain.assign(assigned(), CHIEF, "sato.k", NOW), RejectionReason.INVALID)


def test_a_closed_case_is_not_reassigned() -> None:
    refused(domain.assign(closed(), CHIEF, "suzuki.a", NOW), RejectionReason.WRONG_STATE)


# --- work and referral ---------------------------------------------------------------------------


def test_the_assignee_takes_the_case_up() -> None:
    assert ok(domain.start_work(assigned(), SATO)).state is CaseState.IN_PROGRESS


def test_the_chief_coordinator_may_stand_in_for_the_assignee() -> None:
    assert ok(domain.start_work(assigned(), CHIEF)).state is CaseState.IN_PROGRESS


@pytest.mark.parametrize("caller", [SUZUKI, RECEPTION])
def test_other_staff_are_not_the_assignee(caller: Caller) -> None:
    refused(domain.start_work(assigned(), caller), RejectionReason.NOT_ASSIGNEE)


@pytest.mark.parametrize("caller", [ANONYMOUS, ORGANISATION])
def test_who_is_not_staff_may_not_work_cases(caller: Caller) -> None:
    refused(domain.start_work(assigned(), caller), RejectionReason.FORBIDDEN)


def test_work_starts_once() -> None:
    refused(domain.start_work(in_progress(), SATO), RejectionReason.WRONG_STATE)


def test_a_reassigned_case_is_the_new_assignees_alone() -> None:
    case = ok(domain.assign(assigned(), CHIEF, "suzuki.a", NOW))
    refused(domain.start_work(case, SATO), RejectionReason.NOT_ASSIGNEE)
    assert ok(domain.start_work(case, SUZUKI)).state is CaseState.IN_PROGRESS


def test_a_case_in_work_is_referred_and_comes_back() -> None:
    case = referred()
    assert case.state is CaseState.REFERRED
    assert case.open_referral == domain.Referral(
        REFERRAL, ReferralTarget.TAX_ACCOUNTANT, "sato.k", NOW
    )
    back = ok(domain.end_referral(case, SATO, REFERRAL, ReferralOutcome.RESOLVED, LATER))
    assert back.state is CaseState.IN_PROGRESS
    assert back.open_referral is None
    assert back.referrals[0].outcome is ReferralOutcome.RESOLVED
    assert back.referrals[0].ended_at == LATER


def test_referrals_are_kept_one_after_another() -> None:
    back = ok(domain.end_referral(referred(), SATO, REFERRAL, ReferralOutcome.DECLINED, NOW))
    second = uuid4()
    again = ok(domain.refer(back, SATO, second, ReferralTarget.CITY_DEPARTMENT, LATER))
    assert [r.id for r in again.referrals] == [REFERRAL, second]
    assert again.open_referral is not None and again.open_referral.id == second


def test_a_referral_id_is_used_once_per_case() -> None:
    back = ok(domain.end_referral(referred(), SATO, REFERRAL, ReferralOutcome.DECLINED, NOW))
    refused(domain.refer(back, SATO, REFERRAL, ReferralTarget.ORGANISATION, NOW),
            RejectionReason.INVALID)  # fmt: skip


def test_only_a_case_in_work_is_referred() -> None:
    refused(domain.refer(assigned(), SATO, uuid4(), ReferralTarget.ORGANISATION, NOW),
            RejectionReason.WRONG_STATE)  # fmt: skip
    refused(domain.refer(referred(), SATO, uuid4(), ReferralTarget.ORGANISATION, NOW),
            RejectionReason.WRONG_STATE)  # fmt: skip


def test_only_the_open_referral_comes_back() -> None:
    refused(domain.end_referral(referred(), SATO, uuid4(), ReferralOutcome.RESOLVED, NOW),
            RejectionReason.INVALID)  # fmt: skip
    refused(domain.end_referral(in_progress(), SATO, REFERRAL, ReferralOutcome.RESOLVED, NOW),
            RejectionReason.WRONG_STATE)  # fmt: skip


def test_only_the_assignee_refers() -> None:
    refused(domain.refer(in_progress(), SUZUKI, uuid4(), ReferralTarget.TAX_ACCOUNTANT, NOW),
            RejectionReason.NOT_ASSIGNEE)  # fmt: skip
    refused(domain.end_referral(referred(), SUZUKI, REFERRAL, ReferralOutcome.RESOLVED, NOW),
            RejectionReason.NOT_ASSIGNEE)  # fmt: skip


# --- topics --------------------------------------------------------------------------------------


def test_reception_classifies_before_the_assignment() -> None:
    case = ok(domain.classify(heard(), RECEPTION, [TopicCode.COVID19, TopicCode.FUNDRAISING],
                              CaseKind.COLLABORATION_PROPOSAL))  # fmt: skip
    assert case.topics == (TopicCode.COVID19, TopicCode.FUNDRAISING)
    assert case.kind is CaseKind.COLLABORATION_PROPOSAL


def test_classifying_without_a_kind_keeps_the_kind() -> None:
    case = ok(domain.classify(in_progress(), SATO, [TopicCode.TAX]))
    assert case.kind is CaseKind.ACTIVITY and case.topics == (TopicCode.TAX,)


def test_after_the_assignment_the_assignee_and_the_chief_classify() -> None:
    refused(domain.classify(assigned(), RECEPTION, [TopicCode.TAX]), RejectionReason.NOT_ASSIGNEE)
    refused(domain.classify(assigned(), SUZUKI, [TopicCode.TAX]), RejectionReason.NOT_ASSIGNEE)
    assert ok(domain.classify(referred(), SATO, [TopicCode.TAX])).topics == (TopicCode.TAX,)
    assert ok(domain.classify(referred(), CHIEF, [TopicCode.PR])).topics == (TopicCode.PR,)


def test_topics_are_changed_until_closing() -> None:
    refused(domain.classify(closed(), SATO, [TopicCode.TAX]), RejectionReason.WRONG_STATE)


def test_a_case_keeps_at_least_one_topic() -> None:
    refused(domain.classify(in_progress(), SATO, []), RejectionReason.INVALID)


@pytest.mark.parametrize("caller", [ADMIN, AUDITOR, ANONYMOUS])
def test_nobody_off_the_desk_classifies(caller: Caller) -> None:
    refused(domain.classify(heard(), caller, [TopicCode.TAX]), RejectionReason.FORBIDDEN)


# --- closing and reopening -----------------------------------------------------------------------


def test_the_assignee_closes_with_an_outcome() -> None:
    case = closed()
    assert case.state is CaseState.CLOSED
    assert case.outcome is CaseOutcome.RESOLVED and case.closed_at == LATER
    assert case.counted


def test_a_referred_case_is_closed_once_its_referral_came_back() -> None:
    refused(domain.close(referred(), SATO, CaseOutcome.HANDED_OVER, NOW),
            RejectionReason.WRONG_STATE)  # fmt: skip


def test_a_simple_question_is_closed_as_an_inquiry_and_not_counted() -> None:
    case = ok(domain.close(heard(), RECEPTION, CaseOutcome.INQUIRY, NOW))
    assert case.outcome is CaseOutcome.INQUIRY
    assert not case.counted


def test_a_case_in_work_is_no_inquiry() -> None:
    refused(domain.close(in_progress(), SATO, CaseOutcome.INQUIRY, NOW),
            RejectionReason.WRONG_STATE)  # fmt: skip


def test_the_chief_coordinator_closes_a_case_withdrawn_before_assignment() -> None:
    assert ok(domain.close(received(), CHIEF, CaseOutcome.WITHDRAWN, NOW)).closed_at == NOW


def test_another_coordinator_does_not_close() -> None:
    refused(domain.close(in_progress(), SUZUKI, CaseOutcome.RESOLVED, NOW),
            RejectionReason.NOT_ASSIGNEE)  # fmt: skip


def test_a_case_is_closed_once() -> None:
    refused(domain.close(closed(), SATO, CaseOutcome.RESOLVED, NOW), RejectionReason.WRONG_STATE)


def test_a_reopened_case_resumes_with_its_assignee_and_keeps_its_closing() -> None:
    case = ok(domain.reopen(closed(), SATO))
    assert case.state is CaseState.IN_PROGRESS
    assert case.assignee == "sato.k"
    assert case.outcome is None and case.closed_at is None
    assert [c.outcome for c in case.closings] == [CaseOutcome.RESOLVED]
    again = ok(domain.close(case, SATO, CaseOutcome.NOT_PURSUED, LATER))
    assert [c.outcome for c in again.closings] == [CaseOutcome.RESOLVED, CaseOutcome.NOT_PURSUED]


def test_an_inquiry_reopened_is_heard_again_and_counted_again() -> None:
    inquiry = ok(domain.close(heard(), RECEPTION, CaseOutcome.INQUIRY, NOW))
    case = ok(domain.reopen(inquiry, RECEPTION))
    assert case.state is CaseState.HEARING and case.counted


def test_a_case_withdrawn_before_its_hearing_reopens_at_intake() -> None:
    withdrawn = ok(domain.close(received(), CHIEF, CaseOutcome.WITHDRAWN, NOW))
    assert ok(domain.reopen(withdrawn, CHIEF)).state is CaseState.RECEIVED


def test_who_reopens() -> None:
    refused(domain.reopen(closed(), SUZUKI), RejectionReason.NOT_ASSIGNEE)
    refused(domain.reopen(closed(), ADMIN), RejectionReason.FORBIDDEN)
    assert ok(domain.reopen(closed(), CHIEF)).state is CaseState.IN_PROGRESS


def test_only_a_closed_case_is_reopened() -> None:
    refused(domain.reopen(in_progress(), SATO), RejectionReason.WRONG_STATE)


# --- follow-up -----------------------------------------------------------------------------------


def test_a_follow_up_links_to_its_parent_and_stays_with_its_assignee() -> None:
    parent = ok(domain.classify(in_progress(), SATO, [TopicCode.INCORPORATION]))
    parent = ok(domain.close(parent, SATO, CaseOutcome.RESOLVED, NOW))
    child_id = uuid4()
    child = ok(domain.open_follow_up(parent, SATO, child_id, LATER))
    assert (child.id, child.parent_id) == (child_id, parent.id)
    assert child.state is CaseState.ASSIGNED and child.assignee == "sato.k"
    assert child.topics == (TopicCode.INCORPORATION,)
    assert (child.received_at, child.first_response_at) == (LATER, LATER)
    assert child.closings == () and child.referrals == ()


def test_a_follow_up_of_a_case_never_assigned_starts_at_intake() -> None:
    parent = ok(domain.close(heard(), RECEPTION, CaseOutcome.RESOLVED, NOW))
    child = ok(domain.open_follow_up(parent, RECEPTION, uuid4(), LATER))
    assert child.state is CaseState.RECEIVED and child.assignee is None


def test_a_follow_up_follows_a_closed_case_only() -> None:
    refused(domain.open_follow_up(in_progress(), SATO, uuid4(), NOW), RejectionReason.WRONG_STATE)


def test_a_follow_up_is_a_new_case() -> None:
    parent = closed()
    refused(domain.open_follow_up(parent, SATO, parent.id, NOW), RejectionReason.INVALID)


def test_a_follow_up_is_opened_by_who_could_work_the_parent() -> None:
    refused(domain.open_follow_up(closed(), SUZUKI, uuid4(), NOW), RejectionReason.NOT_ASSIGNEE)


# --- administrators run systems, not cases -------------------------------------------------------


def test_an_administrator_takes_no_step_on_a_case() -> None:
    admin = ADMIN
    refused(domain.start_work(assigned(), admin), RejectionReason.FORBIDDEN)
    refused(domain.close(in_progress(), admin, CaseOutcome.RESOLVED, NOW),
            RejectionReason.FORBIDDEN)  # fmt: skip
    refused(domain.reopen(closed(), admin), RejectionReason.FORBIDDEN)


def test_a_whole_case_from_intake_to_closing() -> None:
    case = received((TopicCode.FOUNDING,))
    steps: list[Callable[[Case], Decision]] = [
        lambda c: domain.start_hearing(c, RECEPTION, NOW),
        lambda c: domain.classify(c, RECEPTION, [TopicCode.FOUNDING, TopicCode.LABOUR]),
        lambda c: domain.assign(c, CHIEF, "sato.k", NOW),
        lambda c: domain.start_work(c, SATO),
        lambda c: domain.refer(c, SATO, REFERRAL, ReferralTarget.LABOUR_CONSULTANT, NOW),
        lambda c: domain.end_referral(c, SATO, REFERRAL, ReferralOutcome.CONTINUING, LATER),
        lambda c: domain.close(c, SATO, CaseOutcome.RESOLVED, LATER),
    ]
    for step in steps:
        case = ok(step(case))
    assert case.state is CaseState.CLOSED and case.counted
    assert case.topics == (TopicCode.FOUNDING, TopicCode.LABOUR)


# --- words ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("enum", list(texts.ALL))
def test_every_code_has_words_in_both_languages(enum: type[StrEnum]) -> None:
    for code in enum:
        assert texts.words(code, "ja") and texts.words(code, "en")
