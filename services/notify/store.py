"""asyncpg queries of the notify service: deliveries, subscribers, newsletter issues, opens."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from contracts.envelope import Message, new_message_id
from contracts.notify import (
    FailureKind,
    NewsletterFinished,
    NotificationFailed,
    NotificationSent,
)
from contracts.topics import NOTIFY_EVENTS
from services.notify.domain import Email
from services.runtime import outbox
from services.runtime.outbox import Outgoing

# --- deliveries --------------------------------------------------------------------------------


async def queue_email(conn: asyncpg.Connection, email: Email) -> None:
    """Queue once: the same event asking twice for the same e-mail to the same person is a no-op."""
    await conn.execute(
        "INSERT INTO deliveries (source_id, kind, recipient, subject, body_text, language,"
        " about_id, correlation_id, qr_text) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        " ON CONFLICT (source_id, kind, recipient) DO NOTHING",
        email.source_id,
        email.kind,
        email.recipient,
        email.subject,
        email.body,
        email.language.value,
        email.about_id,
        email.correlation_id,
        email.qr_text,
    )


@dataclass(frozen=True)
class Due:
    """A leased e-mail. `lease` is the token of the lease that took it: only while the row still
    carries that token may this sender send it or record its outcome."""

    id: int
    public_id: UUID  # in its Message-ID and open-tracking link
    kind: str
    source_id: UUID
    recipient: str
    subject: str
    body: str
    attempts: int  # including the current one
    lease: UUID
    about_id: UUID | None = None
    correlation_id: UUID | None = None
    issue_id: UUID | None = None
    subscriber: UUID | None = None  # the subscriber's public id, for the unsubscribe link
    language: str = "ja"
    qr_text: str | None = None  # a QR code image goes with the mail

    @property
    def event_key(self) -> UUID:
        """What the e-mail was about: the key of its outcome on `notify.events`."""
        return self.about_id or self.source_id

    @property
    def correlation(self) -> UUID:
        return self.correlation_id or self.source_id


async def lease_due(pool: asyncpg.Pool, limit: int, lease_s: float, lease: UUID) -> list[Due]:
    """Lease due e-mails to this sender (others skip them), including leases that ran out (a
    sender died or lost them); each lease counts as an attempt and stamps its token. Each kind
    is read by its own index in lease order, so a lease reads about `limit` rows however many
    are due (one condition with OR had every lease sort all of them)."""
    rows = await pool.fetch(
        "WITH pending AS (SELECT id, next_attempt_at FROM deliveries"
        "   WHERE status = 'pending' AND next_attempt_at <= now()"
        "   ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED),"
        " lapsed AS (SELECT id, next_attempt_at FROM deliveries"
        "   WHERE status = 'sending' AND lease_until < now()"
        "   ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED),"
        " leased AS ("
        " UPDATE deliveries SET status = 'sending', attempts = attempts + 1,"
        "  lease_until = now() + make_interval(secs => $2), lease_token = $3"
        " WHERE id IN (SELECT id FROM (SELECT * FROM pending UNION ALL SELECT * FROM lapsed) AS due"
        "   ORDER BY next_attempt_at, id LIMIT $1)"
        " RETURNING id, public_id, kind, source_id, recipient, subject, body_text, attempts,"
        "  about_id, correlation_id, issue_id, subscriber_id, language, qr_text)"
        " SELECT leased.*, s.public_id AS subscriber FROM leased"
        " LEFT JOIN subscribers s ON s.id = leased.subscriber_id ORDER BY leased.id",
        limit,
        lease_s,
        lease,
    )
    return [
        Due(r["id"], r["public_id"], r["kind"], r["source_id"], r["recipient"], r["subject"],
            r["body_text"], r["attempts"], lease, r["about_id"], r["correlation_id"],
            r["issue_id"], r["subscriber"], r["language"], r["qr_text"])
        for r in rows
    ]  # fmt: skip


async def renew(pool: asyncpg.Pool, held: Sequence[Due], lease_s: float) -> set[int]:
    """Extend the leases this sender still holds by LEASE_S from now; the ids whose lease is
    still ours (a row re-leased by someone else after ours ran out is not among them)."""
    if not held:
        return set()
    rows = await pool.fetch(
        "UPDATE deliveries d SET lease_until = now() + make_interval(secs => $3)"
        " FROM unnest($1::bigint[], $2::uuid[]) AS h(id, lease)"
        " WHERE d.id = h.id AND d.lease_token = h.lease AND d.status = 'sending'"
        " RETURNING d.id",
        [d.id for d in held],
        [d.lease for d in held],
        lease_s,
    )
    return {r["id"] for r in rows}


def _outcome_columns(
    events: Sequence[tuple[Due, Message]],
) -> tuple[list[int], list[str | None], list[bytes], list[str]]:
    """Outcome events as column arrays: delivery id, then the outbox's own columns (key: what
    the e-mail was about; value and headers written by the runtime's outbox, as for any
    message), so the group-commit statement queues exactly what `outbox.add` would."""
    outgoing = [Outgoing(NOTIFY_EVENTS, str(d.event_key), m) for d, m in events]
    _, keys, values, headers = outbox.columns(outgoing)
    return [d.id for d, _ in events], keys, values, headers


def sent_event(item: Due) -> NotificationSent:
    return NotificationSent(
        message_id=new_message_id(),
        correlation_id=item.correlation,
        delivery_id=item.id,
        kind=item.kind,
        source_id=item.source_id,
        attempts=item.attempts,
    )


def failed_event(item: Due, failure: FailureKind, reason: str) -> NotificationFailed:
    return NotificationFailed(
        message_id=new_message_id(),
        correlation_id=item.correlation,
        delivery_id=item.id,
        kind=item.kind,
        source_id=item.source_id,
        attempts=item.attempts,
        failure=failure,
        reason=reason,
    )


# ids and lease tokens; then the outbox's topic, and the ids, keys, values and headers of the
# events to queue (those of rows not marked are dropped); the number of rows marked
MARK_SENT_SQL = (
    "WITH done AS ("
    "  UPDATE deliveries d SET status = 'sent', sent_at = now(), lease_until = NULL"
    "  FROM unnest($1::bigint[], $2::uuid[]) AS h(id, lease)"
    "  WHERE d.id = h.id AND d.lease_token = h.lease AND d.status = 'sending'"
    "  RETURNING d.id),"
    " queued AS (INSERT INTO outbox (topic, key, value, headers)"
    "  SELECT $3, e.key, e.value, e.headers"
    "  FROM unnest($4::bigint[], $5::text[], $6::bytea[], $7::jsonb[])"
    "   WITH ORDINALITY AS e(id, key, value, headers, n)"
    "  JOIN done ON done.id = e.id ORDER BY e.n)"
    " SELECT count(*) FROM done"
)


async def mark_sent(pool: asyncpg.Pool, items: Sequence[Due]) -> int:
    """Mark accepted e-mails sent, in one statement, and queue one `notification.sent` for each
    that is not a newsletter's (an issue's outcome is announced once, by `finish_issues`); the
    events are the contract's models, built beforehand. Only rows still under the lease that
    sent them count: one re-leased meanwhile is neither marked nor announced twice. Returns how
    many were marked."""
    if not items:
        return 0
    announced = [(d, sent_event(d)) for d in items if d.issue_id is None]
    event_ids, keys, values, headers = _outcome_columns(announced)
    marked: int = await pool.fetchval(
        MARK_SENT_SQL,
        [d.id for d in items],
        [d.lease for d in items],
        NOTIFY_EVENTS.name,
        event_ids,
        keys,
        values,
        headers,
    )
    return marked


async def mark_retry(pool: asyncpg.Pool, item: Due, delay_s: float, error: str) -> None:
    await pool.execute(
        "UPDATE deliveries SET status = 'pending', lease_until = NULL, last_error = $3,"
        " next_attempt_at = now() + make_interval(secs => $2)"
        " WHERE id = $1 AND lease_token = $4 AND status = 'sending'",
        item.id,
        delay_s,
        error,
        item.lease,
    )


async def mark_failed(
    pool: asyncpg.Pool,
    item: Due,
    failure: FailureKind,
    reason: str,
    bounce_code: int | None,
) -> None:
    """Give up on an e-mail, say so on `notify.events`, and count a permanent refusal against
    the address (BOUNCE_LIMIT of them and it gets no more newsletters). Nothing happens when the
    lease was lost: the sender holding the row now decides."""
    _, keys, values, headers = _outcome_columns([(item, failed_event(item, failure, reason))])
    async with pool.acquire() as conn, conn.transaction():
        recipient = await conn.fetchval(
            "WITH failed AS ("
            "  UPDATE deliveries SET status = 'failed', lease_until = NULL, last_error = $3"
            "  WHERE id = $1 AND lease_token = $2 AND status = 'sending' RETURNING recipient),"
            " queued AS (INSERT INTO outbox (topic, key, value, headers)"
            "  SELECT $4, $5, $6, $7::jsonb FROM failed RETURNING 1)"
            " SELECT recipient FROM failed",
            item.id,
            item.lease,
            reason,
            NOTIFY_EVENTS.name,
            keys[0],
            values[0],
            headers[0],
        )
        if recipient is not None and bounce_code is not None:
            await conn.execute(
                "INSERT INTO bounces (recipient, count, last_code) VALUES ($1, 1, $2)"
                " ON CONFLICT (recipient) DO UPDATE SET count = bounces.count + 1,"
                "  last_code = excluded.last_code, last_at = now()",
                recipient,
                bounce_code,
            )


async def release(pool: asyncpg.Pool, items: Sequence[Due]) -> None:
    """Hand leased but unsent e-mails back at shutdown, so the next sender need not wait for the
    lease to run out. The lease's attempt is given back too: nothing was tried."""
    if items:
        await pool.execute(
            "UPDATE deliveries d SET status = 'pending', lease_until = NULL,"
            " attempts = greatest(attempts - 1, 0)"
            " FROM unnest($1::bigint[], $2::uuid[]) AS h(id, lease)"
            " WHERE d.id = h.id AND d.lease_token = h.lease AND d.status = 'sending'",
            [d.id for d in items],
            [d.lease for d in items],
        )


