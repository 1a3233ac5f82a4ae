"""Booking rules, pure: no I/O, no Kafka, no SQL (DOMAIN.md, "Spaces").

The handler loads what the rules need (the organisation's standing, how full the Lab is, whether
staff closed the day) and asks these functions; "now" is always an argument, so every rule can be
tested at any moment. Overlaps with what is stored are left to PostgreSQL's exclusion constraint,
the only place that can see concurrent requests, fed with the rooms (`units_of`) each reservation
occupies; overlaps between the requests of one batch, decided together, are judged here
(`decide_in_order`).

The center's calendar (holidays, opening hours, the fiscal year) is shared with the consultation
desk in `services/runtime/center_calendar.py`; booking's modules name it through this one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Literal
from uuid import UUID

from contracts.booking import Channel, RejectionReason, SpaceId
from contracts.identity import PrincipalKind
from services.runtime.center_calendar import TOKYO as TOKYO
from services.runtime.center_calendar import WEEKDAY_HOURS as WEEKDAY_HOURS
from services.runtime.center_calendar import WEEKEND_HOURS as WEEKEND_HOURS
from services.runtime.center_calendar import YEAR_END_BREAK
from services.runtime.center_calendar import MonthDay as MonthDay
from services.runtime.center_calendar import fiscal_year_of as fiscal_year_of
from services.runtime.center_calendar import fiscal_year_range as fiscal_year_range
from services.runtime.center_calendar import is_closure_day as is_closure_day
from services.runtime.center_calendar import is_public_holiday as is_public_holiday
from services.runtime.center_calendar import opening_hours as opening_hours
from services.runtime.center_calendar import tokyo_midnight as tokyo_midnight
from services.runtime.identity import Caller

SLOT = timedelta(minutes=30)
EVENING_STARTS = time(18)  # weekday 18:00-20:00 is reservation-only (since June 2024)


@dataclass(frozen=True)
class Space:
    """A bookable space: its seats, and the rooms it occupies exclusively (none for the Lab)."""

    seats: int
    rooms: frozenset[str]
    needs_purpose: bool


DEFAULT_SPACES: Mapping[SpaceId, Space] = {
    SpaceId.LAB: Space(seats=30, rooms=frozenset(), needs_purpose=False),
    SpaceId.A: Space(seats=24, rooms=frozenset({"a"}), needs_purpose=True),
    SpaceId.B: Space(seats=24, rooms=frozenset({"b"}), needs_purpose=True),
    SpaceId.AB: Space(seats=48, rooms=frozenset({"a", "b"}), needs_purpose=True),
}
ATRIUM = "atrium"


@dataclass(frozen=True)
class Policy:
    """The center's configurable rules (settings.py reads them from the environment).

    `closures` are yearly closed periods as (month, day) pairs, inclusive, and may wrap the year:
    the default is the year-end break 12/29-1/3 that Yokohama's public facilities observe.
    """

    spaces: Mapping[SpaceId, Space] = field(default_factory=lambda: DEFAULT_SPACES)
    horizon_months: int = 3
    evening_cutoff: time = time(17)
    closures: tuple[tuple[MonthDay, MonthDay], ...] = YEAR_END_BREAK
    registration_years: int = 3
    max_active_reservations: int = 10


DEFAULT_POLICY = Policy()


@dataclass(frozen=True)
class Request:
    space: SpaceId
    starts_at: datetime
    ends_at: datetime
    attendees: int
    atrium: bool
    purpose: str
    on_behalf_of_city: bool = False  # staff or the events service: no registration, no quota


@dataclass(frozen=True)
class Rejection:
    reason: RejectionReason
    detail: str


@dataclass(frozen=True)
class Standing:
    """Where an organisation's registration stands."""

    valid_until: datetime
    suspended: bool = False


@dataclass(frozen=True)
class Situation:
    """What the handler knows about the moment and the surroundings of a request."""

    now: datetime
    standing: Standing | None  # None: the organisation is not registered
    blacked_out: bool = False  # staff closed the day of the request
    active_reservations: int = 0  # the organisation's confirmed reservations not yet ended


def day_hours(day: date, policy: Policy, blacked_out: bool = False) -> tuple[time, time] | None:
    """The hours the center is open on a day; None when it is closed all day."""
    if blacked_out or is_closure_day(day, policy.closures):
        return None
    return opening_hours(day)


def has_evening(day: date) -> bool:
    """The evening rule applies on weekdays that are not public holidays (they close at 17:00)."""
    return opening_hours(day) == WEEKDAY_HOURS


