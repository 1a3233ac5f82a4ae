"""Proof of identity: issuing and verifying the short-lived signed tokens every service checks.

Tokens are JWTs signed with Ed25519 (EdDSA). Each issuer has a key pair; every service holds the
public keys (one `<issuer>.pub` PEM file per issuer in TOKEN_KEYS_DIR) and verifies each call
itself, offline, with no call to the issuer. The identity service signs for people and the kiosk;
a service may sign only for itself (kind `service`, subject its own name), so a stolen service
key cannot mint a staff member.

A Kafka command is judged at the time the broker appended it (command topics keep
LogAppendTime, which no producer can set), not when it is handled: a command that waited in a
backlog while its service was down still counts as sent by whoever signed it, and an old token
cannot be replayed later because the broker stamps the replay with the time of the replay.
"""

from __future__ import annotations

import base64
import fcntl
import functools
import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from contracts.identity import (
    AUTHORIZATION_HEADER,
    BEARER,
    MAX_TOKEN_LIFETIME_S,
    TOKEN_ALGORITHM,
    TOKEN_AUDIENCE,
    Actor,
    PrincipalKind,
    Role,
)
from services.runtime.secrets import SecretError, development_mode

PEOPLE_ISSUER = "identity"
MAX_TOKEN_BYTES = 4096
LEEWAY_S = 30  # clocks of two machines differ a little
KEYS_DIR_VARIABLE = "TOKEN_KEYS_DIR"
SIGNING_KEY_VARIABLE = "TOKEN_SIGNING_KEY_FILE"
DEV_KEYS_DIR = Path(__file__).resolve().parents[2] / ".local" / "secrets" / "tokens"


class ProofError(Exception):
    """A token that proves nothing. The message is safe to show and log (no token content)."""


@dataclass(frozen=True)
class Caller:
    """Who sent a request, as proven; `kind is None` is an anonymous caller."""

    kind: PrincipalKind | None
    subject: str = ""
    roles: frozenset[Role] = field(default_factory=frozenset)
    name: str | None = None

    @property
    def anonymous(self) -> bool:
        return self.kind is None

    def is_staff(self, *roles: Role) -> bool:
        """A staff member holding any of `roles` (any staff member when none is named)."""
        if self.kind is not PrincipalKind.STAFF:
            return False
        return not roles or bool(self.roles.intersection(roles))

    def is_organisation(self, organisation_id: UUID | None) -> bool:
        """The caller is that organisation: its token's subject is the organisation's id,
        however the id is written (capitals or not)."""
        if self.kind is not PrincipalKind.ORGANISATION or organisation_id is None:
            return False
        return self._subject_id == organisation_id

    def actor(self) -> Actor | None:
        return self._actor

    def label(self) -> str:
        """`kind:subject` for the audit and metrics; `anonymous` when nobody is proven."""
        return self._label

    # Worked out once per caller: a remembered token proves the same Caller object for each of
    # its commands, and every command asks these (a few microseconds a command otherwise).

    @functools.cached_property
    def _subject_id(self) -> UUID | None:
        try:
            return UUID(self.subject)
        except ValueError:
            return None

    @functools.cached_property
    def _actor(self) -> Actor | None:
        if self.kind is None:
            return None
        return Actor(kind=self.kind, subject=self.subject, name=self.name)

    @functools.cached_property
    def _label(self) -> str:
        return "anonymous" if self.kind is None else f"{self.kind.value}:{self.subject}"


ANONYMOUS = Caller(kind=None)

Allow = Callable[[Caller], bool]
"""Whether a proven caller may send a command or call a route; the message's own rules (which
organisation owns what) are checked by its handler with the same Caller."""


def anyone(caller: Caller) -> bool:
    return True


def signed_in(caller: Caller) -> bool:
    return not caller.anonymous


def staff(*roles: Role) -> Allow:
    """Staff holding any of `roles` (an administrator too, who may do what any role may)."""
    wanted = {*roles, Role.ADMINISTRATOR}

    def allow(caller: Caller) -> bool:
        return caller.is_staff(*wanted)

    return allow


def kinds(*wanted: PrincipalKind) -> Allow:
    def allow(caller: Caller) -> bool:
        return caller.kind in wanted

    return allow


def service_account(name: str) -> Allow:
    """The service `name` acting on its own account (a token it signed for itself)."""

    def allow(caller: Caller) -> bool:
        return caller.kind is PrincipalKind.SERVICE and caller.subject == name

    return allow


def either(*rules: Allow) -> Allow:
    def allow(caller: Caller) -> bool:
        return any(rule(caller) for rule in rules)

    return allow