@dataclass(frozen=True)
class Backlog:
    stuck: int  # 'sending' whose lease ran out more than STUCK_AFTER_S ago: no sender has them
    oldest_due_s: float  # how long the longest-waiting due e-mail has waited (0: none waits)


async def backlog(pool: asyncpg.Pool, stuck_after_s: float) -> Backlog:
    """Two index-only counts for the monitor (partial indexes on pending and sending rows)."""
    row = await pool.fetchrow(
        "SELECT"
        " (SELECT count(*) FROM deliveries WHERE status = 'sending'"
        "   AND lease_until < now() - make_interval(secs => $1)) AS stuck,"
        " (SELECT coalesce(extract(epoch FROM now() - min(next_attempt_at)), 0)"
        "   FROM deliveries WHERE status = 'pending' AND next_attempt_at <= now()) AS oldest",
        stuck_after_s,
    )
    assert row is not None
    return Backlog(int(row["stuck"]), max(0.0, float(row["oldest"])))


# --- subscribers -------------------------------------------------------------------------------


async def confirmations_sent(conn: asyncpg.Connection, email: str) -> int:
    """Confirmation e-mails queued to an address in the last 24 hours."""
    count: int = await conn.fetchval(
        "SELECT count(*) FROM deliveries WHERE kind = 'subscription_confirm'"
        " AND recipient = $1 AND created_at > now() - interval '24 hours'",
        email,
    )
    return count


