"""Settings of the notify service beyond the runtime's and the sender's, from the environment."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.runtime.clock import Clock
from services.runtime.secrets import require_secret
from services.runtime.settings import env_int, env_str

DEV_SIGNING_KEY = "dev-only-signing-key-change-me"


@dataclass(frozen=True)
class NotifySettings:
    """NOTIFY_SIGNING_KEY   HMAC key of confirmation, unsubscribe and open links: required,
                          random, at least 32 bytes; only with DEVELOPMENT=1 may it be left
                          out (a public default is used). Changing it voids links already sent.
    PUBLIC_BASE_URL       where people reach this service's links (http://127.0.0.1:8082)
    CONFIRM_VALID_HOURS   how long a subscription confirmation link works (48)
    CONFIRM_MAX_PER_DAY   confirmation e-mails one address may be sent in 24 hours (3); none is
                          sent at all while an earlier one is pending and unexpired
    REMINDER_HOUR         Tokyo hour, the day before a reservation, for its reminder (10)
    BOUNCE_LIMIT          permanent refusals after which an address gets no newsletter (1)
    WEB_BASE_URL          the center's web pages, where a program registrant's cancel and offer
                          links lead (default WEB_URL, which a stack sets, else
                          http://127.0.0.1:8080)
    The clock is the runtime's (CLOCK_SHIFT_S), so reminders and link expiry can be rehearsed.
    """

    signing_key: bytes
    public_base_url: str
    confirm_valid_hours: int
    confirm_max_per_day: int
    reminder_hour: int
    bounce_limit: int
    clock: Clock = field(default_factory=Clock)
    web_base_url: str = "http://127.0.0.1:8080"

    @classmethod
    def from_env(cls, default_base_url: str = "http://127.0.0.1:8082") -> NotifySettings:
        return cls(
            signing_key=require_secret("NOTIFY_SIGNING_KEY", DEV_SIGNING_KEY),
            public_base_url=env_str("PUBLIC_BASE_URL", default_base_url).rstrip("/"),
            confirm_valid_hours=env_int("CONFIRM_VALID_HOURS", 48),
            confirm_max_per_day=max(1, env_int("CONFIRM_MAX_PER_DAY", 3)),
            reminder_hour=env_int("REMINDER_HOUR", 10),
            bounce_limit=env_int("BOUNCE_LIMIT", 1),
            clock=Clock.from_env(),
            web_base_url=env_str(
                "WEB_BASE_URL", env_str("WEB_URL", "http://127.0.0.1:8080")
            ).rstrip("/"),
        )

    def confirm_url(self, token: str) -> str:
        return f"{self.public_base_url}/subscribers/confirm?token={token}"

    def unsubscribe_url(self, token: str) -> str:
        return f"{self.public_base_url}/subscribers/unsubscribe?token={token}"

    def pixel_url(self, token: str) -> str:
        return f"{self.public_base_url}/o/{token}.gif"
