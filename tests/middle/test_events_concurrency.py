"""The registration property on PostgreSQL, under concurrency: random registrations (sessions,
the full series, both frames, parties of 1-4), cancellations and capacity changes, handled at
once by several instances of the service (one command each, as consumers of different
partitions would), never hold more seats than a place has, keep the counters true to the
registrations, leave nobody waiting whom the free seats would fit, and answer every command
exactly once."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.envelope import Message
from contracts.program import (
    CancelRegistration,
    ChangeSession,
    CreateProgram,
    Frame,
    FramePlan,
    ProgramKind,
    PublishProgram,
    RegistrationConfirmed,
    RegistrationWaitlisted,
    RequestRegistration,
    SessionPlan,
    Venue,
)
from services.events import app
from tests.harness import HarnessFactory, ServiceHarness

pytestmark = pytest.mark.middle

INSTANCES = 4
SESSIONS = 3

Op = tuple[str, int, int, int]
operations = st.lists(
    st.one_of(
        st.tuples(st.just("register"), st.integers(0, 8), st.integers(0, 1), st.integers(1, 4)),
        st.tuples(st.just("cancel"), st.integers(0, 100), st.just(0), st.just(0)),
        st.tuples(st.just("capacity"), st.integers(0, SESSIONS - 1), st.integers(0, 1),
                  st.integers(0, 8)),
    ),
    min_size=4,
    max_size=30,
)  # fmt: skip


@pytest.fixture
async def shared(harnesses: HarnessFactory, monkeypatch: pytest.MonkeyPatch) -> ServiceHarness:
    """One database for every example (each example plans a program of its own)."""
    monkeypatch.setenv("DEVELOPMENT", "1")
    return await harnesses(app.build_spec(), pool_size=INSTANCES + 2)


def course(capacity: int) -> CreateProgram:
    first = datetime.now(UTC) + timedelta(days=20)
    sessions = [
        SessionPlan(session_id=uuid4(), starts_at=first + timedelta(days=7 * n),
                    ends_at=first + timedelta(days=7 * n, hours=2), venue=Venue.OUTSIDE,
                    frames=[FramePlan(frame=f, capacity=capacity) for f in Frame])
        for n in range(SESSIONS)
    ]  # fmt: skip
    return CreateProgram(
        message_id=uuid4(),
        kind=ProgramKind.SALON,
        title="対話の場",
        sessions=sessions,
        registration_opens_at=datetime.now(UTC) - timedelta(days=1),
    )


def command(op: Op, plan: CreateProgram, answers: list[Message]) -> Message:
    kind, a, b, c = op
    ids = [s.session_id for s in plan.sessions]
    if kind == "register":
        series = a >= 7
        chosen = [] if series else [ids[n] for n in range(SESSIONS) if a & (1 << n)] or [ids[0]]
        return RequestRegistration(
            message_id=uuid4(), program_id=plan.message_id, series=series, session_ids=chosen,
            frame=list(Frame)[b], party_size=c, name="参加者",
            email=f"{uuid4().hex[:8]}@example.org",
        )  # fmt: skip
    if kind == "cancel":
        held = [m for m in answers if isinstance(m, RegistrationConfirmed | RegistrationWaitlisted)]
        if not held:
            return CancelRegistration(message_id=uuid4(), registration_id=uuid4())
        target = held[a % len(held)]
        return CancelRegistration(message_id=uuid4(), registration_id=target.registration_id,
                                  token=target.cancel_token)  # fmt: skip
    return ChangeSession(message_id=uuid4(), session_id=ids[a],
                         frames=[FramePlan(frame=list(Frame)[b], capacity=c)])  # fmt: skip


async def check_program(events: ServiceHarness, program_id: UUID) -> None:
    places = await events.pool.fetch(
        "SELECT p.session_id, p.frame, p.capacity, p.held, p.waiting FROM places p"
        " JOIN sessions s ON s.id = p.session_id WHERE s.program_id = $1", program_id,
    )  # fmt: skip
    regs = await events.pool.fetch(
        "SELECT r.id, r.frame, r.party, r.status, array_agg(rs.session_id) AS sessions"
        " FROM registrations r JOIN registration_sessions rs ON rs.registration_id = r.id"
        " WHERE r.program_id = $1 GROUP BY r.id", program_id,
    )  # fmt: skip
    free = {}
    for p in places:
        key = (p["session_id"], p["frame"])
        holding = [
            r
            for r in regs
            if r["status"] in ("confirmed", "offered")
            and r["frame"] == p["frame"]
            and p["session_id"] in r["sessions"]
        ]
        waiting = [r for r in regs if r["status"] == "waitlisted"
                   and r["frame"] == p["frame"] and p["session_id"] in r["sessions"]]  # fmt: skip
        assert p["held"] == sum(r["party"] for r in holding) <= p["capacity"], dict(p)
        assert p["waiting"] == len(waiting), dict(p)
        free[key] = p["capacity"] - p["held"]
    for r in regs:
        if r["status"] == "waitlisted":
            fits = all(free[(sid, r["frame"])] >= r["party"] for sid in r["sessions"])
            assert not fits, f"{dict(r)} waits though the free seats fit it"


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations, wave=st.integers(1, INSTANCES), per_batch=st.integers(1, 3),
       capacity=st.integers(1, 3))  # fmt: skip
async def test_concurrent_registrations_never_oversell_and_each_gets_one_answer(
    shared: ServiceHarness, ops: list[Op], wave: int, per_batch: int, capacity: int
) -> None:
    """Each wave is `wave` batches of up to `per_batch` commands, one batch per instance, all
    at once (a batch's registrations take the bulk path)."""
    plan = course(capacity)
    await shared.request(plan)
    await shared.request(PublishProgram(message_id=uuid4(), program_id=plan.message_id))
    answers: list[Message] = []
    async with AsyncExitStack() as stack:
        others = [await stack.enter_async_context(shared.instance()) for _ in range(wave - 1)]
        instances = [shared, *others]
        step = wave * per_batch
        for i in range(0, len(ops), step):
            commands = [command(op, plan, answers) for op in ops[i : i + step]]
            batches = [commands[j : j + per_batch] for j in range(0, len(commands), per_batch)]
            results = await asyncio.gather(
                *(instance.send_batch(b) for instance, b in zip(instances, batches, strict=False))
            )
            # an instance reads back the rows written meanwhile, the others' too: once each
            published = list({m.message_id: m for result in results for m in result}.values())
            for cmd in commands:
                answered = [m for m in published
                            if getattr(m, "request_id", None) == cmd.message_id]  # fmt: skip
                assert len(answered) == 1, (cmd, answered)
                answers += answered
    await check_program(shared, plan.message_id)
