"""The registration rules of DOMAIN.md ("Programs and events"), on the pure domain functions:
programs and courses, hybrid frames (the center's real case), the registration period and the
full-series priority, all-or-nothing series, groups, waitlists and promotion, offers, check-in."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import pytest

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
from services.events.domain import (
    Ask,
    Attendee,
    Confirm,
    Place,
    PlaceKey,
    ProgramRules,
    ProgramStatus,
    Promoted,
    Rejection,
    SessionFacts,
    SessionState,
    Status,
    Wait,
    Waiting,
    check_attendance,
    check_capacity,
    check_plan,
    decide,
    fiscal_year_of,
    needs_booking,
    new_check_in_code,
    normal_code,
    offer_deadline,
    promote,
    release,
    venue_attendees,
)

TOKYO = ZoneInfo("Asia/Tokyo")
FIRST = datetime(2030, 5, 8, 18, 30, tzinfo=TOKYO)  # a Wednesday, 18:30-20:30
NOW = datetime(2030, 4, 20, 10, 0, tzinfo=TOKYO)
WEEK = timedelta(days=7)


def plan(n: int, onsite: int = 20, online: int = 80, venue: Venue = Venue.AB) -> SessionPlan:
    frames = [FramePlan(frame=Frame.ONSITE, capacity=onsite)] if onsite else []
    frames += [FramePlan(frame=Frame.ONLINE, capacity=online)] if online else []
    start = FIRST + n * WEEK
    return SessionPlan(session_id=uuid4(), starts_at=start, ends_at=start + timedelta(hours=2),
                       venue=venue, frames=frames)  # fmt: skip


def create(kind: ProgramKind, sessions: list[SessionPlan], **fields: object) -> CreateProgram:
    return CreateProgram(message_id=uuid4(), kind=kind, title="体験講座", sessions=sessions,
                         registration_opens_at=NOW - timedelta(days=1), **fields)  # fmt: skip


class Program:
    """A published program of `n` sessions with the center's real frames: on-site 20 seats (30
    for sessions 1 and 4) + online 80; every session open."""

    def __init__(self, n: int = 6, onsite: int = 20, online: int = 80, **rules: object) -> None:
        self.sessions: dict[UUID, SessionFacts] = {}
        self.places: dict[PlaceKey, Place] = {}
        for number in range(1, n + 1):
            sid = uuid4()
            start = FIRST + (number - 1) * WEEK
            seats = {Frame.ONSITE: 30 if number in (1, 4) else onsite, Frame.ONLINE: online}
            frames = frozenset(f for f, c in seats.items() if c)
            self.sessions[sid] = SessionFacts(sid, number, start, start + timedelta(hours=2),
                                              SessionState.OPEN, frames)  # fmt: skip
            for frame in frames:
                self.places[(sid, frame)] = Place(seats[frame])
        defaults: dict[str, object] = {
            "status": ProgramStatus.PUBLISHED,
            "registration_opens_at": NOW - timedelta(days=1),
        }
        self.rules = ProgramRules(**{**defaults, **rules})  # type: ignore[arg-type]

    @property
    def ids(self) -> list[UUID]:
        return sorted(self.sessions, key=lambda s: self.sessions[s].number)

    def ask(self, *numbers: int, frame: Frame = Frame.ONSITE, party: int = 1,
            series: bool = False, now: datetime = NOW, duplicate: bool = False,
            ) -> Confirm | Wait | Rejection:  # fmt: skip
        ids = tuple(self.ids[n - 1] for n in numbers)
        return decide(Ask(series, ids, frame, party), self.rules, self.sessions, self.places,
                      duplicate, now)  # fmt: skip

    def place(self, number: int, frame: Frame = Frame.ONSITE) -> Place:
        return self.places[(self.ids[number - 1], frame)]

    def starts(self) -> dict[UUID, datetime]:
        return {sid: s.starts_at for sid, s in self.sessions.items()}


def reason(decision: object) -> Reason:
    assert isinstance(decision, Rejection), decision
    return decision.reason


# --- programs ----------------------------------------------------------------------------------


def test_a_course_is_a_series_of_four_to_six_sessions() -> None:
    assert check_plan(create(ProgramKind.COURSE, [plan(n) for n in range(4)])) is None
    assert check_plan(create(ProgramKind.COURSE, [plan(n) for n in range(6)])) is None
    for count in (1, 3, 7):
        refused = check_plan(create(ProgramKind.COURSE, [plan(n) for n in range(count)]))
        assert refused is not None and refused.reason is Reason.INVALID
    assert check_plan(create(ProgramKind.SEMINAR, [plan(0)])) is None


def test_a_session_must_end_after_it_starts_and_name_each_frame_once() -> None:
    backwards = plan(0).model_copy(update={"ends_at": FIRST - timedelta(hours=1)})
    assert check_plan(create(ProgramKind.SEMINAR, [backwards])) is not None
    twice = plan(0).model_copy(update={"frames": [FramePlan(frame=Frame.ONLINE, capacity=1)] * 2})
    assert check_plan(create(ProgramKind.SEMINAR, [twice])) is not None


def test_an_online_only_session_has_no_onsite_seats() -> None:
    assert check_plan(create(ProgramKind.SALON, [plan(0, venue=Venue.ONLINE)])) is not None
    assert check_plan(create(ProgramKind.SALON, [plan(0, onsite=0, venue=Venue.ONLINE)])) is None


def test_session_ids_are_unique_and_the_priority_period_ends_after_opening() -> None:
    one = plan(0)
    assert check_plan(create(ProgramKind.FORUM, [one, one])) is not None
    early = create(ProgramKind.FORUM, [plan(0)], priority_until=NOW - timedelta(days=2))
    assert check_plan(early) is not None


def test_only_space_a_and_b_are_booked_through_booking() -> None:
    assert [v for v in Venue if needs_booking(v)] == [Venue.A, Venue.B, Venue.AB]
    assert venue_attendees({Frame.ONSITE: 30, Frame.ONLINE: 80}) == 30
    assert venue_attendees({Frame.ONLINE: 80}) == 1


# --- the center's real case: on-site 20 (30 for sessions 1 and 4) + online 80 ------------------


def test_the_real_case_has_its_own_capacity_per_session_and_frame() -> None:
    p = Program(6)
    assert [p.place(n).capacity for n in range(1, 7)] == [30, 20, 20, 30, 20, 20]
    assert all(p.place(n, Frame.ONLINE).capacity == 80 for n in range(1, 7))


def test_frames_fill_separately() -> None:
    p = Program(1, onsite=20)
    answers = [p.ask(1) for _ in range(30)] + [p.ask(1, frame=Frame.ONLINE) for _ in range(80)]
    assert all(isinstance(a, Confirm) for a in answers)
    assert isinstance(p.ask(1), Wait)
    assert isinstance(p.ask(1, frame=Frame.ONLINE), Wait)
    assert p.place(1).held == 30 and p.place(1, Frame.ONLINE).held == 80


def test_a_session_without_a_frame_refuses_it_as_invalid() -> None:
    p = Program(1, online=0)
    assert reason(p.ask(1, frame=Frame.ONLINE)) is Reason.INVALID


# --- the registration period ---------------------------------------------------------------------


def test_a_draft_program_or_an_unconfirmed_venue_is_not_open() -> None:
    draft = Program(1, status=ProgramStatus.DRAFT)
    assert reason(draft.ask(1)) is Reason.NOT_OPEN
    pending = Program(2)
    sid = pending.ids[1]
    pending.sessions[sid] = SessionFacts(sid, 2, FIRST + WEEK, FIRST + WEEK + timedelta(hours=2),
                                         SessionState.PENDING_VENUE, frozenset(Frame))  # fmt: skip
    assert reason(pending.ask(2)) is Reason.NOT_OPEN
    assert reason(pending.ask(series=True)) is Reason.NOT_OPEN
    assert isinstance(pending.ask(1), Confirm)


def test_before_opening_after_closing_or_once_started_registration_is_closed() -> None:
    p = Program(2, registration_opens_at=NOW + timedelta(hours=1),
                registration_closes_at=FIRST - timedelta(days=1))  # fmt: skip
    assert reason(p.ask(1)) is Reason.CLOSED
    assert reason(p.ask(2, now=FIRST - timedelta(hours=12))) is Reason.CLOSED
    open_until_start = Program(2)
    assert reason(open_until_start.ask(1, now=FIRST)) is Reason.CLOSED
    assert isinstance(open_until_start.ask(2, now=FIRST), Confirm)


def test_a_cancelled_program_or_session_is_closed() -> None:
    assert reason(Program(1, status=ProgramStatus.CANCELLED).ask(1)) is Reason.CLOSED
    p = Program(2)
    sid = p.ids[0]
    p.sessions[sid] = SessionFacts(sid, 1, FIRST, FIRST + timedelta(hours=2),
                                   SessionState.CANCELLED, frozenset(Frame))  # fmt: skip
    assert reason(p.ask(1)) is Reason.CLOSED
    confirmed = p.ask(series=True)
    assert confirmed == Confirm((p.ids[1],)), "the series is what is left of it"


def test_the_same_email_in_the_same_session_and_frame_is_a_duplicate() -> None:
    p = Program(1)
    assert reason(p.ask(1, duplicate=True)) is Reason.DUPLICATE


def test_requests_that_cannot_be_read_as_sessions_are_invalid() -> None:
    p = Program(2)
    both = decide(Ask(True, (p.ids[0],), Frame.ONSITE, 1), p.rules, p.sessions, p.places,
                  False, NOW)  # fmt: skip
    assert reason(both) is Reason.INVALID
    assert reason(p.ask()) is Reason.INVALID
    assert reason(p.ask(1, 1)) is Reason.INVALID
    stranger = decide(Ask(False, (uuid4(),), Frame.ONSITE, 1), p.rules, p.sessions, p.places,
                      False, NOW)  # fmt: skip
    assert reason(stranger) is Reason.INVALID


# --- full-series priority and all-or-nothing ---------------------------------------------------


def test_during_the_priority_period_only_the_full_series_is_accepted() -> None:
    until = NOW + timedelta(days=3)
    p = Program(4, priority_until=until)
    refused = p.ask(2)
    assert reason(refused) is Reason.CLOSED
    assert isinstance(refused, Rejection) and "full-series" in refused.detail
    assert isinstance(p.ask(series=True), Confirm)
    assert isinstance(p.ask(2, now=until), Confirm), "after it, single sessions are sold"


def test_a_series_takes_a_seat_in_every_session_at_once_or_none() -> None:
    p = Program(4, onsite=20)
    for _ in range(20):
        assert isinstance(p.ask(3), Confirm)  # session 3 is full (20 seats)
    waiting = p.ask(series=True)
    assert isinstance(waiting, Wait)
    assert [pos for _, pos in waiting.positions] == [1, 1, 1, 1]
    assert [p.place(n).held for n in range(1, 5)] == [0, 0, 20, 0], "no seat held anywhere"
    assert [p.place(n).waiting for n in range(1, 5)] == [1, 1, 1, 1], "it waits as a whole"


def test_a_confirmed_series_holds_every_session() -> None:
    p = Program(6)
    decision = p.ask(series=True, party=2)
    assert decision == Confirm(tuple(p.ids))
    assert [p.place(n).held for n in range(1, 7)] == [2] * 6


def test_several_named_sessions_are_all_or_nothing_too() -> None:
    p = Program(3, onsite=1)
    assert isinstance(p.ask(2), Confirm)
    assert isinstance(p.ask(2, 3), Wait)
    assert p.place(3).held == 0


def test_without_a_waitlist_a_full_session_refuses_as_full() -> None:
    p = Program(1, onsite=1, waitlist=False)
    sid = p.ids[0]
    p.places[(sid, Frame.ONSITE)] = Place(1)
    assert isinstance(p.ask(1), Confirm)
    assert reason(p.ask(1)) is Reason.FULL


# --- groups ----------------------------------------------------------------------------------


def test_a_party_takes_its_seats_together_or_waits_together() -> None:
    p = Program(2, onsite=20)
    for _ in range(17):
        p.ask(2)
    assert isinstance(p.ask(2, party=4), Wait)
    assert p.place(2).held == 17, "no seat taken for part of the party"
    assert isinstance(p.ask(2, party=3), Confirm)


def test_positions_count_registrations_waiting_ahead() -> None:
    p = Program(2, onsite=20)
    for _ in range(20):
        p.ask(2)
    answers = [p.ask(2, party=n) for n in (4, 1, 2)]
    assert [a.positions[0][1] for a in answers if isinstance(a, Wait)] == [1, 2, 3]


def entries(p: Program, *parties: int, number: int = 2, start: int = 1) -> list[Waiting]:
    sid = p.ids[number - 1]
    return [Waiting(uuid4(), start + i, (sid,), Frame.ONSITE, n) for i, n in enumerate(parties)]


def waiting_in(p: Program, found: list[Waiting]) -> None:
    for entry in found:
        for key in entry.keys():
            p.places[key].waiting += 1


def test_the_first_that_fits_is_promoted_a_smaller_party_behind_may_go_first() -> None:
    p = Program(2, onsite=20)
    p.place(2).held = 17  # three seats free
    queue = entries(p, 4, 1, 2)
    waiting_in(p, queue)
    promoted = promote(queue, p.places, p.rules, p.starts(), NOW)
    assert [x.entry.party for x in promoted] == [1, 2], "the party of 4 does not fit in 3"
    assert p.place(2).held == 20 and p.place(2).waiting == 1


def test_the_head_of_the_list_is_served_first_whenever_it_fits() -> None:
    p = Program(2, onsite=20)
    p.place(2).held = 16  # four seats free
    queue = entries(p, 4, 1, 2)
    waiting_in(p, queue)
    promoted = promote(list(reversed(queue)), p.places, p.rules, p.starts(), NOW)
    assert [x.entry.seq for x in promoted] == [1], "arrival order, not the order given"
    assert p.place(2).free == 0


def test_a_waiting_series_is_promoted_only_when_it_fits_every_session() -> None:
    p = Program(3, onsite=20)
    p.place(1).held, p.place(2).held, p.place(3).held = 30, 20, 19
    series = Waiting(uuid4(), 1, tuple(p.ids), Frame.ONSITE, 1)
    waiting_in(p, [series])
    assert promote([series], p.places, p.rules, p.starts(), NOW) == []
    release(p.places, [p.ids[0]], Frame.ONSITE, 1, Status.CONFIRMED)
    assert promote([series], p.places, p.rules, p.starts(), NOW) == [], "session 2 still full"
    release(p.places, [p.ids[1]], Frame.ONSITE, 1, Status.CONFIRMED)
    assert promote([series], p.places, p.rules, p.starts(), NOW) == [Promoted(series, None)]
    assert [p.place(n).held for n in (1, 2, 3)] == [30, 20, 20]


def test_a_registration_whose_session_has_begun_is_not_promoted() -> None:
    p = Program(2, onsite=20)
    queue = entries(p, 1, number=1)
    waiting_in(p, queue)
    assert promote(queue, p.places, p.rules, p.starts(), FIRST + timedelta(minutes=5)) == []


def test_releasing_gives_back_seats_or_a_place_in_the_lists() -> None:
    p = Program(2)
    p.place(1).held, p.place(2).held = 5, 5
    freed = release(p.places, p.ids, Frame.ONSITE, 2, Status.CONFIRMED)
    assert freed == [(sid, Frame.ONSITE) for sid in p.ids]
    assert p.place(1).held == 3
    p.place(1).waiting = 1
    assert release(p.places, [p.ids[0]], Frame.ONSITE, 2, Status.WAITLISTED) == []
    assert p.place(1).waiting == 0


# --- offers ----------------------------------------------------------------------------------


def test_an_offer_runs_48_hours_but_never_later_than_3_hours_before_the_session() -> None:
    assert offer_deadline(NOW, FIRST, 48) == NOW + timedelta(hours=48)
    close = FIRST - timedelta(hours=20)
    assert offer_deadline(close, FIRST, 48) == FIRST - timedelta(hours=3)
    assert offer_deadline(FIRST - timedelta(hours=2), FIRST, 48) is None


def test_offer_mode_offers_with_its_deadline_or_confirms_when_no_time_is_left() -> None:
    p = Program(2, onsite=20, promotion=Promotion.OFFER)
    queue = entries(p, 1, 1, number=1)
    waiting_in(p, queue)
    offered = promote(queue[:1], p.places, p.rules, p.starts(), NOW)
    assert offered[0].offer_expires_at == NOW + timedelta(hours=48)
    late = FIRST - timedelta(hours=2)
    assert promote(queue[1:], p.places, p.rules, p.starts(), late)[0].offer_expires_at is None


# --- capacities ------------------------------------------------------------------------------


def test_a_capacity_is_raised_freely_and_never_lowered_below_the_seats_held() -> None:
    place = Place(20, held=15)
    assert check_capacity(place, 30, Frame.ONSITE) is None
    assert check_capacity(place, 15, Frame.ONSITE) is None
    refused = check_capacity(place, 14, Frame.ONSITE)
    assert refused is not None and refused.reason is Reason.CONFLICT


# --- check-in --------------------------------------------------------------------------------


def attendee(sid: UUID, status: Status = Status.CONFIRMED, recorded: bool = False) -> Attendee:
    return Attendee(status, (sid,), recorded, FIRST, FIRST + timedelta(hours=2))


def test_a_check_in_code_works_once_per_session_from_an_hour_before_the_start() -> None:
    sid = uuid4()
    at = FIRST - timedelta(minutes=30)
    assert check_attendance(attendee(sid), sid, at) is None
    refusals = [
        check_attendance(None, sid, at),
        check_attendance(attendee(sid), uuid4(), at),
        check_attendance(attendee(sid, Status.CANCELLED), sid, at),
        check_attendance(attendee(sid, recorded=True), sid, at),
        check_attendance(attendee(sid), sid, FIRST - timedelta(hours=2)),
    ]
    assert [r.reason if r else None for r in refusals] == [
        Reason.NOT_FOUND, Reason.NOT_FOUND, Reason.CONFLICT,
        Reason.ALREADY_RECORDED, Reason.CLOSED,
    ]  # fmt: skip


def test_check_in_codes_are_unambiguous_and_forgiving_as_typed() -> None:
    code = new_check_in_code()
    assert len(code) == 8 and not set(code) & set("01IO")
    assert normal_code(f" {code[:4].lower()}-{code[4:]} ") == code


@pytest.mark.parametrize(
    ("moment", "year"),
    [(datetime(2023, 4, 1, 0, 0, tzinfo=TOKYO), 2023),
     (datetime(2024, 3, 31, 23, 59, tzinfo=TOKYO), 2023),
     (datetime(2024, 3, 31, 15, 30, tzinfo=ZoneInfo("UTC")), 2024)],
)  # fmt: skip
def test_fiscal_years_run_april_to_march_in_tokyo(moment: datetime, year: int) -> None:
    assert fiscal_year_of(moment) == year
