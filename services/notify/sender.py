"""Delivery over SMTP: each queued e-mail is sent once, none is dropped, and a newsletter leaves
at hundreds per second.

One leaser takes due rows in batches (`FOR UPDATE SKIP LOCKED`, so several instances share the
work) and hands them to SMTP_CONNECTIONS workers, each holding one SMTP connection open across
messages. A worker marks each e-mail sent as soon as the server accepts it, and the server accepts
its next one only once that mark is written: the next message's envelope (MAIL FROM, RCPT TO) and
its DATA command go out while the mark is being written, and the message itself after. So after a
crash at most the message in flight on each connection is unaccounted for and may go out twice
(its Message-ID, made of the delivery's public id, lets a mailbox recognise it), and writing a
mark costs a connection no time of its own. The marks of all workers made meanwhile are written
together in one statement (group commit), which also queues the `notification.sent` events of
those that are not a newsletter's: per message that is a share of one round trip.

Each lease stamps its rows with a token. A row is this sender's only while it carries the token:
a keeper renews the leases of every row held (queued or being sent) each LEASE_S / 3, so a slow
server never lets a lease run out under a send; a worker checks, before sending, that the lease
is still comfortably valid or renews it itself, and skips the row when another lease has taken
it; and every outcome (sent, retry, failed) counts only under the token that sent it. So a row
re-leased after a stall is sent by one lease, not by both.

Temporary refusals (4xx, lost connections, no reply within SMTP_TIMEOUT_S) retry with exponential
backoff. A message whose final reply never came may have been taken all the same; no client can
know (RFC 1047), so it may arrive twice, recognisable by its Message-ID, as after a crash.
Permanent refusals (5xx) fail the e-mail, count a bounce against the address and emit
`notification.failed`. An e-mail that cannot be composed or handed to SMTP as stored (an address
plain SMTP cannot carry, a line break in a header value, a vanished issue) fails at once; any
other unexpected error retries it like a temporary refusal. Whatever one message does, the
worker goes on with the next: every loop here ends only when cancelled. Log lines name the
delivery id and the error's type, never an address. SEND_RATE caps messages per second across
the workers (0: no cap). A crashed sender's leases return to the pool when LEASE_S runs out; a
sender stopped gracefully hands back what it had not started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID, uuid4

import aiosmtplib
import asyncpg
from prometheus_client import Counter

from contracts.notify import FailureKind, Language
from services.notify import links, mime, qr, store
from services.notify.newsletter import Frame, markdown_to_html, personalise, render_frame
from services.notify.settings import NotifySettings
from services.notify.smtp import Connection, data_form, smtp_path
from services.runtime.errors import TRANSIENT_ERRORS
from services.runtime.settings import env_float, env_int, env_str
from services.runtime.supervisor import beat

log = logging.getLogger(__name__)

CENTER_NAME = "横浜市市民協働推進センター"
DB_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)
MARK_RETRY_S = 1.0  # SentMarks: how soon a mark the database could not take is written again
# SentMarks: how long a mark may wait for others to share its statement (a group is one mark
# per connection, each has at most one waiting). Shorter than the three round trips (MAIL, RCPT,
# DATA) its connection makes before it needs the mark: measured, groups of all 16 connections
# within 3 ms took PostgreSQL a tenth less CPU than groups of 8 within 2 ms, for the same rate.
MARK_GATHER_S = 0.003
# what no retry can cure: the message cannot be written or handed to SMTP as stored
UNSENDABLE = (UnicodeError, ValueError, LookupError)


@dataclass(frozen=True)
class SenderSettings:
    """SMTP_HOST (127.0.0.1), SMTP_PORT (1025), MAIL_FROM, SMTP_CONNECTIONS (4),
    SEND_RATE messages/s across connections (200; 0 = unlimited), SENDER_POLL_S (0.2),
    LEASE_SIZE (500), LEASE_S (60), RETRY_BASE_S (5), RETRY_MAX_S (3600), MAX_ATTEMPTS (8),
    SMTP_TIMEOUT_S seconds a step of an SMTP exchange may take: connecting and the envelope, or
    the message (30)."""

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
    smtp_timeout_s: float = 30.0

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
            lease_s=max(0.3, env_float("LEASE_S", 60.0)),
            retry_base_s=env_float("RETRY_BASE_S", 5.0),
            retry_max_s=env_float("RETRY_MAX_S", 3600.0),
            max_attempts=env_int("MAX_ATTEMPTS", 8),
            smtp_timeout_s=env_float("SMTP_TIMEOUT_S", 30.0),
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
    """The bytes of each e-mail. Newsletter issues are rendered once per language and cached,
    with their encoded Subject; per recipient only To, Message-ID, the unsubscribe and pixel
    links are filled in. Every header field is made by `mime` (the `email` package's encoding,
    refusing line breaks), whatever a database row holds."""

    def __init__(self, pool: asyncpg.Pool, mail_from: str, notify: NotifySettings) -> None:
        self.pool = pool
        self.domain = mail_from.split("@")[-1]
        self.from_ = mime.mailbox(CENTER_NAME, mail_from)
        self.list_id = mime.field("List-Id", f"<newsletter.{self.domain}>")
        self.one_click = mime.field("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
        self.notify = notify
        self.frames: dict[tuple[UUID, str], tuple[Frame, mime.HeaderField]] = {}

    async def frame(self, issue_id: UUID, language: str) -> tuple[Frame, mime.HeaderField]:
        """The issue in one language, rendered from its Markdown with today's rules (not the
        HTML stored at publication, which older rules made)."""
        key = (issue_id, language)
        if key not in self.frames:
            issue = await store.load_issue(self.pool, issue_id)
            if issue is None:
                raise LookupError("newsletter issue not found")
            lang = Language.EN if language == Language.EN.value else Language.JA
            html = markdown_to_html(issue.body_markdown)
            frame = render_frame(issue.subject, html, issue.body_text, lang)
            if len(self.frames) > 32:
                self.frames.clear()
            self.frames[key] = (frame, mime.field("Subject", issue.subject))
        return self.frames[key]

    def envelope(self, item: store.Due, subject: mime.HeaderField) -> list[mime.HeaderField]:
        return [
            self.from_,
            mime.recipient(item.recipient),
            subject,
            mime.date(),
            mime.message_id(str(item.public_id), self.domain),
            mime.AUTO_SUBMITTED,
        ]

    async def message(self, item: store.Due) -> bytes:
        if item.issue_id is None:
            headers = self.envelope(item, mime.field("Subject", item.subject))
            if item.qr_text is not None:
                image = qr.png(item.qr_text)
                return mime.build_with_image(
                    headers, item.body, image, "check-in.png", boundary=item.public_id.hex
                )
            return mime.build(headers, item.body)
        if item.subscriber is None:
            raise LookupError("the subscriber of a newsletter delivery is gone")
        frame, subject = await self.frame(item.issue_id, item.language)
        key = self.notify.signing_key
        unsubscribe = self.notify.unsubscribe_url(links.unsubscribe_token(key, item.subscriber))
        text, html = personalise(
            frame, unsubscribe, self.notify.pixel_url(links.open_token(key, item.public_id))
        )
        headers = [
            *self.envelope(item, subject),
            mime.field("List-Unsubscribe", f"<{unsubscribe}>"),
            self.one_click,
            self.list_id,
        ]
        return mime.build(headers, text, html, boundary=item.public_id.hex)


class SentMarks:
    """Group commit of 'sent' marks: whatever the workers accepted while the previous statement
    ran is written by the next one; each worker waits only for its own mark. Most of what a
    statement costs PostgreSQL is the statement itself, its commit above all (measured: about
    300 µs, and 10-30 µs a mark in it), so a mark that finds fewer than `group` waiting waits up
    to `gather_s` for more: the next message's envelope and DATA are on their way meanwhile,
    and a full group is written at once.

    A mark the database could not take because it was away (restarting, unreachable) is kept
    and written again every MARK_RETRY_S until it is back: the server has the message, and a
    forgotten mark would have the row sent a second time once its lease runs out (the lease
    outlasts a restart). Any other error fails the workers waiting on the batch."""

    def __init__(self, pool: asyncpg.Pool, group: int = 1, gather_s: float = 0.0) -> None:
        self.pool = pool
        self.group, self.gather_s = group, gather_s
        self.pending: list[tuple[store.Due, asyncio.Future[None]]] = []
        self.wake = asyncio.Event()
        self.full = asyncio.Event()

    async def mark(self, item: store.Due) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending.append((item, future))
        self.wake.set()
        if len(self.pending) >= self.group:
            self.full.set()
        await future

    async def run(self) -> None:
        while True:
            await self.wake.wait()
            await self.gathered()
            self.wake.clear()
            batch, self.pending = self.pending, []
            if not batch:
                continue
            try:
                await store.mark_sent(self.pool, [item for item, _ in batch])
            except TRANSIENT_ERRORS as exc:
                log.warning("%d sent marks wait for the database (%s)", len(batch),
                            type(exc).__name__)  # fmt: skip
                self.pending = batch + self.pending
                await asyncio.sleep(MARK_RETRY_S)
                self.wake.set()
            except Exception as exc:  # the workers decide; this loop must go on
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)

    async def gathered(self) -> None:
        """Returns once `group` marks wait, or `gather_s` after it was called."""
        if len(self.pending) >= self.group or self.gather_s <= 0:
            return
        self.full.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.gather_s):
                await self.full.wait()


@dataclass
class Held:
    """A leased row in this sender's hands, and until when (monotonic clock) its lease is valid
    for sure: the clock is read before the lease statement, so this is never later than the
    database's lease_until."""

    item: store.Due
    valid_until: float
    lost: bool = False


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
        # by outcome: sent, temporary, permanent, gave_up, lease_lost (skipped: another lease
        # took the row)
        self.outcomes = outcomes
        self.composer = Composer(pool, settings.mail_from, notify)
        self.mail_from = smtp_path(settings.mail_from)
        self.marks = SentMarks(pool, group=max(1, settings.connections),
                               gather_s=MARK_GATHER_S)  # fmt: skip
        self.rate = RateLimit(settings.rate)
        self.queue: asyncio.Queue[Held] = asyncio.Queue()
        self.held: dict[int, Held] = {}
        self.recordings: set[asyncio.Task[None]] = set()  # marks being written
        # a send must start with at least this much lease left: an SMTP exchange's worth
        self.margin_s = min(settings.smtp_timeout_s, settings.lease_s / 2)

    async def run(self) -> None:
        """Runs until cancelled. Every loop below survives its errors; should one end all the
        same, the sender stops with that error, so the service's supervision sees it."""
        tasks = [
            asyncio.create_task(self.marks.run(), name="sent-marks"),
            asyncio.create_task(self.keep_leases(), name="lease-keeper"),
            asyncio.create_task(self.lease_loop(), name="leaser"),
            *(
                asyncio.create_task(self.worker(), name=f"smtp-{n}")
                for n in range(self.settings.connections)
            ),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
            raise RuntimeError(f"sender task {next(iter(done)).get_name()} ended")
        finally:
            for task in [*tasks, *self.recordings]:
                task.cancel()
            await asyncio.gather(*tasks, *self.recordings, return_exceptions=True)
            await self.hand_back()

    async def lease_loop(self) -> None:
        low_water = max(self.settings.connections * 2, self.settings.lease_size // 4)
        while True:
            beat()  # the leaser going round is the sender's sign of life
            if self.queue.qsize() > low_water:
                await asyncio.sleep(0.005)
                continue
            token, started = uuid4(), time.monotonic()
            try:
                lease = await store.lease_due(
                    self.pool, self.settings.lease_size, self.settings.lease_s, token
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("leasing e-mails failed (%s)", type(exc).__name__)
                await asyncio.sleep(1)
                continue
            for item in lease:
                held = Held(item, started + self.settings.lease_s)
                if (earlier := self.held.get(item.id)) is not None:
                    earlier.lost = True  # its lease ran out and this one took the row
                self.held[item.id] = held
                self.queue.put_nowait(held)
            if not lease:
                await asyncio.sleep(self.settings.poll_s)

    async def keep_leases(self) -> None:
        """Renew every lease held, each LEASE_S / 3, in one statement; a row whose lease turns
        out lost is dropped from this sender's hands."""
        period = self.settings.lease_s / 3
        while True:
            await asyncio.sleep(period)
            holding = [h for h in self.held.values() if not h.lost]
            if not holding:
                continue
            started = time.monotonic()
            try:
                ours = await store.renew(
                    self.pool, [h.item for h in holding], self.settings.lease_s
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("renewing %d leases failed (%s)", len(holding), type(exc).__name__)
                continue
            for held in holding:
                if held.item.id in ours:
                    held.valid_until = started + self.settings.lease_s
                else:
                    held.lost = True

    async def still_ours(self, held: Held) -> bool:
        """Whether this sender may send the row now: its lease is surely valid for a while
        longer, or is renewed here; False when another lease took it (or we cannot tell)."""
        if held.lost or self.held.get(held.item.id) is not held:
            return False
        if time.monotonic() + self.margin_s < held.valid_until:
            return True
        started = time.monotonic()
        try:
            renewed = await store.renew(self.pool, [held.item], self.settings.lease_s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("re-checking the lease of delivery %s failed (%s)",
                        held.item.id, type(exc).__name__)  # fmt: skip
            return False
        if held.item.id not in renewed:
            held.lost = True
            return False
        held.valid_until = started + self.settings.lease_s
        return True

    async def hand_back(self) -> None:
        items = []
        while not self.queue.empty():
            held = self.queue.get_nowait()
            if not held.lost:
                items.append(held.item)
        try:
            await asyncio.shield(store.release(self.pool, items))
        except Exception as exc:
            log.warning("could not hand back %d leased e-mails (%s)", len(items),
                        type(exc).__name__)  # fmt: skip

    async def worker(self) -> None:
        smtp = Connection(self.settings.host, self.settings.port)
        recording: asyncio.Task[None] | None = None  # the mark of this connection's last message
        try:
            while True:
                held = await self.queue.get()
                try:
                    recording = await self.handle(smtp, held, recording)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # an outcome (this one's, or the mark before) not written
                    recording = None
                    self.forget(held)
                    self.reset(smtp)  # an envelope left open is dropped: that message is not sent
                    log.warning("recording the outcome of delivery %s or of the one before it on"
                                " its connection failed (%s)", held.item.id,
                                type(exc).__name__)  # fmt: skip
                    await asyncio.sleep(1)
        finally:
            self.reset(smtp)

    def forget(self, held: Held) -> None:
        if self.held.get(held.item.id) is held:
            del self.held[held.item.id]

    async def handle(
        self, smtp: Connection, held: Held, recording: asyncio.Task[None] | None
    ) -> asyncio.Task[None] | None:
        """Send one message: the task writing its mark if the server accepted it, else the
        previous message's mark, still to be settled."""
        if not await self.still_ours(held):
            self.forget(held)
            self.outcomes.labels("lease_lost").inc()
            log.info("delivery %s skipped: its lease was taken by another", held.item.id)
            return recording
        await self.rate.acquire()
        accepted = False
        try:
            accepted = await self.transfer(smtp, held.item, recording)
        finally:
            if not accepted:
                self.forget(held)
        if not accepted:
            return None
        task = asyncio.create_task(self.record_sent(held), name=f"mark-{held.item.id}")
        self.recordings.add(task)
        task.add_done_callback(self.recorded)
        return task

    async def transfer(
        self, smtp: Connection, item: store.Due, recording: asyncio.Task[None] | None
    ) -> bool:
        """Hand one message to the server; whether it accepted it. The previous message's mark
        is settled (awaited, raising if it failed) before this message's end is sent, or before
        this returns should the message fail sooner. Each step is bounded by SMTP_TIMEOUT_S."""
        try:
            try:
                raw = await self.composer.message(item)
            except DB_ERRORS as exc:
                await self.retry_later(item, type(exc).__name__)
                return False
            except Exception as exc:
                await self.unsendable(item, "cannot be composed", exc)
                return False
            try:
                async with asyncio.timeout(self.settings.smtp_timeout_s):
                    payload, size = data_form(raw)
                    await self.open_envelope(smtp, smtp_path(item.recipient), size)
                    await smtp.data()
            except Exception as exc:
                await self.not_sent(smtp, item, exc)
                return False
        finally:
            if recording is not None:
                await recording
        try:
            async with asyncio.timeout(self.settings.smtp_timeout_s):
                await smtp.message(payload)
        except Exception as exc:
            await self.not_sent(smtp, item, exc)
            return False
        return True

    async def open_envelope(self, smtp: Connection, recipient: bytes, size: int) -> None:
        """MAIL FROM and RCPT TO on the worker's connection; a connection the server dropped
        while idle is reopened once, as that says nothing about this message."""
        for attempt in (1, 2):
            if not smtp.is_connected:
                await smtp.connect()
            try:
                await smtp.envelope(self.mail_from, recipient, size)
                return
            except aiosmtplib.SMTPServerDisconnected:
                smtp.close()
                if attempt == 2:
                    raise

    async def not_sent(self, smtp: Connection, item: store.Due, exc: Exception) -> None:
        """What the server's refusal or a failed exchange means for the message."""
        self.reset(smtp)
        if isinstance(exc, aiosmtplib.SMTPResponseException):  # a refused recipient too
            await self.refused(item, exc.code, exc.message)
        elif isinstance(exc, aiosmtplib.SMTPException | OSError | TimeoutError):
            await self.retry_later(item, type(exc).__name__)
        elif isinstance(exc, UNSENDABLE):  # e.g. UnicodeEncodeError: an address SMTP cannot carry
            await self.unsendable(item, "cannot be handed to SMTP", exc)
        else:
            log.warning("delivery %s: unexpected %s while sending; retrying later",
                        item.id, type(exc).__name__)  # fmt: skip
            await self.retry_later(item, type(exc).__name__)

    async def record_sent(self, held: Held) -> None:
        """The mark of a message the server accepted; the row stays in this sender's hands
        (its lease renewed) until the mark is written."""
        try:
            await self.marks.mark(held.item)
            self.outcomes.labels("sent").inc()
        finally:
            self.forget(held)

    def recorded(self, task: asyncio.Task[None]) -> None:
        """A mark written or failed. A failure is logged here, as the last message's worker may
        never ask; a worker with a next message also learns of it there, and holds that one."""
        self.recordings.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.warning("the sent mark of delivery %s could not be written (%s)",
                        task.get_name().removeprefix("mark-"), type(error).__name__)  # fmt: skip

    @staticmethod
    def reset(smtp: Connection) -> None:
        """After any refusal start the next message on a fresh connection: cheap, and no
        half-finished transaction can leak into it."""
        smtp.close()

    async def unsendable(self, item: store.Due, what: str, exc: Exception) -> None:
        """No retry can cure it: fail it now (no bounce: no server refused the address)."""
        reason = f"{what}: {type(exc).__name__}"
        await store.mark_failed(self.pool, item, FailureKind.PERMANENT, reason, None)
        self.outcomes.labels("permanent").inc()
        log.warning("delivery %s %s (%s)", item.id, what, type(exc).__name__)

    async def refused(self, item: store.Due, code: int, message: str) -> None:
        if 500 <= code < 600:
            text = message.replace(item.recipient, "<recipient>")  # events never name addresses
            reason = f"SMTP {code} {text}".strip()[:200]
            await store.mark_failed(self.pool, item, FailureKind.PERMANENT, reason, code)
            self.outcomes.labels("permanent").inc()
            log.warning("delivery %s refused permanently (SMTP %s)", item.id, code)
        else:
            await self.retry_later(item, f"SMTP {code}")

    async def retry_later(self, item: store.Due, error: str) -> None:
        if item.attempts >= self.settings.max_attempts:
            reason = f"gave up after {item.attempts} attempts: {error}"
            await store.mark_failed(self.pool, item, FailureKind.GAVE_UP, reason, None)
            self.outcomes.labels("gave_up").inc()
            return
        delay = backoff_s(item.attempts - 1, self.settings.retry_base_s, self.settings.retry_max_s)
        await store.mark_retry(self.pool, item, delay, error)
        self.outcomes.labels("temporary").inc()
        log.info("delivery %s failed temporarily (%s); retry in %.1fs", item.id, error, delay)
