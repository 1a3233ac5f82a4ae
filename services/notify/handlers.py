"""One function per command, event or scheduled job the notify service reacts to.

Each runs in the transaction of the message (or job) that asked for it, beside its inbox entry, so
an event delivered twice queues one e-mail and schedules one reminder. Sending is the sender's
job (services/notify/sender.py). A new message kind is a template pair plus a function here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from uuid import UUID

import asyncpg

from contracts.booking import (
    OrganisationRegistered,
    OrganisationUpdated,
    ReservationCancelled,
    ReservationConfirmed,
    ReservationRejected,
)
from contracts.envelope import new_message_id
from contracts.notify import (
    AcknowledgementRejected,
    CommandRejectionReason,
    Language,
    NewsletterScheduled,
    NewsletterStarted,
    PublishNewsletter,
    RequestAcknowledgement,
    RequestExpertReminder,
    RequestSubscription,
    SubscriptionRejected,
)
from contracts.program import (
    ProgramCancelled,
    RegistrationCancelled,
    RegistrationConfirmed,
    RegistrationOffered,
    RegistrationOfferExpired,
    RegistrationPromoted,
    RegistrationRejected,
    RegistrationWaitlisted,
    SessionCancelled,
    SessionChanged,
)
from contracts.topics import NOTIFY_EVENTS
from services.notify import domain, links, programs, store
from services.notify.newsletter import markdown_to_html
from services.notify.settings import NotifySettings
from services.runtime import schedule
from services.runtime.identity import Caller
from services.runtime.outbox import Outgoing, answer
from services.runtime.schedule import Job

REMINDER_JOB = "reminder.reservation"
REGISTRATION_REMINDER_JOB = "reminder.registration"
FAN_OUT_JOB = "newsletter.fan_out"
ACKNOWLEDGEMENT = "consultation_acknowledgement"
EXPERT_REMINDER = "expert_reminder"
ACKNOWLEDGE_MAX_PER_DAY = 5


class Handlers:
    def __init__(self, settings: NotifySettings) -> None:
        self.settings = settings

    # --- booking events ---------------------------------------------------------------------

    async def on_organisation_registered(
        self, conn: asyncpg.Connection, event: OrganisationRegistered, caller: Caller
    ) -> Sequence[Outgoing]:
        await store.queue_email(conn, domain.organisation_registered_email(event))
        await self.follow_consent(conn, event)
        return []

    async def on_organisation_updated(
        self, conn: asyncpg.Connection, event: OrganisationUpdated, caller: Caller
    ) -> Sequence[Outgoing]:
        await self.follow_consent(conn, event)
        return []

    async def follow_consent(
        self, conn: asyncpg.Connection, event: OrganisationRegistered | OrganisationUpdated
    ) -> None:
        """Consent follows the organisation: given, its current address is subscribed; withdrawn,
        every address it had is unsubscribed."""
        if event.newsletter_consent:
            try:
                email = domain.subscriber_address(str(event.contact.email))
            except domain.AddressRefused:
                # no newsletter can reach it; the organisation's other e-mails record the failure
                await store.unsubscribe_organisation(conn, event.organisation_id)
                return
            await store.subscribe_organisation(conn, email, event.organisation_id)
        else:
            await store.unsubscribe_organisation(conn, event.organisation_id)

    async def on_reservation_confirmed(
        self, conn: asyncpg.Connection, event: ReservationConfirmed, caller: Caller
    ) -> Sequence[Outgoing]:
        if email := domain.reservation_confirmed_email(event):
            await store.queue_email(conn, email)
        payload = domain.reminder_payload(event)
        clock = self.settings.clock
        due = domain.reminder_due(
            event.reservation.starts_at, clock.now(), self.settings.reminder_hour
        )
        if payload is not None and due is not None:
            await schedule.schedule(conn, REMINDER_JOB, str(event.reservation_id),
                                    clock.real(due), payload)  # fmt: skip
        return []

    async def on_reservation_rejected(
        self, conn: asyncpg.Connection, event: ReservationRejected, caller: Caller
    ) -> Sequence[Outgoing]:
        if email := domain.reservation_rejected_email(event):
            await store.queue_email(conn, email)
        return []

    async def on_reservation_cancelled(
        self, conn: asyncpg.Connection, event: ReservationCancelled, caller: Caller
    ) -> Sequence[Outgoing]:
        if email := domain.reservation_cancelled_email(event):
            await store.queue_email(conn, email)
        await schedule.cancel(conn, REMINDER_JOB, str(event.reservation_id))
        return []

    # --- program events (services/notify/programs.py) ---------------------------------------

    @property
    def program_links(self) -> programs.Links:
        return programs.Links(self.settings.web_base_url)

    async def on_registration_confirmed(
        self,
        conn: asyncpg.Connection,
        event: RegistrationConfirmed | RegistrationPromoted,
        caller: Caller,
    ) -> Sequence[Outgoing]:
        """The confirmation (or promotion) e-mail, and a reminder the day before each session."""
        await store.queue_email(conn, programs.confirmed_email(event, self.program_links))
        clock = self.settings.clock
        for key, starts_at, payload in programs.reminder_payloads(event, self.program_links):
            due = domain.reminder_due(starts_at, clock.now(), self.settings.reminder_hour)
            if due is not None:
                await schedule.schedule(conn, REGISTRATION_REMINDER_JOB, key, clock.real(due),
                                        payload)  # fmt: skip
        return []

    async def on_registration_promoted(
        self, conn: asyncpg.Connection, event: RegistrationPromoted, caller: Caller
    ) -> Sequence[Outgoing]:
        return await self.on_registration_confirmed(conn, event, caller)

    async def on_registration_waitlisted(
        self, conn: asyncpg.Connection, event: RegistrationWaitlisted, caller: Caller
    ) -> Sequence[Outgoing]:
        await store.queue_email(conn, programs.waitlisted_email(event, self.program_links))
        return []

    async def on_registration_rejected(
        self, conn: asyncpg.Connection, event: RegistrationRejected, caller: Caller
    ) -> Sequence[Outgoing]:
        """The registrant learns why (the web page only said the request was received), at
        most REJECTIONS_MAX_PER_DAY times a day."""
        email = programs.rejected_email(event)
        if email is None:
            return []
        sent = await store.sent_of_kind(conn, email.kind, email.recipient)
        if sent < programs.REJECTIONS_MAX_PER_DAY:
            await store.queue_email(conn, email)
        return []

    async def on_registration_offered(
        self, conn: asyncpg.Connection, event: RegistrationOffered, caller: Caller
    ) -> Sequence[Outgoing]:
        await store.queue_email(conn, programs.offered_email(event, self.program_links))
        return []

    async def on_registration_cancelled(
        self, conn: asyncpg.Connection, event: RegistrationCancelled, caller: Caller
    ) -> Sequence[Outgoing]:
        await store.queue_email(conn, programs.ended_email(event, event.program_title))
        for session_id in event.session_ids:
            await schedule.cancel(
                conn,
                REGISTRATION_REMINDER_JOB,
                programs.reminder_key(event.registration_id, session_id),
            )
        return []

    async def on_offer_expired(
        self, conn: asyncpg.Connection, event: RegistrationOfferExpired, caller: Caller
    ) -> Sequence[Outgoing]:
        await store.queue_email(conn, programs.ended_email(event, ""))
        return []

    async def on_program_notice(
        self,
        conn: asyncpg.Connection,
        event: SessionChanged | SessionCancelled | ProgramCancelled,
        caller: Caller,
    ) -> Sequence[Outgoing]:
        """A moved session, a cancelled session or program: everyone registered is told; the
        reminders of what was cancelled are withdrawn, those of a moved session follow it."""
        if isinstance(event, SessionChanged) and not event.moved:
            return []
        for email in programs.notice_emails(event, self.program_links):
            await store.queue_email(conn, email)
        sessions = (event.session_ids if isinstance(event, ProgramCancelled)
                    else [event.session_id])  # fmt: skip
        for registrant in event.registrants:
            if registrant.registration_id is None:
                continue
            for session_id in sessions:
                key = programs.reminder_key(registrant.registration_id, session_id)
                if isinstance(event, SessionChanged):
                    await self.move_reminder(conn, key, event)
                else:
                    await schedule.cancel(conn, REGISTRATION_REMINDER_JOB, key)
        return []

    async def move_reminder(
        self, conn: asyncpg.Connection, key: str, event: SessionChanged
    ) -> None:
        clock = self.settings.clock
        due = domain.reminder_due(event.starts_at, clock.now(), self.settings.reminder_hour)
        if due is None:
            await schedule.cancel(conn, REGISTRATION_REMINDER_JOB, key)
            return
        await store.move_reminder(conn, REGISTRATION_REMINDER_JOB, key, clock.real(due),
                                  event.starts_at, event.ends_at)  # fmt: skip

    async def on_session_changed(
        self, conn: asyncpg.Connection, event: SessionChanged, caller: Caller
    ) -> Sequence[Outgoing]:
        return await self.on_program_notice(conn, event, caller)

    async def on_session_cancelled(
        self, conn: asyncpg.Connection, event: SessionCancelled, caller: Caller
    ) -> Sequence[Outgoing]:
        return await self.on_program_notice(conn, event, caller)

    async def on_program_cancelled(
        self, conn: asyncpg.Connection, event: ProgramCancelled, caller: Caller
    ) -> Sequence[Outgoing]:
        return await self.on_program_notice(conn, event, caller)

    # --- notify commands --------------------------------------------------------------------

    async def on_publish_newsletter(
        self, conn: asyncpg.Connection, command: PublishNewsletter, caller: Caller
    ) -> Sequence[Outgoing]:
        """Store the issue, rendered, and schedule its fan-out: a publication for later survives
        restarts like any other scheduled work. Its deliveries continue the command's flow."""
        issue_id = command.message_id
        send_at = command.send_at or self.settings.clock.now()
        html = markdown_to_html(command.body_markdown)
        await store.create_issue(
            conn, issue_id, command.subject, command.body_markdown, html, send_at,
            command.correlation(),
        )  # fmt: skip
        await schedule.schedule(conn, FAN_OUT_JOB, str(issue_id),
                                self.settings.clock.real(send_at))  # fmt: skip
        return [
            answer(
                command, NOTIFY_EVENTS, str(issue_id), NewsletterScheduled,
                issue_id=issue_id, send_at=send_at, actor=caller.actor(),
            )
        ]  # fmt: skip

    async def on_subscription_requested(
        self, conn: asyncpg.Connection, command: RequestSubscription, caller: Caller
    ) -> Sequence[Outgoing]:
        """The same rules as the HTTP form; an address the center cannot write to is answered
        with `subscription.rejected` (reason invalid, the readable reason as detail)."""
        try:
            domain.subscriber_address(str(command.email))
        except domain.AddressRefused as refused:
            return [
                answer(
                    command, NOTIFY_EVENTS, str(command.message_id), SubscriptionRejected,
                    reason=CommandRejectionReason.INVALID, detail=str(refused),
                )
            ]  # fmt: skip
        await self.request_subscription(
            conn, str(command.email), command.language, command.message_id,
            command.correlation(),
        )  # fmt: skip
        return []

    async def request_subscription(
        self,
        conn: asyncpg.Connection,
        address: str,
        language: Language,
        request_id: UUID,
        correlation_id: UUID | None = None,
    ) -> domain.SubscriptionOutcome:
        """Double opt-in, first half: a pending subscriber and a confirmation e-mail with a
        signed link, for the HTTP form and `subscription.requested` alike.

        At most one confirmation is valid at a time: while the last one sent is unexpired,
        asking again sends nothing (thirty requests in a row are one e-mail), and an address
        gets at most CONFIRM_MAX_PER_DAY confirmations in 24 hours, however it asks. So nobody
        can make the center mail-bomb someone else. Nothing happens for an address the center
        cannot write to (REFUSED): callers that owe a reason check `domain.subscriber_address`
        first.
        """
        Outcome = domain.SubscriptionOutcome
        try:
            email = domain.subscriber_address(address)
        except domain.AddressRefused:
            return Outcome.REFUSED
        if await store.confirmations_sent(conn, email) >= self.settings.confirm_max_per_day:
            return Outcome.LIMITED
        hours = self.settings.confirm_valid_hours
        clock = self.settings.clock
        expires_at = clock.now() + timedelta(hours=hours)  # in the link; stored on real time
        pending = await store.request_subscription(conn, email, language.value,
                                                   clock.real(expires_at))  # fmt: skip
        if pending == "active":
            return Outcome.ALREADY_ACTIVE
        if isinstance(pending, str):
            return Outcome.CONFIRMATION_PENDING
        subscriber, generation = pending
        token = links.confirm_token(self.settings.signing_key, subscriber, generation,
                                    expires_at)  # fmt: skip
        await store.queue_email(
            conn,
            domain.subscription_confirm_email(
                request_id, subscriber, correlation_id or request_id, email, language,
                self.settings.confirm_url(token), hours,
            ),
        )  # fmt: skip
        return Outcome.CONFIRMATION_QUEUED

    async def on_acknowledgement_requested(
        self, conn: asyncpg.Connection, command: RequestAcknowledgement, caller: Caller
    ) -> Sequence[Outgoing]:
        """The consultation desk's acknowledgement of a case: at most ACKNOWLEDGE_MAX_PER_DAY
        to one address in 24 hours, so the command cannot be used to flood a mailbox."""
        try:
            email = domain.subscriber_address(str(command.email))
        except domain.AddressRefused as refused:
            return [
                answer(
                    command, NOTIFY_EVENTS, command.reference, AcknowledgementRejected,
                    reason=CommandRejectionReason.INVALID, detail=str(refused),
                )
            ]  # fmt: skip
        if await store.sent_of_kind(conn, ACKNOWLEDGEMENT, email) >= ACKNOWLEDGE_MAX_PER_DAY:
            return []
        await store.queue_email(
            conn,
            domain.consultation_acknowledgement_email(
                command.message_id, command.correlation(), email, command.language,
                command.reference,
            ),
        )  # fmt: skip
        return []

    async def on_expert_reminder_requested(
        self, conn: asyncpg.Connection, command: RequestExpertReminder, caller: Caller
    ) -> Sequence[Outgoing]:
        """The consultation desk's reminder of an expert consultation, capped per address as
        the acknowledgement is."""
        try:
            email = domain.subscriber_address(str(command.email))
        except domain.AddressRefused:
            return []  # the desk took the address at intake; nothing to answer the schedule
        if await store.sent_of_kind(conn, EXPERT_REMINDER, email) >= ACKNOWLEDGE_MAX_PER_DAY:
            return []
        await store.queue_email(
            conn,
            domain.expert_reminder_email(
                command.message_id, command.correlation(), email, command.language,
                command.reference, command.expert, command.starts_at, command.ends_at,
            ),
        )  # fmt: skip
        return []

    # --- scheduled jobs ---------------------------------------------------------------------

    async def fan_out_newsletter(self, conn: asyncpg.Connection, job: Job) -> Sequence[Outgoing]:
        issue_id = UUID(job.key)
        recipients = await store.fan_out(conn, issue_id, self.settings.bounce_limit)
        started = NewsletterStarted(
            message_id=new_message_id(), issue_id=issue_id, recipients=recipients
        )
        return [Outgoing(NOTIFY_EVENTS, job.key, started)]

    async def send_reminder(self, conn: asyncpg.Connection, job: Job) -> Sequence[Outgoing]:
        await store.queue_email(conn, domain.reservation_reminder_email(job.payload))
        return []

    async def send_registration_reminder(
        self, conn: asyncpg.Connection, job: Job
    ) -> Sequence[Outgoing]:
        await store.queue_email(conn, programs.reminder_email(job.payload))
        return []
