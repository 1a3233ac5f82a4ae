"""A command's answer over HTTP, to the caller who sent it and to no one else.

Clients such as the Lab kiosk and the web client may write commands to Kafka but may not read
the services' events topics: those carry every organisation's contacts and purposes. They fetch
the answer to their own command here instead: `GET /answers/{request_id}`, with the same proof
they sent the command with. The inbox remembers who sent each command (the proven caller, as
`kind:subject`), so another caller, even one who learnt the request id, gets 404, as for an id
never seen. `wait` holds the request open until the answer is there (long polling), so a client
needs no loop of its own.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Query

from services.runtime.http import error_responses
from services.runtime.http_auth import Doors
from services.runtime.identity import Caller, signed_in

if TYPE_CHECKING:  # the service module builds the routers, and imports this one
    from services.runtime.service import ServiceContext

MAX_WAIT_S = 10.0
POLL_S = 0.05
NO_ANSWER = "no answer to this request for this caller (yet)"


def answers_router(ctx: ServiceContext) -> APIRouter:
    router = APIRouter(tags=["answers"])
    sender = Doors.of(ctx).lock(signed_in)

    @router.get(
        "/answers/{request_id}",
        responses=error_responses(404),
    )
    async def answer(
        request_id: UUID,
        wait: Annotated[float, Query(ge=0, le=MAX_WAIT_S, allow_inf_nan=False)] = 0.0,
        caller: Caller = Depends(sender),
    ) -> dict[str, Any]:
        """The events that answered the caller's command `request_id` (usually one), to the
        caller who sent it (any signed-in caller may ask; another's answer is a 404)."""
        deadline = time.monotonic() + wait
        while True:
            found = await answers_for(ctx.pool, request_id, caller.label())
            if found is not None:
                return {"request_id": str(request_id), "answers": found}
            if time.monotonic() >= deadline:
                raise HTTPException(404, NO_ANSWER)
            await asyncio.sleep(min(POLL_S, max(0.0, deadline - time.monotonic())))

    return router


async def answers_for(pool: asyncpg.Pool, request_id: UUID, sender: str) -> list[Any] | None:
    """The answers recorded for the request if `sender` sent it (possibly none); None when it
    is unknown, or not theirs. One round trip: it is asked every POLL_S while a client waits."""
    values = await pool.fetchval(
        "SELECT coalesce(array_agg(o.value ORDER BY o.id) FILTER (WHERE o.id IS NOT NULL),"
        "                '{}')"
        " FROM inbox i LEFT JOIN outbox o ON o.id = ANY(i.replies)"
        " WHERE i.message_id = $1 AND i.sender = $2 GROUP BY i.message_id",
        request_id,
        sender,
    )
    if values is None:
        return None
    return [json.loads(bytes(value)) for value in values]
