"""HTTP read routes of the events service (OpenAPI at /openapi.json).

Reads use the pool with single statements and no transaction, so they never hold the program
locks registrations wait for. Every route says who may call it (services/events/access.py): the
participants report holds figures only, for any staff member.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, Field

from services.events import access
from services.events.report import as_json, load_participants, to_csv
from services.events.settings import EventsSettings
from services.runtime.http_auth import Doors
from services.runtime.service import ServiceContext

READ_CONCURRENCY = 4  # the pool is shared with the consumer, the relay and the schedule


class ByFrame(BaseModel):
    onsite: int
    online: int


class SessionParticipants(BaseModel):
    program_id: str
    program: str
    kind: str
    session_id: str
    number: int
    starts_at: str
    registered: ByFrame
    attended: ByFrame
    no_shows: int | None = Field(description="null until the session is over")


class YearTotal(BaseModel):
    registered: ByFrame
    attended: ByFrame
    participants: int = Field(description="people who attended: the figure the center reports")


class ParticipantsReport(BaseModel):
    fiscal_year: int
    sessions: list[SessionParticipants]
    total: YearTotal


def build_routers(ctx: ServiceContext, settings: EventsSettings) -> list[APIRouter]:
    router = APIRouter(tags=["events"])
    reads = asyncio.Semaphore(READ_CONCURRENCY)
    report_readers = Doors.of(ctx).lock(access.REPORT_READERS)

    @router.get(
        "/reports/participants",
        response_model=ParticipantsReport,
        dependencies=[Depends(report_readers)],
        responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                         "description": "JSON, or with format=csv the same figures as CSV"}},
    )  # fmt: skip
    async def participants(
        fiscal_year: Annotated[int, Query(ge=2000, le=2100, description="April-March, e.g. 2023")],
        format: Annotated[Literal["json", "csv"], Query()] = "json",
    ) -> Response | dict[str, Any]:
        """Registered and attended people per program and session, on-site and online, the
        no-shows of each session over, and the fiscal year's total (services/events/report.py
        says how each is counted)."""
        async with reads:
            report = await load_participants(ctx.pool, fiscal_year, settings.now())
        if format == "csv":
            return PlainTextResponse(to_csv(report), media_type="text/csv")
        return as_json(report)

    return [router]
