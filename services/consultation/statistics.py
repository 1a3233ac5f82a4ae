"""The consultation statistics of a fiscal year, pure (DOMAIN.md, "Consultations"; the center's
yearly report counts cases and topic labels, April to March).

A case carries one or more topics, so the labels outnumber the cases (FY2020: 507 cases, 615
labels). The table counts, per month of intake and in total: the cases, the labels, each
topic's labels, and the cases by channel and by kind; and the response times in business hours
(hours.py). Inquiries closed as such are not cases and are not counted.

The public version suppresses small counts: a count below the threshold (but not zero) is not
shown, and where a row or a column adds up to a shown total, one more cell is hidden whenever a
single hidden cell could be worked out by subtraction (`suppress`). Response times of fewer
cases than the threshold are not shown either.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from contracts.consultation import CaseKind, IntakeChannel, TopicCode
from services.consultation.hours import DESK, DeskCalendar, business_hours_between
from services.runtime.center_calendar import TOKYO, fiscal_year_of

MONTHS = (4, 5, 6, 7, 8, 9, 10, 11, 12, 1, 2, 3)
"""The months of a fiscal year in its order; a line's values follow it, then the total."""
TOTAL = len(MONTHS)

K = TypeVar("K")
Count = int | None
"""A count; None where the public version hides it."""


@dataclass(frozen=True)
class CaseFacts:
    """What the statistics need of a case: no content, no staff."""

    received_at: datetime
    channel: IntakeChannel
    kind: CaseKind
    topics: tuple[TopicCode, ...]
    first_response_at: datetime | None = None
    closed_at: datetime | None = None
    counted: bool = True  # False: closed as an inquiry (domain.Case.counted)


@dataclass(frozen=True)
class Line:
    """One row of the table: a count per month (April first) and the year's total."""

    months: tuple[Count, ...]
    total: Count

    @classmethod
    def of(cls, months: Sequence[int]) -> Line:
        return cls(tuple(months), sum(months))

    def cells(self) -> tuple[Count, ...]:
        return (*self.months, self.total)


@dataclass(frozen=True)
class Durations:
    """Business hours from intake, over the cases that have the time."""

    cases: int
    median_hours: float | None
    p90_hours: float | None
    mean_hours: float | None
    over_limit: int | None = None  # first responses later than the configured limit


@dataclass(frozen=True)
class TopicTable:
    fiscal_year: int
    cases: Line
    labels: Line
    topics: Mapping[TopicCode, Line]
    channels: Mapping[IntakeChannel, Line]
    kinds: Mapping[CaseKind, Line]
    first_response: Durations | None
    closing: Durations | None
    suppressed_below: int | None = None  # the public version's threshold


def _month_index(moment: datetime) -> int:
    return MONTHS.index(moment.astimezone(TOKYO).month)


def _in_year(facts: Iterable[CaseFacts], fiscal_year: int) -> list[CaseFacts]:
    return [
        case
        for case in facts
        if case.counted and fiscal_year_of(case.received_at.astimezone(TOKYO).date()) == fiscal_year
    ]


def _lines(
    cases: Sequence[CaseFacts], keys: Iterable[K], keys_of: Callable[[CaseFacts], Iterable[K]]
) -> dict[K, Line]:
    """A line per key: how many of the cases (or of their labels) fall under it, by month."""
    counts: dict[K, list[int]] = {key: [0] * TOTAL for key in keys}
    for case in cases:
        for key in keys_of(case):
            counts[key][_month_index(case.received_at)] += 1
    return {key: Line.of(months) for key, months in counts.items()}


def _nearest_rank(ordered: Sequence[float], share: float) -> float:
    return ordered[max(math.ceil(share * len(ordered)) - 1, 0)]


def durations(spans: Iterable[timedelta], limit: timedelta | None = None) -> Durations:
    """Median, 90th percentile (nearest rank) and mean, in hours to a tenth."""
    hours = sorted(span / timedelta(hours=1) for span in spans)
    over = None if limit is None else sum(1 for h in hours if h > limit / timedelta(hours=1))
    if not hours:
        return Durations(0, None, None, None, over)
    return Durations(
        len(hours),
        round(_nearest_rank(hours, 0.5), 1),
        round(_nearest_rank(hours, 0.9), 1),
        round(sum(hours) / len(hours), 1),
        over,
    )


