"""The public consultation form (市民活動・協働の相談): no sign-in. What a person writes goes
to the consultation service's intake (clients/web/consultation.py) and nowhere else; the
answer page shows the reference number alone. Pages that hold what was written are not cached,
and nothing of it is logged."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from clients.web.app import Visit, visit_of
from clients.web.consultation import Refused
from clients.web.reading import Unavailable
from clients.web.routes import Form
from clients.web.security import private
from contracts.consultation import CaseKind, TopicCode

router = APIRouter()
log = logging.getLogger(__name__)
Seen = Annotated[Visit, Depends(visit_of)]
FIELDS = ("kind", "name", "email", "phone", "organisation", "narrative")
TOPICS = tuple(TopicCode)
KINDS = (CaseKind.ACTIVITY, CaseKind.COLLABORATION_PROPOSAL)


def render_form(visit: Visit, status: int = 200, **context: Any) -> Response:
    values = context.pop("values", {})
    return private(visit.render("consultation/form.html", status, values=values,
                                topics=TOPICS, kinds=KINDS, **context))  # fmt: skip


@router.get("/consultation")
async def form_page(visit: Seen) -> Response:
    return render_form(visit, values={"kind": CaseKind.ACTIVITY.value, "topics": []})


def intake_of(fields: dict[str, str], topics: list[str], language: str) -> dict[str, Any]:
    """The service's intake body: empty optional fields left out, its own checks decide."""
    body: dict[str, Any] = {"kind": fields.get("kind") or CaseKind.ACTIVITY.value,
                            "topics": topics, "language": language}  # fmt: skip
    for name in ("name", "narrative"):
        body[name] = fields.get(name, "")
    for name in ("email", "phone", "organisation"):
        if fields.get(name, "").strip():
            body[name] = fields[name].strip()
    return body


@router.post("/consultation")
async def send(visit: Seen, form: Form) -> Response:
    raw = await visit.request.form()
    topics = [t for t in raw.getlist("topics") if isinstance(t, str)][: len(TOPICS)]
    values = {**{k: form.get(k, "") for k in FIELDS}, "topics": topics}
    consultation = visit.parts.consultation
    try:
        if consultation is None:
            raise Unavailable("no consultation service")
        taken = await consultation.intake(intake_of(form, topics, visit.language), visit.client)
    except Unavailable:
        log.warning("the consultation form could not be sent: the service is away")
        return render_form(visit, 503, values=values, problem="consult.unavailable")
    if isinstance(taken, Refused):
        problem = "consult.throttled" if taken.throttled else "consult.invalid"
        return render_form(visit, 429 if taken.throttled else 400, values=values,
                           problem=problem, wrong=sorted(taken.fields))  # fmt: skip
    return private(visit.render("consultation/received.html", reference=taken.reference))
