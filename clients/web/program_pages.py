"""The programs' public pages: the list, a program with its sessions, venue and seats left per
frame, the registration form, and the pages the registrants' mailed links lead to (cancel; take
or give up an offered place).

A citizen proves nothing but an e-mail address, so the outcome of a registration (confirmed, or
the place in the waitlist) is mailed to that address by notify, never shown to whoever holds
the page: the page says the request was received. The mailed links carry the events service's
signed token; their pages ask for a touch of a button first, so that a mail scanner following
a link changes nothing. Commands go to the events service with no proof of a person (its rules
admit anyone to ask, and the signed token decides the rest).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from clients.web import views
from clients.web.app import Commands, Visit, visit_of
from clients.web.reading import Unavailable
from clients.web.routes import Form
from clients.web.security import private
from clients.web.steps import NOT_SENT, answer_to
from contracts.envelope import Message
from contracts.notify import Language
from contracts.program import (
    AcceptOffer,
    CancelRegistration,
    DeclineOffer,
    Frame,
    ProgramKind,
    RegistrationCancelled,
    RequestRegistration,
    Venue,
)

router = APIRouter()
log = logging.getLogger(__name__)
Seen = Annotated[Visit, Depends(visit_of)]
FIELDS = ("frame", "party_size", "name", "email", "note", "series")
PARTY_SIZES = (1, 2, 3, 4)
TOKEN_CHARS = 300  # as long as the contract takes
KINDS = {k.value for k in ProgramKind}
VENUES = {v.value for v in Venue}


def program_commands(visit: Visit) -> Commands:
    found = visit.parts.program_commands
    if found is None or not visit.parts.ready:
        raise Unavailable("not connected to Kafka yet")
    return found


def shown(program: dict[str, Any], language: str) -> dict[str, Any]:
    """A program as the pages show it: the title and text of the page's language when there is
    one, times in Tokyo."""
    english = language == "en"
    sessions = [{**s, "day": views.tokyo(s["starts_at"]).date(),
                 "starts": views.hhmm(s["starts_at"]), "ends": views.hhmm(s["ends_at"]),
                 "venue": s["venue"] if s["venue"] in VENUES else Venue.OUTSIDE.value}
                for s in program["sessions"]]  # fmt: skip
    offered = [f for f in Frame if any(s["seats_left"].get(f.value) is not None for s in sessions)]
    return {
        **program,
        "frames": offered,
        "kind": program["kind"] if program["kind"] in KINDS else ProgramKind.SEMINAR.value,
        "title": (english and program.get("title_en")) or program["title"],
        "description": (english and program.get("description_en")) or program["description"],
        "sessions": sessions,
    }


@router.get("/programs")
async def programs(visit: Seen) -> Response:
    reader = visit.parts.programs
    try:
        if reader is None:
            raise Unavailable("no events service")
        found = await reader.published()
    except Unavailable:
        return visit.render("programs/list.html", 503, unavailable=True, programs=[])
    return visit.render("programs/list.html", unavailable=False,
                        programs=[shown(p, visit.language) for p in found])  # fmt: skip


async def program_of(visit: Visit, program_id: UUID) -> dict[str, Any] | Response:
    """The published program as shown, or the page saying why there is none (503, 404)."""
    reader = visit.parts.programs
    try:
        if reader is None:
            raise Unavailable("no events service")
        found = await reader.program(program_id)
    except Unavailable:
        return visit.render("error.html", 503, message=visit.texts("programs.unavailable"))
    if not found:
        return visit.render("error.html", 404, message=visit.texts("error.not_found"))
    return shown(found, visit.language)


def render_program(
    visit: Visit,
    program: dict[str, Any],
    status: int = 200,
    values: dict[str, Any] | None = None,
    problem: str | None = None,
) -> Response:
    first_frame = program["frames"][0].value if program["frames"] else ""
    fresh: dict[str, Any] = {"frame": first_frame, "party_size": "1", "sessions": []}
    response = visit.render("programs/detail.html", status, program=program, sizes=PARTY_SIZES,
                            problem=problem, values=values or fresh)  # fmt: skip
    return private(response) if values else response  # what a person typed


@router.get("/programs/{program_id}")
async def program(visit: Seen, program_id: UUID) -> Response:
    found = await program_of(visit, program_id)
    return found if isinstance(found, Response) else render_program(visit, found)


def registration_of(program: dict[str, Any], form: dict[str, str], sessions: list[str],
                    language: str) -> RequestRegistration | None:  # fmt: skip
    """The command the form asks for, or None when it cannot make one (the service judges the
    rest: seats, the periods, a second registration of the same address)."""
    known = {s["session_id"] for s in program["sessions"]}
    series = form.get("series") == "yes"
    chosen = [s for s in dict.fromkeys(sessions) if s in known]
    if not series and not chosen:
        return None
    try:
        return RequestRegistration(
            message_id=uuid4(), program_id=UUID(program["program_id"]), series=series,
            session_ids=[] if series else [UUID(s) for s in chosen],
            frame=Frame(form.get("frame", "")), party_size=int(form.get("party_size", "")),
            name=form.get("name", "").strip(), email=form.get("email", "").strip(),
            language=Language(language), note=form.get("note", "").strip(),
        )  # fmt: skip
    except (ValueError, ValidationError):
        return None


@router.post("/programs/{program_id}/register")
async def register(visit: Seen, program_id: UUID, form: Form) -> Response:
    raw = await visit.request.form()
    sessions = [s for s in raw.getlist("sessions") if isinstance(s, str)][:12]
    values: dict[str, Any] = {**{k: form.get(k, "") for k in FIELDS}, "sessions": sessions}
    found = await program_of(visit, program_id)
    if isinstance(found, Response):
        return found
    command = registration_of(found, form, sessions, visit.language)
    if command is None:
        return render_program(visit, found, 400, values, "programs.invalid")
    try:
        await program_commands(visit).publish(command, None)
    except NOT_SENT:  # nothing was sent: the form keeps what was typed
        return render_program(visit, found, 503, values, "programs.unavailable")
    return visit.render("programs/sent.html", what="registered", title=found["title"])


# --- the registrants' mailed links -------------------------------------------------------------


@router.get("/registrations/{registration_id}/{action}")
async def link_page(visit: Seen, registration_id: UUID, action: str, token: str = "") -> Response:
    if action not in ("cancel", "offer") or not token or len(token) > TOKEN_CHARS:
        return visit.render("error.html", 404, message=visit.texts("error.not_found"))
    return private(visit.render("programs/link.html", action=action, token=token,
                                registration_id=registration_id))  # fmt: skip


def link_command(registration_id: UUID, answer: str, token: str) -> Message | None:
    if not token or len(token) > TOKEN_CHARS:
        return None
    made: dict[str, type[CancelRegistration] | type[AcceptOffer] | type[DeclineOffer]] = {
        "cancel": CancelRegistration, "accept": AcceptOffer, "decline": DeclineOffer,
    }  # fmt: skip
    kind = made.get(answer)
    return kind(message_id=uuid4(), registration_id=registration_id, token=token) if kind else None


@router.post("/registrations/{registration_id}/answer")
async def answer_link(visit: Seen, registration_id: UUID, form: Form) -> Response:
    answer = form.get("answer", "")
    command = link_command(registration_id, answer, form.get("token", ""))
    if command is None:
        return visit.render("error.html", 400, message=visit.texts("programs.invalid_link"))
    try:
        await program_commands(visit).publish(command, None)
    except NOT_SENT:
        return visit.render("error.html", 503, message=visit.texts("programs.unavailable"))
    return visit.render("programs/sent.html", what=answer, title=None)


# --- a citizen's own registrations -------------------------------------------------------------


LEAVABLE = ("confirmed", "waitlisted", "offered")


@router.get("/my/registrations")
async def my_registrations(visit: Seen, done: str | None = None,
                           problem: str | None = None) -> Response:  # fmt: skip
    """A citizen signed in by a mailed link: their registrations, the place in each waitlist,
    and cancelling one."""
    if visit.signed is None or not visit.signed.who.is_citizen:
        return visit.render("sign_in.html", 401, problem="sign_in.needed", kind="citizen")
    try:
        assert visit.parts.programs is not None
        found = await visit.parts.programs.mine(visit.signed.token)
    except (Unavailable, AssertionError):
        return visit.render("programs/mine.html", 503, rows=[], unavailable=True)
    english = visit.language == "en"
    rows = [{**r, "title": (english and r.get("title_en")) or r["title"],
             "leavable": r["status"] in LEAVABLE,
             "sessions": [{**s, "day": views.tokyo(s["starts_at"]).date(),
                           "starts": views.hhmm(s["starts_at"])} for s in r["sessions"]]}
            for r in found]  # fmt: skip
    return visit.render("programs/mine.html", rows=rows, unavailable=False,
                        done=done == "cancel",
                        problem=problem if problem in MINE_PROBLEMS else None)  # fmt: skip


MINE_PROBLEMS = ("programs.unavailable", "programs.pending", "programs.cancel_refused")


@router.post("/my/registrations/{registration_id}/cancel")
async def cancel_mine(visit: Seen, registration_id: UUID, form: Form) -> Response:
    if visit.signed is None or not visit.signed.who.is_citizen:
        return visit.render("sign_in.html", 401, problem="sign_in.needed", kind="citizen")
    command = CancelRegistration(message_id=uuid4(), registration_id=registration_id)
    try:
        answer = await answer_to(visit.parts.program_commands, visit.parts.ready, command,
                                 visit.signed.token)  # fmt: skip
    except Unavailable:
        return back_to_mine(visit, problem="programs.unavailable")
    if answer is None:
        return back_to_mine(visit, problem="programs.pending")
    if not isinstance(answer, RegistrationCancelled):
        return back_to_mine(visit, problem="programs.cancel_refused")
    return back_to_mine(visit, done="cancel")


def back_to_mine(visit: Visit, **query: str) -> Response:
    return visit.finish(RedirectResponse(f"/my/registrations?{urlencode(query)}",
                                         status_code=303))  # fmt: skip
