"""A property of the registration rules: random registrations (single sessions, several, the
full series; parties of 1-4; both frames), cancellations, capacity changes and expired offers,
in any order, never hold more seats than a place has, keep every waitlist in order of arrival
(no one is passed over while the free seats would fit them), and answer every request exactly
once. The handlers keep the same counters in PostgreSQL with these very functions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.program import Frame, Promotion
from services.events.domain import (
    Ask,
    Confirm,
    Place,
    PlaceKey,
    ProgramRules,
    ProgramStatus,
    Rejection,
    SessionFacts,
    SessionState,
    Status,
    Wait,
    Waiting,
    check_capacity,
    decide,
    fits,
    promote,
    release,
)

TOKYO = ZoneInfo("Asia/Tokyo")
NOW = datetime(2030, 4, 20, 10, 0, tzinfo=TOKYO)
SESSIONS = 3


@dataclass
class Held:
    """A registration of the model: what the service stores for it."""

    entry: Waiting
    status: Status


class Model:
    """One program of three sessions, on-site and online, kept as the service keeps it."""

    def __init__(self, capacities: list[int], promotion: Promotion) -> None:
        self.sids = [uuid4() for _ in range(SESSIONS)]
        start = datetime(2030, 5, 8, 18, 30, tzinfo=TOKYO)
        self.sessions = {
            sid: SessionFacts(sid, n + 1, start + timedelta(days=7 * n),
                              start + timedelta(days=7 * n, hours=2), SessionState.OPEN,
                              frozenset(Frame))
            for n, sid in enumerate(self.sids)
        }  # fmt: skip
        self.places: dict[PlaceKey, Place] = {
            (sid, frame): Place(capacities[(2 * n + i) % len(capacities)])
            for n, sid in enumerate(self.sids)
            for i, frame in enumerate(Frame)
        }
        self.rules = ProgramRules(ProgramStatus.PUBLISHED, NOW - timedelta(days=1),
                                  promotion=promotion)  # fmt: skip
        self.registrations: list[Held] = []
        self.answers: dict[UUID, int] = {}
        self.seq = 0

    def starts(self) -> dict[UUID, datetime]:
        return {sid: s.starts_at for sid, s in self.sessions.items()}

    def register(self, numbers: list[int], series: bool, frame: Frame, party: int) -> None:
        request = uuid4()
        ids = () if series else tuple(self.sids[n] for n in dict.fromkeys(numbers))
        decision = decide(Ask(series, ids, frame, party), self.rules, self.sessions,
                          self.places, False, NOW)  # fmt: skip
        self.answers[request] = self.answers.get(request, 0) + 1
        if isinstance(decision, Rejection):
            return
        self.seq += 1
        held = decision.session_ids if isinstance(decision, Confirm) else tuple(
            sid for sid, _ in decision.positions)  # fmt: skip
        entry = Waiting(uuid4(), self.seq, held, frame, party)
        status = Status.CONFIRMED if isinstance(decision, Confirm) else Status.WAITLISTED
        if isinstance(decision, Wait):
            ahead = [r for r in self.waiting() if set(r.entry.keys()) & set(entry.keys())]
            for sid, position in decision.positions:
                assert position == self.places[(sid, frame)].waiting
            assert all(r.entry.seq < entry.seq for r in ahead)
        self.registrations.append(Held(entry, status))

    def waiting(self) -> list[Held]:
        return [r for r in self.registrations if r.status is Status.WAITLISTED]

    def leave(self, index: int, status: Status) -> None:
        """Cancel a registration (or expire or decline its offer) and promote."""
        if not self.registrations:
            return
        held = self.registrations[index % len(self.registrations)]
        if not held.status.active or (status is not Status.CANCELLED
                                      and held.status is not Status.OFFERED):  # fmt: skip
            return
        freed = release(self.places, held.entry.session_ids, held.entry.frame, held.entry.party,
                        held.status)  # fmt: skip
        held.status = status
        self.promote_from(freed)

    def change_capacity(self, number: int, frame: Frame, capacity: int) -> None:
        key = (self.sids[number], frame)
        if check_capacity(self.places[key], capacity, frame) is not None:
            return
        self.places[key].capacity = capacity
        self.promote_from([key])

    def promote_from(self, freed: list[PlaceKey]) -> None:
        candidates = [r for r in self.waiting() if set(r.entry.keys()) & set(freed)]
        by_id = {r.entry.registration_id: r for r in candidates}
        for promoted in promote([r.entry for r in candidates], self.places, self.rules,
                                self.starts(), NOW):  # fmt: skip
            skipped = [r for r in candidates if r.status is Status.WAITLISTED
                       and r.entry.seq < promoted.entry.seq
                       and set(r.entry.keys()) & set(promoted.entry.keys())]  # fmt: skip
            assert all(not fits(r.entry, self.places) for r in skipped)
            by_id[promoted.entry.registration_id].status = (
                Status.CONFIRMED if promoted.offer_expires_at is None else Status.OFFERED
            )

    def check(self) -> None:
        for key, place in self.places.items():
            holding = [r for r in self.registrations
                       if r.status.holds_seats and key in r.entry.keys()]  # fmt: skip
            waiting = [r for r in self.waiting() if key in r.entry.keys()]
            assert place.held == sum(r.entry.party for r in holding), key
            assert place.held <= place.capacity, (key, place)
            assert place.waiting == len(waiting), key
        for r in self.waiting():  # nobody waits while the free seats would fit them
            assert not fits(r.entry, self.places), r
        assert all(count == 1 for count in self.answers.values())


Step = tuple[str, int, int, int, bool]
steps = st.lists(
    st.one_of(
        st.tuples(st.just("register"), st.integers(0, 7), st.integers(0, 1),
                  st.integers(1, 4), st.booleans()),
        st.tuples(st.just("cancel"), st.integers(0, 1000), st.integers(0, 1), st.just(0),
                  st.just(False)),
        st.tuples(st.just("expire"), st.integers(0, 1000), st.integers(0, 1), st.just(0),
                  st.just(False)),
        st.tuples(st.just("capacity"), st.integers(0, SESSIONS - 1), st.integers(0, 1),
                  st.integers(0, 8), st.just(False)),
    ),
    max_size=80,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    capacities=st.lists(st.integers(0, 6), min_size=1, max_size=6),
    promotion=st.sampled_from(Promotion),
    plan=steps,
)
def test_seats_never_exceed_capacity_waitlists_keep_order_one_answer_each(
    capacities: list[int], promotion: Promotion, plan: list[Step]
) -> None:
    model = Model(capacities, promotion)
    frames = list(Frame)
    for kind, a, b, c, flag in plan:
        if kind == "register":
            numbers = [n for n in range(SESSIONS) if a & (1 << n)] or [a % SESSIONS]
            model.register(numbers, series=flag and a == 7, frame=frames[b], party=c)
        elif kind == "cancel":
            model.leave(a, Status.CANCELLED)
        elif kind == "expire":
            model.leave(a, Status.EXPIRED if b else Status.DECLINED)
        else:
            model.change_capacity(a, frames[b], c)
        model.check()
