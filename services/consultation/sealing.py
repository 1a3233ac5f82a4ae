"""Case content encrypted at rest (ARCHITECTURE.md, "Security": consultation content is
encrypted at rest with a key given to the service).

Each content field of a case (access.CONTENT: the requester's name and contact, the narrative,
the notes, the details of a referral) is sealed on its own with AES-256-GCM, authenticated
encryption from the `cryptography` package. The associated data binds a sealed value to its
case id and its field name: a value copied to another case or another field does not open, and
neither does one altered by a single bit.

A sealed value names the key that sealed it, so keys can be rotated without stopping the
service. The keys are given as `id:key` pairs, the first one sealing and every one listed
opening; a rotation goes in steps, each a rolling restart:
1. list the new key after the current one (`old:…,new:…`): every instance can open its values;
2. put it first (`new:…,old:…`): new values are sealed with it;
3. reseal the stored values (`reseal`, for those where `needs_reseal`);
4. drop the old key.

A sealed value is `1 | len(id) | id | nonce (12 bytes) | ciphertext and tag`. The nonce is
random: with about 1,000 cases a year a key seals far fewer than the 2^32 values a random
96-bit nonce is safe for. Errors never quote a key or a value.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re
from dataclasses import dataclass, field
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.runtime.secrets import DEVELOPMENT_VARIABLE, SecretError, development_mode

log = logging.getLogger(__name__)

FORMAT = 1
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_BYTES = 32
KEY_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")
BINDING = b"ycc/consultation/sealed-field/v1\x00"
KEYS_VARIABLE = "CONSULTATION_SEALING_KEYS"
DEV_KEY_ID = "development"
DEV_KEY = bytes(range(KEY_BYTES))
"""The development key: public, accepted only with DEVELOPMENT=1."""


class SealError(Exception):
    """A value that cannot be sealed or opened; the message holds no content and no key."""


@dataclass(frozen=True)
class SealingKeys:
    """The service's keys, the sealing one first; every one listed opens."""

    keys: tuple[tuple[str, bytes], ...]
    ciphers: dict[str, AESGCM] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.keys:
            raise SecretError("no sealing key given")
        ids = [kid for kid, _ in self.keys]
        if len(set(ids)) != len(ids):
            raise SecretError("a sealing key id is listed twice")
        for kid, key in self.keys:
            if not KEY_ID.fullmatch(kid):
                raise SecretError("a sealing key id must be 1-32 of a-z, 0-9, '.', '_', '-'")
            if len(key) != KEY_BYTES:
                raise SecretError(f"sealing key {kid} must be {KEY_BYTES} bytes")
            self.ciphers[kid] = AESGCM(key)

    def __repr__(self) -> str:
        return f"SealingKeys({[kid for kid, _ in self.keys]})"

    @property
    def current(self) -> str:
        return self.keys[0][0]

    @classmethod
    def parse(cls, text: str) -> SealingKeys:
        """`id:key,id:key`, keys in base64 (URL-safe or standard) of 32 bytes, first seals."""
        pairs: list[tuple[str, bytes]] = []
        for item in filter(None, (part.strip() for part in text.split(","))):
            kid, _, encoded = item.partition(":")
            try:
                key = base64.urlsafe_b64decode(_padded(encoded.replace("+", "-").replace("/", "_")))
            except (binascii.Error, ValueError):
                raise SecretError(f"sealing key {kid.strip()} is not base64") from None
            pairs.append((kid.strip(), key))
        return cls(tuple(pairs))


def _padded(encoded: str) -> str:
    encoded = encoded.strip().rstrip("=")
    return encoded + "=" * (-len(encoded) % 4)


def load_keys() -> SealingKeys:
    """The keys in CONSULTATION_SEALING_KEYS; outside development mode they must be given and
    must not include the public development key."""
    raw = os.environ.get(KEYS_VARIABLE, "").strip()
    if not raw:
        if development_mode():
            log.warning("%s is not set: using the development key (DEVELOPMENT=1)", KEYS_VARIABLE)
            return SealingKeys(((DEV_KEY_ID, DEV_KEY),))
        raise SecretError(
            f"{KEYS_VARIABLE} is not set; give it as id:key (32 random bytes in base64, e.g. "
            f"`python -c 'import os, base64; print(base64.urlsafe_b64encode(os.urandom(32))"
            f".decode())'`), or run with {DEVELOPMENT_VARIABLE}=1 on a development machine"
        )
    keys = SealingKeys.parse(raw)
    if not development_mode() and any(key == DEV_KEY for _, key in keys.keys):
        raise SecretError(f"{KEYS_VARIABLE} holds the public development key")
    return keys


def _header(kid: str) -> bytes:
    encoded = kid.encode("ascii")
    return bytes((FORMAT, len(encoded))) + encoded


def _binding(header: bytes, case_id: UUID, field_name: str) -> bytes:
    """What a sealed value is bound to: its header, its case and its field. The case id has a
    fixed length, so the field name, last, cannot be shifted into it."""
    return BINDING + header + case_id.bytes + field_name.encode("utf-8")


def key_id_of(sealed: bytes) -> str:
    """The id of the key that sealed a value."""
    if len(sealed) < 2 or sealed[0] != FORMAT:
        raise SealError("not a sealed value of a known format")
    end = 2 + sealed[1]
    if len(sealed) < end + NONCE_BYTES + TAG_BYTES:
        raise SealError("sealed value too short")
    try:
        return sealed[2:end].decode("ascii")
    except UnicodeDecodeError:
        raise SealError("not a sealed value of a known format") from None


def seal(keys: SealingKeys, case_id: UUID, field_name: str, plaintext: str) -> bytes:
    """Seal one field of one case with the current key."""
    header = _header(keys.current)
    nonce = os.urandom(NONCE_BYTES)
    sealed = keys.ciphers[keys.current].encrypt(
        nonce, plaintext.encode("utf-8"), _binding(header, case_id, field_name)
    )
    return header + nonce + sealed


def unseal(keys: SealingKeys, case_id: UUID, field_name: str, sealed: bytes) -> str:
    """Open a sealed field of a case with whichever listed key sealed it. SealError when the
    key is not listed, or the value was altered or belongs to another case or field."""
    kid = key_id_of(sealed)
    cipher = keys.ciphers.get(kid)
    if cipher is None:
        named = kid if KEY_ID.fullmatch(kid) else "of no valid id"
        raise SealError(f"sealed with a key {named}, which is not among the service's keys")
    start = 2 + sealed[1]
    header, nonce = sealed[:start], sealed[start : start + NONCE_BYTES]
    body = sealed[start + NONCE_BYTES :]
    try:
        plain = cipher.decrypt(nonce, body, _binding(header, case_id, field_name))
    except InvalidTag:
        raise SealError(
            "sealed value does not open: altered, or of another case or field"
        ) from None
    return plain.decode("utf-8")


def needs_reseal(keys: SealingKeys, sealed: bytes) -> bool:
    """Sealed with a key other than the current one (step 3 of a rotation)."""
    return key_id_of(sealed) != keys.current


def reseal(keys: SealingKeys, case_id: UUID, field_name: str, sealed: bytes) -> bytes:
    """The value sealed again with the current key; unchanged when it already is."""
    if not needs_reseal(keys, sealed):
        return sealed
    return seal(keys, case_id, field_name, unseal(keys, case_id, field_name, sealed))
