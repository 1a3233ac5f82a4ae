"""asyncpg queries of the notify service."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from services.notify.domain import Email


async def queue_email(conn: asyncpg.Connection, email: Email) -> None:
    """Queue once: the same event asking twice for the same e-mail to the same person is a no-op."""
    await conn.execute(
        "INSERT INTO deliveries (source_id, kind, recipient, subject, body_text)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (source_id, kind, recipient) DO NOTHING",
        email.source_id,
        email.kind,
        email.recipient,
        email.subject,
        email.body,
    )


@dataclass(frozen=True)
class Due:
    id: int
    recipient: str
    subject: str
    body: str
    attempts: int


async def claim_due(conn: asyncpg.Connection, limit: int) -> list[Due]:
    """Lock due e-mails for this sender; other senders skip them (call inside a transaction)."""
    rows = await conn.fetch(
        "SELECT id, recipient, subject, body_text, attempts FROM deliveries"
        " WHERE status = 'pending' AND next_attempt_at <= now()"
        " ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED",
        limit,
    )
    return [Due(r["id"], r["recipient"], r["subject"], r["body_text"], r["attempts"]) for r in rows]


async def mark_sent(conn: asyncpg.Connection, ids: list[int]) -> None:
    if ids:
        await conn.execute(
            "UPDATE deliveries SET status = 'sent', sent_at = now(), attempts = attempts + 1"
            " WHERE id = ANY($1::bigint[])",
            ids,
        )


async def mark_retry(conn: asyncpg.Connection, id_: int, delay_s: float, error: str) -> None:
    await conn.execute(
        "UPDATE deliveries SET attempts = attempts + 1, last_error = $3,"
        " next_attempt_at = now() + make_interval(secs => $2) WHERE id = $1",
        id_,
        delay_s,
        error,
    )


async def mark_failed(conn: asyncpg.Connection, id_: int, error: str) -> None:
    await conn.execute(
        "UPDATE deliveries SET status = 'failed', attempts = attempts + 1, last_error = $2"
        " WHERE id = $1",
        id_,
        error,
    )
