"""The pages' words: one catalog per language, Japanese first.

A language's catalog is `texts/<language>.json` (the site's frame and the spaces pages) merged
with one file per area of the site, `texts/<area>/<language>.json` (programs, the kiosk ...),
so each area keeps its words beside the others' without sharing a file; a key written in two
files is refused at start.

A page is shown in the language the visitor chose (`?lang=en`, remembered in the `lang`
cookie), Japanese otherwise. Templates never hold words of their own: they ask the catalog
(`t("key")`), so each text is written once per language. A key missing from a catalog is a bug
the unit tests catch (both catalogs hold the same keys).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path

from starlette.requests import Request

LANGUAGES = ("ja", "en")
DEFAULT = "ja"
COOKIE = "lang"
FOLDER = Path(__file__).parent / "texts"


@cache
def catalog(language: str) -> Mapping[str, str]:
    merged: dict[str, str] = {}
    for path in [FOLDER / f"{language}.json", *sorted(FOLDER.glob(f"*/{language}.json"))]:
        words: dict[str, str] = json.loads(path.read_text("utf-8"))
        if twice := merged.keys() & words.keys():
            raise ValueError(f"{path} writes again what another catalog holds: {sorted(twice)}")
        merged.update(words)
    return merged


def language_of(request: Request) -> str:
    """The query's `lang` if it names a language, else the cookie's, else Japanese."""
    for candidate in (request.query_params.get("lang"), request.cookies.get(COOKIE)):
        if candidate in LANGUAGES:
            return candidate
    return DEFAULT


class Texts:
    """The words of one language; `t(key, **values)` fills `{name}` places."""

    def __init__(self, language: str) -> None:
        self.language = language
        self.words = catalog(language)

    def __call__(self, key: str, **values: object) -> str:
        text = self.words[key]
        return text.format(**values) if values else text
