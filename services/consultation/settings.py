"""The consultation service's configuration: environment variables with the defaults the desk
works by.

    CONSULTATION_SEALING_KEYS           id:key,id:key; the first seals (sealing.py). Required,
                                        except with DEVELOPMENT=1 (a public development key)
    CONSULTATION_FIRST_RESPONSE_HOURS   business hours within which a case gets its first
                                        response, or it is overdue          (default 11: one
                                        weekday of the desk's contact hours)
    CONSULTATION_RETENTION_YEARS        years after closing when a case's personal data is
                                        erased, its anonymous facts kept    (default 5)
    CONSULTATION_PUBLIC_THRESHOLD       the public statistics hide counts below it (default 3)
    CONSULTATION_INTAKE_PER_MINUTE      web intake form: requests per client a minute (default 2)
    CONSULTATION_INTAKE_BURST           ... and at once                     (default 5)
    CONSULTATION_SWEEP_EVERY_S          how often the retention sweep is planned (default 3600)

The clock is the runtime's (`CLOCK_SHIFT_S`, services/runtime/clock.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.consultation.sealing import SealingKeys, load_keys
from services.runtime.clock import Clock
from services.runtime.settings import env_float, env_int


@dataclass(frozen=True)
class ConsultationSettings:
    keys: SealingKeys
    first_response_within: timedelta = timedelta(hours=11)
    retention_years: int = 5
    public_threshold: int = 3
    intake_per_minute: float = 2.0
    intake_burst: int = 5
    sweep_every_s: float = 3600.0
    clock: Clock = field(default_factory=Clock)

    def now(self) -> datetime:
        return self.clock.now()

    def real(self, moment: datetime) -> datetime:
        return self.clock.real(moment)

    def retention_cutoff(self, now: datetime) -> datetime:
        """Cases closed before this moment have outlived their retention period."""
        try:
            return now.replace(year=now.year - self.retention_years)
        except ValueError:  # 29 February
            return now.replace(year=now.year - self.retention_years, day=28)

    @classmethod
    def from_env(cls) -> ConsultationSettings:
        hours = env_float("CONSULTATION_FIRST_RESPONSE_HOURS", 11.0)
        years = env_int("CONSULTATION_RETENTION_YEARS", 5)
        threshold = env_int("CONSULTATION_PUBLIC_THRESHOLD", 3)
        if hours <= 0 or years < 1 or threshold < 1:
            raise ValueError(
                "CONSULTATION_FIRST_RESPONSE_HOURS must be positive, "
                "CONSULTATION_RETENTION_YEARS and CONSULTATION_PUBLIC_THRESHOLD at least 1"
            )
        return cls(
            keys=load_keys(),
            first_response_within=timedelta(hours=hours),
            retention_years=years,
            public_threshold=threshold,
            intake_per_minute=env_float("CONSULTATION_INTAKE_PER_MINUTE", 2.0),
            intake_burst=env_int("CONSULTATION_INTAKE_BURST", 5),
            sweep_every_s=env_float("CONSULTATION_SWEEP_EVERY_S", 3600.0),
            clock=Clock.from_env(),
        )
