"""The rush when a popular course opens, on a stack of its own.

    python -m tests.bench.events [--requests 5000] [--seconds 10] [--onsite 20] [--online 80]

One session with 20 on-site and 80 online seats and a waitlist; `--requests` registration
requests (a third on site, parties of 1-4, most of one) arrive within `--seconds` (open loop:
requests leave on schedule whatever the answers do), sent by the web client over Kafka as on the
day. Prints decisions/s, p50/p99 request→answer, the seats confirmed per frame (they must equal
the capacity exactly: no oversell, no seat left while someone who fits waits), the registrations
waitlisted and refused, and the events service's peak resident memory and CPU. The goal is 500
decisions/s or more. Runs under `.local/bench-events`, started and stopped here; it is not part
of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import asyncpg
import uvloop

from clients.commands import CommandClient
from contracts.program import (
    CreateProgram,
    Frame,
    FramePlan,
    ProgramEventT,
    ProgramKind,
    PublishProgram,
    RegistrationConfirmed,
    RegistrationRejected,
    RegistrationWaitlisted,
    RequestRegistration,
    SessionPlan,
    Venue,
    program_event_adapter,
)
from contracts.topics import PROGRAM_COMMANDS, PROGRAM_EVENTS
from deploy.local.stack import Stack, StackConfig
from tests import identity_support
from tests.bench.booking import cpu_seconds, peak_rss_mb, percentile, stamp
from tests.support import PORT_OFFSET, SLOT, ServiceProcess, System, credentials

ROOT = (
    Path(__file__).resolve().parents[2]
    / ".local"
    / ("bench-events" if not SLOT else f"bench-events-{SLOT}")
)
EVENTS_HTTP_PORT = 38384 + PORT_OFFSET
SERVICES = (ServiceProcess("events", "services.events", EVENTS_HTTP_PORT, "events"),)
PARTIES = (1, 1, 1, 1, 1, 2, 2, 3, 4)  # most come alone


def course(onsite: int, online: int) -> CreateProgram:
    start = datetime.now(UTC) + timedelta(days=30)
    session = SessionPlan(
        session_id=uuid4(), starts_at=start, ends_at=start + timedelta(hours=2),
        venue=Venue.OUTSIDE, online_url="https://meet.example.org/rush",
        frames=[FramePlan(frame=Frame.ONSITE, capacity=onsite),
                FramePlan(frame=Frame.ONLINE, capacity=online)],
    )  # fmt: skip
    return CreateProgram(
        message_id=uuid4(),
        kind=ProgramKind.SEMINAR,
        title="起業講座 説明会",
        sessions=[session],
        registration_opens_at=datetime.now(UTC) - timedelta(minutes=1),
    )


def requests(plan: CreateProgram, count: int, rng: random.Random) -> list[RequestRegistration]:
    sid = plan.sessions[0].session_id
    return [
        RequestRegistration(
            message_id=uuid4(), program_id=plan.message_id, session_ids=[sid],
            frame=Frame.ONSITE if rng.random() < 1 / 3 else Frame.ONLINE,
            party_size=rng.choice(PARTIES), name="参加 希望", email=f"rush-{i}@example.org",
        )
        for i in range(count)
    ]  # fmt: skip


async def rush(args: argparse.Namespace, system: System) -> None:
    client: CommandClient[ProgramEventT] = CommandClient(
        system.stack.kafka_bootstrap, PROGRAM_COMMANDS, PROGRAM_EVENTS, program_event_adapter,
        sender=credentials("web"), reader=credentials("admin"),
        proof=identity_support.token_for,
    )  # fmt: skip
    async with client:
        plan = course(args.onsite, args.online)
        assert await client.request(plan, 30) is not None
        published = PublishProgram(message_id=uuid4(), program_id=plan.message_id)
        assert await client.request(published, 30) is not None
        commands = requests(plan, args.requests, random.Random(2024))
        rate = args.requests / args.seconds
        sent_at: dict[int, float] = {}
        done_at: dict[int, float] = {}
        futures = []
        cpu_before = cpu_seconds(system.stack.pid("events"))
        start = time.perf_counter()
        for i, cmd in enumerate(commands):
            if (delay := start + i / rate - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            sent_at[i] = time.perf_counter()
            future = await client.send(cmd, wait_ack=False)
            future.add_done_callback(stamp(done_at, i))
            futures.append(future)
        await client.flush()
        answers: list[Any] = []
        try:
            answers = list(await asyncio.wait_for(asyncio.gather(*futures), timeout=120))
        except TimeoutError:
            answers = [f.result() for f in futures if f.done()]
    elapsed = max(done_at.values(), default=start) - start
    latencies = [(done_at[i] - sent_at[i]) * 1000 for i in done_at]
    confirmed = [a for a in answers if isinstance(a, RegistrationConfirmed)]
    seats = {f: sum(a.party_size for a in confirmed if a.frame is f) for f in Frame}
    print()
    print(f"requests sent            {len(commands)} in {sent_at[len(commands) - 1] - start:.1f} s")
    print(f"answered                 {len(done_at)}")
    print(f"decisions/s              {len(done_at) / max(elapsed, 1e-9):.0f}")
    print(f"p50 request→answer       {statistics.median(latencies):.1f} ms")
    print(f"p99 request→answer       {percentile(latencies, 0.99):.1f} ms")
    print(f"confirmed seats onsite   {seats[Frame.ONSITE]} of {args.onsite}")
    print(f"confirmed seats online   {seats[Frame.ONLINE]} of {args.online}")
    print(f"confirmed registrations  {len(confirmed)}")
    print(f"waitlisted               {sum(isinstance(a, RegistrationWaitlisted) for a in answers)}")
    print(f"rejected                 {sum(isinstance(a, RegistrationRejected) for a in answers)}")
    await check_places(system, plan, args)
    pid = system.stack.pid("events")
    print(f"peak RSS events          {peak_rss_mb(pid):.0f} MB")
    print(f"CPU seconds events       {cpu_seconds(pid) - cpu_before:.1f} (during the rush)")


async def check_places(system: System, plan: CreateProgram, args: argparse.Namespace) -> None:
    """What PostgreSQL holds: seats held per frame, exactly the capacity."""
    conn = await asyncpg.connect(system.dsn("events"))
    try:
        rows = await conn.fetch("SELECT frame, capacity, held, waiting FROM places"
                                " WHERE session_id = $1 ORDER BY frame",
                                plan.sessions[0].session_id)  # fmt: skip
    finally:
        await conn.close()
    for r in rows:
        verdict = "exactly full" if r["held"] == r["capacity"] else "NOT FULL / OVERSOLD"
        print(f"stored {r['frame']:<7} held {r['held']}/{r['capacity']} waiting {r['waiting']}"
              f" ({verdict})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--onsite", type=int, default=20)
    parser.add_argument("--online", type=int, default=80)
    args = parser.parse_args()
    shutil.rmtree(ROOT, ignore_errors=True)
    stack = Stack(StackConfig(root=ROOT, kafka_port=39492 + PORT_OFFSET,
                              postgres_port=35832 + PORT_OFFSET, smtp_port=3926 + PORT_OFFSET,
                              prometheus_port=39590 + PORT_OFFSET))  # fmt: skip
    stack.install()
    system = System(stack, SERVICES)
    try:
        stack.start_infrastructure(prometheus=False)
        system.start_all()
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(rush(args, system))
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
