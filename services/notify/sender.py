"""Delivery over SMTP: each queued e-mail is sent once, none is dropped, and a newsletter leaves
at hundreds per second.

One leaser takes due rows in batches (`FOR UPDATE SKIP LOCKED`, so several instances share the
work) and hands them to SMTP_CONNECTIONS workers, each holding one SMTP connection open across
messages. A worker marks each e-mail sent as soon as the server accepts it and waits for that mark
before sending its next one, so after a crash at most the message in flight on each connection is
unaccounted for and may go out twice (its deterministic Message-ID lets a mailbox recognise it).
The marks of all workers made meanwhile are written together in one statement (group commit),
which also queues their `notification.sent` events: per message that is a share of one round trip.

Temporary refusals (4xx, lost connections) retry with exponential backoff; permanent ones (5xx)
fail the e-mail, count a bounce against the address and emit `notification.failed`. SEND_RATE
caps messages per second across the workers (0: no cap). A crashed sender's leases return to the
pool when LEASE_S runs out; a sender stopped gracefully hands back what it had not started.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

import aiosmtplib
import asyncpg
from prometheus_client import Counter

from contracts.notify import FailureKind, Language
from services.notify import links, mime, store
from services.notify.newsletter import Frame, personalise, render_frame
from services.notify.settings import NotifySettings
from services.runtime.settings import env_float, env_int, env_str

log = logging.getLogger(__name__)

CENTER_NAME = "横浜市市民協働推進センター"
DB_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


@dataclass(frozen=True)
class SenderSettings:
    """SMTP_HOST (127.0.0.1), SMTP_PORT (1025), MAIL_FROM, SMTP_CONNECTIONS (4),
    SEND_RATE messages/s across connections (200; 0 = unlimited), SENDER_POLL_S (0.2),
    LEASE_SIZE (500), LEASE_S (60), RETRY_BASE_S (5), RETRY_MAX_S (3600), MAX_ATTEMPTS (8)."""

    host: str
    port: int
    mail_from: str
    connections: int
    rate: float
    poll_s: float
    lease_size: int
    lease_s: float
    retry_base_s: float
    retry_max_s: float
    max_attempts: int

    @classmethod
    def from_env(cls) -> SenderSettings:
        return cls(
            host=env_str("SMTP_HOST", "127.0.0.1"),
            port=env_int("SMTP_PORT", 1025),
            mail_from=env_str("MAIL_FROM", "info@civic-center.yokohama.example"),
            connections=max(1, env_int("SMTP_CONNECTIONS", 4)),
            rate=env_float("SEND_RATE", 200.0),
            poll_s=env_float("SENDER_POLL_S", 0.2),
            lease_size=max(1, env_int("LEASE_SIZE", 500)),
            lease_s=env_float("LEASE_S", 60.0),
            retry_base_s=env_float("RETRY_BASE_S", 5.0),
            retry_max_s=env_float("RETRY_MAX_S", 3600.0),
            max_attempts=env_int("MAX_ATTEMPTS", 8),
        )


def backoff_s(attempts: int, base: float, cap: float) -> float:
    return float(min(cap, base * 2 ** max(0, attempts)))


class RateLimit:
    """Spaces sends evenly at `rate` per second across all workers; 0 means no limit."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.clock = clock
        self.next_at = clock()

    def reserve(self) -> float:
        """Seconds to wait before the next send may start."""
        if not self.interval:
            return 0.0
        now = self.clock()
        at = max(self.next_at, now)
        self.next_at = at + self.interval
        return at - now

    async def acquire(self) -> None:
        if wait := self.reserve():
            await asyncio.sleep(wait)


class Composer:
    """The bytes of each e-mail. Newsletter issues are rendered once per language and cached;
    per recipient only the unsubscribe and pixel links are filled in."""

    def __init__(self, pool: asyncpg.Pool, mail_from: str, notify: NotifySettings) -> None:
        self.pool = pool
        self.mail_from = mail_from
        self.domain = mail_from.split("@")[-1]
        self.from_header = mime.from_header(CENTER_NAME, mail_from)
        self.notify = notify
        self.frames: dict[tuple[UUID, str], tuple[Frame, str]] = {}

    async def frame(self, issue_id: UUID, language: str) -> tuple[Frame, str]:
        key = (issue_id, language)
        if key not in self.frames:
            issue = await store.load_issue(self.pool, issue_id)
            if issue is None:
                raise LookupError(f"newsletter issue {issue_id} not found")
            lang = Language.EN if language == Language.EN.value else Language.JA
            frame = render_frame(issue.subject, issue.body_html, issue.body_text, lang)
            if len(self.frames) > 32:
                self.frames.clear()
            self.frames[key] = (frame, mime.encode_header(issue.subject))
        return self.frames[key]

    async def message(self, item: store.Due) -> bytes:
        message_id = f"<delivery-{item.id}@{self.domain}>"
        if item.issue_id is None or item.subscriber_id is None:
            return mime.build(
                from_=self.from_header, to=item.recipient, subject=mime.encode_header(item.subject),
                message_id=message_id, text=item.body,
            )  # fmt: skip
        frame, subject = await self.frame(item.issue_id, item.language)
        key = self.notify.signing_key
        unsubscribe = self.notify.unsubscribe_url(links.unsubscribe_token(key, item.subscriber_id))
        text, html = personalise(
            frame, unsubscribe, self.notify.pixel_url(links.open_token(key, item.id))
        )
        return mime.build(
            from_=self.from_header, to=item.recipient, subject=subject, message_id=message_id,
            text=text, html=html,
            headers=[("List-Unsubscribe", f"<{unsubscribe}>"),
                     ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
                     ("List-Id", f"<newsletter.{self.domain}>")],
        )  # fmt: skip


