"""The consultation service's HTTP API: the only way a case's content comes in or goes out
(ARCHITECTURE.md, "Security"; OpenAPI at /openapi.json).

- `POST /intake`: the public web form, no sign-in. Content in, a reference number out; limited
  per client (CONSULTATION_INTAKE_PER_MINUTE, _BURST) and in every field's length and
  characters. With an e-mail address, the requester gets an acknowledgement through notify
  carrying the reference number alone.
- `POST /cases`: reception (or the chief coordinator) enters an e-mail, a call or a visit.
- `GET /cases`: the cases the caller may open (access.visible), newest first; the count is of
  those alone, so a list never tells that a case exists to someone who may not open it.
- `GET /cases/search`: the same cases, found by reference, state, topic, intake dates and words
  in the content the caller may read (search.py); each case opened for the words is audited.
- `GET /cases/{id}`: the fields the caller may read (access.readable_fields); 403 for anyone who
  may open nothing of it. For whoever is not the chief coordinator, a case that does not exist
  is a 403 as well, so the answer never tells whether an id is a case's.
- `POST /cases/{id}/notes`, `PUT /cases/{id}/topics`, `PUT /cases/{id}/referrals/{rid}/details`:
  the staff working the case (domain.may_work_on).
- `GET /cases/{id}/audit`, `GET /audit/reads`: the read audit, for the chief coordinator and
  the auditor.
- `GET /reports/topics` (staff) and `GET /reports/topics/public` (anyone, small counts hidden):
  the fiscal year's topic table, JSON or CSV.

Every read of a case, a list, or the audit is written to the append-only read audit
(`case_reads`: who, when, which case, which fields), refused attempts included. Nothing of a
case's content is logged, counted in a metric or put on Kafka here: errors name fields, never
values, and the only message built from a request's fields is notify's acknowledgement (an
address and a reference number, which notify needs to deliver it).
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import PlainTextResponse, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field

from contracts.consultation import (
    CaseClassified,
    CaseKind,
    CaseOutcome,
    CaseState,
    IntakeChannel,
    ReferralOutcome,
    ReferralTarget,
    RejectionReason,
    TopicCode,
    Topics,
)
from contracts.envelope import new_message_id
from contracts.identity import PrincipalKind
from contracts.notify import Language, RequestAcknowledgement
from contracts.topics import NOTIFY_COMMANDS
from services.consultation import access, domain, search, store
from services.consultation.access import CONTENT, CaseField
from services.consultation.handlers import ConsultationHandlers, case_event
from services.consultation.report import load_table, to_csv, to_json
from services.consultation.settings import ConsultationSettings
from services.consultation.texts import words
from services.runtime import outbox
from services.runtime.center_calendar import tokyo_midnight
from services.runtime.http import ErrorBody, RateLimit, error_responses, limited
from services.runtime.http_auth import PUBLIC, Doors
from services.runtime.identity import Caller, kinds
from services.runtime.outbox import Outgoing
from services.runtime.service import ServiceContext

MAX_LIST = 200
MAX_AUDIT = 500
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029]")
LINE_BREAKS = re.compile(r"[\r\n\t]")


def _no_control(value: str) -> str:
    """Free text keeps line breaks and tabs, no other control character (none a form types)."""
    if CONTROL.search(value):
        raise ValueError("control characters are not allowed")
    return value


def _one_line(value: str) -> str:
    if CONTROL.search(value) or LINE_BREAKS.search(value):
        raise ValueError("one line, without control characters")
    return value


Line = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_one_line)]
LongLine = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_one_line)]
Phone = Annotated[str, Field(min_length=3, max_length=30, pattern=r"^[0-9+()\- ]+$")]
Narrative = Annotated[str, Field(min_length=1, max_length=4000), AfterValidator(_no_control)]
FiscalYear = Annotated[int, Query(ge=2000, le=2100, description="e.g. 2020 (April-March)")]


class IntakeForm(BaseModel):
    """What the requester writes on the web form."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: CaseKind = CaseKind.ACTIVITY
    topics: Topics = Field(default_factory=list)
    name: Line
    email: EmailStr | None = Field(default=None, max_length=254)
    phone: Phone | None = None
    organisation: LongLine | None = None
    narrative: Narrative
    language: Language = Language.JA


