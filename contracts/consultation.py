"""Messages of the consultation service: `consultation.commands` and `consultation.events`
(key = case id).

Consultations are confidential (DOMAIN.md, "Consultations"; ARCHITECTURE.md, "Security"): the
requester's name and contact, the narrative, the notes and the details of a referral enter only
through the service's own HTTP API and stay in its database, encrypted. What travels here says
*that* something happened to a case, never *what* the case is about beyond its topic codes:
ids, states, topic codes, channel, kind, outcome codes, staff usernames and times. No field of a
consultation event can hold a line of free text (`tests/contract/test_consultation_contract.py`
walks every event's schema to hold that); a refusal carries a stable reason code, and its
readable words live with the service (`services/consultation/texts.py`), not on the topic.

Intake is not a command: the public web form and the staff's intake screen post the content to
the service over HTTP, which opens the case and publishes `case.received`. Every later step is a
command a staff screen sends with the staff member's token; the service answers each with the
event of the step or with `case.rejected` repeating the command's `message_id` as `request_id`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, Field, TypeAdapter

from contracts.envelope import Instant, Message

STAFF_ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{1,63}$"
"""A staff member as tokens name them (their username, as the identity service writes it)."""

StaffId = Annotated[str, Field(min_length=2, max_length=64, pattern=STAFF_ID_PATTERN)]

CASE_REFERENCE_PATTERN = r"^C[0-9]{4}-[0-9]{4,6}$"
"""The reference number a requester is given, e.g. `C2024-0123` (fiscal year, sequence)."""

CaseReference = Annotated[str, Field(max_length=12, pattern=CASE_REFERENCE_PATTERN)]


class CaseKind(StrEnum):
    """The two kinds of case (DOMAIN.md): 市民活動に関する相談 and 協働提案."""

    ACTIVITY = "activity"
    COLLABORATION_PROPOSAL = "collaboration_proposal"


class IntakeChannel(StrEnum):
    """How the requester reached the desk; the web form is the only one without staff."""

    WEB = "web"
    EMAIL = "email"
    PHONE = "phone"
    WALK_IN = "walk_in"


class TopicCode(StrEnum):
    """The center's consultation topics, as its yearly report counts them (a case carries one
    or more: the FY2020 report counts 615 labels on 507 cases)."""

    COVID19 = "covid19"  # 新型コロナウイルス関連
    FOUNDING = "founding"  # 団体の立ち上げ
    INCORPORATION = "incorporation"  # 法人化
    ACTIVITY = "activity"  # 活動・事業内容
    ORGANISATION = "organisation"  # 組織体制
    PR = "pr"  # 広報
    FUNDRAISING = "fundraising"  # 資金調達
    CORPORATE_ADMIN = "corporate_admin"  # 法人運営
    ACCOUNTING = "accounting"  # 会計
    TAX = "tax"  # 税務
    LABOUR = "labour"  # 労務
    COLLABORATION = "collaboration"  # 他団体との連携・協働
    OTHER = "other"  # その他


class CaseState(StrEnum):
    """received → hearing → assigned → in_progress ⇄ referred → closed (and reopened)."""

    RECEIVED = "received"
    HEARING = "hearing"  # reception's first hearing: the first response to the requester
    ASSIGNED = "assigned"  # the chief coordinator gave it to a staff member
    IN_PROGRESS = "in_progress"
    REFERRED = "referred"  # with an expert, another organisation or a city department
    CLOSED = "closed"


class ReferralTarget(StrEnum):
    """Whom a case is referred to, as a category; who exactly, and why, is case content."""

    TAX_ACCOUNTANT = "tax_accountant"  # 税理士
    LABOUR_CONSULTANT = "labour_consultant"  # 社会保険労務士
    OTHER_EXPERT = "other_expert"  # a practitioner or another professional
    ORGANISATION = "organisation"  # another support organisation
    CITY_DEPARTMENT = "city_department"  # the collaboration-coordination line with the city


class ExpertKind(StrEnum):
    """Who holds an expert consultation day (専門相談): the kind of expert, never a name."""

    ACCOUNTING = "accounting"  # 会計
    TAX = "tax"  # 税務
    LABOUR = "labour"  # 労務
    LEGAL = "legal"  # 法律
    FUNDRAISING = "fundraising"  # 資金調達
    OTHER = "other"


class ReferralOutcome(StrEnum):
    RESOLVED = "resolved"  # the expert or body settled the question
    CONTINUING = "continuing"  # back with the center, work goes on
    DECLINED = "declined"  # the referred party could not take it
    NO_RESPONSE = "no_response"


class CaseOutcome(StrEnum):
    """How a case ended. `inquiry`: a simple facility question, not counted as a case."""

    RESOLVED = "resolved"
    HANDED_OVER = "handed_over"  # continued by an expert, organisation or department
    PROJECT_STARTED = "project_started"  # a collaboration proposal became a project
    NOT_PURSUED = "not_pursued"
    WITHDRAWN = "withdrawn"  # the requester withdrew
    UNREACHABLE = "unreachable"  # the requester could not be reached again
    INQUIRY = "inquiry"


class RejectionReason(StrEnum):
    """Stable codes a client may branch on; their words are the service's (ja/en)."""

    NOT_FOUND = "not_found"  # no such case (or none the sender may know of)
    WRONG_STATE = "wrong_state"  # the case is not in a state that allows the step
    NOT_ASSIGNEE = "not_assignee"  # only the staff member working the case may do it
    NOT_CHIEF_COORDINATOR = "not_chief_coordinator"  # only the chief coordinator may do it
    FORBIDDEN = "forbidden"  # the proven sender may not do this at all
    INVALID = "invalid"  # the command could not be read, or asks for something impossible
    ID_REUSED = "id_reused"  # the message_id was already used for a different request
    UNAUTHORIZED = "unauthorized"  # no valid proof of who sent it


