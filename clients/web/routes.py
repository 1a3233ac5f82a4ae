"""The pages: spaces and what is free when (public), signing in by a mailed link, booking and
its outcome, one's reservations and cancelling them (an organisation's contact), and the
staff's day and week (staff, signed in with a password)."""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from clients.web import security, views
from clients.web.app import Commands, Visit, visit_of
from clients.web.booking import SPACES, Unavailable
from clients.web.identity import Outcome
from clients.web.steps import NOT_SENT
from contracts.booking import (
    CancelReservation,
    RejectionReason,
    RequestReservation,
    ReservationCancelled,
    ReservationCancelRejected,
    ReservationConfirmed,
    ReservationRejected,
    SpaceId,
)
from contracts.identity import Role

router = APIRouter()
log = logging.getLogger(__name__)
Seen = Annotated[Visit, Depends(visit_of)]
WEEK = 7
STAFF_ROLES = {Role.RECEPTION, Role.COORDINATOR, Role.CHIEF_COORDINATOR, Role.AUDITOR,
               Role.ADMINISTRATOR}  # fmt: skip
"""Whom the staff page is offered to: booking decides what each may read (its access table);
others are told their role does not show reservations."""


def staff_only(visit: Visit, roles: Collection[Role] | None = None,
               not_for_role: str = "staff.not_for_role") -> Response | None:  # fmt: skip
    """None for a signed-in staff member holding one of `roles` (any role when None); otherwise
    the page that says why not: sign in (401), or not for this role (403)."""
    if visit.signed is None or not visit.signed.who.is_staff:
        return visit.render("staff_sign_in.html", 401, problem="sign_in.needed")
    if roles is not None and not visit.signed.who.roles & set(roles):
        return visit.render("error.html", 403, message=visit.texts(not_for_role))
    return None


def commands(visit: Visit) -> Commands:
    if visit.parts.commands is None or not visit.parts.ready:
        raise Unavailable("not connected to Kafka yet")
    return visit.parts.commands


def redirect(visit: Visit, to: str) -> Response:
    return visit.finish(RedirectResponse(to, status_code=303))


def today() -> date:
    return datetime.now(views.TOKYO).date()


async def posted(request: Request, visit: Seen) -> dict[str, str]:
    """The form of a POST, once it is known to come from our own page: not from another site
    (Origin, Sec-Fetch-Site) and carrying this browser's and session's CSRF token."""
    settings = visit.parts.settings
    if security.cross_site(request.headers, settings.origin):
        log.info("a form posted from another site was refused")
        raise HTTPException(403, "cross-site")
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    if not security.csrf_valid(settings.secret_key, request.cookies.get("browser"),
                               visit.session, fields.get("csrf")):  # fmt: skip
        log.info("a form without a valid CSRF token was refused")
        raise HTTPException(403, "csrf")
    return fields


Form = Annotated[dict[str, str], Depends(posted)]


def day_of(text: str | None) -> date:
    try:
        found = date.fromisoformat(text) if text else today()
    except ValueError:
        return today()
    return found if date(2000, 1, 1) <= found <= date(2999, 12, 1) else today()


# --- public --------------------------------------------------------------------------------


@router.get("/")
async def home(visit: Seen) -> Response:
    return visit.render("home.html")


@router.get("/spaces")
async def spaces(visit: Seen, date: str | None = None, view: str = "day") -> Response:
    day = day_of(date)
    weekly = view == "week"
    last = day + timedelta(days=WEEK - 1 if weekly else 0)
    try:
        answers = await visit.parts.booking.availability(day, last)
    except Unavailable:
        return visit.render("spaces.html", 503, day=day, weekly=weekly, unavailable=True,
                            spaces=SPACES, timedelta=timedelta)  # fmt: skip
    context: dict[str, Any] = {"day": day, "weekly": weekly, "spaces": SPACES,
                               "unavailable": False, "timedelta": timedelta}  # fmt: skip
    if weekly:
        context["week"] = views.week(answers)
    else:
        context["grid"] = views.day_grid(day, answers)
    return visit.render("spaces.html", **context)


# --- signing in ----------------------------------------------------------------------------


def link_kind(value: str | None) -> str:
    """Whom a mailed link signs in: a citizen (their program registrations) or, by default,
    an organisation's contact."""
    return "citizen" if value == "citizen" else "organisation"


@router.get("/sign-in")
async def sign_in_page(
    visit: Seen, as_: Annotated[str | None, Query(alias="as")] = None
) -> Response:
    return visit.render("sign_in.html", kind=link_kind(as_))