class StaffIntake(IntakeForm):
    """An e-mail, a call or a visit, as reception enters it."""

    channel: IntakeChannel
    acknowledge: bool = Field(default=True, description="e-mail the reference number when an "
                                                        "address is given")  # fmt: skip


class IntakeAccepted(BaseModel):
    reference: str
    message: str


class StaffIntakeAccepted(BaseModel):
    case_id: UUID
    reference: str


class Listed(BaseModel):
    case_id: UUID
    reference: str
    state: CaseState
    kind: CaseKind
    channel: IntakeChannel
    topics: list[str]
    received_at: datetime
    assignee: str | None


class CaseList(BaseModel):
    count: int = Field(description="the cases listed: only those the caller may open")
    cases: list[Listed]


class SearchResult(BaseModel):
    count: int = Field(description="the cases found: only those the caller may open")
    cases: list[Listed]
    scanned: int = Field(description="cases whose content was opened to look for the words")
    more: bool = Field(description="the scan stopped at its limit: narrow the search")


class Contact(BaseModel):
    email: str | None = None
    phone: str | None = None


class AssignmentView(BaseModel):
    assignee: str
    by: str
    at: datetime


class ReferralView(BaseModel):
    referral_id: UUID
    target: ReferralTarget
    by: str
    referred_at: datetime
    outcome: ReferralOutcome | None = None
    ended_at: datetime | None = None
    details: str | None = None


class NoteView(BaseModel):
    note_id: int
    text: str
    written_by: str
    written_at: datetime


class CaseView(BaseModel):
    """The parts of a case the caller may read (`fields`); a part not listed is left out."""

    case_id: UUID
    fields: list[CaseField]
    reference: str | None = None
    state: CaseState | None = None
    kind: CaseKind | None = None
    channel: IntakeChannel | None = None
    topics: list[str] | None = None
    received_at: datetime | None = None
    first_response_at: datetime | None = None
    closed_at: datetime | None = None
    parent_case_id: UUID | None = None
    assignments: list[AssignmentView] | None = None
    referrals: list[ReferralView] | None = None
    outcome: CaseOutcome | None = None
    requester_name: str | None = None
    requester_contact: Contact | None = None
    organisation_name: str | None = None
    narrative: str | None = None
    notes: list[NoteView] | None = None
    erased: bool = Field(default=False, description="personal data erased after retention")


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Narrative


class TopicsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    topics: Topics = Field(min_length=1)
    kind: CaseKind | None = None


class DetailsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    details: Narrative


class Read(BaseModel):
    id: int
    at: datetime
    principal: str
    roles: list[str]
    case_id: UUID | None
    action: str
    fields: list[str]
    outcome: str


class Reads(BaseModel):
    reads: list[Read] = Field(description="newest first")


STATUS = {
    RejectionReason.NOT_FOUND: 404,
    RejectionReason.WRONG_STATE: 409,
    RejectionReason.INVALID: 400,
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The runtime's documented error answers, and 409 (the case's state does not allow it)."""
    found = error_responses(*(code for code in codes if code != 409))
    if 409 in codes:
        found[409] = {"model": ErrorBody, "description": "The case's state does not allow this."}
    return found


def refused(reason: RejectionReason) -> HTTPException:
    """A refusal in the runtime's error body, its words in English and Japanese."""
    return HTTPException(STATUS.get(reason, 403), f"{words(reason, 'en')} / {words(reason)}")


def intake_limit(settings: ConsultationSettings) -> RateLimit:
    return RateLimit(per_minute=settings.intake_per_minute, burst=settings.intake_burst)


def content_of(form: IntakeForm) -> dict[CaseField, str]:
    """The form's content, field by field, as it is sealed."""
    values = {
        CaseField.REQUESTER_NAME: form.name,
        CaseField.REQUESTER_CONTACT: json.dumps(
            {"email": None if form.email is None else str(form.email), "phone": form.phone},
            ensure_ascii=False,
        ),
        CaseField.NARRATIVE: form.narrative,
    }
    if form.organisation:
        values[CaseField.ORGANISATION_NAME] = form.organisation
    return values


