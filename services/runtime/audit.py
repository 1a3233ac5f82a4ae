"""The audit of commands: what staff (and services and devices) did, and every refused command.

Written in the transaction of the decision, so a command is audited exactly when it took effect
or was refused. Organisations' own requests are not audited here: their answers on the events
topic already say who asked for what, and an audit row per booking would double every write.
The audit keeps no message content (it may be personal data): who, when, which command, why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from contracts.identity import PrincipalKind
from services.runtime.identity import Caller

AUDITED_KINDS = frozenset({PrincipalKind.STAFF, PrincipalKind.SERVICE, PrincipalKind.DEVICE})


@dataclass(frozen=True)
class AuditEntry:
    caller: Caller
    action: str
    message_id: UUID | None
    outcome: str  # done | unauthorized | forbidden
    reason: str | None = None


def audited(caller: Caller) -> bool:
    return caller.kind in AUDITED_KINDS


def row(e: AuditEntry) -> tuple[object, ...]:
    roles = sorted(r.value for r in e.caller.roles)
    return (e.caller.label(), roles, e.action, e.message_id, e.outcome, e.reason)


async def write(conn: asyncpg.Connection, entries: Sequence[AuditEntry]) -> None:
    if not entries:
        return
    await conn.executemany(
        "INSERT INTO audit_log (principal, roles, action, message_id, outcome, reason)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        [row(e) for e in entries],
    )
