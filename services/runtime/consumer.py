"""Handling a batch of Kafka records: parse, de-duplicate, decide, store, dead-letter.

A batch is one PostgreSQL transaction; offsets are committed by the caller only after it commits.
The fast path runs the whole batch without savepoints (they cost two round trips a message). If
anything in it fails, the transaction is rolled back and the batch replayed on the safe path, one
savepoint per message, so a failing message is rolled back alone, dead-lettered, and the rest of
the partition keeps flowing. Handlers are written not to fail on business outcomes (a conflict is
an answer, not an error), so the safe path is for bugs. On the fast path, consecutive new
messages of a type with a bulk handler (booking's reservation requests) are decided together,
in a few round trips instead of a few per message; the safe path never uses it.

Every record is hostile until validated, and whatever it holds it ends up handled, answered or
dead-lettered, and the partition moves on:
- A record that cannot be read at all (not JSON, nested too deep, no type, an unknown command
  type) goes to `<topic>.dlq` with its original key and value bytes and a bounded, cleaned reason,
  through the outbox, in the same transaction: nothing is lost.
- A command whose `message_id` and `type` can be read but which fails validation is answered with
  its rejection event (reason `invalid`, a detail naming the fields, never their values), so its
  sender is not left waiting; a copy goes to the DLQ as well.
- A command retried with the same `message_id` gets the same answer; the same id with different
  content is answered `id_reused`.
- Who sent a command is proven by the token in its `authorization` header, judged at the time the
  broker appended the record, and checked against the rule its route declares before the handler
  runs: no proof or a bad one is answered `unauthorized`, a proven caller the rule does not allow
  `forbidden`; both are audited. The handler gets the proven Caller, never a field of the body.
- Should even a dead letter fail to be written in full, a minimal one (the bytes alone) is written.
Lost connections and races between instances are not a message's fault: they abort the batch,
which is then redelivered.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Protocol, Self, TypeVar, Union
from uuid import UUID

import asyncpg
from pydantic import Field, TypeAdapter, ValidationError
from pydantic_core import from_json

from contracts.envelope import NUL_CHECKED, Message, new_message_id
from contracts.identity import AUTHORIZATION_HEADER
from contracts.topics import Topic
from services.runtime import audit, inbox, outbox
from services.runtime.audit import AuditEntry
from services.runtime.errors import RETRY_BATCH_ERRORS, clean
from services.runtime.identity import ANONYMOUS, Allow, Caller, Keyring, ProofError, bearer_token
from services.runtime.kafka_records import UNREADABLE, WHY
from services.runtime.logs import correlation_id
from services.runtime.metrics import Metrics
from services.runtime.outbox import Outgoing

log = logging.getLogger(__name__)

Handler = Callable[[asyncpg.Connection, Any, Caller], Awaitable[Sequence[Outgoing]]]
# Decides a run of messages of one type together, each with its proven sender: one answer list
# per message, in their order.
BulkHandler = Callable[
    [asyncpg.Connection, Sequence[tuple[Any, Caller]]], Awaitable[Sequence[Sequence[Outgoing]]]
]
M = TypeVar("M", bound=Message)

TRANSIENT_ERRORS = RETRY_BATCH_ERRORS  # what makes a batch be redelivered rather than judged
REASON_LIMIT = 500
LOG_APPEND_TIME = 1  # a record's timestamp type when the broker, not the producer, stamped it
READ_YIELD_EVERY = 50  # records read between two turns of the event loop (about 1 ms of CPU)
UNAUTHORIZED_DETAIL = (
    "The request carries no valid proof of who sent it ({why}); "
    "send it with a current token in the 'authorization' header."
)
FORBIDDEN_DETAIL = "The signed-in caller may not send this request."
ID_REUSED_DETAIL = (
    "This message_id was already used for a different request; "
    "send the new request with a new message_id."
)


class Record(Protocol):
    """The part of a Kafka ConsumerRecord we read (read-only: any record-like object fits)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes | None]]: ...
    @property
    def timestamp(self) -> int: ...
    @property
    def timestamp_type(self) -> int: ...


