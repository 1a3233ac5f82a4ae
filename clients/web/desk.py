"""The consultation desk's staff pages: the cases by state, a case as the staff member may read
it, its steps (first hearing, assignment, taking it up, referral and its end, closing,
reopening), working notes and referral details, and the read audit for the chief coordinator.

The consultation service decides everything: which cases a staff member sees (need to know),
which fields, which step is allowed. Steps are its commands on `consultation.commands`, sent
with the staff member's token; the page waits for the answer and shows the step done or the
service's reason. Notes and referral details are content: they go over HTTP to the service
alone, never on Kafka, never into a log line or a URL, and no desk page is cached.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from clients.web.app import Visit, visit_of
from clients.web.reading import Unavailable
from clients.web.routes import Form, staff_only
from clients.web.security import private
from clients.web.steps import NOT_SENT
from contracts.consultation import (
    AssignCase,
    CaseOutcome,
    CaseRejected,
    CaseState,
    CloseCase,
    EndReferral,
    ReferCase,
    ReferralOutcome,
    ReferralTarget,
    ReopenCase,
    StartHearing,
    StartWork,
)
from contracts.envelope import Message

router = APIRouter()
log = logging.getLogger(__name__)
Seen = Annotated[Visit, Depends(visit_of)]
STEPS = ("hearing", "assign", "start", "refer", "end_referral", "close", "reopen")
ANSWER_WAIT_S = 8.0


def desk_staff(visit: Visit) -> Response | None:
    return staff_only(visit)


def step_command(step: str, case_id: UUID, form: dict[str, str]) -> Message | None:
    """The command a step's form asks for, or None when the form cannot make one."""
    try:
        if step == "hearing":
            return StartHearing(message_id=uuid4(), case_id=case_id)
        if step == "assign":
            return AssignCase(message_id=uuid4(), case_id=case_id,
                              assignee=form.get("assignee", "").strip())  # fmt: skip
        if step == "start":
            return StartWork(message_id=uuid4(), case_id=case_id)
        if step == "refer":
            return ReferCase(message_id=uuid4(), case_id=case_id, referral_id=uuid4(),
                             target=ReferralTarget(form.get("target", "")))  # fmt: skip
        if step == "end_referral":
            return EndReferral(message_id=uuid4(), case_id=case_id,
                               referral_id=UUID(form.get("referral", "")),
                               outcome=ReferralOutcome(form.get("outcome", "")))  # fmt: skip
        if step == "close":
            return CloseCase(message_id=uuid4(), case_id=case_id,
                             outcome=CaseOutcome(form.get("outcome", "")))  # fmt: skip
        if step == "reopen":
            return ReopenCase(message_id=uuid4(), case_id=case_id)
    except (ValueError, ValidationError):
        return None
    return None


@router.get("/staff/desk")
async def cases(visit: Seen, state: str | None = None) -> Response:
    if (refused := desk_staff(visit)) is not None or visit.signed is None:
        return refused or Response(status_code=401)
    states = [state] if state in {s.value for s in CaseState} else []
    try:
        assert visit.parts.desk is not None
        found = await visit.parts.desk.cases(visit.signed.token, states)
    except (Unavailable, AssertionError):
        return private(visit.render("desk/list.html", 503, cases=[], state=state,
                                    states=list(CaseState), unavailable=True))  # fmt: skip
    return private(visit.render("desk/list.html", cases=found["cases"], state=state,
                                states=list(CaseState), unavailable=False))  # fmt: skip


async def case_page(visit: Visit, case_id: UUID, status: int = 200, **extra: Any) -> Response:
    assert visit.signed is not None
    try:
        assert visit.parts.desk is not None
        code, case = await visit.parts.desk.case(visit.signed.token, str(case_id))
    except (Unavailable, AssertionError):
        return private(visit.render("error.html", 503, message=visit.texts("desk.unavailable")))
    if code != 200:
        return private(visit.render("error.html", 403 if code == 403 else 404,
                                    message=visit.texts("desk.not_yours")))  # fmt: skip
    return private(visit.render("desk/case.html", status, case=case, case_id=case_id,
                                targets=list(ReferralTarget), outcomes=list(CaseOutcome),
                                referral_outcomes=list(ReferralOutcome), **extra))  # fmt: skip


@router.get("/staff/desk/{case_id}")
async def case(visit: Seen, case_id: UUID, done: str | None = None) -> Response:
    if (refused := desk_staff(visit)) is not None:
        return refused
    return await case_page(visit, case_id, done=done if done in (*STEPS, "note") else None)


@router.post("/staff/desk/{case_id}/step")
async def step(visit: Seen, case_id: UUID, form: Form) -> Response:
    if (refused := desk_staff(visit)) is not None or visit.signed is None:
        return refused or Response(status_code=401)
    name = form.get("step", "")
    command = step_command(name, case_id, form)
    if command is None:
        return await case_page(visit, case_id, 400, problem="desk.invalid")
    commands = visit.parts.consultation_commands
    try:
        if commands is None:
            raise Unavailable("not connected to Kafka yet")
        await commands.publish(command, visit.signed.token)
        answer = await commands.answer(command.message_id, visit.signed.token, ANSWER_WAIT_S)
    except NOT_SENT:
        return await case_page(visit, case_id, 503, problem="desk.unavailable")
    if answer is None:
        return await case_page(visit, case_id, 202, problem="desk.pending")
    if isinstance(answer, CaseRejected):
        return await case_page(visit, case_id, 409, problem=f"desk.reason.{answer.reason}")
    url = f"/staff/desk/{case_id}?done={name}"
    return visit.finish(RedirectResponse(url, status_code=303))


@router.post("/staff/desk/{case_id}/note")
async def note(visit: Seen, case_id: UUID, form: Form) -> Response:
    if (refused := desk_staff(visit)) is not None or visit.signed is None:
        return refused or Response(status_code=401)
    text = form.get("text", "")[:10_000]
    referral = form.get("referral", "")
    try:
        assert visit.parts.desk is not None
        if referral:
            code = await visit.parts.desk.referral_details(visit.signed.token, str(case_id),
                                                           str(UUID(referral)), text)  # fmt: skip
        else:
            code = await visit.parts.desk.note(visit.signed.token, str(case_id), text)
    except (Unavailable, AssertionError, ValueError):
        return await case_page(visit, case_id, 503, problem="desk.unavailable", draft=text)
    if code not in (201, 204):
        return await case_page(visit, case_id, 400 if code == 400 else 403,
                               problem="desk.note_refused", draft=text)  # fmt: skip
    return visit.finish(RedirectResponse(f"/staff/desk/{case_id}?done=note", status_code=303))


@router.get("/staff/desk/{case_id}/audit")
async def audit(visit: Seen, case_id: UUID) -> Response:
    if (refused := desk_staff(visit)) is not None or visit.signed is None:
        return refused or Response(status_code=401)
    try:
        assert visit.parts.desk is not None
        code, found = await visit.parts.desk.audit(visit.signed.token, str(case_id))
    except (Unavailable, AssertionError):
        return private(visit.render("error.html", 503, message=visit.texts("desk.unavailable")))
    if code != 200:
        return private(visit.render("error.html", 403, message=visit.texts("desk.audit_refused")))
    return private(visit.render("desk/audit.html", case_id=case_id, reads=found["reads"]))
