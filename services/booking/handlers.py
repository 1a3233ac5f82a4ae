"""One method per booking command: load, decide with the domain, store, answer.

Each runs inside the consumer's batch transaction; what it returns is written to the outbox in
the same transaction, and recorded in the inbox as the command's answer. Every command gets
exactly one outcome event: business refusals are answers (`*.rejected`), never errors.

The handlers share the service's settings (the center's rules and its clock), hence a class; the
time of a decision is the service's clock, never a time the client sent.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from uuid import UUID, uuid4

import asyncpg

from contracts.booking import (
    BlackoutLifted,
    BlackoutLiftRejected,
    BlackoutSet,
    CancelReservation,
    Channel,
    CloseRegistrationRequest,
    Contact,
    LabCheckedIn,
    LabCheckedOut,
    LabCheckIn,
    LabCheckInRejected,
    LabCheckOut,
    LabCheckOutRejected,
    LiftBlackout,
    OrganisationCommandRejected,
    OrganisationRegistered,
    OrganisationReinstated,
    OrganisationRenewed,
    OrganisationSuspended,
    OrganisationUpdated,
    RegisterOrganisation,
    RegistrationRequestClosed,
    RegistrationRequested,
    ReinstateOrganisation,
    RejectionReason,
    RenewOrganisation,
    RequestOrganisationRegistration,
    RequestReservation,
    Reservation,
    ReservationCancelled,
    ReservationCancelRejected,
    ReservationConfirmed,
    ReservationRejected,
    SetBlackout,
    SpaceId,
    SuspendOrganisation,
    UpdateOrganisation,
)
from contracts.envelope import Message
from contracts.topics import BOOKING_EVENTS
from services.booking import domain, store
from services.booking.days import evening_decision, schedule_expiry
from services.booking.settings import BookingSettings
from services.runtime import outbox
from services.runtime.db import meanwhile
from services.runtime.identity import Caller
from services.runtime.outbox import Outgoing

LAB_KEY = "lab"
ONE_DAY = timedelta(days=1)


def answer(cmd: Message, key: str, event_type: type[Message], **fields: object) -> Outgoing:
    """An event on booking.events answering `cmd`."""
    return outbox.answer(cmd, BOOKING_EVENTS, key, event_type, **fields)


class BookingHandlers:
    def __init__(self, settings: BookingSettings) -> None:
        self.settings = settings
        self.policy = settings.policy

    # --- organisations ------------------------------------------------------------------------

    async def register_organisation(
        self, conn: asyncpg.Connection, cmd: RegisterOrganisation, caller: Caller
    ) -> Sequence[Outgoing]:
        organisation_id = uuid4()
        now = self.settings.now()
        if cmd.registration_request_id is not None and not await store.close_registration_request(
            conn, cmd.registration_request_id, now, "registered", organisation_id
        ):
            return [request_not_waiting(cmd, cmd.registration_request_id)]
        valid_until = domain.registration_valid_until(now, self.policy)
        await store.insert_organisation(conn, organisation_id, cmd, now, valid_until)
        await schedule_expiry(conn, self.settings, organisation_id, valid_until)
        return [
            answer(
                cmd, str(organisation_id), OrganisationRegistered,
                organisation_id=organisation_id, name=cmd.name, kind=cmd.kind,
                contact=Contact(name=cmd.contact_name, email=cmd.contact_email),
                newsletter_consent=cmd.newsletter_consent, valid_until=valid_until,
                actor=caller.actor(),
            )
        ]  # fmt: skip

    async def request_registration(
        self, conn: asyncpg.Connection, cmd: RequestOrganisationRegistration, caller: Caller
    ) -> Sequence[Outgoing]:
        """Kept for the interview; its contact stays here (staff read it over HTTP), the
        answer names the request alone."""
        key = str(cmd.contact_email)
        if not await store.insert_registration_request(conn, cmd, self.settings.now()):
            return [answer(cmd, key, OrganisationCommandRejected, reason=RejectionReason.CONFLICT,
                           detail="A request for this address is already waiting for its "
                           "interview.")]  # fmt: skip
        return [answer(cmd, key, RegistrationRequested, registration_request_id=cmd.message_id,
                       name=cmd.name)]  # fmt: skip

    async def close_registration_request(
        self, conn: asyncpg.Connection, cmd: CloseRegistrationRequest, caller: Caller
    ) -> Sequence[Outgoing]:
        request_id = cmd.registration_request_id
        if not await store.close_registration_request(
            conn, request_id, self.settings.now(), "closed", reason=cmd.reason
        ):
            return [request_not_waiting(cmd, request_id)]
        return [answer(cmd, str(request_id), RegistrationRequestClosed,
                       registration_request_id=request_id, actor=caller.actor())]  # fmt: skip

    async def update_organisation(
        self, conn: asyncpg.Connection, cmd: UpdateOrganisation, caller: Caller
    ) -> Sequence[Outgoing]:
        """Contact details travel in `organisation.updated`, which notify reads; notify ends the
        newsletter when the consent is withdrawn."""
        if not domain.acts_for(caller, cmd.organisation_id):
            return [not_theirs(cmd, cmd.organisation_id)]
        org = await store.load_organisation(conn, cmd.organisation_id)
        if org is None:
            return [unknown_organisation(cmd, cmd.organisation_id)]
        updated = store.Organisation(
            id=org.id,
            name=cmd.name or org.name,
            contact=Contact(
                name=cmd.contact_name or org.contact.name,
                email=cmd.contact_email or org.contact.email,
            ),
            newsletter_consent=(
                org.newsletter_consent if cmd.newsletter_consent is None else cmd.newsletter_consent
            ),
            standing=org.standing,
        )
        await store.update_organisation(conn, updated)
        return [
            answer(
                cmd, str(org.id), OrganisationUpdated, organisation_id=org.id, name=updated.name,
                contact=updated.contact, newsletter_consent=updated.newsletter_consent,
                actor=caller.actor(),
            )
        ]  # fmt: skip

    async def renew_organisation(
        self, conn: asyncpg.Connection, cmd: RenewOrganisation, caller: Caller
    ) -> Sequence[Outgoing]:
        org = await store.load_organisation(conn, cmd.organisation_id)
        if org is None:
            return [unknown_organisation(cmd, cmd.organisation_id)]
        valid_until = domain.renewed_until(self.settings.now(), org.standing.valid_until,
                                           self.policy)  # fmt: skip
        await store.set_valid_until(conn, org.id, valid_until)
        await schedule_expiry(conn, self.settings, org.id, valid_until)
        return [
            answer(cmd, str(org.id), OrganisationRenewed, organisation_id=org.id,
                   valid_until=valid_until, actor=caller.actor())
        ]  # fmt: skip

    async def suspend_organisation(
        self, conn: asyncpg.Connection, cmd: SuspendOrganisation, caller: Caller
    ) -> Sequence[Outgoing]:
        org = await store.load_organisation(conn, cmd.organisation_id)
        if org is None:
            return [unknown_organisation(cmd, cmd.organisation_id)]
        await store.set_suspended(conn, org.id, self.settings.now(), cmd.reason)
        return [answer(cmd, str(org.id), OrganisationSuspended, organisation_id=org.id,
                       reason=cmd.reason, actor=caller.actor())]  # fmt: skip

    async def reinstate_organisation(
        self, conn: asyncpg.Connection, cmd: ReinstateOrganisation, caller: Caller
    ) -> Sequence[Outgoing]:
        org = await store.load_organisation(conn, cmd.organisation_id)
        if org is None:
            return [unknown_organisation(cmd, cmd.organisation_id)]
        await store.set_suspended(conn, org.id, None, "")
        return [answer(cmd, str(org.id), OrganisationReinstated, organisation_id=org.id,
                       actor=caller.actor())]  # fmt: skip

    # --- reservations -------------------------------------------------------------------------

    async def request_reservation(
        self, conn: asyncpg.Connection, cmd: RequestReservation, caller: Caller
    ) -> Sequence[Outgoing]:
        """The rooms are claimed in the round trip that reads the rules' facts, as nearly every
        request passes the rules; a request the rules refuse gives its claim back at once, and
        the rules' reason comes before a conflict's, as if they had been judged first.

        The channel is the proven sender's, whatever the command says; an organisation books
        only in its own name, the kiosk for today only."""
        now = self.settings.now()
        cmd = sent_by(cmd, caller)
        if refused := domain.check_sender(caller, cmd.organisation_id, cmd.starts_at, now):
            return [rejected(cmd, refused, None)]
        day = cmd.starts_at.astimezone(domain.TOKYO).date()
        quota = self.policy.max_active_reservations
        reservation_id = uuid4()
        rooms = domain.units_of(cmd.space, cmd.atrium, self.policy.spaces)
        context, stored = await store.claim_with_context(conn, reservation_id, cmd, rooms, day,
                                                         now, quota)  # fmt: skip
        request = request_of(cmd)
        situation = domain.Situation(
            now, context.standing, context.blacked_out, context.active_reservations
        )
        rejection = domain.check_reservation(request, situation, self.policy,
                                             context.lab_attendees)  # fmt: skip
        if rejection is None and stored:
            return [confirmed(cmd, reservation_id, context.contact, caller)]
        if rooms or stored:  # a claim, whole or partial, goes back
            await store.release(conn, reservation_id)
        return [rejected(cmd, rejection or domain.conflict(), context.contact)]

    async def request_reservations(
        self, conn: asyncpg.Connection, proven: Sequence[tuple[RequestReservation, Caller]]
    ) -> list[Sequence[Outgoing]]:
        """A run of reservation requests decided together, each as if the earlier ones had been
        decided before it (`domain.decide_in_order`), in two statements instead of one per
        request: the facts of all, then the accepted ones stored with their rooms. Should
        another instance have taken a room after the facts were read, the run is decided again
        (`decide_together`; a race: rare, and each round learns at least one room). A run of one
        request, the usual case at a low rate, takes the one-request path: one round trip
        instead of two.

        As on that path, each request's channel is its proven sender's, and a request its sender
        may not make (`domain.check_sender`) is refused in its place without being decided."""
        if len(proven) == 1:
            return [await self.request_reservation(conn, *proven[0])]
        answers: list[Sequence[Outgoing]] = []
        cmds: list[RequestReservation] = []
        callers: list[Caller] = []
        places: list[int] = []
        now = self.settings.now()
        for cmd, caller in proven:
            cmd = sent_by(cmd, caller)
            if refused := domain.check_sender(caller, cmd.organisation_id, cmd.starts_at, now):
                answers.append([rejected(cmd, refused, None)])
                continue
            cmds.append(cmd)
            callers.append(caller)
            places.append(len(answers))
            answers.append([])  # decided below
        if cmds:
            for place, outgoing in zip(places, await self.decide_together(conn, cmds, callers, now),
                                       strict=True):  # fmt: skip
                answers[place] = outgoing
        return answers

    async def decide_together(
        self,
        conn: asyncpg.Connection,
        cmds: Sequence[RequestReservation],
        callers: list[Caller],
        now: datetime,
    ) -> list[Sequence[Outgoing]]:
        """The run decided and stored under a savepoint, its rooms stored plainly (the cheaper
        insert, `store.store_many`). Should another instance have taken one of them after the
        facts were read, that insert fails and the savepoint undoes the run: it is then decided
        again from facts read anew, its rooms claimed race-safe."""
        wanted = [wanted_of(c, self.policy.spaces) for c in cmds]
        try:
            async with conn.transaction():
                return await self.decide_and_store(conn, wanted, callers, now, race_safe=False)
        except asyncpg.ExclusionViolationError:
            return await self.decide_and_store(conn, wanted, callers, now, race_safe=True)

    async def decide_and_store(
        self,
        conn: asyncpg.Connection,
        wanted: Sequence[store.Wanted],
        callers: list[Caller],
        now: datetime,
        *,
        race_safe: bool,
    ) -> list[Sequence[Outgoing]]:
        cmds = [w.cmd for w in wanted]
        contexts = await store.contexts_of(conn, wanted, now,
                                           self.policy.max_active_reservations)  # fmt: skip
        ids = [uuid4() for _ in cmds]
        asked = [domain.Asked(c.organisation_id, request_of(c), facts)
                 for c, (_, facts) in zip(cmds, contexts, strict=True)]  # fmt: skip
        while True:
            decisions = domain.decide_in_order(asked, now, self.policy)
            accepted = [(rid, w) for rid, w, d in zip(ids, wanted, decisions, strict=True)
                        if d is None]  # fmt: skip
            answers = functools.partial(answers_of, cmds, contexts, ids, decisions, callers)
            if not accepted:
                return answers()
            short, made = await meanwhile(
                store.store_many(conn, accepted, race_safe=race_safe), answers
            )
            if not short:
                return made
            await store.release_many(conn, [rid for rid, _ in accepted])
            asked = [replace(a, facts=replace(a.facts, rooms_taken=True)) if rid in short else a
                     for a, rid in zip(asked, ids, strict=True)]  # fmt: skip

    async def cancel_reservation(
        self, conn: asyncpg.Connection, cmd: CancelReservation, caller: Caller
    ) -> Sequence[Outgoing]:
        now = self.settings.now()
        held = await store.load_reservation(conn, cmd.reservation_id, lock=True)
        channel = domain.channel_of(caller)
        facts = None if held is None else domain.Held(held.organisation_id, held.ends_at,
                                                      held.cancelled, held.session_id)  # fmt: skip
        if rejection := domain.check_cancel(facts, caller, now):
            return [
                answer(
                    cmd, str(cmd.reservation_id), ReservationCancelRejected,
                    reservation_id=cmd.reservation_id, reason=rejection.reason,
                    detail=rejection.detail,
                )
            ]  # fmt: skip
        assert held is not None
        await store.cancel_reservation(conn, held.id, now, channel.value)
        outgoing = [
            answer(
                cmd, held.space.value, ReservationCancelled, reservation_id=held.id,
                reservation=as_contract(held), cancelled_by=channel, contact=held.contact,
                actor=caller.actor(),
            )
        ]  # fmt: skip
        if domain.needs_evening_recheck(held.starts_at, held.ends_at, now, self.policy):
            day = held.starts_at.astimezone(domain.TOKYO).date()
            outgoing += await evening_decision(conn, self.policy, day, cmd.correlation())
        return outgoing

    # --- days ---------------------------------------------------------------------------------

    async def set_blackout(
        self, conn: asyncpg.Connection, cmd: SetBlackout, caller: Caller
    ) -> Sequence[Outgoing]:
        """A one-off closed day; reservations already made for it stay for staff to handle, and
        the answer lists them so staff (and notify) can contact their organisations."""
        now = self.settings.now()
        await store.set_blackout(conn, cmd.day, cmd.reason, cmd.message_id)
        start = domain.tokyo_midnight(cmd.day)
        booked = await store.booked_during(conn, start, domain.tokyo_midnight(cmd.day + ONE_DAY))
        affected = domain.affected_by_blackout(cmd.day, booked, now)
        return [
            answer(
                cmd, cmd.day.isoformat(), BlackoutSet, day=cmd.day, reason=cmd.reason,
                affected_reservation_ids=list(affected), actor=caller.actor(),
            )
        ]  # fmt: skip

    async def lift_blackout(
        self, conn: asyncpg.Connection, cmd: LiftBlackout, caller: Caller
    ) -> Sequence[Outgoing]:
        """Reopen a blacked-out day; a weekday reopened after its evening cut-off has its closing
        time decided at once (the schedule skipped it)."""
        now = self.settings.now()
        key = cmd.day.isoformat()
        blacked_out = await store.is_blacked_out(conn, cmd.day)
        if rejection := domain.check_blackout_lift(blacked_out, cmd.day, now):
            return [
                answer(
                    cmd, key, BlackoutLiftRejected, day=cmd.day, reason=rejection.reason,
                    detail=rejection.detail,
                )
            ]  # fmt: skip
        await store.lift_blackout(conn, cmd.day)
        outgoing = [answer(cmd, key, BlackoutLifted, day=cmd.day, actor=caller.actor())]
        if domain.needs_evening_decision_on_lift(cmd.day, now, self.policy):
            outgoing += await evening_decision(conn, self.policy, cmd.day, cmd.correlation())
        return outgoing

    # --- the Lab at the kiosk -----------------------------------------------------------------

    async def lab_check_in(
        self, conn: asyncpg.Connection, cmd: LabCheckIn, caller: Caller
    ) -> Sequence[Outgoing]:
        now = self.settings.now()
        day = now.astimezone(domain.TOKYO).date()
        lab = await store.lab_context(conn, cmd.organisation_id, now, day)
        seats = domain.lab_seats(self.policy, lab.a_booked, lab.b_booked)
        situation = domain.Situation(now, lab.standing, lab.blacked_out)
        rejection = domain.check_lab_check_in(cmd.people, lab.present, seats, situation,
                                              self.policy)  # fmt: skip
        if rejection is not None:
            return [
                answer(
                    cmd, LAB_KEY, LabCheckInRejected, organisation_id=cmd.organisation_id,
                    people=cmd.people, reason=rejection.reason, detail=rejection.detail,
                )
            ]  # fmt: skip
        slip = domain.slip_number(day, await store.next_slip_sequence(conn, day))
        await store.insert_visit(conn, slip, cmd.message_id, cmd.organisation_id, cmd.people,
                                 day, now)  # fmt: skip
        return [
            answer(
                cmd, LAB_KEY, LabCheckedIn, slip_number=slip, organisation_id=cmd.organisation_id,
                people=cmd.people, checked_in_at=now, actor=caller.actor(),
            )
        ]  # fmt: skip

    async def lab_check_out(
        self, conn: asyncpg.Connection, cmd: LabCheckOut, caller: Caller
    ) -> Sequence[Outgoing]:
        now = self.settings.now()
        visit = await store.check_out(conn, cmd.slip_number, now)
        if visit is None:
            return [
                answer(
                    cmd, LAB_KEY, LabCheckOutRejected, slip_number=cmd.slip_number,
                    reason=RejectionReason.NOT_FOUND,
                    detail="No one is checked in with this usage slip.",
                )
            ]  # fmt: skip
        organisation_id, people = visit
        return [
            answer(
                cmd, LAB_KEY, LabCheckedOut, slip_number=cmd.slip_number,
                organisation_id=organisation_id, people=people, checked_out_at=now,
                actor=caller.actor(),
            )
        ]  # fmt: skip


def request_not_waiting(cmd: Message, request_id: UUID) -> Outgoing:
    return answer(
        cmd, str(request_id), OrganisationCommandRejected, reason=RejectionReason.NOT_FOUND,
        detail="No such registration request is waiting (registered or closed already).",
    )  # fmt: skip


def unknown_organisation(cmd: Message, organisation_id: UUID) -> Outgoing:
    return answer(
        cmd, str(organisation_id), OrganisationCommandRejected, organisation_id=organisation_id,
        reason=RejectionReason.NOT_FOUND, detail="There is no such organisation.",
    )  # fmt: skip


def sent_by(cmd: RequestReservation, caller: Caller) -> RequestReservation:
    """The request with the channel of its proven sender, whatever its own field said (a copy
    only when they differ: the usual request already names its channel truly)."""
    channel = domain.channel_of(caller)
    return cmd if cmd.channel is channel else cmd.model_copy(update={"channel": channel})


def answers_of(
    cmds: Sequence[RequestReservation],
    contexts: Sequence[tuple[Contact | None, domain.Facts]],
    ids: Sequence[UUID],
    decisions: Sequence[domain.Rejection | None],
    callers: Sequence[Caller],
) -> list[Sequence[Outgoing]]:
    """Each request's answer, with its outbox bytes made at once: made while the database
    stores the run's reservations (`meanwhile`), not after."""
    made: list[Sequence[Outgoing]] = [
        [confirmed(c, rid, contact, who) if d is None else rejected(c, d, contact)]
        for c, (contact, _), rid, d, who in zip(cmds, contexts, ids, decisions, callers,
                                                 strict=True)
    ]  # fmt: skip
    outbox.prepare(outgoing for answer in made for outgoing in answer)
    return made


