"""What keeps the pages safe to use: the forms' CSRF tokens, the check of where a form was
posted from, and the security headers every answer carries.

CSRF (issue 12, "Forms are protected against cross-site request forgery"): the session cookie
is SameSite=Lax, so another site's form cannot post with it in current browsers; beyond that,
every form carries a token signed with WEB_SECRET_KEY and bound to this browser (the `browser`
cookie, random) and to its session, and a POST whose `Origin` (or `Sec-Fetch-Site`) names
another site is refused before anything is read.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping

from starlette.responses import Response

TOKEN_LIFE_S = 12 * 3600  # a form left open over the day still posts; a session lasts no longer

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    # a sign-in link's token never leaves for another site in a Referer; same-origin (not
    # no-referrer) so that the browser still names our origin on our own forms
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def private(response: Response) -> Response:
    """A page holding someone's data or what they typed: kept by no browser or proxy cache."""
    response.headers["Cache-Control"] = "no-store"
    return response


def new_browser_id() -> str:
    return secrets.token_urlsafe(32)


def _binding(browser_id: str, session: str | None) -> bytes:
    session_digest = hashlib.sha256((session or "").encode()).hexdigest()
    return f"{browser_id}|{session_digest}".encode()


def csrf_token(key: bytes, browser_id: str, session: str | None, now: float | None = None) -> str:
    """A token for the forms of this browser and session: when it was made, and a MAC."""
    issued = int(time.time() if now is None else now)
    mac = hmac.new(key, _binding(browser_id, session) + f"|{issued}".encode(), "sha256")
    return f"{issued}.{mac.hexdigest()}"


def csrf_valid(
    key: bytes, browser_id: str | None, session: str | None, token: str | None,
    now: float | None = None,
) -> bool:  # fmt: skip
    """Whether the posted token was made for this browser and session, and is not too old."""
    if not browser_id or not token or "." not in token:
        return False
    issued_text, _, mac = token.partition(".")
    if not issued_text.isdigit():
        return False
    issued = int(issued_text)
    moment = time.time() if now is None else now
    if not issued <= moment + 60 or moment - issued > TOKEN_LIFE_S:
        return False
    wanted = hmac.new(key, _binding(browser_id, session) + f"|{issued}".encode(), "sha256")
    return hmac.compare_digest(wanted.hexdigest(), mac)


def cross_site(headers: Mapping[str, str], origin: str) -> bool:
    """Whether a POST says it comes from another site: an `Origin` other than ours, or a
    `Sec-Fetch-Site` of cross-site or same-site (a sibling subdomain). No header: not known
    to be cross-site (older browsers); the token decides."""
    sent = headers.get("origin")
    if sent is not None and sent.lower() != origin:
        return True
    return headers.get("sec-fetch-site", "same-origin") in ("cross-site", "same-site")
