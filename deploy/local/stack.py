"""The embedded local stack: real Kafka, PostgreSQL, Prometheus and an SMTP sink, no containers,
and the services of the registry on top.

Why this exists: the services rely on behaviour that fakes do not have (Kafka's consumer groups and
idempotent producer, PostgreSQL's exclusion constraints and transactions, SMTP replies), so the
tests and `make up` run the real servers as plain processes on loopback. :class:`Stack` puts
together the pieces, each in a module of its own:

* :mod:`deploy.local.installer`: the packages and the Kafka jars, once per machine;
* :mod:`deploy.local.supervisor`: detached processes tracked by pid files, stopped by group;
* :mod:`deploy.local.components`: one recipe per component (postgres, kafka, smtp, prometheus);
* :mod:`deploy.local.launcher`: a service process with the stack's addresses, ready on /readyz.

Everything a stack owns (data, logs, pid files, mail) lives under its ``root``, so
``python -m deploy.local down`` from another shell stops what ``up`` started. Only the standard
library is used, so this package is importable before the project's dependencies are installed.
"""

from __future__ import annotations

import re
from pathlib import Path

from deploy.local import installer
from deploy.local.components import Component
from deploy.local.components.kafka import GRACE_SECONDS as KAFKA_GRACE_SECONDS
from deploy.local.components.kafka import Kafka
from deploy.local.components.postgres import Postgres
from deploy.local.components.prometheus import Prometheus
from deploy.local.components.smtp import SmtpSink
from deploy.local.config import StackConfig
from deploy.local.errors import StackError
from deploy.local.launcher import Launcher, service_env
from deploy.local.supervisor import Status, Supervisor
from services.registry import Process, urls

__all__ = ["INFRA", "Stack", "StackConfig", "StackError", "Status"]

# components started by the stack itself; every other pid file belongs to a service
INFRA = ("kafka", "smtp", "prometheus", "postgres")
KAFKA_NODE = re.compile(r"kafka-\d+")  # a cluster's nodes


class Stack:
    """Installs, starts and stops the local stack under ``config.root``."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.root = config.root.resolve()
        self.supervisor = Supervisor(self.root)
        self.postgres = Postgres(config, self.supervisor)
        self.kafka = Kafka(config, self.supervisor)
        self.smtp = SmtpSink(config, self.supervisor)
        self.prometheus = Prometheus(config, self.supervisor)
        self.infra = (*INFRA, *self.kafka.names)  # a cluster's nodes: kafka-1, kafka-2 ...
        self.launcher = Launcher(self.supervisor, frozenset(self.infra))
        self.components: dict[str, Component] = {
            c.name: c for c in (self.postgres, self.kafka, self.smtp, self.prometheus)
        }

    # ----------------------------------------------------------------- addresses

    @property
    def logs(self) -> Path:
        return self.supervisor.logs

    @property
    def pids(self) -> Path:
        return self.supervisor.pids

    @property
    def kafka_bootstrap(self) -> str:
        return self.kafka.bootstrap

    def postgres_dsn(self, db: str) -> str:
        return self.postgres.dsn(db)

    @property
    def maildir(self) -> Path:
        return self.smtp.maildir

    @property
    def prometheus_url(self) -> str:
        return self.prometheus.url

    # ------------------------------------------------------------------- install

    def install(self) -> None:
        """Make every component runnable; fast when already done (marker files)."""
        installer.install()

    # ---------------------------------------------------------- infrastructure

    def start_postgres(self) -> None:
        self.postgres.start()

    def start_kafka(self) -> None:
        self.kafka.start()

    def start_smtp(self) -> None:
        self.smtp.start()

    def start_prometheus(self) -> None:
        self.prometheus.start()

    def start_infrastructure(self, *, prometheus: bool = True) -> None:
        """PostgreSQL, Kafka, the SMTP sink and (optionally) Prometheus."""
        self.start_postgres()
        self.start_kafka()
        self.start_smtp()
        if prometheus:
            self.start_prometheus()

    # ------------------------------------------------------------------ services

    def pid(self, name: str) -> int | None:
        """The pid of a live component or service started from this root, or None."""
        return self.supervisor.pid(name)

    def start_service(self, name: str, module: str, env: dict[str, str], http_port: int) -> None:
        """Run ``python -m <module>`` and wait until its ``/readyz`` answers 200."""
        self.launcher.start(name, module, env, http_port)

    def service_env(self, process: Process) -> dict[str, str]:
        """What a process of :attr:`StackConfig.services` is started with on this stack."""
        return service_env(
            process,
            kafka_bootstrap=self.kafka_bootstrap,
            database_url=self.postgres_dsn(process.service.database),
            smtp_port=self.config.smtp_port,
            urls=urls(self.config.services),
            kafka_replication=self.kafka.replication,
        )

    def start_process(self, process: Process) -> None:
        """Start one process of the stack's services."""
        self.start_service(
            process.name, process.service.module, self.service_env(process), process.http_port
        )

    # ---------------------------------------------------------------------- stop

    def _service_names(self) -> list[str]:
        return [
            n for n in self.supervisor.names() if n not in self.infra and not KAFKA_NODE.match(n)
        ]

    def status(self) -> list[Status]:
        kafka = [n for n in self.kafka.names if n != "kafka"]  # a cluster's nodes, by name
        return [self.supervisor.status(name) for name in [*self._service_names(), *INFRA, *kafka]]

    def stop_component(self, name: str) -> None:
        """Stop one component, Kafka node or service (e.g. to test a restart)."""
        if name in self.components:
            self.components[name].stop()
        elif name in self.kafka.names:
            self.kafka.stop_node(self.kafka.names.index(name))
        else:
            self.supervisor.terminate(name)

    def stop(self) -> None:
        """Stop everything started from this root: services first, PostgreSQL last. Kafka's
        nodes are stopped by their pid files, so a cluster stops whatever ``KAFKA_BROKERS`` says
        now."""
        for name in self._service_names():
            self.stop_component(name)
        for name in self.supervisor.names():
            if name == "kafka" or KAFKA_NODE.match(name):
                self.supervisor.terminate(name, KAFKA_GRACE_SECONDS)
        for name in ("smtp", "prometheus", "postgres"):
            self.stop_component(name)