# --- keys -------------------------------------------------------------------------------------


def generate_key_pair(directory: Path, issuer: str) -> None:
    """Write `<issuer>.key` (private, mode 0600) and `<issuer>.pub` unless both exist.

    Under a lock: two test stacks starting at once must not each write half of a pair."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        private_path, public_path = directory / f"{issuer}.key", directory / f"{issuer}.pub"
        if private_path.exists() and public_path.exists():
            return
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        descriptor = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(pem)
        public_path.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )


def ensure_development_keys(issuers: Iterable[str] = (PEOPLE_ISSUER,)) -> Path:
    """The development key pairs `make up` and the test stacks use, made when missing."""
    for issuer in issuers:
        generate_key_pair(DEV_KEYS_DIR, issuer)
    return DEV_KEYS_DIR


def keys_dir() -> Path:
    """TOKEN_KEYS_DIR, or the development directory `make up` fills (DEVELOPMENT=1 only)."""
    raw = os.environ.get(KEYS_DIR_VARIABLE, "").strip()
    if raw:
        return Path(raw)
    if development_mode():
        return DEV_KEYS_DIR
    raise SecretError(
        f"{KEYS_DIR_VARIABLE} is not set: it names the directory of the token issuers' public "
        f"keys (<issuer>.pub), or run with DEVELOPMENT=1 on a development machine"
    )


VERIFIED_CACHE = 4096


@dataclass(frozen=True)
class Keyring:
    """The public keys of the issuers a service trusts.

    A client sends many commands with one token, so what a token whose signature was checked
    proves is remembered (a bounded number): its signature and its claims are judged once, its
    times at every use."""

    keys: Mapping[str, Ed25519PublicKey]
    verified: dict[str, Proof] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def load(cls, directory: Path | None = None) -> Keyring:
        directory = directory or keys_dir()
        keys: dict[str, Ed25519PublicKey] = {}
        for path in sorted(directory.glob("*.pub")):
            key = serialization.load_pem_public_key(path.read_bytes())
            if not isinstance(key, Ed25519PublicKey):
                raise SecretError(f"{path} is not an Ed25519 public key")
            keys[path.stem] = key
        if PEOPLE_ISSUER not in keys:
            raise SecretError(
                f"no {PEOPLE_ISSUER}.pub in {directory}: no token could be verified "
                f"(`make up` makes the development keys)"
            )
        return cls(keys)

    def verify(self, token: str, at: datetime) -> Caller:
        """The caller `token` proves at time `at`, or ProofError saying why it proves nothing."""
        if len(token) > MAX_TOKEN_BYTES:
            raise ProofError("token too long")
        proof = self.verified.get(token)
        if proof is None:
            proof = judge(*self.check_signature(token))
            if len(self.verified) >= VERIFIED_CACHE:
                self.verified.clear()
            self.verified[token] = proof
        return proof.at(at)

    def check_signature(self, token: str) -> tuple[str, Mapping[str, object]]:
        try:
            issuer = unverified_issuer(token)
            if issuer is None or issuer not in self.keys:
                raise ProofError("token from an unknown issuer")
            claims = jwt.decode(
                token,
                self.keys[issuer],
                algorithms=[TOKEN_ALGORITHM],
                audience=TOKEN_AUDIENCE,
                issuer=issuer,
                options={
                    "require": ["exp", "iat", "sub", "iss", "aud"],
                    # judged at `at` below, not by the wall clock
                    "verify_exp": False,
                    "verify_iat": False,
                },
            )
        except ProofError:
            raise
        except (jwt.PyJWTError, ValueError, TypeError, RecursionError):
            raise ProofError("token invalid") from None
        return issuer, claims


def unverified_issuer(token: str) -> str | None:
    """Who the token says signed it, read from its claims before anything is verified: only to
    choose the key to verify it with (the verification then requires this very issuer). One
    base64 and JSON reading instead of a whole second pass of the JWT library."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    issuer = claims.get("iss") if isinstance(claims, dict) else None
    return issuer if isinstance(issuer, str) else None


