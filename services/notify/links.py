"""Signed links: confirmation, one-click unsubscribe and the open-tracking pixel.

A link carries what it acts on (a subscriber, a delivery) and its HMAC under NOTIFY_SIGNING_KEY,
so the service needs no table of tokens and a forged or altered link is refused before anything
changes. The purpose is part of what is signed: an unsubscribe token cannot confirm, nor the other
way round. Pure functions; the key is passed in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime

MAC_BYTES = 16  # 128 bits: forging is out of reach, and links stay short enough to read


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(key: bytes, purpose: str, *fields: str | int) -> str:
    payload = ":".join([purpose, *(str(f) for f in fields)]).encode()
    mac = hmac.new(key, payload, hashlib.sha256).digest()[:MAC_BYTES]
    return f"{_b64(payload)}.{_b64(mac)}"


def verify(key: bytes, token: str, purpose: str) -> list[str] | None:
    """The signed fields, or None when the token is malformed, forged or for another purpose."""
    try:
        payload_part, mac_part = token.split(".")
        payload, mac = _unb64(payload_part), _unb64(mac_part)
    except ValueError:
        return None
    expected = hmac.new(key, payload, hashlib.sha256).digest()[:MAC_BYTES]
    if not hmac.compare_digest(mac, expected):
        return None
    parts = payload.decode(errors="replace").split(":")
    if parts[0] != purpose:
        return None
    return parts[1:]


def confirm_token(key: bytes, subscriber_id: int, generation: int, expires_at: datetime) -> str:
    return sign(key, "confirm", subscriber_id, generation, int(expires_at.timestamp()))


def read_confirm_token(key: bytes, token: str, now: datetime) -> tuple[int, int] | None:
    """(subscriber id, generation) of a genuine, unexpired confirmation token."""
    fields = verify(key, token, "confirm")
    if fields is None or len(fields) != 3 or not all(f.isdigit() for f in fields):
        return None
    subscriber_id, generation, expires = (int(f) for f in fields)
    if now.timestamp() > expires:
        return None
    return subscriber_id, generation


def unsubscribe_token(key: bytes, subscriber_id: int) -> str:
    """No expiry: an unsubscribe link in a year-old issue must still work."""
    return sign(key, "unsubscribe", subscriber_id)


def read_unsubscribe_token(key: bytes, token: str) -> int | None:
    fields = verify(key, token, "unsubscribe")
    if fields is None or len(fields) != 1 or not fields[0].isdigit():
        return None
    return int(fields[0])


def open_token(key: bytes, delivery_id: int) -> str:
    return sign(key, "open", delivery_id)


def read_open_token(key: bytes, token: str) -> int | None:
    fields = verify(key, token, "open")
    if fields is None or len(fields) != 1 or not fields[0].isdigit():
        return None
    return int(fields[0])
