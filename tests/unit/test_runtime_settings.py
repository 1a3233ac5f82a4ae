"""Settings come from the environment with local defaults, and a wrong value says which one."""

from __future__ import annotations

import pytest

from services.runtime.settings import RuntimeSettings


@pytest.fixture(autouse=True)
def kafka_login(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every service needs its Kafka login outside development (tests/unit/test_kafka_auth.py)."""
    monkeypatch.setenv("KAFKA_USERNAME", "booking")
    monkeypatch.setenv("KAFKA_PASSWORD", "unit-test-password")


def test_defaults_point_at_the_local_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KAFKA_BOOTSTRAP", "DATABASE_URL", "HTTP_PORT", "CONSUMER_GROUP"):
        monkeypatch.delenv(name, raising=False)
    settings = RuntimeSettings.from_env("booking", 8081)
    assert settings.kafka_bootstrap == "127.0.0.1:19092"
    assert settings.database_url.endswith(":15432/booking")
    assert settings.http_port == 8081 and settings.consumer_group == "booking"


def test_the_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PORT", "9999")
    monkeypatch.setenv("OUTBOX_POLL_S", "0.1")
    settings = RuntimeSettings.from_env("notify", 8082)
    assert settings.http_port == 9999 and settings.outbox_poll_s == 0.1


def test_a_malformed_number_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_BATCH", "lots")
    with pytest.raises(ValueError, match="MAX_BATCH must be an integer"):
        RuntimeSettings.from_env("booking", 8081)


def test_the_role_decides_what_a_process_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICE_ROLE", "api")
    api = RuntimeSettings.from_env("booking", 8081)
    assert api.serves_reads and not api.consumes
    monkeypatch.setenv("SERVICE_ROLE", "worker")
    worker = RuntimeSettings.from_env("booking", 8081)
    assert worker.consumes and not worker.serves_reads


def test_an_unknown_role_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICE_ROLE", "everything")
    with pytest.raises(ValueError, match="SERVICE_ROLE must be one of"):
        RuntimeSettings.from_env("booking", 8081)
