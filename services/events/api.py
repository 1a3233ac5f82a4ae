"""HTTP read routes of the events service (OpenAPI at /openapi.json).

Reads use the pool with single statements and no transaction, so they never hold the program
locks registrations wait for. Every route says who may call it (services/events/access.py): the
programs and their sessions are public (services/events/listing.py says what is shown of
them); the participants report holds figures only, for any staff member.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, Field

from services.events import access, listing, staff_reads
from services.events.report import as_json, load_participants, to_csv
from services.events.settings import EventsSettings
from services.runtime.http import Day, error_response, error_responses
from services.runtime.http_auth import PUBLIC, Doors
from services.runtime.identity import Caller
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


class SeatsLeft(BaseModel):
    onsite: int | None = Field(description="null when the session has no on-site frame")
    online: int | None = Field(description="null when the session is not streamed")


class PublicSession(BaseModel):
    session_id: UUID
    program_id: UUID
    title: str
    title_en: str | None
    number: int
    starts_at: datetime
    ends_at: datetime
    venue: str
    venue_name: str | None
    seats_left: SeatsLeft


class PublicProgram(BaseModel):
    program_id: UUID
    kind: str
    title: str
    title_en: str | None
    description: str
    description_en: str | None
    registration_opens_at: datetime
    registration_closes_at: datetime | None
    sessions: list[PublicSession] = Field(description="those whose venue is confirmed")


class Programs(BaseModel):
    programs: list[PublicProgram] = Field(
        description=f"published, with a session not over yet, by their next session; at most "
        f"{listing.MAX_PROGRAMS}"
    )


class FrameCount(BaseModel):
    frame: str
    capacity: int
    held: int
    waiting: int


class PlannedSession(BaseModel):
    session_id: UUID
    number: int
    starts_at: datetime
    ends_at: datetime
    venue: str
    venue_name: str | None
    state: str
    venue_reason: str | None
    frames: list[FrameCount]


class PlannedProgram(BaseModel):
    program_id: UUID
    kind: str
    title: str
    status: str
    registration_opens_at: datetime
    waitlist: bool
    promotion: str
    sessions: list[PlannedSession]


class Planned(BaseModel):
    programs: list[PlannedProgram] = Field(
        description=f"newest first, every state, at most {staff_reads.MAX_PROGRAMS}"
    )


class HeldOrWaited(BaseModel):
    session_id: UUID
    attended: bool
    position: int | None = Field(description="place in the session's waitlist; null if not waiting")


class RegistrationRow(BaseModel):
    registration_id: UUID
    name: str
    email: str
    frame: str
    party: int
    series: bool
    status: str
    check_in_code: str
    note: str
    created_at: datetime
    sessions: list[HeldOrWaited]


class ProgramRegistrations(BaseModel):
    program_id: UUID
    registrations: list[RegistrationRow] = Field(description="in order of arrival")


class OwnSession(BaseModel):
    session_id: UUID
    number: int
    starts_at: datetime
    ends_at: datetime
    attended: bool
    position: int | None


class OwnRegistration(BaseModel):
    registration_id: UUID
    program_id: UUID
    title: str
    title_en: str | None
    frame: str
    party: int
    series: bool
    status: str
    created_at: datetime
    sessions: list[OwnSession]


class OwnRegistrations(BaseModel):
    registrations: list[OwnRegistration] = Field(description="newest first")


class DaySessions(BaseModel):
    date: date
    sessions: list[PublicSession]


def build_routers(ctx: ServiceContext, settings: EventsSettings) -> list[APIRouter]:
    router = APIRouter(tags=["events"])
    reads = asyncio.Semaphore(READ_CONCURRENCY)
    doors = Doors.of(ctx)
    report_readers = doors.lock(access.REPORT_READERS)
    planning_readers = doors.lock(access.PLANNING_READERS)
    own_readers = doors.lock(access.OWN_REGISTRATION_READERS)

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

    @router.get("/programs", response_model=Programs, dependencies=[PUBLIC])
    async def programs() -> dict[str, Any]:
        """The programs open to the public: titles, sessions, venues and seats left."""
        async with reads:
            found = await listing.upcoming_programs(ctx.pool, settings.now())
        return {"programs": found}

    @router.get("/registrations/mine", response_model=OwnRegistrations)
    async def own_registrations(caller: Caller = Depends(own_readers)) -> dict[str, Any]:
        """The signed-in citizen's registrations (the address they signed in with), with the
        place in each waitlist."""
        async with reads:
            found = await staff_reads.registrations_of_address(ctx.pool, caller.subject)
        return {"registrations": found}

    @router.get("/programs/planned", response_model=Planned,
                dependencies=[Depends(planning_readers)])  # fmt: skip
    async def planned() -> dict[str, Any]:
        """Every program in every state with its sessions and seat counters, for program staff."""
        async with reads:
            found = await staff_reads.planned_programs(ctx.pool)
        return {"programs": found}

    @router.get("/programs/{program_id}/registrations", response_model=ProgramRegistrations,
                dependencies=[Depends(planning_readers)])  # fmt: skip
    async def registrations(program_id: Annotated[UUID, Path()]) -> dict[str, Any]:
        """A program's registrations in order of arrival, with who came and the waitlists."""
        async with reads:
            found = await staff_reads.registrations_of(ctx.pool, program_id)
        return {"program_id": program_id, "registrations": found}

    @router.get("/programs/{program_id}", response_model=PublicProgram,
                responses=error_responses(404), dependencies=[PUBLIC])  # fmt: skip
    async def program(program_id: Annotated[UUID, Path()]) -> Response | dict[str, Any]:
        """One published program with all its sessions whose venue is confirmed."""
        async with reads:
            found = await listing.upcoming_programs(ctx.pool, settings.now(), program_id)
        return found[0] if found else error_response(404, "no such published program")

    @router.get("/sessions", response_model=DaySessions, dependencies=[PUBLIC])
    async def sessions(
        day: Annotated[Day, Query(alias="date", description="YYYY-MM-DD, Asia/Tokyo")],
    ) -> dict[str, Any]:
        """One day's sessions in order of their start: the kiosk's event check-in offers them."""
        async with reads:
            found = await listing.sessions_on(ctx.pool, day)
        return {"date": day, "sessions": found}

    return [router]
