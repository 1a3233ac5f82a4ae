"""Booking throughput, contention and read load on the whole local stack.

    python -m tests.bench.booking [--case all|throughput,limit,contention,availability,storing]
        [--rates 200,500,1000,2000] [--seconds 10] [--burst 10000] [--rounds 3]
        [--contenders 200] [--contested-slots 10] [--readers 8] [--warm-up 16]

throughput: offers reservation requests for distinct free slots at each rate in turn (open loop:
requests leave on schedule whatever the answers do), then a burst as fast as the client can
publish. Prints, per step: offered rate, decisions/s sustained, p50/p99 request→outcome latency.
limit: booking's decision loop alone (notify and the SMTP sink paused), and the same loop
written with nothing but aiokafka and asyncpg (tests/bench/bare_loop.py) just before and just
after each of --rounds bursts of booking, given the same burst on the same broker and database
by the same load generator (records encoded before the clock starts, answers read with json
alone); prints their decisions/s and the ratio booking / limit of each round, and the median of
those ratios (goal: 0.7 or more), the cores each part used meanwhile and the CPU they spent per
decision in all (with the rate the machine's cores allow at that cost), the cores everything
else on the machine used meanwhile (and the host stole), and how booking cut the burst into
batches and how long their transactions took. Each round also gives the ratio of the two loops'
CPU per decision: where the cores are the limit (another process keeps one busy), the ratio of
rates falls towards it (0.39 with `yes` on one core, against 0.79 on the same machine idle).
contention: for each contested slot, 200 organisations ask at once for Space A (alone or as A+B)
over the same time; prints winners per slot (must be 1), conflicts, and how long each round took.
availability: readers query the availability of Space A/B over a week as fast as they can while
bookings flow at 500/s; prints reads/s, read p50/p99, and the decisions/s meanwhile.
storing: how long PostgreSQL takes to store a run of 1,000 reservations with their rooms, with
the plain insert booking's batches use and with the race-safe one they fall back to.
Before the steps, requests flow at 250/s for --warm-up seconds: the steps measure a stack that
has been running, as a service's has. The broker is a JVM started a minute before, and its JIT
was still compiling 300-550 methods a second as the 200/s step began after a 2 s warm-up (its
compilation log); that step's p99 was 78-130 ms over six such runs, 48-88 ms over fourteen after
16 s.
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
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from uuid import uuid4

import asyncpg
import httpx
import uvloop
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from clients.kiosk.client import BookingClient
from contracts.booking import (
    RejectionReason,
    RequestReservation,
    ReservationConfirmed,
    ReservationRejected,
    SpaceId,
)
from contracts.envelope import header_fields
from contracts.identity import AUTHORIZATION_HEADER
from contracts.topics import BOOKING_COMMANDS, BOOKING_EVENTS, Topic
from deploy.local.stack import Stack, StackConfig
from services.booking.domain import DEFAULT_SPACES
from services.booking.handlers import wanted_of
from services.booking.store import store_many
from services.runtime.consumer import LOG_APPEND_TIME, proven_caller
from services.runtime.db import ensure_database
from services.runtime.identity import authorization
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
    kiosk_client,
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
CASES = ("throughput", "limit", "contention", "availability", "storing")
ORGANISATIONS = 2000  # ~27 future reservations each by the end of a full run
WARM_UP_RATE = 250.0


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
    """User+system CPU time of a process and its live descendants (PostgreSQL's backends are
    children of its postmaster), to see who uses the two cores during the run."""
    if pid is None:
        return float("nan")
    children: dict[int, list[int]] = {}
    own: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        child = int(stat.parent.name)
        children.setdefault(int(fields[1]), []).append(child)
        own[child] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += own.get(current, 0.0)
        todo += children.get(current, [])
    return total


CPU_WATCHED = ("booking", "kafka", "postgres")


def machine_seconds() -> tuple[float, float]:
    """(busy, stolen) CPU seconds of the whole machine so far (/proc/stat): what the watched
    parts did not use of the busy time, something else on the machine did; stolen time is the
    host's, given to other machines while this one was ready to run."""
    first = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in first[1:9])
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / tick, steal / tick


