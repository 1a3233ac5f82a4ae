"""The arithmetic of consumer lag and of the cluster's health as a service sees it."""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import TopicPartition

from services.runtime.kafka_watch import cluster_facts, lag_of

A0, A1, B0 = TopicPartition("a", 0), TopicPartition("a", 1), TopicPartition("b", 0)


def test_lag_is_what_the_partition_holds_past_the_groups_committed_offset() -> None:
    assert lag_of({A0: 40, A1: 7}, {A0: 0, A1: 0}, {A0: 100, A1: 7}) == {A0: 60, A1: 0}


def test_a_partition_the_group_never_committed_on_counts_from_its_first_kept_record() -> None:
    assert lag_of({A0: None}, {A0: 30}, {A0: 100}) == {A0: 70}
    assert lag_of({}, {A0: 0}, {A0: 5}) == {A0: 5}


def test_an_offset_older_than_the_first_kept_record_counts_from_that_record() -> None:
    assert lag_of({A0: 10}, {A0: 50}, {A0: 80}) == {A0: 30}


def test_lag_is_never_negative_when_the_end_was_read_before_the_commit() -> None:
    assert lag_of({B0: 12}, {B0: 0}, {B0: 10}) == {B0: 0}


@dataclass
class Part:
    leader: int
    replicas: list[int]
    isr: list[int]


def test_partitions_short_of_in_sync_replicas_or_of_a_leader_are_counted_per_topic() -> None:
    facts = cluster_facts(
        2,
        {
            "a": [Part(1, [1, 2, 3], [1, 2, 3]), Part(2, [2, 3, 1], [2, 1])],
            "b": [Part(-1, [3], []), Part(1, [1], [1])],
        },
    )
    assert facts.brokers == 2
    assert facts.under_replicated == {"a": 1, "b": 1}
    assert facts.leaderless == {"a": 0, "b": 1}


def test_a_healthy_single_broker_cluster_reports_nothing_wrong() -> None:
    facts = cluster_facts(1, {"a": [Part(1, [1], [1])] * 6})
    assert facts.under_replicated == {"a": 0} and facts.leaderless == {"a": 0}
