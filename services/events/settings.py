"""The events service's configuration, from environment variables with documented defaults.

    EVENTS_SIGNING_KEY      HMAC key of the registrants' cancel and offer links: required,
                            random, at least 32 bytes; only with DEVELOPMENT=1 may it be left
                            out (a public default is used). Changing it voids links already sent.
    EVENTS_ORGANISATION_ID  the organisation a session's venue is booked in the name of: the
                            center itself (default a fixed id; booking books for the city without
                            a registration when the events service asks)
    TOKEN_SIGNING_KEY_FILE  the service's own Ed25519 key, signing its commands to booking
                            (DEVELOPMENT=1: the development key pair `events`)

The clock is the runtime's (services/runtime/clock.py): CLOCK_SHIFT_S moves it for rehearsals
and tests of the registration period, offer deadlines and check-in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from services.runtime.clock import Clock
from services.runtime.secrets import require_secret
from services.runtime.settings import env_str

DEV_SIGNING_KEY = "dev-only-events-signing-key-change-me"
CENTER_ORGANISATION = UUID("0c0c0c0c-ccc0-4c00-8c00-000000000001")


@dataclass(frozen=True)
class EventsSettings:
    signing_key: bytes = DEV_SIGNING_KEY.encode()
    organisation_id: UUID = CENTER_ORGANISATION
    clock: Clock = field(default_factory=Clock)

    def now(self) -> datetime:
        """The service's "now": every time-bound rule asks this, never the wall clock."""
        return self.clock.now()

    def real(self, moment: datetime) -> datetime:
        """A moment of the service's clock on the database's clock (which the schedule uses)."""
        return self.clock.real(moment)

    @classmethod
    def from_env(cls) -> EventsSettings:
        return cls(
            signing_key=require_secret("EVENTS_SIGNING_KEY", DEV_SIGNING_KEY),
            organisation_id=UUID(env_str("EVENTS_ORGANISATION_ID", str(CENTER_ORGANISATION))),
            clock=Clock.from_env(),
        )
