"""Proof of identity for tests: tokens minted with the development key pair every stack uses."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from contracts.booking import (
    CancelReservation,
    Channel,
    CloseRegistrationRequest,
    LabCheckIn,
    LabCheckOut,
    LiftBlackout,
    RegisterOrganisation,
    ReinstateOrganisation,
    RenewOrganisation,
    RequestReservation,
    SetBlackout,
    SuspendOrganisation,
    UpdateOrganisation,
)
from contracts.envelope import Message
from contracts.identity import AUTHORIZATION_HEADER, PrincipalKind, Role
from contracts.notify import PublishNewsletter, RequestAcknowledgement, RequestExpertReminder
from contracts.program import (
    CancelProgram,
    CancelSession,
    ChangeProgram,
    ChangeSession,
    CheckIn,
    CreateProgram,
    PublishProgram,
)
from services.registry import token_issuers
from services.runtime.identity import (
    PEOPLE_ISSUER,
    Keyring,
    Signer,
    authorization,
    ensure_development_keys,
)


def keyring() -> Keyring:
    """The public keys of the people's issuer and of every service that signs for itself."""
    return Keyring.load(ensure_development_keys([PEOPLE_ISSUER, *token_issuers()]))


@functools.cache
def signer() -> Signer:
    return Signer.load("identity", ensure_development_keys() / "identity.key")


@functools.cache
def service_signer(name: str) -> Signer:
    return Signer.load(name, ensure_development_keys([name]) / f"{name}.key")


def service_token(name: str) -> str:
    """What the service `name` signs for itself to send a command on its own account."""
    return service_signer(name).issue(PrincipalKind.SERVICE, name)


REUSE_FOR_S = 60.0  # a client keeps its token for a while, as a real one would
_minted: dict[tuple[object, ...], tuple[float, str]] = {}


def token(
    kind: PrincipalKind,
    subject: str | UUID,
    roles: Iterable[Role] = (),
    *,
    name: str | None = None,
    now: datetime | None = None,
) -> str:
    """A token for the caller; a fresh one when `now` is given, else one minted in the last
    minute for the same caller (load generators send thousands of commands a second)."""
    if now is not None:
        return signer().issue(kind, str(subject), roles=roles, name=name, now=now)
    key = (kind, str(subject), tuple(sorted(roles)), name)
    minted = _minted.get(key)
    if minted is None or time.monotonic() - minted[0] > REUSE_FOR_S:
        if len(_minted) > 10_000:
            _minted.clear()
        minted = (time.monotonic(), signer().issue(kind, str(subject), roles=roles, name=name))
        _minted[key] = minted
    return minted[1]


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


def kafka_headers(bearer: str | None) -> dict[str, str]:
    """Kafka record headers carrying `bearer` as the proof of who sends the command."""
    return {} if bearer is None else {AUTHORIZATION_HEADER: authorization(bearer)}


def http_headers(bearer: str) -> dict[str, str]:
    return {"Authorization": authorization(bearer)}


DESK_ROLES = (Role.RECEPTION, Role.COORDINATOR)


def token_for(message: Message) -> str | None:
    """The proof a real sender of `message` would hold: what the tests written before commands
    carried proof said with `channel` (web: the organisation itself; staff), and for the other
    commands the staff member or device who sends them. Events need none. A request written
    for the kiosk is sent by its organisation: the kiosk device itself only checks people in
    and out of the Lab."""
    if isinstance(message, RequestReservation | CancelReservation):
        if message.channel is Channel.STAFF or message.organisation_id is None:
            return staff_token(*DESK_ROLES)
        return organisation_token(message.organisation_id)
    if isinstance(message, LabCheckIn | LabCheckOut):
        return kiosk_token()
    if isinstance(message, PROGRAM_PLANNING):
        return staff_token(Role.PROGRAM_STAFF, subject="program-staff-1")
    if isinstance(message, CheckIn):
        return kiosk_token()
    if isinstance(message, PublishNewsletter):
        return staff_token(Role.NEWSLETTER_EDITOR, subject="editor-1")
    if isinstance(message, RequestAcknowledgement | RequestExpertReminder):
        return service_token("consultation")
    if isinstance(message, DESK_COMMANDS):
        return staff_token(*DESK_ROLES)
    return None


PROGRAM_PLANNING = (CreateProgram, PublishProgram, ChangeProgram, CancelProgram, ChangeSession,
                    CancelSession)  # fmt: skip
"""What program staff send; registrations need no proof (the web client sends them for anyone)
and a registrant's cancellation carries its signed link."""

DESK_COMMANDS = (RegisterOrganisation, UpdateOrganisation, RenewOrganisation,
                 SuspendOrganisation, ReinstateOrganisation, SetBlackout, LiftBlackout,
                 CloseRegistrationRequest)  # fmt: skip
"""What the desk and the coordinators send (DESK_ROLES holds a coordinator's role)."""
