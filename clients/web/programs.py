"""The events service's public reads, as the pages use them: programs with their sessions and
the seats left, and one day's sessions (services/events/listing.py says what they hold)."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

import httpx

from clients.web.reading import Unavailable, get_json


class Programs:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def sessions_on(self, day: date) -> list[dict[str, Any]]:
        return list((await get_json(self.http, "/sessions", date=day.isoformat()))["sessions"])

    async def published(self) -> list[dict[str, Any]]:
        """The programs open to the public, with their sessions and the seats left."""
        return list((await get_json(self.http, "/programs"))["programs"])

    async def program(self, program_id: UUID) -> dict[str, Any] | None:
        """One published program; None when there is none such."""
        try:
            response = await self.http.get(f"/programs/{program_id}")
        except httpx.TransportError as error:
            raise Unavailable(type(error).__name__) from None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise Unavailable(str(response.status_code))
        found: dict[str, Any] = response.json()
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