async def sent_of_kind(conn: asyncpg.Connection, kind: str, email: str) -> int:
    """E-mails of a kind queued to an address in the last 24 hours."""
    count: int = await conn.fetchval(
        "SELECT count(*) FROM deliveries WHERE kind = $1"
        " AND recipient = $2 AND created_at > now() - interval '24 hours'",
        kind,
        email,
    )
    return count


async def request_subscription(
    conn: asyncpg.Connection, email: str, language: str, expires_at: datetime
) -> tuple[UUID, int] | str:
    """(public id, generation) of a subscription now waiting for confirmation, or why there is
    nothing to confirm: 'active' (already subscribed) or 'pending' (a confirmation sent earlier
    is still valid, so none is sent again). Asking again once that link expired, or after having
    unsubscribed, starts a new generation: older confirmation links stop working.

    Requests for one address are serialised by its row: of thirty at once the first writes a
    pending row, and the other twenty-nine find it pending."""
    row = await conn.fetchrow(
        "INSERT INTO subscribers (email, language, status, confirm_expires_at)"
        " VALUES ($1, $2, 'pending', $3)"
        " ON CONFLICT (email) DO UPDATE SET language = excluded.language, status = 'pending',"
        "  generation = subscribers.generation + 1,"
        "  confirm_expires_at = excluded.confirm_expires_at"
        " WHERE subscribers.status <> 'active' AND NOT (subscribers.status = 'pending'"
        "  AND subscribers.confirm_expires_at > now())"
        " RETURNING public_id, generation",
        email,
        language,
        expires_at,
    )
    if row is not None:
        return row["public_id"], row["generation"]
    status: str | None = await conn.fetchval(
        "SELECT status FROM subscribers WHERE email = $1", email
    )
    return "active" if status == "active" else "pending"


