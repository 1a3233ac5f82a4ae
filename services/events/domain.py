"""Program and registration rules, pure: no I/O, no Kafka, no SQL (DOMAIN.md, "Programs and
events").

A program has sessions; each session has seat frames (`onsite`, `online`), each frame a
capacity of its own: a *place* is one session's frame, with its capacity, the seats held in it
(confirmed registrations and open offers) and the number of registrations waiting for it.

Registration (`decide`): a registration asks for the full series or some sessions, in one
frame, for a party of 1-4. It takes the seats of the whole party in every session it asks for at
once, or none: all-or-nothing across sessions. When any of them is full it waits as a whole, in
each of its sessions' waitlists, unless the program keeps no waitlist (then it is refused as
`full`). During a program's priority period only full-series registrations are accepted; after
it, single sessions are sold first-come-first-served from what is left.

Waitlists and promotion (`promote`): one waitlist per place, in order of arrival. When seats free
up (a cancellation, a capacity raised, an offer declined or expired), the waiting registrations
of the places that gained seats are looked at in order of arrival, and each one that fits (the
whole party, in every session it asked for) is promoted. This is the group rule: **the first
that fits is served**. A party at the head of the list is always served first when the free
seats are enough for it; when they are not, a smaller party behind it that fits is served
instead, and the larger party keeps its place at the head, to be served as soon as enough seats
are free. Seats are never left empty while someone waiting fits them, and no one is passed over
unless the free seats were too few for them. New requests follow the same rule: they come after
everyone waiting, and since nobody waiting fits the free seats (promotion runs after every
change), a new request that fits takes them.

In `auto` mode a promoted registration is confirmed at once. In `offer` mode it is offered the
seats (which are held for it) until a deadline: 48 hours by default, never later than 3 hours
before its first session; when not even that is left, there is no time to ask, and it is
confirmed at once as in `auto` mode.

"Now" is always an argument.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID
from zoneinfo import ZoneInfo

from contracts.booking import SpaceId
from contracts.program import (
    CreateProgram,
    Frame,
    FramePlan,
    ProgramKind,
    Promotion,
    SessionPlan,
    Venue,
)
from contracts.program import (
    ProgramRejectionReason as Reason,
)

TOKYO = ZoneInfo("Asia/Tokyo")
COURSE_SESSIONS = range(4, 7)  # a course is a series of 4-6 sessions
OFFER_HOURS = 48
OFFER_LEAD = timedelta(hours=3)  # an offer never runs later than this before the session
CHECK_IN_OPENS = timedelta(hours=1)  # before the session's start
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read out at a kiosk
CODE_LENGTH = 8
BOOKED_VENUES: Mapping[Venue, SpaceId] = {Venue.A: SpaceId.A, Venue.B: SpaceId.B,
                                          Venue.AB: SpaceId.AB}  # fmt: skip


class ProgramStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    CANCELLED = "cancelled"


class SessionState(StrEnum):
    DRAFT = "draft"  # the program is not published yet
    PENDING_VENUE = "pending_venue"  # its Space A/B reservation is asked for
    OPEN = "open"  # takes registrations
    VENUE_REJECTED = "venue_rejected"  # booking refused the venue; staff change the session
    CANCELLED = "cancelled"


class Status(StrEnum):
    """Where a registration stands."""

    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    OFFERED = "offered"  # seats held until the offer's deadline
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # an offer not answered in time
    DECLINED = "declined"

    @property
    def holds_seats(self) -> bool:
        return self in (Status.CONFIRMED, Status.OFFERED)

    @property
    def active(self) -> bool:
        """Holding seats or waiting for them: what makes a second registration a duplicate."""
        return self in (Status.CONFIRMED, Status.OFFERED, Status.WAITLISTED)


@dataclass(frozen=True)
class Rejection:
    reason: Reason
    detail: str


# --- programs ----------------------------------------------------------------------------------


def check_plan(cmd: CreateProgram) -> Rejection | None:
    """What staff may create: a course has 4-6 sessions; each session ends after it starts, has
    each frame once, and an online-only session has only the online frame; session ids are
    unique; registration opens before it closes and the priority period ends inside it."""
    ids = [s.session_id for s in cmd.sessions]
    if len(set(ids)) != len(ids):
        return invalid("Each session needs its own session_id.")
    if cmd.kind is ProgramKind.COURSE and len(cmd.sessions) not in COURSE_SESSIONS:
        return invalid(
            f"A course is a series of {COURSE_SESSIONS.start}-{COURSE_SESSIONS.stop - 1} "
            f"sessions, not {len(cmd.sessions)}."
        )
    for number, plan in enumerate(cmd.sessions, start=1):
        if refused := check_session_plan(plan, number):
            return refused
    closes = cmd.registration_closes_at
    if closes is not None and closes <= cmd.registration_opens_at:
        return invalid("Registration must open before it closes.")
    if cmd.priority_until is not None and cmd.priority_until <= cmd.registration_opens_at:
        return invalid("The full-series priority period must end after registration opens.")
    return None


def check_session_plan(plan: SessionPlan, number: int) -> Rejection | None:
    if plan.ends_at <= plan.starts_at:
        return invalid(f"Session {number} must end after it starts.")
    return check_frames(plan.frames, plan.venue, number)


def check_frames(frames: Sequence[FramePlan], venue: Venue, number: int) -> Rejection | None:
    kinds = [f.frame for f in frames]
    if len(set(kinds)) != len(kinds):
        return invalid(f"Session {number} lists a seat frame twice.")
    if venue is Venue.ONLINE and Frame.ONSITE in kinds:
        return invalid(f"Session {number} is online only: it has no on-site seats.")
    return None


def invalid(detail: str) -> Rejection:
    return Rejection(Reason.INVALID, detail)


def needs_booking(venue: Venue) -> bool:
    """Space A, B and A+B are booked through the booking service; elsewhere needs no booking."""
    return venue in BOOKED_VENUES


def venue_attendees(capacities: Mapping[Frame, int]) -> int:
    """People the venue must seat: the on-site frame (at least one: the staff running it)."""
    return max(1, capacities.get(Frame.ONSITE, 0))


def state_on_publish(venue: Venue) -> SessionState:
    return SessionState.PENDING_VENUE if needs_booking(venue) else SessionState.OPEN


# --- places ------------------------------------------------------------------------------------

PlaceKey = tuple[UUID, Frame]


@dataclass
class Place:
    """One session's frame: seats in it, seats held (confirmed and offered), registrations
    waiting. Mutable: the functions below count seats in and out of it."""

    capacity: int
    held: int = 0
    waiting: int = 0

    @property
    def free(self) -> int:
        return self.capacity - self.held


@dataclass(frozen=True)
class ProgramRules:
    """What a registration is judged by, of the program."""

    status: ProgramStatus
    registration_opens_at: datetime
    registration_closes_at: datetime | None = None
    priority_until: datetime | None = None
    promotion: Promotion = Promotion.AUTO
    offer_hours: int = OFFER_HOURS
    waitlist: bool = True


@dataclass(frozen=True)
class SessionFacts:
    session_id: UUID
    number: int
    starts_at: datetime
    ends_at: datetime
    state: SessionState
    frames: frozenset[Frame] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Ask:
    """A registration request as the rules see it."""

    series: bool
    session_ids: tuple[UUID, ...]
    frame: Frame
    party: int


@dataclass(frozen=True)
class Confirm:
    session_ids: tuple[UUID, ...]


@dataclass(frozen=True)
class Wait:
    positions: tuple[tuple[UUID, int], ...]  # (session, 1-based position) in session order


Decision = Confirm | Wait | Rejection


def series_of(sessions: Iterable[SessionFacts]) -> list[SessionFacts]:
    """The sessions a full-series registration takes: every session not cancelled, in order."""
    return sorted((s for s in sessions if s.state is not SessionState.CANCELLED),
                  key=lambda s: s.number)  # fmt: skip


def asked_sessions(
    ask: Ask, sessions: Mapping[UUID, SessionFacts]
) -> list[SessionFacts] | Rejection:
    """The sessions a request names (all of the series, or those listed), or why it cannot be
    read as a request for them."""
    if ask.series and ask.session_ids:
        return invalid("Ask for the full series or for sessions, not both.")
    if ask.series:
        found = series_of(sessions.values())
        return found or invalid("The program has no session to register for.")
    if not ask.session_ids:
        return invalid("Name the sessions, or ask for the full series.")
    if len(set(ask.session_ids)) != len(ask.session_ids):
        return invalid("A session is named twice.")
    listed = [sessions.get(sid) for sid in ask.session_ids]
    if any(s is None for s in listed):
        return Rejection(Reason.INVALID, "A named session is not part of this program.")
    return sorted((s for s in listed if s is not None), key=lambda s: s.number)


def check_registration(
    ask: Ask,
    rules: ProgramRules,
    sessions: Sequence[SessionFacts],
    duplicate: bool,
    now: datetime,
) -> Rejection | None:
    """Whether a request for these sessions may be decided at all: the program and sessions
    open, the registration period running, the frame offered, not already held."""
    if rules.status is ProgramStatus.CANCELLED:
        return Rejection(Reason.CLOSED, "The program is cancelled.")
    if rules.status is ProgramStatus.DRAFT:
        return Rejection(Reason.NOT_OPEN, "The program is not published yet.")
    for s in sessions:
        if s.state is SessionState.CANCELLED:
            return Rejection(Reason.CLOSED, f"Session {s.number} is cancelled.")
        if s.state is not SessionState.OPEN:
            return Rejection(
                Reason.NOT_OPEN,
                f"Session {s.number} does not take registrations yet: its venue is not confirmed.",
            )
        if ask.frame not in s.frames:
            return invalid(f"Session {s.number} has no {ask.frame.value} seats.")
    if refused := check_period(ask, rules, sessions, now):
        return refused
    if duplicate:
        return Rejection(
            Reason.DUPLICATE,
            "This e-mail address is already registered (or waiting) for one of these sessions "
            f"in the {ask.frame.value} frame.",
        )
    return None


def check_period(
    ask: Ask, rules: ProgramRules, sessions: Sequence[SessionFacts], now: datetime
) -> Rejection | None:
    """Registration runs from the opening until the program's closing time, and for each
    session no later than its start; single sessions only after the priority period."""
    if now < rules.registration_opens_at:
        return Rejection(Reason.CLOSED, "Registration has not opened yet.")
    if rules.registration_closes_at is not None and now >= rules.registration_closes_at:
        return Rejection(Reason.CLOSED, "Registration has closed.")
    started = [s.number for s in sessions if now >= s.starts_at]
    if started:
        return Rejection(Reason.CLOSED, f"Session {started[0]} has already started.")
    if not ask.series and rules.priority_until is not None and now < rules.priority_until:
        until = rules.priority_until.astimezone(TOKYO)
        return Rejection(
            Reason.CLOSED,
            f"Until {until:%Y-%m-%d %H:%M} only full-series registrations are accepted; "
            "single sessions are open from then on.",
        )
    return None


def decide(
    ask: Ask,
    rules: ProgramRules,
    sessions: Mapping[UUID, SessionFacts],
    places: Mapping[PlaceKey, Place],
    duplicate: bool,
    now: datetime,
) -> Decision:
    """One answer to a registration request, and the places counted accordingly: confirmed
    (the party's seats held in every session), waitlisted as a whole (counted as waiting in
    every session, at the end of each list), or refused."""
    if rules.status is ProgramStatus.CANCELLED:
        return Rejection(Reason.CLOSED, "The program is cancelled.")
    asked = asked_sessions(ask, sessions)
    if isinstance(asked, Rejection):
        return asked
    if refused := check_registration(ask, rules, asked, duplicate, now):
        return refused
    keys = [(s.session_id, ask.frame) for s in asked]
    if all(places[k].free >= ask.party for k in keys):
        for k in keys:
            places[k].held += ask.party
        return Confirm(tuple(s.session_id for s in asked))
    if not rules.waitlist:
        return Rejection(Reason.FULL, "There are not enough seats left.")
    for k in keys:
        places[k].waiting += 1
    return Wait(tuple((k[0], places[k].waiting) for k in keys))


# --- waitlists and promotion ----------------------------------------------------------------


@dataclass(frozen=True)
class Waiting:
    """A registration on the waitlists: arrival order (`seq`), its sessions, frame and party."""

    registration_id: UUID
    seq: int
    session_ids: tuple[UUID, ...]
    frame: Frame
    party: int

    def keys(self) -> list[PlaceKey]:
        return [(sid, self.frame) for sid in self.session_ids]


@dataclass(frozen=True)
class Promoted:
    """A waiting registration that got its seats: confirmed (`offer_expires_at` None) or
    offered until `offer_expires_at`."""

    entry: Waiting
    offer_expires_at: datetime | None


def offer_deadline(now: datetime, first_start: datetime, hours: int) -> datetime | None:
    """Until when an offer runs: `hours` from now, never later than OFFER_LEAD before the
    first session; None when that moment has passed (no time to ask)."""
    deadline = min(now + timedelta(hours=hours), first_start - OFFER_LEAD)
    return deadline if deadline > now else None


def fits(entry: Waiting, places: Mapping[PlaceKey, Place]) -> bool:
    return all(places[k].free >= entry.party for k in entry.keys())


def promote(
    waiting: Iterable[Waiting],
    places: Mapping[PlaceKey, Place],
    rules: ProgramRules,
    starts: Mapping[UUID, datetime],
    now: datetime,
) -> list[Promoted]:
    """The waiting registrations that get seats now, first that fits first (see the module's
    docstring), with the places counted: their seats held, no longer waiting. `waiting` are
    those of the places that gained seats (any order: they are taken in order of arrival);
    seats only decrease in one pass, so one pass in that order finds every one that fits.
    A registration one of whose sessions has begun waits no more: it is not promoted."""
    promoted: list[Promoted] = []
    for entry in sorted(waiting, key=lambda e: e.seq):
        if not fits(entry, places) or any(starts[sid] <= now for sid in entry.session_ids):
            continue
        for k in entry.keys():
            places[k].held += entry.party
            places[k].waiting -= 1
        deadline = None
        if rules.promotion is Promotion.OFFER:
            first = min(starts[sid] for sid in entry.session_ids)
            deadline = offer_deadline(now, first, rules.offer_hours)
        promoted.append(Promoted(entry, deadline))
    return promoted


def release(
    places: Mapping[PlaceKey, Place], session_ids: Iterable[UUID], frame: Frame, party: int,
    status: Status,
) -> list[PlaceKey]:  # fmt: skip
    """A registration leaves (cancelled, declined, expired): its seats, or its places in the
    waitlists, are given back. The places whose seats were freed (to promote from)."""
    keys = [(sid, frame) for sid in session_ids if (sid, frame) in places]
    if status.holds_seats:
        for k in keys:
            places[k].held -= party
        return keys
    if status is Status.WAITLISTED:
        for k in keys:
            places[k].waiting -= 1
    return []


def may_leave(status: Status) -> Rejection | None:
    if status.active:
        return None
    return Rejection(Reason.CONFLICT, f"This registration is already {status.value}.")


def check_capacity(place: Place | None, capacity: int, frame: Frame) -> Rejection | None:
    """A capacity may be raised at any time, and lowered no further than the seats held:
    nobody confirmed loses a seat."""
    if place is not None and capacity < place.held:
        return Rejection(
            Reason.CONFLICT,
            f"{place.held} {frame.value} seats are already held: the capacity cannot be "
            f"{capacity}.",
        )
    return None


# --- attendance --------------------------------------------------------------------------------


def new_check_in_code() -> str:
    """A code to read out or scan at the kiosk: 8 characters, about 40 bits, none ambiguous."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normal_code(code: str) -> str:
    """As typed at a kiosk: case and spaces and hyphens do not matter."""
    return "".join(ch for ch in code.upper() if ch not in " -")


