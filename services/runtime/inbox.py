"""Idempotent consumption: each message_id is recorded in the transaction of its effect.

A redelivered message (Kafka's at-least-once) or a client's retried command (same message_id) finds
its id here and changes nothing; a command is answered again with the very outbox rows it produced
the first time, so the client still gets its outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import asyncpg


async def claim(conn: asyncpg.Connection, message_id: UUID, message_type: str) -> bool:
    """True when this message is new; False when it was handled before."""
    inserted = await conn.fetchval(
        "INSERT INTO inbox (message_id, type) VALUES ($1, $2)"
        " ON CONFLICT (message_id) DO NOTHING RETURNING true",
        message_id,
        message_type,
    )
    return bool(inserted)


async def record_replies(conn: asyncpg.Connection, message_id: UUID, ids: Sequence[int]) -> None:
    if ids:
        await conn.execute(
            "UPDATE inbox SET replies = $2::bigint[] WHERE message_id = $1", message_id, list(ids)
        )


async def replies(conn: asyncpg.Connection, message_id: UUID) -> list[int]:
    ids = await conn.fetchval("SELECT replies FROM inbox WHERE message_id = $1", message_id)
    return list(ids or [])
