"""Transactional outbox and its relay (ARCHITECTURE.md, "Delivery guarantees").

A handler writes its outgoing messages into `outbox` in the transaction that changes its state, so
nothing is published that was not committed and nothing committed is lost. The relay publishes
unpublished rows in id order with an idempotent producer (acks=all) and stamps them. One relay per
database runs at a time (a transaction-scoped advisory lock); since the messages of one key are
written by one consumer in sequence, id order is their commit order.

A row Kafka can never take (larger than it accepts, or refused with an error that retrying cannot
mend) is set aside with its reason, counted and alerted on, and everything behind it keeps
flowing; one bad row must not hold up every later answer. Any other failure of a round (Kafka or
PostgreSQL unreachable) is retried with a growing pause; the relay itself never ends on an error,
and runs under the supervisor besides. The backlog is measured by its own task (`watch_backlog`),
so a stalled relay still shows in the metrics.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from contracts.envelope import NUL_CHECKED, Message, header_fields, new_message_id
from contracts.topics import Topic
from services.runtime.errors import clean
from services.runtime.kafka_auth import KafkaCredentials, connection_kwargs
from services.runtime.metrics import Metrics
from services.runtime.supervisor import beat

log = logging.getLogger(__name__)

RELAY_LOCK = 7_402_512
# A round takes the relay's lock and lets its marks (published, set aside) reach the disk lazily:
# a mark lost when PostgreSQL stops only means its row is published once more, with the same
# message_id, which every consumer recognises; waiting for the flush held each round, and every
# answer committed meanwhile, for 2 ms, 14 ms at p99 and up to 57 ms (booking at 200 commands/s).
ROUND_SQL = (
    "SELECT pg_try_advisory_xact_lock($1) AND set_config('synchronous_commit', 'off', true) = 'off'"
)
MAX_REQUEST_BYTES = 4 * 1024 * 1024  # what the relay may send: a dead letter of the largest record
LONGEST_PAUSE_S = 10.0
# Rows handed to the producer between two turns of the event loop: a round of thousands would
# otherwise hold the loop for tens of milliseconds, and every consumer and SMTP connection of the
# service with it.
YIELD_EVERY = 200
NUL_CHECKED_CONTEXT = {NUL_CHECKED: True}


@dataclass(frozen=True)
class Outgoing:
    """A message a handler wants published once its transaction commits. `headers` are added
    to the envelope's (a command a service sends on its own account carries its proof here,
    in `authorization`)."""

    topic: Topic
    key: str | None
    message: Message
    headers: Mapping[str, str] = field(default_factory=dict)

    @functools.cached_property
    def value(self) -> bytes:
        """The record's value, made once: a handler may make it while its transaction waits on
        PostgreSQL, before the outbox row is written."""
        return self.message.model_dump_json().encode()

    @functools.cached_property
    def header_json(self) -> str:
        """The record's headers as the outbox's jsonb column takes them, made once."""
        return json.dumps({**header_fields(self.message), **self.headers})


def answer(
    cmd: Message, topic: Topic, key: str, event_type: type[Message], **fields: object
) -> Outgoing:
    """An event answering a command: its request_id is the command's message_id (so the client
    finds it) and it continues the command's correlation.

    Validated as its type, but not walked for NUL (half the cost of making it, on every
    command's path): its text comes from the validated command, from PostgreSQL text (which
    cannot hold NUL) and from our own words; and the consumer of the event checks anyway."""
    event = event_type.model_validate(
        {
            "message_id": new_message_id(),
            "correlation_id": cmd.correlation(),
            "request_id": cmd.message_id,
            **fields,
        },
        context=NUL_CHECKED_CONTEXT,
    )
    return Outgoing(topic, key, event)


def prepare(outgoing: Iterable[Outgoing]) -> None:
    """Make the records' bytes now, while the caller waits on something else."""
    for o in outgoing:
        _ = o.value, o.header_json


def columns(
    outgoing: Sequence[Outgoing],
) -> tuple[list[str], list[str | None], list[bytes], list[str]]:
    """Outgoing messages as the column arrays of an `unnest` insert into the outbox."""
    return (
        [o.topic.name for o in outgoing],
        [o.key for o in outgoing],
        [o.value for o in outgoing],
        [o.header_json for o in outgoing],
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
    raw_key: bytes | None,
    value: bytes,
    headers: dict[str, str],
) -> int:
    """Queue a record given as bytes (a dead letter): the key is kept as it came, whatever it
    holds; header values are cleaned so that jsonb can hold them."""
    row_id: int = await conn.fetchval(
        "INSERT INTO outbox (topic, raw_key, value, headers) VALUES ($1, $2, $3, $4::jsonb)"
        " RETURNING id",
        topic,
        raw_key,
        value,
        json.dumps({clean(k, 100): clean(v, 1000) for k, v in headers.items()}),
    )
    return row_id


def key_of(row: asyncpg.Record) -> bytes | None:
    """A row's Kafka key: a dead letter's original bytes, or the text key of a message."""
    if row["raw_key"] is not None:
        return bytes(row["raw_key"])
    return row["key"].encode() if row["key"] is not None else None


def record_bytes(row: asyncpg.Record) -> int:
    """An upper estimate of a row's size as a Kafka record."""
    return len(row["value"]) + len(key_of(row) or b"") + len(row["headers"]) + 512


