"""The sender as a whole, with the store and the SMTP connection replaced by fakes (issue 7,
findings 3 and 17): whatever one message does (an address SMTP cannot carry, a forged header, an
error nobody foresaw, a failing database call), that delivery is failed or retried and logged by
id and error type only, and the workers and the leaser go on with everything else; a row whose
lease another lease took is not sent."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar
from uuid import uuid4

import aiosmtplib
import asyncpg
import pytest
from prometheus_client import CollectorRegistry, Counter

from services.notify import sender as sender_module
from services.notify import store
from services.notify.sender import Sender, SenderSettings
from tests.notify_support import development_settings

NOTIFY = development_settings()


def settings(**changes: Any) -> SenderSettings:
    base = dict(
        host="127.0.0.1", port=1, mail_from="info@center.example", connections=2, rate=0,
        poll_s=0.01, lease_size=100, lease_s=60, retry_base_s=5, retry_max_s=60,
        max_attempts=8,
    )  # fmt: skip
    return SenderSettings(**{**base, **changes})


def due(recipient: str, subject: str = "件名") -> store.Due:
    return store.Due(
        id=abs(hash(recipient)) % 10**9, public_id=uuid4(), kind="reservation_confirmed",
        source_id=uuid4(), recipient=recipient, subject=subject, body="本文", attempts=1,
        lease=uuid4(), about_id=uuid4(), correlation_id=uuid4(),
    )  # fmt: skip


@dataclass
class FakeStore:
    """What the sender asked the database to record."""

    leases: list[list[store.Due]]
    sent: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    retried: dict[str, str] = field(default_factory=dict)
    lease_calls: int = 0
    lost: set[int] = field(default_factory=set)

    async def lease_due(self, pool: object, limit: int, lease_s: float, token: object) -> Any:
        self.lease_calls += 1
        if self.lease_calls == 1:
            raise RuntimeError("something nobody foresaw while leasing")
        return self.leases.pop(0) if self.leases else []

    async def renew(self, pool: object, held: Any, lease_s: float) -> set[int]:
        return {d.id for d in held if d.id not in self.lost}

    async def mark_sent(self, pool: object, items: Any) -> int:
        self.sent += [d.recipient for d in items]
        return len(items)

    async def mark_failed(
        self, pool: object, item: Any, failure: Any, reason: str, code: Any
    ) -> None:
        self.failed[item.recipient] = reason

    async def mark_retry(self, pool: object, item: Any, delay: float, error: str) -> None:
        self.retried[item.recipient] = error

    async def release(self, pool: object, items: Any) -> None:
        pass


class FakeSMTP:
    """Accepts every message, except that some recipients make it raise what aiosmtplib or a
    broken server could raise; records the order of envelopes opened and messages accepted."""

    delivered: ClassVar[list[str]] = []
    slow: ClassVar[dict[str, float]] = {}
    steps: ClassVar[list[str]] = []

    def __init__(self, host: str, port: int) -> None:
        self.is_connected = False
        self.to: str | None = None
        self.in_data = False

    async def connect(self) -> None:
        self.is_connected = True

    def close(self) -> None:
        self.is_connected = False
        self.to, self.in_data = None, False

    async def envelope(self, sender: bytes, recipient: bytes, size: int) -> None:
        assert sender.startswith(b"<") and size > 0
        self.to, self.in_data = None, False
        to = recipient.decode().strip("<>")
        if to.startswith("unicode"):
            raise UnicodeEncodeError("ascii", to, 0, 1, "ordinal not in range(128)")
        if to.startswith("refused"):
            raise aiosmtplib.SMTPRecipientRefused(550, f"<{to}>: no such user", to)
        self.to = to
        FakeSMTP.steps.append(f"envelope {to}")

    async def data(self) -> None:
        assert self.to is not None, "DATA before RCPT"
        self.in_data = True
        FakeSMTP.steps.append(f"data {self.to}")

    async def message(self, raw: bytes) -> None:
        to = self.to
        assert to is not None and self.in_data, "a message before DATA"
        assert raw.endswith(b"\r\n.\r\n")
        await asyncio.sleep(self.slow.get(to, 0))
        if to.startswith("boom"):
            raise RuntimeError("an error nobody foresaw")
        if to.startswith("keyerror"):
            raise KeyError(to)
        assert b"\r\nBcc:" not in raw
        FakeSMTP.delivered.append(to)
        FakeSMTP.steps.append(f"accepted {to}")


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeStore]:
    fake = FakeStore(leases=[])
    for name in ("lease_due", "renew", "mark_sent", "mark_failed", "mark_retry", "release"):
        monkeypatch.setattr(store, name, getattr(fake, name))
    monkeypatch.setattr(sender_module, "Connection", FakeSMTP)
    FakeSMTP.delivered, FakeSMTP.slow, FakeSMTP.steps = [], {}, []
    yield fake


def counter() -> Counter:
    return Counter("emails_total", "test", ["outcome"], registry=CollectorRegistry())


async def run_until(sender: Sender, done: Any, timeout: float = 10.0) -> None:
    task = asyncio.create_task(sender.run())
    try:
        async with asyncio.timeout(timeout):
            while not done():
                assert not task.done(), task
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        assert not task.done(), "the sender must run on"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_no_message_stops_the_sender(
    fakes: FakeStore, caplog: pytest.LogCaptureFixture
) -> None:
    good = [f"good-{i}@example.org" for i in range(12)]
    hostile = {
        "山田@example.org": "cannot be composed",  # not ASCII: refused before SMTP
        "unicode@example.org": "cannot be handed to SMTP",  # what aiosmtplib raises for it
        "keyerror@example.org": "cannot be handed to SMTP",
        "a@example.org, b@evil.example": "cannot be composed",
        "injected@example.org": "cannot be composed",  # a forged header in the row
    }
    rows = [due(r) for r in hostile if r != "injected@example.org"]
    rows.append(due("injected@example.org", "Hello\r\nBcc: x@evil.example"))
    rows += [due("boom@example.org"), due("refused-x@example.org")]
    # every worker meets several hostile rows, among good ones, over two leases
    mixed = [row for pair in zip(rows, [due(g) for g in good], strict=False) for row in pair]
    fakes.leases = [mixed[:8], mixed[8:] + [due(g) for g in good[len(rows) :]]]
    sender = Sender(object(), settings(), NOTIFY, counter())  # type: ignore[arg-type]

    with caplog.at_level(logging.INFO, logger="services.notify.sender"):
        await run_until(sender, lambda: len(FakeSMTP.delivered) == len(good)
                        and len(fakes.failed) == len(hostile) + 1)  # fmt: skip

    assert sorted(fakes.sent) == sorted(good) == sorted(FakeSMTP.delivered)
    for recipient, why in hostile.items():
        assert fakes.failed[recipient].startswith(why), fakes.failed
    assert fakes.failed["refused-x@example.org"].startswith("SMTP 550")
    assert "refused-x@example.org" not in fakes.failed["refused-x@example.org"]
    assert fakes.retried == {"boom@example.org": "RuntimeError"}
    for record in caplog.records:  # ids and error types, never an address
        line = record.getMessage()
        assert "@" not in line, line


async def test_a_row_whose_lease_was_taken_is_not_sent(fakes: FakeStore) -> None:
    kept, taken = due("kept@example.org"), due("taken@example.org")
    fakes.leases = [[kept, taken]]
    fakes.lost = {taken.id}
    sender = Sender(object(), settings(lease_s=0.3, connections=1), NOTIFY, counter())  # type: ignore[arg-type]
    FakeSMTP.slow = {"kept@example.org": 0.5}  # longer than the lease: checked again after it
    await run_until(sender, lambda: fakes.sent == ["kept@example.org"] and not sender.held)
    assert FakeSMTP.delivered == ["kept@example.org"]


async def test_a_sent_mark_the_database_could_not_take_is_written_when_it_is_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A message the server accepted while PostgreSQL restarts is marked sent once the database
    answers again, not forgotten: a forgotten mark would have its row sent a second time when
    its lease runs out."""
    calls: list[list[int]] = []
    failures = [ConnectionRefusedError(111, "refused"), asyncpg.CannotConnectNowError("starting")]

    async def mark_sent(_: object, items: list[store.Due]) -> None:
        calls.append([item.id for item in items])
        if failures:
            raise failures.pop(0)

    monkeypatch.setattr(sender_module.store, "mark_sent", mark_sent)
    monkeypatch.setattr(sender_module, "MARK_RETRY_S", 0.01)
    marks = sender_module.SentMarks(pool=None)  # type: ignore[arg-type]
    runner = asyncio.create_task(marks.run())
    try:
        item = due("reader@example.org")
        await asyncio.wait_for(marks.mark(item), 5)
    finally:
        runner.cancel()
    assert calls == [[item.id]] * 3