class PoisonMessage(Exception):
    """A record that can never be handled; the reason is safe to log (no message content)."""


@functools.cache
def message_type_of(cls: type[Message]) -> str:
    """Read once per class: pydantic's `model_fields` is a descriptor, not a plain attribute,
    and the consumer's path asks for a message's type several times."""
    return str(cls.model_fields["type"].default)


def validation_reason(exc: ValidationError) -> str:
    """A readable reason without the offending values (they may be personal data)."""
    parts = [
        f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
        for err in exc.errors(include_input=False, include_url=False, include_context=False)
    ]
    return clean("invalid message: " + "; ".join(parts), REASON_LIMIT)


def text_key(key: bytes | None) -> str | None:
    """The record's key as text for an answer's key, or None when it is no clean text."""
    if key is None or len(key) > 200:
        return None
    try:
        text = key.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if text.isprintable() else None


def read_json(value: bytes) -> object:
    """The JSON of a record that failed validation, to learn its type and id. The standard
    library reads what the fast parser refuses but RFC 8259 allows (a 5,000-digit number), so
    such a command is still answered; it refuses deep nesting with a RecursionError."""
    try:
        return from_json(value)
    except ValueError as fast:
        try:
            return json.loads(value, parse_int=str)  # only type and id are read from it
        except (ValueError, RecursionError):
            raise PoisonMessage(f"not JSON: {clean(str(fast), 120)}") from None


