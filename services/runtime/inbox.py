"""Idempotent consumption: each message_id is recorded in the transaction of its effect.

A redelivered message (Kafka's at-least-once) or a client's retried command (same message_id) finds
its id here and changes nothing; a command is answered again with the very outbox rows it produced
the first time, so the client still gets its outcome. The inbox row and the outgoing messages are
written by one statement, as this is on every message's path.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from uuid import UUID

import asyncpg

from services.runtime import outbox
from services.runtime.outbox import Outgoing


async def seen(conn: asyncpg.Connection, message_ids: Collection[UUID]) -> set[UUID]:
    """Which of these message ids were handled before (one query for a whole batch)."""
    rows = await conn.fetch(
        "SELECT message_id FROM inbox WHERE message_id = ANY($1::uuid[])", list(message_ids)
    )
    return {row["message_id"] for row in rows}


async def record(
    conn: asyncpg.Connection, message_id: UUID, message_type: str, outgoing: Sequence[Outgoing]
) -> None:
    """Record the message as handled, queue its outgoing messages, and remember them as its
    replies. Raises UniqueViolationError if another consumer recorded it meanwhile."""
    await conn.execute(
        "WITH queued AS ("
        "  INSERT INTO outbox (topic, key, value, headers)"
        "  SELECT * FROM unnest($3::text[], $4::text[], $5::bytea[], $6::jsonb[])"
        "  RETURNING id)"
        " INSERT INTO inbox (message_id, type, replies)"
        " SELECT $1, $2, coalesce(array_agg(id ORDER BY id), '{}') FROM queued",
        message_id,
        message_type,
        *outbox.columns(outgoing),
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
