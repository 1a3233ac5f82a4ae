"""The kiosk screen at the Lab reception: a touch screen, Japanese first, large targets, a
choice wherever one serves instead of typing.

- Lab check-in: choose the organisation, then the number of people; the usage slip's number is
  shown. Check-out: choose the slip from those still open. Event check-in: choose one of today's
  sessions, then the code of the confirmation mail (typed, or read by a QR scanner that types it
  into the focused field). Today's spaces: what is free in Space A, B, A+B and the Lab.
- The screen is a paired device: a staff member types the device's name and secret (registered
  by an administrator at identity) once; the browser keeps them in an HttpOnly cookie, and each
  command and read is sent with a short-lived device token identity issues for them. Booking and
  events decide what the device may do; this module decides nothing they decide.
- Nothing lost, nothing doubled: every form carries a message id made when the form was shown,
  and the command is published with it, so sending it again (a second touch, a resend after an
  outage) is answered with the first outcome and acted on once. When Kafka is away the screen
  says so and keeps the form, ready to be sent again with the same id; with script
  (static/kiosk.js) it also keeps the form when the web itself is unreachable and resends it
  when the connection returns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from clients.web import views
from clients.web.app import Commands, Visit, visit_of
from clients.web.booking import SPACES
from clients.web.identity import Signed
from clients.web.reading import Unavailable
from clients.web.routes import Form
from clients.web.security import private
from clients.web.steps import NOT_SENT
from contracts.booking import (
    LabCheckedIn,
    LabCheckedOut,
    LabCheckIn,
    LabCheckInRejected,
    LabCheckOut,
    LabCheckOutRejected,
)
from contracts.envelope import Message
from contracts.program import AttendanceRecorded, AttendanceRejected, CheckIn

router = APIRouter()
log = logging.getLogger(__name__)
Seen = Annotated[Visit, Depends(visit_of)]
PAGE_SIZE = 24  # organisations per page: four rows of six large buttons
PEOPLE_CHOICES = tuple(range(1, 11))  # more than ten people type the number
SERVICES = ("booking", "events")


def cookie_name(visit: Visit) -> str:
    return "__Host-ycc_kiosk" if visit.parts.settings.secure_cookies else "ycc_kiosk"


def paired(visit: Visit) -> tuple[str, str] | None:
    """The device's name and secret the browser was paired with (a name holds no ':')."""
    value = visit.request.cookies.get(cookie_name(visit), "")
    device, colon, secret = value.partition(":")
    return (device, secret) if colon and device and secret else None


async def device_of(visit: Visit) -> Signed | None:
    found = paired(visit)
    if found is None:
        return None
    return await visit.parts.identity.device_signed(*found, visit.client)


def render(visit: Visit, template: str, status: int = 200, **context: Any) -> Response:
    """A kiosk page: never cached (it shows who is in the Lab and what was entered)."""
    return private(visit.render(f"kiosk/{template}", status, **context))


def pairing_page(visit: Visit, status: int = 401, problem: str | None = None) -> Response:
    return render(visit, "pair.html", status, problem=problem)


def today() -> date:
    return datetime.now(views.TOKYO).date()


def fresh_id() -> str:
    return str(uuid4())


# --- pairing -------------------------------------------------------------------------------


@router.get("/kiosk")
async def home(visit: Seen) -> Response:
    if await device_of(visit) is None:
        return pairing_page(visit)
    try:
        lab = await visit.parts.booking.lab_occupancy()
    except Unavailable:
        lab = None
    return render(visit, "home.html", lab=lab)


@router.post("/kiosk/pair")
async def pair(visit: Seen, form: Form) -> Response:
    device, secret = form.get("device", "").strip(), form.get("secret", "").strip()
    if ":" in device or not device or not secret:
        return pairing_page(visit, 400, "kiosk.pair.refused")
    if await visit.parts.identity.device_signed(device, secret, visit.client) is None:
        log.info("a kiosk pairing was refused")
        return pairing_page(visit, 401, "kiosk.pair.refused")
    response = visit.finish(RedirectResponse("/kiosk", status_code=303))
    response.set_cookie(cookie_name(visit), f"{device}:{secret}", max_age=400 * 86400, path="/",
                        httponly=True, samesite="strict",
                        secure=visit.parts.settings.secure_cookies)  # fmt: skip
    return response


@router.post("/kiosk/unpair")
async def unpair(visit: Seen, form: Form) -> Response:
    response = visit.finish(RedirectResponse("/kiosk", status_code=303))
    response.delete_cookie(cookie_name(visit), path="/", httponly=True, samesite="strict",
                           secure=visit.parts.settings.secure_cookies)  # fmt: skip
    return response


