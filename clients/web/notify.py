"""The notify service's routes the newsletter pages use (services/notify/api.py): asking for
the newsletter (double opt-in: notify mails a confirmation link, and its own pages confirm and
unsubscribe), the editor's preview of an issue, and an issue's progress."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx

from clients.web.reading import Unavailable


@dataclass(frozen=True)
class Refused:
    """notify's readable reason (English / Japanese), or too many requests from here."""

    reason: str = ""
    throttled: bool = False


class Notify:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def _call(self, method: str, path: str, **options: Any) -> httpx.Response:
        try:
            return await self.http.request(method, path, **options)
        except httpx.TransportError as error:
            raise Unavailable(type(error).__name__) from None

    async def subscribe(self, email: str, language: str, client: str) -> Refused | None:
        """None once the confirmation is on its way (the same whether or not the address was
        subscribed already: notify tells nobody which addresses are)."""
        answer = await self._call("POST", "/subscribers",
                                  json={"email": email, "language": language},
                                  headers={"X-Forwarded-For": client})  # fmt: skip
        if answer.status_code == 202:
            return None
        if answer.status_code == 429:
            return Refused(throttled=True)
        if answer.status_code in (400, 422):
            return Refused(reason=str(answer.json().get("error", "")))
        raise Unavailable(str(answer.status_code))

    async def preview(self, subject: str, body: str, token: str) -> str:
        answer = await self._call("POST", "/newsletters/preview",
                                  json={"subject": subject, "body_markdown": body},
                                  headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        if answer.status_code != 200:
            raise Unavailable(str(answer.status_code))
        return str(answer.json()["html"])

    async def progress(self, issue_id: UUID, token: str) -> dict[str, Any] | None:
        """The issue's progress, None while notify has not stored it yet."""
        answer = await self._call("GET", f"/newsletters/{issue_id}",
                                  headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        if answer.status_code == 404:
            return None
        if answer.status_code != 200:
            raise Unavailable(str(answer.status_code))
        found: dict[str, Any] = answer.json()
        return found
