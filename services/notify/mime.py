"""The bytes of an e-mail: every header field encoded by the `email` package, the rest assembled
directly.

Header fields carry text from outside (a subject typed by staff, an address typed by a visitor,
a row in the database): each value goes through the `email` package's header registry and policy,
which parses it for its field (address, message id, date, unstructured text), encodes non-ASCII
text per RFC 2047, folds long lines, and refuses line breaks, so no value can end its field and
start another (header injection). `field()` is the only way to make a `HeaderField`, and `build()`
takes nothing else for the header.

Why the body is not built with `email.message.EmailMessage`: building one costs far more than the
SMTP exchange, and a newsletter is the same message thousands of times with a few per-recipient
strings. So fields that are the same for every recipient (From, Subject) are encoded once per
issue, those that differ (To, Message-ID, List-Unsubscribe) once per recipient, and the parts are
UTF-8 in base64, which keeps every line short whatever the content.
"""

from __future__ import annotations

import binascii
import email.policy
import re
import time
from collections.abc import Sequence
from datetime import datetime
from email.headerregistry import Address
from email.utils import format_datetime
from typing import NewType
from zoneinfo import ZoneInfo

CRLF = "\r\n"
TOKYO = ZoneInfo("Asia/Tokyo")

# RFC 5322 over SMTP: CRLF line ends, lines folded at 78. Fields that hold one long token (a URL,
# a message id) are kept whole on one line (up to 998): folding would have to encode them, and a
# mail program does not decode an encoded List-Unsubscribe.
FOLD_AT, LONGEST_LINE = 78, 998
POLICY = email.policy.SMTP.clone(max_line_length=FOLD_AT)
LONG_LINE_POLICY = POLICY.clone(max_line_length=LONGEST_LINE)
LONG_LINE_FIELDS = frozenset({"list-unsubscribe", "list-id", "message-id"})

# CR, LF and every other control character or line separator: in a header value each is either a
# way to end the field early or something no well-formed field holds
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")

