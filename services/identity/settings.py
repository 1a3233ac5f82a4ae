"""Settings of the identity service beyond the runtime's, from the environment."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from services.identity.domain import origin_of
from services.identity.lifetimes import SessionLifetime
from services.identity.throttle import Lockout, Window
from services.runtime.clock import Clock
from services.runtime.settings import env_float, env_int, env_str


def _minutes(name: str, default: float) -> timedelta:
    return timedelta(minutes=env_float(name, default))


@dataclass(frozen=True)
class IdentitySettings:
    """PUBLIC_BASE_URL          where browsers reach this service; sign-in links point here
                              (default http://127.0.0.1:<HTTP_PORT>)
    LINK_BASE_URL             where the mailed sign-in links point: the web client's pages,
                              which open /links/<token> (default WEB_URL, the web client's
                              address a stack gives its processes, else PUBLIC_BASE_URL: this
                              service's own link page)
    ALLOWED_ORIGINS           other origins (space-separated) whose pages may POST here, e.g.
                              the web client's (default none: only PUBLIC_BASE_URL's origin)
    SESSION_HOURS             absolute lifetime of a browser session (12)
    SESSION_IDLE_MINUTES      a session unused this long ends (60)
    LINK_MINUTES              how long a sign-in link works (15); it works once
    SIGN_IN_FAILURES          password failures per account within SIGN_IN_WINDOW_MINUTES (15)
                              after which the account is refused for SIGN_IN_LOCK_MINUTES (15): 5
    CLIENT_FAILURES           the same per client address, across accounts (20)
    LINKS_PER_ADDRESS         sign-in link requests per e-mail address within LINK_WINDOW_MINUTES
                              (15): 3
    LINKS_PER_CLIENT          the same per client address (10)
    CENTER_NAME, MAIL_FROM    the sender of sign-in mails; SMTP_HOST, SMTP_PORT, SMTP_TIMEOUT_S
                              the server they are handed to (127.0.0.1, 1025, 10)
    TOKEN_SIGNING_KEY_FILE    the people-issuer's Ed25519 private key (PEM): required outside
                              DEVELOPMENT=1 (services/runtime/identity.py, Signer.load)
    The clock is the runtime's (CLOCK_SHIFT_S).
    """

    public_base_url: str
    link_base_url: str
    allowed_origins: frozenset[str]
    session: SessionLifetime
    link_lifetime: timedelta
    account_lockout: Lockout
    client_lockout: Lockout
    links_per_address: Window
    links_per_client: Window
    center_name: str
    mail_from: str
    smtp_host: str
    smtp_port: int
    smtp_timeout_s: float
    clock: Clock = field(default_factory=Clock)

    @classmethod
    def from_env(cls, default_base_url: str) -> IdentitySettings:
        base = env_str("PUBLIC_BASE_URL", default_base_url).rstrip("/")
        origins = {origin_of(base)} | {
            origin_of(o) for o in env_str("ALLOWED_ORIGINS", "").split() if o
        }
        window = _minutes("SIGN_IN_WINDOW_MINUTES", 15)
        lock = _minutes("SIGN_IN_LOCK_MINUTES", 15)
        link_window = _minutes("LINK_WINDOW_MINUTES", 15)
        return cls(
            public_base_url=base,
            link_base_url=env_str("LINK_BASE_URL", env_str("WEB_URL", base)).rstrip("/"),
            allowed_origins=frozenset(origins),
            session=SessionLifetime(
                absolute=timedelta(hours=env_float("SESSION_HOURS", 12)),
                idle=_minutes("SESSION_IDLE_MINUTES", 60),
            ),
            link_lifetime=_minutes("LINK_MINUTES", 15),
            account_lockout=Lockout(env_int("SIGN_IN_FAILURES", 5), window, lock),
            client_lockout=Lockout(env_int("CLIENT_FAILURES", 20), window, lock),
            links_per_address=Window(env_int("LINKS_PER_ADDRESS", 3), link_window),
            links_per_client=Window(env_int("LINKS_PER_CLIENT", 10), link_window),
            center_name=env_str("CENTER_NAME", "横浜市市民協働推進センター"),
            mail_from=env_str("MAIL_FROM", "info@civic-center.yokohama.example"),
            smtp_host=env_str("SMTP_HOST", "127.0.0.1"),
            smtp_port=env_int("SMTP_PORT", 1025),
            smtp_timeout_s=env_float("SMTP_TIMEOUT_S", 10.0),
            clock=Clock.from_env(),
        )

    def link_url(self, token: str) -> str:
        return f"{self.link_base_url}/links/{token}"
