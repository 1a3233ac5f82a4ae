"""Messages of the events service: `program.commands` and `program.events` (DOMAIN.md,
"Programs and events").

Keys: the session id for what concerns one session (a registration for one session, a change
or cancellation of a session, a check-in), the program id for what concerns the program or
several of its sessions (creating, publishing, cancelling a program; a full-series registration
or one for several sessions), the registration id for what a registrant does with a
registration already made (cancel it, answer an offer). The events service decides every
registration of one program under one lock, so keys on several partitions never oversell.

Outcome events repeat the command's `message_id` as `request_id`; a retried command gets the
same answer and never a second place. Registrants' names and e-mail addresses travel on
`program.events` because notify, which reads it, writes to them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, EmailStr, Field, TypeAdapter

from contracts.envelope import Instant, Message, NonEmptyText, Text
from contracts.identity import Actor
from contracts.notify import Language


class ProgramKind(StrEnum):
    SEMINAR = "seminar"
    SALON = "salon"
    FORUM = "forum"
    COURSE = "course"  # a series of 4-6 sessions
    CONSULTATION_MEETING = "consultation_meeting"


class Frame(StrEnum):
    """Seat frames of a session, each with its own capacity (hybrid programs)."""

    ONSITE = "onsite"
    ONLINE = "online"


class Venue(StrEnum):
    """Where a session takes place. Space A, B and A+B are booked through the booking service;
    a venue outside the center and an online-only session need no booking."""

    A = "a"
    B = "b"
    AB = "ab"
    OUTSIDE = "outside"
    ONLINE = "online"


class Promotion(StrEnum):
    """What happens to the first waiting registration that fits when seats free up."""

    AUTO = "auto"  # confirmed at once and told so
    OFFER = "offer"  # offered a place until a deadline, to accept or decline


class ProgramRejectionReason(StrEnum):
    """Stable codes a client may branch on; the readable text travels in `detail`."""

    FULL = "full"  # no seat and no waitlist
    CLOSED = "closed"  # outside the registration period, or the session has started
    INVALID = "invalid"
    DUPLICATE = "duplicate"  # the e-mail already holds that session and frame
    NOT_OPEN = "not_open"  # the program is not published or the venue is not confirmed yet
    NOT_FOUND = "not_found"  # no such program, session, registration or check-in code
    CONFLICT = "conflict"  # the program or registration is not in a state that allows it
    ALREADY_RECORDED = "already_recorded"  # the check-in code was used for that session
    ID_REUSED = "id_reused"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"


class FramePlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    frame: Frame
    capacity: int = Field(ge=0, le=10_000)


class SessionPlan(BaseModel):
    """One session as staff plan it. `session_id` is chosen by the sender, so later commands
    (and registrations) can name the session at once."""

    model_config = ConfigDict(frozen=True)

    session_id: UUID
    starts_at: Instant
    ends_at: Instant
    venue: Venue
    venue_name: NonEmptyText | None = None  # the place outside the center, or a room's name
    online_url: Annotated[str, Field(max_length=500)] | None = None  # given to online registrants
    frames: list[FramePlan] = Field(min_length=1, max_length=2)


class Registrant(BaseModel):
    """Who registered. In the lists of a change or cancellation notice, each also names its
    registration and frame (so notify can write to each and drop their reminders)."""

    model_config = ConfigDict(frozen=True)

    name: NonEmptyText
    email: EmailStr
    language: Language = Language.JA
    registration_id: UUID | None = None
    frame: Frame | None = None
    cancel_token: str | None = None


class HeldSession(BaseModel):
    """A session a registration holds a seat in, as the registrant is told about it. The join
    link is present only for an online registration."""

    model_config = ConfigDict(frozen=True)

    session_id: UUID
    number: int
    starts_at: Instant
    ends_at: Instant
    venue: Venue
    venue_name: str | None = None
    join_url: str | None = None


class WaitPosition(BaseModel):
    model_config = ConfigDict(frozen=True)

    session_id: UUID
    position: int  # 1 = the first waiting in that session and frame


# --- commands (program.commands) ---------------------------------------------------------------


class CreateProgram(Message):
    """Staff create a program in draft; its id is the command's message_id."""

    type: Literal["program.create"] = "program.create"
    kind: ProgramKind
    title: NonEmptyText
    title_en: NonEmptyText | None = None
    description: Text = ""
    description_en: Text | None = None
    sessions: list[SessionPlan] = Field(min_length=1, max_length=12)
    registration_opens_at: Instant
    registration_closes_at: Instant | None = None  # default: each session's start
    priority_until: Instant | None = None  # full-series registrations only until then
    promotion: Promotion = Promotion.AUTO
    offer_hours: int = Field(default=48, ge=1, le=24 * 14)
    waitlist: bool = True

    def partition_key(self) -> str:
        return str(self.message_id)


