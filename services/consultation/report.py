"""The fiscal year's topic table from the database, as JSON and CSV, and its command line:

    python -m services.consultation report topics --fiscal-year 2020 [--csv] [--public]

reads DATABASE_URL like the service. The table counts cases and topic labels per month of
intake, by channel and kind, with response times in business hours (statistics.py); `--public`
gives the version the center may publish, small counts hidden (CONSULTATION_PUBLIC_THRESHOLD).
Nothing of any case's content is read: the table is built from the cases' plain facts.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import sys
from dataclasses import asdict
from datetime import timedelta
from typing import Any

import asyncpg

from services.consultation import store
from services.consultation.statistics import (
    MONTHS,
    Durations,
    Line,
    TopicTable,
    suppress,
    topic_table,
)
from services.runtime.center_calendar import fiscal_year_range, tokyo_midnight
from services.runtime.settings import env_float, env_int, env_str

COLUMNS = [f"{month:02d}" for month in MONTHS] + ["total"]


async def load_table(
    db: asyncpg.Connection | asyncpg.Pool,
    fiscal_year: int,
    first_response_within: timedelta | None = None,
    public_threshold: int | None = None,
) -> TopicTable:
    """One plain read, no transaction: the report never holds up the desk's work."""
    first, after = fiscal_year_range(fiscal_year)
    facts = await store.facts(db, tokyo_midnight(first), tokyo_midnight(after))
    table = topic_table(facts, fiscal_year, first_response_within)
    return table if public_threshold is None else suppress(table, public_threshold)


def _line(line: Line) -> dict[str, Any]:
    return {"months": dict(zip(COLUMNS[:-1], line.months, strict=True)), "total": line.total}


def _durations(measured: Durations | None) -> dict[str, Any] | None:
    return None if measured is None else asdict(measured)


def to_json(table: TopicTable) -> dict[str, Any]:
    """The table as the HTTP API answers it: codes as keys, months April first ("04"), a hidden
    count as null."""
    return {
        "fiscal_year": table.fiscal_year,
        "suppressed_below": table.suppressed_below,
        "cases": _line(table.cases),
        "labels": _line(table.labels),
        "topics": {str(k): _line(v) for k, v in table.topics.items()},
        "channels": {str(k): _line(v) for k, v in table.channels.items()},
        "kinds": {str(k): _line(v) for k, v in table.kinds.items()},
        "first_response_business_hours": _durations(table.first_response),
        "closing_business_hours": _durations(table.closing),
    }


def to_csv(table: TopicTable) -> str:
    """One row per line of the table (cases, labels, topic:<code>, channel:<code>,
    kind:<code>), a column per month and the total; a hidden count is an empty cell."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["line", *COLUMNS])
    rows = [("cases", table.cases), ("labels", table.labels)]
    rows += [(f"topic:{k}", v) for k, v in table.topics.items()]
    rows += [(f"channel:{k}", v) for k, v in table.channels.items()]
    rows += [(f"kind:{k}", v) for k, v in table.kinds.items()]
    for name, line in rows:
        writer.writerow([name, *("" if c is None else c for c in line.cells())])
    return out.getvalue()


async def print_report(args: argparse.Namespace) -> int:
    dsn = env_str("DATABASE_URL", "postgresql://postgres@127.0.0.1:15432/consultation")
    within = timedelta(hours=env_float("CONSULTATION_FIRST_RESPONSE_HOURS", 11.0))
    threshold = env_int("CONSULTATION_PUBLIC_THRESHOLD", 3) if args.public else None
    conn = await asyncpg.connect(dsn)
    try:
        table = await load_table(conn, args.fiscal_year, within, threshold)
    finally:
        await conn.close()
    if args.csv:
        print(to_csv(table), end="")
    else:
        print(json.dumps(to_json(table), ensure_ascii=False, indent=2))
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.consultation report")
    sub = parser.add_subparsers(dest="report", required=True)
    topics = sub.add_parser("topics", help="cases and topic labels of a fiscal year, by month")
    topics.add_argument("--fiscal-year", type=int, required=True, help="e.g. 2020 (Apr-Mar)")
    topics.add_argument("--csv", action="store_true", help="CSV instead of JSON")
    topics.add_argument("--public", action="store_true", help="small counts hidden")
    args = parser.parse_args(argv)
    return asyncio.run(print_report(args))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