@dataclass(frozen=True)
class Proof:
    """What a token whose signature holds proves, its claims judged once: who it names (or why it
    names nobody), and the times it holds between, judged at each use."""

    issued: float | None  # None: the claim was missing or not a number
    expires: float | None
    caller: Caller | None
    refusal: str = ""  # why the claims prove nobody, when caller is None

    def at(self, at: datetime) -> Caller:
        """The caller proven at time `at`, or ProofError saying why the token proves nothing."""
        if self.issued is None or self.expires is None:
            raise ProofError("token invalid")
        if self.expires - self.issued > MAX_TOKEN_LIFETIME_S:
            raise ProofError("token lives too long")
        now = at.timestamp()
        if now > self.expires + LEEWAY_S:
            raise ProofError("token expired")
        if now < self.issued - LEEWAY_S:
            raise ProofError("token not yet valid")
        if self.caller is None:
            raise ProofError(self.refusal)
        return self.caller


def judge(issuer: str, claims: Mapping[str, object]) -> Proof:
    """The proof in verified claims: the caller they name, once the issuer's authority over it
    is checked."""
    issued, expires = claims.get("iat"), claims.get("exp")
    if not isinstance(issued, int | float) or not isinstance(expires, int | float):
        issued = expires = None
    try:
        return Proof(issued, expires, caller=named_caller(issuer, claims))
    except ProofError as refused:
        return Proof(issued, expires, caller=None, refusal=str(refused))


def named_caller(issuer: str, claims: Mapping[str, object]) -> Caller:
    try:
        kind = PrincipalKind(str(claims.get("kind")))
        roles = frozenset(Role(str(role)) for role in _listed(claims.get("roles")))
    except ValueError:
        raise ProofError("token names an unknown kind or role") from None
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > 200:
        raise ProofError("token invalid")
    if issuer != PEOPLE_ISSUER and (kind is not PrincipalKind.SERVICE or subject != issuer):
        raise ProofError("issuer may sign only for itself")
    if roles and kind is not PrincipalKind.STAFF:
        raise ProofError("only staff hold roles")
    name = claims.get("name")
    return Caller(
        kind=kind,
        subject=subject,
        roles=roles,
        name=name[:200] if isinstance(name, str) else None,
    )


def _listed(value: object) -> Iterable[object]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ValueError("roles is no list")
    return value


def bearer_token(value: str | bytes | None) -> str | None:
    """The token of an `authorization` value, None when absent; ProofError when malformed."""
    if value is None:
        return None
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            raise ProofError("authorization is not ASCII") from None
    if not value.startswith(BEARER) or len(value) > MAX_TOKEN_BYTES + len(BEARER):
        raise ProofError("authorization is not a bearer token")
    return value[len(BEARER) :].strip()


@dataclass(frozen=True)
class Signer:
    """Issues tokens as one issuer: the identity service, or a service for itself."""

    issuer: str
    key: Ed25519PrivateKey

    @classmethod
    def load(cls, issuer: str, path: Path | None = None) -> Signer:
        raw = os.environ.get(SIGNING_KEY_VARIABLE, "").strip()
        if path is None and raw:
            path = Path(raw)
        if path is None:
            if not development_mode():
                raise SecretError(
                    f"{SIGNING_KEY_VARIABLE} is not set: it names {issuer}'s Ed25519 private key "
                    f"(PEM), or run with DEVELOPMENT=1 on a development machine"
                )
            path = ensure_development_keys([issuer]) / f"{issuer}.key"
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise SecretError(f"{SIGNING_KEY_VARIABLE} is not an Ed25519 private key")
        return cls(issuer, key)

    def issue(
        self,
        kind: PrincipalKind,
        subject: str,
        *,
        roles: Iterable[Role] = (),
        name: str | None = None,
        lifetime_s: int = 5 * 60,
        now: datetime | None = None,
    ) -> str:
        issued = int((now or datetime.now(UTC)).timestamp())
        claims: dict[str, object] = {
            "iss": self.issuer,
            "aud": TOKEN_AUDIENCE,
            "sub": subject,
            "kind": kind.value,
            "roles": sorted(role.value for role in roles),
            "iat": issued,
            "exp": issued + min(lifetime_s, MAX_TOKEN_LIFETIME_S),
            "jti": uuid4().hex,
        }
        if name:
            claims["name"] = name
        return jwt.encode(claims, self.key, algorithm=TOKEN_ALGORITHM)

    def own_proof(self) -> dict[str, str]:
        """The `authorization` header of a command the issuing service sends on its own account
        (kind service, subject itself), signed now for as long as a token may live: the outbox
        relay publishes it within moments."""
        token = self.issue(PrincipalKind.SERVICE, self.issuer, lifetime_s=MAX_TOKEN_LIFETIME_S)
        return {AUTHORIZATION_HEADER: authorization(token)}

    def public_key(self) -> Ed25519PublicKey:
        return self.key.public_key()


def authorization(token: str) -> str:
    """The header value carrying `token`."""
    return BEARER + token
