"""The newsletter's pages: asking for it (public), and the editor's compose, preview, send and
progress (staff with the newsletter editor's role).

Asking for the newsletter posts to notify (clients/web/notify.py), which mails a confirmation
link: the confirmation and the unsubscribe pages are notify's own, linked from its mails, in
Japanese and English as these pages are; the answer here is the same whether or not the address
was subscribed already. The preview is rendered by notify with the sender's own Markdown rules
and shown in a sandboxed frame (no script, no form, no navigation of this page). Sending
publishes `newsletter.publish` with the editor's token; notify decides and answers.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
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
from contracts.identity import Role
from contracts.notify import NewsletterRejected, NewsletterScheduled, PublishNewsletter

router = APIRouter()
log = logging.getLogger(__name__)
Seen = Annotated[Visit, Depends(visit_of)]
MAX_SUBJECT = 200
MAX_BODY = 200_000


# --- public --------------------------------------------------------------------------------


@router.get("/newsletter")
async def subscribe_page(visit: Seen) -> Response:
    return visit.render("newsletter/subscribe.html")


@router.post("/newsletter")
async def subscribe(visit: Seen, form: Form) -> Response:
    email = form.get("email", "").strip()[:254]
    notify = visit.parts.notify
    try:
        if notify is None:
            raise Unavailable("no notify service")
        refused = await notify.subscribe(email, visit.language, visit.client)
    except Unavailable:
        return visit.render("newsletter/subscribe.html", 503, email=email,
                            problem="letter.unavailable")  # fmt: skip
    if refused is None:
        return visit.render("newsletter/sent.html")
    if refused.throttled:
        return visit.render("newsletter/subscribe.html", 429, email=email,
                            problem="letter.throttled")  # fmt: skip
    return visit.render("newsletter/subscribe.html", 400, email=email, problem="letter.invalid",
                        reason=refused.reason)  # fmt: skip


# --- the editor ------------------------------------------------------------------------------


def editor(visit: Visit) -> Response | None:
    """None for a signed-in newsletter editor; else the page that says why not."""
    return staff_only(visit, {Role.NEWSLETTER_EDITOR}, "letter.not_editor")


def draft_of(form: dict[str, str]) -> dict[str, str]:
    subject, body = form.get("subject", ""), form.get("body", "")
    return {"subject": subject[:MAX_SUBJECT], "body": body[:MAX_BODY]}


@router.get("/staff/newsletter")
async def compose(visit: Seen) -> Response:
    if (refused := editor(visit)) is not None:
        return refused
    return private(visit.render("newsletter/compose.html", draft={"subject": "", "body": ""}))


@router.post("/staff/newsletter/preview")
async def preview(visit: Seen, form: Form) -> Response:
    if (refused := editor(visit)) is not None or visit.signed is None:
        return refused or Response(status_code=401)
    draft = draft_of(form)
    if not draft["subject"].strip() or not draft["body"].strip():
        return private(visit.render("newsletter/compose.html", 400, draft=draft,
                                    problem="letter.empty"))  # fmt: skip
    try:
        assert visit.parts.notify is not None
        html = await visit.parts.notify.preview(draft["subject"], draft["body"],
                                                visit.signed.token)  # fmt: skip
    except (Unavailable, AssertionError):
        return private(visit.render("newsletter/compose.html", 503, draft=draft,
                                    problem="letter.unavailable"))  # fmt: skip
    return private(visit.render("newsletter/compose.html", draft=draft, preview=html))


@router.post("/staff/newsletter")
async def send(visit: Seen, form: Form) -> Response:
    if (refused := editor(visit)) is not None or visit.signed is None:
        return refused or Response(status_code=401)
    draft = draft_of(form)
    try:
        issue = PublishNewsletter(message_id=uuid4(), subject=draft["subject"],
                                  body_markdown=draft["body"])  # fmt: skip
    except ValidationError:
        return private(visit.render("newsletter/compose.html", 400, draft=draft,
                                    problem="letter.empty"))  # fmt: skip
    commands = visit.parts.notify_commands
    try:
        if commands is None:
            raise Unavailable("not connected to Kafka yet")
        await commands.publish(issue, visit.signed.token)
    except NOT_SENT:  # Kafka away: nothing was sent, the draft stays on the page
        return private(visit.render("newsletter/compose.html", 503, draft=draft,
                                    problem="letter.unavailable"))  # fmt: skip
    log.info("newsletter issue %s published by %s", issue.message_id, visit.signed.who.subject)
    return visit.finish(RedirectResponse(f"/staff/newsletter/{issue.message_id}", status_code=303))


@router.get("/staff/newsletter/{issue_id}")
async def progress(visit: Seen, issue_id: UUID) -> Response:
    """notify's answer to the issue (scheduled, or refused and why), then its progress; with
    script the page fetches its figures again every few seconds while the issue is on its way
    (static/progress.js: no page refresh, which WCAG 2.2.1 forbids), without it a link does."""
    if (refused := editor(visit)) is not None or visit.signed is None:
        return refused or Response(status_code=401)
    context: dict[str, Any] = {"issue_id": issue_id, "state": "pending", "figures": None}
    try:
        assert visit.parts.notify is not None
        figures = await visit.parts.notify.progress(issue_id, visit.signed.token)
    except (Unavailable, AssertionError):
        figures = None
    if figures is None and visit.parts.notify_commands is not None:
        try:
            answer = await visit.parts.notify_commands.answer(issue_id, visit.signed.token, 2.0)
        except NOT_SENT:
            answer = None
        if isinstance(answer, NewsletterRejected):
            context.update(state="rejected", detail=answer.detail)
        elif isinstance(answer, NewsletterScheduled):
            context.update(state="scheduled")
    if figures is not None:
        done = figures["remaining"] == 0 and figures["recipients"] is not None
        context.update(state="done" if done else "sending", figures=figures,
                       now=datetime.now(UTC))  # fmt: skip
    return private(visit.render("newsletter/progress.html", **context))
