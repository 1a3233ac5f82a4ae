"""The notify store on a database of its own on the middle level's PostgreSQL (no sender runs
there, so nothing races the test): subscription requests cannot mail-bomb an address, leases are
honoured by token, outcome events are the contract's, keyed by what the e-mail was about, with the
cause's flow, and the monitor's gauges see stuck and waiting deliveries."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from uuid import UUID, uuid4

import asyncpg
import pytest
from prometheus_client import CollectorRegistry

from contracts.envelope import utc_now
from contracts.notify import (
    FailureKind,
    Language,
    NewsletterFinished,
    NotificationFailed,
    NotificationSent,
    notify_event_adapter,
)
from services.notify import domain, links, monitor, store
from services.notify.domain import Email, SubscriptionOutcome
from services.notify.handlers import Handlers
from services.runtime.db import create_pool, migrate
from tests.harness import HarnessPostgres
from tests.notify_support import addresses, development_settings, event_rows

pytestmark = pytest.mark.middle

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "notify" / "migrations"
SETTINGS = development_settings()


@pytest.fixture(scope="module")
async def pool(relaxed_postgres: HarnessPostgres) -> AsyncIterator[asyncpg.Pool]:
    dsn = await relaxed_postgres.fresh_database("notify", MIGRATIONS)
    pool = await create_pool(dsn)
    yield pool
    await pool.close()
    await relaxed_postgres.drop(dsn)


async def request(pool: asyncpg.Pool, address: str) -> SubscriptionOutcome:
    async with pool.acquire() as conn, conn.transaction():
        return await Handlers(SETTINGS).request_subscription(conn, address, Language.JA, uuid4())


async def confirmations(pool: asyncpg.Pool, address: str) -> int:
    count: int = await pool.fetchval(
        "SELECT count(*) FROM deliveries WHERE kind = 'subscription_confirm' AND recipient = $1",
        address,
    )
    return count


async def test_thirty_requests_at_once_for_one_address_queue_one_confirmation(
    pool: asyncpg.Pool,
) -> None:
    address = addresses("bombed", 1)[0]
    outcomes = await asyncio.gather(*(request(pool, address) for _ in range(30)))
    assert outcomes.count(SubscriptionOutcome.CONFIRMATION_QUEUED) == 1
    assert set(outcomes) <= {
        SubscriptionOutcome.CONFIRMATION_QUEUED, SubscriptionOutcome.CONFIRMATION_PENDING,
    }  # fmt: skip
    assert await confirmations(pool, address) == 1


async def test_the_same_address_written_differently_is_one_subscriber(pool: asyncpg.Pool) -> None:
    local = f"case-{uuid4().hex[:8]}"
    first = await request(pool, f"{local}@例え.jp")
    again = await request(pool, f"  {local.upper()}@XN--R8JZ45G.JP ")
    assert (first, again) == (
        SubscriptionOutcome.CONFIRMATION_QUEUED, SubscriptionOutcome.CONFIRMATION_PENDING,
    )  # fmt: skip
    assert await confirmations(pool, f"{local}@xn--r8jz45g.jp") == 1


async def test_an_address_gets_at_most_three_confirmations_a_day(pool: asyncpg.Pool) -> None:
    address = addresses("often", 1)[0]
    outcomes = []
    for _ in range(5):
        outcomes.append(await request(pool, address))
        # the link sent runs out: asking again is allowed, up to the daily limit
        await pool.execute(
            "UPDATE subscribers SET confirm_expires_at = now() - interval '1 second'"
            " WHERE email = $1",
            address,
        )
    assert (
        outcomes
        == [SubscriptionOutcome.CONFIRMATION_QUEUED] * 3 + [SubscriptionOutcome.LIMITED] * 2
    )
    assert await confirmations(pool, address) == 3


async def test_an_address_the_center_cannot_write_to_queues_nothing(pool: asyncpg.Pool) -> None:
    for address in ["山田@example.org", "jörg@example.de", "not-an-address", "a@b"]:
        assert await request(pool, address) == SubscriptionOutcome.REFUSED
        with pytest.raises(domain.AddressRefused):
            domain.subscriber_address(address)
    assert await pool.fetchval("SELECT count(*) FROM deliveries WHERE recipient LIKE '山田%'") == 0


async def test_confirmation_links_name_a_random_public_id(pool: asyncpg.Pool) -> None:
    first, second = addresses("token", 2)
    for address in (first, second):
        assert await request(pool, address) == SubscriptionOutcome.CONFIRMATION_QUEUED
    rows = await pool.fetch(
        "SELECT s.id, s.public_id, d.body_text FROM subscribers s JOIN deliveries d"
        " ON d.recipient = s.email AND d.kind = 'subscription_confirm'"
        " WHERE s.email = ANY($1::text[]) ORDER BY s.id",
        [first, second],
    )
    ids = []
    for row in rows:
        token = row["body_text"].split("token=")[1].split()[0]
        read = links.read_confirm_token(SETTINGS.signing_key, token, utc_now())
        assert read is not None and read[0] == row["public_id"]
        ids.append(read[0])
    assert ids[0] != ids[1] and {i.version for i in ids} == {4}  # random, not a sequence


# --- leases and outcomes -----------------------------------------------------------------------


async def queue(pool: asyncpg.Pool, about: UUID, flow: UUID) -> str:
    recipient = addresses("lease", 1)[0]
    email = Email("reservation_confirmed", uuid4(), about, flow, recipient, "件名", "本文")
    async with pool.acquire() as conn:
        await store.queue_email(conn, email)
    return recipient


async def lease(pool: asyncpg.Pool, recipient: str, lease_s: float = 60) -> store.Due:
    """Lease due rows until the one for `recipient` is among them (others are handed back)."""
    token = uuid4()
    found = [d for d in await store.lease_due(pool, 1000, lease_s, token)]
    mine = [d for d in found if d.recipient == recipient]
    await store.release(pool, [d for d in found if d.recipient != recipient])
    assert len(mine) == 1
    return mine[0]


async def outcome_events(pool: asyncpg.Pool, key: UUID) -> list[object]:
    rows = await pool.fetch(
        "SELECT key, value FROM outbox WHERE topic = 'notify.events' AND key = $1 ORDER BY id",
        str(key),
    )
    return [notify_event_adapter.validate_python(v) for v in event_rows(rows)]


async def test_a_sent_mark_counts_only_under_the_lease_that_sent(pool: asyncpg.Pool) -> None:
    about, flow = uuid4(), uuid4()
    recipient = await queue(pool, about, flow)
    first = await lease(pool, recipient)
    await pool.execute(  # the first lease runs out; another takes the row
        "UPDATE deliveries SET lease_until = now() - interval '1 second' WHERE id = $1", first.id
    )
    second = await lease(pool, recipient)
    assert second.lease != first.lease and second.attempts == 2
    assert await store.renew(pool, [first], 60) == set()
    assert await store.mark_sent(pool, [first]) == 0  # the stale lease records nothing
    await store.mark_retry(pool, first, 0, "stale")
    await store.mark_failed(pool, first, FailureKind.PERMANENT, "stale", 550)
    assert await pool.fetchval("SELECT status FROM deliveries WHERE id = $1", first.id) == (
        "sending"
    )
    assert await outcome_events(pool, about) == []
    assert await store.renew(pool, [second], 60) == {second.id}
    assert await store.mark_sent(pool, [second]) == 1

    (event,) = await outcome_events(pool, about)
    assert isinstance(event, NotificationSent)
    assert event.delivery_id == second.id and event.attempts == 2
    assert event.correlation_id == flow


async def test_outcome_events_are_the_contract_keyed_by_what_the_mail_was_about(
    pool: asyncpg.Pool,
) -> None:
    sent_about, failed_about, flow = uuid4(), uuid4(), uuid4()
    sent = await lease(pool, await queue(pool, sent_about, flow))
    failed = await lease(pool, await queue(pool, failed_about, flow))
    await store.mark_sent(pool, [sent])
    await store.mark_failed(pool, failed, FailureKind.PERMANENT, "SMTP 550 no such user", 550)

    (ok,) = await outcome_events(pool, sent_about)
    (bad,) = await outcome_events(pool, failed_about)
    assert isinstance(ok, NotificationSent) and isinstance(bad, NotificationFailed)
    assert bad.failure == FailureKind.PERMANENT and bad.reason == "SMTP 550 no such user"
    for event, due in ((ok, sent), (bad, failed)):
        assert event.correlation_id == flow
        assert event.source_id == due.source_id and event.kind == "reservation_confirmed"
    headers = await pool.fetchval(
        "SELECT headers FROM outbox WHERE key = $1 AND topic = 'notify.events'", str(sent_about)
    )
    assert str(flow) in str(headers) and "notification.sent" in str(headers)


async def issue_sent_out(pool: asyncpg.Pool, flow: UUID) -> tuple[UUID, list[store.Due]]:
    """An issue fanned out to three new subscribers (and any other active one), every
    delivery of it leased."""
    issue = uuid4()
    await pool.executemany(
        "INSERT INTO subscribers (email, status, confirmed_at) VALUES ($1, 'active', now())",
        [(a,) for a in addresses("finish", 3)],
    )
    async with pool.acquire() as conn:
        await store.create_issue(conn, issue, "号", "本文", "<p>本文</p>", utc_now(), flow)
        queued = await store.fan_out(conn, issue, SETTINGS.bounce_limit)
    found = await store.lease_due(pool, 10_000, 60, uuid4())
    await store.release(pool, [d for d in found if d.issue_id != issue])
    mine = [d for d in found if d.issue_id == issue]
    assert len(mine) == queued >= 3
    return issue, mine


async def test_an_issue_is_announced_once_when_its_last_delivery_is_settled(
    pool: asyncpg.Pool,
) -> None:
    flow = uuid4()
    issue, deliveries = await issue_sent_out(pool, flow)
    *sent, last = deliveries
    assert await store.mark_sent(pool, sent) == len(sent)
    assert [e for e in await store.finish_issues(pool) if e.issue_id == issue] == []

    await store.mark_failed(pool, last, FailureKind.PERMANENT, "SMTP 550 no such user", 550)
    rounds = await asyncio.gather(*(store.finish_issues(pool) for _ in range(3)))
    (finished,) = [e for found in rounds for e in found if e.issue_id == issue]
    assert (finished.recipients, finished.sent, finished.failed) == (len(deliveries), len(sent), 1)
    assert finished.correlation_id == flow
    assert await pool.fetchval("SELECT status FROM newsletter_issues WHERE id = $1", issue) == (
        "done"
    )
    # the issue's facts: the one delivery given up on, and the end; no notification.sent
    events = await outcome_events(pool, issue)
    assert [type(e) for e in events] == [NotificationFailed, NewsletterFinished]
    assert events[1] == finished


async def test_an_issue_with_deliveries_still_to_send_is_not_finished(pool: asyncpg.Pool) -> None:
    issue, deliveries = await issue_sent_out(pool, uuid4())
    await store.mark_sent(pool, deliveries[1:])
    await store.mark_retry(pool, deliveries[0], 60, "SMTP 451")  # pending again, for later
    assert [e for e in await store.finish_issues(pool) if e.issue_id == issue] == []
    assert await outcome_events(pool, issue) == []


async def test_issues_settled_before_their_end_was_announced_are_done_without_an_event(
    relaxed_postgres: HarnessPostgres, tmp_path: Path
) -> None:
    """An issue sent out before `newsletter.finished` existed had its deliveries announced one
    by one; the migration closes it, and nothing announces it again."""
    earlier = tmp_path / "notify" / "migrations"  # migrations are known by folder and name
    earlier.mkdir(parents=True)
    for path in sorted(MIGRATIONS.glob("00[1-6]_*.sql")):
        (earlier / path.name).write_text(path.read_text("utf-8"), "utf-8")
    dsn = await relaxed_postgres.fresh_database("notify_before_finished", earlier)
    pool = await create_pool(dsn)
    try:
        issue, deliveries = await issue_sent_out(pool, uuid4())
        await store.mark_sent(pool, deliveries)
        await migrate(pool, MIGRATIONS)
        status, finished_at = await pool.fetchrow(
            "SELECT status, finished_at FROM newsletter_issues WHERE id = $1", issue
        )
        assert status == "done" and finished_at is not None
        assert await store.finish_issues(pool) == []
    finally:
        await pool.close()
        await relaxed_postgres.drop(dsn)


# --- the monitor -------------------------------------------------------------------------------


async def test_the_monitor_counts_stuck_deliveries_and_the_oldest_wait(
    pool: asyncpg.Pool,
) -> None:
    await pool.execute("UPDATE deliveries SET status = 'sent' WHERE status <> 'sent'")
    gauges = monitor.queue_gauges(CollectorRegistry())
    quiet = await monitor.refresh(pool, gauges)
    assert (quiet.stuck, quiet.oldest_due_s) == (0, 0.0)

    stuck = await lease(pool, await queue(pool, uuid4(), uuid4()))
    await pool.execute(
        "UPDATE deliveries SET lease_until = now() - interval '2 minutes' WHERE id = $1", stuck.id
    )
    waiting = await queue(pool, uuid4(), uuid4())
    await pool.execute(
        "UPDATE deliveries SET next_attempt_at = now() - interval '5 minutes' WHERE recipient = $1",
        waiting,
    )
    await queue(pool, uuid4(), uuid4())  # due now: waits less than the other
    later = await queue(pool, uuid4(), uuid4())
    await pool.execute(
        "UPDATE deliveries SET next_attempt_at = now() + interval '1 hour' WHERE recipient = $1",
        later,
    )

    seen = await monitor.refresh(pool, gauges)
    assert seen.stuck == 1
    assert timedelta(minutes=5) <= timedelta(seconds=seen.oldest_due_s) < timedelta(minutes=6)
    assert gauges.stuck._value.get() == 1
    assert gauges.oldest_due_s._value.get() == seen.oldest_due_s


async def test_a_lease_takes_the_earliest_due_and_lapsed_rows_and_nothing_else(
    relaxed_postgres: HarnessPostgres,
) -> None:
    dsn = await relaxed_postgres.fresh_database("notify_lease_order", MIGRATIONS)
    pool = await create_pool(dsn)
    try:
        source = uuid4()

        async def row(name: str, status: str, due_s: float, lease_s: float | None = None) -> int:
            """A delivery due `due_s` from now; under a lease ending `lease_s` from now."""
            row_id: int = await pool.fetchval(
                "INSERT INTO deliveries (source_id, kind, recipient, subject, body_text, status,"
                " next_attempt_at, lease_until) VALUES ($1, 'test', $2, 's', 'b', $3,"
                " now() + make_interval(secs => $4),"
                " now() + make_interval(secs => $5)) RETURNING id",
                source, f"{name}@example.org", status, due_s, lease_s,
            )  # fmt: skip
            return row_id

        earliest = await row("earliest", "pending", -3)
        lapsed = await row("lapsed", "sending", -2, lease_s=-1)  # its sender died
        tie_first = await row("tie-first", "pending", -1)
        tie_second = await row("tie-second", "pending", -1)  # same time: the lower id goes first
        await row("later", "pending", 3600)  # not due yet
        await row("held", "sending", -5, lease_s=3600)  # another sender still has it

        first = await store.lease_due(pool, 3, 60, uuid4())
        second = await store.lease_due(pool, 3, 60, uuid4())
        third = await store.lease_due(pool, 3, 60, uuid4())

        assert {d.id for d in first} == {earliest, lapsed, tie_first}
        assert [d.id for d in second] == [tie_second]
        assert third == []
    finally:
        await pool.close()
        await relaxed_postgres.drop(dsn)


def scanned(plan: object) -> set[str]:
    """The relations and indexes a JSON plan reads."""
    found: set[str] = set()
    if isinstance(plan, dict):
        for name in ("Relation Name", "Index Name"):
            if name in plan and "Scan" in str(plan.get("Node Type", "")):
                found.add(plan[name])
        for value in plan.values():
            found |= scanned(value)
    elif isinstance(plan, list):
        for value in plan:
            found |= scanned(value)
    return found


async def test_a_sent_mark_finds_its_rows_by_id_not_among_every_leased_row(
    relaxed_postgres: HarnessPostgres,
) -> None:
    """As statistics stand right after a newsletter's fan-out (thousands due, none leased), a
    mark must still be planned by primary key: a walk through the lease's rows would make each
    mark read all of them."""
    dsn = await relaxed_postgres.fresh_database("notify_mark_plan", MIGRATIONS)
    pool = await create_pool(dsn)
    try:
        await pool.execute(
            "INSERT INTO deliveries (source_id, kind, recipient, subject, body_text)"
            " SELECT $1, 'newsletter', 'r' || g || '@example.org', 's', 'b'"
            " FROM generate_series(1, 5000) AS g",
            uuid4(),
        )
        await pool.execute("ANALYZE deliveries")
        leased = await store.lease_due(pool, 1000, 60, uuid4())
        marked = leased[:4]
        ids = [d.id for d in marked]
        outbox_columns = ("notify.events", ids, ["k"] * 4, [b"v"] * 4, ["{}"] * 4)
        explained = await pool.fetchval(
            "EXPLAIN (FORMAT JSON) " + store.MARK_SENT_SQL,
            ids, [d.lease for d in marked], *outbox_columns,
        )  # fmt: skip
        plan = json.loads(explained)
        assert "deliveries_pkey" in scanned(plan)
        assert "deliveries_leased" not in scanned(plan)
        assert await store.mark_sent(pool, marked) == 4
    finally:
        await pool.close()
        await relaxed_postgres.drop(dsn)