def _distinct(codes: list[TopicCode]) -> list[TopicCode]:
    if len(set(codes)) != len(codes):
        raise ValueError("a topic code is listed twice")
    return codes


Topics = Annotated[list[TopicCode], Field(max_length=len(TopicCode)), AfterValidator(_distinct)]
"""A case's topic codes, each at most once (a case may carry several)."""


# --- commands (consultation.commands) ----------------------------------------------------------


class CaseCommand(Message):
    """A step on one case; keyed by the case, so the steps of a case are decided in order."""

    case_id: UUID

    def partition_key(self) -> str:
        return str(self.case_id)


class StartHearing(CaseCommand):
    """Reception begins the first hearing (phone or e-mail): the case's first response."""

    type: Literal["case.start_hearing"] = "case.start_hearing"


class ClassifyCase(CaseCommand):
    """Set the case's topic codes (one or more) and, when given, its kind; until closing."""

    type: Literal["case.classify"] = "case.classify"
    topics: Topics = Field(min_length=1)
    kind: CaseKind | None = None


class AssignCase(CaseCommand):
    """The chief coordinator gives the case to a staff member, or to another one (the earlier
    assignments stay in its history)."""

    type: Literal["case.assign"] = "case.assign"
    assignee: StaffId


class StartWork(CaseCommand):
    """The assignee takes the case up."""

    type: Literal["case.start_work"] = "case.start_work"


class ReferCase(CaseCommand):
    """The assignee refers the case. `referral_id` is chosen by the sender, so the details of
    the referral (to whom, why) can be entered over HTTP under the same id."""

    type: Literal["case.refer"] = "case.refer"
    referral_id: UUID
    target: ReferralTarget


class EndReferral(CaseCommand):
    """The referral came back with its outcome: work on the case goes on."""

    type: Literal["case.end_referral"] = "case.end_referral"
    referral_id: UUID
    outcome: ReferralOutcome


class CloseCase(CaseCommand):
    type: Literal["case.close"] = "case.close"
    outcome: CaseOutcome


class ReopenCase(CaseCommand):
    type: Literal["case.reopen"] = "case.reopen"


class OpenFollowUp(CaseCommand):
    """Open a new case following a closed one (`case_id`, the parent, keys the command: its
    standing decides); the new case's id is chosen by the sender."""

    type: Literal["case.open_follow_up"] = "case.open_follow_up"
    follow_up_case_id: UUID


class LogInquiry(Message):
    """A simple facility question answered at once: counted, never a case."""

    type: Literal["inquiry.log"] = "inquiry.log"
    channel: IntakeChannel
    topics: Topics = Field(default_factory=list)


ConsultationCommandT = (
    StartHearing
    | ClassifyCase
    | AssignCase
    | StartWork
    | ReferCase
    | EndReferral
    | CloseCase
    | ReopenCase
    | OpenFollowUp
    | LogInquiry
)
ConsultationCommand = Annotated[ConsultationCommandT, Field(discriminator="type")]
consultation_command_adapter: TypeAdapter[ConsultationCommandT] = TypeAdapter(ConsultationCommand)


# --- events (consultation.events) -------------------------------------------------------------


