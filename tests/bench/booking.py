"""Booking throughput, contention and read load on the whole local stack.

    python -m tests.bench.booking [--case all|throughput,limit,contention,availability]
        [--rates 200,500,1000,2000] [--seconds 10] [--burst 10000]
        [--contenders 200] [--contested-slots 10] [--readers 8]

throughput: offers reservation requests for distinct free slots at each rate in turn (open loop:
requests leave on schedule whatever the answers do), then a burst as fast as the client can
publish. Prints, per step: offered rate, decisions/s sustained, p50/p99 request→outcome latency.
limit: booking's decision loop alone (notify and the SMTP sink paused), and the same loop
written with nothing but aiokafka and asyncpg (tests/bench/bare_loop.py) just before and just
after it, given the same burst on the same broker and database; prints their decisions/s and the
ratio booking / limit (goal: 0.7 or more).
contention: for each contested slot, 200 organisations ask at once for Space A (alone or as A+B)
over the same time; prints winners per slot (must be 1), conflicts, and how long each round took.
availability: readers query the availability of Space A/B over a week as fast as they can while
bookings flow at 500/s; prints reads/s, read p50/p99, and the decisions/s meanwhile.
Finally the peak resident memory and CPU of each process. Runs on its own stack under
`.local/bench-booking`, started and stopped here; it is not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from uuid import uuid4

import httpx
import uvloop
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from clients.kiosk.client import BookingClient
from contracts.booking import (
    RejectionReason,
    RequestReservation,
    ReservationConfirmed,
    ReservationRejected,
    SpaceId,
)
from deploy.local.stack import Stack, StackConfig
from services.runtime.db import ensure_database
from tests import identity_support
from tests.bench import bare_loop
from tests.bench.profile import Profile, print_top
from tests.support import (
    PORT_OFFSET,
    SLOT,
    TOKYO,
    Days,
    ServiceProcess,
    System,
    as_admin,
    at,
    credentials,
    register,
    reservation,
)

# TEST_STACK_SLOT=N moves the benchmark to its own root and ports, as it does the test stacks,
# so two runs on one machine do not collide (slots 0-9 stay below the notify benchmark's ports).
ROOT = (
    Path(__file__).resolve().parents[2]
    / ".local"
    / ("bench-booking" if not SLOT else f"bench-booking-{SLOT}")
)
BOOKING_HTTP_PORT = 38181 + PORT_OFFSET
# The booking service lives on 2031-01-06 10:00 and books from the next day on: far from the
# real date, so that notify's reminders (due the day before a booking) stay in the future and the
# figures measure bookings, not reminder e-mails. A horizon for ~50,000 distinct slots, and a
# quota of the center's order that no organisation reaches.
BENCH_NOW = datetime(2031, 1, 6, 10, 0, tzinfo=TOKYO)
DAYS = Days(BENCH_NOW.date() + timedelta(days=1))
BENCH_ENV = (
    ("BOOKING_CLOCK_SHIFT_S", f"{(BENCH_NOW - datetime.now(TOKYO)).total_seconds():.3f}"),
    ("BOOKING_HORIZON_MONTHS", "72"),
    ("BOOKING_MAX_ACTIVE_RESERVATIONS", "50"),
)
READS_HTTP_PORT = BOOKING_HTTP_PORT + 2
SERVICES = (
    ServiceProcess("booking", "services.booking", BOOKING_HTTP_PORT, "booking", BENCH_ENV),
    # the read API in a process of its own (SERVICE_ROLE=api), as it is deployed: heavy reads
    # then compete for CPU but never hold up the consumer's event loop
    ServiceProcess(
        "booking-api",
        "services.booking",
        READS_HTTP_PORT,
        "booking",
        (*BENCH_ENV, ("SERVICE_ROLE", "api")),
    ),
    ServiceProcess("notify", "services.notify", BOOKING_HTTP_PORT + 1, "notify"),
)
CASES = ("throughput", "limit", "contention", "availability")
ORGANISATIONS = 2000  # ~25 future reservations each by the end of a full run


def slots(org_ids: list, count: int) -> list[RequestReservation]:  # type: ignore[type-arg]
    out: list[RequestReservation] = []
    while len(out) < count:
        day = DAYS.next()
        for half in range(22):
            hh, mm = divmod(9 * 60 + 30 * half, 60)
            end_h, end_m = divmod(hh * 60 + mm + 30, 60)
            for space in (SpaceId.A, SpaceId.B):
                org = org_ids[len(out) % len(org_ids)]
                out.append(reservation(org, space, at(day, hh, mm), at(day, end_h, end_m)))
    return out[:count]


@dataclass
class Step:
    label: str
    offered: float
    decisions_per_s: float
    p50_ms: float
    p99_ms: float
    answered: int
    sent: int


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def stamp(times: dict[int, float], i: int) -> Callable[[object], None]:
    def done(_: object) -> None:
        times[i] = time.perf_counter()

    return done


async def run_step(
    client: BookingClient, label: str, commands: list[RequestReservation], rate: float | None
) -> Step:
    sent_at: dict[int, float] = {}
    done_at: dict[int, float] = {}
    futures = []
    start = time.perf_counter()
    for i, cmd in enumerate(commands):
        if rate is not None:
            due = start + i / rate
            if (delay := due - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
        sent_at[i] = time.perf_counter()
        future = await client.send(cmd, wait_ack=False)
        future.add_done_callback(stamp(done_at, i))
        futures.append(future)
    await client.flush()
    try:
        await asyncio.wait_for(asyncio.gather(*futures), timeout=120)
    except TimeoutError:
        pass
    latencies = [(done_at[i] - sent_at[i]) * 1000 for i in done_at]
    last = max(done_at.values(), default=start)
    elapsed = max(last - start, 1e-9)
    return Step(
        label=label,
        offered=len(commands) / max(sent_at[len(commands) - 1] - start, 1e-9),
        decisions_per_s=len(done_at) / elapsed,
        p50_ms=statistics.median(latencies) if latencies else float("nan"),
        p99_ms=percentile(latencies, 0.99),
        answered=len(done_at),
        sent=len(commands),
    )


def cpu_seconds(pid: int | None) -> float:
    """User+system CPU time of a process, to see who uses the two cores during the run."""
    if pid is None:
        return float("nan")
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int | None) -> float:
    if pid is None:
        return float("nan")
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def print_steps(steps: list[Step]) -> None:
    print()
    print(f"{'step':>10} {'sent':>7} {'answered':>8} {'offered/s':>10} {'decisions/s':>12}"
          f" {'p50 ms':>8} {'p99 ms':>8}")  # fmt: skip
    for s in steps:
        print(f"{s.label:>10} {s.sent:>7} {s.answered:>8} {s.offered:>10.0f}"
              f" {s.decisions_per_s:>12.0f} {s.p50_ms:>8.1f} {s.p99_ms:>8.1f}")  # fmt: skip


async def throughput(
    args: argparse.Namespace,
    system: System,
    client: BookingClient,
    orgs: list,  # type: ignore[type-arg]
) -> Step:
    steps = []
    for rate in args.rates:
        commands = slots(orgs, int(rate * args.seconds))
        steps.append(await run_step(client, f"{rate:.0f}/s", commands, rate))
    profile = None
    if args.profile and (pid := system.stack.pid("booking")) is not None:
        profile = Profile(pid, ROOT / "booking.profile.txt", args.burst / 700)
        await profile.start()
    steps.append(await run_step(client, "burst", slots(orgs, args.burst), None))
    print_steps(steps)
    if profile is not None:
        await profile.finish()
        print_top(profile.out, "booking during the burst")
    return steps[-1]


async def bare_burst(bootstrap: str, count: int) -> float:
    """Decisions/s of the bare loop for a burst of `count` requests for distinct slots."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True,
                                linger_ms=1, **as_admin())  # fmt: skip
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                fetch_max_wait_ms=20, **as_admin())  # fmt: skip
    await producer.start()
    await consumer.start()
    try:
        tps = [TopicPartition(bare_loop.REPLIES, p) for p in range(bare_loop.PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:
            await consumer.position(tp)
        requests = [
            {"request_id": str(c.message_id), "room": c.space.value,
             "starts_at": c.starts_at.isoformat(), "ends_at": c.ends_at.isoformat()}
            for c in slots([uuid4()], count)
        ]  # fmt: skip
        waiting = {q["request_id"] for q in requests}
        start = time.perf_counter()
        for q in requests:
            await producer.send(bare_loop.REQUESTS, json.dumps(q).encode(),
                                key=q["room"].encode())  # fmt: skip
        await producer.flush()
        deadline = start + 120
        while waiting and time.perf_counter() < deadline:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    waiting.discard(json.loads(record.value or b"{}").get("request_id"))
        return (count - len(waiting)) / (time.perf_counter() - start)
    finally:
        await producer.stop()
        await consumer.stop()


@contextlib.contextmanager
def paused(system: System, *names: str) -> Iterator[None]:
    """Processes stopped (SIGSTOP) for a while, so a measurement has the machine to itself."""
    pids = [pid for n in names if (pid := system.stack.pid(n)) is not None]
    for pid in pids:
        os.killpg(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.killpg(pid, signal.SIGCONT)


async def limit(
    args: argparse.Namespace,
    system: System,
    client: BookingClient,
    orgs: list,  # type: ignore[type-arg]
) -> None:
    """The bare loop and booking's decision loop, each alone on the machine (notify, which
    mails every booking outcome, and the SMTP sink paused meanwhile), on the same broker and
    database; booking's share of the bare loop. The bare loop deciding per request runs just
    before booking and just after it, and booking is compared with the mean of the two: on a
    machine others share, the load drifts over the minutes a run takes, and a limit measured
    only before or only after would follow the drift instead of the machine."""
    per_request: list[str] = []
    with paused(system, "notify", "smtp"):
        before = await bare_loop_rate(system, "per request", per_request, args.burst)
        booking = await run_step(client, "alone", slots(orgs, args.burst), None)
        after = await bare_loop_rate(system, "per request", per_request, args.burst)
        pipelined = await bare_loop_rate(system, "pipelined", ["--pipelined"], args.burst)
    limit_rate = (before + after) / 2
    print(f"\nthe decision loop alone (notify paused), burst of {args.burst}:")
    print(f"  {'booking':>15}: {booking.decisions_per_s:>6.0f}/s  p99 {booking.p99_ms:.0f} ms")
    print(
        f"  {'bare, per request':>15}: {limit_rate:>6.0f}/s (before {before:.0f}/s,"
        f" after {after:.0f}/s)  booking = {booking.decisions_per_s / limit_rate:.2f} of it"
    )
    print(
        f"  {'bare, pipelined':>15}: {pipelined:>6.0f}/s"
        f"  booking = {booking.decisions_per_s / pipelined:.2f} of it"
    )
    print("goal: booking 0.70 of the bare loop deciding per request")


async def bare_loop_rate(system: System, variant: str, flags: list[str], burst: int) -> float:
    """Decisions/s of a fresh bare loop process, warmed up, for a burst of distinct slots; each
    variant keeps its own database, and every burst asks for new slots."""
    dsn = system.dsn(f"bare_{variant.replace(' ', '_')}")
    await ensure_database(dsn)
    loop = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.bench.bare_loop", "--bootstrap",
        system.stack.kafka_bootstrap, "--dsn", dsn, *flags, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert loop.stdout is not None
        await loop.stdout.readline()  # "bare loop ready"
        await bare_burst(system.stack.kafka_bootstrap, 500)  # warm-up
        return await bare_burst(system.stack.kafka_bootstrap, burst)
    finally:
        loop.send_signal(signal.SIGTERM)
        await asyncio.wait_for(loop.wait(), 30)


async def contention(args: argparse.Namespace, client: BookingClient, orgs: list) -> None:  # type: ignore[type-arg]
    """Each round: every contender asks for Space A over the same hour at once, half of them
    through A+B; exactly one may win, every other answer must be `conflict`."""
    print(f"\ncontention: {args.contenders} organisations per slot, {args.contested_slots} slots")
    print(f"{'slot':>17} {'winners':>8} {'conflicts':>10} {'other':>6} {'ms':>8}")
    total_start = time.perf_counter()
    failures = 0
    for n in range(args.contested_slots):
        day = DAYS.next()
        hh = 9 + n % 10
        commands = [
            reservation(orgs[i % len(orgs)], SpaceId.A if i % 2 else SpaceId.AB,
                        at(day, hh), at(day, hh + 1))
            for i in range(args.contenders)
        ]  # fmt: skip
        start = time.perf_counter()
        futures = [await client.send(c, wait_ack=False) for c in commands]
        await client.flush()
        outcomes = await asyncio.wait_for(asyncio.gather(*futures), timeout=120)
        elapsed_ms = (time.perf_counter() - start) * 1000
        winners = sum(isinstance(o, ReservationConfirmed) for o in outcomes)
        conflicts = sum(
            isinstance(o, ReservationRejected) and o.reason is RejectionReason.CONFLICT
            for o in outcomes
        )
        other = len(outcomes) - winners - conflicts
        failures += winners != 1 or other != 0
        print(f"{day.isoformat() + f' {hh:02d}:00':>17} {winners:>8} {conflicts:>10}"
              f" {other:>6} {elapsed_ms:>8.0f}")  # fmt: skip
    total = time.perf_counter() - total_start
    decided = args.contenders * args.contested_slots
    print(
        f"contention: {decided} requests decided in {total:.2f}s ({decided / total:.0f}/s);"
        f" {'every slot had exactly one winner' if not failures else f'{failures} BAD SLOTS'}"
    )


async def availability(args: argparse.Namespace, client: BookingClient, orgs: list) -> None:  # type: ignore[type-arg]
    """Readers query a week of Space A/B availability in a loop while bookings flow."""
    first = DAYS.next()
    params = {"from": first.isoformat(), "to": (first + timedelta(days=6)).isoformat()}
    latencies: list[float] = []
    stop = asyncio.Event()

    async def reader(http: httpx.AsyncClient) -> None:
        while not stop.is_set():
            started = time.perf_counter()
            response = await http.get("/spaces/ab/availability", params=params)
            response.raise_for_status()
            latencies.append((time.perf_counter() - started) * 1000)

    base = f"http://127.0.0.1:{READS_HTTP_PORT}"
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        readers = [asyncio.create_task(reader(http)) for _ in range(args.readers)]
        started = time.perf_counter()
        step = await run_step(client, "500/s+reads", slots(orgs, int(500 * args.seconds)), 500)
        stop.set()
        await asyncio.gather(*readers)
        elapsed = time.perf_counter() - started
    print(
        f"\navailability of Space AB over 7 days, {args.readers} concurrent readers,"
        f" while bookings flow:"
    )
    print(
        f"reads: {len(latencies)} in {elapsed:.1f}s = {len(latencies) / elapsed:.0f}/s,"
        f" p50 {statistics.median(latencies):.1f} ms, p99 {percentile(latencies, 0.99):.1f} ms"
    )
    print_steps([step])


async def mails_sent(system: System, count: int, timeout: float = 120.0) -> None:
    """Wait until the SMTP sink holds `count` e-mails (or the timeout)."""
    new = Path(system.stack.maildir) / "new"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and sum(1 for _ in new.glob("*")) < count:
        await asyncio.sleep(0.5)


async def bench(args: argparse.Namespace, system: System) -> None:
    async with BookingClient(
        system.stack.kafka_bootstrap,
        sender=credentials("kiosk"),
        reader=credentials("admin"),
        proof=identity_support.token_for,
    ) as client:
        orgs = list(await asyncio.gather(*(register(client) for _ in range(ORGANISATIONS))))
        await mails_sent(system, ORGANISATIONS)  # measure bookings, not the welcome e-mails
        await run_step(client, "warm-up", slots(orgs, 500), 250)
        if "throughput" in args.cases:
            await throughput(args, system, client, orgs)
        if "limit" in args.cases:
            await limit(args, system, client, orgs)
        if "contention" in args.cases:
            await contention(args, client, orgs)
        if "availability" in args.cases:
            await availability(args, client, orgs)
    print()
    for name in ("booking", "booking-api", "notify"):
        print(f"peak RSS {name}: {peak_rss_mb(system.stack.pid(name)):.0f} MB")
    for name in ("booking", "booking-api", "notify", "kafka", "smtp"):
        print(f"CPU seconds {name}: {cpu_seconds(system.stack.pid(name)):.1f}")
    print(f"CPU seconds bench client: {time.process_time():.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rates", default="200,500,1000,2000")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--burst", type=int, default=10_000)
    parser.add_argument(
        "--case", default="all", help="all, or some of " + ",".join(CASES) + " joined by commas"
    )
    parser.add_argument("--contenders", type=int, default=200)
    parser.add_argument("--contested-slots", type=int, default=10)
    parser.add_argument("--readers", type=int, default=8)
    parser.add_argument(
        "--profile", action="store_true", help="sample booking with py-spy during the burst"
    )
    args = parser.parse_args()
    args.rates = [float(r) for r in args.rates.split(",")]
    args.cases = CASES if args.case == "all" else tuple(args.case.split(","))
    if unknown := set(args.cases) - set(CASES):
        parser.error(f"unknown case: {', '.join(sorted(unknown))}")

    shutil.rmtree(ROOT, ignore_errors=True)
    stack = Stack(
        StackConfig(
            root=ROOT,
            kafka_port=39192 + PORT_OFFSET,
            postgres_port=35532 + PORT_OFFSET,
            smtp_port=3626 + PORT_OFFSET,
        )
    )
    stack.install()
    system = System(stack, SERVICES)
    try:
        stack.start_infrastructure(prometheus=False)
        system.start_all()
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(bench(args, system))
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
