"""Tokens prove who calls: signed by a known issuer, fresh at the time judged, within authority."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contracts.identity import PrincipalKind, Role
from services.runtime.identity import (
    ANONYMOUS,
    Caller,
    Keyring,
    ProofError,
    Signer,
    bearer_token,
    generate_key_pair,
    service_account,
    staff,
)
from services.runtime.secrets import SecretError

NOW = datetime(2026, 4, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    generate_key_pair(tmp_path, "identity")
    generate_key_pair(tmp_path, "events")
    return tmp_path


def claims_of(roles: list[str], lifetime_s: int) -> dict[str, object]:
    issued = int(NOW.timestamp())
    return {
        "iss": "identity",
        "aud": "ycc",
        "sub": "s",
        "kind": "staff",
        "roles": roles,
        "iat": issued,
        "exp": issued + lifetime_s,
    }


def signer(keys: Path, issuer: str = "identity") -> Signer:
    return Signer.load(issuer, keys / f"{issuer}.key")


def test_a_staff_token_proves_the_member_and_roles(keys: Path) -> None:
    token = signer(keys).issue(
        PrincipalKind.STAFF, "s-1", roles=[Role.COORDINATOR], name="Sato", now=NOW
    )
    caller = Keyring.load(keys).verify(token, NOW + timedelta(minutes=1))
    assert caller.is_staff(Role.COORDINATOR)
    assert not caller.is_staff(Role.ADMINISTRATOR)
    assert caller.actor() is not None and caller.actor().name == "Sato"


def test_an_expired_token_proves_nothing(keys: Path) -> None:
    token = signer(keys).issue(PrincipalKind.STAFF, "s-1", lifetime_s=60, now=NOW)
    with pytest.raises(ProofError, match="expired"):
        Keyring.load(keys).verify(token, NOW + timedelta(minutes=5))


def test_a_token_is_judged_at_the_given_time_not_now(keys: Path) -> None:
    token = signer(keys).issue(PrincipalKind.DEVICE, "kiosk-1", lifetime_s=60, now=NOW)
    assert Keyring.load(keys).verify(token, NOW).kind is PrincipalKind.DEVICE


def test_a_token_signed_by_another_key_is_refused(keys: Path) -> None:
    forged = Signer("identity", Ed25519PrivateKey.generate()).issue(
        PrincipalKind.STAFF, "s-1", roles=[Role.ADMINISTRATOR], now=NOW
    )
    with pytest.raises(ProofError, match="invalid"):
        Keyring.load(keys).verify(forged, NOW)


def test_an_unsigned_token_is_refused(keys: Path) -> None:
    claims = {
        "iss": "identity",
        "aud": "ycc",
        "sub": "s",
        "kind": "staff",
        "roles": ["administrator"],
        "iat": int(NOW.timestamp()),
        "exp": int(NOW.timestamp()) + 60,
    }
    unsigned = jwt.encode(claims, None, algorithm="none")
    with pytest.raises(ProofError):
        Keyring.load(keys).verify(unsigned, NOW)


def test_a_service_may_sign_only_for_itself(keys: Path) -> None:
    ring = Keyring.load(keys)
    own = signer(keys, "events").issue(PrincipalKind.SERVICE, "events", now=NOW)
    assert ring.verify(own, NOW).kind is PrincipalKind.SERVICE
    staff_by_service = signer(keys, "events").issue(
        PrincipalKind.STAFF, "s-1", roles=[Role.ADMINISTRATOR], now=NOW
    )
    with pytest.raises(ProofError, match="only for itself"):
        ring.verify(staff_by_service, NOW)


def test_only_staff_hold_roles(keys: Path) -> None:
    token = signer(keys).issue(
        PrincipalKind.ORGANISATION, "o-1", roles=[Role.ADMINISTRATOR], now=NOW
    )
    with pytest.raises(ProofError, match="only staff"):
        Keyring.load(keys).verify(token, NOW)


def test_a_token_claiming_a_long_life_is_refused(keys: Path) -> None:
    key = signer(keys).key
    claims = {
        "iss": "identity",
        "aud": "ycc",
        "sub": "s",
        "kind": "staff",
        "roles": [],
        "iat": int(NOW.timestamp()),
        "exp": int(NOW.timestamp()) + 86400,
    }
    with pytest.raises(ProofError, match="too long"):
        Keyring.load(keys).verify(jwt.encode(claims, key, algorithm="EdDSA"), NOW)


@pytest.mark.parametrize("value", [b"Basic abc", b"\xff\xfe", "Bearer " + "x" * 5000])
def test_a_malformed_authorization_value_is_refused(value: str | bytes) -> None:
    with pytest.raises(ProofError):
        bearer_token(value)


def test_no_authorization_value_is_an_anonymous_caller() -> None:
    assert bearer_token(None) is None
    assert ANONYMOUS.anonymous and not staff()(ANONYMOUS)


def test_an_administrator_may_do_what_any_staff_role_may(keys: Path) -> None:
    admin = Keyring.load(keys).verify(
        signer(keys).issue(PrincipalKind.STAFF, "a", roles=[Role.ADMINISTRATOR], now=NOW), NOW
    )
    assert staff(Role.NEWSLETTER_EDITOR)(admin)


def test_outside_development_the_keys_must_be_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEVELOPMENT", raising=False)
    monkeypatch.delenv("TOKEN_KEYS_DIR", raising=False)
    monkeypatch.delenv("TOKEN_SIGNING_KEY_FILE", raising=False)
    with pytest.raises(SecretError, match="TOKEN_KEYS_DIR"):
        Keyring.load()
    with pytest.raises(SecretError, match="TOKEN_SIGNING_KEY_FILE"):
        Signer.load("identity")


def test_a_keys_directory_without_the_people_issuer_is_refused(tmp_path: Path) -> None:
    generate_key_pair(tmp_path, "events")
    with pytest.raises(SecretError, match=r"identity\.pub"):
        Keyring.load(tmp_path)


def test_a_verified_token_is_checked_again_for_time_at_every_use(keys: Path) -> None:
    ring = Keyring.load(keys)
    token = signer(keys).issue(PrincipalKind.DEVICE, "kiosk-1", lifetime_s=60, now=NOW)
    assert ring.verify(token, NOW).subject == "kiosk-1"
    with pytest.raises(ProofError, match="expired"):
        ring.verify(token, NOW + timedelta(minutes=10))  # remembered, yet expired


def test_a_remembered_token_whose_claims_prove_nobody_is_refused_at_every_use(
    keys: Path,
) -> None:
    ring = Keyring.load(keys)
    token = signer(keys, "events").issue(PrincipalKind.STAFF, "s-1", lifetime_s=60, now=NOW)
    for _ in range(2):  # the second time from what the ring remembers
        with pytest.raises(ProofError, match="only for itself"):
            ring.verify(token, NOW)
    with pytest.raises(ProofError, match="expired"):  # its time is judged first, as before
        ring.verify(token, NOW + timedelta(minutes=10))


def test_a_remembered_token_proves_the_same_caller_as_at_its_first_use(keys: Path) -> None:
    ring = Keyring.load(keys)
    token = signer(keys).issue(PrincipalKind.STAFF, "s-1", roles=[Role.RECEPTION], now=NOW)
    first = ring.verify(token, NOW)
    assert ring.verify(token, NOW + timedelta(seconds=1)) == first
    assert first.roles == frozenset({Role.RECEPTION})


def test_a_service_account_rule_admits_that_service_acting_for_itself_only() -> None:
    rule = service_account("consultation")
    assert rule(Caller(kind=PrincipalKind.SERVICE, subject="consultation"))
    assert not rule(Caller(kind=PrincipalKind.SERVICE, subject="events"))
    assert not rule(Caller(kind=PrincipalKind.STAFF, subject="consultation",
                           roles=frozenset({Role.ADMINISTRATOR})))  # fmt: skip
    assert not rule(ANONYMOUS)


def test_a_service_proves_commands_on_its_own_account_as_itself(tmp_path: Path) -> None:
    generate_key_pair(tmp_path, "identity")
    generate_key_pair(tmp_path, "events")
    proof = Signer.load("events", tmp_path / "events.key").own_proof()
    token = bearer_token(proof["authorization"])
    assert token is not None
    caller = Keyring.load(tmp_path).verify(token, datetime.now(UTC))
    assert (caller.kind, caller.subject) == (PrincipalKind.SERVICE, "events")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "payload",
    [
        b"[" * 3000 + b"]" * 3000,  # nested deeper than a JSON reader recurses
        b'["identity"]',  # claims that are no object
        b'{"iss": 7}',
        b'{"iss": "nobody"}',
        b"\xff\xfe",
        b"",
    ],
)
def test_a_token_whose_claims_cannot_name_a_known_issuer_is_refused(
    keys: Path, payload: bytes
) -> None:
    header = b64(b'{"alg":"EdDSA","typ":"JWT"}')
    token = f"{header}.{b64(payload)}.{b64(b'sig')}"
    with pytest.raises(ProofError):
        Keyring.load(keys).verify(token, NOW)


def test_a_token_naming_one_issuer_and_signed_by_another_is_refused(keys: Path) -> None:
    """The issuer read before verifying only chooses the key: a service's signature over claims
    naming the people's issuer verifies under no key it could be checked with."""
    claims = claims_of(["administrator"], 60)
    forged = jwt.encode(claims, signer(keys, "events").key, algorithm="EdDSA")
    with pytest.raises(ProofError, match="invalid"):
        Keyring.load(keys).verify(forged, NOW)
