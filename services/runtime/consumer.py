"""Handling a batch of Kafka records: parse, de-duplicate, decide, store, dead-letter.

A batch is one PostgreSQL transaction; offsets are committed by the caller only after it commits.
The fast path runs the whole batch without savepoints (they cost two round trips a message). If
anything in it fails, the transaction is rolled back and the batch replayed on the safe path, one
savepoint per message, so a failing message is rolled back alone, dead-lettered, and the rest of
the partition keeps flowing. Handlers are written not to fail on business outcomes (a conflict is
an answer, not an error), so the safe path is for bugs and races between instances.

What cannot be parsed or validated goes to `<topic>.dlq` with its original bytes and the reason,
through the outbox, in the same transaction: nothing is lost. Lost connections are not a message's
fault: they abort the batch, which is then redelivered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

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


@dataclass(frozen=True)
class Parsed:
    record: Record
    message: Message | None  # None: poison or a type this service skips
    handler: Handler | None
    poison: str | None = None


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
        batch = [self.classify(r) for r in records]
        try:
            outcomes = await self.run(batch, safe=False)
        except TRANSIENT_ERRORS:
            raise
        except Exception as exc:
            log.info("batch on %s failed (%s); replaying it message by message", self.topic,
                     type(exc).__name__)  # fmt: skip
            outcomes = await self.run(batch, safe=True)
        for mtype, outcome in outcomes:
            self.metrics.consumed.labels(self.topic, mtype, outcome).inc()
            if outcome == "dead_letter":
                self.metrics.dead_letters.labels(self.topic).inc()
        self.metrics.batch_seconds.labels(self.topic).observe(time.perf_counter() - started)
        self.on_commit()

    def classify(self, record: Record) -> Parsed:
        try:
            parsed = self.parse(record.value)
        except PoisonMessage as exc:
            return Parsed(record, None, None, poison=str(exc))
        if parsed is None:
            return Parsed(record, None, None)
        return Parsed(record, *parsed)

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

    async def run(self, batch: Sequence[Parsed], safe: bool) -> list[tuple[str, str]]:
        """Apply the batch in one transaction; (type, outcome) of each record."""
        outcomes: list[tuple[str, str]] = []
        async with self.pool.acquire() as conn, conn.transaction():
            done = await inbox.seen(conn, [p.message.message_id for p in batch if p.message])
            for item in batch:
                if item.poison is not None:
                    await self.dead_letter(conn, item.record, item.poison)
                    outcomes.append(("unparsed", "dead_letter"))
                elif item.message is None or item.handler is None:
                    outcomes.append(("unknown", "ignored"))
                else:
                    outcomes.append(await self.apply(conn, item, done, safe))
        return outcomes

    async def apply(
        self, conn: asyncpg.Connection, item: Parsed, done: set[UUID], safe: bool
    ) -> tuple[str, str]:
        assert item.message is not None and item.handler is not None
        message, mtype = item.message, message_type_of(type(item.message))
        if message.message_id in done:
            await inbox.answer_again(conn, message.message_id)
            return mtype, "duplicate"
        done.add(message.message_id)
        token = correlation_id.set(str(message.correlation()))
        try:
            if not safe:
                await self.decide(conn, message, mtype, item.handler)
                return mtype, "handled"
            try:
                async with conn.transaction():
                    await self.decide(conn, message, mtype, item.handler)
                return mtype, "handled"
            except TRANSIENT_ERRORS:
                raise
            except asyncpg.UniqueViolationError:
                # another instance recorded it meanwhile (a rebalance): it is a duplicate
                await inbox.answer_again(conn, message.message_id)
                return mtype, "duplicate"
            except Exception as exc:
                log.exception("handler of %s %s failed", mtype, message.message_id)
                await self.dead_letter(conn, item.record, f"handler failed: {type(exc).__name__}")
                return mtype, "dead_letter"
        finally:
            correlation_id.reset(token)

    async def decide(
        self, conn: asyncpg.Connection, message: Message, mtype: str, handler: Handler
    ) -> None:
        outgoing = await handler(conn, message)
        await inbox.record(conn, message.message_id, mtype, outgoing)

    async def dead_letter(self, conn: asyncpg.Connection, record: Record, reason: str) -> None:
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
