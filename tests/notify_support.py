"""Helpers for notify tests and benchmarks: a notify instance of its own (database, consumer group,
HTTP port) with an SMTP sink of its own, subscribers seeded in bulk, newsletters published on
Kafka, and a fast count of what the sink received.

Why a separate instance: a newsletter published on `notify.commands` reaches every notify consumer
group, and the shared test instance's subscribers are other tests' organisations; an issue sent
there would land in their mailboxes. Issues published by these tests carry a far `send_at`, and the
test pulls the fan-out job forward in its own instance's database only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiosmtpd.controller import Controller

from contracts.envelope import Message
from contracts.notify import PublishNewsletter
from contracts.topics import Topic
from deploy.kafka_acls import TRAFFIC
from deploy.local.launcher import kafka_login
from deploy.local.smtp_sink import MaildirHandler, _pattern
from deploy.local.stack import Stack
from services.notify.settings import DEV_SIGNING_KEY, NotifySettings
from tests.harness import proven_headers
from tests.support import as_admin, as_sender, value_of

FAR_FUTURE = datetime(2099, 1, 1, tzinfo=UTC)


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


def development_settings(public_base_url: str = "http://notify.example") -> NotifySettings:
    """Notify's settings as a development instance has them (its public signing key, a
    confirmation link valid 48 hours, three a day, reminders at 10:00, one bounce stops mail)."""
    return NotifySettings(
        signing_key=DEV_SIGNING_KEY.encode(),
        public_base_url=public_base_url,
        confirm_valid_hours=48,
        confirm_max_per_day=3,
        reminder_hour=10,
        bounce_limit=1,
    )


@contextlib.contextmanager
def sink_in_process(maildir: Path, fail_rcpt: str | None = None) -> Iterator[int]:
    """The sink's handler served by aiosmtpd in this process, on a free loopback port (yielded):
    for tests that need a real SMTP server but not a process of its own."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    controller = Controller(MaildirHandler(maildir, fail_rcpt=_pattern(fail_rcpt)),
                            hostname="127.0.0.1", port=port)  # fmt: skip
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


class Sink:
    """An SMTP sink process of our own, restartable with other failure patterns."""

    def __init__(self, port: int, maildir: Path, log: Path) -> None:
        self.port, self.maildir, self.log = port, maildir, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(
        self, fail: str | None = None, tempfail: str | None = None, delay_s: float = 0.0
    ) -> None:
        args = [sys.executable, "-m", "deploy.local.smtp_sink", "--port", str(self.port),
                "--maildir", str(self.maildir)]  # fmt: skip
        if fail:
            args += ["--fail-rcpt-pattern", fail]
        if tempfail:
            args += ["--tempfail-rcpt-pattern", tempfail]
        if delay_s:
            args += ["--delay-s", str(delay_s)]
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(args, stdout=out, stderr=out, env=env)
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=20)
            self.process = None

    def recipients(self) -> Counter[str]:
        """How many messages each envelope recipient got; reads only each file's first lines."""
        counts: Counter[str] = Counter()
        new = self.maildir / "new"
        if not new.exists():
            return counts
        for path in new.iterdir():
            with path.open("rb") as f:
                for line in f:
                    if line.startswith(b"X-Envelope-To: "):
                        counts[line[15:].strip().decode()] += 1
                        break
        return counts

    def message_ids(self, recipient: str) -> list[str]:
        ids = []
        for path in (self.maildir / "new").iterdir():
            head = path.read_bytes().split(b"\n\n", 1)[0].decode(errors="replace")
            if f"X-Envelope-To: {recipient}\n" in head + "\n":
                ids += [ln.split(":", 1)[1].strip() for ln in head.splitlines()
                        if ln.lower().startswith("message-id:")]  # fmt: skip
        return ids


