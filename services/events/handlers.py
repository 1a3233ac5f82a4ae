"""One method per command, booking event or scheduled job of the events service: load, decide
with the domain, store, answer.

Each runs inside the consumer's batch transaction (or the schedule's); what it returns is
written to the outbox in the same transaction and, for a command, recorded in the inbox as its
answer, so a retried command gets the same answer and never a second place. Every command gets
exactly one outcome event; a business refusal is an answer, never an error. Every decision about
a program's seats is taken under the program's lock (services/events/store.py).

A session in Space A/B is booked through the booking service: `reservation.requested` (channel
events, with the session's id), signed with the service's own token, goes to `booking.commands`;
booking's answer on `booking.events` opens the session or tells staff why its venue was refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID, uuid4

import asyncpg

from contracts.booking import (
    CancelReservation,
    Channel,
    RequestReservation,
    ReservationCancelled,
    ReservationConfirmed,
    ReservationRejected,
    SpaceId,
)
from contracts.envelope import Message, new_message_id
from contracts.program import (
    AcceptOffer,
    AttendanceRecorded,
    AttendanceRejected,
    CancelProgram,
    CancelRegistration,
    CancelSession,
    ChangeProgram,
    ChangeSession,
    CheckIn,
    CreateProgram,
    DeclineOffer,
    Frame,
    ProgramCancelled,
    ProgramChanged,
    ProgramCreated,
    ProgramPublished,
    ProgramRejected,
    PublishProgram,
    Registrant,
    RegistrationCancelled,
    RegistrationCommandRejected,
    RegistrationConfirmed,
    RegistrationDeclined,
    RegistrationOffered,
    RegistrationOfferExpired,
    RegistrationPromoted,
    RegistrationRejected,
    RegistrationWaitlisted,
    RequestRegistration,
    SessionCancelled,
    SessionChanged,
    SessionOpened,
    SessionRejected,
    SessionVenueRejected,
    WaitPosition,
)
from contracts.program import ProgramRejectionReason as Reason
from contracts.topics import BOOKING_COMMANDS, PROGRAM_EVENTS
from services.events import access, domain, links, store
from services.events.domain import Confirm, PlaceKey, Rejection, SessionState, Status
from services.events.settings import EventsSettings
from services.runtime import outbox, schedule
from services.runtime.identity import Caller, Signer
from services.runtime.outbox import Outgoing
from services.runtime.schedule import Job

OFFER_JOB = "offer.expiry"
SERVICE_NAME = "events"


def answer(cmd: Message, key: str, event_type: type[Message], **fields: object) -> Outgoing:
    """An event on program.events answering `cmd`."""
    return outbox.answer(cmd, PROGRAM_EVENTS, key, event_type, **fields)


def fact(key: UUID, event: Message) -> Outgoing:
    return Outgoing(PROGRAM_EVENTS, str(key), event)


class EventsHandlers:
    def __init__(self, settings: EventsSettings, signer: Signer) -> None:
        self.settings = settings
        self.signer = signer

    def listed(self, reg: store.StoredRegistration) -> Registrant:
        return reg.listed(links.token(self.settings.signing_key, links.CANCEL, reg.id))

    # --- venues through booking ---------------------------------------------------------------

    def to_booking(self, key: str, command: Message) -> Outgoing:
        """A command to booking on the service's own account, its proof in `authorization`."""
        return Outgoing(BOOKING_COMMANDS, key, command, self.signer.own_proof())

    def book_venue(
        self, session: store.SessionRow, title: str, capacities: dict[Frame, int],
        request_id: UUID, correlation: UUID,
    ) -> Outgoing:  # fmt: skip
        space = SpaceId(domain.BOOKED_VENUES[session.venue].value)
        f = session.facts
        request = RequestReservation(
            message_id=request_id, correlation_id=correlation,
            organisation_id=self.settings.organisation_id, space=space,
            starts_at=f.starts_at, ends_at=f.ends_at,
            attendees=domain.venue_attendees(capacities),
            purpose=f"{title} 第{f.number}回", channel=Channel.EVENTS, session_id=f.session_id,
        )  # fmt: skip
        return self.to_booking(space.value, request)

    def cancel_venue(self, reservation_id: UUID, reason: str, correlation: UUID) -> Outgoing:
        cancel = CancelReservation(message_id=new_message_id(), correlation_id=correlation,
                                   reservation_id=reservation_id, channel=Channel.EVENTS,
                                   reason=reason)  # fmt: skip
        return self.to_booking(str(reservation_id), cancel)

    async def request_venue(
        self, conn: asyncpg.Connection, program: store.ProgramRow, session: store.SessionRow,
        correlation: UUID,
    ) -> Outgoing:  # fmt: skip
        places = await store.places_of(conn, program.id)
        capacities = {frame: p.capacity for (sid, frame), p in places.items() if sid == session.id}
        request_id = uuid4()
        await store.set_session_state(conn, session.id, SessionState.PENDING_VENUE,
                                      venue_request_id=request_id)  # fmt: skip
        return self.book_venue(session, program.title, capacities, request_id, correlation)

    # --- programs -----------------------------------------------------------------------------

    async def create_program(
        self, conn: asyncpg.Connection, cmd: CreateProgram, caller: Caller
    ) -> Sequence[Outgoing]:
        program_id = cmd.message_id
        refused = domain.check_plan(cmd)
        ids = [s.session_id for s in cmd.sessions]
        if refused is None and await conn.fetchval(
            "SELECT 1 FROM sessions WHERE id = ANY($1::uuid[])", ids
        ):
            refused = domain.invalid("A session id is already used by another program.")
        if refused is not None:
            return [program_rejected(cmd, program_id, refused)]
        await store.insert_program(conn, cmd)
        return [answer(cmd, str(program_id), ProgramCreated, program_id=program_id,
                       kind=cmd.kind, title=cmd.title, session_ids=ids,
                       actor=caller.actor())]  # fmt: skip

    async def publish_program(
        self, conn: asyncpg.Connection, cmd: PublishProgram, caller: Caller
    ) -> Sequence[Outgoing]:
        """Sessions in Space A/B ask booking for their venue and open on its confirmation;
        the others open at once."""
        program = await store.lock_program(conn, cmd.program_id)
        if program is None:
            return [program_rejected(cmd, cmd.program_id, no_program())]
        if program.rules.status is not domain.ProgramStatus.DRAFT:
            detail = f"The program is already {program.rules.status.value}."
            return [program_rejected(cmd, program.id, Rejection(Reason.CONFLICT, detail))]
        await store.set_program_status(conn, program.id, domain.ProgramStatus.PUBLISHED,
                                       self.settings.now())  # fmt: skip
        opened: list[UUID] = []
        pending: list[UUID] = []
        venues: list[Outgoing] = []
        for session in (await store.sessions_of(conn, program.id)).values():
            if session.facts.state is SessionState.CANCELLED:
                continue  # cancelled while the program was a draft: no venue, no seats
            if domain.needs_booking(session.venue):
                venues.append(await self.request_venue(conn, program, session,
                                                       cmd.correlation()))  # fmt: skip
                pending.append(session.id)
            else:
                await store.set_session_state(conn, session.id, SessionState.OPEN)
                opened.append(session.id)
        published = answer(cmd, str(program.id), ProgramPublished, program_id=program.id,
                           opened_session_ids=opened, pending_venue_session_ids=pending,
                           actor=caller.actor())  # fmt: skip
        facts = [session_opened(program.id, sid, None, cmd.correlation()) for sid in opened]
        return [published, *facts, *venues]

    async def change_program(
        self, conn: asyncpg.Connection, cmd: ChangeProgram, caller: Caller
    ) -> Sequence[Outgoing]:
        program = await store.lock_program(conn, cmd.program_id)
        if program is None:
            return [program_rejected(cmd, cmd.program_id, no_program())]
        if program.rules.status is domain.ProgramStatus.CANCELLED:
            refused = Rejection(Reason.CONFLICT, "The program is cancelled.")
            return [program_rejected(cmd, program.id, refused)]
        fields = {
            name: value
            for name, value in (
                ("title", cmd.title), ("title_en", cmd.title_en),
                ("description", cmd.description), ("description_en", cmd.description_en),
                ("registration_closes_at", cmd.registration_closes_at),
                ("promotion", cmd.promotion.value if cmd.promotion else None),
            )
            if value is not None
        }  # fmt: skip
        await store.change_program(conn, program.id, fields)
        return [answer(cmd, str(program.id), ProgramChanged, program_id=program.id,
                       actor=caller.actor())]  # fmt: skip

    async def cancel_program(
        self, conn: asyncpg.Connection, cmd: CancelProgram, caller: Caller
    ) -> Sequence[Outgoing]:
        """Every session and registration is cancelled, every venue given back to booking."""
        program = await store.lock_program(conn, cmd.program_id)
        if program is None:
            return [program_rejected(cmd, cmd.program_id, no_program())]
        if program.rules.status is domain.ProgramStatus.CANCELLED:
            refused = Rejection(Reason.CONFLICT, "The program is already cancelled.")
            return [program_rejected(cmd, program.id, refused)]
        now = self.settings.now()
        await store.set_program_status(conn, program.id, domain.ProgramStatus.CANCELLED, now)
        venues = []
        sessions = await store.sessions_of(conn, program.id)
        for session in sessions.values():
            await store.set_session_state(conn, session.id, SessionState.CANCELLED)
            if session.reservation_id is not None:
                venues.append(self.cancel_venue(session.reservation_id, cmd.reason,
                                                cmd.correlation()))  # fmt: skip
        active = await store.active_in(conn, program.id)
        await self.end_all(conn, active, now)
        cancelled = answer(
            cmd, str(program.id), ProgramCancelled, program_id=program.id, title=program.title,
            reason=cmd.reason, registrants=[self.listed(r) for r in active], actor=caller.actor(),
            session_ids=list(sessions),
        )  # fmt: skip
        return [cancelled, *venues]

    async def end_all(
        self, conn: asyncpg.Connection, registrations: Iterable[store.StoredRegistration],
        now: datetime,
    ) -> None:  # fmt: skip
        """Cancel registrations whose sessions are cancelled: nobody waits for them any more,
        so their seats are not given to anyone."""
        for r in registrations:
            await store.set_status(conn, r.id, Status.CANCELLED, now)
            if r.status is Status.OFFERED:
                await schedule.cancel(conn, OFFER_JOB, str(r.id))

    # --- sessions -----------------------------------------------------------------------------

    async def change_session(
        self, conn: asyncpg.Connection, cmd: ChangeSession, caller: Caller
    ) -> Sequence[Outgoing]:
        """New capacities (a raised one promotes from the waitlists at once), or a new time or
        venue: the venue is booked again, and the session's registrants are told it moved."""
        found = await self.locked_session(conn, cmd.session_id)
        if isinstance(found, Rejection):
            return [session_rejected(cmd, cmd.session_id, found)]
        program, sessions, session = found
        f, now = session.facts, self.settings.now()
        starts, ends = cmd.starts_at or f.starts_at, cmd.ends_at or f.ends_at
        venue = cmd.venue or session.venue
        if ends <= starts:
            return [session_rejected(cmd, session.id, domain.invalid("A session must end after "
                                                                     "it starts."))]  # fmt: skip
        places = await store.places_of(conn, program.id)
        raised: list[PlaceKey] = []
        for plan in cmd.frames or ():
            refused = domain.check_capacity(places.get((session.id, plan.frame)), plan.capacity,
                                            plan.frame)  # fmt: skip
            refused = refused or domain.check_frames(cmd.frames or (), venue, f.number)
            if refused is not None:
                return [session_rejected(cmd, session.id, refused)]
            place = places.setdefault((session.id, plan.frame), domain.Place(plan.capacity))
            if plan.capacity > place.capacity:
                raised.append((session.id, plan.frame))
            place.capacity = plan.capacity
        promotions = await self.promote_from(conn, program, sessions, places, raised, now)
        await store.save_places(conn, places)
        moved = (starts, ends, venue) != (f.starts_at, f.ends_at, session.venue)
        retry = f.state is SessionState.VENUE_REJECTED
        venues: list[Outgoing] = []
        if moved or retry or cmd.venue_name is not None:
            await store.move_session(conn, session.id, starts, ends, venue,
                                     cmd.venue_name or session.venue_name)  # fmt: skip
        if (moved or retry) and program.rules.status is domain.ProgramStatus.PUBLISHED:
            venues = await self.rebook(conn, program, session.id, cmd.correlation())
        registrants = [self.listed(r) for r in await store.active_in(conn, program.id, session.id)]
        changed = answer(
            cmd, str(session.id), SessionChanged, program_id=program.id, session_id=session.id,
            starts_at=starts, ends_at=ends, venue=venue, moved=moved,
            registrants=registrants if moved else [], actor=caller.actor(),
            program_title=program.title, number=f.number,
            venue_name=cmd.venue_name or session.venue_name,
        )  # fmt: skip
        return [changed, *promotions, *venues]

    async def rebook(
        self, conn: asyncpg.Connection, program: store.ProgramRow, session_id: UUID,
        correlation: UUID,
    ) -> list[Outgoing]:  # fmt: skip
        """A moved session gives its old venue back and asks for the new one; a session that
        needs no booking (any more) opens."""
        session = (await store.sessions_of(conn, program.id))[session_id]
        out = []
        if session.reservation_id is not None:
            out.append(self.cancel_venue(session.reservation_id, "session moved", correlation))
        if domain.needs_booking(session.venue):
            out.append(await self.request_venue(conn, program, session, correlation))
        else:
            await store.set_session_state(conn, session_id, SessionState.OPEN)
            out.append(session_opened(program.id, session_id, None, correlation))
        return out

    async def cancel_session(
        self, conn: asyncpg.Connection, cmd: CancelSession, caller: Caller
    ) -> Sequence[Outgoing]:
        """The session's venue is given back; registrations for it alone are cancelled (those
        for several sessions keep the others); everyone registered for it is told."""
        found = await self.locked_session(conn, cmd.session_id)
        if isinstance(found, Rejection):
            return [session_rejected(cmd, cmd.session_id, found)]
        program, _, session = found
        now = self.settings.now()
        await store.set_session_state(conn, session.id, SessionState.CANCELLED)
        active = await store.active_in(conn, program.id, session.id)
        await self.end_all(conn, [r for r in active if r.session_ids == (session.id,)], now)
        out = [
            answer(cmd, str(session.id), SessionCancelled, program_id=program.id,
                   session_id=session.id, reason=cmd.reason,
                   registrants=[self.listed(r) for r in active], actor=caller.actor(),
                   program_title=program.title, number=session.facts.number,
                   starts_at=session.facts.starts_at, ends_at=session.facts.ends_at)
        ]  # fmt: skip
        if session.reservation_id is not None:
            out.append(self.cancel_venue(session.reservation_id, cmd.reason, cmd.correlation()))
        return out

    async def locked_session(
        self, conn: asyncpg.Connection, session_id: UUID
    ) -> tuple[store.ProgramRow, dict[UUID, store.SessionRow], store.SessionRow] | Rejection:
        program_id = await store.program_of_session(conn, session_id)
        program = None if program_id is None else await store.lock_program(conn, program_id)
        if program is None:
            return Rejection(Reason.NOT_FOUND, "There is no such session.")
        sessions = await store.sessions_of(conn, program.id)
        session = sessions[session_id]
        if session.facts.state is SessionState.CANCELLED:
            return Rejection(Reason.CONFLICT, "The session is cancelled.")
        if program.rules.status is domain.ProgramStatus.CANCELLED:
            return Rejection(Reason.CONFLICT, "The program is cancelled.")
        return program, sessions, session

    # --- booking's answers --------------------------------------------------------------------

    async def on_reservation_confirmed(
        self, conn: asyncpg.Connection, event: ReservationConfirmed, caller: Caller
    ) -> Sequence[Outgoing]:
        """The venue of a session waiting for it: the session opens. A venue no session waits
        for any more (the session moved or was cancelled meanwhile) is given back."""
        session_id = event.reservation.session_id
        if session_id is None or event.reservation.channel is not Channel.EVENTS:
            return []
        session = await store.session_by_venue_request(conn, event.request_id)
        if session is None:
            if await store.program_of_session(conn, session_id) is None:
                return []  # not one of ours
            unneeded = self.cancel_venue(event.reservation_id, "no longer needed",
                                         event.correlation())  # fmt: skip
            return [unneeded]
        if await store.lock_program(conn, session.program_id) is None:
            return []
        state = (await store.sessions_of(conn, session.program_id))[session.id].facts.state
        if state is not SessionState.PENDING_VENUE:
            if state is SessionState.CANCELLED:
                return [self.cancel_venue(event.reservation_id, "session cancelled",
                                          event.correlation())]  # fmt: skip
            return []
        await store.set_session_state(conn, session.id, SessionState.OPEN,
                                      reservation_id=event.reservation_id)  # fmt: skip
        return [session_opened(session.program_id, session.id, event.reservation_id,
                               event.correlation())]  # fmt: skip

    async def on_reservation_rejected(
        self, conn: asyncpg.Connection, event: ReservationRejected, caller: Caller
    ) -> Sequence[Outgoing]:
        """The venue was refused: the session stays unopened and staff are told booking's
        reason; `session.change` with another time or space asks again."""
        session = await store.session_by_venue_request(conn, event.request_id)
        if session is None or await store.lock_program(conn, session.program_id) is None:
            return []
        state = (await store.sessions_of(conn, session.program_id))[session.id].facts.state
        if state is not SessionState.PENDING_VENUE:
            return []
        await store.set_session_state(conn, session.id, SessionState.VENUE_REJECTED,
                                      reason=event.reason.value, detail=event.detail)  # fmt: skip
        rejected = SessionVenueRejected(
            message_id=new_message_id(), correlation_id=event.correlation(),
            program_id=session.program_id, session_id=session.id, reason=event.reason.value,
            detail=event.detail,
        )  # fmt: skip
        return [fact(session.id, rejected)]

    async def on_reservation_cancelled(
        self, conn: asyncpg.Connection, event: ReservationCancelled, caller: Caller
    ) -> Sequence[Outgoing]:
        """An open session's venue cancelled at booking by someone else (staff at the desk):
        the session takes no more registrations until staff give it a venue again
        (`session.change`), and staff are told, as for a refused venue. The service's own
        cancellations (a moved or cancelled session) change nothing here."""
        if event.reservation.session_id is None or event.cancelled_by is Channel.EVENTS:
            return []
        session = await store.session_by_reservation(conn, event.reservation_id)
        if session is None or await store.lock_program(conn, session.program_id) is None:
            return []
        state = (await store.sessions_of(conn, session.program_id))[session.id].facts.state
        if state is not SessionState.OPEN:
            return []
        detail = f"The venue's reservation was cancelled at booking ({event.cancelled_by.value})."
        await store.set_session_state(conn, session.id, SessionState.VENUE_REJECTED,
                                      reason="cancelled", detail=detail)  # fmt: skip
        told = SessionVenueRejected(
            message_id=new_message_id(), correlation_id=event.correlation(),
            program_id=session.program_id, session_id=session.id, reason="cancelled",
            detail=detail,
        )  # fmt: skip
        return [fact(session.id, told)]

    # --- registrations ------------------------------------------------------------------------

    async def request_registration(
        self, conn: asyncpg.Connection, cmd: RequestRegistration, caller: Caller
    ) -> Sequence[Outgoing]:
        return (await self.request_registrations(conn, [(cmd, caller)]))[0]

    async def request_registrations(
        self, conn: asyncpg.Connection, proven: Sequence[tuple[RequestRegistration, Caller]]
    ) -> list[Sequence[Outgoing]]:
        """A run of registration requests decided together, each as if the ones before it had
        been decided first (the consumer's bulk path; a request alone is a run of one): the
        programs are locked in the order of their ids and loaded once, every request is decided
        in memory in its order, and the registrations and seat counters are written at the end,
        in a few round trips instead of six a request."""
        now = self.settings.now()
        loaded: dict[UUID, Loaded | None] = {}
        for program_id in sorted({cmd.program_id for cmd, _ in proven}):
            emails = {str(cmd.email).lower() for cmd, _ in proven if cmd.program_id == program_id}
            loaded[program_id] = await self.load_for_registration(conn, program_id, emails)
        answers: list[Sequence[Outgoing]] = []
        new: list[store.NewRegistration] = []
        for cmd, _ in proven:
            context = loaded[cmd.program_id]
            if context is None:
                refused = domain.invalid("There is no such program.")
                answers.append([registration_rejected(cmd, refused)])
                continue
            outgoing, registration = self.decide_registration(cmd, context, now)
            answers.append([outgoing])
            if registration is not None:
                new.append(registration)
        await store.insert_registrations(conn, new, now)
        for context in loaded.values():
            if context is not None and context.changed:
                await store.save_places(conn, {k: context.places[k] for k in context.changed})
        return answers

    async def load_for_registration(
        self, conn: asyncpg.Connection, program_id: UUID, emails: set[str]
    ) -> Loaded | None:
        program = await store.lock_program(conn, program_id)
        if program is None:
            return None
        sessions = await store.sessions_of(conn, program.id)
        places = await store.places_of(conn, program.id)
        held = await store.holdings(conn, program.id, emails)
        return Loaded(program, sessions, places, held)

    def decide_registration(
        self, cmd: RequestRegistration, context: Loaded, now: datetime
    ) -> tuple[Outgoing, store.NewRegistration | None]:
        """One request against the program as loaded (and as the requests before it in the run
        left it): its answer, and the registration to store when it got seats or a place in the
        waitlists."""
        program, sessions = context.program, context.sessions
        email = str(cmd.email).lower()
        ask = domain.Ask(cmd.series, tuple(cmd.session_ids), cmd.frame, cmd.party_size)
        asked = domain.asked_sessions(ask, context.facts)
        duplicate = not isinstance(asked, Rejection) and any(
            (email, s.session_id, cmd.frame) in context.held for s in asked
        )
        decision = domain.decide(ask, program.rules, context.facts, context.places, duplicate, now)
        if isinstance(decision, Rejection):
            return registration_rejected(cmd, decision, program.title), None
        held = (decision.session_ids if isinstance(decision, Confirm)
                else tuple(sid for sid, _ in decision.positions))  # fmt: skip
        context.changed.update((sid, cmd.frame) for sid in held)
        context.held.update((email, sid, cmd.frame) for sid in held)
        new = store.NewRegistration(
            id=uuid4(), request_id=cmd.message_id, program_id=program.id, series=cmd.series,
            frame=cmd.frame, party=cmd.party_size, registrant=registrant_of(cmd), note=cmd.note,
            status=Status.CONFIRMED if isinstance(decision, Confirm) else Status.WAITLISTED,
            check_in_code=domain.new_check_in_code(), session_ids=held,
        )  # fmt: skip
        key = cmd.partition_key()
        common = {
            "registration_id": new.id, "program_id": program.id, "program_title": program.title,
            "frame": cmd.frame, "party_size": cmd.party_size, "registrant": new.registrant,
            "cancel_token": links.token(self.settings.signing_key, links.CANCEL, new.id),
        }  # fmt: skip
        if isinstance(decision, Confirm):
            confirmed = answer(cmd, key, RegistrationConfirmed, check_in_code=new.check_in_code,
                               sessions=[sessions[sid].held(cmd.frame) for sid in held],
                               **common)  # fmt: skip
            return confirmed, new
        positions = [WaitPosition(session_id=sid, position=n) for sid, n in decision.positions]
        return answer(cmd, key, RegistrationWaitlisted, positions=positions, **common), new

    async def promote_from(
        self, conn: asyncpg.Connection, program: store.ProgramRow,
        sessions: dict[UUID, store.SessionRow], places: dict[PlaceKey, domain.Place],
        freed: Sequence[PlaceKey], now: datetime,
    ) -> list[Outgoing]:  # fmt: skip
        """Seats freed in these places go to the waiting registrations that fit, first that
        fits first: confirmed at once (auto) or offered until a deadline, kept on the durable
        schedule (offer). The places are counted; the caller saves them."""
        waiting = await store.waiting_on(conn, program.id, freed)
        if not waiting:
            return []
        by_id = {w.id: w for w in waiting}
        starts = {sid: s.facts.starts_at for sid, s in sessions.items()}
        out = []
        for promoted in domain.promote([w.waiting() for w in waiting], places, program.rules,
                                       starts, now):  # fmt: skip
            reg = by_id[promoted.entry.registration_id]
            expires = promoted.offer_expires_at
            common = {
                "registration_id": reg.id, "program_id": program.id,
                "program_title": program.title, "frame": reg.frame, "party_size": reg.party,
                "sessions": [sessions[sid].held(reg.frame) for sid in reg.session_ids],
                "registrant": reg.registrant,
                "cancel_token": links.token(self.settings.signing_key, links.CANCEL, reg.id),
            }  # fmt: skip
            if expires is None:
                await store.set_status(conn, reg.id, Status.CONFIRMED, now)
                event: Message = RegistrationPromoted(
                    message_id=new_message_id(), check_in_code=reg.check_in_code, **common
                )
            else:
                await store.set_status(conn, reg.id, Status.OFFERED, now, expires)
                await schedule.schedule(conn, OFFER_JOB, str(reg.id), self.settings.real(expires))
                event = RegistrationOffered(
                    message_id=new_message_id(), expires_at=expires,
                    offer_token=links.token(self.settings.signing_key, links.OFFER, reg.id),
                    **common,
                )  # fmt: skip
            out.append(fact(program.id, event))
        return out

    async def leave(
        self, conn: asyncpg.Connection, reg: store.StoredRegistration, status: Status,
        now: datetime,
    ) -> tuple[store.ProgramRow, list[Outgoing]]:  # fmt: skip
        """A registration ends (cancelled, declined, expired) under its program's lock: its
        seats go to the waitlists at once."""
        program = await store.lock_program(conn, reg.program_id)
        assert program is not None  # a registration's program is never deleted
        sessions = await store.sessions_of(conn, program.id)
        places = await store.places_of(conn, program.id)
        freed = domain.release(places, reg.session_ids, reg.frame, reg.party, reg.status)
        await store.set_status(conn, reg.id, status, now)
        if reg.status is Status.OFFERED:
            await schedule.cancel(conn, OFFER_JOB, str(reg.id))
        promotions = await self.promote_from(conn, program, sessions, places, freed, now)
        await store.save_places(conn, places)
        return program, promotions

    async def registration_for(
        self, conn: asyncpg.Connection, cmd: CancelRegistration | AcceptOffer | DeclineOffer,
        caller: Caller, purpose: str,
    ) -> store.StoredRegistration | Outgoing:  # fmt: skip
        """The registration the command names, locked with its program, if the caller may act
        for its registrant (the signed link, the citizen with its address, program staff);
        else the answer refusing it."""
        reg = await store.load_registration(conn, cmd.registration_id)
        key = self.settings.signing_key
        if reg is None:
            return command_rejected(cmd, Rejection(Reason.NOT_FOUND,
                                                   "There is no such registration."))  # fmt: skip
        if not (links.proves(key, cmd.token, purpose, reg.id)
                or access.acts_for_registrant(caller, str(reg.registrant.email))):  # fmt: skip
            return command_rejected(cmd, Rejection(
                Reason.FORBIDDEN, "The link is not valid for this registration."))  # fmt: skip
        await store.lock_program(conn, reg.program_id)
        locked = await store.load_registration(conn, reg.id)  # as it stands under the lock
        assert locked is not None
        return locked

    async def cancel_registration(
        self, conn: asyncpg.Connection, cmd: CancelRegistration, caller: Caller
    ) -> Sequence[Outgoing]:
        reg = await self.registration_for(conn, cmd, caller, links.CANCEL)
        if isinstance(reg, Outgoing):
            return [reg]
        if refused := domain.may_leave(reg.status):
            return [command_rejected(cmd, refused)]
        program, promotions = await self.leave(conn, reg, Status.CANCELLED, self.settings.now())
        cancelled = answer(
            cmd, str(reg.id), RegistrationCancelled, registration_id=reg.id,
            program_id=program.id, program_title=program.title, registrant=reg.registrant,
            actor=caller.actor(), session_ids=list(reg.session_ids),
        )  # fmt: skip
        return [cancelled, *promotions]

    async def accept_offer(
        self, conn: asyncpg.Connection, cmd: AcceptOffer, caller: Caller
    ) -> Sequence[Outgoing]:
        reg = await self.registration_for(conn, cmd, caller, links.OFFER)
        if isinstance(reg, Outgoing):
            return [reg]
        now = self.settings.now()
        if refused := offer_open(reg, now):
            return [command_rejected(cmd, refused)]
        await store.set_status(conn, reg.id, Status.CONFIRMED, now)
        await schedule.cancel(conn, OFFER_JOB, str(reg.id))
        program = await store.lock_program(conn, reg.program_id)
        assert program is not None
        sessions = await store.sessions_of(conn, program.id)
        return [
            answer(
                cmd, str(reg.id), RegistrationPromoted, registration_id=reg.id,
                program_id=program.id, program_title=program.title, frame=reg.frame,
                party_size=reg.party,
                sessions=[sessions[sid].held(reg.frame) for sid in reg.session_ids],
                registrant=reg.registrant, check_in_code=reg.check_in_code,
                cancel_token=links.token(self.settings.signing_key, links.CANCEL, reg.id),
            )
        ]  # fmt: skip

    async def decline_offer(
        self, conn: asyncpg.Connection, cmd: DeclineOffer, caller: Caller
    ) -> Sequence[Outgoing]:
        reg = await self.registration_for(conn, cmd, caller, links.OFFER)
        if isinstance(reg, Outgoing):
            return [reg]
        now = self.settings.now()
        if refused := offer_open(reg, now):
            return [command_rejected(cmd, refused)]
        program, promotions = await self.leave(conn, reg, Status.DECLINED, now)
        declined = answer(cmd, str(reg.id), RegistrationDeclined, registration_id=reg.id,
                          program_id=program.id)  # fmt: skip
        return [declined, *promotions]

    async def expire_offer(self, conn: asyncpg.Connection, job: Job) -> Sequence[Outgoing]:
        """An offer's deadline (the durable schedule: a restart loses none and fires none
        twice): unanswered, its seats go to the next that fits."""
        reg = await store.load_registration(conn, UUID(job.key))
        if reg is None:
            return []
        await store.lock_program(conn, reg.program_id)
        reg = await store.load_registration(conn, reg.id)
        if reg is None or reg.status is not Status.OFFERED:
            return []  # accepted, declined or cancelled meanwhile
        program, promotions = await self.leave(conn, reg, Status.EXPIRED, self.settings.now())
        expired = RegistrationOfferExpired(message_id=new_message_id(), registration_id=reg.id,
                                           program_id=program.id,
                                           registrant=reg.registrant)  # fmt: skip
        return [fact(program.id, expired), *promotions]

    # --- attendance ---------------------------------------------------------------------------

    async def check_in(
        self, conn: asyncpg.Connection, cmd: CheckIn, caller: Caller
    ) -> Sequence[Outgoing]:
        now = self.settings.now()
        found = await store.attendee_by_code(conn, domain.normal_code(cmd.code), cmd.session_id)
        refused = domain.check_attendance(found.attendee if found else None, cmd.session_id, now)
        if (
            refused is None
            and found is not None
            and not await store.record_attendance(
                conn, found.registration_id, cmd.session_id, now, caller.label()
            )
        ):
            refused = Rejection(
                Reason.ALREADY_RECORDED, "This code has already been checked in for this session."
            )
        if refused is not None or found is None:
            assert refused is not None
            return [answer(cmd, str(cmd.session_id), AttendanceRejected,
                           session_id=cmd.session_id, reason=refused.reason,
                           detail=refused.detail)]  # fmt: skip
        return [
            answer(cmd, str(cmd.session_id), AttendanceRecorded,
                   registration_id=found.registration_id, session_id=cmd.session_id,
                   frame=found.frame, party_size=found.party, recorded_at=now,
                   actor=caller.actor())
        ]  # fmt: skip