@dataclass(frozen=True)
class Attendee:
    """A registration found by its check-in code, as the check-in rules see it."""

    status: Status
    session_ids: tuple[UUID, ...]
    already_recorded: bool
    starts_at: datetime | None  # of the session checked in to, when it is one of them
    ends_at: datetime | None


def check_attendance(found: Attendee | None, session_id: UUID, now: datetime) -> Rejection | None:
    """A code checks in its registration once per session, from an hour before the start
    until the end; a wrong, cancelled or reused code is told so."""
    if found is None:
        return Rejection(Reason.NOT_FOUND, "No registration has this check-in code.")
    if session_id not in found.session_ids:
        return Rejection(Reason.NOT_FOUND, "This code is for another session.")
    if found.status is not Status.CONFIRMED:
        return Rejection(Reason.CONFLICT,
                         f"This registration is {found.status.value}, not confirmed.")  # fmt: skip
    if found.already_recorded:
        return Rejection(Reason.ALREADY_RECORDED,
                         "This code has already been checked in for this session.")  # fmt: skip
    assert found.starts_at is not None and found.ends_at is not None
    if not found.starts_at - CHECK_IN_OPENS <= now < found.ends_at:
        return Rejection(
            Reason.CLOSED, "Check-in is open from an hour before the session until its end."
        )
    return None


# --- fiscal years ------------------------------------------------------------------------------


def fiscal_year_of(moment: datetime) -> int:
    """April to March, in Tokyo: FY2023 runs from 2023-04-01 to 2024-03-31."""
    local = moment.astimezone(TOKYO)
    return local.year if local.month >= 4 else local.year - 1


def fiscal_year_bounds(year: int) -> tuple[datetime, datetime]:
    return (datetime(year, 4, 1, tzinfo=TOKYO), datetime(year + 1, 4, 1, tzinfo=TOKYO))
