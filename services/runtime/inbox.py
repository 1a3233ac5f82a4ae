"""Idempotent consumption: each message_id is recorded in the transaction of its effect.

A redelivered message (Kafka's at-least-once) or a client's retried command (same message_id) finds
its id here and changes nothing; a command is answered again with the very outbox rows it produced
the first time, so the client still gets its outcome. The inbox row and the outgoing messages are
written by one statement, as this is on every message's path.

Each row keeps a digest of what the message said. The same id with other content is not a retry
but a second request under a used id: the consumer tells its sender so rather than answering it
with the first request's outcome.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from contracts.envelope import Message
from services.runtime import outbox
from services.runtime.outbox import Outgoing

# What may differ between a message and its faithful retry: a client that retries re-sends the
# same request, but may stamp it again.
RETRY_MAY_CHANGE = frozenset({"occurred_at", "schema_version"})


def digest(message: Message) -> bytes:
    """What the message asks for, independent of the order of its fields and of its stamps:
    the validated model written back, its fields in the order the model declares them whatever
    order they came in (a fifth of the cost of sorting a dump of it, on every message)."""
    content = message.model_dump_json(exclude=set(RETRY_MAY_CHANGE))
    return hashlib.sha256(b"v2:" + content.encode()).digest()


def legacy_digest(message: Message) -> bytes:
    """The digest earlier versions recorded (sorted keys of a JSON dump): inbox rows written by
    them are kept for the retention period, and their retries must still be recognised."""
    content = message.model_dump(mode="json", exclude=set(RETRY_MAY_CHANGE))
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).digest()


def same_request(
    before: bytes | None, content_digest: bytes | None, message: Message | None
) -> bool:
    """Whether a message under a used id asks what the recorded one asked: rows recorded
    before digests were kept are taken as such; a row's digest may be of the earlier kind,
    worked out only for such a repeat (rare), never on the hot path."""
    if before is None or before == content_digest:
        return True
    return message is not None and before == legacy_digest(message)


def raw_digest(value: bytes) -> bytes:
    """The digest of a message that could not be read: its bytes."""
    return hashlib.sha256(b"raw:" + value).digest()


async def seen(conn: asyncpg.Connection, message_ids: Collection[UUID]) -> dict[UUID, bytes | None]:
    """The digests of those of these message ids that were handled before (one query for a whole
    batch); None for rows recorded before digests were kept."""
    rows = await conn.fetch(
        "SELECT message_id, digest FROM inbox WHERE message_id = ANY($1::uuid[])",
        list(message_ids),
    )
    return {row["message_id"]: row["digest"] for row in rows}


async def record(
    conn: asyncpg.Connection,
    message_id: UUID,
    message_type: str,
    outgoing: Sequence[Outgoing],
    content_digest: bytes | None = None,
    sender: str | None = None,
) -> None:
    """Record the message as handled, queue its outgoing messages, and remember them as its
    replies, and who sent it (the caller who may read the answers). Raises
    UniqueViolationError if another consumer recorded it meanwhile."""
    await conn.execute(
        "WITH queued AS ("
        "  INSERT INTO outbox (topic, key, value, headers)"
        "  SELECT * FROM unnest($3::text[], $4::text[], $5::bytea[], $6::jsonb[])"
        "  RETURNING id)"
        " INSERT INTO inbox (message_id, type, replies, digest, sender)"
        " SELECT $1, $2, coalesce(array_agg(id ORDER BY id), '{}'), $7, $8 FROM queued",
        message_id,
        message_type,
        *outbox.columns(outgoing),
        content_digest,
        sender,
    )


@dataclass(frozen=True)
class Entry:
    """A message handled on a batch's fast path, to be recorded with the batch's others."""

    message_id: UUID
    message_type: str
    outgoing: Sequence[Outgoing]
    digest: bytes | None
    sender: str | None = None  # the proven caller, `kind:subject`


RECORD_MANY_SQL = (
    "WITH ids AS MATERIALIZED ("
    "  SELECT n, nextval('outbox_id_seq') AS id"
    "  FROM generate_series(1, cardinality($1::text[])) AS n),"
    " queued AS ("
    "  INSERT INTO outbox (id, topic, key, value, headers)"
    "  SELECT ids.id, o.topic, o.key, o.value, o.headers"
    "  FROM unnest($1::text[], $2::text[], $3::bytea[], $4::jsonb[])"
    "   WITH ORDINALITY AS o(topic, key, value, headers, n) JOIN ids USING (n)),"
    " replies AS ("
    "  SELECT w.owner, array_agg(ids.id ORDER BY ids.id) AS ids"
    "  FROM unnest($5::int[]) WITH ORDINALITY AS w(owner, n) JOIN ids USING (n)"
    "  GROUP BY w.owner)"
    " INSERT INTO inbox (message_id, type, replies, digest, sender)"
    " SELECT m.message_id, m.type, coalesce(r.ids, '{}'), m.digest, m.sender"
    " FROM unnest($6::uuid[], $7::text[], $8::bytea[], $9::text[])"
    "  WITH ORDINALITY AS m(message_id, type, digest, sender, n)"
    "  LEFT JOIN replies r ON r.owner = m.n"
)


async def record_many(conn: asyncpg.Connection, entries: Sequence[Entry]) -> None:
    """Record a batch's handled messages and queue their outgoing messages, in one round trip
    for the whole batch. The outbox ids are drawn in the order of the outgoing messages (one
    session's nextval calls rise in the order they are made), so the relay publishes the
    batch's answers in the order the messages were handled, and each inbox row names its own
    replies (`owner`: the position of the message each outgoing message answers)."""
    if not entries:
        return
    outgoing = [o for e in entries for o in e.outgoing]
    owners = [n for n, e in enumerate(entries, start=1) for _ in e.outgoing]
    await conn.execute(
        RECORD_MANY_SQL,
        *outbox.columns(outgoing),
        owners,
        [e.message_id for e in entries],
        [e.message_type for e in entries],
        [e.digest for e in entries],
        [e.sender for e in entries],
    )


async def answer_again(conn: asyncpg.Connection, message_id: UUID) -> None:
    """Publish a handled message's replies once more, unchanged (same message_ids)."""
    await conn.execute(
        "INSERT INTO outbox (topic, key, value, headers)"
        " SELECT topic, key, value, headers FROM outbox"
        " WHERE id = ANY((SELECT replies FROM inbox WHERE message_id = $1)::bigint[])"
        " ORDER BY id",
        message_id,
    )
