"""The audit of sign-ins: a row per attempt in `sign_in_audit` (who, when, from where; never a
password, session id or link) for administrators and auditors, and the same outcomes counted
for Prometheus (`sign_ins_total`), where a rise of failures and throttles shows guessing."""

from __future__ import annotations

from datetime import datetime

from prometheus_client import CollectorRegistry, Counter

from contracts.identity import PrincipalKind
from services.identity import store
from services.identity.domain import Outcome
from services.runtime.metrics import Metrics


def _counter(registry: CollectorRegistry) -> Counter:
    return Counter("sign_ins_total", "Sign-in attempts by outcome and principal kind.",
                   ["outcome", "kind"], registry=registry)  # fmt: skip


class Audit:
    def __init__(self, metrics: Metrics) -> None:
        self.counted = metrics.once("sign_ins_total", _counter)

    async def record(
        self, conn: store.Conn, outcome: Outcome, kind: PrincipalKind | None,
        subject: str | None, client: str, at: datetime,
    ) -> None:  # fmt: skip
        await store.audit(conn, outcome, kind, subject, client, at)
        self.counted.labels(outcome.value, kind.value if kind else "unknown").inc()
