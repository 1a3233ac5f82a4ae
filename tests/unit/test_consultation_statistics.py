"""The fiscal year's consultation table (services/consultation/statistics.py), against data of
the shape the center published for FY2020, and its public version."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from contracts.consultation import CaseKind, IntakeChannel, TopicCode
from services.consultation.statistics import (
    MONTHS,
    CaseFacts,
    Line,
    TopicTable,
    durations,
    suppress,
    topic_table,
)

TOKYO = ZoneInfo("Asia/Tokyo")
H = timedelta(hours=1)

FY2020 = {
    TopicCode.COVID19: 153,
    TopicCode.FOUNDING: 41,
    TopicCode.INCORPORATION: 30,
    TopicCode.ACTIVITY: 60,
    TopicCode.ORGANISATION: 15,
    TopicCode.PR: 16,
    TopicCode.FUNDRAISING: 31,
    TopicCode.CORPORATE_ADMIN: 47,
    TopicCode.ACCOUNTING: 31,
    TopicCode.TAX: 24,
    TopicCode.LABOUR: 7,
    TopicCode.COLLABORATION: 29,
    TopicCode.OTHER: 131,
}
FY2020_CASES = 507
REPORTED_MONTHS = MONTHS[:11]  # the published report ran April to February


def fy2020_cases() -> list[CaseFacts]:
    """507 cases carrying 615 labels: every case one label, 108 of them a second, never the
    same topic twice; spread over April-February, the four channels and both kinds."""
    labels = [topic for topic, n in FY2020.items() for _ in range(n)]
    assert len(labels) == 615
    firsts, seconds = labels[:FY2020_CASES], labels[FY2020_CASES:]
    channels = itertools.cycle(IntakeChannel)
    cases = []
    for i, first in enumerate(firsts):
        topics = (first, seconds[i]) if i < len(seconds) else (first,)
        assert len(set(topics)) == len(topics)
        month = REPORTED_MONTHS[(i * 7) % len(REPORTED_MONTHS)]
        year = 2020 if month >= 4 else 2021
        received = datetime(year, month, 1 + i % 28, 10, 0, tzinfo=TOKYO)
        kind = CaseKind.COLLABORATION_PROPOSAL if i % 10 == 0 else CaseKind.ACTIVITY
        cases.append(CaseFacts(received, next(channels), kind, topics,
                               first_response_at=received + 2 * H))  # fmt: skip
    return cases


def test_the_fy2020_shape_comes_back() -> None:
    table = topic_table(fy2020_cases(), 2020)
    assert table.cases.total == 507
    assert table.labels.total == 615
    assert {topic: line.total for topic, line in table.topics.items()} == FY2020
    assert table.cases.months[11] == 0  # March 2021: not in the published report


def test_months_add_up_to_the_totals() -> None:
    table = topic_table(fy2020_cases(), 2020)
    for line in [table.cases, table.labels, *table.topics.values(), *table.channels.values()]:
        assert sum(m or 0 for m in line.months) == line.total
    for i in range(len(MONTHS)):
        assert sum(line.months[i] or 0 for line in table.topics.values()) == table.labels.months[i]
        assert sum(line.months[i] or 0 for line in table.channels.values()) == table.cases.months[i]
        assert sum(line.months[i] or 0 for line in table.kinds.values()) == table.cases.months[i]


def test_cases_by_channel_and_kind() -> None:
    table = topic_table(fy2020_cases(), 2020)
    assert {c: line.total for c, line in table.channels.items()} == {
        IntakeChannel.WEB: 127,
        IntakeChannel.EMAIL: 127,
        IntakeChannel.PHONE: 127,
        IntakeChannel.WALK_IN: 126,
    }
    assert table.kinds[CaseKind.COLLABORATION_PROPOSAL].total == 51
    assert table.kinds[CaseKind.ACTIVITY].total == 456


def case(
    received: datetime,
    *topics: TopicCode,
    responded: datetime | None = None,
    closed: datetime | None = None,
    counted: bool = True,
) -> CaseFacts:
    return CaseFacts(received, IntakeChannel.PHONE, CaseKind.ACTIVITY, topics or (TopicCode.OTHER,),
                     responded, closed, counted)  # fmt: skip


def test_the_fiscal_year_runs_april_to_march_in_tokyo_time() -> None:
    cases = [
        case(datetime(2024, 3, 31, 23, 30, tzinfo=TOKYO)),  # FY2023
        case(datetime(2024, 3, 31, 15, 30, tzinfo=ZoneInfo("UTC"))),  # 4/1 00:30 in Tokyo
        case(datetime(2025, 3, 31, 12, 0, tzinfo=TOKYO)),
        case(datetime(2025, 4, 1, 9, 0, tzinfo=TOKYO)),  # FY2025
    ]
    table = topic_table(cases, 2024)
    assert table.cases.total == 2
    assert table.cases.months[0] == 1 and table.cases.months[11] == 1


def test_inquiries_are_not_cases() -> None:
    day = datetime(2024, 6, 3, 10, tzinfo=TOKYO)
    table = topic_table([case(day), case(day, counted=False)], 2024)
    assert table.cases.total == 1 and table.labels.total == 1


def test_a_case_without_topics_is_a_case_without_labels() -> None:
    day = datetime(2024, 6, 3, 10, tzinfo=TOKYO)
    bare = CaseFacts(day, IntakeChannel.WEB, CaseKind.ACTIVITY, ())
    table = topic_table([bare], 2024)
    assert (table.cases.total, table.labels.total) == (1, 0)


def test_response_times_are_business_hours() -> None:
    friday = datetime(2024, 6, 7, 19, tzinfo=TOKYO)
    cases = [
        # Friday 19:00, answered Monday 10:00: 1 + 8 + 8 + 1 hours
        case(friday, responded=datetime(2024, 6, 10, 10, tzinfo=TOKYO),
             closed=datetime(2024, 6, 11, 9, tzinfo=TOKYO)),
        case(friday, responded=friday + H / 2),
        case(friday),  # no response yet
    ]  # fmt: skip
    table = topic_table(cases, 2024, first_response_within=8 * H)
    assert table.first_response is not None and table.closing is not None
    assert table.first_response.cases == 2
    assert table.first_response.median_hours == 0.5
    assert table.first_response.p90_hours == 18.0
    assert table.first_response.mean_hours == 9.2
    assert table.first_response.over_limit == 1
    # to Tuesday 9:00: 1 + 8 + 8 + 11 hours
    assert table.closing.cases == 1 and table.closing.median_hours == 28.0


def test_durations_of_nothing_are_unknown() -> None:
    assert durations([]).median_hours is None
    assert durations([H, 2 * H, 3 * H, 4 * H]).median_hours == 2.0


# --- the public version --------------------------------------------------------------------------


def cells(line: Line) -> list[int | None]:
    return [*line.months, line.total]


def lines_of(table: TopicTable) -> Iterator[Line]:
    yield table.cases
    yield table.labels
    yield from table.topics.values()
    yield from table.channels.values()
    yield from table.kinds.values()


def test_small_counts_are_hidden_and_large_ones_shown() -> None:
    public = suppress(topic_table(fy2020_cases(), 2020), threshold=5)
    assert public.suppressed_below == 5
    assert public.cases.total == 507 and public.labels.total == 615
    assert public.topics[TopicCode.COVID19].total == 153
    for line in lines_of(public):
        assert all(value is None or value == 0 or value >= 5 for value in cells(line))
    labour = public.topics[TopicCode.LABOUR]  # 7 labels in the year, one or two a month
    assert labour.total == 7
    assert all(month in (None, 0) for month in labour.months)


def test_no_hidden_count_can_be_worked_out_by_subtraction() -> None:
    public = suppress(topic_table(fy2020_cases(), 2020), threshold=5)
    for line in lines_of(public):
        assert sum(value is None for value in cells(line)) != 1
    groups = [(list(public.topics.values()), public.labels),
              (list(public.channels.values()), public.cases),
              (list(public.kinds.values()), public.cases)]  # fmt: skip
    for parts, margin in groups:
        for i in range(len(MONTHS) + 1):
            column = [cells(part)[i] for part in parts] + [cells(margin)[i]]
            assert sum(value is None for value in column) != 1


def test_a_lone_small_count_takes_the_next_smallest_with_it() -> None:
    june = datetime(2024, 6, 3, 10, tzinfo=TOKYO)
    july = datetime(2024, 7, 3, 10, tzinfo=TOKYO)
    cases = [case(june, TopicCode.TAX)] + [case(july, TopicCode.TAX)] * 6
    public = suppress(topic_table(cases, 2024), threshold=3)
    tax = public.topics[TopicCode.TAX]
    assert tax.months[2] is None  # June: 1
    assert tax.months[3] is None  # July: 6, hidden too, else June = 7 - 6
    assert tax.total == 7


def test_response_times_of_few_cases_are_not_published() -> None:
    june = datetime(2024, 6, 3, 10, tzinfo=TOKYO)
    few = [case(june, responded=june + H)] * 2
    public = suppress(topic_table(few, 2024), threshold=3)
    assert public.first_response is None
    many = suppress(topic_table(few * 2, 2024), threshold=3)
    assert many.first_response is not None and many.first_response.cases == 4


@pytest.mark.parametrize("threshold", [1, 0])
def test_a_threshold_of_one_or_less_hides_nothing(threshold: int) -> None:
    table = topic_table(fy2020_cases(), 2020)
    public = suppress(table, threshold)
    assert public.topics == table.topics and public.cases == table.cases