def batch_figures(port: int) -> tuple[float, float, float]:
    """(batches, seconds handling them, outcomes published) so far, from a service's /metrics:
    how a burst was cut into batches and how much of its time the batches' transactions took."""
    figures = {"count": 0.0, "sum": 0.0, "published": 0.0}
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name.startswith('consumer_batch_seconds_count{topic="booking.commands"'):
            figures["count"] += float(value)
        elif name.startswith('consumer_batch_seconds_sum{topic="booking.commands"'):
            figures["sum"] += float(value)
        elif name.startswith("outbox_published_total{"):
            figures["published"] += float(value)
    return figures["count"], figures["sum"], figures["published"]


@dataclass
class Usage:
    """CPU seconds per decision of every watched process together, and the cores everything
    else on the machine used meanwhile, known once a block ends."""

    per_decision: float = float("nan")
    elsewhere: float = float("nan")


@contextlib.contextmanager
def cpu_used(
    system: System,
    label: str,
    decisions: int,
    loop_pid: int | None = None,
    usage: Usage | None = None,
) -> Iterator[None]:
    """Prints how many cores each part used while the block ran: which of them a loop waits
    for when it is not using its own core; and the CPU all of them spent per decision, with
    the rate this machine's cores would allow at that cost were they kept busy all the time
    (the ceiling no loop doing that much work can pass here)."""
    pids = {name: system.stack.pid(name) for name in CPU_WATCHED}
    if loop_pid is not None:
        pids = {"bare loop": loop_pid, **pids}
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    machine_before = machine_seconds()
    client_before, start = time.process_time(), time.perf_counter()
    yield
    elapsed = time.perf_counter() - start
    used = {name: (cpu_seconds(pid) - before[name]) / elapsed for name, pid in pids.items()}
    used["bench client"] = (time.process_time() - client_before) / elapsed
    (busy_after, stolen_after), (busy_before, stolen_before) = machine_seconds(), machine_before
    busy, stolen = (busy_after - busy_before) / elapsed, (stolen_after - stolen_before) / elapsed
    elsewhere = max(busy - sum(used.values()), 0.0)
    print(f"  cores used during {label}: "
          + ", ".join(f"{name} {cores:.2f}" for name, cores in used.items()))  # fmt: skip
    # a rate measured while something else ran is the share of the cores it left: say so
    print(f"    the rest of the machine meanwhile: {elsewhere:.2f}"
          f" cores used by everything else, {stolen:.2f} stolen by the host")  # fmt: skip
    per_decision = sum(used.values()) * elapsed / max(decisions, 1)
    if usage is not None:
        usage.per_decision, usage.elsewhere = per_decision, elsewhere
    cores = os.cpu_count() or 1
    print(f"    {1000 * per_decision:.3f} ms of CPU per decision in all: {cores} cores allow"
          f" at most {cores / per_decision:.0f}/s at that cost")  # fmt: skip
    # per part: less swayed than rates by what else the machine runs meanwhile
    each = elapsed / max(decisions, 1)
    parts = ", ".join(f"{name} {1e6 * share * each:.0f} µs" for name, share in used.items())
    print(f"    CPU per decision: {parts}")


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
    async with profiled(args, system, "burst"):
        steps.append(await run_step(client, "burst", slots(orgs, args.burst), None))
    print_steps(steps)
    return steps[-1]


@contextlib.asynccontextmanager
async def profiled(args: argparse.Namespace, system: System, step: str) -> AsyncIterator[None]:
    """With --profile, booking sampled by py-spy while the step runs, its top entries printed
    after it."""
    pid = system.stack.pid("booking")
    if not args.profile or pid is None:
        yield
        return
    profile = Profile(pid, ROOT / f"booking.{step}.profile.txt", args.burst / 1500)
    await profile.start()
    yield
    await profile.finish()
    print_top(profile.out, f"booking during the {step}")


Record = tuple[bytes, bytes, list[tuple[str, bytes]]]  # value, key, headers


