"""Messages of the booking service: `booking.commands` (key = space id) and `booking.events`.

Organisation commands carry no space; they are keyed by the contact e-mail (or unkeyed), and
their events by the organisation id. Outcome events repeat the command's `message_id` as
`request_id`, so a client that published a command finds its answer.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, EmailStr, Field, TypeAdapter

from contracts.envelope import Day, Instant, Message, NonEmptyText, Text
from contracts.identity import Actor

LAB_KEY = "lab"


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
    """Where a request came from. Booking takes it from the sender's proven identity (an
    organisation signs in on the web, staff at the counter, the kiosk, the events service for a
    session's venue); a `channel` written in a command is not believed."""

    WEB = "web"
    KIOSK = "kiosk"
    STAFF = "staff"
    EVENTS = "events"


class RejectionReason(StrEnum):
    """Stable codes a client may branch on; the human-readable text travels in `detail`."""

    CONFLICT = "conflict"
    CLOSED = "closed"
    NOT_REGISTERED = "not_registered"
    CAPACITY = "capacity"
    INVALID = "invalid"
    OUT_OF_WINDOW = "out_of_window"  # start in the past or beyond the booking horizon
    TOO_LATE = "too_late"  # a weekday evening asked for after the day's cut-off
    QUOTA = "quota"  # the organisation holds as many future reservations as it may
    NOT_FOUND = "not_found"  # no such reservation, usage slip or organisation (or already ended)
    NOT_OWNER = "not_owner"  # the reservation belongs to another organisation
    ID_REUSED = "id_reused"  # the message_id was already used for a different request
    UNAUTHORIZED = "unauthorized"  # no valid proof of who sent it (see `detail`)
    FORBIDDEN = "forbidden"  # the proven sender may not do this


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
    registration_request_id: UUID | None = None  # the request it completes, after the interview

    def partition_key(self) -> str:
        """Keyed by the contact e-mail: two registrations of one contact stay in order."""
        return str(self.contact_email)


class RequestOrganisationRegistration(Message):
    """Anyone asks for an organisation to be registered (the public form). The request waits
    for the interview at the center; staff then register the organisation naming this request
    (organisation.register), or close it (organisation.close_request)."""

    type: Literal["organisation.request_registration"] = "organisation.request_registration"
    name: NonEmptyText
    kind: OrganisationKind
    contact_name: NonEmptyText
    contact_email: EmailStr
    newsletter_consent: bool = False
    note: Text = ""  # what the organisation does, when it could come for the interview

    def partition_key(self) -> str:
        """The contact e-mail, as its registration's: request and registration stay in order."""
        return str(self.contact_email)


class CloseRegistrationRequest(Message):
    """Staff close a registration request without registering (not eligible, withdrawn)."""

    type: Literal["organisation.close_request"] = "organisation.close_request"
    registration_request_id: UUID
    reason: Text = ""

    def partition_key(self) -> str:
        return str(self.registration_request_id)


class RequestReservation(Message):
    type: Literal["reservation.requested"] = "reservation.requested"
    organisation_id: UUID
    space: SpaceId
    starts_at: Instant
    ends_at: Instant
    attendees: int = Field(le=10_000)  # fewer than 1 the domain refuses in its own words
    purpose: Text = ""
    atrium: bool = False
    channel: Channel = Channel.WEB  # not believed: the channel is the proven sender's
    session_id: UUID | None = None

    def partition_key(self) -> str:
        """Keyed by the space: one space's requests are decided in order."""
        return self.space.value


class CancelReservation(Message):
    """Cancel by the organisation that holds it, by staff, or by the events service (a
    session's venue): who it is comes from the command's proof, not from its fields."""

    type: Literal["reservation.cancel"] = "reservation.cancel"
    reservation_id: UUID
    organisation_id: UUID | None = None  # informative; ownership is the proven sender's
    channel: Channel = Channel.WEB  # not believed: the channel is the proven sender's
    reason: Text = ""

    def partition_key(self) -> str:
        return str(self.reservation_id)


class UpdateOrganisation(Message):
    """New contact details or newsletter consent; omitted fields keep their value."""

    type: Literal["organisation.update"] = "organisation.update"
    organisation_id: UUID
    name: NonEmptyText | None = None
    contact_name: NonEmptyText | None = None
    contact_email: EmailStr | None = None
    newsletter_consent: bool | None = None

    def partition_key(self) -> str:
        return str(self.organisation_id)


class RenewOrganisation(Message):
    """Renew the registration for another term (after the renewal interview at reception)."""

    type: Literal["organisation.renew"] = "organisation.renew"
    organisation_id: UUID

    def partition_key(self) -> str:
        return str(self.organisation_id)


class SuspendOrganisation(Message):
    """Staff suspend an organisation: it cannot book or check in until reinstated."""

    type: Literal["organisation.suspend"] = "organisation.suspend"
    organisation_id: UUID
    reason: Text = ""

    def partition_key(self) -> str:
        return str(self.organisation_id)


