"""The events service's public reads, as the pages use them: programs with their sessions and
the seats left, and one day's sessions (services/events/listing.py says what they hold)."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx

from clients.web.reading import get_json


class Programs:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def sessions_on(self, day: date) -> list[dict[str, Any]]:
        return list((await get_json(self.http, "/sessions", date=day.isoformat()))["sessions"])
