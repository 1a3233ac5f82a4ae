"""The sender's SMTP connection: messages reach a real SMTP server (aiosmtpd, on loopback, in
this process) exactly as composed, dot lines and odd line ends included; the server's refusals
come back with their codes; only addresses that are one SMTP path as written are sent."""

from __future__ import annotations

import email
import email.policy
import mailbox
from collections.abc import Iterator
from pathlib import Path

import aiosmtplib
import pytest

from services.notify.smtp import Connection, data_form, smtp_path
from tests.notify_support import sink_in_process


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    with sink_in_process(tmp_path / "mail", fail_rcpt=r"^gone@") as port:
        yield port, tmp_path / "mail"


def stored(maildir: Path) -> list[bytes]:
    box = mailbox.Maildir(maildir, create=False)
    return [box.get_bytes(key) for key in box.keys()]


def test_a_message_in_data_form_ends_with_the_period_line_and_keeps_its_crlf() -> None:
    payload, size = data_form(b"Subject: x\r\n\r\nbody\r\n")
    assert payload == b"Subject: x\r\n\r\nbody\r\n.\r\n"
    assert size == len(b"Subject: x\r\n\r\nbody\r\n")


def test_lines_that_begin_with_a_period_get_one_more_which_the_size_does_not_count() -> None:
    raw = b".first\r\n\r\n.\r\n..two\r\nlast."
    payload, size = data_form(raw)
    assert payload == b"..first\r\n\r\n..\r\n...two\r\nlast.\r\n.\r\n"
    assert size == len(raw) + 2  # the CRLF added at the end


def test_bare_line_ends_become_crlf_before_the_size_is_counted() -> None:
    payload, size = data_form(b"a\nb\rc\r\n.d\n")
    assert payload == b"a\r\nb\r\nc\r\n..d\r\n.\r\n"
    assert size == len(b"a\r\nb\r\nc\r\n.d\r\n")


@pytest.mark.parametrize(
    ("address", "error"),
    [
        ("山田@example.org", UnicodeEncodeError),
        ("a@example.org> SIZE=1", ValueError),
        ("a@example.org\r\nRSET", ValueError),
        ("<a@example.org>", ValueError),
        ("no-at-sign.example.org", ValueError),
        ("two@at@example.org", ValueError),
        ('"quoted local"@example.org', ValueError),
        ("a@[127.0.0.1]", ValueError),
        ("x" * 65 + "@example.org", ValueError),
        ("@example.org", ValueError),
        ("", ValueError),
    ],
)
def test_an_address_that_is_not_one_smtp_path_as_written_is_refused(
    address: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        smtp_path(address)


def test_a_plain_address_is_its_own_path() -> None:
    assert smtp_path("info+news@civic-center.example") == b"<info+news@civic-center.example>"
    assert smtp_path("o'brien.x_y@mail.example.org") == b"<o'brien.x_y@mail.example.org>"


async def test_a_message_reaches_the_server_exactly_as_composed(
    server: tuple[int, Path],
) -> None:
    port, maildir = server
    raw = (
        b"From: center@example.org\r\nTo: reader@example.org\r\nSubject: dots\r\n\r\n"
        b".a line that begins with a period\r\n.\r\nthe end\r\n"
    )
    payload, size = data_form(raw)
    connection = Connection("127.0.0.1", port)
    await connection.connect()
    try:
        for recipient in ("one@example.org", "two@example.org"):  # one connection, two messages
            await connection.envelope(
                smtp_path("center@example.org"), smtp_path(recipient), size
            )
            await connection.data()
            await connection.message(payload)
    finally:
        connection.close()
    messages = stored(maildir)
    assert len(messages) == 2
    for message in messages:
        parsed = email.message_from_bytes(message, policy=email.policy.default)
        assert parsed["Return-Path"] == "<center@example.org>"
        body = parsed.get_payload()
        assert body == ".a line that begins with a period\n.\nthe end\n"


async def test_a_refused_recipient_comes_back_with_its_code_and_the_connection_goes_on(
    server: tuple[int, Path],
) -> None:
    port, maildir = server
    payload, size = data_form(b"Subject: x\r\n\r\nx\r\n")
    connection = Connection("127.0.0.1", port)
    await connection.connect()
    try:
        with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
            await connection.envelope(
                smtp_path("center@example.org"), smtp_path("gone@example.org"), size
            )
        assert refused.value.code == 550
        await connection.smtp.rset()
        sender, recipient = smtp_path("center@example.org"), smtp_path("ok@example.org")
        await connection.envelope(sender, recipient, size)
        await connection.data()
        await connection.message(payload)
    finally:
        connection.close()
    assert len(stored(maildir)) == 1


async def test_a_message_on_a_closed_connection_raises_disconnected() -> None:
    connection = Connection("127.0.0.1", 9)
    with pytest.raises(aiosmtplib.SMTPServerDisconnected):
        await connection.message(b".\r\n")
