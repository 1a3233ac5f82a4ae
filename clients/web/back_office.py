"""The staff's back-office for organisations and days: the registration requests waiting for
their interview, the directory of organisations with their standing, where the desk registers
an organisation after its interview (from its request, or at the counter) and renews it,
and coordinators suspend and reinstate; and the days, where coordinators close the center on a
day (a blackout, with its reason) and open it again, beside the closing times the evening
cut-off decided.

Every step is booking's command, sent with the staff member's token; booking decides who may
do it (services/booking/access.py) and the page shows its refusal by reason. The page waits
for the answer a few seconds; still undecided, it says so.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from clients.web import views
from clients.web.app import Visit, visit_of
from clients.web.reading import Unavailable, get_json
from clients.web.routes import STAFF_ROLES, Form, day_of, staff_only, today
from clients.web.security import private
from clients.web.steps import answer_to
from contracts.booking import (
    BlackoutLiftRejected,
    BlackoutRejected,
    CloseRegistrationRequest,
    LiftBlackout,
    OrganisationCommandRejected,
    OrganisationKind,
    RegisterOrganisation,
    ReinstateOrganisation,
    RejectionReason,
    RenewOrganisation,
    SetBlackout,
    SuspendOrganisation,
)
from contracts.envelope import Message
from contracts.identity import Role

router = APIRouter()
Seen = Annotated[Visit, Depends(visit_of)]
DAYS_SHOWN = 90
PAGE_SIZE = 50  # organisations a page
DESK = {Role.RECEPTION, Role.COORDINATOR, Role.CHIEF_COORDINATOR, Role.ADMINISTRATOR}
STANDING = {Role.COORDINATOR, Role.CHIEF_COORDINATOR, Role.ADMINISTRATOR}
KINDS = tuple(OrganisationKind)
REGISTER_FIELDS = ("name", "kind", "contact_name", "contact_email", "newsletter_consent")


def refused(visit: Visit) -> Response | None:
    """None for the staff who handle bookings; otherwise the page that says why not."""
    return staff_only(visit, STAFF_ROLES)


async def step(visit: Visit, command: Message) -> str | None:
    """Send a step and wait for booking's answer: None once done, else the catalog key of why
    not (refused by reason, still pending, or Kafka away)."""
    assert visit.signed is not None
    try:
        answer = await answer_to(visit.parts.commands, visit.parts.ready, command,
                                 visit.signed.token)  # fmt: skip
    except Unavailable:
        return "office.unavailable"
    if answer is None:
        return "office.pending"
    if isinstance(answer, OrganisationCommandRejected | BlackoutRejected | BlackoutLiftRejected):
        reason = answer.reason
        if reason is RejectionReason.NOT_FOUND and isinstance(
            command, CloseRegistrationRequest | RegisterOrganisation
        ):
            return "office.request_gone"
        return f"reason.{reason.value if isinstance(reason, RejectionReason) else 'invalid'}"
    return None


def done(visit: Visit, to: str, what: str, q: str = "") -> Response:
    """Back to the page, saying what was done (and still showing what was searched for)."""
    query = urlencode({"done": what, **({"q": q} if q else {})})
    return visit.finish(RedirectResponse(f"{to}?{query}", status_code=303))


# --- organisations -------------------------------------------------------------------------


async def organisations_page(visit: Visit, status: int = 200, q: str = "", page: int = 1,
                             **extra: Any) -> Response:  # fmt: skip
    """The directory, those whose name holds `q` (full- and half-width alike), a page of
    PAGE_SIZE at a time."""
    assert visit.signed is not None
    roles = visit.signed.who.roles
    try:
        body = await get_json(visit.parts.booking.http, "/organisations/directory",
                              visit.signed.token)  # fmt: skip
        waiting = await requests_of(visit)
    except Unavailable:
        return private(visit.render("office/organisations.html", 503, rows=[], kinds=KINDS,
                                    unavailable=True, values={}, desk=False, standing=False,
                                    q=q, page=1, pages=1, total=0, requests=[]))  # fmt: skip
    wanted = views.folded(q.strip())
    found = [o for o in body["organisations"] if wanted in views.folded(o["name"])]
    pages = max(1, -(-len(found) // PAGE_SIZE))
    page = min(max(page, 1), pages)
    rows = [{**o, "until": views.tokyo(o["valid_until"]).date()}
            for o in found[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]]  # fmt: skip
    extra.setdefault("values", {"kind": OrganisationKind.CITIZEN_GROUP.value})
    return private(visit.render("office/organisations.html", status, rows=rows, kinds=KINDS,
                                unavailable=False, desk=bool(roles & DESK), total=len(found),
                                standing=bool(roles & STANDING), q=q, page=page, pages=pages,
                                requests=waiting, **extra))  # fmt: skip


@router.get("/staff/organisations")
async def organisations(
    visit: Seen, done: str | None = None, q: str = "", page: int = 1
) -> Response:
    if (no := refused(visit)) is not None:
        return no
    return await organisations_page(visit, q=q[:100], page=page,
                                    done=done if done in ORGANISATION_STEPS else None)  # fmt: skip


def registration(form: dict[str, str]) -> RegisterOrganisation | None:
    try:
        return RegisterOrganisation(
            message_id=uuid4(), name=form.get("name", "").strip(),
            kind=OrganisationKind(form.get("kind", "")),
            contact_name=form.get("contact_name", "").strip(),
            contact_email=form.get("contact_email", "").strip(),
            newsletter_consent=form.get("newsletter_consent") == "yes",
        )  # fmt: skip
    except (ValueError, ValidationError):
        return None


@router.post("/staff/organisations/register")
async def register(visit: Seen, form: Form) -> Response:
    if (no := refused(visit)) is not None:
        return no
    values = {k: form.get(k, "") for k in REGISTER_FIELDS}
    command = registration(form)
    if command is None:
        return await organisations_page(visit, 400, problem="office.invalid", values=values)
    if (why := await step(visit, command)) is not None:
        return await organisations_page(visit, 409, problem=why, values=values)
    return done(visit, "/staff/organisations", "register", command.name)


ORGANISATION_STEPS = ("register", "renew", "suspend", "reinstate", "close_request")


async def requests_of(visit: Visit) -> list[dict[str, Any]]:
    """The registration requests waiting for their interview, oldest first."""
    assert visit.signed is not None
    body = await get_json(visit.parts.booking.http, "/organisations/requests", visit.signed.token)
    return [{**r, "day": views.tokyo(r["requested_at"]).date()} for r in body["requests"]]


@router.post("/staff/organisations/requests/{request_id}/{action}")
async def request_step(visit: Seen, request_id: UUID, action: str, form: Form) -> Response:
    """After the interview: register the organisation as it asked (the request's own fields,
    read again here), or close the request with a reason."""
    if (no := refused(visit)) is not None:
        return no
    command: Message | None = None
    if action == "close":
        command = CloseRegistrationRequest(message_id=uuid4(), registration_request_id=request_id,
                                           reason=form.get("reason", "").strip()[:500])  # fmt: skip
    elif action == "register":
        try:
            asked = next(r for r in await requests_of(visit)
                         if r["registration_request_id"] == str(request_id))  # fmt: skip
        except (Unavailable, StopIteration):
            return await organisations_page(visit, 404, problem="office.request_gone")
        command = registration({**asked, "newsletter_consent":
                                "yes" if asked["newsletter_consent"] else ""})  # fmt: skip
        if command is not None:
            command = command.model_copy(update={"registration_request_id": request_id})
    if command is None:
        return await organisations_page(visit, 400, problem="office.invalid")
    if (why := await step(visit, command)) is not None:
        return await organisations_page(visit, 409, problem=why)
    return done(visit, "/staff/organisations", "register" if action == "register" else
                "close_request")  # fmt: skip


def standing_step(action: str, organisation_id: UUID, reason: str) -> Message | None:
    if action == "renew":
        return RenewOrganisation(message_id=uuid4(), organisation_id=organisation_id)
    if action == "suspend":
        return SuspendOrganisation(message_id=uuid4(), organisation_id=organisation_id,
                                   reason=reason.strip()[:500])  # fmt: skip
    if action == "reinstate":
        return ReinstateOrganisation(message_id=uuid4(), organisation_id=organisation_id)
    return None


@router.post("/staff/organisations/{organisation_id}/{action}")
async def organisation_step(
    visit: Seen, organisation_id: UUID, action: str, form: Form
) -> Response:
    if (no := refused(visit)) is not None:
        return no
    command = standing_step(action, organisation_id, form.get("reason", ""))
    if command is None:
        return await organisations_page(visit, 400, problem="office.invalid")
    if (why := await step(visit, command)) is not None:
        return await organisations_page(visit, 409, problem=why)
    return done(visit, "/staff/organisations", action, form.get("q", "")[:100])


# --- days ----------------------------------------------------------------------------------


async def days_page(visit: Visit, first: date, status: int = 200, **extra: Any) -> Response:
    assert visit.signed is not None
    last = first + timedelta(days=DAYS_SHOWN - 1)
    try:
        body = await get_json(visit.parts.booking.http, "/days", visit.signed.token,
                              {"from": first.isoformat(), "to": last.isoformat()})  # fmt: skip
    except Unavailable:
        return private(visit.render("office/days.html", 503, unavailable=True, first=first,
                                    last=last, blackouts=[], closings=[],
                                    standing=False))  # fmt: skip
    closings = [{"day": c["day"], "closes": views.hhmm(c["closes_at"])} for c in body["closings"]]
    return private(visit.render("office/days.html", status, unavailable=False, first=first,
                                last=last, blackouts=body["blackouts"], closings=closings,
                                standing=bool(visit.signed.who.roles & STANDING),
                                **extra))  # fmt: skip


@router.get("/staff/days")
async def days(visit: Seen, date: str | None = None, done: str | None = None) -> Response:
    if (no := refused(visit)) is not None:
        return no
    return await days_page(visit, day_of(date), done=done if done in ("set", "lift") else None)


@router.post("/staff/days/blackout")
async def set_blackout(visit: Seen, form: Form) -> Response:
    if (no := refused(visit)) is not None:
        return no
    try:
        command: Message = SetBlackout(
            message_id=uuid4(), day=date.fromisoformat(form.get("day", "")),
            reason=form.get("reason", "").strip()[:500],
        )  # fmt: skip
    except (ValueError, ValidationError):
        return await days_page(visit, today(), 400, problem="office.invalid")
    if (why := await step(visit, command)) is not None:
        return await days_page(visit, today(), 409, problem=why)
    return done(visit, "/staff/days", "set")


@router.post("/staff/days/{day}/lift")
async def lift_blackout(visit: Seen, day: str, form: Form) -> Response:
    if (no := refused(visit)) is not None:
        return no
    try:
        command: Message = LiftBlackout(message_id=uuid4(), day=date.fromisoformat(day))
    except (ValueError, ValidationError):
        return await days_page(visit, today(), 400, problem="office.invalid")
    if (why := await step(visit, command)) is not None:
        return await days_page(visit, today(), 409, problem=why)
    return done(visit, "/staff/days", "lift")
