"""The identity service refuses to start outside development without its signing key, and the
create-staff step takes its password from stdin or a prompt, never from the command line."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from services.identity import app, cli
from services.runtime.identity import PEOPLE_ISSUER, generate_key_pair
from services.runtime.secrets import SecretError


def test_outside_development_the_service_does_not_start_without_its_signing_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DEVELOPMENT", raising=False)
    monkeypatch.delenv("TOKEN_SIGNING_KEY_FILE", raising=False)
    with pytest.raises(SecretError, match="TOKEN_SIGNING_KEY_FILE"):
        app.build_spec()


def test_outside_development_the_key_named_by_the_environment_is_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    generate_key_pair(tmp_path, PEOPLE_ISSUER)
    monkeypatch.delenv("DEVELOPMENT", raising=False)
    monkeypatch.setenv("TOKEN_SIGNING_KEY_FILE", str(tmp_path / f"{PEOPLE_ISSUER}.key"))
    assert app.build_spec().name == "identity"


def test_the_password_is_read_from_a_line_of_stdin() -> None:
    assert cli.read_password(io.StringIO("a long and fine password\nrest\n")) == (
        "a long and fine password"
    )


def test_there_is_no_password_option_on_the_command_line() -> None:
    with pytest.raises(SystemExit):
        cli.parser().parse_args(["--username", "root", "--role", "administrator",
                                 "--password", "secret"])  # fmt: skip


@pytest.mark.parametrize(("argv", "password"), [
    (["--username", "root", "--role", "administrator"], "short\n"),
    (["--username=-x", "--role", "administrator"], "a long and fine password\n"),
])  # fmt: skip
def test_a_bad_username_or_weak_password_is_refused_before_anything_is_stored(
    argv: list[str], password: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv, io.StringIO(password)) == 2
    assert password.strip() not in capsys.readouterr().err


def test_an_unknown_role_is_refused() -> None:
    with pytest.raises(SystemExit):
        cli.parser().parse_args(["--username", "root", "--role", "emperor"])
