"""Header fields of every e-mail (issue 7, findings 6 and 10): values are encoded by the `email`
package and a line break can never start a field of its own; the Date has a real offset, the
Message-ID is unique, and the e-mails the center sends automatically say so."""

from __future__ import annotations

import email
import email.policy
import io
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

import pytest
import segno

from services.notify import mime, qr

INJECTIONS = [
    "Hello\r\nBcc: x@evil.example",
    "Hello\nBcc: x@evil.example",
    "Hello\rBcc: x@evil.example",
    "\r\nBcc: x@evil.example",
    "Hello\r\n\r\n<html>attacker's body</html>",
    "Hello\r\nContent-Type: text/html",
    "Hello\x0bBcc: x@evil.example",
    "Hello\x0cX",
    "Hello\x85Reply-To: x@evil.example",
    "Hello\u2028Reply-To: x@evil.example",
    "Hello\u2029X",
    "Hello\x00",
    "Hello\x1cX",
    "ニュース\r\nBcc: x@evil.example",
]


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


@pytest.mark.parametrize("value", INJECTIONS)
def test_a_header_value_with_a_line_break_or_control_character_is_refused(value: str) -> None:
    for name in ("Subject", "List-Unsubscribe", "Message-ID", "X-Anything"):
        with pytest.raises(ValueError):
            mime.field(name, value)


@pytest.mark.parametrize("value", INJECTIONS)
def test_an_address_with_a_line_break_is_refused(value: str) -> None:
    with pytest.raises(ValueError):
        mime.recipient(f"user@example.org{value}")
    with pytest.raises(ValueError):
        mime.mailbox(value, "info@center.example")


@pytest.mark.parametrize(
    "address",
    [
        "a@example.org, b@evil.example",
        "Victim <a@example.org>",
        "山田@example.org",
        "user@例え.jp",
        "a@example.org\tBcc: x@evil.example",
    ],
)
def test_a_recipient_must_be_one_plain_ascii_address(address: str) -> None:
    with pytest.raises(ValueError):
        mime.recipient(address)


def test_non_ascii_text_is_encoded_and_reads_back_unchanged() -> None:
    subject = "センターだより 第1号 ― 助成金のお知らせ、締切は6月30日です (Newsletter no. 1)" * 2
    line = mime.field("Subject", subject)
    assert line.isascii() and line.endswith("\r\n")
    assert all(len(part) <= 78 for part in line.split("\r\n"))
    msg = parse((line + "\r\nbody").encode())
    assert msg["Subject"] == subject


def test_a_long_unsubscribe_address_stays_one_readable_url() -> None:
    url = "<https://center.example/subscribers/unsubscribe?token=" + "A" * 150 + ">"
    line = mime.field("List-Unsubscribe", url)
    assert line == f"List-Unsubscribe: {url}\r\n"


def test_the_date_has_a_real_offset_and_the_current_time() -> None:
    line = mime.date()
    assert line.startswith("Date: ") and line.rstrip().endswith("+0900")
    assert "-0000" not in line
    sent = parsedate_to_datetime(line[6:].strip())
    assert abs(sent - datetime.now(UTC)) < timedelta(seconds=5)
    fixed = mime.date(datetime(2030, 1, 7, 1, 0, tzinfo=UTC))
    assert fixed == "Date: Mon, 07 Jan 2030 10:00:00 +0900\r\n"


def test_message_ids_name_their_delivery_and_domain() -> None:
    line = mime.message_id("4a1d7e1e-58b2-4b7b-a1c0-3c9a5b2d8e10", "center.example")
    msg = parse((line + "\r\n").encode())
    assert msg["Message-ID"] == "<4a1d7e1e-58b2-4b7b-a1c0-3c9a5b2d8e10@center.example>"


def test_a_multipart_boundary_must_be_letters_and_digits() -> None:
    with pytest.raises(ValueError):
        mime.build([mime.field("Subject", "x")], "t", "<p>h</p>", boundary='x"\r\nBcc: y')


def test_a_mail_with_an_image_reads_back_as_the_text_and_that_png() -> None:
    png = qr.png("K7QW3ZPA")
    raw = mime.build_with_image(
        [mime.field("Subject", "参加登録確定")], "受付コード: K7QW3ZPA", png, "check-in.png",
        boundary="abc123",
    )  # fmt: skip
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parsed.get_content_type() == "multipart/mixed"
    text, image = list(parsed.iter_parts())
    assert text.get_content() == "受付コード: K7QW3ZPA"
    assert image.get_content_type() == "image/png"
    assert image.get_content_disposition() == "inline"
    assert image.get_filename() == "check-in.png"
    assert image.get_content() == png


@pytest.mark.parametrize("name", ['x"; y', "a\r\nBcc: b", "", "ü.png"])
def test_an_image_name_is_never_taken_from_outside(name: str) -> None:
    with pytest.raises(ValueError):
        mime.build_with_image([], "t", b"\x89PNG", name, boundary="abc")


def test_the_qr_code_is_a_full_symbol_that_holds_the_code() -> None:
    symbol = segno.make_qr("K7QW3ZPA", error="m", boost_error=False)
    assert not symbol.is_micro  # phone cameras and kiosk scanners read full symbols only
    png = qr.png("K7QW3ZPA")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    out = io.BytesIO()
    symbol.save(out, kind="png", scale=qr.SCALE, border=qr.BORDER)
    assert png == out.getvalue()
    assert qr.png("K7QW3ZPB") != png


PLAIN_ADDRESSES = [
    "taro@example.jp",
    "taro.yamada+news@mail.example.co.jp",
    "o'brien@example.org",
    "a!#$%&'*+/=?^_`{|}~-z@example.org",
    "x" * 40 + "@" + "d" * 20 + ".example.org",  # near the end of a 78-character line
    "x" * 64 + "@" + "d" * 30 + ".example.org",  # folded by the email package
]


@pytest.mark.parametrize("address", PLAIN_ADDRESSES)
def test_a_plain_address_is_written_as_the_email_package_writes_it(address: str) -> None:
    assert mime.recipient(address) == mime.field("To", Address(addr_spec=address))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Message-ID", "<4a1d7e1e58b24b7ba1c03c9a5b2d8e10@center.example>"),
        ("Message-ID", "<4a1d7e1e-58b2-4b7b-a1c0-3c9a5b2d8e10@mail.center.example>"),
        ("Message-ID", "<https://center.example/u?token=AAA>"),  # no message id
        ("List-Unsubscribe", "<https://center.example/unsubscribe?token=" + "A" * 900 + ">"),
        ("List-Unsubscribe", "<https://center.example/u?token=" + "A" * 1000 + ">"),  # too long
        ("List-Unsubscribe", "<https://center.example/u?a=1&b=%20>"),
        ("List-Id", "<newsletter.center.example>"),
    ],
)
def test_a_one_token_field_is_written_as_the_email_package_writes_it(
    name: str, value: str
) -> None:
    expected = mime.LONG_LINE_POLICY.header_store_parse(name, value)[1]
    assert mime.field(name, value) == expected.fold(policy=mime.LONG_LINE_POLICY)
