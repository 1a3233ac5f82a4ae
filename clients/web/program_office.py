"""The program staff's pages: every program with its state, a new program planned with its
sessions and seat frames, publishing it (sessions in Space A/B then ask booking for their
venue), and a program's registrations and waitlists per session, where staff at the door check
people in.

Every step is the events service's command sent with the staff member's token; the service
decides who may do it and the page shows its refusal by reason.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated, Any
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from clients.web import views
from clients.web.app import Visit, visit_of
from clients.web.kiosk import reason_key
from clients.web.reading import Unavailable
from clients.web.routes import Form, staff_only
from clients.web.security import private
from clients.web.steps import answer_to
from contracts.envelope import Message
from contracts.identity import Role
from contracts.program import (
    AttendanceRejected,
    CheckIn,
    CreateProgram,
    Frame,
    FramePlan,
    ProgramKind,
    ProgramRejected,
    Promotion,
    PublishProgram,
    SessionPlan,
    Venue,
)

router = APIRouter()
Seen = Annotated[Visit, Depends(visit_of)]
PLANNERS = {Role.PROGRAM_STAFF, Role.ADMINISTRATOR}
SESSION_ROWS = 6  # a course has 4-6 sessions
STEPS = ("create", "publish", "check_in")
SESSION_FIELDS = ("date", "start", "end", "venue", "venue_name", "onsite", "online", "url")


def refused(visit: Visit) -> Response | None:
    return staff_only(visit, PLANNERS, "planning.not_for_role")


async def step(visit: Visit, command: Message) -> str | None:
    """Send a step and wait for the answer: None once done, else the catalog key of why not."""
    assert visit.signed is not None
    try:
        answer = await answer_to(visit.parts.program_commands, visit.parts.ready, command,
                                 visit.signed.token)  # fmt: skip
    except Unavailable:
        return "planning.unavailable"
    if answer is None:
        return "planning.pending"
    if isinstance(answer, ProgramRejected):
        return f"planning.reason.{answer.reason.value}"
    if isinstance(answer, AttendanceRejected):
        return reason_key("event", answer.reason)
    return None


def at(day: str, hhmm: str) -> datetime:
    return datetime.combine(date.fromisoformat(day), time.fromisoformat(hhmm), views.TOKYO)


def session_plan(row: dict[str, str]) -> SessionPlan:
    frames = [FramePlan(frame=frame, capacity=int(row[frame.value]))
              for frame in Frame if row.get(frame.value, "").strip()]  # fmt: skip
    return SessionPlan(
        session_id=uuid4(), starts_at=at(row["date"], row["start"]),
        ends_at=at(row["date"], row["end"]), venue=Venue(row["venue"]),
        venue_name=row.get("venue_name", "").strip() or None,
        online_url=row.get("url", "").strip() or None, frames=frames,
    )  # fmt: skip


def program_plan(form: dict[str, str]) -> CreateProgram | None:
    """The command the form asks for, or None when it cannot make one (the service judges the
    rest: hours, overlaps, the number of a course's sessions). A row without a date is unused."""
    rows = [{name: form.get(f"s{n}_{name}", "") for name in SESSION_FIELDS}
            for n in range(1, SESSION_ROWS + 1)]  # fmt: skip
    try:
        sessions = [session_plan(r) for r in rows if r["date"].strip()]
        return CreateProgram(
            message_id=uuid4(), kind=ProgramKind(form.get("kind", "")),
            title=form.get("title", "").strip(),
            title_en=form.get("title_en", "").strip() or None,
            description=form.get("description", "").strip(),
            sessions=sessions,
            registration_opens_at=at(form.get("opens_date", ""), form.get("opens_time") or "09:00"),
            promotion=Promotion(form.get("promotion") or "auto"),
            waitlist=form.get("waitlist") == "yes",
        )  # fmt: skip
    except (ValueError, ValidationError):
        return None


def form_page(visit: Visit, status: int = 200, values: dict[str, str] | None = None,
              problem: str | None = None) -> Response:  # fmt: skip
    fresh = {"kind": ProgramKind.SEMINAR.value, "promotion": "auto", "waitlist": "yes",
             "opens_date": views.tokyo(datetime.now(views.TOKYO)).date().isoformat(),
             "opens_time": "09:00"}  # fmt: skip
    for n in range(1, SESSION_ROWS + 1):
        fresh |= {f"s{n}_venue": Venue.AB.value, f"s{n}_start": "18:30", f"s{n}_end": "20:00"}
    return private(visit.render("planning/new.html", status, values=values or fresh,
                                kinds=tuple(ProgramKind), venues=tuple(Venue),
                                rows=range(1, SESSION_ROWS + 1), problem=problem))  # fmt: skip


@router.get("/staff/programs")
async def programs(visit: Seen) -> Response:
    if (no := refused(visit)) is not None or visit.signed is None:
        return no or Response(status_code=401)
    try:
        assert visit.parts.programs is not None
        found = await visit.parts.programs.planned(visit.signed.token)
    except (Unavailable, AssertionError):
        return private(visit.render("planning/list.html", 503, programs=[], unavailable=True))
    shown = [{**p, "first": views.tokyo(p["sessions"][0]["starts_at"]).date() if p["sessions"]
              else None} for p in found]  # fmt: skip
    return private(visit.render("planning/list.html", programs=shown, unavailable=False))


@router.get("/staff/programs/new")
async def new_program(visit: Seen) -> Response:
    if (no := refused(visit)) is not None:
        return no
    return form_page(visit)


@router.post("/staff/programs/new")
async def create(visit: Seen, form: Form) -> Response:
    if (no := refused(visit)) is not None:
        return no
    values = {k: v for k, v in form.items() if k != "csrf"}
    command = program_plan(form)
    if command is None:
        return form_page(visit, 400, values, "planning.invalid")
    if (why := await step(visit, command)) is not None:
        return form_page(visit, 409, values, why)
    return done(visit, command.message_id, "create")


def done(visit: Visit, program_id: UUID, what: str) -> Response:
    url = f"/staff/programs/{program_id}?done={what}"
    return visit.finish(RedirectResponse(url, status_code=303))


async def program_page(visit: Visit, program_id: UUID, status: int = 200,
                       **extra: Any) -> Response:  # fmt: skip
    assert visit.signed is not None
    try:
        assert visit.parts.programs is not None
        found = await visit.parts.programs.planned(visit.signed.token)
        program = next((p for p in found if p["program_id"] == str(program_id)), None)
        registrations = await visit.parts.programs.registrations(program_id, visit.signed.token)
    except (Unavailable, AssertionError):
        return private(visit.render("error.html", 503, message=visit.texts("planning.unavailable")))
    if program is None:
        return private(visit.render("error.html", 404, message=visit.texts("error.not_found")))
    sessions = []
    for s in program["sessions"]:
        mine = [{**r, "at": held} for r in registrations for held in r["sessions"]
                if held["session_id"] == s["session_id"]]  # fmt: skip
        sessions.append({**s, "day": views.tokyo(s["starts_at"]).date(),
                         "starts": views.hhmm(s["starts_at"]), "ends": views.hhmm(s["ends_at"]),
                         "registrations": mine})  # fmt: skip
    return private(visit.render("planning/program.html", status, program=program,
                                sessions=sessions, **extra))  # fmt: skip


@router.get("/staff/programs/{program_id}")
async def program(visit: Seen, program_id: UUID, done: str | None = None) -> Response:
    if (no := refused(visit)) is not None:
        return no
    return await program_page(visit, program_id, done=done if done in STEPS else None)


@router.post("/staff/programs/{program_id}/publish")
async def publish(visit: Seen, program_id: UUID, form: Form) -> Response:
    if (no := refused(visit)) is not None:
        return no
    why = await step(visit, PublishProgram(message_id=uuid4(), program_id=program_id))
    if why is not None:
        return await program_page(visit, program_id, 409, problem=why)
    return done(visit, program_id, "publish")


@router.post("/staff/programs/{program_id}/check-in")
async def check_in(visit: Seen, program_id: UUID, form: Form) -> Response:
    """At the door: the registrant's own code, looked up here, so it never travels to the page."""
    if (no := refused(visit)) is not None or visit.signed is None:
        return no or Response(status_code=401)
    try:
        assert visit.parts.programs is not None
        found = await visit.parts.programs.registrations(program_id, visit.signed.token)
        registration = next(r for r in found if r["registration_id"] == form.get("registration_id"))
        session_id = UUID(form.get("session_id", ""))
    except (Unavailable, AssertionError, StopIteration, ValueError):
        return await program_page(visit, program_id, 400, problem="planning.invalid")
    command = CheckIn(message_id=uuid4(), session_id=session_id,
                      code=registration["check_in_code"])  # fmt: skip
    if (why := await step(visit, command)) is not None:
        return await program_page(visit, program_id, 409, problem=why)
    return done(visit, program_id, "check_in")
