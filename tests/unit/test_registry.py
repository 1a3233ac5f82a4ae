"""The service registry is the one place that names the services: the local stack, the test stack,
Prometheus's targets, the compose file and the README's table follow it, and a new entry is all
they need."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from deploy import generate
from deploy.local.components.prometheus import Prometheus
from deploy.local.config import StackConfig
from deploy.local.supervisor import Supervisor
from deploy.targets import target_groups
from services import registry
from services.registry import INSTANCE_PORT_STEP, SERVICES, Need, Service, processes
from tests import support

REPO = Path(__file__).resolve().parents[2]
NEXT = Service("archive", 8086)  # a service that does not exist yet


@pytest.fixture
def with_next(monkeypatch: pytest.MonkeyPatch) -> tuple[Service, ...]:
    """The registry with one more entry, as the next service will add it."""
    services = (*SERVICES, NEXT)
    monkeypatch.setattr(registry, "SERVICES", services)
    return services


def test_the_registry_names_the_services_with_their_ports_and_needs() -> None:
    assert [(s.name, s.http_port, s.module, s.database) for s in SERVICES] == [
        ("booking", 8081, "services.booking", "booking"),
        ("notify", 8082, "services.notify", "notify"),
        ("identity", 8083, "services.identity", "identity"),
        ("events", 8084, "services.events", "events"),
        ("consultation", 8085, "services.consultation", "consultation"),
        ("web", 8080, "clients.web", ""),
    ]
    assert [s.name for s in SERVICES if s.client] == ["web"]
    assert registry.service("notify").needs == {Need.SMTP}
    assert registry.service("identity").needs == {Need.SMTP}
    assert registry.service("booking").needs == frozenset()
    assert registry.service("events").needs == {Need.SIGNING_KEY}
    assert registry.token_issuers() == ("events", "consultation")


@pytest.mark.parametrize(
    ("services", "complaint"),
    [
        ((Service("a", 8081), Service("a", 8082)), "listed twice"),
        ((Service("a", 8081), Service("b", 8081)), "taken by another service"),
        ((Service("a", 8181),), "outside 8080-8089"),
        ((Service("a", 8081, instances=0),), "at least one process"),
    ],
)
def test_a_list_the_stacks_could_not_run_is_refused(
    services: tuple[Service, ...], complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint):
        registry.validate(services)


def test_make_up_runs_each_service_once_on_its_own_port() -> None:
    assert [(p.name, p.http_port) for p in processes()] == [
        ("booking", 8081), ("notify", 8082), ("identity", 8083), ("events", 8084),
        ("consultation", 8085), ("web", 8080),
    ]  # fmt: skip
    assert StackConfig(root=Path("x")).services == processes()


def test_the_test_stack_runs_two_booking_instances_and_the_others_on_shifted_ports() -> None:
    offset = 20000 + support.PORT_OFFSET
    assert [(s.name, s.module, s.http_port, s.database) for s in support.SERVICES] == [
        ("booking-1", "services.booking", 28081 + support.PORT_OFFSET, "booking"),
        ("booking-2", "services.booking", 28081 + INSTANCE_PORT_STEP + support.PORT_OFFSET,
         "booking"),
        ("notify", "services.notify", 8082 + offset, "notify"),
        ("identity", "services.identity", 8083 + offset, "identity"),
        ("events", "services.events", 8084 + offset, "events"),
        ("consultation", "services.consultation", 8085 + offset, "consultation"),
        ("web", "clients.web", 8080 + offset, ""),
    ]  # fmt: skip


def test_no_two_processes_of_any_test_slot_share_a_port() -> None:
    ports = [
        p.http_port
        for slot in range(10)
        for p in processes(port_offset=20000 + 10 * slot, scale_out=True)
    ]
    assert len(ports) == len(set(ports))
    # the same holds for a full band of ten services with three instances each
    band = [Service(f"s{port}", port, instances=3) for port in registry.PORT_BAND]
    ports = [
        p.http_port
        for slot in range(10)
        for p in processes(band, port_offset=20000 + 10 * slot, scale_out=True)
    ]
    assert len(ports) == len(set(ports))


def test_every_generated_file_matches_the_registry() -> None:
    assert generate.stale() == [], "run `python -m deploy.generate`"


def test_the_compose_file_runs_every_registry_service_as_the_registry_says() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    infrastructure = {"kafka", "kafka-format", "kafka-setup", "postgres", "mail", "prometheus",
                      "grafana"}  # fmt: skip
    assert set(compose) - infrastructure == {s.name for s in SERVICES}
    for s in SERVICES:
        entry = compose[s.name]
        assert entry["command"][-1].endswith(f"python -m {s.module}")
        assert entry["ports"] == [f"127.0.0.1:{s.http_port}:{s.http_port}"]
        env = entry["environment"]
        assert env["HTTP_PORT"] == s.http_port
        if s.client:  # no database; it calls the services by their container names
            assert "DATABASE_URL" not in env
            assert env["BOOKING_URL"] == "http://booking:8081"
            assert env["IDENTITY_URL"] == "http://identity:8083"
        else:
            assert env["DATABASE_URL"] == f"postgresql://postgres@postgres:5432/{s.database}"
        assert ("SMTP_HOST" in env) == (Need.SMTP in s.needs)


def test_prometheus_scrapes_every_registry_service_under_its_name() -> None:
    folder = REPO / "deploy" / "prometheus"
    jobs = yaml.safe_load((folder / "prometheus.yml").read_text())["scrape_configs"]
    targets = "targets/local.json"
    assert {"files": [targets]} in [sd for job in jobs for sd in job.get("file_sd_configs", [])]
    groups = json.loads((folder / targets).read_text())
    assert groups == [
        {"targets": [f"127.0.0.1:{s.http_port}"], "labels": {"job": s.name}} for s in SERVICES
    ]


def test_prometheus_on_compose_finds_every_replica_of_every_service_by_dns() -> None:
    config = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.compose.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    for s in SERVICES:
        assert jobs[s.name]["dns_sd_configs"] == [
            {"names": [s.name], "type": "A", "port": s.http_port}
        ]


def test_the_replicas_file_runs_two_of_every_service_on_ports_of_their_own() -> None:
    replicas = yaml.load((REPO / "docker-compose.replicas.yml").read_text(), ComposeLoader)
    services = replicas["services"]
    assert set(services) == {s.name for s in SERVICES}
    ranges = []
    for s in SERVICES:
        assert services[s.name]["deploy"] == {"replicas": generate.REPLICAS}
        (published,) = services[s.name]["ports"]
        host, ports, inside = published.split(":")
        first, last = (int(p) for p in ports.split("-"))
        assert host == "127.0.0.1" and inside == str(s.http_port)
        assert last - first + 1 == generate.REPLICAS
        ranges.append(range(first, last + 1))
    taken = [port for r in ranges for port in r]
    assert len(taken) == len(set(taken))  # no two services share a host port


def test_no_deployment_file_types_a_service_port_by_hand() -> None:
    """The ports are written once, in the registry; generated files are held to it above."""
    generated = {a.path for a in generate.ARTEFACTS} - {REPO / "docker-compose.yml"}
    files = [
        *REPO.glob("services/*/app.py"),
        *REPO.glob("deploy/**/*.py"),
        *REPO.glob("deploy/**/*.yml"),
        REPO / "tests" / "support.py",
        REPO / "tests" / "conftest.py",
        REPO / "Makefile",
    ]
    compose = (REPO / "docker-compose.yml").read_text()
    by_hand = {
        REPO / "docker-compose.yml": compose.split(generate.COMPOSE_BEGIN)[0]
        + compose.split(generate.COMPOSE_END)[-1]
    }
    by_hand |= {
        path: path.read_text()
        for path in files
        if path not in generated and path.name != "alerts.test.yml"  # sample series
    }
    found = {
        f"{path.relative_to(REPO)}: {s.http_port}"
        for path, text in by_hand.items()
        for s in SERVICES
        if re.search(rf"(?<!\d){s.http_port}(?!\d)", text)
    }
    assert found == set()


def test_a_new_registry_entry_reaches_the_local_stack(
    with_next: tuple[Service, ...], tmp_path: Path
) -> None:
    config = StackConfig(root=tmp_path)
    assert ("archive", 8086) in [(p.name, p.http_port) for p in config.services]
    prometheus = Prometheus(config, Supervisor(tmp_path))
    prometheus.configure()  # what the local stack writes before it starts Prometheus
    written = json.loads((tmp_path / "prometheus" / "targets" / "local.json").read_text())
    assert {"targets": ["127.0.0.1:8086"], "labels": {"job": "archive"}} in written


def test_a_new_registry_entry_reaches_the_test_stack(with_next: tuple[Service, ...]) -> None:
    found = {s.name: s for s in support.stack_services()}
    assert found["archive"].module == "services.archive"
    assert found["archive"].database == "archive"
    assert found["archive"].http_port == 28086 + support.PORT_OFFSET


def test_a_new_registry_entry_reaches_compose_prometheus_and_the_readme(
    with_next: tuple[Service, ...],
) -> None:
    assert sorted(p.name for p in generate.stale()) == [
        "README.md", "docker-compose.cluster.yml", "docker-compose.replicas.yml",
        "docker-compose.yml", "local.json", "prometheus.compose.yml",
    ]  # fmt: skip
    texts = {a.path.name: generate.wanted(a) for a in generate.ARTEFACTS}
    compose = yaml.safe_load(texts["docker-compose.yml"])["services"]
    assert compose["archive"]["command"][-1].endswith("python -m services.archive")
    assert compose["archive"]["ports"] == ["127.0.0.1:8086:8086"]
    assert "SMTP_HOST" not in compose["archive"]["environment"]
    cluster = yaml.load(texts["docker-compose.cluster.yml"], ComposeLoader)["services"]
    assert cluster["archive"]["environment"]["KAFKA_REPLICATION_FACTOR"] == "3"
    jobs = yaml.safe_load(texts["prometheus.compose.yml"])["scrape_configs"]
    assert {"names": ["archive"], "type": "A", "port": 8086} in [
        sd for job in jobs for sd in job.get("dns_sd_configs", [])
    ]
    replicas = yaml.load(texts["docker-compose.replicas.yml"], ComposeLoader)["services"]
    assert replicas["archive"]["deploy"] == {"replicas": generate.REPLICAS}
    assert "| archive service | http://127.0.0.1:8086/metrics" in texts["README.md"]
    assert target_groups(processes())[-1] == {
        "targets": ["127.0.0.1:8086"],
        "labels": {"job": "archive"},
    }


def test_a_client_has_no_database_and_logs_in_as_its_client_principal() -> None:
    web = registry.service("web")
    assert web.client and web.database == ""
    with pytest.raises(ValueError, match="no database"):
        Service("kiosk-screen", 8089, client=True, database="kiosk")
    from deploy.kafka_acls import acl_table, principals

    assert principals().count("web") == 1  # the client principal, not a service's
    assert not [g for g in acl_table() if g.principal == "web" and g.operation.name != "WRITE"]


def test_every_process_of_a_stack_is_told_where_the_services_and_the_web_answer(
    tmp_path: Path,
) -> None:
    from deploy.local.launcher import service_env

    found = processes(port_offset=10)
    urls = registry.urls(found)
    assert urls["BOOKING_URL"] == "http://127.0.0.1:8091"
    assert urls["WEB_URL"] == "http://127.0.0.1:8090"
    web = next(p for p in found if p.name == "web")
    env = service_env(web, kafka_bootstrap="k", database_url="db", smtp_port=1, urls=urls)
    assert "DATABASE_URL" not in env and env["IDENTITY_URL"] == "http://127.0.0.1:8093"
    booking = next(p for p in found if p.name == "booking")
    assert (
        service_env(booking, kafka_bootstrap="k", database_url="db", smtp_port=1)["DATABASE_URL"]
        == "db"
    )


def test_instances_runs_that_many_of_every_service_on_ports_apart() -> None:
    found = processes(instances=2)
    assert len(found) == 2 * len(SERVICES)
    names = [p.name for p in found]
    assert "booking-1" in names and "web-2" in names and len(set(names)) == len(names)
    ports = [p.http_port for p in found]
    assert len(set(ports)) == len(ports)
    assert {p.http_port - p.service.http_port for p in found} == {0, INSTANCE_PORT_STEP}
    with pytest.raises(ValueError):
        processes(instances=0)


class ComposeLoader(yaml.SafeLoader):
    """Compose's own tags (`!override`, `!reset`) read as the values they tag."""


def _tagged(loader: yaml.SafeLoader, _: str, node: yaml.Node) -> object:
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


ComposeLoader.add_multi_constructor("!", _tagged)


def test_the_cluster_file_adds_two_nodes_and_points_every_service_at_all_three() -> None:
    cluster = yaml.load((REPO / "docker-compose.cluster.yml").read_text(), ComposeLoader)
    services = cluster["services"]
    assert {s.name for s in SERVICES} <= set(services)
    for name in (s.name for s in SERVICES):
        env = services[name]["environment"]
        assert env["KAFKA_BOOTSTRAP"] == "kafka:9092,kafka-2:9092,kafka-3:9092"
        assert env["KAFKA_REPLICATION_FACTOR"] == "3"
    ports = {services[f"kafka-{n}"]["ports"][0] for n in (2, 3)}
    assert ports == {"127.0.0.1:19094:19094", "127.0.0.1:19096:19096"}
    for node in ("kafka", "kafka-2", "kafka-3", "kafka-format", "kafka-format-2"):
        env = services[node]["environment"]
        assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093,2@kafka-2:9093,3@kafka-3:9093"
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == 2
    assert set(cluster["volumes"]) == {"kafkadata-2", "kafkadata-3"}
