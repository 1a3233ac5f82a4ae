"""The occupancy report (稼働率) the center publishes for Space A/B, pure (DOMAIN.md, "Spaces").

Occupancy = booked hours / open hours, per month of a fiscal year, split into atrium-combined use
and A/B-alone use, as in the center's reports (2020: Jul 22% = 7% atrium-combined + 15% alone).

How bookings count toward "Space A/B" hours: Space A/B is one venue of two halves. A booking of
A+B (with or without the atrium) counts its full hours; a booking of A alone or B alone counts
half of its hours, so A and B booked alone at the same time make one fully occupied hour. Lab
reservations do not count. Open hours are the hours the center was open: weekday closing at 18:00
where the evening rule closed it early, nothing on closure days and staff blackouts.

The yearly average is weighted by hours (all booked hours / all open hours of the year), so a
short month does not weigh as much as a full one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from contracts.booking import SpaceId
from services.booking.domain import TOKYO, fiscal_year_range

AB_WEIGHT = {SpaceId.AB: 1.0, SpaceId.A: 0.5, SpaceId.B: 0.5}


@dataclass(frozen=True)
class Booked:
    space: SpaceId
    starts_at: datetime
    ends_at: datetime
    atrium: bool


@dataclass(frozen=True)
class MonthOccupancy:
    month: date  # the first day of the month
    open_hours: float
    atrium_hours: float  # Space A/B hours booked together with the atrium
    alone_hours: float  # Space A/B hours booked without the atrium
    lab_visitors: int = 0

    def rate(self, hours: float) -> float:
        return hours / self.open_hours if self.open_hours else 0.0

    @property
    def atrium_rate(self) -> float:
        return self.rate(self.atrium_hours)

    @property
    def alone_rate(self) -> float:
        return self.rate(self.alone_hours)

    @property
    def total_rate(self) -> float:
        return self.rate(self.atrium_hours + self.alone_hours)


@dataclass(frozen=True)
class OccupancyReport:
    fiscal_year: int
    months: list[MonthOccupancy]

    @property
    def year(self) -> MonthOccupancy:
        """The whole year as one row: the hour-weighted average."""
        return MonthOccupancy(
            month=date(self.fiscal_year, 4, 1),
            open_hours=sum(m.open_hours for m in self.months),
            atrium_hours=sum(m.atrium_hours for m in self.months),
            alone_hours=sum(m.alone_hours for m in self.months),
            lab_visitors=sum(m.lab_visitors for m in self.months),
        )


DayHours = Callable[[date], tuple[time, time] | None]


def _hours(start: datetime, end: datetime) -> float:
    return max((end - start).total_seconds(), 0.0) / 3600


def _month_of(day: date) -> date:
    return day.replace(day=1)


def occupancy_report(
    fiscal_year: int,
    bookings: Iterable[Booked],
    hours_of: DayHours,
    lab_visitors: dict[date, int] | None = None,
) -> OccupancyReport:
    """Monthly Space A/B occupancy of a fiscal year; `hours_of` gives a day's actual open hours
    (None: closed), `lab_visitors` the Lab's visitors per month (keyed by the month's first day).
    Booked time outside the open hours is not counted, so a rate never exceeds 100%."""
    first, after = fiscal_year_range(fiscal_year)
    open_hours: dict[date, float] = {}
    atrium: dict[date, float] = {}
    alone: dict[date, float] = {}
    day = first
    while day < after:
        month = _month_of(day)
        hours = hours_of(day)
        if hours is not None:
            span = _hours(
                datetime.combine(day, hours[0], TOKYO), datetime.combine(day, hours[1], TOKYO)
            )
            open_hours[month] = open_hours.get(month, 0.0) + span
        day += timedelta(days=1)
    for booking in bookings:
        weight = AB_WEIGHT.get(booking.space)
        local_day = booking.starts_at.astimezone(TOKYO).date()
        hours = hours_of(local_day)
        if weight is None or hours is None or not first <= local_day < after:
            continue
        opens_at = datetime.combine(local_day, hours[0], TOKYO)
        closes_at = datetime.combine(local_day, hours[1], TOKYO)
        booked = weight * _hours(max(booking.starts_at, opens_at), min(booking.ends_at, closes_at))
        into = atrium if booking.atrium else alone
        month = _month_of(local_day)
        into[month] = into.get(month, 0.0) + booked
    visitors = lab_visitors or {}
    months = []
    month = first
    while month < after:
        months.append(
            MonthOccupancy(
                month=month,
                open_hours=open_hours.get(month, 0.0),
                atrium_hours=atrium.get(month, 0.0),
                alone_hours=alone.get(month, 0.0),
                lab_visitors=visitors.get(month, 0),
            )
        )
        month = (month + timedelta(days=32)).replace(day=1)
    return OccupancyReport(fiscal_year, months)


def percent(rate: float) -> str:
    return f"{round(rate * 100)}%"


CSV_HEADER = (
    "month,open_hours,atrium_combined_hours,ab_alone_hours,"
    "occupancy,atrium_combined,ab_alone,lab_visitors"
)


def _csv_row(label: str, m: MonthOccupancy) -> str:
    return (
        f"{label},{m.open_hours:.1f},{m.atrium_hours:.1f},{m.alone_hours:.1f},"
        f"{m.total_rate:.4f},{m.atrium_rate:.4f},{m.alone_rate:.4f},{m.lab_visitors}"
    )


def to_csv(report: OccupancyReport) -> str:
    """One row per month and a last row `FY<year>` for the year, rates as fractions."""
    rows = [CSV_HEADER]
    rows += [_csv_row(f"{m.month:%Y-%m}", m) for m in report.months]
    rows.append(_csv_row(f"FY{report.fiscal_year}", report.year))
    return "\n".join(rows) + "\n"


def to_table(report: OccupancyReport) -> str:
    """The table as the center publishes it: total (atrium-combined + alone)."""
    lines = [
        f"Space A/B occupancy, fiscal year {report.fiscal_year}",
        f"{'month':<9} {'occupancy':>9} {'atrium':>7} {'alone':>7} {'open h':>7} {'Lab':>6}",
    ]
    for label, m in [(f"{m.month:%Y-%m}", m) for m in report.months] + [("average", report.year)]:
        lines.append(
            f"{label:<9} {percent(m.total_rate):>9} {percent(m.atrium_rate):>7}"
            f" {percent(m.alone_rate):>7} {m.open_hours:>7.0f} {m.lab_visitors:>6}"
        )
    return "\n".join(lines)