async def test_a_sent_mark_refused_for_another_reason_fails_its_worker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def mark_sent(_: object, items: list[store.Due]) -> None:
        raise ValueError("a bug, not an outage")

    monkeypatch.setattr(sender_module.store, "mark_sent", mark_sent)
    marks = sender_module.SentMarks(pool=None)  # type: ignore[arg-type]
    runner = asyncio.create_task(marks.run())
    try:
        with pytest.raises(ValueError):
            await asyncio.wait_for(marks.mark(due("reader@example.org")), 5)
    finally:
        runner.cancel()


def group_sizes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many marks each statement wrote, as the fake store sees them."""
    written: list[int] = []

    async def mark_sent(_: object, items: list[store.Due]) -> None:
        written.append(len(items))

    monkeypatch.setattr(sender_module.store, "mark_sent", mark_sent)
    return written


async def test_sent_marks_wait_a_moment_for_their_group_and_no_longer_once_it_is_full(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A statement costs PostgreSQL far more than a mark in it, so a mark waits a moment for
    others; a full group is written at once, however long the moment."""
    written = group_sizes(monkeypatch)
    marks = sender_module.SentMarks(pool=None, group=3, gather_s=60)  # type: ignore[arg-type]
    runner = asyncio.create_task(marks.run())
    try:
        three = []
        for n in range(3):  # the workers' messages are accepted one after another
            three.append(asyncio.create_task(marks.mark(due(f"reader-{n}@example.org"))))
            await asyncio.sleep(0.02)
        await asyncio.wait_for(asyncio.gather(*three), 5)
    finally:
        runner.cancel()
    assert written == [3]


