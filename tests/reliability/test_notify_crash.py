"""A newsletter survives SIGKILL of the notify service half-way: after a restart every subscriber
has the issue, no delivery is sent twice, and the only possible repeats are the messages that were
in flight on an SMTP connection at the moment of the kill (accepted by the server, not yet marked).
Those repeats carry the same Message-ID as the first copy, so a mailbox shows them once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deploy.local.stack import Stack
from tests.notify_support import (
    NotifyInstance,
    addresses,
    publish_issue,
    seed_subscribers,
    send_now,
    wait_until,
)
from tests.support import PORT_OFFSET

pytestmark = pytest.mark.stack

CONNECTIONS = 4


@pytest.fixture
def notify(stack: Stack) -> Iterator[NotifyInstance]:
    instance = NotifyInstance(
        stack,
        "notify-crash",
        28160 + PORT_OFFSET,
        2591 + PORT_OFFSET,
        {"SEND_RATE": "250", "LEASE_S": "3", "SMTP_CONNECTIONS": str(CONNECTIONS)},
    )
    instance.sink.start()
    instance.start()
    yield instance
    instance.stop()
    instance.sink.stop()


async def test_sigkill_half_way_then_restart_delivers_each_once(notify: NotifyInstance) -> None:
    readers = addresses("crash", 1000)
    await seed_subscribers(notify.dsn, readers)
    issue = await publish_issue(notify.stack.kafka_bootstrap, "号外", "臨時のお知らせです。")
    await send_now(notify.dsn, issue)

    def received() -> int:
        counts = notify.sink.recipients()
        return sum(1 for r in readers if counts[r])

    await wait_until(lambda: received() >= 400, 60, "400 mails before the kill")
    notify.kill()
    at_kill = received()
    assert at_kill < len(readers), "the issue finished before the kill; the test proves nothing"

    notify.start()
    await wait_until(lambda: received() == len(readers), 90, "every subscriber after restart")
    await wait_until(lambda: True, 2, "settling")
    counts = notify.sink.recipients()
    repeated = [r for r in readers if counts[r] > 1]
    assert all(counts[r] >= 1 for r in readers)
    assert len(repeated) <= CONNECTIONS, repeated
    for recipient in repeated:
        ids = notify.sink.message_ids(recipient)
        assert len(set(ids)) == 1, f"{recipient} got two different deliveries: {ids}"