async def confirm(conn: asyncpg.Connection, subscriber: UUID, generation: int) -> str:
    """'confirmed', 'already' (the link was used before) or 'invalid' (superseded, or the
    address unsubscribed since)."""
    row = await conn.fetchrow(
        "UPDATE subscribers SET status = 'active', confirmed_at = now(),"
        " confirm_expires_at = NULL, unsubscribed_at = NULL"
        " WHERE public_id = $1 AND generation = $2 AND status = 'pending' RETURNING id",
        subscriber,
        generation,
    )
    if row is not None:
        return "confirmed"
    status = await conn.fetchval(
        "SELECT status FROM subscribers WHERE public_id = $1 AND generation = $2",
        subscriber,
        generation,
    )
    return "already" if status == "active" else "invalid"


async def unsubscribe(conn: asyncpg.Connection, subscriber: UUID) -> bool:
    """True when the subscriber exists (unsubscribing twice is fine and changes nothing)."""
    status: str | None = await conn.fetchval(
        "WITH changed AS (UPDATE subscribers SET status = 'unsubscribed',"
        "  unsubscribed_at = now(), confirm_expires_at = NULL"
        "  WHERE public_id = $1 AND status <> 'unsubscribed' RETURNING status)"
        " SELECT status FROM changed UNION ALL"
        " SELECT status FROM subscribers WHERE public_id = $1 LIMIT 1",
        subscriber,
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
    correlation_id: UUID | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO newsletter_issues (id, subject, body_markdown, body_html, body_text, send_at,"
        " correlation_id) VALUES ($1, $2, $3, $4, $3, $5, $6) ON CONFLICT (id) DO NOTHING",
        issue_id,
        subject,
        body_markdown,
        body_html,
        send_at,
        correlation_id,
    )


async def fan_out(conn: asyncpg.Connection, issue_id: UUID, bounce_limit: int) -> int:
    """One delivery per active subscriber, in one set-based statement; the unique key
    (issue, recipient) makes a repeat add nobody twice. Addresses that bounced `bounce_limit`
    times are left out. Each delivery is about the issue and continues its publication's flow."""
    count: int = await conn.fetchval(
        "WITH issue AS ("
        "  UPDATE newsletter_issues SET status = 'sending', started_at = now()"
        "  WHERE id = $1 AND status = 'scheduled' RETURNING id, subject, correlation_id),"
        " queued AS ("
        "  INSERT INTO deliveries (source_id, kind, recipient, subject, body_text, issue_id,"
        "   subscriber_id, language, about_id, correlation_id)"
        "  SELECT issue.id, 'newsletter', s.email, issue.subject, '', issue.id, s.id, s.language,"
        "   issue.id, coalesce(issue.correlation_id, issue.id)"
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


# issues whose every delivery is settled, flipped to 'done' once (a second instance running the
# same statement waits for the row and then finds it done), with their counts
FINISH_ISSUES_SQL = (
    "WITH finished AS ("
    "  UPDATE newsletter_issues i SET status = 'done', finished_at = now()"
    "  WHERE i.status = 'sending' AND NOT EXISTS (SELECT 1 FROM deliveries d"
    "   WHERE d.issue_id = i.id AND d.status IN ('pending', 'sending'))"
    "  RETURNING i.id, i.recipients, coalesce(i.correlation_id, i.id) AS correlation_id)"
    " SELECT f.id, coalesce(f.recipients, 0) AS recipients, f.correlation_id,"
    "  count(d.id) FILTER (WHERE d.status = 'sent') AS sent,"
    "  count(d.id) FILTER (WHERE d.status = 'failed') AS failed"
    " FROM finished f LEFT JOIN deliveries d ON d.issue_id = f.id"
    " GROUP BY f.id, f.recipients, f.correlation_id ORDER BY f.id"
)


async def finish_issues(pool: asyncpg.Pool) -> list[NewsletterFinished]:
    """Close the issues whose deliveries are all settled and queue each one's
    `newsletter.finished`, in one transaction: announced once, however many instances ask."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(FINISH_ISSUES_SQL)
        events = [
            NewsletterFinished(
                message_id=new_message_id(),
                correlation_id=r["correlation_id"],
                issue_id=r["id"],
                recipients=r["recipients"],
                sent=r["sent"],
                failed=r["failed"],
            )
            for r in rows
        ]
        await outbox.add(conn, [Outgoing(NOTIFY_EVENTS, str(e.issue_id), e) for e in events])
    return events


@dataclass(frozen=True)
class Issue:
    id: UUID
    subject: str
    body_markdown: str
    body_text: str


async def load_issue(pool: asyncpg.Pool, issue_id: UUID) -> Issue | None:
    row = await pool.fetchrow(
        "SELECT id, subject, body_markdown, body_text FROM newsletter_issues WHERE id = $1",
        issue_id,
    )
    return None if row is None else Issue(row[0], row[1], row[2], row[3])


async def record_open(pool: asyncpg.Pool, delivery: UUID) -> None:
    """The first fetch of the pixel counts; later ones (the reader opens it again) do not."""
    await pool.execute(
        "UPDATE deliveries SET opened_at = now() WHERE public_id = $1 AND opened_at IS NULL"
        " AND issue_id IS NOT NULL",
        delivery,
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


async def move_reminder(
    conn: asyncpg.Connection, kind: str, key: str, due_at: datetime, starts_at: datetime,
    ends_at: datetime,
) -> None:  # fmt: skip
    """A pending reminder follows its session to a new time (its payload shows the new time)."""
    await conn.execute(
        "UPDATE scheduled_jobs SET due_at = $3,"
        " payload = jsonb_set(jsonb_set(payload, '{session,starts_at}', to_jsonb($4::text)),"
        "                     '{session,ends_at}', to_jsonb($5::text))"
        " WHERE kind = $1 AND key = $2 AND status = 'pending'",
        kind, key, due_at, starts_at.isoformat(), ends_at.isoformat(),
    )  # fmt: skip
