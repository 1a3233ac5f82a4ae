"""The consultation service's public intake, as the consultation form uses it
(services/consultation/README.md, `POST /intake`).

The form's content is confidential: it goes to the consultation service and nowhere else. It is
never logged here, never put in a URL, and a page that shows it back (a form with a problem)
is not cached. The browser's address is passed on as X-Forwarded-For, which the service
believes from this client alone (FORWARDED_ALLOW_IPS), so its limit per client counts people,
not this client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from clients.web.reading import Unavailable


@dataclass(frozen=True)
class Taken:
    """The service took the consultation: its reference number."""

    reference: str


@dataclass(frozen=True)
class Refused:
    """The service refused the form: the fields at fault (never their values), or too many
    consultations from this address (`throttled`)."""

    fields: frozenset[str] = field(default_factory=frozenset)
    throttled: bool = False


class Consultation:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def intake(self, form: dict[str, Any], client: str) -> Taken | Refused:
        try:
            response = await self.http.post("/intake", json=form,
                                             headers={"X-Forwarded-For": client})  # fmt: skip
        except httpx.TransportError as error:
            raise Unavailable(type(error).__name__) from None
        if response.status_code == 201:
            return Taken(str(response.json()["reference"]))
        if response.status_code == 429:
            return Refused(throttled=True)
        if response.status_code == 400:
            details = response.json().get("details") or []
            return Refused(
                frozenset(
                    str(d["loc"][1])
                    for d in details
                    if isinstance(d.get("loc"), list) and len(d["loc"]) > 1
                )
            )
        raise Unavailable(str(response.status_code))


class Desk:
    """The consultation service's staff routes, called with the staff member's token: the
    service decides who may see and do what (need to know), the pages show its answers."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def _call(self, method: str, path: str, token: str, **options: Any) -> httpx.Response:
        try:
            bearer = {"Authorization": f"Bearer {token}"}
            return await self.http.request(method, path, headers=bearer, **options)
        except httpx.TransportError as error:
            raise Unavailable(type(error).__name__) from None

    async def cases(self, token: str, states: list[str]) -> dict[str, Any]:
        answer = await self._call("GET", "/cases", token, params={"state": states, "limit": 200})
        if answer.status_code != 200:
            raise Unavailable(str(answer.status_code))
        found: dict[str, Any] = answer.json()
        return found

    async def case(self, token: str, case_id: str) -> tuple[int, dict[str, Any]]:
        """(status, the case as the caller may read it): 403 for a case not theirs."""
        answer = await self._call("GET", f"/cases/{case_id}", token)
        if answer.status_code >= 500:
            raise Unavailable(str(answer.status_code))
        return answer.status_code, answer.json()

    async def note(self, token: str, case_id: str, text: str) -> int:
        answer = await self._call("POST", f"/cases/{case_id}/notes", token, json={"text": text})
        return answer.status_code

    async def referral_details(self, token: str, case_id: str, referral: str, text: str) -> int:
        answer = await self._call("PUT", f"/cases/{case_id}/referrals/{referral}/details", token,
                                  json={"details": text})  # fmt: skip
        return answer.status_code

    async def audit(self, token: str, case_id: str) -> tuple[int, dict[str, Any]]:
        answer = await self._call("GET", f"/cases/{case_id}/audit", token)
        if answer.status_code >= 500:
            raise Unavailable(str(answer.status_code))
        return answer.status_code, answer.json()
