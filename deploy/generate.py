"""The checked-in files derived from the service registry, written or checked in one place.

``python -m deploy.generate`` rewrites them after a change to ``services/registry.py``;
``python -m deploy.generate --check`` (run by ``make lint`` and ``tests/unit/test_registry.py``)
names any that is out of date. What is generated:

* ``docker-compose.yml``: the entries of the services, each logging in to Kafka as its own
  principal, and the ``kafka-setup`` step that creates every principal's user and applies the
  ACL table (``deploy/kafka_acls.py``), between two marker comments (the infrastructure above
  them is written by hand);
* ``docker-compose.cluster.yml`` and ``docker-compose.replicas.yml``: the overlays that make
  Kafka three nodes, and every service REPLICAS containers in its consumer group;
* ``deploy/prometheus/targets/local.json``: the scrape targets of ``prometheus.yml`` (``make
  up``'s ports), and the services' jobs of ``prometheus.compose.yml`` (by DNS: every replica of
  a service answers to its name on the compose network), between marker comments;
* ``README.md``: the table of the services' addresses after ``make up``, between marker comments.

Only the standard library is used, like the registry itself.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from deploy.kafka_acls import ADMIN, password_variable, principals
from deploy.targets import loopback, targets_json
from services import registry
from services.registry import Need, Service, processes, url_variable

REPO_ROOT = Path(__file__).resolve().parents[1]
GENERATED_BY = "generated from services/registry.py by `python -m deploy.generate`"

COMPOSE_BEGIN = f"  # --- the services: {GENERATED_BY} ---\n"
COMPOSE_END = "  # --- end of the generated services ---\n"
README_BEGIN = f"<!-- the services: {GENERATED_BY} -->\n"
README_END = "<!-- end of the generated services -->\n"

PROMETHEUS_BEGIN = f"  # --- the services' jobs: {GENERATED_BY} ---\n"
PROMETHEUS_END = "  # --- end of the services' jobs ---\n"

COMPOSE_SMTP = {"SMTP_HOST": "mail", "SMTP_PORT": "1025"}  # the `mail` container
REPLICAS = 2  # docker-compose.replicas.yml: the containers of every service
REPLICA_PORTS = 18000  # their host ports: 18000 + 10 per port above the web's, one per replica


def compose_secret(variable: str) -> str:
    """A password compose takes from its environment, refusing to start without it."""
    return f'"${{{variable}:?make it with python -m deploy.kafka_setup --compose-env}}"'


def compose_kafka_setup(services: Sequence[Service]) -> str:
    """The one-shot step that creates every principal's SCRAM user, the topics and the ACLs,
    before any service starts."""
    passwords = {
        password_variable(p): compose_secret(password_variable(p))
        for p in principals(services)
        if p != ADMIN
    }
    command = (
        "pip install -q -r requirements.lock && python -m deploy.kafka_setup --bootstrap kafka:9092"
    )
    return "".join(
        [
            "  kafka-setup:\n",
            "    <<: *service\n",
            f'    command: ["sh", "-c", "{command}"]\n',
            "    environment:\n",
            "      <<: *service-env\n",
            f"      KAFKA_USERNAME: {ADMIN}\n",
            f"      KAFKA_PASSWORD: {compose_secret('KAFKA_ADMIN_PASSWORD')}\n",
            *(f"      {key}: {value}\n" for key, value in passwords.items()),
            "    depends_on:\n",
            "      kafka:\n",
            "        condition: service_healthy\n",
            '    restart: "no"\n',
        ]
    )


def compose_entry(service: Service, services: Sequence[Service] = ()) -> str:
    """One service of docker-compose.yml: the shared `*service` settings, its module, its Kafka
    login, its database on the `postgres` container, its port, SMTP when it needs it."""
    database = f"postgresql://postgres@postgres:5432/{service.database}"
    env = {
        "KAFKA_USERNAME": service.name,
        "KAFKA_PASSWORD": compose_secret(password_variable(service.name)),
        **({"DATABASE_URL": database} if service.database else {}),
        "HTTP_PORT": str(service.http_port),
        **(COMPOSE_SMTP if Need.SMTP in service.needs else {}),
    }
    if service.client:  # a client calls the services by their container names
        env |= {url_variable(s): f"http://{s.name}:{s.http_port}" for s in services if not s.client}
    command = f"pip install -q -r requirements.lock && python -m {service.module}"
    return "".join(
        [
            f"  {service.name}:\n",
            "    <<: *service\n",
            f'    command: ["sh", "-c", "{command}"]\n',
            "    environment:\n",
            "      <<: *service-env\n",
            *(f"      {key}: {value}\n" for key, value in env.items()),
            "    ports:\n",
            f'      - "127.0.0.1:{service.http_port}:{service.http_port}"\n',
        ]
    )


def compose_services(services: Sequence[Service]) -> str:
    entries = [compose_entry(s, services) for s in services]
    return "\n".join([compose_kafka_setup(services), *entries])


CLUSTER_NODES = (2, 3)  # the nodes the cluster file adds to compose's kafka (node 1)


def compose_cluster(services: Sequence[Service]) -> str:
    """docker-compose.cluster.yml: what turns the compose file's one Kafka node into three, as
    `make up KAFKA_BROKERS=3` does, and points every service at all of them."""
    node_env = "      <<: *cluster-node\n"
    nodes = []
    for n in CLUSTER_NODES:
        host_port = 19092 + 2 * (n - 1)
        nodes += [
            f"  kafka-format-{n}:\n",
            "    extends: {file: docker-compose.yml, service: kafka-format}\n",
            "    environment:\n",
            node_env,
            f"      KAFKA_NODE_ID: {n}\n",
            "    volumes: !override\n",
            f"      - kafkadata-{n}:/var/lib/kafka/data\n",
            "\n",
            f"  kafka-{n}:\n",
            "    extends: {file: docker-compose.yml, service: kafka}\n",
            "    environment:\n",
            node_env,
            f"      KAFKA_NODE_ID: {n}\n",
            f"      KAFKA_LISTENERS: INTERNAL://:9092,CONTROLLER://:9093,HOST://:{host_port}\n",
            f"      KAFKA_ADVERTISED_LISTENERS: INTERNAL://kafka-{n}:9092,HOST://127.0.0.1:{host_port}\n",
            "    volumes: !override\n",
            f"      - kafkadata-{n}:/var/lib/kafka/data\n",
            "    ports: !override\n",
            f'      - "127.0.0.1:{host_port}:{host_port}"\n',
            "    depends_on: !override\n",
            f"      kafka-format-{n}:\n",
            "        condition: service_completed_successfully\n",
            "\n",
        ]
    clients = []
    for s in services:
        clients += [f"  {s.name}:\n", "    environment:\n", "      <<: *cluster-env\n", "\n"]
    return "".join([
        CLUSTER_HEADER,
        "services:\n",
        "  kafka-format:\n", "    environment:\n", node_env, "\n",
        "  kafka:\n", "    environment:\n", node_env, "\n",
        *nodes,
        "  kafka-setup:\n",
        "    environment:\n",
        "      <<: *cluster-env\n",
        "    depends_on:\n",
        *(f"      kafka-{n}:\n        condition: service_healthy\n" for n in CLUSTER_NODES),
        "\n",
        *clients,
        "volumes:\n",
        *(f"  kafkadata-{n}:\n" for n in CLUSTER_NODES),
    ])  # fmt: skip


def replica_ports(service: Service) -> str:
    """The host ports of a service's replicas, a range of its own: each container takes one."""
    first = REPLICA_PORTS + 10 * (service.http_port - registry.service("web").http_port)
    return f"127.0.0.1:{first}-{first + REPLICAS - 1}:{service.http_port}"


