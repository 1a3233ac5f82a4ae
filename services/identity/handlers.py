"""What identity learns from `booking.events`: the registered organisations, their contact (by
the normalised address, `addresses.key_of`) and their standing. Identity publishes nothing.

Events of one organisation are keyed by its id, so they arrive in order. An organisation that
stops being allowed in (suspended, expired) or whose contact changes loses its browser sessions
and unused links at once; a bearer token already issued lives out its five minutes.

A standing event about an organisation identity has not seen registered (its registration
predates what the topic still holds) is kept all the same, with no contact: nobody can sign in
for it by link until an `organisation.updated` names a contact.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from uuid import UUID

import asyncpg

from contracts.booking import (
    OrganisationExpired,
    OrganisationRegistered,
    OrganisationReinstated,
    OrganisationRenewed,
    OrganisationSuspended,
    OrganisationUpdated,
)
from contracts.envelope import SINGLE_LINE
from contracts.identity import PrincipalKind
from services.identity import addresses, domain, store
from services.identity.domain import Organisation, Standing
from services.runtime.clock import Clock
from services.runtime.identity import Caller
from services.runtime.outbox import Outgoing

ONE_LINE = re.compile(SINGLE_LINE)
MAX_NAME = 500  # as booking takes a name (contracts.envelope.NonEmptyText)


def label_of(name: str) -> str:
    """The name a session, a token and a sign-in mail may carry: the event's `name` is a bare
    `str`, so one that is not a line of text booking would accept (a line break would forge a
    line of the mail) is kept as no name (the id is shown instead) rather than refusing the
    organisation's registration. (A NUL never gets here: the runtime dead-letters the record.)"""
    return name if len(name) <= MAX_NAME and ONE_LINE.fullmatch(name) else ""


class Handlers:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    async def _known(self, conn: asyncpg.Connection, organisation_id: UUID) -> Organisation:
        found = await store.load_organisation(conn, organisation_id)
        return found or Organisation(organisation_id, "", None)

    async def _save(
        self, conn: asyncpg.Connection, before: Organisation | None, after: Organisation
    ) -> Sequence[Outgoing]:
        now = self.clock.now()
        await store.save_organisation(conn, after, now)
        shut_out = domain.standing(after, now) is not Standing.ACTIVE
        if shut_out or domain.contact_changed(before, after):
            subject = str(after.id)
            await store.delete_sessions_of(conn, PrincipalKind.ORGANISATION, subject)
            await store.drop_unused_links(conn, PrincipalKind.ORGANISATION, subject)
        return []

    async def on_registered(
        self, conn: asyncpg.Connection, event: OrganisationRegistered, caller: Caller
    ) -> Sequence[Outgoing]:
        before = await store.load_organisation(conn, event.organisation_id)
        name = label_of(event.name)
        base = before or Organisation(event.organisation_id, name, None)
        after = replace(base, name=name, contact_key=addresses.key_of(event.contact.email),
                        valid_until=event.valid_until)  # fmt: skip
        return await self._save(conn, before, after)

    async def on_updated(
        self, conn: asyncpg.Connection, event: OrganisationUpdated, caller: Caller
    ) -> Sequence[Outgoing]:
        before = await store.load_organisation(conn, event.organisation_id)
        name = label_of(event.name)
        base = before or Organisation(event.organisation_id, name, None)
        after = replace(base, name=name, contact_key=addresses.key_of(event.contact.email))
        return await self._save(conn, before, after)

    async def on_suspended(
        self, conn: asyncpg.Connection, event: OrganisationSuspended, caller: Caller
    ) -> Sequence[Outgoing]:
        before = await self._known(conn, event.organisation_id)
        return await self._save(conn, before, replace(before, suspended=True))

    async def on_reinstated(
        self, conn: asyncpg.Connection, event: OrganisationReinstated, caller: Caller
    ) -> Sequence[Outgoing]:
        before = await self._known(conn, event.organisation_id)
        return await self._save(conn, before, replace(before, suspended=False))

    async def on_expired(
        self, conn: asyncpg.Connection, event: OrganisationExpired, caller: Caller
    ) -> Sequence[Outgoing]:
        before = await self._known(conn, event.organisation_id)
        return await self._save(conn, before, replace(before, expired=True))

    async def on_renewed(
        self, conn: asyncpg.Connection, event: OrganisationRenewed, caller: Caller
    ) -> Sequence[Outgoing]:
        before = await self._known(conn, event.organisation_id)
        return await self._save(conn, before, domain.renewed(before, event.valid_until))