class SentMarks:
    """Group commit of 'sent' marks: whatever the workers accepted while the previous statement
    ran is written by the next one; each worker waits only for its own mark."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.pending: list[tuple[int, asyncio.Future[None]]] = []
        self.wake = asyncio.Event()

    async def mark(self, delivery_id: int) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending.append((delivery_id, future))
        self.wake.set()
        await future

    async def run(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            batch, self.pending = self.pending, []
            if not batch:
                continue
            try:
                await store.mark_sent(self.pool, [i for i, _ in batch])
            except Exception as exc:
                for _, future in batch:
                    future.set_exception(exc)
            else:
                for _, future in batch:
                    future.set_result(None)


class Sender:
    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: SenderSettings,
        notify: NotifySettings,
        outcomes: Counter,
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.outcomes = outcomes  # by outcome: sent, temporary, permanent, gave_up
        self.composer = Composer(pool, settings.mail_from, notify)
        self.marks = SentMarks(pool)
        self.rate = RateLimit(settings.rate)
        self.queue: asyncio.Queue[store.Due] = asyncio.Queue()

    async def run(self) -> None:
        tasks = [asyncio.create_task(self.marks.run(), name="sent-marks")]
        tasks += [asyncio.create_task(self.worker()) for _ in range(self.settings.connections)]
        try:
            await self.lease_loop()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.hand_back()

    async def lease_loop(self) -> None:
        low_water = max(self.settings.connections * 2, self.settings.lease_size // 4)
        while True:
            if self.queue.qsize() > low_water:
                await asyncio.sleep(0.005)
                continue
            try:
                lease = await store.lease_due(
                    self.pool, self.settings.lease_size, self.settings.lease_s
                )
            except DB_ERRORS as exc:
                log.warning("leasing e-mails failed: %r", exc)
                await asyncio.sleep(1)
                continue
            for item in lease:
                self.queue.put_nowait(item)
            if not lease:
                await asyncio.sleep(self.settings.poll_s)

    async def hand_back(self) -> None:
        ids = []
        while not self.queue.empty():
            ids.append(self.queue.get_nowait().id)
        try:
            await asyncio.shield(store.release(self.pool, ids))
        except DB_ERRORS as exc:
            log.warning("could not hand back %d leased e-mails: %r", len(ids), exc)

    async def worker(self) -> None:
        smtp = aiosmtplib.SMTP(hostname=self.settings.host, port=self.settings.port, timeout=30)
        try:
            while True:
                item = await self.queue.get()
                await self.rate.acquire()
                try:
                    await self.send_one(smtp, item)
                except DB_ERRORS as exc:
                    log.warning("recording the outcome of delivery %s failed: %r", item.id, exc)
                    await asyncio.sleep(1)
        finally:
            if smtp.is_connected:
                smtp.close()

    async def deliver(self, smtp: aiosmtplib.SMTP, recipient: str, raw: bytes) -> None:
        """One SMTP transaction on the worker's connection; a connection the server dropped while
        idle is reopened once, as that says nothing about this message."""
        for attempt in (1, 2):
            if not smtp.is_connected:
                await smtp.connect()
            try:
                await smtp.sendmail(self.settings.mail_from, [recipient], raw)
                return
            except aiosmtplib.SMTPServerDisconnected:
                smtp.close()
                if attempt == 2:
                    raise

    async def send_one(self, smtp: aiosmtplib.SMTP, item: store.Due) -> None:
        try:
            raw = await self.composer.message(item)
            await self.deliver(smtp, item.recipient, raw)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            self.reset(smtp)
            code = exc.recipients[0].code if exc.recipients else 550
            await self.refused(item, code, exc.recipients[0].message if exc.recipients else "")
        except aiosmtplib.SMTPResponseException as exc:
            self.reset(smtp)
            await self.refused(item, exc.code, exc.message)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            self.reset(smtp)
            await self.retry_later(item, type(exc).__name__)
        else:
            await self.marks.mark(item.id)
            self.outcomes.labels("sent").inc()

    @staticmethod
    def reset(smtp: aiosmtplib.SMTP) -> None:
        """After any refusal start the next message on a fresh connection: cheap, and no
        half-finished transaction can leak into it."""
        if smtp.is_connected:
            smtp.close()

    async def refused(self, item: store.Due, code: int, message: str) -> None:
        if 500 <= code < 600:
            reason = f"SMTP {code} {message}".strip()[:200]
            await store.mark_failed(self.pool, item.id, FailureKind.PERMANENT, reason, code)
            self.outcomes.labels("permanent").inc()
            log.warning("delivery %s refused permanently (SMTP %s)", item.id, code)
        else:
            await self.retry_later(item, f"SMTP {code}")

    async def retry_later(self, item: store.Due, error: str) -> None:
        if item.attempts >= self.settings.max_attempts:
            reason = f"gave up after {item.attempts} attempts: {error}"
            await store.mark_failed(self.pool, item.id, FailureKind.GAVE_UP, reason, None)
            self.outcomes.labels("gave_up").inc()
            return
        delay = backoff_s(item.attempts - 1, self.settings.retry_base_s, self.settings.retry_max_s)
        await store.mark_retry(self.pool, item.id, delay, error)
        self.outcomes.labels("temporary").inc()
        log.info("delivery %s failed temporarily (%s); retry in %.1fs", item.id, error, delay)
