"""asyncpg queries of the notify service: deliveries, subscribers, newsletter issues, opens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.notify.domain import Email

NOTIFY_EVENTS_TOPIC = "notify.events"

# --- deliveries --------------------------------------------------------------------------------


async def queue_email(conn: asyncpg.Connection, email: Email) -> None:
    """Queue once: the same event asking twice for the same e-mail to the same person is a no-op."""
    await conn.execute(
        "INSERT INTO deliveries (source_id, kind, recipient, subject, body_text, language)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (source_id, kind, recipient) DO NOTHING",
        email.source_id,
        email.kind,
        email.recipient,
        email.subject,
        email.body,
        email.language.value,
    )


@dataclass(frozen=True)
class Due:
    id: int
    kind: str
    source_id: UUID
    recipient: str
    subject: str
    body: str
    attempts: int  # including the current one
    issue_id: UUID | None = None
    subscriber_id: int | None = None
    language: str = "ja"


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
        " RETURNING id, kind, source_id, recipient, subject, body_text, attempts, issue_id,"
        "  subscriber_id, language",
        limit,
        lease_s,
    )
    due = [
        Due(r["id"], r["kind"], r["source_id"], r["recipient"], r["subject"], r["body_text"],
            r["attempts"], r["issue_id"], r["subscriber_id"], r["language"])
        for r in rows
    ]  # fmt: skip
    due.sort(key=lambda d: d.id)
    return due


def _event_json(event_type: str, extra: str) -> str:
    """SQL building a notify event's JSON value and Kafka headers in the statement that records
    the outcome, so a thousand outcomes cost one round trip and still each leave as an event.
    Expects a row source `ev` with `mid` (the new message id), `id`, `kind`, `source_id`,
    `attempts`; `extra` adds type-specific fields."""
    return (
        f"SELECT '{NOTIFY_EVENTS_TOPIC}', ev.source_id::text,"
        " convert_to(json_build_object("
        f"  'type', '{event_type}', 'message_id', ev.mid, 'schema_version', 1,"
        "   'occurred_at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
        "   'correlation_id', NULL, 'delivery_id', ev.id, 'kind', ev.kind,"
        f"  'source_id', ev.source_id, 'attempts', ev.attempts {extra})::text, 'UTF8'),"
        f" jsonb_build_object('type', '{event_type}', 'message_id', ev.mid::text,"
        "   'correlation_id', ev.mid::text, 'content-type', 'application/json')"
        " FROM ev ORDER BY ev.id"
    )


async def mark_sent(pool: asyncpg.Pool, ids: list[int]) -> int:
    """Mark accepted e-mails sent and queue one `notification.sent` each, in one statement.
    Only rows still leased count: one whose lease ran out and was re-leased is not marked twice."""
    status: str = await pool.execute(
        "WITH done AS ("
        "  UPDATE deliveries SET status = 'sent', sent_at = now(), lease_until = NULL"
        "  WHERE id = ANY($1::bigint[]) AND status = 'sending'"
        "  RETURNING id, kind, source_id, attempts),"
        " ev AS (SELECT done.*, gen_random_uuid() AS mid FROM done)"
        " INSERT INTO outbox (topic, key, value, headers) " + _event_json("notification.sent", ""),
        ids,
    )
    return int(status.split()[-1])


async def mark_retry(pool: asyncpg.Pool, id_: int, delay_s: float, error: str) -> None:
    await pool.execute(
        "UPDATE deliveries SET status = 'pending', lease_until = NULL, last_error = $3,"
        " next_attempt_at = now() + make_interval(secs => $2) WHERE id = $1",
        id_,
        delay_s,
        error,
    )


async def mark_failed(
    pool: asyncpg.Pool, id_: int, failure: str, reason: str, bounce_code: int | None
) -> None:
    """Give up on an e-mail, say so on `notify.events`, and count a permanent refusal against
    the address (BOUNCE_LIMIT of them and it gets no more newsletters)."""
    async with pool.acquire() as conn, conn.transaction():
        recipient = await conn.fetchval(
            "WITH failed AS ("
            "  UPDATE deliveries SET status = 'failed', lease_until = NULL, last_error = $3"
            "  WHERE id = $1 RETURNING id, kind, source_id, attempts, recipient),"
            " ev AS (SELECT failed.*, gen_random_uuid() AS mid FROM failed),"
            " queued AS (INSERT INTO outbox (topic, key, value, headers) "
            + _event_json("notification.failed", ", 'failure', $2::text, 'reason', $3::text")
            + " RETURNING 1)"
            " SELECT recipient FROM ev",
            id_,
            failure,
            reason,
        )
        if recipient is not None and bounce_code is not None:
            await conn.execute(
                "INSERT INTO bounces (recipient, count, last_code) VALUES ($1, 1, $2)"
                " ON CONFLICT (recipient) DO UPDATE SET count = bounces.count + 1,"
                "  last_code = excluded.last_code, last_at = now()",
                recipient,
                bounce_code,
            )


async def release(pool: asyncpg.Pool, ids: list[int]) -> None:
    """Hand leased but unsent e-mails back at shutdown, so the next sender need not wait for the
    lease to run out. The lease's attempt is given back too: nothing was tried."""
    if ids:
        await pool.execute(
            "UPDATE deliveries SET status = 'pending', lease_until = NULL,"
            " attempts = greatest(attempts - 1, 0)"
            " WHERE id = ANY($1::bigint[]) AND status = 'sending'",
            ids,
        )