@router.post("/sign-in")
async def sign_in(visit: Seen, form: Form) -> Response:
    email, kind = form.get("email", "").strip(), link_kind(form.get("as"))
    answer = await visit.parts.identity.ask_for_link(email, visit.client, kind)
    if answer.outcome is Outcome.SENT:
        return visit.render("link_sent.html")
    return visit.render("sign_in.html", 400 if answer.outcome is Outcome.BAD_ADDRESS else 503,
                        problem=f"identity.{answer.outcome.value}", email=email,
                        kind=kind)  # fmt: skip


@router.get("/links/{token}")
async def link_page(visit: Seen, token: str) -> Response:
    """The mailed link lands here: a page with a button, so that a mail scanner following the
    link uses nothing."""
    return visit.render("link.html", token=token)


@router.post("/links/{token}")
async def use_link(visit: Seen, token: str, form: Form) -> Response:
    answer = await visit.parts.identity.use_link(token, visit.client)
    if answer.outcome is Outcome.SIGNED_IN and answer.session:
        visit.set_session = answer.session
        return redirect(visit, "/my")
    return visit.render("link.html", 400, token=token,
                        problem=f"identity.{answer.outcome.value}")  # fmt: skip


@router.post("/sign-out")
async def sign_out(visit: Seen, form: Form) -> Response:
    if visit.session:
        await visit.parts.identity.sign_out(visit.session, visit.client)
    visit.session, visit.signed, visit.clear_session = None, None, True
    return redirect(visit, "/")


@router.get("/staff/sign-in")
async def staff_sign_in_page(visit: Seen) -> Response:
    return visit.render("staff_sign_in.html")


@router.post("/staff/sign-in")
async def staff_sign_in(visit: Seen, form: Form) -> Response:
    username = form.get("username", "")
    answer = await visit.parts.identity.staff_sign_in(username, form.get("password", ""),
                                                      visit.client)  # fmt: skip
    if answer.outcome is Outcome.SIGNED_IN and answer.session:
        visit.set_session = answer.session
        return redirect(visit, "/staff")
    status = 429 if answer.outcome is Outcome.THROTTLED else 401
    problem = ("staff_sign_in.refused" if answer.outcome is Outcome.REFUSED
               else f"identity.{answer.outcome.value}")  # fmt: skip
    return visit.render("staff_sign_in.html", status, username=username, problem=problem)


# --- an organisation books -----------------------------------------------------------------


def organisation_of(visit: Visit) -> UUID | None:
    if visit.signed is None or not visit.signed.who.is_organisation:
        return None
    return UUID(visit.signed.who.subject)


@router.get("/book")
async def book_page(visit: Seen, space: str = "a", date: str | None = None,
                    start: str = "10:00", end: str | None = None) -> Response:  # fmt: skip
    if organisation_of(visit) is None:
        return visit.render("sign_in.html", 401, problem="sign_in.needed")
    chosen = SpaceId(space) if space in {s.value for s in SpaceId} else SpaceId.A
    times = views.half_hours()
    start = start if start in times else "10:00"
    end = end if end in times else times[min(times.index(start) + 2, len(times) - 1)]
    values = {"space": chosen.value, "date": day_of(date).isoformat(), "start": start,
              "end": end, "attendees": "1", "purpose": "", "atrium": ""}  # fmt: skip
    return visit.render("book.html", values=values, times=times, spaces=SPACES)


def reservation_request(organisation: UUID, form: dict[str, str]) -> RequestReservation | None:
    """The command the form asks for, or None when the form cannot make one (booking judges
    everything else: hours, conflicts, seats, the window)."""
    try:
        day = date.fromisoformat(form.get("date", ""))
        starts = datetime.combine(day, datetime.strptime(form.get("start", ""), "%H:%M").time(),
                                  views.TOKYO)  # fmt: skip
        ends = datetime.combine(day, datetime.strptime(form.get("end", ""), "%H:%M").time(),
                                views.TOKYO)  # fmt: skip
        return RequestReservation(
            message_id=uuid4(), organisation_id=organisation, space=SpaceId(form.get("space", "")),
            starts_at=starts, ends_at=ends, attendees=int(form.get("attendees", "")),
            purpose=form.get("purpose", ""), atrium=form.get("atrium") == "yes",
        )  # fmt: skip
    except (ValueError, ValidationError):
        return None


