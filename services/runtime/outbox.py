"""Transactional outbox and its relay (ARCHITECTURE.md, "Delivery guarantees").

A handler writes its outgoing messages into `outbox` in the transaction that changes its state, so
nothing is published that was not committed and nothing committed is lost. The relay publishes
unpublished rows in id order with an idempotent producer (acks=all) and stamps them. One relay per
database runs at a time (a transaction-scoped advisory lock); since the messages of one key are
written by one consumer in sequence, id order is their commit order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaProducer

from contracts.envelope import Message, header_fields, new_message_id
from contracts.topics import Topic
from services.runtime.metrics import Metrics

log = logging.getLogger(__name__)

RELAY_LOCK = 7_402_512
PURGE_EVERY_S = 3600.0
RETENTION_DAYS = 7


@dataclass(frozen=True)
class Outgoing:
    """A message a handler wants published once its transaction commits."""

    topic: Topic
    key: str | None
    message: Message


def answer(
    cmd: Message, topic: Topic, key: str, event_type: type[Message], **fields: object
) -> Outgoing:
    """An event answering a command: its request_id is the command's message_id (so the client
    finds it) and it continues the command's correlation."""
    event = event_type(
        message_id=new_message_id(),
        correlation_id=cmd.correlation(),
        request_id=cmd.message_id,
        **fields,
    )
    return Outgoing(topic, key, event)


def columns(
    outgoing: Sequence[Outgoing],
) -> tuple[list[str], list[str | None], list[bytes], list[str]]:
    """Outgoing messages as the column arrays of an `unnest` insert into the outbox."""
    return (
        [o.topic.name for o in outgoing],
        [o.key for o in outgoing],
        [o.message.model_dump_json().encode() for o in outgoing],
        [json.dumps(header_fields(o.message)) for o in outgoing],
    )


async def add(conn: asyncpg.Connection, outgoing: Sequence[Outgoing]) -> None:
    """Queue messages in the caller's transaction (one statement, in order)."""
    if outgoing:
        await conn.execute(
            "INSERT INTO outbox (topic, key, value, headers)"
            " SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::jsonb[])",
            *columns(outgoing),
        )


async def add_raw(
    conn: asyncpg.Connection,
    topic: str,
    key: str | None,
    value: bytes,
    headers: dict[str, str],
) -> int:
    row_id: int = await conn.fetchval(
        "INSERT INTO outbox (topic, key, value, headers) VALUES ($1, $2, $3, $4::jsonb)"
        " RETURNING id",
        topic,
        key,
        value,
        json.dumps(headers),
    )
    return row_id


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        bootstrap: str,
        metrics: Metrics,
        batch: int = 1000,
        poll_s: float = 0.5,
    ) -> None:
        self.pool = pool
        self.metrics = metrics
        self.batch = batch
        self.poll_s = poll_s
        self.producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            enable_idempotence=True,  # forces acks=all; retries keep order and never duplicate
            acks="all",
            linger_ms=2,
            max_batch_size=256 * 1024,
        )
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        """Called after a handler commits, so outcomes leave at once instead of at the next poll."""
        self._wake.set()

    async def start(self) -> None:
        await self.producer.start()

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def close(self) -> None:
        await self.producer.stop()

    async def run(self) -> None:
        last_purge = 0.0
        while not self._stopping:
            try:
                while await self.publish_pending() >= self.batch:
                    pass
                await self.refresh_backlog()
                if time.monotonic() - last_purge > PURGE_EVERY_S:
                    await self.purge()
                    last_purge = time.monotonic()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("outbox relay round failed, retrying: %r", exc)
                await asyncio.sleep(1)
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_s)
            except TimeoutError:
                pass
            self._wake.clear()
        # a last round so that what was committed before shutdown leaves now
        await self.publish_pending()

    async def publish_pending(self) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", RELAY_LOCK):
                return 0
            rows = await conn.fetch(
                "SELECT id, topic, key, value, headers FROM outbox"
                " WHERE published_at IS NULL ORDER BY id LIMIT $1",
                self.batch,
            )
            if not rows:
                return 0
            pending = []
            for row in rows:
                headers = [(k, v.encode()) for k, v in json.loads(row["headers"]).items()]
                key = row["key"].encode() if row["key"] is not None else None
                pending.append(
                    await self.producer.send(row["topic"], row["value"], key=key, headers=headers)
                )
            await asyncio.gather(*pending)
            await conn.execute(
                "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
                [row["id"] for row in rows],
            )
        for row in rows:
            self.metrics.outbox_published.labels(row["topic"]).inc()
        return len(rows)

    async def purge(self) -> None:
        """Forget published rows after the retention time; a command retried later than that is
        still not acted on twice (the inbox remembers it), but its answer is not sent again."""
        await self.pool.execute(
            "DELETE FROM outbox WHERE published_at < now() - make_interval(days => $1)",
            RETENTION_DAYS,
        )

    async def refresh_backlog(self) -> None:
        backlog = await self.pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        self.metrics.outbox_backlog.set(backlog)
