"""Prometheus metrics every service exposes on /metrics (ARCHITECTURE.md, "Operations").

One registry per process, so tests that build several apps do not collide on the global one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

T = TypeVar("T")


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    own: dict[str, Any] = field(default_factory=dict)

    def once(self, name: str, make: Callable[[CollectorRegistry], T]) -> T:
        """A service's own metric (or group of metrics), registered on first use: a worker that
        its supervisor starts again finds what it registered the first time."""
        if name not in self.own:
            self.own[name] = make(self.registry)
        found: T = self.own[name]
        return found

    def __post_init__(self) -> None:
        r = self.registry
        self.consumed = Counter(
            "messages_consumed_total",
            "Consumed messages by topic, type and what became of them.",
            ["topic", "type", "outcome"],
            registry=r,
        )
        self.dead_letters = Counter(
            "dead_letters_total",
            "Messages sent to a dead-letter topic because they could not be parsed or handled.",
            ["topic"],
            registry=r,
        )
        self.batch_seconds = Histogram(
            "consumer_batch_seconds",
            "Time to handle one batch of records in one transaction.",
            ["topic"],
            registry=r,
        )
        self.outbox_backlog = Gauge(
            "outbox_backlog", "Outbox rows not yet published to Kafka.", registry=r
        )
        self.outbox_published = Counter(
            "outbox_published_total", "Outbox rows published to Kafka.", ["topic"], registry=r
        )
        self.outbox_oldest_s = Gauge(
            "outbox_oldest_unpublished_seconds",
            "Age of the oldest outbox row waiting to be published (0: none waiting).",
            registry=r,
        )
        self.outbox_set_aside = Gauge(
            "outbox_set_aside_rows",
            "Outbox rows set aside because Kafka can never take them (too large, refused).",
            registry=r,
        )
        self.outbox_set_aside_total = Counter(
            "outbox_rows_set_aside_total",
            "Outbox rows set aside by this process, by topic.",
            ["topic"],
            registry=r,
        )
        self.failures = Counter(
            "failures_total",
            "Failed rounds of work that are retried (a batch, a relay round, a job round), by "
            "where they happened and the error's class.",
            ["where", "error"],
            registry=r,
        )
        self.dead_letter_fallbacks = Counter(
            "dead_letter_fallbacks_total",
            "Dead letters whose full copy could not be written and were written in a minimal "
            "form (original bytes only).",
            ["topic"],
            registry=r,
        )
        self.task_up = Gauge(
            "background_task_up",
            "1 while a supervised background task runs, 0 while it is down.",
            ["task"],
            registry=r,
        )
        self.task_restarts = Counter(
            "background_task_restarts_total",
            "Times a supervised background task ended with an error and was started again.",
            ["task"],
            registry=r,
        )
        self.kafka_brokers = Gauge(
            "kafka_brokers",
            "Brokers the cluster metadata lists (Kafka lists those alive), as this process last "
            "saw them.",
            registry=r,
        )
        self.kafka_silent = Gauge(
            "kafka_silent_seconds",
            "Seconds since the broker last answered this process's metadata probe.",
            registry=r,
        )
        self.kafka_under_replicated = Gauge(
            "kafka_under_replicated_partitions",
            "Partitions of a topic with fewer replicas in sync than assigned.",
            ["topic"],
            registry=r,
        )
        self.kafka_leaderless = Gauge(
            "kafka_leaderless_partitions",
            "Partitions of a topic without a leader: nothing can be written to or read from them.",
            ["topic"],
            registry=r,
        )
        self.kafka_consumer_lag = Gauge(
            "kafka_consumer_lag",
            "Records on a partition the consumer group has not yet committed as handled.",
            ["group", "topic", "partition"],
            registry=r,
        )
        self.log_suppressed = Counter(
            "log_lines_suppressed_total",
            "Log lines left out because the same line repeated too often.",
            ["logger"],
            registry=r,
        )