async def raw_burst(
    bootstrap: str,
    topic: str,
    replies: Topic,
    records: list[Record],
    ids: list[str],
    during: contextlib.AbstractContextManager[None],
) -> Step:
    """A burst of ready-made records on `topic`, timed until a reply naming each request
    (`request_id`) is on `replies`. The one load generator of the decision-loop comparison, for
    the bare loop and booking alike: records are encoded before the clock starts and replies
    read with nothing but json, so both loops get the same client and the same CPU beside it."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True,
                                linger_ms=1, **as_admin())  # fmt: skip
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                fetch_max_wait_ms=20, **as_admin())  # fmt: skip
    await producer.start()
    await consumer.start()
    try:
        tps = [TopicPartition(replies.name, p) for p in range(replies.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:
            await consumer.position(tp)
        waiting = set(ids)
        sent_at: dict[str, float] = {}
        latencies: list[float] = []
        with during:
            start = time.perf_counter()
            for (value, key, headers), request_id in zip(records, ids, strict=True):
                sent_at[request_id] = time.perf_counter()
                await producer.send(topic, value, key=key, headers=headers)
            await producer.flush()
            published = time.perf_counter() - start
            deadline = start + 120
            last = start
            while waiting and time.perf_counter() < deadline:
                for batch in (await consumer.getmany(timeout_ms=200)).values():
                    now = time.perf_counter()
                    for record in batch:
                        request_id = json.loads(record.value or b"{}").get("request_id")
                        if request_id in waiting:
                            waiting.discard(request_id)
                            latencies.append((now - sent_at[request_id]) * 1000)
                            last = now
        elapsed = max(last - start, 1e-9)
        print(f"  {topic}: {len(records)} records published in {published:.2f} s,"
              f" the last answer after {elapsed:.2f} s")  # fmt: skip
        return Step(label=topic, offered=len(records) / elapsed,
                    decisions_per_s=len(latencies) / elapsed,
                    p50_ms=statistics.median(latencies) if latencies else float("nan"),
                    p99_ms=percentile(latencies, 0.99), answered=len(latencies),
                    sent=len(records))  # fmt: skip
    finally:
        await producer.stop()
        await consumer.stop()


async def bare_burst(
    bootstrap: str,
    count: int,
    during: contextlib.AbstractContextManager[None] | None = None,
) -> float:
    """Decisions/s of the bare loop for a burst of `count` requests for distinct slots."""
    requests = [
        {"request_id": str(c.message_id), "room": c.space.value,
         "starts_at": c.starts_at.isoformat(), "ends_at": c.ends_at.isoformat()}
        for c in slots([uuid4()], count)
    ]  # fmt: skip
    records: list[Record] = [(json.dumps(q).encode(), q["room"].encode(), []) for q in requests]
    ids = [q["request_id"] for q in requests]
    replies = Topic(bare_loop.REPLIES, partitions=bare_loop.PARTITIONS)
    step = await raw_burst(bootstrap, bare_loop.REQUESTS, replies, records, ids,
                           during or contextlib.nullcontext())  # fmt: skip
    return step.decisions_per_s


async def booking_burst(
    system: System, commands: list[RequestReservation], usage: Usage | None = None
) -> Step:
    """Booking's decision loop given a burst as the bare loop is given one: each command as
    its client would send it (JSON, its key, its sender's proof), encoded before the clock."""
    records: list[Record] = []
    for cmd in commands:
        headers = [(k, v.encode()) for k, v in header_fields(cmd).items()]
        token = identity_support.token_for(cmd)
        if token is not None:
            headers.append((AUTHORIZATION_HEADER, authorization(token).encode()))
        records.append((cmd.model_dump_json().encode(), cmd.partition_key().encode(), headers))
    ids = [str(cmd.message_id) for cmd in commands]
    usage = usage or Usage()
    watch = cpu_used(system, "booking's burst", len(records), usage=usage)
    with batches_cut("booking's burst", len(commands)):
        step = await raw_burst(system.stack.kafka_bootstrap, BOOKING_COMMANDS.name,
                               BOOKING_EVENTS, records, ids, watch)  # fmt: skip
    proof = proof_seconds(records)
    print(f"  the proof: reading and judging each command's token took {1e6 * proof:.1f} µs a"
          f" command in one process (each distinct token's signature checked once), "
          f"{proof / usage.per_decision:.1%} of the CPU per decision above")  # fmt: skip
    return step


@contextlib.contextmanager
def batches_cut(label: str, commands: int) -> Iterator[None]:
    """Prints how booking cut the commands sent while the block ran into batches, and how much
    of the block's time their transactions took."""
    batches, seconds, _ = batch_figures(BOOKING_HTTP_PORT)
    start = time.perf_counter()
    yield
    elapsed = time.perf_counter() - start
    batches_after, seconds_after, _ = batch_figures(BOOKING_HTTP_PORT)
    count = max(batches_after - batches, 1)
    print(f"  {label}: {count:.0f} batches of {commands / count:.0f} commands on average,"
          f" {1000 * (seconds_after - seconds) / count:.1f} ms each in its transaction;"
          f" {seconds_after - seconds:.2f} s of {elapsed:.2f} s spent in them")  # fmt: skip


def proof_seconds(records: list[Record]) -> float:
    """CPU seconds per command that booking's consumer spends on the proof each command
    carries: the same function on the same records, with a keyring that has seen none of their
    tokens yet. What the proof adds to each command, measured in the same run as the CPU per
    decision it is compared with (both follow the machine's load from run to run)."""
    keyring = identity_support.keyring()
    appended = int(time.time() * 1000)
    stamped = [
        ConsumerRecord(BOOKING_COMMANDS.name, 0, n, appended, LOG_APPEND_TIME, key, value, None,
                       len(key), len(value), headers)
        for n, (value, key, headers) in enumerate(records)
    ]  # fmt: skip
    start = time.process_time()
    for record in stamped:
        proven_caller(keyring, record)
    return (time.process_time() - start) / max(len(records), 1)


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
    orgs: list,  # type: ignore[type-arg]
) -> None:
    """The bare loop and booking's decision loop, each alone on the machine (notify, which
    mails every booking outcome, and the SMTP sink paused meanwhile), on the same broker and
    database; booking's share of the bare loop. Their bursts alternate, `--rounds` of booking's
    between the bare loop's (bare, booking, bare, ..., booking, bare), and each booking burst is
    compared with the mean of the bare bursts just before and just after it: on a machine others
    share, the load drifts over the minutes a run takes, and a limit measured only before or
    only after would follow the drift instead of the machine. One pair is a second or two of
    work each, and moved by a tenth between consecutive runs of unchanged code: the ratio the
    goal is judged by is the median of the rounds', each of which is printed. No kiosk client
    is open meanwhile: its reader would parse each of booking's answers beside booking's burst,
    CPU the bare loop's burst does not have beside it."""
    per_request: list[str] = []
    # the bare loop's bursts bracket booking's: one more of them than of booking's
    bare_usage = [Usage() for _ in range(args.rounds + 1)]
    booking_usage = [Usage() for _ in range(args.rounds)]
    with paused(system, "notify", "smtp"):
        bare = [await bare_loop_rate(system, "per request", per_request, args.burst,
                                     bare_usage[0])]  # fmt: skip
        bookings: list[Step] = []
        for n in range(args.rounds):
            # the first round alone is profiled (with --profile): the later ones run unsampled
            sampled = profiled(args, system, "decision loop alone") if n == 0 else None
            async with sampled or contextlib.nullcontext():
                bookings.append(await booking_burst(system, slots(orgs, args.burst),
                                                    booking_usage[n]))  # fmt: skip
            bare.append(await bare_loop_rate(system, "per request", per_request, args.burst,
                                             bare_usage[n + 1]))  # fmt: skip
        # the same loop given its burst by the kiosk's client, as the figures before commands
        # carried proof were measured (the client's encoding and answer parsing share the cores)
        async with kiosk_client(system.stack.kafka_bootstrap) as client:
            with batches_cut("booking's burst sent by its client", args.burst):
                through_client = await run_step(client, "alone", slots(orgs, args.burst), None)
        pipelined = await bare_loop_rate(system, "pipelined", ["--pipelined"], args.burst)
    print(f"\nthe decision loop alone (notify paused), burst of {args.burst}:")
    ratios, cpu_ratios = [], []
    for n, booking in enumerate(bookings):
        before, after = bare[n], bare[n + 1]
        ratios.append(booking.decisions_per_s / ((before + after) / 2))
        bare_cpu = (bare_usage[n].per_decision + bare_usage[n + 1].per_decision) / 2
        cpu_ratios.append(bare_cpu / booking_usage[n].per_decision)
        elsewhere = max(u.elsewhere for u in (bare_usage[n], booking_usage[n], bare_usage[n + 1]))
        print(
            f"  round {n + 1}: booking {booking.decisions_per_s:>6.0f}/s"
            f" (p99 {booking.p99_ms:.0f} ms), bare per request {(before + after) / 2:>6.0f}/s"
            f" (before {before:.0f}/s, after {after:.0f}/s): booking = {ratios[-1]:.2f} of it\n"
            f"    CPU per decision: booking {1e6 * booking_usage[n].per_decision:.0f} µs, bare"
            f" {1e6 * bare_cpu:.0f} µs ({cpu_ratios[-1]:.2f}); everything else on the machine"
            f" used up to {elsewhere:.2f} cores meanwhile"
        )
    ratio = statistics.median(ratios)
    booking_rate = statistics.median(b.decisions_per_s for b in bookings)
    print(
        f"  {'booking':>15}: {booking_rate:>6.0f}/s, median of {len(bookings)} rounds;"
        f" booking = {ratio:.2f} of the bare loop per request, median of the rounds"
    )
    print(
        f"  {'bare, pipelined':>15}: {pipelined:>6.0f}/s"
        f"  booking = {booking_rate / pipelined:.2f} of it"
    )
    print(
        f"  {'booking, sent by its client':>15}: {through_client.decisions_per_s:>6.0f}/s"
        f"  p99 {through_client.p99_ms:.0f} ms"
    )
    print(
        f"  where the cores are the limit (another process keeps one busy), the rates' ratio"
        f" tends to that of the CPU per decision: {statistics.median(cpu_ratios):.2f}, median"
    )
    print("goal: booking 0.70 of the bare loop deciding per request")