def wanted_of(cmd: RequestReservation, spaces: Mapping[SpaceId, domain.Space]) -> store.Wanted:
    """A request with what storing it needs: the rooms it holds and the day it starts on."""
    return store.Wanted(cmd, domain.units_of(cmd.space, cmd.atrium, spaces),
                        cmd.starts_at.astimezone(domain.TOKYO).date())  # fmt: skip


def request_of(cmd: RequestReservation) -> domain.Request:
    return domain.Request(
        cmd.space, cmd.starts_at, cmd.ends_at, cmd.attendees, cmd.atrium, cmd.purpose,
        on_behalf_of_city=domain.on_behalf_of_city(cmd.channel, cmd.session_id),
    )  # fmt: skip


def as_contract(held: store.StoredReservation) -> Reservation:
    return Reservation(
        organisation_id=held.organisation_id,
        space=held.space,
        starts_at=held.starts_at,
        ends_at=held.ends_at,
        attendees=held.attendees,
        purpose=held.purpose,
        atrium=held.atrium,
        channel=Channel(held.channel),
        session_id=held.session_id,
    )


def not_theirs(cmd: Message, organisation_id: UUID) -> Outgoing:
    rejection = domain.not_in_own_name()
    return answer(
        cmd, str(organisation_id), OrganisationCommandRejected, organisation_id=organisation_id,
        reason=rejection.reason, detail=rejection.detail,
    )  # fmt: skip


def confirmed(
    cmd: RequestReservation, reservation_id: UUID, contact: Contact | None, caller: Caller
) -> Outgoing:
    reservation = Reservation(
        organisation_id=cmd.organisation_id,
        space=cmd.space,
        starts_at=cmd.starts_at,
        ends_at=cmd.ends_at,
        attendees=cmd.attendees,
        purpose=cmd.purpose,
        atrium=cmd.atrium,
        channel=cmd.channel,
        session_id=cmd.session_id,
    )
    return answer(
        cmd, cmd.space.value, ReservationConfirmed,
        reservation_id=reservation_id, reservation=reservation, contact=contact,
        actor=caller.actor(),
    )  # fmt: skip


def rejected(
    cmd: RequestReservation, rejection: domain.Rejection, contact: Contact | None
) -> Outgoing:
    return answer(
        cmd, cmd.space.value, ReservationRejected,
        reason=rejection.reason, detail=rejection.detail, organisation_id=cmd.organisation_id,
        space=cmd.space, starts_at=cmd.starts_at, ends_at=cmd.ends_at, contact=contact,
    )  # fmt: skip
