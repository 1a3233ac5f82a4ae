"""One method per consultation command, and the intake the HTTP API hands over: load the case,
decide with the domain, store the case and its history, answer.

A command runs inside the consumer's batch transaction; what it returns goes to the outbox in
that transaction. Every command gets one answer: the step's event, or `case.rejected` with the
domain's reason code. Events carry what contracts/consultation.py lets them carry (ids, states,
codes, usernames, times): no content ever reaches a message built here, as none is loaded here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from uuid import UUID

import asyncpg

from contracts.consultation import (
    AssignCase,
    CaseAssigned,
    CaseClassified,
    CaseClosed,
    CaseCommand,
    CaseKind,
    CaseReceived,
    CaseReferred,
    CaseRejected,
    CaseReopened,
    CaseState,
    ClassifyCase,
    CloseCase,
    EndReferral,
    HearingStarted,
    InquiryLogged,
    InquiryRejected,
    IntakeChannel,
    LogInquiry,
    OpenFollowUp,
    ReferCase,
    ReferralEnded,
    RejectionReason,
    ReopenCase,
    StartHearing,
    StartWork,
    TopicCode,
    WorkStarted,
)
from contracts.envelope import Message, new_message_id
from contracts.topics import CONSULTATION_EVENTS
from services.consultation import domain, store
from services.consultation.hours import first_response_due
from services.consultation.metrics import DeskMetrics
from services.consultation.settings import ConsultationSettings
from services.runtime import outbox, schedule
from services.runtime.center_calendar import TOKYO, fiscal_year_of
from services.runtime.consumer import message_type_of
from services.runtime.identity import Caller, Signer
from services.runtime.outbox import Outgoing

FIRST_RESPONSE_JOB = "case.first_response_due"

Decide = Callable[[domain.Case], domain.Decision]


def staff_id(caller: Caller) -> str | None:
    """The username events record for a staff caller; None for the public web form."""
    return caller.subject if caller.is_staff() else None


def rejected(cmd: Message, case_id: UUID | None, reason: RejectionReason) -> Outgoing:
    key = str(case_id or cmd.message_id)
    return outbox.answer(cmd, CONSULTATION_EVENTS, key, CaseRejected, case_id=case_id,
                         reason=reason)  # fmt: skip


def case_event(
    cmd: Message | None, case: domain.Case, by: str | None, event_type: type[Message],
    **fields: object,
) -> Outgoing:  # fmt: skip
    """An event on consultation.events about `case` in the state it is in now; answering `cmd`
    when a command asked for the step."""
    common = {"case_id": case.id, "state": case.state, "by": by, **fields}
    if cmd is not None:
        return outbox.answer(cmd, CONSULTATION_EVENTS, str(case.id), event_type, **common)
    event = event_type(message_id=new_message_id(), **common)
    return Outgoing(CONSULTATION_EVENTS, str(case.id), event)


class ConsultationHandlers:
    def __init__(self, settings: ConsultationSettings, signer: Signer) -> None:
        self.settings = settings
        self.signer = signer  # the service's own key: its commands to notify carry its proof
        self.metrics: DeskMetrics | None = None  # bound once the service runs (app.py)

    def observe(self, before: domain.Case, after: domain.Case) -> None:
        """Response times as metrics, in business hours, labelled by channel and kind only."""
        if self.metrics is None:
            return
        if before.first_response_at is None and after.first_response_at is not None:
            self.metrics.observe_first_response(after)
        if before.state is not CaseState.CLOSED and after.state is CaseState.CLOSED:
            self.metrics.observe_closing(after)

    # --- intake (over HTTP) -----------------------------------------------------------------

    async def open_case(
        self,
        conn: asyncpg.Connection,
        case: domain.Case,
        by: str | None,
        correlation_id: UUID | None = None,
    ) -> tuple[str, list[Outgoing]]:
        """Store a new case (from intake or a follow-up) with the next reference number of its
        fiscal year, and put its first-response deadline on the schedule; its reference and
        its `case.received`."""
        fiscal_year = fiscal_year_of(case.received_at.astimezone(TOKYO).date())
        reference = await store.next_reference(conn, fiscal_year)
        await store.insert_case(conn, case, reference, by)
        if case.first_response_at is None:
            due = first_response_due(case.received_at, self.settings.first_response_within)
            await schedule.schedule(conn, FIRST_RESPONSE_JOB, str(case.id),
                                    self.settings.real(due))  # fmt: skip
        event = CaseReceived(
            message_id=new_message_id(), correlation_id=correlation_id, case_id=case.id,
            state=case.state, by=by, reference=reference, kind=case.kind, channel=case.channel,
            topics=list(case.topics), received_at=case.received_at, parent_case_id=case.parent_id,
            assignee=case.assignee,
        )  # fmt: skip
        return reference, [Outgoing(CONSULTATION_EVENTS, str(case.id), event)]

    async def intake(
        self,
        conn: asyncpg.Connection,
        case_id: UUID,
        kind: CaseKind,
        channel: IntakeChannel,
        topics: Sequence[TopicCode],
        by: str | None,
    ) -> tuple[domain.Case, str, list[Outgoing]]:
        case = domain.receive(case_id, kind, channel, topics, self.settings.now())
        reference, outgoing = await self.open_case(conn, case, by)
        return case, reference, outgoing

    # --- steps ------------------------------------------------------------------------------

    async def decide(
        self,
        conn: asyncpg.Connection,
        cmd: CaseCommand,
        caller: Caller,
        decide: Decide,
        answer: Callable[[domain.Case, domain.Case], Outgoing],
    ) -> list[Outgoing]:
        """Load the case (locked), decide, store what changed and its step, answer."""
        stored = await store.load_case(conn, cmd.case_id, for_update=True)
        if stored is None:
            return [rejected(cmd, cmd.case_id, RejectionReason.NOT_FOUND)]
        before = stored.case
        decision = decide(before)
        if isinstance(decision, domain.Rejection):
            return [rejected(cmd, cmd.case_id, decision.reason)]
        await store.save(conn, before, decision)
        outgoing = answer(before, decision)
        await store.add_step(conn, decision.id, message_type_of(type(outgoing.message)),
                             decision.state, staff_id(caller), self.settings.now())  # fmt: skip
        self.observe(before, decision)
        return [outgoing]

    async def start_hearing(
        self, conn: asyncpg.Connection, cmd: StartHearing, caller: Caller
    ) -> Sequence[Outgoing]:
        now = self.settings.now()
        answers = await self.decide(
            conn, cmd, caller, lambda c: domain.start_hearing(c, caller, now),
            lambda _, after: case_event(cmd, after, staff_id(caller), HearingStarted,
                                        first_response_at=after.first_response_at),
        )  # fmt: skip
        if isinstance(answers[0].message, HearingStarted):
            await schedule.cancel(conn, FIRST_RESPONSE_JOB, str(cmd.case_id))
        return answers

    async def classify(
        self, conn: asyncpg.Connection, cmd: ClassifyCase, caller: Caller
    ) -> Sequence[Outgoing]:
        return await self.decide(
            conn, cmd, caller, lambda c: domain.classify(c, caller, cmd.topics, cmd.kind),
            lambda _, after: case_event(cmd, after, staff_id(caller), CaseClassified,
                                        kind=after.kind, topics=list(after.topics)),
        )  # fmt: skip

    async def assign(
        self, conn: asyncpg.Connection, cmd: AssignCase, caller: Caller
    ) -> Sequence[Outgoing]:
        now = self.settings.now()
        return await self.decide(
            conn, cmd, caller, lambda c: domain.assign(c, caller, cmd.assignee, now),
            lambda before, after: case_event(cmd, after, staff_id(caller), CaseAssigned,
                                             assignee=after.assignee,
                                             previous_assignee=before.assignee),
        )  # fmt: skip

    async def start_work(
        self, conn: asyncpg.Connection, cmd: StartWork, caller: Caller
    ) -> Sequence[Outgoing]:
        return await self.decide(
            conn, cmd, caller, lambda c: domain.start_work(c, caller),
            lambda _, after: case_event(cmd, after, staff_id(caller), WorkStarted),
        )  # fmt: skip

    async def refer(
        self, conn: asyncpg.Connection, cmd: ReferCase, caller: Caller
    ) -> Sequence[Outgoing]:
        now = self.settings.now()
        taken = await conn.fetchval("SELECT 1 FROM referrals WHERE id = $1", cmd.referral_id)
        if taken:  # another case's referral id: never two referrals under one id
            return [rejected(cmd, cmd.case_id, RejectionReason.INVALID)]
        return await self.decide(
            conn, cmd, caller,
            lambda c: domain.refer(c, caller, cmd.referral_id, cmd.target, now),
            lambda _, after: case_event(cmd, after, staff_id(caller), CaseReferred,
                                        referral_id=cmd.referral_id, target=cmd.target),
        )  # fmt: skip

    async def end_referral(
        self, conn: asyncpg.Connection, cmd: EndReferral, caller: Caller
    ) -> Sequence[Outgoing]:
        now = self.settings.now()
        return await self.decide(
            conn, cmd, caller,
            lambda c: domain.end_referral(c, caller, cmd.referral_id, cmd.outcome, now),
            lambda _, after: case_event(cmd, after, staff_id(caller), ReferralEnded,
                                        referral_id=cmd.referral_id, outcome=cmd.outcome),
        )  # fmt: skip

    async def close(
        self, conn: asyncpg.Connection, cmd: CloseCase, caller: Caller
    ) -> Sequence[Outgoing]:
        now = self.settings.now()
        answers = await self.decide(
            conn, cmd, caller, lambda c: domain.close(c, caller, cmd.outcome, now),
            lambda _, after: case_event(cmd, after, staff_id(caller), CaseClosed,
                                        outcome=cmd.outcome, closed_at=now),
        )  # fmt: skip
        if isinstance(answers[0].message, CaseClosed):  # nobody is waiting for a response now
            await schedule.cancel(conn, FIRST_RESPONSE_JOB, str(cmd.case_id))
        return answers

    async def reopen(
        self, conn: asyncpg.Connection, cmd: ReopenCase, caller: Caller
    ) -> Sequence[Outgoing]:
        return await self.decide(
            conn, cmd, caller, lambda c: domain.reopen(c, caller),
            lambda _, after: case_event(cmd, after, staff_id(caller), CaseReopened),
        )  # fmt: skip

    async def open_follow_up(
        self, conn: asyncpg.Connection, cmd: OpenFollowUp, caller: Caller
    ) -> Sequence[Outgoing]:
        stored = await store.load_case(conn, cmd.case_id, for_update=True)
        if stored is None:
            return [rejected(cmd, cmd.case_id, RejectionReason.NOT_FOUND)]
        if await conn.fetchval("SELECT 1 FROM cases WHERE id = $1", cmd.follow_up_case_id):
            return [rejected(cmd, cmd.case_id, RejectionReason.INVALID)]
        decision = domain.open_follow_up(stored.case, caller, cmd.follow_up_case_id,
                                         self.settings.now())  # fmt: skip
        if isinstance(decision, domain.Rejection):
            return [rejected(cmd, cmd.case_id, decision.reason)]
        _, outgoing = await self.open_case(conn, decision, staff_id(caller), cmd.correlation())
        received = outgoing[0].message.model_copy(update={"request_id": cmd.message_id})
        return [Outgoing(CONSULTATION_EVENTS, str(decision.id), received)]

    async def log_inquiry(
        self, conn: asyncpg.Connection, cmd: LogInquiry, caller: Caller
    ) -> Sequence[Outgoing]:
        key = str(cmd.message_id)
        if refused := domain.check_inquiry(caller):
            return [outbox.answer(cmd, CONSULTATION_EVENTS, key, InquiryRejected,
                                  reason=refused.reason)]  # fmt: skip
        topics = domain.distinct_topics(cmd.topics)
        await store.insert_inquiry(conn, cmd.message_id, cmd.channel, topics, staff_id(caller),
                                   self.settings.now())  # fmt: skip
        return [outbox.answer(cmd, CONSULTATION_EVENTS, key, InquiryLogged, channel=cmd.channel,
                              topics=list(topics), by=staff_id(caller))]  # fmt: skip
