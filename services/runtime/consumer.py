"""Handling a batch of Kafka records: parse, de-duplicate, decide, store, dead-letter.

One batch is one PostgreSQL transaction, and each record gets a savepoint inside it, so a record
that fails (a business conflict surfacing as a constraint violation, or a bug) is rolled back alone
while the rest commit together. Offsets are committed by the caller only after the transaction.

What cannot be parsed or validated goes to `<topic>.dlq` with its original bytes and the reason,
through the outbox, in the same transaction: the partition keeps flowing and nothing is lost.
Lost connections are not the record's fault: they abort the batch, which is then redelivered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg
from pydantic import ValidationError
from pydantic_core import from_json

from contracts.envelope import Message
from contracts.topics import Topic
from services.runtime import inbox, outbox
from services.runtime.logs import correlation_id
from services.runtime.metrics import Metrics
from services.runtime.outbox import Outgoing

log = logging.getLogger(__name__)

Handler = Callable[[asyncpg.Connection, Any], Awaitable[Sequence[Outgoing]]]

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
)


class Record(Protocol):
    """The part of a Kafka ConsumerRecord we read."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class PoisonMessage(Exception):
    """A record that can never be handled; the reason is safe to log (no message content)."""


def message_type_of(cls: type[Message]) -> str:
    return str(cls.model_fields["type"].default)


def validation_reason(exc: ValidationError) -> str:
    """A readable reason without the offending values (they may be personal data)."""
    parts = [
        f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
        for err in exc.errors(include_input=False, include_url=False)
    ]
    return "invalid message: " + "; ".join(parts)


@dataclass(frozen=True)
class Subscription:
    """A consumed topic and the handler of each message type on it.

    Command topics refuse unknown types (a client sent what nobody handles: dead letter). Event
    topics skip them: other services' contracts grow with new types that this one need not know.
    """

    topic: Topic
    handlers: Mapping[type[Message], Handler]
    ignore_unknown_types: bool = False

    def by_type(self) -> dict[str, tuple[type[Message], Handler]]:
        return {message_type_of(cls): (cls, h) for cls, h in self.handlers.items()}


class BatchHandler:
    def __init__(
        self,
        subscription: Subscription,
        pool: asyncpg.Pool,
        metrics: Metrics,
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self.subscription = subscription
        self.topic = subscription.topic.name
        self.routes = subscription.by_type()
        self.pool = pool
        self.metrics = metrics
        self.on_commit = on_commit

    async def handle(self, records: Sequence[Record]) -> None:
        started = time.perf_counter()
        async with self.pool.acquire() as conn, conn.transaction():
            for record in records:
                await self.handle_one(conn, record)
        self.metrics.batch_seconds.labels(self.topic).observe(time.perf_counter() - started)
        self.on_commit()

    def parse(self, value: bytes | None) -> tuple[Message, Handler] | None:
        """The message and its handler; None for an event type this service does not read."""
        if not value:
            raise PoisonMessage("empty message")
        try:
            data = from_json(value)
        except ValueError as exc:
            raise PoisonMessage(f"not JSON: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            raise PoisonMessage("not a JSON object with a string field 'type'")
        route = self.routes.get(data["type"])
        if route is None:
            if self.subscription.ignore_unknown_types:
                return None
            raise PoisonMessage(f"unknown message type {data['type']!r} on {self.topic}")
        cls, handler = route
        try:
            return cls.model_validate(data), handler
        except ValidationError as exc:
            raise PoisonMessage(validation_reason(exc)) from None

    async def handle_one(self, conn: asyncpg.Connection, record: Record) -> None:
        try:
            parsed = self.parse(record.value)
        except PoisonMessage as exc:
            await self.dead_letter(conn, record, str(exc), "unparsed")
            return
        if parsed is None:
            self.metrics.consumed.labels(self.topic, "unknown", "ignored").inc()
            return
        message, handler = parsed
        mtype = message_type_of(type(message))
        token = correlation_id.set(str(message.correlation()))
        try:
            async with conn.transaction():
                outcome = await self.apply(conn, message, mtype, handler)
            self.metrics.consumed.labels(self.topic, mtype, outcome).inc()
        except TRANSIENT_ERRORS:
            raise
        except Exception as exc:
            log.exception("handler of %s %s failed", mtype, message.message_id)
            await self.dead_letter(conn, record, f"handler failed: {type(exc).__name__}", mtype)
        finally:
            correlation_id.reset(token)

    async def apply(
        self, conn: asyncpg.Connection, message: Message, mtype: str, handler: Handler
    ) -> str:
        if not await inbox.claim(conn, message.message_id, mtype):
            await outbox.requeue(conn, await inbox.replies(conn, message.message_id))
            return "duplicate"
        outgoing = await handler(conn, message)
        ids = await outbox.add(conn, outgoing)
        await inbox.record_replies(conn, message.message_id, ids)
        return "handled"

    async def dead_letter(
        self, conn: asyncpg.Connection, record: Record, reason: str, mtype: str
    ) -> None:
        log.warning(
            "dead letter from %s[%s]@%s: %s", record.topic, record.partition, record.offset, reason
        )
        await outbox.add_raw(
            conn,
            self.subscription.topic.dlq.name,
            record.key.decode(errors="replace") if record.key else None,
            record.value or b"",
            {
                "error": reason,
                "original_topic": record.topic,
                "original_partition": str(record.partition),
                "original_offset": str(record.offset),
            },
        )
        self.metrics.dead_letters.labels(self.topic).inc()
        self.metrics.consumed.labels(self.topic, mtype, "dead_letter").inc()