class DeskRoutes:
    """The routes' shared work: intake, loading a case for a caller, the audit."""

    def __init__(
        self, ctx: ServiceContext, settings: ConsultationSettings, handlers: ConsultationHandlers
    ) -> None:
        self.ctx = ctx
        self.pool = ctx.pool
        self.settings = settings
        self.handlers = handlers

    async def intake(
        self, form: IntakeForm, channel: IntakeChannel, by: str | None, acknowledge: bool
    ) -> tuple[UUID, str]:
        async with self.pool.acquire() as conn, conn.transaction():
            case, reference, outgoing = await self.handlers.intake(
                conn, uuid4(), form.kind, channel, form.topics, by
            )
            await store.write_content(conn, self.settings.keys, case.id, content_of(form),
                                      by or "web", case.received_at)  # fmt: skip
            if acknowledge and form.email is not None:
                command = RequestAcknowledgement(
                    message_id=new_message_id(), reference=reference, email=form.email,
                    language=form.language,
                )  # fmt: skip
                outgoing.append(self.to_notify(reference, command))
            await outbox.add(conn, outgoing)
        self.ctx.relay.wake()
        return case.id, reference

    def to_notify(self, key: str, command: RequestAcknowledgement) -> Outgoing:
        """A command to notify on the service's own account, its proof in `authorization`."""
        return Outgoing(NOTIFY_COMMANDS, key, command, self.handlers.signer.own_proof())

    async def case_for(
        self, conn: asyncpg.Connection, caller: Caller, case_id: UUID, action: str,
        lock: bool = False,
    ) -> store.StoredCase:  # fmt: skip
        """The case, for a caller who may open it; else a 403 (a 404 for the chief coordinator
        when there is no such case), the refusal audited."""
        stored = await store.load_case(conn, case_id, for_update=lock)
        if stored is None or not access.may_open(caller, stored.case):
            chief = domain.is_chief_coordinator(caller)
            outcome = "not_found" if stored is None else "refused"
            await store.record_read(self.pool, caller, case_id, action, (), outcome)
            if stored is None and chief:
                raise refused(RejectionReason.NOT_FOUND)
            raise refused(RejectionReason.FORBIDDEN)
        return stored

    async def view(self, caller: Caller, case_id: UUID) -> CaseView:
        async with self.pool.acquire() as conn:
            stored = await self.case_for(conn, caller, case_id, "read")
            case = stored.case
            readable = access.readable_fields(caller, case) & access.WHOLE_CASE
            keys = self.settings.keys
            content = await store.read_content(conn, keys, case.id, readable & CONTENT)
            notes = await store.notes(conn, keys, case.id) if CaseField.NOTES in readable else []
            details = (
                await store.referral_details(conn, keys, case.id)
                if CaseField.REFERRAL_DETAILS in readable else {}
            )  # fmt: skip
            await store.record_read(conn, caller, case.id, "read", readable, "shown")
        return build_view(stored, readable, content, notes, details)


SEARCHABLE = frozenset(CONTENT)  # the content a search may look into, as far as the caller reads


async def found_by_words(
    conn: asyncpg.Connection,
    settings: ConsultationSettings,
    caller: Caller,
    cases: list[store.Listed],
    asked: list[str],
    limit: int,
) -> tuple[list[store.Listed], int]:
    """The cases whose readable content holds every word, and how many were opened: each case
    opened is a read of the fields looked into, audited as such."""
    hits: list[store.Listed] = []
    opened: list[tuple[UUID, frozenset[CaseField]]] = []
    keys = settings.keys
    for case in cases:
        fields = access.matchable(caller, case, SEARCHABLE)
        if not fields:
            continue
        content = await store.read_content(conn, keys, case.id, fields)
        texts = list(content.values())
        if CaseField.NOTES in fields:
            texts += [n.text for n in await store.notes(conn, keys, case.id)]
        if CaseField.REFERRAL_DETAILS in fields:
            texts += list((await store.referral_details(conn, keys, case.id)).values())
        opened.append((case.id, fields))
        if search.matches(asked, texts):
            hits.append(case)
            if len(hits) >= limit:
                break
    await store.record_reads(conn, caller, opened, "search", "searched")
    return hits, len(opened)