def compose_replicas(services: Sequence[Service]) -> str:
    """docker-compose.replicas.yml: every service as REPLICAS containers in its consumer group,
    as `make up INSTANCES=2` runs them. Their host ports become a range per service (one fixed
    port cannot be bound twice); inside the network a service's name answers for all of them."""
    entries = []
    for s in services:
        entries += [
            f"  {s.name}:\n",
            "    deploy:\n",
            f"      replicas: {REPLICAS}\n",
            "    ports: !override\n",
            f'      - "{replica_ports(s)}"\n',
            "\n",
        ]
    return REPLICAS_HEADER + "services:\n" + "".join(entries).rstrip("\n") + "\n"


REPLICAS_HEADER = f"""\
# Every service as {REPLICAS} containers in its consumer group, as `make up INSTANCES={REPLICAS}`
# runs them; laid over the compose file (and the cluster file, if wanted):
#     docker compose -f docker-compose.yml [-f docker-compose.cluster.yml] \\
#         -f docker-compose.replicas.yml --env-file .local/secrets/compose.env up
# A service's replicas share its name on the compose network: the web client calls any of them,
# and Prometheus finds each by DNS (prometheus.compose.yml). From the host each has a port of
# its own, e.g. `docker compose port --index 2 booking <its port>`.
# {GENERATED_BY}.
"""


def prometheus_compose_jobs(services: Sequence[Service]) -> str:
    """One job per service, its replicas found by DNS on the compose network."""
    return "".join(
        f"  - job_name: {p.name}\n"
        "    metrics_path: /metrics\n"
        "    dns_sd_configs:\n"
        f"      - names: [{p.name}]\n"
        "        type: A\n"
        f"        port: {p.http_port}\n"
        for p in processes(services)
    )


