"""Helpers for tests of the identity service: its mail caught in memory, sign-in links read from
mails, the session cookie carried by hand, staff accounts made directly in its database."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from urllib.parse import urlsplit

import asyncpg
import httpx
from argon2 import PasswordHasher

from contracts.identity import Role
from services.identity import store
from services.identity.domain import StaffAccount
from services.identity.mail import MailFailed
from services.identity.sessions import COOKIE

LINK = re.compile(r"(https?://\S+/links/[A-Za-z0-9_-]+)")
CSRF = {"X-Requested-By": "test"}
# Hashes made with cheap parameters keep tests fast; a sign-in then rehashes them (passwords.py)
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@dataclass
class MailCatcher:
    """Stands in for SMTP: keeps every mail; `failing` makes the next sends fail."""

    sent: list[EmailMessage] = field(default_factory=list)
    failing: bool = False

    async def send(self, message: EmailMessage) -> None:
        if self.failing:
            raise MailFailed("SMTPServerDisconnected")
        self.sent.append(message)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.sent if address in str(m["To"])]


def body_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    text: str = part.get_content()
    return text


def links_in(message: EmailMessage) -> list[str]:
    """The distinct links of a mail, in order (each is written in the Japanese and the English
    part)."""
    return list(dict.fromkeys(LINK.findall(body_of(message))))


def path_of(link: str) -> str:
    return urlsplit(link).path


def cookie_of(response: httpx.Response) -> str:
    """The session id the answer set, read from Set-Cookie (a Secure cookie is not sent back
    over plain HTTP by a cookie jar, so tests carry it by hand)."""
    value = response.cookies.get(COOKIE)
    assert value, f"no session cookie in {response.headers.get_list('set-cookie')}"
    return value


def with_session(cookie: str, **extra: str) -> dict[str, str]:
    return {"Cookie": f"{COOKIE}={cookie}", **extra}


async def make_staff(conn: asyncpg.Connection | asyncpg.Pool, username: str, password: str,
                     *roles: Role, name: str = "Test Staff") -> None:  # fmt: skip
    account = StaffAccount(username, name, frozenset(roles or (Role.RECEPTION,)))
    assert await store.insert_account(conn, account, CHEAP.hash(password), datetime.now(UTC))