async def bare_loop_rate(
    system: System, variant: str, flags: list[str], burst: int, usage: Usage | None = None
) -> float:
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
        watch = cpu_used(system, f"the bare loop's burst ({variant})", burst, loop.pid, usage)
        return await bare_burst(system.stack.kafka_bootstrap, burst, watch)
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


async def storing(
    system: System,
    orgs: list,  # type: ignore[type-arg]
    run: int = 1000,
    repeats: int = 10,
) -> None:
    """How long PostgreSQL takes to store a run of reservations with their rooms, the plain way
    booking uses first and the race-safe way (ON CONFLICT DO NOTHING) it falls back to once a
    room was taken meanwhile: on the tables the cases before left, one connection, the two
    alternating, each run rolled back. One statement on one connection, so the machine's other
    load sways it less than the rates above."""
    conn = await asyncpg.connect(system.dsn("booking"))
    taken: dict[bool, list[float]] = {False: [], True: []}
    try:
        held = await conn.fetchval("SELECT count(*) FROM reservation_rooms")
        for n in range(2 * repeats):
            race_safe = n % 2 == 1
            wanted = [wanted_of(c, DEFAULT_SPACES) for c in slots(orgs, run)]
            transaction = conn.transaction()
            await transaction.start()
            try:
                start = time.perf_counter()
                short = await store_many(conn, [(uuid4(), w) for w in wanted], race_safe=race_safe)
                taken[race_safe].append(time.perf_counter() - start)
                assert not short, "the benchmark's runs meet no held room"
            finally:
                await transaction.rollback()
    finally:
        await conn.close()
    plain, safe = (1000 * statistics.median(taken[k]) for k in (False, True))
    print(f"\nstoring a run of {run} reservations among {held} held rooms, median of {repeats}:")
    print(f"  plain insert {plain:.1f} ms, race-safe insert {safe:.1f} ms:"
          f" the plain one takes {plain / safe:.2f} of the time")  # fmt: skip


