"""The consultation service's figures: intake of 10,000 cases through the public form, and the
fiscal year's topic table over five years of 1,000 cases a year.

    TEST_STACK_SLOT=N python -m tests.bench.consultation [--cases 10000] [--concurrency 8]

Runs the service's real HTTP app in process (every intake seals its content, takes a reference
number, schedules its first-response deadline and writes its event and acknowledgement to the
outbox, in one transaction) on a PostgreSQL of its own (the middle level's, under .local);
no Kafka is needed, as intake is HTTP and the relay is not what is measured. The per-client
limit of the form is lifted: one load generator is one client. Prints intake/s and the p50 and
p99 latency, then the report's time for one fiscal year and for each of the five.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import asyncpg
import uvloop

from services.consultation import app as consultation_app
from tests.harness import HarnessFactory, HarnessPostgres, ServiceHarness
from tests.support import PORT_OFFSET, SLOT

ROOT = Path(__file__).resolve().parents[2] / ".local" / f"bench-consultation-{SLOT}"
POSTGRES_PORT = 25437 + PORT_OFFSET
TOPICS = ["covid19", "founding", "incorporation", "activity", "organisation", "pr",
          "fundraising", "corporate_admin", "accounting", "tax", "labour", "collaboration",
          "other"]  # fmt: skip


def form(i: int) -> dict[str, object]:
    return {
        "kind": "activity" if i % 5 else "collaboration_proposal",
        "topics": [TOPICS[i % 13], TOPICS[(i + 5) % 13]] if i % 4 == 0 else [TOPICS[i % 13]],
        "name": f"相談者 {i}",
        "email": f"requester{i}@example.org",
        "narrative": "団体の運営について相談したいことがあります。" * 10,
    }


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(int(share * len(ordered)) - 1, 0)]


async def intake(consultation: ServiceHarness, cases: int, concurrency: int) -> None:
    latencies: list[float] = []
    queue = iter(range(cases))

    async def worker() -> None:
        for i in queue:
            started = time.perf_counter()
            response = await consultation.http.post("/intake", json=form(i))
            latencies.append(time.perf_counter() - started)
            assert response.status_code == 201, response.text

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    took = time.perf_counter() - started
    p50, p99 = percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000
    print(f"intake: {cases} cases in {took:.1f} s: {cases / took:.0f} intakes/s, "
          f"p50 {p50:.1f} ms, p99 {p99:.1f} ms (concurrency {concurrency})")  # fmt: skip


async def seed_years(pool: asyncpg.Pool, first_year: int, years: int, per_year: int) -> None:
    """Cases of past fiscal years, as the desk closed them (facts only: the table reads no
    content)."""
    rows = []
    for fy in range(first_year, first_year + years):
        start = datetime(fy, 4, 1, 1, 0, tzinfo=UTC)
        for i in range(per_year):
            received = start + timedelta(hours=(i * 24 * 360) // per_year)
            topics = [TOPICS[i % 13]] + ([TOPICS[(i + 5) % 13]] if i % 5 == 0 else [])
            rows.append((uuid4(), f"C{fy}-{i + 1:04d}", "activity", "web" if i % 2 else "phone",
                         "closed", topics, received, received + timedelta(hours=3),
                         received + timedelta(days=9), "resolved"))  # fmt: skip
    await pool.executemany(
        "INSERT INTO cases (id, reference, kind, channel, state, topics, received_at,"
        " first_response_at, closed_at, outcome) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
        rows,
    )


async def report(consultation: ServiceHarness, first_year: int, years: int) -> None:
    from tests.identity_support import http_headers, staff_token

    headers = http_headers(staff_token())
    for public in (False, True):
        path = "/reports/topics/public" if public else "/reports/topics"
        times = []
        for fy in range(first_year, first_year + years):
            started = time.perf_counter()
            response = await consultation.http.get(path, params={"fiscal_year": fy},
                                                   headers=headers)  # fmt: skip
            times.append(time.perf_counter() - started)
            assert response.status_code == 200 and response.json()["cases"]["total"] == 1000
        print(f"report topics{' (public)' if public else ''}: "
              + ", ".join(f"FY{fy} {t * 1000:.0f} ms" for fy, t in
                          zip(range(first_year, first_year + years), times, strict=True))
              + f"; five years {sum(times) * 1000:.0f} ms")  # fmt: skip


async def main(args: argparse.Namespace) -> None:
    os.environ.update({"DEVELOPMENT": "1", "CONSULTATION_INTAKE_BURST": str(10 * args.cases)})
    postgres = HarnessPostgres(ROOT, POSTGRES_PORT)
    postgres.start()
    factory = HarnessFactory(postgres)
    try:
        if args.relaxed:
            await postgres.relax_durability()
        consultation = await factory(consultation_app.build_spec(), pool_size=args.concurrency)
        await intake(consultation, args.cases, args.concurrency)
        await seed_years(consultation.pool, 2015, 5, 1000)
        await report(consultation, 2015, 5)
    finally:
        await factory.close()
        postgres.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m tests.bench.consultation")
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--relaxed", action="store_true", help="fsync off (as the middle tests)")
    uvloop.run(main(parser.parse_args()))
