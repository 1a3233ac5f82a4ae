"""Searching the desk's cases without telling anyone about a case they may not open.

A search narrows first on what a case is (its reference, state, topics, when it came in: plain
columns), and only among the cases the caller may open (access.visible). Text is looked for in
content the caller may read of each such case (access.matchable), which is sealed at rest: it
is opened in the service's memory, the newest SCAN_LIMIT cases at most, and each case opened so
is written to the read audit (action `search`, the fields looked into). The results name cases
by reference and facts only, never by content, so a hit shows no more than the case list does.

Matching is by words: every word of the query must occur in the case's text, compared after
Unicode compatibility normalisation (full-width and half-width forms alike) and case folding,
so `ｶﾞｲﾄﾞ` finds `ガイド` and `NPO` finds `ｎｐｏ`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from contracts.consultation import CaseState, TopicCode

SCAN_LIMIT = 500  # cases whose content one search may open
MAX_QUERY = 200  # characters of a query
MAX_WORDS = 8


def normalise(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def words(query: str) -> list[str]:
    """The query's words, normalised; at most MAX_WORDS, duplicates dropped."""
    return list(dict.fromkeys(normalise(query).split()))[:MAX_WORDS]


def matches(wanted: Iterable[str], texts: Iterable[str]) -> bool:
    """Every wanted word occurs in one of the texts (normalised)."""
    haystack = "\n".join(normalise(t) for t in texts)
    return all(word in haystack for word in wanted)


@dataclass(frozen=True)
class Filter:
    """What a search asks of a case's plain facts; None and empty ask nothing."""

    reference: str | None = None  # the reference, or its beginning
    states: tuple[CaseState, ...] = ()
    topics: tuple[TopicCode, ...] = ()  # any of them
    received_from: datetime | None = None
    received_before: datetime | None = None
