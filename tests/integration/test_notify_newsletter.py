"""Newsletters on the real stack, through a notify instance and SMTP sink of their own: an issue to
1,000 subscribers arrives once each with both parts and the one-click headers; its outcome is one
event that parses as the contract says; opens are counted; a temporarily failing server is retried
until delivery; a permanently refused address is marked and left out of the next issue."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import time
from collections.abc import Iterator
from email.message import EmailMessage
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import asyncpg
import httpx
import pytest

from contracts.identity import Role
from contracts.notify import (
    NewsletterFinished,
    NotificationFailed,
    NotificationSent,
    notify_event_adapter,
)
from deploy.local.stack import Stack
from services.notify import links
from services.notify.settings import DEV_SIGNING_KEY
from tests.identity_support import http_headers, staff_token
from tests.notify_support import (
    NotifyInstance,
    addresses,
    event_rows,
    issue_settled,
    publish_issue,
    seed_subscribers,
    send_now,
    wait_until,
)
from tests.support import PORT_OFFSET

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def notify(stack: Stack) -> Iterator[NotifyInstance]:
    instance = NotifyInstance(
        stack, "notify-newsletter", 28150 + PORT_OFFSET, 2590 + PORT_OFFSET,
        # the progress gauges refreshed every second, not every 15: an issue sent in less
        # than that would otherwise finish before any refresh named it
        {"SEND_RATE": "0", "RETRY_BASE_S": "0.5", "SMTP_CONNECTIONS": "4", "NOTIFY_MONITOR_S": "1",
         "NEWSLETTER_FINISH_S": "0.5"},
    )  # fmt: skip
    instance.sink.start(fail="^bounce-")
    instance.start()
    yield instance
    instance.stop()
    instance.sink.stop()


async def issue_events(instance: NotifyInstance, issue: UUID) -> list[object]:
    """The issue's outcomes on `notify.events` (its outbox), once `newsletter.finished` is among
    them; none before."""
    conn = await asyncpg.connect(instance.dsn)
    try:
        rows = await conn.fetch(
            "SELECT key, value FROM outbox WHERE topic = 'notify.events' AND key = $1"
            " ORDER BY id",
            str(issue),
        )
    finally:
        await conn.close()
    events = [notify_event_adapter.validate_python(v) for v in event_rows(rows)]
    finished = any(isinstance(e, NewsletterFinished) for e in events)
    outcomes = NotificationSent | NotificationFailed | NewsletterFinished
    return [e for e in events if isinstance(e, outcomes)] if finished else []


def read(instance: NotifyInstance, recipient: str) -> EmailMessage:
    for path in (instance.sink.maildir / "new").iterdir():
        raw = path.read_bytes()
        if f"X-Envelope-To: {recipient}\n".encode() in raw[:300]:
            msg = email.message_from_bytes(raw, policy=email.policy.default)
            assert isinstance(msg, EmailMessage)
            return msg
    raise AssertionError(f"no mail to {recipient}")


async def test_an_issue_reaches_each_of_1000_subscribers_once(notify: NotifyInstance) -> None:
    readers = addresses("reader", 1000)
    await seed_subscribers(notify.dsn, readers)
    issue = await publish_issue(
        notify.stack.kafka_bootstrap,
        "センターだより 第1号",
        "## 助成金情報\n\n締切は**6月30日**です。",
    )
    await send_now(notify.dsn, issue)

    await wait_until(lambda: issue_settled(notify.dsn, issue), 90, "every delivery settled")
    counts = notify.sink.recipients()
    assert {r: counts[r] for r in readers} == {r: 1 for r in readers}

    msg = read(notify, readers[0])
    assert msg["Subject"] == "センターだより 第1号"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert str(msg["List-Unsubscribe"]).startswith(f"<{notify.url}/subscribers/unsubscribe?token=")
    html = msg.get_body(("html",))
    assert html is not None and "<strong>6月30日</strong>" in html.get_content()
    pixel = re.search(r'src="([^"]+\.gif)"', html.get_content())
    assert pixel is not None

    async with httpx.AsyncClient(timeout=10) as http:
        assert (await http.get(pixel.group(1))).status_code == 200
        assert (await http.get(pixel.group(1))).status_code == 200  # opened twice, counted once
        editor = http_headers(staff_token(Role.NEWSLETTER_EDITOR))
        progress = (await http.get(f"{notify.url}/newsletters/{issue}", headers=editor)).json()
        # the monitor sets the issue's gauges on its next round (NOTIFY_MONITOR_S)
        deadline = time.monotonic() + 15
        while True:
            metrics = (await http.get(f"{notify.url}/metrics")).text
            if f'newsletter_sent{{issue="{issue}"}}' in metrics or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
    assert progress["remaining"] == 0 and progress["failed"] == 0
    assert progress["sent"] == progress["recipients"] >= 1000
    assert progress["opened"] == 1 and progress["rate"] == round(1 / progress["sent"], 4)
    assert progress["status"] == "done" and progress["seconds_left"] == 0
    assert f'newsletter_sent{{issue="{issue}"}}' in metrics

    # the issue's outcome is one fact, queued once every delivery is settled; its deliveries
    # are not announced one by one
    await wait_until(lambda: issue_events(notify, issue), 30, "newsletter.finished")
    (finished,) = await issue_events(notify, issue)
    assert isinstance(finished, NewsletterFinished)
    assert (finished.recipients, finished.sent, finished.failed) == (
        progress["recipients"], progress["sent"], 0
    )
    # the publication started the flow: its outcome continues it
    assert finished.correlation_id == issue

    # links and Message-IDs name the delivery's and subscriber's random public ids
    token = parse_qs(urlsplit(str(msg["List-Unsubscribe"]).strip("<>")).query)["token"][0]
    subscriber = links.read_unsubscribe_token(DEV_SIGNING_KEY.encode(), token)
    assert subscriber is not None and subscriber.version == 4
    assert msg["Auto-Submitted"] == "auto-generated" and str(msg["Date"]).endswith("+0900")
    ids = {str(read(notify, r)["Message-ID"]) for r in readers[:50]}
    assert len(ids) == 50 and all(UUID(i[1:].split("@")[0]).version == 4 for i in ids)


async def test_a_temporarily_failing_server_is_retried_until_delivered(
    notify: NotifyInstance,
) -> None:
    notify.sink.stop()
    notify.sink.start(fail="^bounce-", tempfail="^later-")
    recipient = addresses("later", 1)[0]
    async with httpx.AsyncClient(timeout=10) as http:
        assert (await http.post(f"{notify.url}/subscribers", json={"email": recipient})).is_success

    conn = await asyncpg.connect(notify.dsn)
    try:

        async def retried() -> bool:
            attempts = await conn.fetchval(
                "SELECT attempts FROM deliveries WHERE recipient = $1 AND status = 'pending'"
                " AND last_error LIKE 'SMTP 451%'",
                recipient,
            )
            return bool(attempts and attempts >= 2)

        await wait_until(retried, 30, "two refused attempts")
        assert notify.sink.recipients()[recipient] == 0
        notify.sink.stop()
        notify.sink.start(fail="^bounce-")  # the server recovers
        await wait_until(lambda: notify.sink.recipients()[recipient] == 1, 30, "delivery")
        assert (
            await conn.fetchval("SELECT status FROM deliveries WHERE recipient = $1", recipient)
            == "sent"
        )
    finally:
        await conn.close()


async def test_a_refused_address_is_marked_and_skipped_next_time(notify: NotifyInstance) -> None:
    good = addresses("steady", 5)
    bad = addresses("bounce", 3)
    await seed_subscribers(notify.dsn, good + bad)
    first = await publish_issue(notify.stack.kafka_bootstrap, "第2号", "本文")
    await send_now(notify.dsn, first)
    await wait_until(lambda: all(notify.sink.recipients()[r] for r in good), 30, "first issue")

    conn = await asyncpg.connect(notify.dsn)
    try:

        async def bounced() -> bool:
            n = await conn.fetchval(
                "SELECT count(*) FROM bounces WHERE recipient = ANY($1::text[])", bad
            )
            return bool(n == len(bad))

        await wait_until(bounced, 30, "bounces recorded")
        failed_rows = await conn.fetch(
            "SELECT value FROM outbox WHERE topic = 'notify.events' AND key = $1", str(first)
        )
        failures = [
            e
            for e in (notify_event_adapter.validate_python(v) for v in event_rows(failed_rows))
            if isinstance(e, NotificationFailed)
        ]
        assert len(failures) == len(bad)
        assert all(f.failure == "permanent" and "550" in f.reason for f in failures)

        second = await publish_issue(notify.stack.kafka_bootstrap, "第3号", "本文")
        await send_now(notify.dsn, second)
        await wait_until(lambda: all(notify.sink.recipients()[r] == 2 for r in good), 30, "2nd")
        queued_for_bad = await conn.fetchval(
            "SELECT count(*) FROM deliveries WHERE issue_id = $1 AND recipient = ANY($2::text[])",
            second,
            bad,
        )
        assert queued_for_bad == 0
    finally:
        await conn.close()
    assert all(notify.sink.recipients()[r] == 0 for r in bad)


async def test_a_stored_subject_with_a_line_break_sends_nothing(notify: NotifyInstance) -> None:
    """Defense in depth (issue 7, finding 6): the contract refuses CR/LF in a subject, and even
    a row that holds one (an older version, a manual fix) never becomes a header."""
    readers = addresses("forged", 5)
    attacker = "x@evil.example"
    await seed_subscribers(notify.dsn, readers)
    issue = await publish_issue(notify.stack.kafka_bootstrap, "第4号", "本文")
    conn = await asyncpg.connect(notify.dsn)
    try:
        await wait_until(
            lambda: conn.fetchval("SELECT 1 FROM newsletter_issues WHERE id = $1", issue),
            30, "the issue stored",
        )  # fmt: skip
        await conn.execute(
            "UPDATE newsletter_issues SET subject = $2 WHERE id = $1",
            issue, f"第4号\r\nBcc: {attacker}\r\nReply-To: {attacker}",
        )  # fmt: skip
        await send_now(notify.dsn, issue)

        async def settled() -> bool:
            left = await conn.fetchval(
                "SELECT count(*) FROM deliveries WHERE issue_id = $1"
                " AND status IN ('pending', 'sending')",
                issue,
            )
            fanned_out = await conn.fetchval(
                "SELECT recipients IS NOT NULL FROM newsletter_issues WHERE id = $1", issue
            )
            return bool(fanned_out) and left == 0

        await wait_until(settled, 30, "every delivery settled")
        outcome = dict(
            await conn.fetch(
                "SELECT status, count(*) FROM deliveries WHERE issue_id = $1"
                " AND (status <> 'failed' OR last_error LIKE 'cannot be composed%')"
                " GROUP BY status",
                issue,
            )
        )
    finally:
        await conn.close()
    assert list(outcome) == ["failed"] and outcome["failed"] >= len(readers)  # every subscriber
    assert all(notify.sink.recipients()[r] == 0 for r in readers)
    assert notify.sink.recipients()[attacker] == 0
    for path in (notify.sink.maildir / "new").iterdir():
        assert b"evil.example" not in path.read_bytes()
