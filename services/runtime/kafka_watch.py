"""What a service can see of Kafka's health from where it stands: how far its consumer group is
behind on each partition it reads (lag), how many brokers the cluster lists, and which
partitions run with fewer in-sync replicas than they have replicas, or with no leader.

Why the services measure this themselves: the figures come from requests a client may make
with the service's own principal (its group's committed offsets, the partitions' end offsets,
the cluster metadata the readiness probe already fetches), so no exporter with broader rights
is needed. Every instance of a service reports the same group's lag; the alert rules take the
largest (deploy/prometheus/alerts.yml).

The arithmetic is pure (`lag_of`, `cluster_facts`) and the I/O is in `LagMeter` and
`record_cluster`, called from the probe's metadata round.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from services.runtime.kafka_auth import KafkaCredentials, connection_kwargs
from services.runtime.metrics import Metrics
from services.runtime.periodic import every

log = logging.getLogger(__name__)

LAG_EVERY_S = 15.0
TIMEOUT_S = 10.0


def lag_of(
    committed: Mapping[TopicPartition, int | None],
    beginnings: Mapping[TopicPartition, int],
    ends: Mapping[TopicPartition, int],
) -> dict[TopicPartition, int]:
    """Records each partition holds that the group has not yet committed as handled.

    A partition the group never committed on is read from its first record still kept
    (the services' consumers start at `earliest`), so all of it counts; an offset committed
    before records were deleted by retention counts from the first record still kept."""
    lags: dict[TopicPartition, int] = {}
    for tp, end in ends.items():
        start = beginnings.get(tp, 0)
        done = committed.get(tp)
        position = start if done is None else max(done, start)
        lags[tp] = max(end - position, 0)
    return lags


class PartitionFacts(Protocol):
    """As aiokafka's PartitionMetadata gives it."""

    @property
    def leader(self) -> int: ...
    @property
    def replicas(self) -> Sequence[int]: ...
    @property
    def isr(self) -> Sequence[int]: ...


@dataclass(frozen=True)
class ClusterFacts:
    brokers: int
    under_replicated: dict[str, int]  # topic -> partitions with fewer in sync than replicas
    leaderless: dict[str, int]  # topic -> partitions with no leader (unreadable, unwritable)


def cluster_facts(brokers: int, partitions: Mapping[str, Iterable[PartitionFacts]]) -> ClusterFacts:
    """The brokers the metadata lists (Kafka lists the live ones) and, per topic, the
    partitions short of replicas or without a leader."""
    under: dict[str, int] = {}
    leaderless: dict[str, int] = {}
    for topic, found in partitions.items():
        listed = list(found)
        under[topic] = sum(1 for p in listed if len(p.isr) < len(p.replicas))
        leaderless[topic] = sum(1 for p in listed if p.leader < 0)
    return ClusterFacts(brokers, under, leaderless)


def record_cluster(metrics: Metrics, metadata: Any) -> None:
    """Set the cluster gauges from a metadata answer (aiokafka's ClusterMetadata) for the
    topics this principal may see; internal topics (offsets, transactions) are left out.
    aiokafka keeps each partition's replicas and in-sync replicas only in `_partitions` (its
    public accessors give leaders and ids): read here, and nowhere else."""
    partitions = {
        topic: [metadata._partitions[topic][p] for p in metadata.partitions_for_topic(topic) or ()]
        for topic in metadata.topics(exclude_internal_topics=True)
    }
    facts = cluster_facts(len(metadata.brokers()), partitions)
    metrics.kafka_brokers.set(facts.brokers)
    for topic, count in facts.under_replicated.items():
        metrics.kafka_under_replicated.labels(topic).set(count)
    for topic, count in facts.leaderless.items():
        metrics.kafka_leaderless.labels(topic).set(count)


class LagMeter:
    """Measures its group's lag on the topics it reads, every LAG_EVERY_S seconds."""

    def __init__(
        self,
        bootstrap: str,
        credentials: KafkaCredentials,
        group: str,
        topics: Sequence[str],
        metrics: Metrics,
    ) -> None:
        self.group = group
        self.topics = list(topics)
        self.metrics = metrics
        options = connection_kwargs(credentials)
        self.admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **options)
        # no group: it only asks where partitions begin and end, as the group's readers see
        # them (read_committed: an open transaction's records are not yet there to read)
        self.reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                       isolation_level="read_committed", **options)  # fmt: skip

    async def start(self) -> None:
        await self.admin.start()
        await self.reader.start()

    async def close(self) -> None:
        await self.reader.stop()
        await self.admin.close()

    async def measure(self) -> dict[TopicPartition, int]:
        described = await asyncio.wait_for(self.admin.describe_topics(self.topics), TIMEOUT_S)
        tps = [TopicPartition(t["topic"], p["partition"])
               for t in described if t["error_code"] == 0 for p in t["partitions"]]  # fmt: skip
        if not tps:
            return {}
        committed_raw, beginnings, ends = await asyncio.wait_for(
            asyncio.gather(
                self.admin.list_consumer_group_offsets(self.group, partitions=tps),
                self.reader.beginning_offsets(tps),
                self.reader.end_offsets(tps),
            ),
            TIMEOUT_S,
        )
        committed = {tp: (o.offset if o.offset >= 0 else None) for tp, o in committed_raw.items()}
        lags = lag_of(committed, beginnings, ends)
        for tp, lag in lags.items():
            self.metrics.kafka_consumer_lag.labels(self.group, tp.topic, str(tp.partition)).set(lag)
        return lags

    async def round(self) -> None:
        """One measurement; a broker that does not answer leaves the gauges as they were (the
        probe's kafka_silent_seconds and the readiness say Kafka is away)."""
        try:
            await self.measure()
        except KafkaError as exc:
            log.warning("consumer lag not measured (%s)", type(exc).__name__)

    async def run(self) -> None:
        """Measure until cancelled (the periodic helper retries on passing faults)."""
        try:
            await self.start()
            await every(LAG_EVERY_S, self.round, "measuring consumer lag")
        finally:
            await self.close()
