"""Proof of identity for tests: tokens minted with the development key pair every stack uses."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from contracts.identity import AUTHORIZATION_HEADER, PrincipalKind, Role
from services.runtime.identity import Keyring, Signer, authorization, ensure_development_keys


def keyring() -> Keyring:
    return Keyring.load(ensure_development_keys())


def signer() -> Signer:
    return Signer.load("identity", ensure_development_keys() / "identity.key")


def token(
    kind: PrincipalKind,
    subject: str | UUID,
    roles: Iterable[Role] = (),
    *,
    name: str | None = None,
    now: datetime | None = None,
) -> str:
    return signer().issue(kind, str(subject), roles=roles, name=name, now=now)


def staff_token(
    *roles: Role, subject: str = "staff-1", name: str = "Test Staff", now: datetime | None = None
) -> str:
    """`now` is the time of the service that will judge the token (a service whose clock a
    test moved judges by its own time)."""
    return token(PrincipalKind.STAFF, subject, roles or (Role.COORDINATOR,), name=name, now=now)


def organisation_token(organisation_id: UUID | str) -> str:
    return token(PrincipalKind.ORGANISATION, organisation_id)


def kiosk_token() -> str:
    return token(PrincipalKind.DEVICE, "kiosk-lab")


def kafka_headers(bearer: str) -> dict[str, str]:
    """Kafka record headers carrying `bearer` as the proof of who sends the command."""
    return {AUTHORIZATION_HEADER: authorization(bearer)}


def http_headers(bearer: str) -> dict[str, str]:
    return {"Authorization": authorization(bearer)}
