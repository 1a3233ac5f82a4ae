"""Reading a service's JSON over HTTP as the pages do: with the caller's bearer token when the
route is not public, and one answer for every way it can fail, so a page says "unavailable"
whatever went wrong on the way."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx


class Unavailable(Exception):
    """The service could not be reached or answered with a fault."""


async def get_json(
    http: httpx.AsyncClient,
    path: str,
    token: str | None = None,
    params: Mapping[str, str] | None = None,
    missing_ok: bool = False,
) -> Any:
    """The answer's JSON; None for a 404 when ``missing_ok`` (the thing does not exist)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = await http.get(path, params=dict(params or {}), headers=headers)
    except httpx.TransportError as error:
        raise Unavailable(type(error).__name__) from None
    if missing_ok and response.status_code == 404:
        return None
    if response.status_code != 200:
        raise Unavailable(str(response.status_code))
    return response.json()
