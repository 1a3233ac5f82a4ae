"""The public request to register an organisation: no sign-in. It goes to booking as
`organisation.request_registration`, without a person's proof (booking admits anyone to ask),
and waits there for the interview; staff register the organisation afterwards from the
back-office. The page says the request was received: the staff get in touch, and whether the
address already had a request waiting is not told to whoever holds the page."""

from __future__ import annotations

from typing import Annotated
from uuid import uuid4

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import ValidationError

from clients.web.app import Visit, visit_of
from clients.web.routes import Form, commands
from clients.web.security import private
from clients.web.steps import NOT_SENT
from contracts.booking import OrganisationKind, RequestOrganisationRegistration

router = APIRouter()
Seen = Annotated[Visit, Depends(visit_of)]
FIELDS = ("name", "kind", "contact_name", "contact_email", "newsletter_consent", "note")
KINDS = tuple(OrganisationKind)


def form_page(visit: Visit, status: int = 200, values: dict[str, str] | None = None,
              problem: str | None = None) -> Response:  # fmt: skip
    fresh = {"kind": OrganisationKind.CITIZEN_GROUP.value}
    return private(visit.render("apply.html", status, kinds=KINDS, problem=problem,
                                values=values or fresh))  # fmt: skip


@router.get("/organisations/apply")
async def apply_page(visit: Seen) -> Response:
    return form_page(visit)


def request_of(form: dict[str, str]) -> RequestOrganisationRegistration | None:
    try:
        return RequestOrganisationRegistration(
            message_id=uuid4(), name=form.get("name", "").strip(),
            kind=OrganisationKind(form.get("kind", "")),
            contact_name=form.get("contact_name", "").strip(),
            contact_email=form.get("contact_email", "").strip(),
            newsletter_consent=form.get("newsletter_consent") == "yes",
            note=" ".join(form.get("note", "").split())[:500],
        )  # fmt: skip
    except (ValueError, ValidationError):
        return None


@router.post("/organisations/apply")
async def apply(visit: Seen, form: Form) -> Response:
    values = {k: form.get(k, "") for k in FIELDS}
    command = request_of(form)
    if command is None:
        return form_page(visit, 400, values, "apply.invalid")
    try:
        await commands(visit).publish(command, None)
    except NOT_SENT:  # nothing was sent: the form keeps what was typed
        return form_page(visit, 503, values, "apply.unavailable")
    return visit.render("applied.html")