class ReinstateOrganisation(Message):
    type: Literal["organisation.reinstate"] = "organisation.reinstate"
    organisation_id: UUID

    def partition_key(self) -> str:
        return str(self.organisation_id)


class SetBlackout(Message):
    """Staff close the center on one day (an inspection, an election): no booking, no check-in."""

    type: Literal["day.blackout"] = "day.blackout"
    day: Day
    reason: Text = ""

    def partition_key(self) -> str:
        """Keyed by the day: a blackout and its lifting stay in order."""
        return self.day.isoformat()


class LiftBlackout(Message):
    """Staff reopen a day they blacked out: it is bookable again under the usual rules."""

    type: Literal["day.blackout_lift"] = "day.blackout_lift"
    day: Day

    def partition_key(self) -> str:
        return self.day.isoformat()


class LabCheckIn(Message):
    """People of a registered organisation arrive at the Lab reception (key `lab`)."""

    type: Literal["lab.check_in"] = "lab.check_in"
    organisation_id: UUID
    people: int = Field(ge=1, le=100)

    def partition_key(self) -> str:
        """All of the Lab on one key: its usage slips are numbered in order."""
        return LAB_KEY


class LabCheckOut(Message):
    type: Literal["lab.check_out"] = "lab.check_out"
    slip_number: NonEmptyText

    def partition_key(self) -> str:
        return LAB_KEY


BookingCommandT = (
    RegisterOrganisation
    | RequestReservation
    | CancelReservation
    | UpdateOrganisation
    | RenewOrganisation
    | SuspendOrganisation
    | ReinstateOrganisation
    | SetBlackout
    | LiftBlackout
    | LabCheckIn
    | LabCheckOut
    | RequestOrganisationRegistration
    | CloseRegistrationRequest
)
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
    valid_until: Instant | None = None  # end of the registration term
    actor: Actor | None = None  # who did it, as proven by a token


class Reservation(BaseModel):
    """A confirmed reservation as clients see it."""

    model_config = ConfigDict(frozen=True)

    organisation_id: UUID
    space: SpaceId
    starts_at: Instant
    ends_at: Instant
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
    actor: Actor | None = None  # who did it, as proven by a token


class ReservationRejected(Message):
    """The request's facts are repeated when it could be read; a request refused as `invalid`
    because it could not be read has only its request_id, reason and detail."""

    type: Literal["reservation.rejected"] = "reservation.rejected"
    request_id: UUID
    reason: RejectionReason
    detail: str
    organisation_id: UUID | None = None
    space: SpaceId | None = None
    starts_at: Instant | None = None
    ends_at: Instant | None = None
    contact: Contact | None = None


class OrganisationUpdated(Message):
    """Contact details or newsletter consent changed; notify follows the consent."""

    type: Literal["organisation.updated"] = "organisation.updated"
    request_id: UUID
    organisation_id: UUID
    name: str
    contact: Contact
    newsletter_consent: bool
    actor: Actor | None = None  # who did it, as proven by a token


class ReservationCancelled(Message):
    type: Literal["reservation.cancelled"] = "reservation.cancelled"
    request_id: UUID
    reservation_id: UUID
    reservation: Reservation
    cancelled_by: Channel
    contact: Contact | None = None
    actor: Actor | None = None  # who did it, as proven by a token


class ReservationCancelRejected(Message):
    """A cancellation that could not be done: unknown reservation, another's, already over."""

    type: Literal["reservation.cancel_rejected"] = "reservation.cancel_rejected"
    request_id: UUID
    reservation_id: UUID | None = None  # None when the command could not be read
    reason: RejectionReason
    detail: str


class OrganisationRenewed(Message):
    type: Literal["organisation.renewed"] = "organisation.renewed"
    request_id: UUID
    organisation_id: UUID
    valid_until: Instant
    actor: Actor | None = None  # who did it, as proven by a token


class OrganisationSuspended(Message):
    type: Literal["organisation.suspended"] = "organisation.suspended"
    request_id: UUID
    organisation_id: UUID
    reason: str
    actor: Actor | None = None  # who did it, as proven by a token


class OrganisationReinstated(Message):
    type: Literal["organisation.reinstated"] = "organisation.reinstated"
    request_id: UUID
    organisation_id: UUID
    actor: Actor | None = None  # who did it, as proven by a token


class OrganisationExpired(Message):
    """The registration term ended without renewal (published by the schedule, no command)."""

    type: Literal["organisation.expired"] = "organisation.expired"
    request_id: UUID | None = None
    organisation_id: UUID
    expired_at: Instant


class RegistrationRequested(Message):
    """A registration request waits for its interview. Its contact is not on the bus: staff
    read it over HTTP (GET /organisations/requests)."""

    type: Literal["organisation.registration_requested"] = "organisation.registration_requested"
    request_id: UUID
    registration_request_id: UUID
    name: str


class RegistrationRequestClosed(Message):
    type: Literal["organisation.request_closed"] = "organisation.request_closed"
    request_id: UUID
    registration_request_id: UUID
    actor: Actor | None = None


