"""The booking service's read routes, as the pages use them (services/booking/README.md)."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any
from uuid import UUID

import httpx

from clients.web.reading import Unavailable, get_json
from clients.web.short_lived import ShortLived
from contracts.booking import SpaceId

__all__ = ["SPACES", "Booking", "Unavailable"]

SPACES = (SpaceId.A, SpaceId.B, SpaceId.AB, SpaceId.LAB)  # as the center lists them

AVAILABILITY_SHARED_S = 1.0  # clients/web/short_lived.py says why


class Booking:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.free: ShortLived[tuple[date, date], dict[SpaceId, list[dict[str, Any]]]] = ShortLived(
            AVAILABILITY_SHARED_S
        )

    async def _get(self, path: str, token: str | None = None, **params: str) -> Any:
        return await get_json(self.http, path, token, params)

    async def availability(self, first: date, last: date) -> dict[SpaceId, list[dict[str, Any]]]:
        """Each space's days (open, hours, the evening, free periods), asked at once; one
        answer shared for a second by the pages that ask the same."""
        return await self.free.get((first, last), lambda: self._availability(first, last))

    async def _availability(self, first: date, last: date) -> dict[SpaceId, list[dict[str, Any]]]:
        found = await asyncio.gather(*(
            self._get(f"/spaces/{space.value}/availability", **{"from": first.isoformat(),
                                                                 "to": last.isoformat()})
            for space in SPACES
        ))  # fmt: skip
        return {space: body["days"] for space, body in zip(SPACES, found, strict=True)}

    async def reservations_of(self, organisation_id: UUID, token: str) -> list[dict[str, Any]]:
        body = await self._get(f"/organisations/{organisation_id}/reservations", token)
        return list(body["reservations"])

    async def day_sheet(self, first: date, last: date, token: str) -> list[dict[str, Any]]:
        body = await self._get("/reservations", token, **{"from": first.isoformat(),
                                                          "to": last.isoformat()})  # fmt: skip
        return list(body["reservations"])

    async def organisations(self, token: str) -> list[dict[str, Any]]:
        """The organisations in good standing, by name (the kiosk's choice at check-in)."""
        return list((await self._get("/organisations", token))["organisations"])

    async def open_visits(self, token: str) -> list[dict[str, Any]]:
        """Today's usage slips not yet checked out."""
        return list((await self._get("/lab/visits", token))["visits"])

    async def lab_occupancy(self) -> dict[str, Any]:
        found: dict[str, Any] = await self._get("/lab/occupancy")
        return found