def build_view(
    stored: store.StoredCase,
    readable: frozenset[CaseField],
    content: dict[CaseField, str],
    notes: list[store.Note],
    details: dict[UUID, str],
) -> CaseView:
    case = stored.case
    values: dict[str, Any] = {
        CaseField.REFERENCE: {"reference": stored.reference},
        CaseField.STATE: {"state": case.state},
        CaseField.KIND: {"kind": case.kind},
        CaseField.CHANNEL: {"channel": case.channel},
        CaseField.TOPICS: {"topics": [str(t) for t in case.topics]},
        CaseField.TIMES: {"received_at": case.received_at,
                          "first_response_at": case.first_response_at,
                          "closed_at": case.closed_at},
        CaseField.PARENT: {"parent_case_id": case.parent_id},
        CaseField.ASSIGNMENTS: {"assignments": [
            AssignmentView(assignee=a.assignee, by=a.by, at=a.at) for a in case.assignments]},
        CaseField.REFERRALS: {"referrals": [
            ReferralView(referral_id=r.id, target=r.target, by=r.by, referred_at=r.referred_at,
                         outcome=r.outcome, ended_at=r.ended_at, details=details.get(r.id))
            for r in case.referrals]},
        CaseField.OUTCOME: {"outcome": case.outcome},
        CaseField.NOTES: {"notes": [
            NoteView(note_id=n.id, text=n.text, written_by=n.written_by, written_at=n.written_at)
            for n in notes]},
    }  # fmt: skip
    if CaseField.REQUESTER_CONTACT in content:
        values[CaseField.REQUESTER_CONTACT] = {
            "requester_contact": Contact(**json.loads(content[CaseField.REQUESTER_CONTACT]))
        }
    for name in (CaseField.REQUESTER_NAME, CaseField.ORGANISATION_NAME, CaseField.NARRATIVE):
        if name in content:
            values[name] = {str(name): content[name]}
    fields: dict[str, Any] = {}
    for name in readable:
        fields.update(values.get(name, {}))
    return CaseView(case_id=case.id, fields=sorted(readable), erased=stored.erased_at is not None,
                    **fields)  # fmt: skip


