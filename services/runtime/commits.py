"""Committing a consumer's offsets while it goes on to the next batch.

At-least-once delivery needs a batch's offsets committed only after its transaction committed
(ARCHITECTURE.md, "Delivery guarantees"); it does not need the consumer to wait for the broker's
answer before it fetches and decides the next batch. Waiting cost a round trip to the group
coordinator per batch, a tenth of a burst's time on the booking benchmark. So a batch's offsets
are handed to one committing task per subscription, which commits them in the order batches
finished (a later commit never moves an offset back) and coalesces what piled up meanwhile.

What an unanswered commit risks is what a crash always risked: the batches after the last
commit are delivered again, and the inbox recognises them. Two moments must not leave a commit
in flight: when partitions are taken away in a rebalance (the new owner would start behind:
`on_partitions_revoked` waits for the commit), and when the service stops (`stop_inline`: from
then on a batch commits before its handler returns, and what was in flight is awaited).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Protocol

from aiokafka import ConsumerRebalanceListener, TopicPartition

from services.runtime.errors import clean
from services.runtime.metrics import Metrics

log = logging.getLogger(__name__)


class Committing(Protocol):
    async def commit(self, offsets: dict[TopicPartition, int]) -> None: ...


class Located(Protocol):
    topic: str
    partition: int
    offset: int


class OffsetCommitter(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, metrics: Metrics, topic: str) -> None:
        self.metrics = metrics
        self.topic = topic
        self.pending: dict[TopicPartition, int] = {}
        self.consumer: Committing | None = None
        self.task: asyncio.Task[None] | None = None
        self.inline = False

    async def settled(self, consumer: Committing, records: Iterable[Located]) -> None:
        """A batch's transaction committed: its offsets go to the broker, in the background
        (inline once the service stops)."""
        self.consumer = consumer
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            self.pending[tp] = max(self.pending.get(tp, 0), record.offset + 1)
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._commit_pending())
        if self.inline:
            await self.flush()

    async def flush(self) -> None:
        """Wait until every offset handed over so far is committed (or its commit failed)."""
        while self.task is not None and not self.task.done():
            await asyncio.shield(self.task)

    async def stop_inline(self) -> None:
        """The service stops: what is in flight is committed now, and each batch from here on
        before its handler returns, so the consumer never closes with a commit unsent."""
        self.inline = True
        await self.flush()

    async def _commit_pending(self) -> None:
        while self.pending and self.consumer is not None:
            offsets, self.pending = self.pending, {}
            try:
                await self.consumer.commit(offsets)
            except Exception as exc:
                # a rebalance took the partition, the coordinator moved, the broker is away:
                # the records are delivered again to whoever holds them, and the inbox
                # recognises them; a later commit covers these offsets if this consumer
                # still holds the partition
                self.metrics.failures.labels(f"offset_commit:{self.topic}",
                                             type(exc).__name__).inc()  # fmt: skip
                log.warning("committing offsets on %s failed (%s: %s); those records will be "
                            "delivered again", self.topic, type(exc).__name__,
                            clean(str(exc), 200))  # fmt: skip

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        await self.flush()

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        return None
