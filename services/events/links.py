"""The registrants' signed links: cancel a registration, answer an offer.

A token names the registration and what it may do, with an HMAC under EVENTS_SIGNING_KEY, so
the service keeps no table of tokens and a forged or altered one is refused before anything
changes. The purpose is signed too: a cancel token cannot accept an offer, nor the other way
round. The token travels in the registrant's e-mail (through notify); the web client sends it
back in `registration.cancel` / `registration.accept_offer` / `registration.decline_offer`.
Pure functions; the key is passed in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from uuid import UUID

MAC_BYTES = 16
CANCEL = "cancel"
OFFER = "offer"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()[:MAC_BYTES]


def token(key: bytes, purpose: str, registration_id: UUID) -> str:
    payload = f"{purpose}:{registration_id}".encode()
    return f"{_b64(payload)}.{_b64(_mac(key, payload))}"


def proves(key: bytes, given: str | None, purpose: str, registration_id: UUID) -> bool:
    """Whether `given` is the genuine token for this registration and purpose (compared in
    constant time: the expected token is recomputed, never parsed out of what was sent)."""
    if not given:
        return False
    return hmac.compare_digest(given.encode(), token(key, purpose, registration_id).encode())