def evening_cutoff_at(day: date, policy: Policy) -> datetime:
    """Until when evening reservations of a day are accepted (default 17:00 the same day)."""
    return datetime.combine(day, policy.evening_cutoff, TOKYO)


def closing_time(day: date, evening_reserved: bool) -> time:
    """A weekday with no evening reservation at the cut-off closes at 18:00 (DOMAIN.md)."""
    closes = opening_hours(day)[1]
    if has_evening(day) and not evening_reserved:
        return EVENING_STARTS
    return closes


def reaches_evening(starts_at: datetime, ends_at: datetime) -> bool:
    """A reservation that holds any part of a weekday's reservation-only evening."""
    start = starts_at.astimezone(TOKYO)
    evening = datetime.combine(start.date(), EVENING_STARTS, TOKYO)
    return has_evening(start.date()) and ends_at > evening


def add_years(moment: datetime, years: int) -> datetime:
    """The same date `years` later; 29 February becomes 28 February in a common year."""
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:
        return moment.replace(year=moment.year + years, day=28)


def add_months(day: date, months: int) -> date:
    """The same day `months` later, or the month's last day when it is shorter."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, candidate)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def registration_valid_until(registered_at: datetime, policy: Policy) -> datetime:
    """A registration is valid for a term (a ward center in the seeds renews every 3 years)."""
    return add_years(registered_at, policy.registration_years)


def renewed_until(now: datetime, valid_until: datetime, policy: Policy) -> datetime:
    """A renewal adds a term from today, or from the end of the current term when it is renewed
    early: renewing early never shortens what the organisation already has."""
    return registration_valid_until(max(now, valid_until), policy)


def channel_of(caller: Caller) -> Channel:
    """Where a request came from, by who proved to send it (a command's own `channel` is not
    believed): staff at the counter, the kiosk, the events service, or an organisation's contact
    on the web."""
    if caller.kind is PrincipalKind.STAFF:
        return Channel.STAFF
    if caller.kind is PrincipalKind.DEVICE:
        return Channel.KIOSK
    if caller.kind is PrincipalKind.SERVICE:
        return Channel.EVENTS
    return Channel.WEB


def acts_for(caller: Caller, organisation_id: UUID | None) -> bool:
    """An organisation acts only in its own name; staff and services act for any."""
    if caller.kind is PrincipalKind.ORGANISATION:
        return caller.is_organisation(organisation_id)
    return True


def check_sender(
    caller: Caller, organisation_id: UUID | None, starts_at: datetime, now: datetime
) -> Rejection | None:
    """What the proven sender may ask: an organisation books only in its own name, and the
    Lab's kiosk books for the day itself (same-day booking at the kiosk, DOMAIN.md); other days
    are booked on the web or at the desk."""
    if not acts_for(caller, organisation_id):
        return not_in_own_name()
    today = now.astimezone(TOKYO).date()
    if caller.kind is PrincipalKind.DEVICE and starts_at.astimezone(TOKYO).date() != today:
        return Rejection(
            RejectionReason.FORBIDDEN,
            "The kiosk books for today only; book other days on the web or at the desk.",
        )
    return None


def not_in_own_name() -> Rejection:
    return Rejection(RejectionReason.FORBIDDEN, "An organisation may act only in its own name.")


def on_behalf_of_city(channel: Channel, session_id: UUID | None) -> bool:
    """Staff at the counter and the events service (a session's venue) book for the city:
    no registration and no quota apply (DOMAIN.md, spaces booked by the center itself)."""
    return channel is Channel.STAFF or session_id is not None


def check_standing(standing: Standing | None, now: datetime) -> Rejection | None:
    """Only an organisation with a current, unsuspended registration may book or check in; the
    detail says why not and what to do, so reception can help at once."""
    if standing is None:
        return Rejection(
            RejectionReason.NOT_REGISTERED,
            "This organisation is not registered. Register at the center's reception first.",
        )
    if standing.suspended:
        return Rejection(
            RejectionReason.NOT_REGISTERED,
            "This organisation's registration is suspended. Please contact the center's staff.",
        )
    if standing.valid_until <= now:
        until = standing.valid_until.astimezone(TOKYO)
        return Rejection(
            RejectionReason.NOT_REGISTERED,
            f"This organisation's registration expired on {until:%Y-%m-%d}."
            " Renew it at the center's reception.",
        )
    return None


def standing_word(standing: Standing, now: datetime) -> Literal["active", "suspended", "expired"]:
    """How the staff's directory names a registration's standing: a suspension shows first,
    whether the term has run out or not (reinstating is what the staff then decide)."""
    if standing.suspended:
        return "suspended"
    return "active" if standing.valid_until > now else "expired"


def units_of(space: SpaceId, atrium: bool, spaces: Mapping[SpaceId, Space]) -> frozenset[str]:
    """The rooms a reservation holds exclusively: A+B holds both A and B, so it conflicts with
    each; atrium-combined use also holds the atrium."""
    rooms = spaces[space].rooms
    return rooms | {ATRIUM} if atrium else rooms


def _on_grid(moment: datetime) -> bool:
    local = moment.astimezone(TOKYO)
    return local.second == 0 and local.microsecond == 0 and local.minute % 30 == 0


def _check_shape(req: Request, space: Space) -> Rejection | None:
    if req.ends_at <= req.starts_at:
        return Rejection(RejectionReason.INVALID, "The end time must be after the start time.")
    if req.attendees < 1:
        return Rejection(RejectionReason.INVALID, "The number of attendees must be at least 1.")
    if not (_on_grid(req.starts_at) and _on_grid(req.ends_at)):
        return Rejection(
            RejectionReason.INVALID, "Reservations start and end on the hour or the half hour."
        )
    if req.atrium and req.space is not SpaceId.AB:
        return Rejection(
            RejectionReason.INVALID, "Atrium-combined use needs Space A and B together (ab)."
        )
    if space.needs_purpose and not req.purpose.strip():
        return Rejection(
            RejectionReason.INVALID,
            "Space A/B is for collaboration events: please state the purpose of the use.",
        )
    return None


def _check_window(req: Request, now: datetime, policy: Policy) -> Rejection | None:
    if req.starts_at < now:
        return Rejection(RejectionReason.OUT_OF_WINDOW, "The requested time has already begun.")
    last = add_months(now.astimezone(TOKYO).date(), policy.horizon_months)
    if req.starts_at.astimezone(TOKYO).date() > last:
        return Rejection(
            RejectionReason.OUT_OF_WINDOW,
            f"Reservations open {policy.horizon_months} months ahead: up to {last:%Y-%m-%d}.",
        )
    return None


def _check_hours(req: Request, policy: Policy, blacked_out: bool) -> Rejection | None:
    start = req.starts_at.astimezone(TOKYO)
    end = req.ends_at.astimezone(TOKYO)
    hours = day_hours(start.date(), policy, blacked_out)
    if hours is None:
        return Rejection(RejectionReason.CLOSED, f"The center is closed on {start:%Y-%m-%d}.")
    opens, closes = hours
    if start < datetime.combine(start.date(), opens, TOKYO) or end > datetime.combine(
        start.date(), closes, TOKYO
    ):
        return Rejection(
            RejectionReason.CLOSED,
            f"The center is open {opens:%H:%M}-{closes:%H:%M} on {start.date():%Y-%m-%d}"
            " (weekdays 9:00-20:00; Saturdays, Sundays and holidays 9:00-17:00).",
        )
    return None


def _check_evening(req: Request, now: datetime, policy: Policy) -> Rejection | None:
    day = req.starts_at.astimezone(TOKYO).date()
    cutoff = evening_cutoff_at(day, policy)
    if reaches_evening(req.starts_at, req.ends_at) and now >= cutoff:
        return Rejection(
            RejectionReason.TOO_LATE,
            f"Evening use (18:00-20:00) of {day:%Y-%m-%d} had to be reserved by"
            f" {cutoff:%H:%M} that day.",
        )
    return None


def check_request(req: Request, situation: Situation, policy: Policy) -> Rejection | None:
    """Every rule that needs no knowledge of other reservations; None when they all pass."""
    space = policy.spaces[req.space]
    if rejection := _check_shape(req, space):
        return rejection
    if not req.on_behalf_of_city and (
        rejection := check_standing(situation.standing, situation.now)
    ):
        return rejection
    if rejection := _check_window(req, situation.now, policy):
        return rejection
    if rejection := _check_hours(req, policy, situation.blacked_out):
        return rejection
    if rejection := _check_evening(req, situation.now, policy):
        return rejection
    if req.attendees > space.seats:
        return Rejection(
            RejectionReason.CAPACITY,
            f"{req.attendees} attendees exceed the {space.seats} seats of this space.",
        )
    at_quota = situation.active_reservations >= policy.max_active_reservations
    if not req.on_behalf_of_city and at_quota:
        return Rejection(
            RejectionReason.QUOTA,
            f"An organisation may hold {policy.max_active_reservations} future reservations at"
            " a time; cancel one or wait until one has taken place.",
        )
    return None


def check_reservation(
    req: Request, situation: Situation, policy: Policy, lab_attendees: int
) -> Rejection | None:
    """Every rule a request must pass before its rooms are claimed: those of `check_request`
    and, for the Lab, whose reservations may overlap, room for its attendees among the seats
    (`lab_attendees` are those already booked for an overlapping time)."""
    if rejection := check_request(req, situation, policy):
        return rejection
    if req.space is SpaceId.LAB:
        return check_lab_room(lab_attendees, req.attendees, policy.spaces[SpaceId.LAB].seats)
    return None


def check_lab_room(already: int, requested: int, seats: int) -> Rejection | None:
    """The Lab is shared: reservations may overlap as long as their attendees fit its seats."""
    if already + requested > seats:
        return Rejection(
            RejectionReason.CAPACITY,
            f"The Collaboration Lab has {seats - already} of {seats} seats free at that time.",
        )
    return None


def conflict() -> Rejection:
    return Rejection(RejectionReason.CONFLICT, "The space is already booked for part of that time.")


# --- a batch of requests, decided together ----------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """What the database held about one request's surroundings before its batch was decided."""

    standing: Standing | None  # None: the organisation is not registered
    blacked_out: bool = False
    active_reservations: int = 0  # the organisation's reservations not yet ended
    lab_attendees: int = 0  # people booked into the Lab during the time (Lab requests only)
    rooms_taken: bool = False  # a reservation already stored holds one of its rooms meanwhile


@dataclass(frozen=True)
class Asked:
    """One reservation request of a batch: for whom, what, and what the database knew of it."""

    organisation_id: UUID
    request: Request
    facts: Facts


@dataclass
class _Booked:
    """What the requests of a batch accepted so far hold, by day: a reservation lies within
    one day (opening hours end by 20:00), so each request looks only at its own day."""

    rooms: dict[tuple[str, date], list[Request]] = field(default_factory=dict)
    lab: dict[date, list[Request]] = field(default_factory=dict)
    per_organisation: dict[UUID, int] = field(default_factory=dict)


def _overlap(a: Request, b: Request) -> bool:
    return a.starts_at < b.ends_at and b.starts_at < a.ends_at


def decide_in_order(
    batch: Iterable[Asked], now: datetime, policy: Policy
) -> list[Rejection | None]:
    """Decide the requests of a batch at once, each as if every earlier one had been decided and
    stored before it, as one by one: an accepted request takes its rooms from the later ones,
    counts towards its organisation's quota and fills Lab seats; a refused one takes nothing.
    The facts were read before the batch, so only the batch's own earlier requests are added to
    them. Rules come before a conflict, as for a single request (`check_reservation`)."""
    booked = _Booked()
    decisions: list[Rejection | None] = []
    for asked in batch:
        req, facts = asked.request, asked.facts
        day = req.starts_at.astimezone(TOKYO).date()
        earlier = booked.per_organisation.get(asked.organisation_id, 0)
        situation = Situation(now, facts.standing, facts.blacked_out,
                              facts.active_reservations + earlier)  # fmt: skip
        lab = facts.lab_attendees + sum(
            other.attendees for other in booked.lab.get(day, ()) if _overlap(req, other)
        )
        rejection = check_reservation(req, situation, policy, lab)
        rooms = units_of(req.space, req.atrium, policy.spaces)
        if rejection is None and (
            facts.rooms_taken
            or any(_overlap(req, other) for room in rooms
                   for other in booked.rooms.get((room, day), ()))
        ):  # fmt: skip
            rejection = conflict()
        decisions.append(rejection)
        if rejection is None:
            booked.per_organisation[asked.organisation_id] = earlier + 1
            for room in rooms:
                booked.rooms.setdefault((room, day), []).append(req)
            if req.space is SpaceId.LAB:
                booked.lab.setdefault(day, []).append(req)
    return decisions


# --- cancellation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Held:
    """A reservation as the cancellation rules see it."""

    organisation_id: UUID
    ends_at: datetime
    cancelled: bool
    session_id: UUID | None = None


def may_cancel(caller: Caller, held: Held) -> bool:
    """Staff cancel any reservation; the events service its sessions' venues; an organisation
    its own (the organisation it proved to be, not one a command names)."""
    if caller.kind is PrincipalKind.STAFF:
        return True
    if caller.kind is PrincipalKind.SERVICE:
        return held.session_id is not None
    return caller.is_organisation(held.organisation_id)


def check_cancel(held: Held | None, caller: Caller, now: datetime) -> Rejection | None:
    """What is unknown, already cancelled or already over cannot be cancelled, and only who
    may cancel a reservation does."""
    if held is None:
        return Rejection(RejectionReason.NOT_FOUND, "There is no such reservation.")
    if held.cancelled:
        return Rejection(RejectionReason.NOT_FOUND, "This reservation is already cancelled.")
    if not may_cancel(caller, held):
        return Rejection(
            RejectionReason.NOT_OWNER, "Only the organisation that made it may cancel it."
        )
    if held.ends_at <= now:
        return Rejection(RejectionReason.OUT_OF_WINDOW, "This reservation has already ended.")
    return None


def needs_evening_recheck(
    starts_at: datetime, ends_at: datetime, now: datetime, policy: Policy
) -> bool:
    """A cancelled evening reservation after the cut-off may leave the evening empty: the day's
    closing time is then decided again (before the cut-off the scheduled decision sees it)."""
    day = starts_at.astimezone(TOKYO).date()
    return reaches_evening(starts_at, ends_at) and now >= evening_cutoff_at(day, policy)


# --- blackouts --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Booked:
    """A confirmed reservation as the blackout rules see it."""

    id: UUID
    starts_at: datetime
    ends_at: datetime


def affected_by_blackout(day: date, booked: Iterable[Booked], now: datetime) -> tuple[UUID, ...]:
    """The confirmed reservations a blackout of `day` affects, in order of their start: those of
    that day not yet over. They are not cancelled: staff decide with each organisation."""
    hit = [b for b in booked if b.starts_at.astimezone(TOKYO).date() == day and b.ends_at > now]
    return tuple(b.id for b in sorted(hit, key=lambda b: (b.starts_at, str(b.id))))


def check_blackout_lift(blacked_out: bool, day: date, now: datetime) -> Rejection | None:
    """Staff lift a blackout of today or a coming day; a day already over keeps its blackout, on
    which the occupancy report's open hours rest."""
    if not blacked_out:
        return Rejection(RejectionReason.NOT_FOUND, f"There is no blackout on {day:%Y-%m-%d}.")
    if day < now.astimezone(TOKYO).date():
        return Rejection(
            RejectionReason.OUT_OF_WINDOW,
            f"{day:%Y-%m-%d} is over: its blackout stays on record.",
        )
    return None


def needs_evening_decision_on_lift(day: date, now: datetime, policy: Policy) -> bool:
    """The scheduled evening decision skips a blacked-out day; a weekday reopened after its
    cut-off has its closing time decided at once."""
    return has_evening(day) and now >= evening_cutoff_at(day, policy)


# --- the Lab at the kiosk --------------------------------------------------------------------


def drop_in_hours(day: date, policy: Policy, blacked_out: bool = False) -> tuple[time, time] | None:
    """Drop-in hours of the Lab: the opening hours, except the reservation-only evening."""
    hours = day_hours(day, policy, blacked_out)
    if hours is None:
        return None
    opens, closes = hours
    return (opens, min(closes, EVENING_STARTS))


def lab_seats(policy: Policy, a_booked: bool, b_booked: bool) -> int:
    """Unbooked Space A/B is open as meeting space (DOMAIN.md), so it adds to the Lab's seats."""
    seats = policy.spaces[SpaceId.LAB].seats
    if not a_booked:
        seats += policy.spaces[SpaceId.A].seats
    if not b_booked:
        seats += policy.spaces[SpaceId.B].seats
    return seats


def check_lab_check_in(
    people: int, present: int, seats: int, situation: Situation, policy: Policy
) -> Rejection | None:
    """Registered organisations only, during drop-in hours, while seats are free."""
    if rejection := check_standing(situation.standing, situation.now):
        return rejection
    local = situation.now.astimezone(TOKYO)
    hours = drop_in_hours(local.date(), policy, situation.blacked_out)
    if hours is None or not hours[0] <= local.time() < hours[1]:
        shown = "closed today" if hours is None else f"open {hours[0]:%H:%M}-{hours[1]:%H:%M}"
        return Rejection(RejectionReason.CLOSED, f"The Lab is not open for drop-in now ({shown}).")
    if present + people > seats:
        return Rejection(
            RejectionReason.CAPACITY,
            f"The Lab has {max(seats - present, 0)} of {seats} seats free now.",
        )
    return None


def slip_number(day: date, sequence: int) -> str:
    """Usage slips (利用票) are numbered per day, as the paper ones at reception were."""
    return f"{day:%Y%m%d}-{sequence:03d}"