def permanent(exc: BaseException) -> bool:
    """Kafka will refuse this record whatever we do (too large, invalid, not authorised)."""
    return isinstance(exc, KafkaError) and not exc.retriable


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        bootstrap: str,
        metrics: Metrics,
        batch: int = 1000,
        poll_s: float = 0.5,
        *,
        credentials: KafkaCredentials,
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
            max_request_size=MAX_REQUEST_BYTES,
            **connection_kwargs(credentials),
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
        pause = 0.5
        while not self._stopping:
            try:
                while await self.publish_pending() >= self.batch:
                    beat()
                pause = 0.5
            except Exception as exc:
                self.metrics.failures.labels("outbox_relay", type(exc).__name__).inc()
                log.warning("outbox relay round failed, retrying in %.1f s: %s: %s",
                            pause, type(exc).__name__, clean(str(exc), 200))  # fmt: skip
                await asyncio.sleep(pause)
                pause = min(LONGEST_PAUSE_S, pause * 2)
                continue
            beat()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_s)
            except TimeoutError:
                pass
            self._wake.clear()
        # a last round so that what was committed before shutdown leaves now
        try:
            await self.publish_pending()
        except Exception as exc:
            log.warning("last outbox round at shutdown failed (%s); the rows stay queued",
                        type(exc).__name__)  # fmt: skip

    async def publish_pending(self) -> int:
        """Publish one batch of rows; the number of rows handled (published or set aside)."""
        async with self.pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval(ROUND_SQL, RELAY_LOCK):
                return 0
            rows = await conn.fetch(
                "SELECT id, topic, key, raw_key, value, headers FROM outbox"
                " WHERE published_at IS NULL AND set_aside_at IS NULL ORDER BY id LIMIT $1",
                self.batch,
            )
            if not rows:
                return 0
            sent, refused = await self.send_all(rows)
            if refused:
                await self.set_aside(conn, refused)
            await conn.execute(
                "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
                [row["id"] for row in sent],
            )
        for topic, count in Counter(row["topic"] for row in sent).items():
            self.metrics.outbox_published.labels(topic).inc(count)
        return len(sent) + len(refused)

    async def send_all(
        self, rows: Sequence[asyncpg.Record]
    ) -> tuple[list[asyncpg.Record], list[tuple[asyncpg.Record, str]]]:
        """Send the rows; (rows Kafka took, rows it can never take with why). A row that failed
        on a retriable error stays queued for the next round; a round in which no row went
        through raises that error, so the relay pauses before it tries again."""
        refused: list[tuple[asyncpg.Record, str]] = []
        pending: list[tuple[asyncpg.Record, asyncio.Future[object]]] = []
        for n, row in enumerate(rows, start=1):
            if n % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # the service's consumers and senders run meanwhile
            if (size := record_bytes(row)) > MAX_REQUEST_BYTES:
                refused.append((row, f"record of {size} bytes is too large"))
                continue
            headers = [(k, v.encode()) for k, v in json.loads(row["headers"]).items()]
            try:
                future = await self.producer.send(row["topic"], row["value"], key=key_of(row),
                                                  headers=headers)  # fmt: skip
            except Exception as exc:
                if not permanent(exc):
                    raise
                refused.append((row, f"{type(exc).__name__}: {clean(str(exc), 200)}"))
                continue
            pending.append((row, future))
        results = await asyncio.gather(*(f for _, f in pending), return_exceptions=True)
        sent, retry = [], None
        for (row, _), result in zip(pending, results, strict=True):
            if not isinstance(result, BaseException):
                sent.append(row)
            elif permanent(result):
                refused.append((row, f"{type(result).__name__}: {clean(str(result), 200)}"))
            else:
                retry = result
        if retry is not None and not sent and not refused:
            raise retry
        return sent, refused

    async def set_aside(
        self, conn: asyncpg.Connection, refused: Sequence[tuple[asyncpg.Record, str]]
    ) -> None:
        await conn.execute(
            "UPDATE outbox SET set_aside_at = now(), last_error = r.why"
            " FROM unnest($1::bigint[], $2::text[]) AS r(id, why) WHERE outbox.id = r.id",
            [row["id"] for row, _ in refused],
            [why for _, why in refused],
        )
        for row, why in refused:
            self.metrics.outbox_set_aside_total.labels(row["topic"]).inc()
            log.error("outbox row %s for %s set aside: %s", row["id"], row["topic"], why)


async def measure_backlog(pool: asyncpg.Pool, metrics: Metrics) -> None:
    """Set the backlog gauges. Run by a task of its own, not by the relay, so that a relay that
    stalls or dies shows as a growing backlog and an ageing oldest row (the OutboxStalled
    alert)."""
    row = await pool.fetchrow(
        "SELECT count(*) AS n, coalesce(extract(epoch FROM now() - min(created_at)), 0)"
        " AS oldest FROM outbox WHERE published_at IS NULL AND set_aside_at IS NULL"
    )
    aside = await pool.fetchval("SELECT count(*) FROM outbox WHERE set_aside_at IS NOT NULL")
    metrics.outbox_backlog.set(row["n"])
    metrics.outbox_oldest_s.set(float(row["oldest"]))
    metrics.outbox_set_aside.set(aside)