# --- subscribers -------------------------------------------------------------------------------


async def request_subscription(
    conn: asyncpg.Connection, email: str, language: str, expires_at: datetime
) -> tuple[int, int] | None:
    """(id, generation) of a subscription now waiting for confirmation; None when the address
    is already an active subscriber (nothing to confirm). Asking again, or again after having
    unsubscribed, starts a new generation: older confirmation links stop working."""
    row = await conn.fetchrow(
        "INSERT INTO subscribers (email, language, status, confirm_expires_at)"
        " VALUES ($1, $2, 'pending', $3)"
        " ON CONFLICT (email) DO UPDATE SET language = excluded.language, status = 'pending',"
        "  generation = subscribers.generation + 1,"
        "  confirm_expires_at = excluded.confirm_expires_at"
        " WHERE subscribers.status <> 'active'"
        " RETURNING id, generation",
        email,
        language,
        expires_at,
    )
    return None if row is None else (row["id"], row["generation"])


async def confirm(conn: asyncpg.Connection, subscriber_id: int, generation: int) -> str:
    """'confirmed', 'already' (the link was used before) or 'invalid' (superseded, or the
    address unsubscribed since)."""
    row = await conn.fetchrow(
        "UPDATE subscribers SET status = 'active', confirmed_at = now(),"
        " confirm_expires_at = NULL, unsubscribed_at = NULL"
        " WHERE id = $1 AND generation = $2 AND status = 'pending' RETURNING id",
        subscriber_id,
        generation,
    )
    if row is not None:
        return "confirmed"
    status = await conn.fetchval(
        "SELECT status FROM subscribers WHERE id = $1 AND generation = $2",
        subscriber_id,
        generation,
    )
    return "already" if status == "active" else "invalid"


async def unsubscribe(conn: asyncpg.Connection, subscriber_id: int) -> bool:
    """True when the subscriber exists (unsubscribing twice is fine and changes nothing)."""
    status: str | None = await conn.fetchval(
        "WITH changed AS (UPDATE subscribers SET status = 'unsubscribed',"
        "  unsubscribed_at = now(), confirm_expires_at = NULL"
        "  WHERE id = $1 AND status <> 'unsubscribed' RETURNING status)"
        " SELECT status FROM changed UNION ALL"
        " SELECT status FROM subscribers WHERE id = $1 LIMIT 1",
        subscriber_id,
    )
    return status is not None


async def subscribe_organisation(
    conn: asyncpg.Connection, email: str, organisation_id: UUID
) -> None:
    """Consent given at registration (with the staff's interview) counts as confirmed; the
    organisation's previous address, if it changed, stops receiving the newsletter."""
    await conn.execute(
        "UPDATE subscribers SET status = 'unsubscribed', unsubscribed_at = now()"
        " WHERE organisation_id = $1 AND email <> $2 AND status <> 'unsubscribed'",
        organisation_id,
        email,
    )
    await conn.execute(
        "INSERT INTO subscribers (email, status, source, organisation_id, confirmed_at)"
        " VALUES ($1, 'active', 'organisation', $2, now())"
        " ON CONFLICT (email) DO UPDATE SET status = 'active', organisation_id = $2,"
        "  confirmed_at = coalesce(subscribers.confirmed_at, now()), unsubscribed_at = NULL,"
        "  confirm_expires_at = NULL,"
        "  generation = subscribers.generation + (subscribers.status <> 'active')::int",
        email,
        organisation_id,
    )


async def unsubscribe_organisation(conn: asyncpg.Connection, organisation_id: UUID) -> None:
    await conn.execute(
        "UPDATE subscribers SET status = 'unsubscribed', unsubscribed_at = now()"
        " WHERE organisation_id = $1 AND status <> 'unsubscribed'",
        organisation_id,
    )


