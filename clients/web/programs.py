"""The events service's public reads, as the pages use them: programs with their sessions and
the seats left, and one day's sessions (services/events/listing.py says what they hold)."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

import httpx

from clients.web.reading import get_json


class Programs:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def sessions_on(self, day: date) -> list[dict[str, Any]]:
        return list(
            (await get_json(self.http, "/sessions", params={"date": day.isoformat()}))["sessions"]
        )

    async def published(self) -> list[dict[str, Any]]:
        """The programs open to the public, with their sessions and the seats left."""
        return list((await get_json(self.http, "/programs"))["programs"])

    async def program(self, program_id: UUID) -> dict[str, Any] | None:
        """One published program; None when there is none such."""
        found: dict[str, Any] | None = await get_json(
            self.http, f"/programs/{program_id}", missing_ok=True
        )
        return found

    async def planned(self, token: str) -> list[dict[str, Any]]:
        """Every program in every state (program staff)."""
        return list((await get_json(self.http, "/programs/planned", token))["programs"])

    async def registrations(self, program_id: UUID, token: str) -> list[dict[str, Any]]:
        """A program's registrations, waitlists and attendance (program staff)."""
        body = await get_json(self.http, f"/programs/{program_id}/registrations", token)
        return list(body["registrations"])

    async def mine(self, token: str) -> list[dict[str, Any]]:
        """The signed-in citizen's registrations, with the place in each waitlist."""
        return list((await get_json(self.http, "/registrations/mine", token))["registrations"])
