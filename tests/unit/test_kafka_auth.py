"""Kafka credentials: every connection authenticates, and outside development nobody starts
without their own."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from services.runtime.kafka_auth import (
    KafkaCredentials,
    connection_kwargs,
    credentials_from_env,
    development_password,
    faststream_security,
)
from services.runtime.secrets import SecretError
from services.runtime.settings import RuntimeSettings

VARIABLES = ("KAFKA_USERNAME", "KAFKA_PASSWORD", "KAFKA_SASL_MECHANISM", "KAFKA_SECURITY_PROTOCOL")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*VARIABLES, "DEVELOPMENT"):
        monkeypatch.delenv(name, raising=False)


def test_the_connection_arguments_log_in_with_scram() -> None:
    kwargs = connection_kwargs(KafkaCredentials("booking", "s3cret"))
    assert kwargs == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "booking",
        "sasl_plain_password": "s3cret",
    }


def test_faststream_gets_the_same_login() -> None:
    security = faststream_security(KafkaCredentials("notify", "pw", "SCRAM-SHA-256"))
    assert (security.username, security.password) == ("notify", "pw")
    assert type(security).__name__ == "SASLScram256" and not security.use_ssl


def test_outside_development_a_process_without_credentials_refuses_to_start() -> None:
    with pytest.raises(SecretError, match="KAFKA_USERNAME and KAFKA_PASSWORD not set"):
        credentials_from_env("booking")


def test_outside_development_the_password_never_appears_in_the_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFKA_PASSWORD", "hunter2-very-secret")
    with pytest.raises(SecretError) as raised:
        credentials_from_env("booking")
    assert "KAFKA_USERNAME" in str(raised.value)
    assert "hunter2" not in str(raised.value)


def test_outside_development_the_default_protocol_is_encrypted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFKA_USERNAME", "booking")
    monkeypatch.setenv("KAFKA_PASSWORD", "pw")
    credentials = credentials_from_env("booking")
    assert credentials.protocol == "SASL_SSL"
    assert "ssl_context" in connection_kwargs(credentials)


def test_an_unknown_mechanism_or_protocol_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_USERNAME", "booking")
    monkeypatch.setenv("KAFKA_PASSWORD", "pw")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "PLAIN")
    with pytest.raises(SecretError, match="KAFKA_SASL_MECHANISM"):
        credentials_from_env("booking")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-256")
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
    with pytest.raises(SecretError, match="KAFKA_SECURITY_PROTOCOL"):
        credentials_from_env("booking")


def test_in_development_the_environment_still_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVELOPMENT", "1")
    monkeypatch.setenv("KAFKA_USERNAME", "web")
    monkeypatch.setenv("KAFKA_PASSWORD", "given")
    credentials = credentials_from_env("kiosk")
    assert (credentials.username, credentials.password) == ("web", "given")
    assert credentials.protocol == "SASL_PLAINTEXT"


def test_a_development_password_is_random_made_once_and_private(tmp_path: Path) -> None:
    first = development_password("kiosk", tmp_path)
    assert development_password("kiosk", tmp_path) == first
    assert development_password("web", tmp_path) != first
    assert len(first) >= 40
    assert stat.S_IMODE((tmp_path / "kiosk.password").stat().st_mode) == 0o600


def test_a_principal_name_that_could_escape_its_folder_is_refused(tmp_path: Path) -> None:
    for name in ("../admin", "Admin", "a b", "", 'x"y'):
        with pytest.raises(ValueError, match="no principal name"):
            development_password(name, tmp_path)


def test_a_service_reads_its_kafka_login_with_its_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_USERNAME", "notify")
    monkeypatch.setenv("KAFKA_PASSWORD", "pw")
    settings = RuntimeSettings.from_env("notify", 8082)
    assert settings.kafka_credentials.username == "notify"
    assert "pw" not in repr(settings.kafka_credentials)