class PublishProgram(Message):
    """Publish: sessions in Space A/B request their venue; the others open at once."""

    type: Literal["program.publish"] = "program.publish"
    program_id: UUID

    def partition_key(self) -> str:
        return str(self.program_id)


class ChangeProgram(Message):
    """New texts or rules of a program; omitted fields keep their value."""

    type: Literal["program.change"] = "program.change"
    program_id: UUID
    title: NonEmptyText | None = None
    title_en: NonEmptyText | None = None
    description: Text | None = None
    description_en: Text | None = None
    registration_closes_at: Instant | None = None
    promotion: Promotion | None = None

    def partition_key(self) -> str:
        return str(self.program_id)


class CancelProgram(Message):
    type: Literal["program.cancel"] = "program.cancel"
    program_id: UUID
    reason: Text = ""

    def partition_key(self) -> str:
        return str(self.program_id)


class ChangeSession(Message):
    """Move a session (its venue is booked again and registrants are told), give it another
    venue (after a venue was refused), or change its capacities. Omitted fields keep their
    value; a capacity may not fall below the seats already held."""

    type: Literal["session.change"] = "session.change"
    session_id: UUID
    starts_at: Instant | None = None
    ends_at: Instant | None = None
    venue: Venue | None = None
    venue_name: NonEmptyText | None = None
    frames: list[FramePlan] | None = Field(default=None, max_length=2)

    def partition_key(self) -> str:
        return str(self.session_id)


class CancelSession(Message):
    type: Literal["session.cancel"] = "session.cancel"
    session_id: UUID
    reason: Text = ""

    def partition_key(self) -> str:
        return str(self.session_id)


class RequestRegistration(Message):
    """A citizen asks for a place: the full series (`series: true`) or some sessions."""

    type: Literal["registration.requested"] = "registration.requested"
    program_id: UUID
    series: bool = False
    session_ids: list[UUID] = Field(default_factory=list, max_length=12)
    frame: Frame
    party_size: int = Field(default=1, ge=1, le=4)
    name: NonEmptyText
    email: EmailStr
    language: Language = Language.JA
    note: Text = ""

    def partition_key(self) -> str:
        """The session for one session; the program for a series or several sessions."""
        if not self.series and len(self.session_ids) == 1:
            return str(self.session_ids[0])
        return str(self.program_id)


class CancelRegistration(Message):
    """By the registrant, with the signed cancel token of their e-mail, or by staff."""

    type: Literal["registration.cancel"] = "registration.cancel"
    registration_id: UUID
    token: Annotated[str, Field(max_length=300)] | None = None
    reason: Text = ""

    def partition_key(self) -> str:
        return str(self.registration_id)


class AcceptOffer(Message):
    type: Literal["registration.accept_offer"] = "registration.accept_offer"
    registration_id: UUID
    token: Annotated[str, Field(max_length=300)] | None = None

    def partition_key(self) -> str:
        return str(self.registration_id)


class DeclineOffer(Message):
    type: Literal["registration.decline_offer"] = "registration.decline_offer"
    registration_id: UUID
    token: Annotated[str, Field(max_length=300)] | None = None

    def partition_key(self) -> str:
        return str(self.registration_id)


class CheckIn(Message):
    """A registrant arrives: the code of the confirmation e-mail, at the kiosk or by staff."""

    type: Literal["attendance.check_in"] = "attendance.check_in"
    session_id: UUID
    code: Annotated[str, Field(min_length=1, max_length=40)]

    def partition_key(self) -> str:
        return str(self.session_id)