# --- sending and the outcome ---------------------------------------------------------------


def commands_for(visit: Visit, service: str) -> Commands:
    parts = visit.parts
    found = parts.commands if service == "booking" else parts.program_commands
    if found is None or not parts.ready:
        raise Unavailable("not connected to Kafka yet")
    return found


async def send(visit: Visit, device: Signed, service: str, command: Message,
               form: dict[str, str], action: str) -> Response:  # fmt: skip
    """Publish with the form's own id and go to its outcome; Kafka away, the same form again,
    to be resent with the same id (by a touch, or by itself with script)."""
    try:
        await commands_for(visit, service).publish(command, device.token)
    except NOT_SENT as error:  # nothing was sent: the form keeps what was chosen
        log.warning("a kiosk command could not be sent (%s)", type(error).__name__)
        kept = {k: v for k, v in form.items() if k != "csrf"}
        return render(visit, "unsent.html", 503, action=action, kept=kept)
    return visit.finish(RedirectResponse(f"/kiosk/answers/{service}/{command.message_id}",
                                         status_code=303))  # fmt: skip


def message_id_of(form: dict[str, str]) -> UUID | None:
    try:
        return UUID(form.get("message_id", ""))
    except ValueError:
        return None


async def submit(visit: Visit, form: dict[str, str], service: str, action: str,
                 command: Callable[[UUID], Message], invalid: str) -> Response:  # fmt: skip
    """A kiosk form: from a paired screen, with the id it was shown with, made into the
    service's command (or answered `invalid` without sending anything), then sent."""
    device = await device_of(visit)
    if device is None:
        return pairing_page(visit)
    message_id = message_id_of(form)
    try:
        made = command(message_id) if message_id is not None else None
    except (ValueError, ValidationError):
        made = None
    if made is None:
        return render(visit, "outcome.html", 400, state="rejected", reason=invalid)
    return await send(visit, device, service, made, form, action)


@router.get("/kiosk/answers/{service}/{request_id}")
async def outcome(visit: Seen, service: str, request_id: UUID) -> Response:
    """The outcome of the kiosk's own command, waited for here up to ANSWER_WAIT_S; still
    pending, the page says so and looks again (by itself with script)."""
    device = await device_of(visit)
    if device is None:
        return pairing_page(visit)
    if service not in SERVICES:
        return render(visit, "outcome.html", 404, state="unknown")
    try:
        answer = await commands_for(visit, service).answer(
            request_id, device.token, visit.parts.settings.answer_wait_s
        )
    except NOT_SENT:
        answer = None
    if isinstance(answer, LabCheckedIn):
        return render(visit, "outcome.html", state="checked_in", answer=answer)
    if isinstance(answer, LabCheckedOut):
        return render(visit, "outcome.html", state="checked_out", answer=answer)
    if isinstance(answer, AttendanceRecorded):
        return render(visit, "outcome.html", state="attended", answer=answer)
    if isinstance(answer, LabCheckInRejected | LabCheckOutRejected | AttendanceRejected):
        area = "event" if isinstance(answer, AttendanceRejected) else "lab"
        return render(visit, "outcome.html", 409, state="rejected",
                      reason=reason_key(area, answer.reason))  # fmt: skip
    return render(visit, "outcome.html", 202, state="pending", request_id=request_id,
                  service=service)  # fmt: skip


KNOWN_REASONS = {
    "lab": {"capacity", "closed", "not_registered", "not_found", "forbidden", "unauthorized"},
    "event": {"not_found", "already_recorded", "closed", "conflict", "forbidden",
              "unauthorized"},
}  # fmt: skip


def reason_key(area: str, reason: object) -> str:
    value = getattr(reason, "value", str(reason))
    return f"kiosk.reason.{area}.{value if value in KNOWN_REASONS[area] else 'other'}"


# --- the Lab -------------------------------------------------------------------------------