@dataclass
class Loaded:
    """A program as registrations are decided against it, under its lock: its sessions and
    places, the (address, session, frame) already held or waited for by the addresses of the
    run, and the places the run changed."""

    program: store.ProgramRow
    sessions: dict[UUID, store.SessionRow]
    places: dict[PlaceKey, domain.Place]
    held: set[tuple[str, UUID, Frame]]
    changed: set[PlaceKey] = field(default_factory=set)

    @property
    def facts(self) -> dict[UUID, domain.SessionFacts]:
        return {sid: s.facts for sid, s in self.sessions.items()}


def offer_open(reg: store.StoredRegistration, now: datetime) -> Rejection | None:
    if reg.status is not Status.OFFERED:
        return Rejection(Reason.CONFLICT, f"There is no open offer: the registration is "
                                          f"{reg.status.value}.")  # fmt: skip
    if reg.offer_expires_at is not None and now >= reg.offer_expires_at:
        return Rejection(Reason.CONFLICT, "The offer has expired.")
    return None


def registrant_of(cmd: RequestRegistration) -> Registrant:
    return Registrant(name=cmd.name, email=cmd.email, language=cmd.language)


def session_opened(
    program_id: UUID, session_id: UUID, reservation_id: UUID | None, correlation: UUID
) -> Outgoing:
    """A session takes registrations from now on: a fact (every session announces it, whether
    its venue was confirmed or it needed none), not an answer to the command that caused it."""
    opened = SessionOpened(message_id=new_message_id(), correlation_id=correlation,
                           program_id=program_id, session_id=session_id,
                           reservation_id=reservation_id)  # fmt: skip
    return fact(session_id, opened)