ProgramCommandT = (
    CreateProgram
    | PublishProgram
    | ChangeProgram
    | CancelProgram
    | ChangeSession
    | CancelSession
    | RequestRegistration
    | CancelRegistration
    | AcceptOffer
    | DeclineOffer
    | CheckIn
)
ProgramCommand = Annotated[ProgramCommandT, Field(discriminator="type")]
program_command_adapter: TypeAdapter[ProgramCommandT] = TypeAdapter(ProgramCommand)


# --- events (program.events) -------------------------------------------------------------------


class ProgramCreated(Message):
    type: Literal["program.created"] = "program.created"
    request_id: UUID
    program_id: UUID
    kind: ProgramKind
    title: str
    session_ids: list[UUID]
    actor: Actor | None = None


class ProgramPublished(Message):
    """Sessions needing a venue wait for it (`pending_venue`); the others are open."""

    type: Literal["program.published"] = "program.published"
    request_id: UUID
    program_id: UUID
    opened_session_ids: list[UUID] = Field(default_factory=list)
    pending_venue_session_ids: list[UUID] = Field(default_factory=list)
    actor: Actor | None = None


class ProgramChanged(Message):
    type: Literal["program.changed"] = "program.changed"
    request_id: UUID
    program_id: UUID
    actor: Actor | None = None


class ProgramCancelled(Message):
    """Every registration of the program is cancelled; they are listed for notify."""

    type: Literal["program.cancelled"] = "program.cancelled"
    request_id: UUID
    program_id: UUID
    title: str
    reason: str
    session_ids: list[UUID] = Field(default_factory=list)
    registrants: list[Registrant] = Field(default_factory=list)
    actor: Actor | None = None


class ProgramRejected(Message):
    """A program command that could not be carried out."""

    type: Literal["program.rejected"] = "program.rejected"
    request_id: UUID
    program_id: UUID | None = None
    reason: ProgramRejectionReason
    detail: str


class SessionOpened(Message):
    """The session takes registrations (its venue is confirmed, or it needs none)."""

    type: Literal["session.opened"] = "session.opened"
    request_id: UUID | None = None
    program_id: UUID
    session_id: UUID
    reservation_id: UUID | None = None


class SessionVenueRejected(Message):
    """Booking refused the venue: the session stays unopened until staff change it."""

    type: Literal["session.venue_rejected"] = "session.venue_rejected"
    program_id: UUID
    session_id: UUID
    reason: str  # booking's reason code
    detail: str


class SessionChanged(Message):
    """A session moved or changed; `registrants` are told (its time moved)."""

    type: Literal["session.changed"] = "session.changed"
    request_id: UUID
    program_id: UUID
    session_id: UUID
    starts_at: Instant
    ends_at: Instant
    venue: Venue
    moved: bool
    program_title: str = ""
    number: int = 0
    venue_name: str | None = None
    registrants: list[Registrant] = Field(default_factory=list)
    actor: Actor | None = None


class SessionCancelled(Message):
    type: Literal["session.cancelled"] = "session.cancelled"
    request_id: UUID
    program_id: UUID
    session_id: UUID
    reason: str
    program_title: str = ""
    number: int = 0
    starts_at: Instant | None = None
    ends_at: Instant | None = None
    registrants: list[Registrant] = Field(default_factory=list)
    actor: Actor | None = None


class SessionRejected(Message):
    type: Literal["session.rejected"] = "session.rejected"
    request_id: UUID
    session_id: UUID | None = None
    reason: ProgramRejectionReason
    detail: str


class RegistrationConfirmed(Message):
    """The answer: seats held in every session listed, for the whole party."""

    type: Literal["registration.confirmed"] = "registration.confirmed"
    request_id: UUID
    registration_id: UUID
    program_id: UUID
    program_title: str
    frame: Frame
    party_size: int
    sessions: list[HeldSession]
    registrant: Registrant
    check_in_code: str
    cancel_token: str


class RegistrationWaitlisted(Message):
    """The answer: no seat now; waiting as a whole, at `positions` in each session."""

    type: Literal["registration.waitlisted"] = "registration.waitlisted"
    request_id: UUID
    registration_id: UUID
    program_id: UUID
    program_title: str
    frame: Frame
    party_size: int
    positions: list[WaitPosition]
    registrant: Registrant
    cancel_token: str


