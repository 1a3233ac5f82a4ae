"""The desk's own metrics: response times in business hours, overdue first responses, erasures.

Labels are codes only (channel, kind): never a reference, a case id, a username or any content,
so /metrics tells how the desk is doing and nothing of any case.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram

from services.consultation import domain
from services.consultation.hours import business_hours_between
from services.runtime.metrics import Metrics

HOURS_BUCKETS = (1, 2, 4, 8, 11, 16, 22, 33, 44, 66, 88, 176, 352)


@dataclass(frozen=True)
class DeskMetrics:
    first_response: Histogram
    closing: Histogram
    overdue: Counter
    erased: Counter

    @classmethod
    def of(cls, metrics: Metrics) -> DeskMetrics:
        return metrics.once("consultation_desk", cls.create)

    @classmethod
    def create(cls, registry: CollectorRegistry) -> DeskMetrics:
        labels = ["channel", "kind"]
        return cls(
            first_response=Histogram(
                "consultation_first_response_business_hours",
                "Business hours from intake to the first response (the first hearing).",
                labels, buckets=HOURS_BUCKETS, registry=registry,
            ),
            closing=Histogram(
                "consultation_closing_business_hours",
                "Business hours from intake to closing (cases, not inquiries).",
                labels, buckets=HOURS_BUCKETS, registry=registry,
            ),
            overdue=Counter(
                "consultation_first_response_overdue_total",
                "Cases that got no first response within the configured business hours.",
                registry=registry,
            ),
            erased=Counter(
                "consultation_cases_erased_total",
                "Cases whose personal data the retention sweep erased.",
                registry=registry,
            ),
        )  # fmt: skip

    def observe_first_response(self, case: domain.Case) -> None:
        assert case.first_response_at is not None
        hours = business_hours_between(case.received_at, case.first_response_at)
        self.first_response.labels(case.channel.value, case.kind.value).observe(
            hours.total_seconds() / 3600
        )

    def observe_closing(self, case: domain.Case) -> None:
        if case.closed_at is None or not case.counted:
            return
        hours = business_hours_between(case.received_at, case.closed_at)
        self.closing.labels(case.channel.value, case.kind.value).observe(
            hours.total_seconds() / 3600
        )