async def expire_unconfirmed(pool: asyncpg.Pool) -> int:
    """Forget subscription requests never confirmed in time (the address of someone who did not
    ask us twice is not ours to keep)."""
    status: str = await pool.execute(
        "DELETE FROM subscribers WHERE status = 'pending' AND confirm_expires_at < now()"
    )
    return int(status.split()[-1])


# --- newsletter issues -------------------------------------------------------------------------


async def create_issue(
    conn: asyncpg.Connection,
    issue_id: UUID,
    subject: str,
    body_markdown: str,
    body_html: str,
    send_at: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO newsletter_issues (id, subject, body_markdown, body_html, body_text, send_at)"
        " VALUES ($1, $2, $3, $4, $3, $5) ON CONFLICT (id) DO NOTHING",
        issue_id,
        subject,
        body_markdown,
        body_html,
        send_at,
    )


async def fan_out(conn: asyncpg.Connection, issue_id: UUID, bounce_limit: int) -> int:
    """One delivery per active subscriber, in one set-based statement; the unique key
    (issue, recipient) makes a repeat add nobody twice. Addresses that bounced `bounce_limit`
    times are left out."""
    count: int = await conn.fetchval(
        "WITH issue AS ("
        "  UPDATE newsletter_issues SET status = 'sending', started_at = now()"
        "  WHERE id = $1 AND status = 'scheduled' RETURNING id, subject),"
        " queued AS ("
        "  INSERT INTO deliveries (source_id, kind, recipient, subject, body_text, issue_id,"
        "   subscriber_id, language)"
        "  SELECT issue.id, 'newsletter', s.email, issue.subject, '', issue.id, s.id, s.language"
        "  FROM issue CROSS JOIN subscribers s"
        "  WHERE s.status = 'active' AND NOT EXISTS ("
        "   SELECT 1 FROM bounces b WHERE b.recipient = s.email AND b.count >= $2)"
        "  ORDER BY s.id"
        "  ON CONFLICT (source_id, kind, recipient) DO NOTHING RETURNING 1)"
        " SELECT count(*) FROM queued",
        issue_id,
        bounce_limit,
    )
    await conn.execute(
        "UPDATE newsletter_issues SET recipients = $2 WHERE id = $1 AND recipients IS NULL",
        issue_id,
        count,
    )
    return count


@dataclass(frozen=True)
class Issue:
    id: UUID
    subject: str
    body_html: str
    body_text: str


async def load_issue(pool: asyncpg.Pool, issue_id: UUID) -> Issue | None:
    row = await pool.fetchrow(
        "SELECT id, subject, body_html, body_text FROM newsletter_issues WHERE id = $1", issue_id
    )
    return None if row is None else Issue(row[0], row[1], row[2], row[3])


async def record_open(pool: asyncpg.Pool, delivery_id: int) -> None:
    """The first fetch of the pixel counts; later ones (the reader opens it again) do not."""
    await pool.execute(
        "UPDATE deliveries SET opened_at = now() WHERE id = $1 AND opened_at IS NULL"
        " AND issue_id IS NOT NULL",
        delivery_id,
    )


PROGRESS_SQL = (
    "SELECT i.id, i.subject, i.status, i.send_at, i.started_at, i.recipients,"
    " count(*) FILTER (WHERE d.status = 'sent') AS sent,"
    " count(*) FILTER (WHERE d.status = 'failed') AS failed,"
    " count(*) FILTER (WHERE d.status IN ('pending', 'sending')) AS remaining,"
    " count(*) FILTER (WHERE d.opened_at IS NOT NULL) AS opened,"
    " count(*) FILTER (WHERE d.sent_at > now() - interval '10 seconds') AS sent_last_10s"
    " FROM newsletter_issues i LEFT JOIN deliveries d ON d.issue_id = i.id"
)


async def issue_progress(pool: asyncpg.Pool, issue_id: UUID) -> dict[str, Any] | None:
    row = await pool.fetchrow(PROGRESS_SQL + " WHERE i.id = $1 GROUP BY i.id", issue_id)
    return None if row is None else dict(row)


async def recent_progress(pool: asyncpg.Pool, limit: int = 10) -> list[dict[str, Any]]:
    """Progress of the latest issues that started sending, for the metrics."""
    rows = await pool.fetch(
        PROGRESS_SQL + " WHERE i.id IN (SELECT id FROM newsletter_issues"
        "  WHERE started_at IS NOT NULL ORDER BY started_at DESC LIMIT $1) GROUP BY i.id",
        limit,
    )
    return [dict(r) for r in rows]
