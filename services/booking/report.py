"""Loading the occupancy report from the database, and its command line:

    python -m services.booking report occupancy --fiscal-year 2024 [--csv]

reads DATABASE_URL like the service and prints the table the center publishes (or CSV).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date, time

import asyncpg

from contracts.booking import SpaceId
from services.booking import domain, store
from services.booking.occupancy import Booked, OccupancyReport, occupancy_report, to_csv, to_table
from services.booking.settings import BookingSettings
from services.runtime.settings import env_str


async def load_occupancy(
    db: asyncpg.Connection | asyncpg.Pool, fiscal_year: int, policy: domain.Policy
) -> OccupancyReport:
    """Four plain reads, no transaction: the report never holds up the booking path."""
    first, after = domain.fiscal_year_range(fiscal_year)
    rows = await db.fetch(
        "SELECT space, starts_at, ends_at, atrium FROM reservations"
        " WHERE cancelled_at IS NULL AND space = ANY($1::text[])"
        " AND starts_at >= $2 AND starts_at < $3",
        [SpaceId.A.value, SpaceId.B.value, SpaceId.AB.value],
        domain.tokyo_midnight(first),
        domain.tokyo_midnight(after),
    )
    blackouts = {
        r["day"] for r in await db.fetch(
            "SELECT day FROM blackouts WHERE day >= $1 AND day < $2", first, after
        )
    }  # fmt: skip
    closings = {
        r["day"]: r["closes_at"].astimezone(domain.TOKYO).time()
        for r in await db.fetch(
            "SELECT day, closes_at FROM day_closings WHERE day >= $1 AND day < $2", first, after
        )
    }
    visitors: dict[date, int] = {}
    for day, people in (await store.visitors_by_day(db, first, after)).items():
        month = day.replace(day=1)
        visitors[month] = visitors.get(month, 0) + people

    def hours_of(day: date) -> tuple[time, time] | None:
        hours = domain.day_hours(day, policy, day in blackouts)
        if hours is None:
            return None
        return hours[0], closings.get(day, hours[1])

    booked = [Booked(SpaceId(r["space"]), r["starts_at"], r["ends_at"], r["atrium"]) for r in rows]
    return occupancy_report(fiscal_year, booked, hours_of, visitors)


async def print_report(args: argparse.Namespace) -> int:
    dsn = env_str("DATABASE_URL", "postgresql://postgres@127.0.0.1:15432/booking")
    conn = await asyncpg.connect(dsn)
    try:
        report = await load_occupancy(conn, args.fiscal_year, BookingSettings.from_env().policy)
    finally:
        await conn.close()
    print(to_csv(report) if args.csv else to_table(report), end="" if args.csv else "\n")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.booking report")
    sub = parser.add_subparsers(dest="report", required=True)
    occupancy = sub.add_parser("occupancy", help="Space A/B occupancy and Lab visitors by month")
    occupancy.add_argument("--fiscal-year", type=int, required=True, help="e.g. 2024 (Apr-Mar)")
    occupancy.add_argument("--csv", action="store_true", help="CSV instead of the table")
    args = parser.parse_args(argv)
    return asyncio.run(print_report(args))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