def build_router(
    ctx: ServiceContext, settings: ConsultationSettings, handlers: ConsultationHandlers
) -> APIRouter:
    router = APIRouter(tags=["consultation"])
    doors = Doors.of(ctx)
    desk = DeskRoutes(ctx, settings, handlers)
    any_staff = doors.lock(kinds(PrincipalKind.STAFF))
    desk_staff = doors.lock(access.DESK)
    intake_staff = doors.lock(access.INTAKE_STAFF)
    audit_readers = doors.lock(access.AUDIT_READERS)
    report_readers = doors.lock(access.REPORT_READERS)
    limit = intake_limit(settings)

    @router.post("/intake", status_code=201, dependencies=[PUBLIC, Depends(limited(limit))],
                 responses=error_responses(400, 429))  # fmt: skip
    async def web_intake(form: IntakeForm) -> IntakeAccepted:
        """The public consultation form. The answer is the reference number; with an e-mail
        address, an acknowledgement follows carrying that number and nothing else."""
        _, reference = await desk.intake(form, IntakeChannel.WEB, None, acknowledge=True)
        message = (
            "ご相談を受け付けました。受付番号: "
            if form.language is Language.JA
            else "We have received your consultation. Your reference: "
        ) + reference
        return IntakeAccepted(reference=reference, message=message)

    @router.post("/cases", status_code=201, responses=error_responses(400, 403))
    async def staff_intake(form: StaffIntake, caller: Caller = Depends(intake_staff)
                           ) -> StaffIntakeAccepted:  # fmt: skip
        """Reception enters a case that came by e-mail, phone or a visit."""
        channel = domain.intake_channel(caller, form.channel)
        if isinstance(channel, domain.Rejection):
            raise refused(channel.reason)
        case_id, reference = await desk.intake(form, channel, caller.subject, form.acknowledge)
        return StaffIntakeAccepted(case_id=case_id, reference=reference)

    @router.get("/cases", responses=error_responses(400))
    async def list_cases(
        caller: Caller = Depends(any_staff),
        state: Annotated[list[CaseState] | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = 50,
    ) -> CaseList:
        """The newest cases the caller may open; the count is of those alone."""
        async with ctx.pool.acquire() as conn:
            found = await store.list_cases(
                conn, caller, domain.is_chief_coordinator(caller), domain.is_reception(caller),
                state or [], limit,
            )  # fmt: skip
            shown = access.visible(caller, found)
            await store.record_read(conn, caller, None, "list", (CaseField.REFERENCE,), "shown")
        cases = [
            Listed(case_id=c.id, reference=c.reference, state=c.state, kind=c.kind,
                   channel=c.channel, topics=[str(t) for t in c.topics],
                   received_at=c.received_at, assignee=c.assignee)
            for c in shown
        ]  # fmt: skip
        return CaseList(count=len(cases), cases=cases)

    @router.get("/cases/search", responses=error_responses(400))
    async def search_cases(
        caller: Caller = Depends(any_staff),
        q: Annotated[str, Query(max_length=search.MAX_QUERY)] = "",
        reference: Annotated[str | None, Query(pattern=r"^[0-9A-Za-z-]{1,20}$")] = None,
        state: Annotated[list[CaseState] | None, Query()] = None,
        topic: Annotated[list[TopicCode] | None, Query()] = None,
        received_from: Annotated[date | None, Query(alias="from")] = None,
        received_to: Annotated[date | None, Query(alias="to")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = 50,
    ) -> SearchResult:
        """Cases the caller may open, by reference, state, topic and intake dates, and by words
        in the content the caller may read (search.py); each case whose content is opened for
        the words is audited as read. The results name cases, never their content."""
        wanted = search.Filter(
            reference=reference, states=tuple(state or ()), topics=tuple(topic or ()),
            received_from=tokyo_midnight(received_from) if received_from else None,
            received_before=(tokyo_midnight(received_to + timedelta(days=1))
                             if received_to else None),
        )  # fmt: skip
        asked = search.words(_no_control(q))
        scan = search.SCAN_LIMIT if asked else limit
        async with ctx.pool.acquire() as conn:
            found = access.visible(caller, await store.search_cases(
                conn, caller, domain.is_chief_coordinator(caller), domain.is_reception(caller),
                wanted, scan + 1,
            ))  # fmt: skip
            more = len(found) > scan
            found = found[:scan]
            await store.record_read(conn, caller, None, "search", (CaseField.REFERENCE,), "shown")
            scanned = 0
            if asked:
                found, scanned = await found_by_words(conn, settings, caller, found, asked, limit)
        cases = [
            Listed(case_id=c.id, reference=c.reference, state=c.state, kind=c.kind,
                   channel=c.channel, topics=[str(t) for t in c.topics],
                   received_at=c.received_at, assignee=c.assignee)
            for c in found[:limit]
        ]  # fmt: skip
        return SearchResult(count=len(cases), cases=cases, scanned=scanned, more=more)

    @router.get("/cases/{case_id}", response_model_exclude_none=True,
                responses=error_responses(403, 404))  # fmt: skip
    async def read_case(case_id: UUID, caller: Caller = Depends(any_staff)) -> CaseView:
        """The parts of the case the caller may read; the read is audited with those fields."""
        return await desk.view(caller, case_id)

    @router.post("/cases/{case_id}/notes", status_code=201,
                 responses=errors(400, 403, 404, 409))  # fmt: skip
    async def add_note(case_id: UUID, note: NoteIn, caller: Caller = Depends(desk_staff)
                       ) -> dict[str, int]:  # fmt: skip
        """A working note (the hearing's, the assignee's), by whoever works the case now."""
        async with ctx.pool.acquire() as conn, conn.transaction():
            stored = await desk.case_for(conn, caller, case_id, "note", lock=True)
            if rejection := domain.may_work_on(caller, stored.case):
                raise refused(rejection.reason)
            if stored.case.state is CaseState.CLOSED:
                raise refused(RejectionReason.WRONG_STATE)
            now = settings.now()
            note_id = await store.add_note(conn, settings.keys, case_id, note.text,
                                           caller.subject, now)  # fmt: skip
            await store.add_step(conn, case_id, "note.added", stored.case.state, caller.subject,
                                 now)  # fmt: skip
        return {"note_id": note_id}

    @router.put("/cases/{case_id}/topics", responses=errors(400, 403, 404, 409))
    async def set_topics(case_id: UUID, body: TopicsIn, caller: Caller = Depends(desk_staff)
                         ) -> dict[str, list[str]]:  # fmt: skip
        """The case's topic codes (one or more) and, when given, its kind: until closing."""
        async with ctx.pool.acquire() as conn, conn.transaction():
            stored = await desk.case_for(conn, caller, case_id, "topics", lock=True)
            decision = domain.classify(stored.case, caller, body.topics, body.kind)
            if isinstance(decision, domain.Rejection):
                raise refused(decision.reason)
            await store.save(conn, stored.case, decision)
            event = case_event(None, decision, caller.subject, CaseClassified,
                               kind=decision.kind, topics=list(decision.topics))  # fmt: skip
            await outbox.add(conn, [event])
            await store.add_step(conn, case_id, "case.classified", decision.state,
                                 caller.subject, settings.now())  # fmt: skip
        ctx.relay.wake()
        return {"topics": [str(t) for t in decision.topics]}

    @router.put("/cases/{case_id}/referrals/{referral_id}/details", status_code=204,
                response_class=Response,
                responses=error_responses(400, 403, 404))  # fmt: skip
    async def referral_details(
        case_id: UUID, referral_id: UUID, body: DetailsIn, caller: Caller = Depends(desk_staff)
    ) -> Response:
        """To whom exactly the case was referred, and why (sealed like all content)."""
        async with ctx.pool.acquire() as conn, conn.transaction():
            stored = await desk.case_for(conn, caller, case_id, "referral_details", lock=True)
            if rejection := domain.may_work_on(caller, stored.case):
                raise refused(rejection.reason)
            if not await store.set_referral_details(conn, settings.keys, case_id, referral_id,
                                                    body.details):  # fmt: skip
                raise refused(RejectionReason.NOT_FOUND)
        return Response(status_code=204)

    @router.get("/cases/{case_id}/audit", responses=error_responses(403, 404))
    async def case_audit(
        case_id: UUID,
        caller: Caller = Depends(any_staff),
        limit: Annotated[int, Query(ge=1, le=MAX_AUDIT)] = 100,
    ) -> Reads:
        """Who read the case, when, which fields (refused attempts included)."""
        async with ctx.pool.acquire() as conn:
            stored = await store.load_case(conn, case_id)
            if stored is None or not access.may_read_audit(caller, stored.case):
                await store.record_read(conn, caller, case_id, "audit", (), "refused")
                raise refused(RejectionReason.FORBIDDEN)
            await store.record_read(conn, caller, case_id, "audit", (CaseField.AUDIT,), "shown")
            rows = await store.reads(conn, case_id, None, None, limit)
        return Reads(reads=[Read(**dict(r)) for r in rows])

    @router.get("/audit/reads", responses=error_responses(400))
    async def audit_reads(
        caller: Caller = Depends(audit_readers),
        case_id: UUID | None = None,
        principal: Annotated[str | None, Query(max_length=80)] = None,
        before: Annotated[int | None, Query(ge=1)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_AUDIT)] = 100,
    ) -> Reads:
        """The read audit, newest first, of one case, one reader (`staff:<username>`) or all;
        `before` pages back by id. Querying it is audited too."""
        await store.record_read(ctx.pool, caller, case_id, "audit", (CaseField.AUDIT,), "shown")
        rows = await store.reads(ctx.pool, case_id, principal, before, limit)
        return Reads(reads=[Read(**dict(r)) for r in rows])

    async def topic_report(fiscal_year: int, output: str, public: bool) -> Any:
        threshold = settings.public_threshold if public else None
        table = await load_table(ctx.pool, fiscal_year, settings.first_response_within,
                                 threshold)  # fmt: skip
        if output == "csv":
            return PlainTextResponse(to_csv(table), media_type="text/csv; charset=utf-8")
        return to_json(table)

    @router.get("/reports/topics", responses=error_responses(400))
    async def topics_report(
        fiscal_year: FiscalYear,
        format: Literal["json", "csv"] = "json",
        _: Caller = Depends(report_readers),
    ) -> Any:
        """Cases and topic labels of the fiscal year per month, by channel and kind, with
        response times in business hours; counts only, no case."""
        return await topic_report(fiscal_year, format, public=False)

    @router.get("/reports/topics/public", dependencies=[PUBLIC], responses=error_responses(400))
    async def public_topics_report(
        fiscal_year: FiscalYear, format: Literal["json", "csv"] = "json"
    ) -> Any:
        """The version the center publishes: counts below CONSULTATION_PUBLIC_THRESHOLD, and
        any cell a shown total would give away, hidden (null, or an empty CSV cell)."""
        return await topic_report(fiscal_year, format, public=True)

    return router