@router.get("/kiosk/lab")
async def organisations(visit: Seen, q: str = "", page: int = 1) -> Response:
    device = await device_of(visit)
    if device is None:
        return pairing_page(visit)
    q = q[:50]
    try:
        found = await visit.parts.booking.organisations(device.token)
    except Unavailable:
        return render(visit, "organisations.html", 503, unavailable=True, q=q)
    if q.strip():
        found = [o for o in found if views.folded(q.strip()) in views.folded(o["name"])]
    pages = max(1, -(-len(found) // PAGE_SIZE))
    page = min(max(page, 1), pages)
    shown = found[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    return render(visit, "organisations.html", unavailable=False, q=q, shown=shown, page=page,
                  pages=pages)  # fmt: skip


@router.get("/kiosk/lab/{organisation_id}")
async def people(visit: Seen, organisation_id: UUID) -> Response:
    device = await device_of(visit)
    if device is None:
        return pairing_page(visit)
    try:
        found = await visit.parts.booking.organisations(device.token)
    except Unavailable:
        return render(visit, "organisations.html", 503, unavailable=True, q="")
    named = next((o for o in found if o["id"] == str(organisation_id)), None)
    if named is None:
        return render(visit, "outcome.html", 404, state="rejected",
                      reason="kiosk.reason.lab.not_registered")  # fmt: skip
    return render(visit, "people.html", organisation=named, choices=PEOPLE_CHOICES,
                  message_id=fresh_id())  # fmt: skip


@router.post("/kiosk/lab/check-in")
async def check_in(visit: Seen, form: Form) -> Response:
    def command(message_id: UUID) -> Message:
        people = int(form.get("people") or form.get("more") or "")
        organisation_id = UUID(form.get("organisation_id", ""))
        return LabCheckIn(message_id=message_id, organisation_id=organisation_id, people=people)

    return await submit(visit, form, "booking", "/kiosk/lab/check-in", command,
                        "kiosk.reason.lab.invalid")  # fmt: skip


@router.get("/kiosk/out")
async def open_visits(visit: Seen) -> Response:
    device = await device_of(visit)
    if device is None:
        return pairing_page(visit)
    try:
        visits = await visit.parts.booking.open_visits(device.token)
    except Unavailable:
        return render(visit, "visits.html", 503, unavailable=True, visits=[])
    shown = [{**v, "since": views.hhmm(v["checked_in_at"])} for v in visits]
    return render(visit, "visits.html", unavailable=False, message_id=fresh_id, visits=shown)


@router.post("/kiosk/out")
async def check_out(visit: Seen, form: Form) -> Response:
    def command(message_id: UUID) -> Message:
        return LabCheckOut(message_id=message_id, slip_number=form.get("slip", ""))

    return await submit(visit, form, "booking", "/kiosk/out", command,
                        "kiosk.reason.lab.invalid")  # fmt: skip


# --- events --------------------------------------------------------------------------------


@router.get("/kiosk/event")
async def sessions(visit: Seen) -> Response:
    if await device_of(visit) is None:
        return pairing_page(visit)
    programs = visit.parts.programs
    try:
        if programs is None:
            raise Unavailable("no events service")
        found = await programs.sessions_on(today())
    except Unavailable:
        return render(visit, "sessions.html", 503, unavailable=True, sessions=[])
    return render(visit, "sessions.html", unavailable=False, sessions=[
        {**s, "starts": views.hhmm(s["starts_at"]), "ends": views.hhmm(s["ends_at"])}
        for s in found
    ])  # fmt: skip


@router.get("/kiosk/event/{session_id}")
async def code_page(visit: Seen, session_id: UUID, title: str = "") -> Response:
    if await device_of(visit) is None:
        return pairing_page(visit)
    return render(visit, "code.html", session_id=session_id, title=title[:200],
                  message_id=fresh_id())  # fmt: skip


@router.post("/kiosk/event/check-in")
async def attend(visit: Seen, form: Form) -> Response:
    def command(message_id: UUID) -> Message:
        session_id = UUID(form.get("session_id", ""))
        return CheckIn(message_id=message_id, session_id=session_id,
                       code=form.get("code", "").strip())  # fmt: skip

    return await submit(visit, form, "events", "/kiosk/event/check-in", command,
                        "kiosk.reason.event.not_found")  # fmt: skip


# --- today's spaces ------------------------------------------------------------------------


@router.get("/kiosk/spaces")
async def spaces(visit: Seen) -> Response:
    if await device_of(visit) is None:
        return pairing_page(visit)
    day = today()
    try:
        answers = await visit.parts.booking.availability(day, day)
        lab = await visit.parts.booking.lab_occupancy()
    except Unavailable:
        return render(visit, "spaces.html", 503, unavailable=True, day=day)
    rows = []
    for space in SPACES:
        (found,) = answers[space]
        periods = [(views.hhmm(p["starts_at"]), views.hhmm(p["ends_at"])) for p in found["free"]]
        rows.append({"space": space.value, "open": found["open"], "free": periods})
    return render(visit, "spaces.html", unavailable=False, day=day, rows=rows, lab=lab)
