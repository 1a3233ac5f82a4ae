"""The services' staff reports, as the reports page reads them: Space A/B occupancy per month
(booking), participants per program (events), consultations per topic (consultation), each as
JSON for the charts and as CSV for a download. The services count; the web only draws."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

import httpx

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class Unavailable(Exception):
    """A service could not be reached or answered with a fault."""


@dataclass(frozen=True)
class Source:
    http: httpx.AsyncClient
    path: str


class Reports:
    def __init__(self, sources: dict[str, Source]) -> None:
        self.sources = sources

    async def _get(self, kind: str, fiscal_year: int, token: str, fmt: str) -> httpx.Response:
        source = self.sources[kind]
        try:
            answer = await source.http.get(
                source.path, params={"fiscal_year": fiscal_year, "format": fmt},
                headers={"Authorization": f"Bearer {token}"},
            )  # fmt: skip
        except httpx.TransportError as error:
            raise Unavailable(type(error).__name__) from None
        if answer.status_code != 200:
            raise Unavailable(str(answer.status_code))
        return answer

    async def figures(self, kind: str, fiscal_year: int, token: str) -> dict[str, Any]:
        found: dict[str, Any] = (await self._get(kind, fiscal_year, token, "json")).json()
        return found

    async def spreadsheet(self, kind: str, fiscal_year: int, token: str) -> str:
        return excel_safe((await self._get(kind, fiscal_year, token, "csv")).text)


def excel_safe(text: str) -> str:
    """The CSV with a byte order mark (spreadsheets in Japan read it as UTF-8 then) and no cell
    a spreadsheet would run as a formula: one starting with = + - @ gets a leading apostrophe,
    unless it is a number (a negative count stays a number)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in csv.reader(io.StringIO(text)):
        writer.writerow([_cell(c) for c in row])
    return "\ufeff" + out.getvalue()


def _cell(value: str) -> str:
    if not value.startswith(FORMULA_START):
        return value
    try:
        float(value)
    except ValueError:
        return "'" + value
    return value
