"""Messages of the notify service: `notify.commands` and `notify.events`.

Staff publish newsletter issues here; web clients may ask for a subscription here as well as over
HTTP. Delivery outcomes are facts on `notify.events`, one per e-mail, keyed by the id of what the
e-mail was about, so the outcomes of one thing stay in order: the reservation id for a
confirmation, cancellation or reminder; the request id of a refused reservation (no reservation
exists); the organisation id for a registration; the subscriber's public id for a subscription
confirmation; the issue id for a newsletter. Their `correlation_id` is the flow of the message
that caused the e-mail (the booking event's, the publication's, the subscription request's).
Events name the delivery and never the address: it is personal data and nobody downstream needs it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import EmailStr, Field, TypeAdapter

from contracts.consultation import CaseReference, ExpertKind
from contracts.envelope import Instant, Message, NonEmptyText
from contracts.identity import Actor


class Language(StrEnum):
    """Languages the center writes to its subscribers in; Japanese unless they choose English."""

    JA = "ja"
    EN = "en"


class CommandRejectionReason(StrEnum):
    """Why a notify command was not carried out; stable codes a client may branch on."""

    INVALID = "invalid"  # the command could be identified but not read (see `detail`)
    ID_REUSED = "id_reused"  # its message_id was used before for a different request
    UNAUTHORIZED = "unauthorized"  # no valid proof of who sent it (see `detail`)
    FORBIDDEN = "forbidden"  # the proven sender may not do this


class FailureKind(StrEnum):
    """Why an e-mail was not delivered: refused for good (a 5xx reply, or an e-mail that cannot
    be sent as it stands, such as an address plain SMTP cannot carry), or retried until we gave
    up."""

    PERMANENT = "permanent"
    GAVE_UP = "gave_up"
    SUPPRESSED = "suppressed"


# --- commands (notify.commands) ----------------------------------------------------------------


class PublishNewsletter(Message):
    """Publish an issue to every active, confirmed subscriber, at `send_at` or at once.

    The body is Markdown; notify renders the HTML and plain-text parts. `message_id` is the
    idempotency key and becomes the issue id, so a retried command publishes one issue.
    """

    type: Literal["newsletter.publish"] = "newsletter.publish"
    subject: NonEmptyText
    body_markdown: str = Field(min_length=1, max_length=200_000)
    send_at: Instant | None = None

    def partition_key(self) -> str:
        """Keyed by the issue (its id is the command's message_id)."""
        return str(self.message_id)


class RequestSubscription(Message):
    """Someone asked to receive the newsletter: a confirmation e-mail goes out (double opt-in)."""

    type: Literal["subscription.requested"] = "subscription.requested"
    email: EmailStr
    language: Language = Language.JA

    def partition_key(self) -> str:
        """Keyed by the address: requests for one address stay in order."""
        return str(self.email).lower()


class RequestAcknowledgement(Message):
    """The consultation desk received a case: tell the requester so, with its reference number
    and the center's contact, and nothing of the case (contracts/consultation.py)."""

    type: Literal["acknowledgement.requested"] = "acknowledgement.requested"
    reference: CaseReference
    email: EmailStr
    language: Language = Language.JA

    def partition_key(self) -> str:
        return self.reference


class RequestExpertReminder(Message):
    """The day before an expert consultation: remind the requester of the day, the time, the
    kind of expert and the case's reference number, with the center's contact and nothing of
    the case (contracts/consultation.py). Sent by the consultation service's schedule."""

    type: Literal["expert_reminder.requested"] = "expert_reminder.requested"
    reference: CaseReference
    email: EmailStr
    language: Language = Language.JA
    expert: ExpertKind
    starts_at: Instant
    ends_at: Instant

    def partition_key(self) -> str:
        return self.reference


NotifyCommandT = (
    PublishNewsletter | RequestSubscription | RequestAcknowledgement | RequestExpertReminder
)
NotifyCommand = Annotated[NotifyCommandT, Field(discriminator="type")]
notify_command_adapter: TypeAdapter[NotifyCommandT] = TypeAdapter(NotifyCommand)


# --- events (notify.events) --------------------------------------------------------------------


class NewsletterScheduled(Message):
    """The answer to `newsletter.publish`: the issue is stored and will go out at `send_at`."""

    type: Literal["newsletter.scheduled"] = "newsletter.scheduled"
    request_id: UUID
    issue_id: UUID
    send_at: Instant
    actor: Actor | None = None  # the editor who published it, as proven by a token


class NewsletterRejected(Message):
    """The answer to a `newsletter.publish` that could not be carried out."""

    type: Literal["newsletter.rejected"] = "newsletter.rejected"
    request_id: UUID
    reason: CommandRejectionReason
    detail: str


class SubscriptionRejected(Message):
    """The answer to a `subscription.requested` that could not be carried out (an accepted one
    has no event: the confirmation e-mail is its answer, to the person who asked)."""

    type: Literal["subscription.rejected"] = "subscription.rejected"
    request_id: UUID
    reason: CommandRejectionReason
    detail: str


class NewsletterStarted(Message):
    """The issue was addressed: one delivery per active subscriber was queued."""

    type: Literal["newsletter.started"] = "newsletter.started"
    issue_id: UUID
    recipients: int


class NewsletterFinished(Message):
    """Every delivery of the issue is settled: accepted by the SMTP server or given up on. The
    issue's one fact of its outcome; its deliveries are not announced one by one as
    `notification.sent` (tens of thousands of records that no reader needs), only those given up
    on, as `notification.failed`."""

    type: Literal["newsletter.finished"] = "newsletter.finished"
    issue_id: UUID
    recipients: int
    sent: int
    failed: int


class NotificationSent(Message):
    """The SMTP server accepted the e-mail (any e-mail but a newsletter's: see
    `newsletter.finished`)."""

    type: Literal["notification.sent"] = "notification.sent"
    delivery_id: int
    kind: str
    source_id: UUID
    attempts: int


class NotificationFailed(Message):
    """The e-mail will not be delivered; `reason` is the SMTP reply or cause, never the address."""

    type: Literal["notification.failed"] = "notification.failed"
    delivery_id: int
    kind: str
    source_id: UUID
    attempts: int
    failure: FailureKind
    reason: str


class AcknowledgementRejected(Message):
    """The answer to an `acknowledgement.requested` that could not be carried out."""

    type: Literal["acknowledgement.rejected"] = "acknowledgement.rejected"
    request_id: UUID
    reason: CommandRejectionReason
    detail: str


NotifyEventT = (
    NewsletterScheduled
    | NewsletterRejected
    | SubscriptionRejected
    | AcknowledgementRejected
    | NewsletterStarted
    | NewsletterFinished
    | NotificationSent
    | NotificationFailed
)
NotifyEvent = Annotated[NotifyEventT, Field(discriminator="type")]
notify_event_adapter: TypeAdapter[NotifyEventT] = TypeAdapter(NotifyEvent)


# Each command's rejection event (see contracts.booking.COMMAND_REJECTIONS).
COMMAND_REJECTIONS: dict[type[Message], type[Message]] = {
    PublishNewsletter: NewsletterRejected,
    RequestSubscription: SubscriptionRejected,
    RequestAcknowledgement: AcknowledgementRejected,
}