class NotifyInstance:
    """A notify process with its own database, consumer group, port and sink."""

    def __init__(
        self,
        stack: Stack,
        name: str,
        http_port: int,
        smtp_port: int,
        env: dict[str, str] | None = None,
        mail_root: Path | None = None,  # where its sink keeps its Maildir (the stack's root)
    ) -> None:
        self.stack, self.name, self.http_port = stack, name, http_port
        self.database = name.replace("-", "_")
        maildir = (mail_root or stack.root) / f"mail-{name}"
        self.sink = Sink(smtp_port, maildir, stack.logs / f"smtp-{name}.log")
        self.env = {
            "DEVELOPMENT": "1",  # development secrets: tests sign links with the public key
            "KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
            **kafka_login("notify"),
            "DATABASE_URL": stack.postgres_dsn(self.database),
            "HTTP_PORT": str(http_port),
            "CONSUMER_GROUP": self.database,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_port),
            "SENDER_POLL_S": "0.05",
            "SCHEDULE_POLL_S": "0.2",
            **(env or {}),
        }
        self._started = False

    @property
    def dsn(self) -> str:
        return self.stack.postgres_dsn(self.database)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self) -> None:
        """Start the process; the first time, its consumer group begins at the end of the
        topics notify reads. Their backlog is the other tests' (thousands of booking events by
        the time a whole run gets here), and mailing all of it through this instance's sink
        would hold up the few messages its test sends and waits for."""
        if not self._started:
            begin_at_end(self.stack.kafka_bootstrap, self.env["CONSUMER_GROUP"], NOTIFY_READS)
            self._started = True
        self.stack.start_service(self.name, "services.notify", self.env, self.http_port)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, leases stay taken, marks in flight are lost."""
        pid = self.stack.pid(self.name)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        self.stack.stop_component(self.name)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the kernel closes its sockets as it reaps it
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.http_port)) != 0:
                    return
            time.sleep(0.05)

    def stop(self) -> None:
        self.stack.stop_component(self.name)


NOTIFY_READS = TRAFFIC["notify"].consumes  # every topic notify reads, as its ACLs say


def begin_at_end(bootstrap: str, group: str, topics: Sequence[Topic]) -> None:
    """Commit the current end of each topic for a consumer group that has committed nothing
    yet, so that it reads only what comes after. (Run on a thread of its own: the fixtures that
    call it are not coroutines.)"""

    async def commit_ends() -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False, **as_admin()
        )
        await consumer.start()
        try:
            existing = await consumer.topics()
            tps = [TopicPartition(t.name, p) for t in topics if t.name in existing
                   for p in range(t.partitions)]  # fmt: skip
            if not tps:
                return
            consumer.assign(tps)
            if any([await consumer.committed(tp) is not None for tp in tps]):
                return  # the group has a position already: a restart keeps it
            await consumer.commit(dict(await consumer.end_offsets(tps)))
        finally:
            await consumer.stop()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, commit_ends()).result(timeout=60)


async def seed_subscribers(dsn: str, emails: Sequence[str], language: str = "ja") -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "INSERT INTO subscribers (email, language, status, confirmed_at)"
            " SELECT e, $2, 'active', now() FROM unnest($1::text[]) AS e"
            " ON CONFLICT (email) DO NOTHING",
            list(emails),
            language,
        )
    finally:
        await conn.close()


async def publish(bootstrap: str, topic: str, key: str, message: Message) -> None:
    """As a client would (`web`) on a command topic; as admin, playing a service, elsewhere."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=True, **as_sender(topic)
    )
    await producer.start()
    try:
        headers = [(k, v.encode()) for k, v in proven_headers(message).items()]
        await producer.send_and_wait(
            topic, message.model_dump_json().encode(), key=key.encode(), headers=headers
        )
    finally:
        await producer.stop()


async def publish_issue(bootstrap: str, subject: str, body: str) -> UUID:
    """Publish an issue for a far date: every notify instance stores it, none sends it yet."""
    issue_id = uuid4()
    command = PublishNewsletter(message_id=issue_id, subject=subject, body_markdown=body,
                                send_at=FAR_FUTURE)  # fmt: skip
    await publish(bootstrap, "notify.commands", str(issue_id), command)
    return issue_id


async def send_now(dsn: str, issue_id: UUID, timeout: float = 30.0) -> None:
    """Once this instance has stored the issue, move its fan-out job to now."""
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = await conn.execute(
                "UPDATE scheduled_jobs SET due_at = now()"
                " WHERE kind = 'newsletter.fan_out' AND key = $1 AND status = 'pending'",
                str(issue_id),
            )
            if status.endswith(" 1"):
                return
            await asyncio.sleep(0.2)
        raise TimeoutError(f"issue {issue_id} was not stored by the instance")
    finally:
        await conn.close()


async def wait_until(predicate: object, timeout: float, what: str) -> None:
    """Until the predicate (a function, or a coroutine function) holds; checked every 0.1 s."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def issue_settled(dsn: str, issue_id: UUID) -> bool:
    """The issue was fanned out and every delivery of it is sent or failed: as long as no lease
    ran out during a send (a server slower than the lease), no mail of the issue is on its way
    any more, so what the sink holds is final."""
    settled = await value_of(
        dsn,
        "SELECT i.recipients IS NOT NULL AND NOT EXISTS (SELECT 1 FROM deliveries d"
        "  WHERE d.issue_id = i.id AND d.status IN ('pending', 'sending'))"
        " FROM newsletter_issues i WHERE i.id = $1",
        issue_id,
    )
    return bool(settled)


def addresses(prefix: str, count: int) -> list[str]:
    run = uuid4().hex[:6]
    return [f"{prefix}-{run}-{i:06d}@example.org" for i in range(count)]


def event_rows(rows: Sequence[asyncpg.Record]) -> list[dict[str, object]]:
    return [json.loads(bytes(r["value"])) for r in rows]


def soon(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)
