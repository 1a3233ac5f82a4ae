"""One function per event the notify service reacts to: compose the e-mail, queue it.

Queuing happens in the consumer's transaction, with the inbox entry of the event, so an event
delivered twice queues one e-mail. Sending is the sender's job (services/notify/sender.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from contracts.booking import OrganisationRegistered, ReservationConfirmed, ReservationRejected
from services.notify import domain, store
from services.runtime.outbox import Outgoing


async def on_organisation_registered(
    conn: asyncpg.Connection, event: OrganisationRegistered
) -> Sequence[Outgoing]:
    await store.queue_email(conn, domain.organisation_registered_email(event))
    return []


async def on_reservation_confirmed(
    conn: asyncpg.Connection, event: ReservationConfirmed
) -> Sequence[Outgoing]:
    if email := domain.reservation_confirmed_email(event):
        await store.queue_email(conn, email)
    return []


async def on_reservation_rejected(
    conn: asyncpg.Connection, event: ReservationRejected
) -> Sequence[Outgoing]:
    if email := domain.reservation_rejected_email(event):
        await store.queue_email(conn, email)
    return []