async def test_a_sent_mark_alone_is_written_when_the_moment_has_passed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    written = group_sizes(monkeypatch)
    marks = sender_module.SentMarks(pool=None, group=3, gather_s=0.01)  # type: ignore[arg-type]
    runner = asyncio.create_task(marks.run())
    try:
        await asyncio.wait_for(marks.mark(due("reader@example.org")), 5)
    finally:
        runner.cancel()
    assert written == [1]


async def test_a_message_is_accepted_only_once_the_one_before_it_is_marked_sent(
    fakes: FakeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At most one message per connection is accepted but not yet marked, so a crash repeats
    at most one per connection; the next message's envelope and DATA go out meanwhile."""
    first, second = due("first@example.org"), due("second@example.org")
    fakes.leases = [[first, second]]
    written = asyncio.Event()

    async def slow_mark(pool: object, items: Any) -> int:
        FakeSMTP.steps.append(f"marking {', '.join(d.recipient for d in items)}")
        await written.wait()
        FakeSMTP.steps.append("marked")
        fakes.sent += [d.recipient for d in items]
        return len(items)

    monkeypatch.setattr(store, "mark_sent", slow_mark)
    sender = Sender(object(), settings(connections=1), NOTIFY, counter())  # type: ignore[arg-type]
    task = asyncio.create_task(sender.run())
    try:
        async with asyncio.timeout(5):
            while "envelope second@example.org" not in FakeSMTP.steps:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        assert FakeSMTP.delivered == ["first@example.org"]  # the second waits for the mark
        written.set()
        async with asyncio.timeout(5):
            while len(fakes.sent) < 2:
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    step = FakeSMTP.steps.index
    assert step("accepted first@example.org") < step("envelope second@example.org")
    assert step("envelope second@example.org") < step("data second@example.org")
    assert step("data second@example.org") < step("marked")
    assert step("marked") < step("accepted second@example.org")
    assert not sender.held


async def test_a_server_that_stops_answering_has_its_message_retried_later(
    fakes: FakeStore,
) -> None:
    stuck, after = due("stuck@example.org"), due("after@example.org")
    fakes.leases = [[stuck, after]]
    FakeSMTP.slow = {"stuck@example.org": 30.0}
    sender = Sender(object(), settings(connections=1, smtp_timeout_s=0.1), NOTIFY, counter())  # type: ignore[arg-type]
    await run_until(sender, lambda: fakes.sent == ["after@example.org"])
    assert fakes.retried == {"stuck@example.org": "TimeoutError"}


async def test_a_mark_that_fails_holds_back_the_next_message_and_the_worker_goes_on(
    fakes: FakeStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The message after a mark the database refused is not sent on that connection (its row
    comes back when its lease runs out): at most one message per connection is ever accepted
    without its mark. The worker then carries on with the rest."""
    first, second, third = (due(f"{n}@example.org") for n in ("first", "second", "third"))
    fakes.leases = [[first, second, third]]
    failures = [ValueError("a bug, not an outage")]

    async def mark_sent(pool: object, items: Any) -> int:
        if failures:
            raise failures.pop(0)
        fakes.sent += [d.recipient for d in items]
        return len(items)

    monkeypatch.setattr(store, "mark_sent", mark_sent)
    sender = Sender(object(), settings(connections=1), NOTIFY, counter())  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="services.notify.sender"):
        await run_until(sender, lambda: fakes.sent == ["third@example.org"])
    assert f"sent mark of delivery {first.id} could not be written (ValueError)" in caplog.text
    assert FakeSMTP.delivered == ["first@example.org", "third@example.org"]
    assert "envelope second@example.org" in FakeSMTP.steps
    assert second.id not in sender.held