def topic_table(
    facts: Iterable[CaseFacts],
    fiscal_year: int,
    first_response_within: timedelta | None = None,
    calendar: DeskCalendar = DESK,
) -> TopicTable:
    """The year's table, by month of intake (Tokyo time)."""
    cases = _in_year(facts, fiscal_year)
    topics = _lines(cases, TopicCode, lambda c: c.topics)
    labels = [sum(line.months[i] or 0 for line in topics.values()) for i in range(TOTAL)]
    per_month = [0] * TOTAL
    for case in cases:
        per_month[_month_index(case.received_at)] += 1
    responded = [
        business_hours_between(c.received_at, c.first_response_at, calendar)
        for c in cases
        if c.first_response_at is not None
    ]
    closed = [
        business_hours_between(c.received_at, c.closed_at, calendar)
        for c in cases
        if c.closed_at is not None
    ]
    return TopicTable(
        fiscal_year=fiscal_year,
        cases=Line.of(per_month),
        labels=Line.of(labels),
        topics=topics,
        channels=_lines(cases, IntakeChannel, lambda c: (c.channel,)),
        kinds=_lines(cases, CaseKind, lambda c: (c.kind,)),
        first_response=durations(responded, first_response_within),
        closing=durations(closed),
    )


# --- the public version -----------------------------------------------------------------------

Cell = tuple[str, int]  # (line, column)


def _constraints(table: TopicTable) -> list[tuple[list[Cell], Cell]]:
    """Every sum the table shows: each line adds up to its total, and at each column the topics
    add up to the labels, the channels and the kinds to the cases."""
    lines = _named_lines(table)
    found: list[tuple[list[Cell], Cell]] = [
        ([(name, i) for i in range(TOTAL)], (name, TOTAL)) for name in lines
    ]
    groups = (("topic:", "labels"), ("channel:", "cases"), ("kind:", "cases"))
    for prefix, margin in groups:
        members = [name for name in lines if name.startswith(prefix)]
        for i in range(TOTAL + 1):
            found.append(([(name, i) for name in members], (margin, i)))
    return found


def _named_lines(table: TopicTable) -> dict[str, Line]:
    return {
        "cases": table.cases,
        "labels": table.labels,
        **{f"topic:{k}": v for k, v in table.topics.items()},
        **{f"channel:{k}": v for k, v in table.channels.items()},
        **{f"kind:{k}": v for k, v in table.kinds.items()},
    }


def suppress(table: TopicTable, threshold: int) -> TopicTable:
    """The public version: counts from 1 to `threshold - 1` hidden, then, as long as some sum
    has exactly one hidden cell among its parts and its total, the smallest shown non-zero
    cell of that sum hidden too (its total when nothing else is left)."""
    values = {
        (name, i): value or 0
        for name, line in _named_lines(table).items()
        for i, value in enumerate(line.cells())
    }
    hidden = {cell for cell, value in values.items() if 0 < value < threshold}
    constraints = _constraints(table)
    changed = True
    while changed:
        changed = False
        for parts, total in constraints:
            cells = [*parts, total]
            if sum(1 for cell in cells if cell in hidden) != 1:
                continue
            shown = [cell for cell in parts if cell not in hidden and values[cell] > 0]
            hidden.add(min(shown, key=lambda cell: values[cell]) if shown else total)
            changed = True

    def line(name: str, of: Line) -> Line:
        cells = [None if (name, i) in hidden else value for i, value in enumerate(of.cells())]
        return Line(tuple(cells[:TOTAL]), cells[TOTAL])

    def times(measured: Durations | None) -> Durations | None:
        return measured if measured is not None and measured.cases >= threshold else None

    return TopicTable(
        fiscal_year=table.fiscal_year,
        cases=line("cases", table.cases),
        labels=line("labels", table.labels),
        topics={k: line(f"topic:{k}", v) for k, v in table.topics.items()},
        channels={k: line(f"channel:{k}", v) for k, v in table.channels.items()},
        kinds={k: line(f"kind:{k}", v) for k, v in table.kinds.items()},
        first_response=times(table.first_response),
        closing=times(table.closing),
        suppressed_below=threshold,
    )
