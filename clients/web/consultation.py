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


class Unavailable(Exception):
    """The consultation service could not be reached or answered with a fault."""


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