class RegistrationRejected(Message):
    type: Literal["registration.rejected"] = "registration.rejected"
    request_id: UUID
    program_id: UUID | None = None
    program_title: str | None = None  # None when there is no such program
    reason: ProgramRejectionReason
    detail: str
    registrant: Registrant | None = None


class RegistrationPromoted(Message):
    """A waiting registration got its seats (at once, or by accepting an offer)."""

    type: Literal["registration.promoted"] = "registration.promoted"
    request_id: UUID | None = None  # the accepting command, when an offer was accepted
    registration_id: UUID
    program_id: UUID
    program_title: str
    frame: Frame
    party_size: int
    sessions: list[HeldSession]
    registrant: Registrant
    check_in_code: str
    cancel_token: str


class RegistrationOffered(Message):
    """Seats are held for a waiting registration until `expires_at`."""

    type: Literal["registration.offered"] = "registration.offered"
    registration_id: UUID
    program_id: UUID
    program_title: str
    frame: Frame
    party_size: int
    sessions: list[HeldSession]
    registrant: Registrant
    expires_at: Instant
    offer_token: str
    cancel_token: str


class RegistrationOfferExpired(Message):
    type: Literal["registration.offer_expired"] = "registration.offer_expired"
    registration_id: UUID
    program_id: UUID
    registrant: Registrant


class RegistrationDeclined(Message):
    type: Literal["registration.declined"] = "registration.declined"
    request_id: UUID
    registration_id: UUID
    program_id: UUID


class RegistrationCancelled(Message):
    type: Literal["registration.cancelled"] = "registration.cancelled"
    request_id: UUID
    registration_id: UUID
    program_id: UUID
    program_title: str
    registrant: Registrant
    session_ids: list[UUID] = Field(default_factory=list)
    actor: Actor | None = None


class RegistrationCommandRejected(Message):
    """A cancellation or an answer to an offer that could not be carried out."""

    type: Literal["registration.command_rejected"] = "registration.command_rejected"
    request_id: UUID
    registration_id: UUID | None = None
    reason: ProgramRejectionReason
    detail: str


class AttendanceRecorded(Message):
    type: Literal["attendance.recorded"] = "attendance.recorded"
    request_id: UUID
    registration_id: UUID
    session_id: UUID
    frame: Frame
    party_size: int
    recorded_at: Instant
    actor: Actor | None = None


class AttendanceRejected(Message):
    type: Literal["attendance.rejected"] = "attendance.rejected"
    request_id: UUID
    session_id: UUID | None = None
    reason: ProgramRejectionReason
    detail: str


ProgramEventT = (
    ProgramCreated
    | ProgramPublished
    | ProgramChanged
    | ProgramCancelled
    | ProgramRejected
    | SessionOpened
    | SessionVenueRejected
    | SessionChanged
    | SessionCancelled
    | SessionRejected
    | RegistrationConfirmed
    | RegistrationWaitlisted
    | RegistrationRejected
    | RegistrationPromoted
    | RegistrationOffered
    | RegistrationOfferExpired
    | RegistrationDeclined
    | RegistrationCancelled
    | RegistrationCommandRejected
    | AttendanceRecorded
    | AttendanceRejected
)
ProgramEvent = Annotated[ProgramEventT, Field(discriminator="type")]
program_event_adapter: TypeAdapter[ProgramEventT] = TypeAdapter(ProgramEvent)


# Each command's rejection event (see contracts.booking.COMMAND_REJECTIONS).
COMMAND_REJECTIONS: dict[type[Message], type[Message]] = {
    CreateProgram: ProgramRejected,
    PublishProgram: ProgramRejected,
    ChangeProgram: ProgramRejected,
    CancelProgram: ProgramRejected,
    ChangeSession: SessionRejected,
    CancelSession: SessionRejected,
    RequestRegistration: RegistrationRejected,
    CancelRegistration: RegistrationCommandRejected,
    AcceptOffer: RegistrationCommandRejected,
    DeclineOffer: RegistrationCommandRejected,
    CheckIn: AttendanceRejected,
}