def read_uuid(value: object) -> UUID | None:
    """A UUID to answer to; not the nil one, which a careless producer sends for every record."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        found = UUID(value)
    except ValueError:
        return None
    return found if found.int else None


class Routes:
    """The handler of each message type on a topic, one registration per type, and who may send
    it. `on` is typed: mypy checks that a handler takes the very message class it is registered
    for, so a handler never receives `Any` and never re-dispatches with isinstance. `allow` is
    required: no message type is handled without saying who may send it (an event on another
    service's topic is `anyone`, as the broker lets only that service write it).

    A type may also have a `bulk` handler: given a run of consecutive new messages of that type
    from one partition's batch, each with the caller it proved to be and which `allow` admitted,
    it decides them together (fewer round trips on a hot path) and answers each as its
    one-message handler would have, had they come one by one. The consumer uses it on the fast
    path only; the safe path replays message by message with `handler`."""

    def __init__(self) -> None:
        self.handlers: dict[type[Message], Handler] = {}
        self.rules: dict[type[Message], Allow] = {}
        self.bulk: dict[type[Message], BulkHandler] = {}

    def on(
        self,
        cls: type[M],
        handler: Callable[[asyncpg.Connection, M, Caller], Awaitable[Sequence[Outgoing]]],
        *,
        allow: Allow,
        bulk: Callable[
            [asyncpg.Connection, Sequence[tuple[M, Caller]]],
            Awaitable[Sequence[Sequence[Outgoing]]],
        ]
        | None = None,
    ) -> Self:
        if cls in self.handlers:
            raise ValueError(f"{message_type_of(cls)} has a handler already")
        self.handlers[cls] = handler
        self.rules[cls] = allow
        if bulk is not None:
            self.bulk[cls] = bulk
        return self


@dataclass(frozen=True)
class Subscription:
    """A consumed topic and the handler of each message type on it.

    Command topics refuse unknown types (a client sent what nobody handles: dead letter). Event
    topics skip them: other services' contracts grow with new types that this one need not know.
    `rejections` names each command's rejection event, published on `answers_on`, for commands
    that cannot be read (reason `invalid`) or reuse a message_id (reason `id_reused`).
    """

    topic: Topic
    routes: Routes
    ignore_unknown_types: bool = False
    rejections: Mapping[type[Message], type[Message]] = field(default_factory=dict)
    answers_on: Topic | None = None

    @property
    def handlers(self) -> Mapping[type[Message], Handler]:
        return self.routes.handlers

    def by_type(self) -> dict[str, tuple[type[Message], Handler]]:
        return {message_type_of(cls): (cls, h) for cls, h in self.handlers.items()}

    def adapter(self) -> TypeAdapter[Any]:
        """One strict validator for every handled type: a record is parsed once on the happy
        path. Strict: `true` is no number and a bare number no date."""
        classes = tuple(self.handlers)
        if len(classes) == 1:
            return TypeAdapter(classes[0])
        union = Union[classes]  # type: ignore[valid-type]  # noqa: UP007
        return TypeAdapter(Annotated[union, Field(discriminator="type")])


@dataclass(frozen=True)
class Seen:
    """What a record says about itself: enough to answer it, whether or not it can be read."""

    message_id: UUID
    mtype: str
    correlation_id: UUID | None
    rejection: type[Message] | None


@dataclass(frozen=True)
class Invalid(Seen):
    """A command that names itself (id and type) but cannot be read: it gets an answer."""

    rejection: type[Message]
    reason: str


@dataclass(frozen=True)
class Parsed:
    record: Record
    message: Message | None  # None: poison, invalid, or a type this service skips
    handler: Handler | None
    poison: str | None = None
    invalid: Invalid | None = None
    digest: bytes | None = None
    caller: Caller = ANONYMOUS
    unproven: str | None = None  # why the record's proof of identity proves nothing


def nul_context(value: bytes) -> dict[str, bool] | None:
    """The validation context of a record's value: whether its bytes show that no string in it
    can hold NUL, so the message need not look for one field by field."""
    return None if b"\\u0000" in value else {NUL_CHECKED: True}


def proven_caller(keyring: Keyring, record: Record) -> Caller:
    """The caller the record's `authorization` header proves, judged at the time the broker
    appended it (on a topic where the producer sets the time, at the time of handling).
    Real time, never the service's shiftable clock: a token's life is measured in it."""
    values = [v for k, v in record.headers if k.lower() == AUTHORIZATION_HEADER]
    if not values:
        return ANONYMOUS
    if len(values) > 1:
        raise ProofError("more than one authorization header")
    token = bearer_token(values[0])
    if token is None:
        return ANONYMOUS
    at = datetime.now(UTC)
    if record.timestamp_type == LOG_APPEND_TIME and record.timestamp > 0:
        at = datetime.fromtimestamp(record.timestamp / 1000, UTC)
    return keyring.verify(token, at)


class BatchHandler:
    def __init__(
        self,
        subscription: Subscription,
        pool: asyncpg.Pool,
        metrics: Metrics,
        keyring: Keyring,
        on_commit: Callable[[], None] = lambda: None,
        consumer: str = "",
    ) -> None:
        self.subscription = subscription
        self.topic = subscription.topic.name
        self.routes = subscription.by_type()
        self.rules = subscription.routes.rules
        self.keyring = keyring
        self.consumer = consumer  # its group: several services may dead-letter one topic
        self.adapter = subscription.adapter()
        self.pool = pool
        self.metrics = metrics
        self.on_commit = on_commit

    async def handle(self, records: Sequence[Record]) -> None:
        """Settle a batch: the records of each partition in a transaction of their own, the
        partitions side by side. Partitions hold different keys, so different aggregates: they
        may be decided at the same moment, as two instances would decide them (the database's
        constraints arbitrate, and a race between them is retried). If any partition's part
        fails on a passing fault, the whole batch is redelivered; the parts that committed are
        then recognised by the inbox and answered again, never acted on twice."""
        started = time.perf_counter()
        parts: dict[tuple[str, int], list[Record]] = {}
        for record in records:
            parts.setdefault((record.topic, record.partition), []).append(record)
        results = await asyncio.gather(*(self.settle(p) for p in parts.values()),
                                       return_exceptions=True)  # fmt: skip
        failure: BaseException | None = None
        counted: Counter[tuple[str, str]] = Counter()
        for result in results:
            if isinstance(result, BaseException):
                failure = failure or result
                continue
            counted.update(result)
        for (mtype, outcome), n in counted.items():  # a batch's outcomes counted once each
            self.metrics.consumed.labels(self.topic, mtype, outcome).inc(n)
            if outcome in ("dead_letter", "invalid"):
                self.metrics.dead_letters.labels(self.topic).inc(n)
        self.metrics.batch_seconds.labels(self.topic).observe(time.perf_counter() - started)
        self.on_commit()
        if failure is not None:
            raise failure

    async def settle(self, records: Sequence[Record]) -> list[tuple[str, str]]:
        """One partition's records: the fast path, and the safe path if that failed."""
        batch = await self.read(records)
        try:
            return await self.run(batch, safe=False)
        except TRANSIENT_ERRORS:
            raise
        except Exception as exc:
            log.info("batch on %s failed (%s); replaying it message by message", self.topic,
                     type(exc).__name__)  # fmt: skip
            return await self.replay(batch)

    async def replay(self, batch: Sequence[Parsed]) -> list[tuple[str, str]]:
        """The safe path; should even that fail on something other than a passing fault, every
        record of the batch is dead-lettered as it came, so the partition still moves on."""
        try:
            return await self.run(batch, safe=True)
        except TRANSIENT_ERRORS:
            raise
        except Exception as exc:
            self.metrics.failures.labels(f"consumer:{self.topic}", type(exc).__name__).inc()
            log.error("replaying a batch on %s failed (%s); dead-lettering its %d records",
                      self.topic, type(exc).__name__, len(batch), exc_info=exc)  # fmt: skip
            async with self.pool.acquire() as conn, conn.transaction():
                for item in batch:
                    await self.minimal_dead_letter(conn, item.record, type(exc).__name__)
            return [("unparsed", "dead_letter")] * len(batch)

    # --- reading a record ----------------------------------------------------------------------

    async def read(self, records: Sequence[Record]) -> list[Parsed]:
        """A partition's records read and their senders proven, a few at a time: reading is
        the CPU of the batch, and between two of its turns the batch's other partitions go on
        with their transactions, whose PostgreSQL work then overlaps it instead of following."""
        parsed = []
        for n, record in enumerate(records, start=1):
            parsed.append(self.classify(record))
            if n % READ_YIELD_EVERY == 0:
                await asyncio.sleep(0)
        return parsed

    def classify(self, record: Record) -> Parsed:
        value = record.value
        if record.headers and record.headers[0][0] == UNREADABLE:
            why = (record.headers[0][1] or WHY).decode("utf-8", "replace")
            return Parsed(record, None, None, poison=why)
        if not value:
            return Parsed(record, None, None, poison="empty message")
        try:
            message: Message = self.adapter.validate_json(value, strict=True,
                                                          context=nul_context(value))  # fmt: skip
        except ValidationError as exc:
            try:
                return self.explain(record, value, exc)
            except PoisonMessage as poison:
                return Parsed(record, None, None, poison=str(poison))
        handler = self.routes[message_type_of(type(message))][1]
        try:
            caller = proven_caller(self.keyring, record)
        except ProofError as exc:
            return Parsed(record, message, handler, digest=inbox.digest(message), unproven=str(exc))
        return Parsed(record, message, handler, digest=inbox.digest(message), caller=caller)

    def explain(self, record: Record, value: bytes, exc: ValidationError) -> Parsed:
        """Why a record failed validation: it cannot be read (PoisonMessage), it is an event
        this service skips, or it is a command to answer as invalid."""
        data = read_json(value)
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            raise PoisonMessage("not a JSON object with a string field 'type'")
        route = self.routes.get(data["type"])
        if route is None:
            if self.subscription.ignore_unknown_types:
                return Parsed(record, None, None)
            # the type is not quoted: it is whatever the producer wrote, personal data included
            raise PoisonMessage(f"unknown message type ({len(data['type'])} characters)"
                                f" on {self.topic}")  # fmt: skip
        cls = route[0]
        try:
            cls.model_validate_json(value, strict=True)
            reason = validation_reason(exc)
        except ValidationError as own:
            reason = validation_reason(own)
        message_id = read_uuid(data.get("message_id"))
        rejection = self.subscription.rejections.get(cls)
        if message_id is None or rejection is None or self.subscription.answers_on is None:
            raise PoisonMessage(reason)
        cid = read_uuid(data.get("correlation_id"))
        invalid = Invalid(message_id, message_type_of(cls), cid, rejection, reason)
        return Parsed(record, None, None, invalid=invalid, digest=inbox.raw_digest(value))

    # --- applying a batch ----------------------------------------------------------------------

    async def run(self, batch: Sequence[Parsed], safe: bool) -> list[tuple[str, str]]:
        """Apply the batch in one transaction; (type, outcome) of each record."""
        outcomes: list[tuple[str, str]] = []
        ids = [p.message.message_id for p in batch if p.message]
        ids += [p.invalid.message_id for p in batch if p.invalid]
        handled: list[inbox.Entry] = []  # recorded together when the batch is done (fast path)
        run: list[Parsed] = []  # consecutive new messages of one type with a bulk handler
        async with self.pool.acquire() as conn, conn.transaction():
            done = await inbox.seen(conn, ids)
            for item in batch:
                if not safe and self.joins_run(item, run, done):
                    run.append(item)
                    continue
                outcomes += await self.decide_run(conn, run, handled)
                if item.poison is not None:
                    await self.dead_letter(conn, item.record, item.poison)
                    outcomes.append(("unparsed", "dead_letter"))
                elif item.invalid is not None:
                    outcomes.append(await self.refuse(conn, item, item.invalid, done))
                elif item.message is None or item.handler is None:
                    outcomes.append(("unknown", "ignored"))
                else:
                    outcomes.append(await self.apply(conn, item, done, safe, handled))
            outcomes += await self.decide_run(conn, run, handled)
            await inbox.record_many(conn, handled)
        return outcomes

    def joins_run(self, item: Parsed, run: list[Parsed], done: dict[UUID, bytes | None]) -> bool:
        """Whether a message joins the run being gathered: a new message (not seen before, nor
        earlier in the batch) of a type with a bulk handler, the run's type if it has begun, that
        its proven sender may send (a refused one is answered alone, in its place). Joining marks
        it seen, as handling it would. A message that does not join ends the run, which is
        decided before it: the partition's order of effects is kept."""
        message = item.message
        if message is None or type(message) not in self.subscription.routes.bulk:
            return False
        if message.message_id in done:
            return False
        if self.refusal(item, message_type_of(type(message))) is not None:
            return False
        if run and type(run[0].message) is not type(message):
            return False
        done[message.message_id] = item.digest
        return True

    async def decide_run(
        self, conn: asyncpg.Connection, run: list[Parsed], handled: list[inbox.Entry]
    ) -> list[tuple[str, str]]:
        """Decide the gathered run with its bulk handler (fast path: its entries join
        `handled`), and empty it."""
        if not run:
            return []
        messages = [item.message for item in run if item.message is not None]
        cls = type(messages[0])
        proven = [(message, item.caller) for message, item in zip(messages, run, strict=True)]
        answers = await self.subscription.routes.bulk[cls](conn, proven)
        if len(answers) != len(messages):
            raise ValueError(f"{len(answers)} answers to a run of {len(messages)} messages")
        mtype = message_type_of(cls)
        deeds = []
        for item, message, outgoing in zip(run, messages, answers, strict=True):
            handled.append(inbox.Entry(message.message_id, mtype, outgoing, item.digest,
                                       item.caller.label()))  # fmt: skip
            if audit.audited(item.caller):
                deeds.append(AuditEntry(item.caller, mtype, message.message_id, "done"))
        await audit.write(conn, deeds)
        run.clear()
        return [(mtype, "handled")] * len(messages)

    async def apply(
        self,
        conn: asyncpg.Connection,
        item: Parsed,
        done: dict[UUID, bytes | None],
        safe: bool,
        handled: list[inbox.Entry],
    ) -> tuple[str, str]:
        """Decide one message. On the fast path its inbox entry and answers join `handled`, to
        be written with the batch's others in one statement; on the safe path they are written
        at once, inside the message's savepoint."""
        assert item.message is not None and item.handler is not None
        message, mtype = item.message, message_type_of(type(item.message))
        if message.message_id in done:
            rejection = self.subscription.rejections.get(type(message))
            seen = Seen(message.message_id, mtype, message.correlation(), rejection)
            return await self.repeated(conn, item, seen, done)
        done[message.message_id] = item.digest
        refusal = self.refusal(item, mtype)
        if refusal is not None:
            return await self.refuse_caller(conn, item, mtype, refusal, safe, handled)
        token = correlation_id.set(str(message.correlation()))
        try:
            if not safe:
                outgoing = await item.handler(conn, message, item.caller)
                handled.append(inbox.Entry(message.message_id, mtype, outgoing, item.digest,
                                           item.caller.label()))  # fmt: skip
                await self.audit_done(conn, item, mtype)
                return mtype, "handled"
            try:
                async with conn.transaction():
                    await self.decide(conn, item, mtype)
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

    async def decide(self, conn: asyncpg.Connection, item: Parsed, mtype: str) -> None:
        assert item.message is not None and item.handler is not None
        outgoing = await item.handler(conn, item.message, item.caller)
        await inbox.record(conn, item.message.message_id, mtype, outgoing, item.digest,
                           item.caller.label())  # fmt: skip
        await self.audit_done(conn, item, mtype)

    async def audit_done(self, conn: asyncpg.Connection, item: Parsed, mtype: str) -> None:
        if audit.audited(item.caller) and item.message is not None:
            entry = AuditEntry(item.caller, mtype, item.message.message_id, "done")
            await audit.write(conn, [entry])

    # --- who may send it -----------------------------------------------------------------------

    def refusal(self, item: Parsed, mtype: str) -> tuple[str, str, str] | None:
        """(reason, detail, why for the audit) when the caller may not send this message."""
        assert item.message is not None
        if item.unproven is not None:
            return "unauthorized", UNAUTHORIZED_DETAIL.format(why=item.unproven), item.unproven
        if self.rules[type(item.message)](item.caller):
            return None
        if item.caller.anonymous:
            return "unauthorized", UNAUTHORIZED_DETAIL.format(why="none given"), "no proof"
        return "forbidden", FORBIDDEN_DETAIL, f"not allowed to send {mtype}"

    async def refuse_caller(
        self,
        conn: asyncpg.Connection,
        item: Parsed,
        mtype: str,
        refusal: tuple[str, str, str],
        safe: bool,
        handled: list[inbox.Entry],
    ) -> tuple[str, str]:
        """Answer a command its sender may not send, remember the answer for its retries, and
        audit it. A message that has no rejection to answer with is dead-lettered."""
        assert item.message is not None
        reason, detail, why = refusal
        message = item.message
        log.warning("%s %s refused: %s (%s)", mtype, message.message_id, reason, why)
        await audit.write(conn, [AuditEntry(item.caller, mtype, message.message_id, reason, why)])
        rejection = self.subscription.rejections.get(type(message))
        if rejection is None or self.subscription.answers_on is None:
            await self.dead_letter(conn, item.record, f"{reason}: {why}")
            return mtype, reason
        answer = self.rejection(rejection, message.message_id, message.correlation(), reason,
                                detail, item.record)  # fmt: skip
        entry = inbox.Entry(message.message_id, mtype, [answer], item.digest, item.caller.label())
        if safe:
            await inbox.record(conn, entry.message_id, mtype, entry.outgoing, entry.digest,
                               entry.sender)  # fmt: skip
        else:
            handled.append(entry)
        return mtype, reason

    async def refuse(
        self,
        conn: asyncpg.Connection,
        item: Parsed,
        invalid: Invalid,
        done: dict[UUID, bytes | None],
    ) -> tuple[str, str]:
        """Answer a command that cannot be read, remember the answer for its retries, and keep
        a copy of it in the DLQ."""
        if invalid.message_id in done:
            return await self.repeated(conn, item, invalid, done)
        done[invalid.message_id] = item.digest
        detail = f"The request could not be read: {invalid.reason}"
        answer = self.rejection(invalid.rejection, invalid.message_id, invalid.correlation_id,
                                "invalid", detail, item.record)  # fmt: skip
        async with conn.transaction():
            await inbox.record(conn, invalid.message_id, invalid.mtype, [answer], item.digest)
        await self.dead_letter(conn, item.record, invalid.reason)
        return invalid.mtype, "invalid"

    async def repeated(
        self,
        conn: asyncpg.Connection,
        item: Parsed,
        seen: Seen,
        done: dict[UUID, bytes | None],
    ) -> tuple[str, str]:
        """A message id seen before: the same request again is answered again; another request
        under a used id is told so (a command), or skipped (an event)."""
        if inbox.same_request(done[seen.message_id], item.digest, item.message):
            await inbox.answer_again(conn, seen.message_id)
            return seen.mtype, "duplicate"
        if seen.rejection is None or self.subscription.answers_on is None:
            log.warning("%s %s repeats a used message_id with other content; skipped",
                        seen.mtype, seen.message_id)  # fmt: skip
            return seen.mtype, "id_reused"
        answer = self.rejection(seen.rejection, seen.message_id, seen.correlation_id,
                                "id_reused", ID_REUSED_DETAIL, item.record)  # fmt: skip
        await outbox.add(conn, [answer])
        return seen.mtype, "id_reused"

    def rejection(
        self,
        cls: type[Message],
        request_id: UUID,
        correlation: UUID | None,
        reason: str,
        detail: str,
        record: Record,
    ) -> Outgoing:
        assert self.subscription.answers_on is not None
        event = cls(
            message_id=new_message_id(),
            correlation_id=correlation or request_id,
            request_id=request_id,
            reason=reason,
            detail=detail,
        )
        return Outgoing(self.subscription.answers_on, text_key(record.key), event)

    # --- dead letters --------------------------------------------------------------------------

    async def dead_letter(self, conn: asyncpg.Connection, record: Record, reason: str) -> None:
        """The original key and value as bytes, with why, in a savepoint: should the full copy
        fail, the minimal one is written instead and the batch goes on."""
        reason = clean(reason, REASON_LIMIT)
        log.warning("dead letter from %s[%s]@%s: %s",
                    record.topic, record.partition, record.offset, reason)  # fmt: skip
        try:
            async with conn.transaction():
                await self.write_dead_letter(conn, record, reason)
        except TRANSIENT_ERRORS:
            raise
        except Exception as exc:
            await self.minimal_dead_letter(conn, record, type(exc).__name__)

    async def minimal_dead_letter(
        self, conn: asyncpg.Connection, record: Record, error: str
    ) -> None:
        self.metrics.dead_letter_fallbacks.labels(self.topic).inc()
        log.error("dead letter from %s[%s]@%s written in its minimal form (%s)",
                  record.topic, record.partition, record.offset, error)  # fmt: skip
        await self.write_dead_letter(conn, record, "not readable")

    async def write_dead_letter(self, conn: asyncpg.Connection, record: Record, why: str) -> None:
        headers = {
            "error": why,
            "original_topic": record.topic,
            "original_partition": str(record.partition),
            "original_offset": str(record.offset),
            "consumer_group": self.consumer,
        }
        if record.value is None:  # a tombstone is kept as an empty value: say which it was
            headers["original_value"] = "null"
        dlq = self.subscription.topic.dlq.name
        await outbox.add_raw(conn, dlq, record.key, record.value or b"", headers)
