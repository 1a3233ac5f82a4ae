"""docker-compose.yml runs Kafka as the local stack does: no anonymous client, the standard
authorizer refusing what deploy/kafka_acls.py does not allow, each service its own principal.
(No container engine here: the file is read and its settings checked.)"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from deploy.kafka_acls import ADMIN, password_variable, principals
from services.registry import SERVICES

COMPOSE: dict[str, Any] = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text()
)
SERVICES_OF_COMPOSE: dict[str, Any] = COMPOSE["services"]
KAFKA: dict[str, str] = {k: str(v) for k, v in SERVICES_OF_COMPOSE["kafka"]["environment"].items()}


def test_every_kafka_listener_demands_a_login() -> None:
    protocols = dict(
        pair.split(":") for pair in KAFKA["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    )
    listeners = {entry.split("://")[0] for entry in KAFKA["KAFKA_LISTENERS"].split(",")}
    assert listeners == set(protocols)
    assert set(protocols.values()) == {"SASL_PLAINTEXT"}
    assert KAFKA["KAFKA_SASL_ENABLED_MECHANISMS"] == "SCRAM-SHA-512"
    assert KAFKA["KAFKA_SASL_MECHANISM_CONTROLLER_PROTOCOL"] == "PLAIN"


def test_the_standard_authorizer_refuses_what_no_acl_allows() -> None:
    assert KAFKA["KAFKA_AUTHORIZER_CLASS_NAME"] == (
        "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    )
    assert KAFKA["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    assert set(KAFKA["KAFKA_SUPER_USERS"].split(";")) == {"User:admin", "User:controller"}


def test_the_admin_user_is_written_with_the_storage() -> None:
    command = " ".join(SERVICES_OF_COMPOSE["kafka-format"]["command"])
    assert "--add-scram" in command and "name=admin" in command
    assert SERVICES_OF_COMPOSE["kafka"]["depends_on"]["kafka-format"]["condition"] == (
        "service_completed_successfully"
    )


def test_the_set_up_applies_the_acl_table_with_every_principals_password() -> None:
    setup = SERVICES_OF_COMPOSE["kafka-setup"]
    assert "python -m deploy.kafka_setup --bootstrap kafka:9092" in " ".join(setup["command"])
    env = setup["environment"]
    assert env["KAFKA_USERNAME"] == ADMIN
    wanted = {password_variable(p) for p in principals() if p != ADMIN}
    assert wanted <= set(env)


def test_each_service_logs_in_as_itself_after_the_set_up() -> None:
    for service in SERVICES:
        entry = SERVICES_OF_COMPOSE[service.name]
        env = entry["environment"]
        assert env["KAFKA_USERNAME"] == service.name
        assert password_variable(service.name) in env["KAFKA_PASSWORD"]
        assert entry["depends_on"]["kafka-setup"]["condition"] == "service_completed_successfully"
        assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT"


def test_no_password_is_written_in_the_file() -> None:
    text = (Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text()
    values = [m.group(1) for m in re.finditer(r'password=\\?"?([^"\s;\\]*)', text)]
    assert len(values) >= 4  # admin twice, the controller, the health check
    assert all(value.startswith("$") for value in values), values
