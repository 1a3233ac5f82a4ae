"""Prometheus metrics every service exposes on /metrics (ARCHITECTURE.md, "Operations").

One registry per process, so tests that build several apps do not collide on the global one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

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
