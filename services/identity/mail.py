"""The sign-in mail, sent by identity itself over SMTP.

Why not through notify and Kafka: a sign-in link is a credential. On a topic it would sit in the
log for the topic's retention, in every consumer's reach and in dead-letter copies; here it
exists only in the mail and, as a digest, in identity's database.

Japanese first, then English. Every header value goes through the `email` package's header
registry (its policy refuses CR and LF), and the recipient is an address already normalised by
`addresses.normalise`, so nothing typed into the form can add a header.

Whoever asks gets a mail, known address or not (a link, or a note that no active organisation
has this contact address): the answer, its timing and a mail failure (503) are then the same for
every address, so the form tells nobody which addresses are registered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Protocol
from zoneinfo import ZoneInfo

import aiosmtplib

TOKYO = ZoneInfo("Asia/Tokyo")


class MailFailed(Exception):
    """The SMTP server could not take the mail now; the person may try again."""


@dataclass(frozen=True)
class LinkFor:
    """One sign-in link, and who it signs in as (an organisation's name, or the address)."""

    url: str
    label: str


def _until(expires_at: datetime) -> str:
    return expires_at.astimezone(TOKYO).strftime("%Y-%m-%d %H:%M")


def link_text(links: Sequence[LinkFor], expires_at: datetime, lifetime: timedelta) -> str:
    minutes = int(lifetime.total_seconds() // 60)
    ja = [f"■ {link.label}\n{link.url}\n" for link in links]
    en = [f"* {link.label}\n{link.url}\n" for link in links]
    return (
        "横浜市市民協働推進センターへのサインインのご依頼を受け付けました。\n"
        "下のリンクを開き、表示されるページのボタンを押してください。\n"
        f"リンクは一度だけ、{minutes}分間（{_until(expires_at)} まで）有効です。\n\n"
        + "\n".join(ja)
        + "\nお心当たりがない場合は、このメールを破棄してください。リンクを開かない限り、"
        "何も起こりません。\n\n"
        "----\n\n"
        "You asked to sign in to the Yokohama Civic Collaboration Promotion Center.\n"
        "Open the link below and press the button on the page.\n"
        f"The link works once, for {minutes} minutes (until {_until(expires_at)} JST).\n\n"
        + "\n".join(en)
        + "\nIf you did not ask for this, delete this mail: nothing happens unless the link "
        "is opened.\n"
    )


NO_ORGANISATION_TEXT = (
    "横浜市市民協働推進センターへの団体としてのサインインのご依頼を受け付けましたが、\n"
    "このメールアドレスを連絡先とする、有効な登録団体は見つかりませんでした。\n"
    "登録の有効期限が切れている場合や利用停止中の場合は、センターの窓口にご連絡ください。\n"
    "お心当たりがない場合は、このメールを破棄してください。\n\n"
    "----\n\n"
    "Someone asked to sign in to the Yokohama Civic Collaboration Promotion Center as an\n"
    "organisation with this address, but no registered organisation in good standing has it as\n"
    "its contact. If your registration has expired or is suspended, please contact the center's\n"
    "reception. If you did not ask for this, delete this mail.\n"
)

SUBJECT = "サインイン用リンク / Your sign-in link"
NO_ORGANISATION_SUBJECT = "サインインのご依頼について / About your sign-in request"


def compose(
    sender_name: str, sender: str, recipient: str, subject: str, text: str, now: datetime
) -> EmailMessage:
    """The mail, every header encoded and checked by the `email` package."""
    message = EmailMessage()
    message["From"] = Address(display_name=sender_name, addr_spec=sender)
    message["To"] = Address(addr_spec=recipient)
    message["Subject"] = subject
    message["Date"] = format_datetime(now.astimezone(TOKYO))
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2])
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies
    message.set_content(text, charset="utf-8")
    return message


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


@dataclass(frozen=True)
class SmtpMailer:
    host: str
    port: int
    timeout_s: float

    async def send(self, message: EmailMessage) -> None:
        """Hand the mail to the SMTP server; MailFailed when it cannot be handed over now."""
        try:
            await aiosmtplib.send(message, hostname=self.host, port=self.port,
                                  timeout=self.timeout_s)  # fmt: skip
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise MailFailed(type(exc).__name__) from None
