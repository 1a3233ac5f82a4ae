"""E-mail addresses as identity takes them: the address a link is sent to, the subject of a
citizen's session, the key an organisation's contact is found by.

One rule for all three: the address must be one plain SMTP can carry (an ASCII part before the
@, as notify requires for its mail; a domain in another script is taken in its ASCII form), and
it is compared in lower case, so one mailbox is one citizen however it is typed. Checked by the
`email` package's rules through email-validator, which refuses line breaks and anything else
that could end a header early, so an address can never add a header to the mail it receives.
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

MAX_ADDRESS = 254  # RFC 5321's limit on a path, less the angle brackets
LOCAL_PART_MAX = 64  # RFC 5321, 4.5.3.1.1


class AddressRefused(ValueError):
    """Not an address the center can write to; the text is safe to show (it never quotes it)."""


def normalise(address: str) -> str:
    text = address.strip()
    if not text or len(text) > MAX_ADDRESS:
        raise AddressRefused("an e-mail address has 3 to 254 characters")
    local, at, _ = text.rpartition("@")
    if not at or not local.isascii():
        raise AddressRefused(
            "the part of the e-mail address before the @ may contain only ASCII letters, "
            "digits and symbols"
        )
    try:
        checked = validate_email(text, allow_smtputf8=False, check_deliverability=False)
    except EmailNotValidError:
        raise AddressRefused("not a valid e-mail address") from None
    if len(checked.local_part) > LOCAL_PART_MAX:
        raise AddressRefused("the part before the @ has at most 64 characters")
    return f"{checked.local_part}@{checked.ascii_domain}".lower()


def key_of(address: str) -> str | None:
    """The lookup key of an address that came from elsewhere (an organisation's contact), or
    None when the center could not write to it anyway."""
    try:
        return normalise(address)
    except AddressRefused:
        return None