# A value the `email` package would write unchanged, as it came (measured: tens of microseconds a
# field through it, a seventh of a newsletter's cost per recipient): a dot-atom address on a line
# that needs no folding; a message id of two dot-atoms, or one token of visible ASCII in angle
# brackets (a URL), on a line of at most 998 characters.
_DOT_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_PLAIN_ADDRESS = re.compile(rf"{_DOT_ATOM}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_ONE_TOKEN = re.compile(r"<[\x21-\x3b\x3d\x3f-\x7e]+>")
_AS_THEY_COME = {
    "message-id": re.compile(rf"<{_DOT_ATOM}@{_DOT_ATOM}>"),
    "list-unsubscribe": _ONE_TOKEN,
    "list-id": _ONE_TOKEN,
}

HeaderField = NewType("HeaderField", str)
"""One complete header field, `Name: value` folded and ended with CRLF, made by `field()`."""


def field(name: str, value: str | Address) -> HeaderField:
    """A header field whose value the `email` package has parsed and encoded for its kind.
    ValueError for a line break (CR, LF or another line separator) or control character in the
    value: refused, never cleaned, so a message with a forged field is not sent at all."""
    plain = _AS_THEY_COME.get(name.lower())
    if plain is not None and isinstance(value, str) and plain.fullmatch(value):
        line = f"{name}: {value}"
        if len(line) <= LONGEST_LINE:
            return HeaderField(line + CRLF)
    texts = [value] if isinstance(value, str) else [value.display_name, value.addr_spec]
    if any(_FORBIDDEN.search(text) for text in texts):
        raise ValueError(f"the {name} header value contains a line break or control character")
    policy = LONG_LINE_POLICY if name.lower() in LONG_LINE_FIELDS else POLICY
    _, header = policy.header_store_parse(name, value)
    folded: str = header.fold(policy=policy)
    return HeaderField(folded)


def mailbox(display_name: str, address: str) -> HeaderField:
    """A From field: the center's name (encoded) and its address."""
    return field("From", Address(display_name=display_name, addr_spec=address))


def recipient(address: str) -> HeaderField:
    """A To field for one ASCII address; ValueError for anything else (several addresses, a
    display name smuggled in, characters plain SMTP cannot carry)."""
    if not address.isascii():
        raise ValueError("the recipient address is not ASCII")
    if len(address) <= FOLD_AT - len("To: ") and _PLAIN_ADDRESS.fullmatch(address):
        return HeaderField(f"To: {address}{CRLF}")
    return field("To", Address(addr_spec=address))


def message_id(unique: str, domain: str) -> HeaderField:
    """`<unique@domain>`: the caller's unique part (a delivery's random public id) makes it
    unique across databases and stable across resends of the same delivery."""
    return field("Message-ID", f"<{unique}@{domain}>")


_date_cache: tuple[int, HeaderField] = (-1, HeaderField(""))


def date(at: datetime | None = None) -> HeaderField:
    """The Date field in Tokyo time with its real offset (+0900). Without `at`, now; as a
    newsletter sends hundreds a second, the field is made once per second."""
    global _date_cache
    if at is not None:
        return field("Date", format_datetime(at.astimezone(TOKYO)))
    second = int(time.time())
    if _date_cache[0] != second:
        now = datetime.fromtimestamp(second, TOKYO)
        _date_cache = (second, field("Date", format_datetime(now)))
    return _date_cache[1]


AUTO_SUBMITTED = field("Auto-Submitted", "auto-generated")  # RFC 3834: no auto-replies, please
MIME_VERSION = field("MIME-Version", "1.0")


def _b64_lines(text: str) -> str:
    return _b64_bytes(text.encode())


def _b64_bytes(data: bytes) -> str:
    return CRLF.join(
        binascii.b2a_base64(data[i : i + 57], newline=False).decode()
        for i in range(0, len(data), 57)
    )


def _part(content_type: str, text: str) -> str:
    return (
        f"Content-Type: {content_type}; charset=utf-8{CRLF}"
        f"Content-Transfer-Encoding: base64{CRLF}{CRLF}{_b64_lines(text)}{CRLF}"
    )


def _mark(boundary: str) -> str:
    if not (boundary.isascii() and boundary.isalnum()):
        raise ValueError("a multipart boundary is made of ASCII letters and digits")
    return f"=_{boundary}"


def build_with_image(
    headers: Sequence[HeaderField], text: str, png: bytes, filename: str, boundary: str
) -> bytes:
    """A text part and a PNG image shown with it (multipart/mixed, the image inline): the
    check-in code's QR code beside the words. `filename` is ours (letters, digits, '-', '.')."""
    if not re.fullmatch(r"[A-Za-z0-9.-]{1,60}", filename):
        raise ValueError("an image's file name is made of letters, digits, '-' and '.'")
    mark = _mark(boundary)
    image = (
        f'Content-Type: image/png; name="{filename}"{CRLF}'
        f'Content-Disposition: inline; filename="{filename}"{CRLF}'
        f"Content-Transfer-Encoding: base64{CRLF}{CRLF}" + _b64_bytes(png) + CRLF
    )
    body = (
        f'Content-Type: multipart/mixed; boundary="{mark}"{CRLF}{CRLF}'
        f"--{mark}{CRLF}{_part('text/plain', text)}"
        f"--{mark}{CRLF}{image}"
        f"--{mark}--{CRLF}"
    )
    return ("".join(headers) + MIME_VERSION + body).encode()


def build(
    headers: Sequence[HeaderField], text: str, html: str | None = None, boundary: str = ""
) -> bytes:
    """A complete message: the given header fields, then a text part, or text and HTML as
    multipart/alternative separated by `boundary` (letters and digits: it must not occur in a
    base64 part, and base64 has no '=' inside a line nor '_')."""
    head = "".join(headers) + MIME_VERSION
    if html is None:
        return (head + _part("text/plain", text)).encode()
    mark = _mark(boundary)
    body = (
        f'Content-Type: multipart/alternative; boundary="{mark}"{CRLF}{CRLF}'
        f"--{mark}{CRLF}{_part('text/plain', text)}"
        f"--{mark}{CRLF}{_part('text/html', html)}"
        f"--{mark}--{CRLF}"
    )
    return (head + body).encode()