class OrganisationCommandRejected(Message):
    """An organisation command that could not be done, e.g. for an unknown organisation."""

    type: Literal["organisation.rejected"] = "organisation.rejected"
    request_id: UUID
    organisation_id: UUID | None = None  # None for a registration, or a command not readable
    reason: RejectionReason
    detail: str


class BlackoutSet(Message):
    """The day is closed. `affected_reservation_ids`: the confirmed reservations of the day not
    yet over, in order of their start; they stay confirmed until staff settle each one with its
    organisation (cancelling with `reservation.cancel` or lifting the blackout)."""

    type: Literal["day.blacked_out"] = "day.blacked_out"
    request_id: UUID
    day: Day
    reason: str
    affected_reservation_ids: list[UUID] = Field(default_factory=list)
    actor: Actor | None = None  # who did it, as proven by a token


class BlackoutLifted(Message):
    """The blackout of the day is lifted: the day is open and bookable again."""

    type: Literal["day.blackout_lifted"] = "day.blackout_lifted"
    request_id: UUID
    day: Day
    actor: Actor | None = None  # who did it, as proven by a token


class BlackoutRejected(Message):
    """A blackout command that could not be carried out (today: one that could not be read)."""

    type: Literal["day.blackout_rejected"] = "day.blackout_rejected"
    request_id: UUID
    day: Day | None = None
    reason: RejectionReason
    detail: str


class BlackoutLiftRejected(Message):
    """A blackout that could not be lifted: none on that day, or the day is already over."""

    type: Literal["day.blackout_lift_rejected"] = "day.blackout_lift_rejected"
    request_id: UUID
    day: Day | None = None  # None when the command could not be read
    reason: RejectionReason
    detail: str


class DayClosingTimeSet(Message):
    """The closing time of a day, decided at the evening cut-off: 18:00 on a weekday without an
    evening reservation, otherwise the regular closing time. For signage, kiosk and staff."""

    type: Literal["day.closing_time_set"] = "day.closing_time_set"
    request_id: UUID | None = None
    day: Day
    closes_at: Instant


class LabCheckedIn(Message):
    type: Literal["lab.checked_in"] = "lab.checked_in"
    request_id: UUID
    slip_number: str  # the usage slip (利用票) number, e.g. 20270107-012
    organisation_id: UUID
    people: int
    checked_in_at: Instant
    actor: Actor | None = None  # who did it, as proven by a token


class LabCheckInRejected(Message):
    type: Literal["lab.check_in_rejected"] = "lab.check_in_rejected"
    request_id: UUID
    organisation_id: UUID | None = None  # None when the command could not be read
    people: int | None = None
    reason: RejectionReason
    detail: str


class LabCheckedOut(Message):
    type: Literal["lab.checked_out"] = "lab.checked_out"
    request_id: UUID
    slip_number: str
    organisation_id: UUID
    people: int
    checked_out_at: Instant
    actor: Actor | None = None  # who did it, as proven by a token


class LabCheckOutRejected(Message):
    type: Literal["lab.check_out_rejected"] = "lab.check_out_rejected"
    request_id: UUID
    slip_number: str | None = None  # None when the command could not be read
    reason: RejectionReason
    detail: str


BookingEventT = (
    OrganisationRegistered
    | OrganisationUpdated
    | ReservationConfirmed
    | ReservationRejected
    | ReservationCancelled
    | ReservationCancelRejected
    | OrganisationRenewed
    | OrganisationSuspended
    | OrganisationReinstated
    | OrganisationExpired
    | OrganisationCommandRejected
    | BlackoutSet
    | BlackoutRejected
    | BlackoutLifted
    | BlackoutLiftRejected
    | DayClosingTimeSet
    | LabCheckedIn
    | LabCheckInRejected
    | LabCheckedOut
    | LabCheckOutRejected
    | RegistrationRequested
    | RegistrationRequestClosed
)
BookingEvent = Annotated[BookingEventT, Field(discriminator="type")]
booking_event_adapter: TypeAdapter[BookingEventT] = TypeAdapter(BookingEvent)


# Each command's rejection event: a command whose id and type can be read but which fails
# validation is answered with it (reason `invalid`), so its sender is never left waiting.
COMMAND_REJECTIONS: dict[type[Message], type[Message]] = {
    RegisterOrganisation: OrganisationCommandRejected,
    UpdateOrganisation: OrganisationCommandRejected,
    RenewOrganisation: OrganisationCommandRejected,
    SuspendOrganisation: OrganisationCommandRejected,
    ReinstateOrganisation: OrganisationCommandRejected,
    RequestReservation: ReservationRejected,
    CancelReservation: ReservationCancelRejected,
    SetBlackout: BlackoutRejected,
    LiftBlackout: BlackoutLiftRejected,
    LabCheckIn: LabCheckInRejected,
    LabCheckOut: LabCheckOutRejected,
    RequestOrganisationRegistration: OrganisationCommandRejected,
    CloseRegistrationRequest: OrganisationCommandRejected,
}
