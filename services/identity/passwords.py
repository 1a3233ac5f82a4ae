"""Staff passwords: argon2id hashes, checked with equal work whether or not the account exists.

Parameters: argon2-cffi's default profile, RFC 9106's "second recommended option" (argon2id,
t=3, m=64 MiB, p=4), stronger than OWASP's minimum (m=19 MiB, t=2, p=1). A stored hash records the
parameters it was made with; when they change (a stronger profile later), a successful sign-in
hashes the password again under the new ones (`Verdict.rehash`), so stored hashes follow the
policy without anyone resetting a password.

An unknown username is checked against a hash of a random password made at start-up: the answer
takes as long as for a real account, so timing does not tell whether a username exists.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.profiles import RFC_9106_LOW_MEMORY

MIN_LENGTH = 12  # NIST SP 800-63B asks for at least 8; staff accounts guard personal data
MAX_LENGTH = 256  # long enough for any passphrase, short enough that hashing it costs nothing more

HASHER = PasswordHasher.from_parameters(RFC_9106_LOW_MEMORY)


@dataclass(frozen=True)
class Verdict:
    """`ok`: the password matches. `rehash`: a new hash to store (the stored one was made under
    older parameters), or None."""

    ok: bool
    rehash: str | None = None


def hash_password(password: str, hasher: PasswordHasher = HASHER) -> str:
    return hasher.hash(password)


def verify(stored: str, password: str, hasher: PasswordHasher = HASHER) -> Verdict:
    """Whether `password` matches `stored`; a damaged stored hash matches nothing."""
    try:
        hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return Verdict(ok=False)
    if hasher.check_needs_rehash(stored):
        return Verdict(ok=True, rehash=hasher.hash(password))
    return Verdict(ok=True)


def decoy_hash(hasher: PasswordHasher = HASHER) -> str:
    """A hash no typed password matches, checked for unknown usernames (equal work)."""
    return hasher.hash(secrets.token_urlsafe(32))


def password_problem(password: str, username: str) -> str | None:
    """Why a new password is refused, in words for the person choosing it; None when it is fine."""
    if len(password) < MIN_LENGTH:
        return f"a password has at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"a password has at most {MAX_LENGTH} characters"
    if password.strip().lower() == username.strip().lower():
        return "the password must differ from the username"
    if len(set(password)) < 4:
        return "the password repeats too few characters"
    if "\x00" in password:
        return "the password must not contain the NUL character"
    return None