@router.post("/book")
async def book(visit: Seen, form: Form) -> Response:
    organisation = organisation_of(visit)
    if organisation is None or visit.signed is None:
        return visit.render("sign_in.html", 401, problem="sign_in.needed")
    command = reservation_request(organisation, form)
    values = {k: form.get(k, "") for k in ("space", "date", "start", "end", "attendees",
                                           "purpose", "atrium")}  # fmt: skip
    if command is None:
        return visit.render("book.html", 400, values=values, times=views.half_hours(),
                            spaces=SPACES, problem="book.invalid")  # fmt: skip
    try:
        await commands(visit).publish(command, visit.signed.token)
    except NOT_SENT:  # Kafka away: nothing was sent, the form keeps what was typed
        return visit.render("book.html", 503, values=values, times=views.half_hours(),
                            spaces=SPACES, problem="book.unavailable")  # fmt: skip
    return redirect(visit, f"/requests/{command.message_id}")


@router.get("/requests/{request_id}")
async def outcome(visit: Seen, request_id: UUID) -> Response:
    """The outcome of one's own request: waited for here (without blocking the server) up to
    ANSWER_WAIT_S; still pending, the page says so and looks again (by itself with script)."""
    if visit.signed is None:
        return visit.render("sign_in.html", 401, problem="sign_in.needed")
    try:
        answer = await commands(visit).answer(request_id, visit.signed.token,
                                                   visit.parts.settings.answer_wait_s)  # fmt: skip
    except NOT_SENT:
        answer = None
    context: dict[str, Any] = {"request_id": request_id, "answer": answer}
    if isinstance(answer, ReservationConfirmed):
        r = answer.reservation
        context["row"] = views.ReservationRow(
            str(answer.reservation_id), r.space, views.tokyo(r.starts_at).date(),
            views.hhmm(r.starts_at), views.hhmm(r.ends_at), r.attendees, r.purpose, r.atrium,
            False, True,
        )  # fmt: skip
        return visit.render("outcome.html", state="confirmed", **context)
    if isinstance(answer, ReservationRejected | ReservationCancelRejected):
        reason = answer.reason if isinstance(answer.reason, RejectionReason) else None
        return visit.render("outcome.html", state="rejected",
                            reason=reason.value if reason else "invalid", **context)  # fmt: skip
    if isinstance(answer, ReservationCancelled):
        return visit.render("outcome.html", state="cancelled", **context)
    return visit.render("outcome.html", 202, state="pending", **context)


@router.get("/my")
async def mine(visit: Seen) -> Response:
    """Where a mailed link leads once used: a citizen's registrations, an organisation's
    reservations."""
    if visit.signed is not None and visit.signed.who.is_citizen:
        return redirect(visit, "/my/registrations")
    return redirect(visit, "/my/reservations")


@router.get("/my/reservations")
async def my_reservations(visit: Seen) -> Response:
    organisation = organisation_of(visit)
    if organisation is None or visit.signed is None:
        return visit.render("sign_in.html", 401, problem="sign_in.needed")
    try:
        found = await visit.parts.booking.reservations_of(organisation, visit.signed.token)
    except Unavailable:
        return visit.render("reservations.html", 503, rows=[], unavailable=True)
    rows = views.reservation_rows(found, datetime.now(views.TOKYO))
    rows = [r for r in rows if r.upcoming] + [r for r in rows if not r.upcoming]
    return visit.render("reservations.html", rows=rows, unavailable=False)


@router.post("/my/reservations/{reservation_id}/cancel")
async def cancel(visit: Seen, reservation_id: UUID, form: Form) -> Response:
    organisation = organisation_of(visit)
    if organisation is None or visit.signed is None:
        return visit.render("sign_in.html", 401, problem="sign_in.needed")
    command = CancelReservation(message_id=uuid4(), reservation_id=reservation_id,
                                organisation_id=organisation)  # fmt: skip
    try:
        await commands(visit).publish(command, visit.signed.token)
    except NOT_SENT:
        return visit.render("error.html", 503, message=visit.texts("book.unavailable"))
    return redirect(visit, f"/requests/{command.message_id}")


# --- staff ---------------------------------------------------------------------------------


@router.get("/staff")
async def staff(visit: Seen, date: str | None = None) -> Response:
    if (refused := staff_only(visit, STAFF_ROLES)) is not None or visit.signed is None:
        return refused or Response(status_code=401)
    first = day_of(date)
    try:
        found = await visit.parts.booking.day_sheet(first, first + timedelta(days=WEEK - 1),
                                                    visit.signed.token)  # fmt: skip
    except Unavailable:
        return visit.render("staff.html", 503, first=first, today_rows=[], week_rows=[],
                            unavailable=True, timedelta=timedelta)  # fmt: skip
    rows = views.reservation_rows(found, datetime.now(views.TOKYO))
    return visit.render("staff.html", first=first, unavailable=False, timedelta=timedelta,
                        today_rows=[r for r in rows if r.day == first],
                        week_rows=[r for r in rows if r.day != first])  # fmt: skip
