"""Delivery over SMTP: each queued e-mail is sent once, and none is dropped.

A sender task leases a few due rows at a time and marks each one sent the moment the SMTP server
has accepted it. A crash leaves the rest of the lease 'sending'; when the lease runs out another
sender takes them over, so only the single message in flight at the crash can be sent twice, and
its deterministic Message-ID lets a mailbox recognise it. Temporary SMTP errors (4xx, lost
connections) retry with exponential backoff; permanent ones (5xx) mark the e-mail failed.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate

import asyncpg
from prometheus_client import Counter

from services.notify import store
from services.runtime.settings import env_float, env_int, env_str

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SenderSettings:
    """SMTP_HOST (127.0.0.1), SMTP_PORT (1025), MAIL_FROM, SMTP_CONNECTIONS (2),
    SENDER_POLL_S (0.2), LEASE_SIZE (20), LEASE_S (60), RETRY_BASE_S (5), RETRY_MAX_S (3600),
    MAX_ATTEMPTS (8)."""

    host: str
    port: int
    mail_from: str
    connections: int
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
            connections=env_int("SMTP_CONNECTIONS", 2),
            poll_s=env_float("SENDER_POLL_S", 0.2),
            lease_size=env_int("LEASE_SIZE", 20),
            lease_s=env_float("LEASE_S", 60.0),
            retry_base_s=env_float("RETRY_BASE_S", 5.0),
            retry_max_s=env_float("RETRY_MAX_S", 3600.0),
            max_attempts=env_int("MAX_ATTEMPTS", 8),
        )


def build_message(due: store.Due, mail_from: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = Address("横浜市市民協働推進センター", addr_spec=mail_from)
    msg["To"] = due.recipient
    msg["Subject"] = due.subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = f"<delivery-{due.id}@{mail_from.split('@')[-1]}>"
    msg.set_content(due.body, charset="utf-8")
    return msg


def backoff_s(attempts: int, base: float, cap: float) -> float:
    return float(min(cap, base * 2**attempts))


class SmtpConnection:
    """One blocking SMTP session, used from a worker thread, reopened after any failure."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.client: smtplib.SMTP | None = None

    def send(self, msg: EmailMessage) -> None:
        try:
            if self.client is None:
                self.client = smtplib.SMTP(self.host, self.port, timeout=30)
            self.client.send_message(msg)
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.quit()
            except Exception:
                pass
            self.client = None


class Sender:
    def __init__(self, pool: asyncpg.Pool, settings: SenderSettings, outcomes: Counter) -> None:
        self.pool = pool
        self.settings = settings
        self.outcomes = outcomes  # labelled by outcome: sent, temporary, permanent, gave_up

    async def run(self) -> None:
        await asyncio.gather(*(self.worker() for _ in range(self.settings.connections)))

    async def worker(self) -> None:
        smtp = SmtpConnection(self.settings.host, self.settings.port)
        try:
            while True:
                try:
                    if not await self.send_lease(smtp):
                        await asyncio.sleep(self.settings.poll_s)
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.warning("sender round failed: %r", exc)
                    await asyncio.sleep(1)
        finally:
            await asyncio.to_thread(smtp.close)

    async def send_lease(self, smtp: SmtpConnection) -> int:
        """Send what this worker could lease; the number of e-mails it handled."""
        lease = await store.lease_due(self.pool, self.settings.lease_size, self.settings.lease_s)
        for item in lease:
            await self.send_one(smtp, item)
        return len(lease)

    async def send_one(self, smtp: SmtpConnection, item: store.Due) -> None:
        try:
            await asyncio.to_thread(smtp.send, build_message(item, self.settings.mail_from))
        except smtplib.SMTPRecipientsRefused as exc:
            await self.refused(item, exc.recipients.get(item.recipient, (550, b""))[0])
        except smtplib.SMTPResponseException as exc:
            await self.refused(item, exc.smtp_code)
        except (smtplib.SMTPException, OSError) as exc:
            await self.retry_later(item, type(exc).__name__)
        else:
            await store.mark_sent(self.pool, item.id)
            self.outcomes.labels("sent").inc()

    async def refused(self, item: store.Due, code: int) -> None:
        if 500 <= code < 600:
            await store.mark_failed(self.pool, item.id, f"SMTP {code}")
            self.outcomes.labels("permanent").inc()
            log.warning("delivery %s refused permanently (SMTP %s)", item.id, code)
        else:
            await self.retry_later(item, f"SMTP {code}")

    async def retry_later(self, item: store.Due, error: str) -> None:
        if item.attempts >= self.settings.max_attempts:
            await store.mark_failed(self.pool, item.id, f"gave up after {item.attempts}: {error}")
            self.outcomes.labels("gave_up").inc()
            return
        delay = backoff_s(item.attempts - 1, self.settings.retry_base_s, self.settings.retry_max_s)
        await store.mark_retry(self.pool, item.id, delay, error)
        self.outcomes.labels("temporary").inc()
        log.info("delivery %s failed temporarily (%s); retry in %.0fs", item.id, error, delay)
