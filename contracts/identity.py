"""Who is asking: identities, roles and the proof every service checks (ARCHITECTURE.md).

A caller proves who it is with a short-lived token signed by an issuer whose public key the
services hold: the identity service for people (staff, organisation contacts, citizens) and
devices (the Lab kiosk), and a service for itself when it sends a command on its own account. The
token travels in the `authorization` header, of an HTTP request or of a Kafka record, as
`Bearer <token>`. Nothing a client writes in a message body (a `channel`, an `organisation_id`)
counts as proof; it is checked against the token.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from contracts.envelope import NonEmptyText

AUTHORIZATION_HEADER = "authorization"
"""The Kafka header (and HTTP header) carrying `Bearer <token>`."""

BEARER = "Bearer "
TOKEN_AUDIENCE = "ycc"
TOKEN_ALGORITHM = "EdDSA"
MAX_TOKEN_LIFETIME_S = 15 * 60
"""No token lives longer: a token copied from a log or a screen is soon worthless."""


class PrincipalKind(StrEnum):
    STAFF = "staff"
    ORGANISATION = "organisation"  # the registered contact of an organisation
    CITIZEN = "citizen"  # a person managing their own registrations, known by e-mail
    DEVICE = "device"  # the kiosk at the Lab reception
    SERVICE = "service"  # a service acting on its own account (events booking a venue)


class Role(StrEnum):
    """Staff roles (DOMAIN.md, "Staff"); a staff member may hold several."""

    RECEPTION = "reception"
    COORDINATOR = "coordinator"
    CHIEF_COORDINATOR = "chief_coordinator"
    PROGRAM_STAFF = "program_staff"
    NEWSLETTER_EDITOR = "newsletter_editor"
    ADMINISTRATOR = "administrator"
    AUDITOR = "auditor"  # reads the audit, changes nothing


class Actor(BaseModel):
    """Who did something, as an event records it: proven by a token, never taken from a body."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: PrincipalKind
    subject: NonEmptyText
    name: str | None = Field(default=None, max_length=200)
