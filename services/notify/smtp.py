"""One SMTP connection as the sender drives it: the envelope, DATA, then the message, each step
its own call, so the sender can settle the previous message's mark between DATA and the message's
end, the moment the server would take it.

aiosmtplib keeps the connection (greeting, EHLO, extensions, replies and their limits, a dropped
connection noticed); the transaction's commands are written here from bytes made once, because
its convenience calls parse both addresses again and normalise every message's line endings,
together a fifth of the sender's CPU per message. A message is put in DATA's form by
`data_form`, which rewrites line ends only when the message has a bare one (ours are built with
CRLF) and doubles leading periods with one replacement over the bytes.
"""

from __future__ import annotations

import re

import aiosmtplib

# an address written into MAIL FROM or RCPT TO as it is: a dot-atom local part (RFC 5321, 4.1.2;
# no quoted one), one @, a domain name; nothing that could end the path or the command early
PATH = re.compile(rb"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9.-]{1,253}")
LINE_END = re.compile(rb"\r\n|\r|\n")


def smtp_path(address: str) -> bytes:
    """`<address>` for MAIL FROM and RCPT TO. UnicodeEncodeError for an address plain SMTP
    cannot carry, ValueError for one that would not be read as one path."""
    encoded = address.encode("ascii")
    if not PATH.fullmatch(encoded):
        raise ValueError("not an address SMTP can carry as it is")
    return b"<" + encoded + b">"


def data_form(raw: bytes) -> tuple[bytes, int]:
    """The message as DATA transmits it (RFC 5321, 4.5.2), ended by the line with one period,
    and its size for the SIZE option (RFC 1870: with CRLF line ends, without the periods added
    and the final line)."""
    if raw.count(b"\r\n") != raw.count(b"\n") or raw.count(b"\r") != raw.count(b"\n"):
        raw = LINE_END.sub(b"\r\n", raw)
    if not raw.endswith(b"\r\n"):
        raw += b"\r\n"
    size = len(raw)
    stuffed = raw.replace(b"\r\n.", b"\r\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    return stuffed + b".\r\n", size


def expect(response: aiosmtplib.SMTPResponse, *codes: int) -> None:
    if response.code not in codes:
        raise aiosmtplib.SMTPResponseException(response.code, response.message)


class Connection:
    """The SMTP connection of one sender worker. Each step raises
    aiosmtplib.SMTPResponseException with the server's code when it refuses, and
    SMTPServerDisconnected (or OSError) when the connection is gone."""

    def __init__(self, host: str, port: int) -> None:
        # no timeout of aiosmtplib's own (a timer task for every command): the sender bounds
        # each step of an exchange itself
        self.smtp = aiosmtplib.SMTP(hostname=host, port=port, timeout=None)

    @property
    def is_connected(self) -> bool:
        return self.smtp.is_connected

    async def connect(self) -> None:
        await self.smtp.connect()

    def close(self) -> None:
        if self.smtp.is_connected:
            self.smtp.close()

    async def envelope(self, sender: bytes, recipient: bytes, size: int) -> None:
        """MAIL FROM and RCPT TO, the paths as `smtp_path` makes them."""
        size_option = (b"SIZE=%d" % size,) if self.smtp.supports_extension("size") else ()
        expect(await self.smtp.execute_command(b"MAIL", b"FROM:" + sender, *size_option), 250)
        expect(await self.smtp.execute_command(b"RCPT", b"TO:" + recipient), 250, 251)

    async def data(self) -> None:
        """DATA: the server now waits for the message."""
        expect(await self.smtp.execute_command(b"DATA"), 354)

    async def message(self, payload: bytes) -> None:
        """The message in `data_form` and the server's answer: accepted, or raises."""
        protocol = self.smtp.protocol
        if protocol is None:
            raise aiosmtplib.SMTPServerDisconnected("connection lost before the message")
        protocol.write(payload)
        # read_response expects its reply from here on; nothing can arrive before it is called,
        # as nothing runs between the write and this call
        expect(await protocol.read_response(), 250)
