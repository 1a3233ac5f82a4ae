"""The bytes of an e-mail, assembled directly.

Why not `email.message.EmailMessage`: building one costs far more than the SMTP exchange itself,
and a newsletter is the same message thousands of times with a few per-recipient strings. Headers
that are the same for every recipient (From, Subject) are encoded once; bodies are UTF-8 in base64,
which keeps every line short whatever the content, so any SMTP server accepts it unchanged.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from email.header import Header
from email.utils import formataddr, formatdate

CRLF = "\r\n"


def encode_header(value: str) -> str:
    """RFC 2047 for non-ASCII header text (Japanese subjects); plain ASCII stays readable."""
    if value.isascii():
        return value
    return Header(value, "utf-8").encode(maxlinelen=76, linesep=CRLF)


def from_header(display_name: str, address: str) -> str:
    return formataddr((display_name, address), charset="utf-8")


def _b64_lines(text: str) -> str:
    data = text.encode()
    return CRLF.join(
        binascii.b2a_base64(data[i : i + 57], newline=False).decode()
        for i in range(0, len(data), 57)
    )


def _part(content_type: str, text: str) -> str:
    return (
        f"Content-Type: {content_type}; charset=utf-8{CRLF}"
        f"Content-Transfer-Encoding: base64{CRLF}{CRLF}{_b64_lines(text)}{CRLF}"
    )


def build(
    *,
    from_: str,
    to: str,
    subject: str,
    message_id: str,
    text: str,
    html: str | None = None,
    headers: Sequence[tuple[str, str]] = (),
    date: str | None = None,
) -> bytes:
    """A complete message; `from_` and `subject` are already encoded header values."""
    lines = [
        f"From: {from_}",
        f"To: {to}",
        f"Subject: {subject}",
        f"Date: {date or formatdate(localtime=False)}",
        f"Message-ID: {message_id}",
        *(f"{name}: {value}" for name, value in headers),
        "MIME-Version: 1.0",
    ]
    head = CRLF.join(lines) + CRLF
    if html is None:
        return (head + _part("text/plain", text)).encode()
    boundary = "=_" + base64.b32encode(message_id.encode()[-30:]).decode().rstrip("=")
    body = (
        f'Content-Type: multipart/alternative; boundary="{boundary}"{CRLF}{CRLF}'
        f"--{boundary}{CRLF}{_part('text/plain', text)}"
        f"--{boundary}{CRLF}{_part('text/html', html)}"
        f"--{boundary}--{CRLF}"
    )
    return (head + body).encode()
