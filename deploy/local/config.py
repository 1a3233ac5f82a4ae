"""Where a stack keeps its files, which loopback ports it listens on, which services it runs."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from services.registry import Process, processes

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class StackConfig:
    """A stack's root folder and ports. ``services`` are the processes ``up`` starts and
    Prometheus scrapes: by default every service of the registry once, on its own port."""

    root: Path
    # Kafka's first node; node n (0, 1, 2) listens on kafka_port + 2n, its controller on the port
    # after that
    kafka_port: int = 19092
    kafka_brokers: int = 1  # 1, or 3 for a cluster (KAFKA_BROKERS=3)
    postgres_port: int = 15432
    smtp_port: int = 1025
    prometheus_port: int = 19090
    services: tuple[Process, ...] = field(default_factory=processes)

    def __post_init__(self) -> None:
        if self.kafka_brokers not in (1, 3):
            raise ValueError(f"KAFKA_BROKERS is 1 or 3, not {self.kafka_brokers}")

    @property
    def controller_port(self) -> int:
        return self.kafka_port + 1

    def kafka_node_ports(self, node: int) -> tuple[int, int]:
        """The client and controller ports of Kafka node ``node`` (0-based)."""
        return self.kafka_port + 2 * node, self.kafka_port + 2 * node + 1


def python_env(**extra: str) -> dict[str, str]:
    """The environment our own Python programs (services, the SMTP sink) start with: the
    repository importable, output unbuffered so the logs are current, then ``extra``."""
    existing = os.environ.get("PYTHONPATH")
    path = f"{REPO_ROOT}{os.pathsep}{existing}" if existing else str(REPO_ROOT)
    return {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1", **extra}