CLUSTER_HEADER = f"""\
# Kafka as a cluster of three KRaft nodes (each broker and controller), as `make up
# KAFKA_BROKERS=3` runs it: replication factor 3 and min.insync.replicas=2 for every topic, the
# internal ones too. Laid over the compose file:
#     docker compose -f docker-compose.yml -f docker-compose.cluster.yml \\
#         --env-file .local/secrets/compose.env up
# The whole file is {GENERATED_BY}.

x-cluster-node: &cluster-node
  KAFKA_CONTROLLER_QUORUM_VOTERS: 1@kafka:9093,2@kafka-2:9093,3@kafka-3:9093
  KAFKA_DEFAULT_REPLICATION_FACTOR: 3
  KAFKA_MIN_INSYNC_REPLICAS: 2
  KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: 3
  KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: 3
  KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: 2
  KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR: 3
  KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR: 2

x-cluster-env: &cluster-env
  KAFKA_BOOTSTRAP: kafka:9092,kafka-2:9092,kafka-3:9092
  KAFKA_REPLICATION_FACTOR: "3"

"""


def readme_services(services: Sequence[Service]) -> str:
    rows = [
        f"| {p.name} client | http://127.0.0.1:{p.http_port}/ (its pages), `/metrics`, "
        "`/healthz`, `/readyz` |\n"
        if p.service.client
        else f"| {p.name} service | http://127.0.0.1:{p.http_port}/metrics, `/healthz`, "
        "`/readyz` |\n"
        for p in processes(services)
    ]
    return "| service | where |\n|---|---|\n" + "".join(rows)


def replace_region(text: str, begin: str, end: str, body: str, path: Path) -> str:
    """``text`` with what lies between the marker lines ``begin`` and ``end`` replaced."""
    start = text.find(begin)
    stop = text.find(end, start + len(begin)) if start >= 0 else -1
    if start < 0 or stop < 0:
        raise ValueError(f"{path} lacks the marker lines {begin.strip()!r} / {end.strip()!r}")
    return text[: start + len(begin)] + body + text[stop:]


@dataclass(frozen=True)
class Artefact:
    """A checked-in file and how its wanted text follows from its current text."""

    path: Path
    render: Callable[[str, Sequence[Service]], str]


def _compose(text: str, services: Sequence[Service]) -> str:
    path = REPO_ROOT / "docker-compose.yml"
    return replace_region(text, COMPOSE_BEGIN, COMPOSE_END, compose_services(services), path)


def _readme(text: str, services: Sequence[Service]) -> str:
    path = REPO_ROOT / "README.md"
    return replace_region(text, README_BEGIN, README_END, readme_services(services), path)


def _cluster(_: str, services: Sequence[Service]) -> str:
    return compose_cluster(services)


def _local_targets(_: str, services: Sequence[Service]) -> str:
    return targets_json(processes(services), loopback)


def _replicas(_: str, services: Sequence[Service]) -> str:
    return compose_replicas(services)


def _prometheus_compose(text: str, services: Sequence[Service]) -> str:
    path = REPO_ROOT / "deploy" / "prometheus" / "prometheus.compose.yml"
    body = prometheus_compose_jobs(services)
    return replace_region(text, PROMETHEUS_BEGIN, PROMETHEUS_END, body, path)


ARTEFACTS = (
    Artefact(REPO_ROOT / "docker-compose.yml", _compose),
    Artefact(REPO_ROOT / "docker-compose.cluster.yml", _cluster),
    Artefact(REPO_ROOT / "deploy" / "prometheus" / "targets" / "local.json", _local_targets),
    Artefact(REPO_ROOT / "docker-compose.replicas.yml", _replicas),
    Artefact(REPO_ROOT / "deploy" / "prometheus" / "prometheus.compose.yml", _prometheus_compose),
    Artefact(REPO_ROOT / "README.md", _readme),
)


def wanted(artefact: Artefact, services: Sequence[Service] | None = None) -> str:
    """The text ``artefact`` should have for ``services`` (by default the registry's)."""
    current = artefact.path.read_text() if artefact.path.exists() else ""
    return artefact.render(current, registry.SERVICES if services is None else services)


def stale(services: Sequence[Service] | None = None) -> list[Path]:
    """The artefacts whose text differs from what ``services`` make of them."""
    return [
        a.path
        for a in ARTEFACTS
        if not a.path.exists() or a.path.read_text() != wanted(a, services)
    ]


def write(services: Sequence[Service] | None = None) -> list[Path]:
    """Rewrite the stale artefacts; the paths written."""
    written = []
    for artefact in ARTEFACTS:
        text = wanted(artefact, services)
        if not artefact.path.exists() or artefact.path.read_text() != text:
            artefact.path.parent.mkdir(parents=True, exist_ok=True)
            artefact.path.write_text(text)
            written.append(artefact.path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.generate", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only name the stale files")
    args = parser.parse_args(argv)
    if args.check:
        found = stale()
        for path in found:
            print(f"{path.relative_to(REPO_ROOT)} is out of date: run `python -m deploy.generate`")
        return 1 if found else 0
    for path in write():
        print(f"wrote {path.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
