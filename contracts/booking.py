"""Messages of the booking service: `booking.commands` (key = space id) and `booking.events`.

Organisation commands carry no space; they are keyed by the contact e-mail (or unkeyed), and
their events by the organisation id. Outcome events repeat the command's `message_id` as
`request_id`, so a client that published a command finds its answer.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field, TypeAdapter

from contracts.envelope import Message, NonEmptyText


class OrganisationKind(StrEnum):
    NPO = "npo"
    CITIZEN_GROUP = "citizen_group"
    NEIGHBOURHOOD_ASSOCIATION = "neighbourhood_association"
    COMPANY = "company"
    UNIVERSITY = "university"
    PUBLIC_BODY = "public_body"
    OTHER = "other"


class SpaceId(StrEnum):
    """Bookable spaces. `ab` is Space A and Space B used together (DOMAIN.md, "Spaces")."""

    LAB = "lab"
    A = "a"
    B = "b"
    AB = "ab"


class Channel(StrEnum):
    WEB = "web"
    KIOSK = "kiosk"
    STAFF = "staff"


class RejectionReason(StrEnum):
    """Stable codes a client may branch on; the human-readable text travels in `detail`."""

    CONFLICT = "conflict"
    CLOSED = "closed"
    NOT_REGISTERED = "not_registered"
    CAPACITY = "capacity"
    INVALID = "invalid"


class Contact(BaseModel):
    """Who receives the organisation's e-mail. Travels only on topics the notify service reads."""

    model_config = ConfigDict(frozen=True)

    name: NonEmptyText
    email: EmailStr


# --- commands (booking.commands) ---------------------------------------------------------------


class RegisterOrganisation(Message):
    type: Literal["organisation.register"] = "organisation.register"
    name: NonEmptyText
    kind: OrganisationKind
    contact_name: NonEmptyText
    contact_email: EmailStr
    newsletter_consent: bool = False


class RequestReservation(Message):
    type: Literal["reservation.requested"] = "reservation.requested"
    organisation_id: UUID
    space: SpaceId
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    attendees: int
    purpose: str = Field(default="", max_length=500)
    atrium: bool = False
    channel: Channel = Channel.WEB
    session_id: UUID | None = None


class CancelReservation(Message):
    """Cancel by the organisation (channel web/kiosk) or by staff (channel staff)."""

    type: Literal["reservation.cancel"] = "reservation.cancel"
    reservation_id: UUID
    organisation_id: UUID | None = None  # required unless channel is staff: it must own it
    channel: Channel = Channel.WEB
    reason: str = Field(default="", max_length=500)


BookingCommandT = RegisterOrganisation | RequestReservation | CancelReservation
BookingCommand = Annotated[BookingCommandT, Field(discriminator="type")]
booking_command_adapter: TypeAdapter[BookingCommandT] = TypeAdapter(BookingCommand)


# --- events (booking.events) -------------------------------------------------------------------


class OrganisationRegistered(Message):
    type: Literal["organisation.registered"] = "organisation.registered"
    request_id: UUID
    organisation_id: UUID
    name: str
    kind: OrganisationKind
    contact: Contact
    newsletter_consent: bool = False


class Reservation(BaseModel):
    """A confirmed reservation as clients see it."""

    model_config = ConfigDict(frozen=True)

    organisation_id: UUID
    space: SpaceId
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    attendees: int
    purpose: str
    atrium: bool
    channel: Channel
    session_id: UUID | None = None


class ReservationConfirmed(Message):
    type: Literal["reservation.confirmed"] = "reservation.confirmed"
    request_id: UUID
    reservation_id: UUID
    reservation: Reservation
    contact: Contact | None = None


class ReservationRejected(Message):
    type: Literal["reservation.rejected"] = "reservation.rejected"
    request_id: UUID
    reason: RejectionReason
    detail: str
    organisation_id: UUID
    space: SpaceId
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    contact: Contact | None = None


class OrganisationUpdated(Message):
    """Contact details or newsletter consent changed; notify follows the consent."""

    type: Literal["organisation.updated"] = "organisation.updated"
    request_id: UUID
    organisation_id: UUID
    name: str
    contact: Contact
    newsletter_consent: bool


class ReservationCancelled(Message):
    type: Literal["reservation.cancelled"] = "reservation.cancelled"
    request_id: UUID
    reservation_id: UUID
    reservation: Reservation
    cancelled_by: Channel
    contact: Contact | None = None


BookingEventT = (
    OrganisationRegistered
    | OrganisationUpdated
    | ReservationConfirmed
    | ReservationRejected
    | ReservationCancelled
)
BookingEvent = Annotated[BookingEventT, Field(discriminator="type")]
booking_event_adapter: TypeAdapter[BookingEventT] = TypeAdapter(BookingEvent)