class CaseEvent(Message):
    """A fact about one case, with the state it left the case in. `request_id` repeats the
    command's `message_id` (None for what no command asked: an intake over HTTP, a deadline);
    `by` is the staff member who did it, as their token proved (None: the public web form)."""

    request_id: UUID | None = None
    case_id: UUID
    state: CaseState
    by: StaffId | None = None

    def partition_key(self) -> str:
        return str(self.case_id)


class CaseReceived(CaseEvent):
    """A case was opened: from intake (web form, or staff entering an e-mail, a call or a
    visit), or as the follow-up of `parent_case_id`."""

    type: Literal["case.received"] = "case.received"
    reference: CaseReference | None = None
    kind: CaseKind
    channel: IntakeChannel
    topics: Topics = Field(default_factory=list)
    received_at: Instant
    parent_case_id: UUID | None = None
    assignee: StaffId | None = None  # a follow-up stays with the parent's assignee


class HearingStarted(CaseEvent):
    type: Literal["case.hearing_started"] = "case.hearing_started"
    first_response_at: Instant


class CaseClassified(CaseEvent):
    type: Literal["case.classified"] = "case.classified"
    kind: CaseKind
    topics: Topics


class CaseAssigned(CaseEvent):
    """First assignment (`previous_assignee` None) or reassignment."""

    type: Literal["case.assigned"] = "case.assigned"
    assignee: StaffId
    previous_assignee: StaffId | None = None


class WorkStarted(CaseEvent):
    type: Literal["case.work_started"] = "case.work_started"


class CaseReferred(CaseEvent):
    type: Literal["case.referred"] = "case.referred"
    referral_id: UUID
    target: ReferralTarget


class ReferralEnded(CaseEvent):
    type: Literal["case.referral_ended"] = "case.referral_ended"
    referral_id: UUID
    outcome: ReferralOutcome


class CaseClosed(CaseEvent):
    type: Literal["case.closed"] = "case.closed"
    outcome: CaseOutcome
    closed_at: Instant


class CaseReopened(CaseEvent):
    type: Literal["case.reopened"] = "case.reopened"


class FirstResponseOverdue(CaseEvent):
    """No first response within the configured business hours (from the durable schedule)."""

    type: Literal["case.first_response_overdue"] = "case.first_response_overdue"
    received_at: Instant
    due_at: Instant


class CaseRejected(Message):
    """A case command that was not carried out; `case_id` is None when the command could not
    be read. The reason is a code: no words travel with it (see the module's docstring)."""

    type: Literal["case.rejected"] = "case.rejected"
    request_id: UUID
    case_id: UUID | None = None
    reason: RejectionReason

    def partition_key(self) -> str:
        return str(self.case_id or self.request_id)


class InquiryLogged(Message):
    """An inquiry was counted; its id is the command's (`request_id`), which keys it too."""

    type: Literal["inquiry.logged"] = "inquiry.logged"
    request_id: UUID
    channel: IntakeChannel
    topics: Topics = Field(default_factory=list)
    by: StaffId | None = None

    def partition_key(self) -> str:
        return str(self.request_id)


class InquiryRejected(Message):
    type: Literal["inquiry.rejected"] = "inquiry.rejected"
    request_id: UUID
    reason: RejectionReason

    def partition_key(self) -> str:
        return str(self.request_id)


ConsultationEventT = (
    CaseReceived
    | HearingStarted
    | CaseClassified
    | CaseAssigned
    | WorkStarted
    | CaseReferred
    | ReferralEnded
    | CaseClosed
    | CaseReopened
    | FirstResponseOverdue
    | CaseRejected
    | InquiryLogged
    | InquiryRejected
)
ConsultationEvent = Annotated[ConsultationEventT, Field(discriminator="type")]
consultation_event_adapter: TypeAdapter[ConsultationEventT] = TypeAdapter(ConsultationEvent)


# Each command's rejection event: a command whose id and type can be read but which fails
# validation is answered with it (reason `invalid`), so its sender is never left waiting.
COMMAND_REJECTIONS: dict[type[Message], type[Message]] = {
    StartHearing: CaseRejected,
    ClassifyCase: CaseRejected,
    AssignCase: CaseRejected,
    StartWork: CaseRejected,
    ReferCase: CaseRejected,
    EndReferral: CaseRejected,
    CloseCase: CaseRejected,
    ReopenCase: CaseRejected,
    OpenFollowUp: CaseRejected,
    LogInquiry: InquiryRejected,
}