def no_program() -> Rejection:
    return Rejection(Reason.NOT_FOUND, "There is no such program.")


def program_rejected(cmd: Message, program_id: UUID | None, refused: Rejection) -> Outgoing:
    return answer(cmd, str(program_id or cmd.message_id), ProgramRejected, program_id=program_id,
                  reason=refused.reason, detail=refused.detail)  # fmt: skip


def session_rejected(cmd: Message, session_id: UUID, refused: Rejection) -> Outgoing:
    return answer(cmd, str(session_id), SessionRejected, session_id=session_id,
                  reason=refused.reason, detail=refused.detail)  # fmt: skip


def registration_rejected(
    cmd: RequestRegistration, refused: Rejection, title: str | None = None
) -> Outgoing:
    """The answer, naming the registrant and the program, so notify can tell them why."""
    return answer(cmd, cmd.partition_key(), RegistrationRejected, program_id=cmd.program_id,
                  program_title=title, reason=refused.reason, detail=refused.detail,
                  registrant=registrant_of(cmd))  # fmt: skip


def command_rejected(
    cmd: CancelRegistration | AcceptOffer | DeclineOffer, refused: Rejection
) -> Outgoing:
    return answer(cmd, str(cmd.registration_id), RegistrationCommandRejected,
                  registration_id=cmd.registration_id, reason=refused.reason,
                  detail=refused.detail)  # fmt: skip