async def bench(args: argparse.Namespace, system: System) -> None:
    async with kiosk_client(system.stack.kafka_bootstrap) as client:
        orgs = list(await asyncio.gather(*(register(client) for _ in range(ORGANISATIONS))))
        await mails_sent(system, ORGANISATIONS)  # measure bookings, not the welcome e-mails
        await run_step(
            client, "warm-up", slots(orgs, int(WARM_UP_RATE * args.warm_up)), WARM_UP_RATE
        )
        if "throughput" in args.cases:
            await throughput(args, system, client, orgs)
    if "limit" in args.cases:
        await limit(args, system, orgs)
    async with kiosk_client(system.stack.kafka_bootstrap) as client:
        if "contention" in args.cases:
            await contention(args, client, orgs)
        if "availability" in args.cases:
            await availability(args, client, orgs)
    if "storing" in args.cases:
        await storing(system, orgs)
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
    parser.add_argument("--rounds", type=int, default=3, help="booking's bursts in the limit")
    parser.add_argument(
        "--case", default="all", help="all, or some of " + ",".join(CASES) + " joined by commas"
    )
    parser.add_argument("--contenders", type=int, default=200)
    parser.add_argument("--contested-slots", type=int, default=10)
    parser.add_argument("--readers", type=int, default=8)
    parser.add_argument("--warm-up", type=float, default=16.0, help="seconds at 250/s first")
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
