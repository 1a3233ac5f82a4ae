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
    attempts: int  # including the current one


async def lease_due(pool: asyncpg.Pool, limit: int, lease_s: float) -> list[Due]:
    """Lease due e-mails to this sender (others skip them), including leases of a sender that
    died; each lease counts as an attempt."""
    rows = await pool.fetch(
        "UPDATE deliveries SET status = 'sending', attempts = attempts + 1,"
        " lease_until = now() + make_interval(secs => $2)"
        " WHERE id IN (SELECT id FROM deliveries"
        "   WHERE (status = 'pending' AND next_attempt_at <= now())"
        "      OR (status = 'sending' AND lease_until < now())"
        "   ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED)"
        " RETURNING id, recipient, subject, body_text, attempts",
        limit,
        lease_s,
    )
    return [Due(r["id"], r["recipient"], r["subject"], r["body_text"], r["attempts"]) for r in rows]


async def mark_sent(pool: asyncpg.Pool, id_: int) -> None:
    await pool.execute(
        "UPDATE deliveries SET status = 'sent', sent_at = now(), lease_until = NULL WHERE id = $1",
        id_,
    )


async def mark_retry(pool: asyncpg.Pool, id_: int, delay_s: float, error: str) -> None:
    await pool.execute(
        "UPDATE deliveries SET status = 'pending', lease_until = NULL, last_error = $3,"
        " next_attempt_at = now() + make_interval(secs => $2) WHERE id = $1",
        id_,
        delay_s,
        error,
    )


async def mark_failed(pool: asyncpg.Pool, id_: int, error: str) -> None:
    await pool.execute(
        "UPDATE deliveries SET status = 'failed', lease_until = NULL, last_error = $2"
        " WHERE id = $1",
        id_,
        error,
    )
