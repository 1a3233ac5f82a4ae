"""Booking throughput and latency on the whole local stack.

    python -m tests.bench.booking [--rates 200,500,1000,2000] [--seconds 10] [--burst 10000]

Offers reservation requests for distinct free slots at each rate in turn (open loop: requests
leave on schedule whatever the answers do), then a burst as fast as the client can publish.
Prints, per step: offered rate, decisions/s sustained, p50/p99 request→outcome latency; and the
peak resident memory of the booking and notify processes. Runs on its own stack under
`.local/bench`, started and stopped here; it is not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import uvloop

from clients.kiosk.client import BookingClient
from contracts.booking import RequestReservation, SpaceId
from deploy.local.stack import Stack, StackConfig
from tests.support import DAYS, ServiceProcess, System, at, register, reservation

ROOT = Path(__file__).resolve().parents[2] / ".local" / "bench"
SERVICES = (
    ServiceProcess("booking", "services.booking", 38081, "booking"),
    ServiceProcess("notify", "services.notify", 38082, "notify"),
)


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


async def bench(args: argparse.Namespace, system: System) -> None:
    async with BookingClient(system.stack.kafka_bootstrap) as client:
        orgs = [await register(client) for _ in range(20)]
        await run_step(client, "warm-up", slots(orgs, 500), 250)
        steps = []
        for rate in args.rates:
            commands = slots(orgs, int(rate * args.seconds))
            steps.append(await run_step(client, f"{rate:.0f}/s", commands, rate))
        steps.append(await run_step(client, "burst", slots(orgs, args.burst), None))
    print()
    print(f"{'step':>10} {'sent':>7} {'answered':>8} {'offered/s':>10} {'decisions/s':>12}"
          f" {'p50 ms':>8} {'p99 ms':>8}")  # fmt: skip
    for s in steps:
        print(f"{s.label:>10} {s.sent:>7} {s.answered:>8} {s.offered:>10.0f}"
              f" {s.decisions_per_s:>12.0f} {s.p50_ms:>8.1f} {s.p99_ms:>8.1f}")  # fmt: skip
    for name in ("booking", "notify"):
        print(f"peak RSS {name}: {peak_rss_mb(system.stack.pid(name)):.0f} MB")
    for name in ("booking", "notify", "kafka", "smtp"):
        print(f"CPU seconds {name}: {cpu_seconds(system.stack.pid(name)):.1f}")
    print(f"CPU seconds bench client: {time.process_time():.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rates", default="200,500,1000,2000")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--burst", type=int, default=10_000)
    args = parser.parse_args()
    args.rates = [float(r) for r in args.rates.split(",")]

    shutil.rmtree(ROOT, ignore_errors=True)
    stack = Stack(StackConfig(root=ROOT, kafka_port=39092, postgres_port=35432, smtp_port=3526))
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
