"""Staff passwords: argon2id with the recommended parameters, rehashed when they change, equal
work for unknown accounts, and the rules for a new password."""

from __future__ import annotations

from argon2 import PasswordHasher, extract_parameters
from argon2.profiles import RFC_9106_LOW_MEMORY

from services.identity import passwords

# Cheap parameters for the tests that only need *some* other parameters: fast to run.
WEAK = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def test_hashes_are_argon2id_with_rfc_9106_parameters_at_least_owasp_minimum() -> None:
    params = extract_parameters(passwords.hash_password("correct horse battery"))
    assert params == RFC_9106_LOW_MEMORY
    assert params.type.name == "ID"
    assert params.memory_cost >= 19 * 1024 and params.time_cost >= 2  # OWASP's floor


def test_the_right_password_matches_and_a_wrong_one_does_not() -> None:
    stored = passwords.hash_password("correct horse battery", WEAK)
    assert passwords.verify(stored, "correct horse battery", WEAK).ok
    assert not passwords.verify(stored, "correct horse batterY", WEAK).ok


def test_two_hashes_of_one_password_differ_by_their_salt() -> None:
    assert passwords.hash_password("same password!", WEAK) != passwords.hash_password(
        "same password!", WEAK
    )


def test_a_hash_made_under_older_parameters_is_rehashed_on_success() -> None:
    old = passwords.hash_password("correct horse battery", WEAK)
    verdict = passwords.verify(old, "correct horse battery", passwords.HASHER)
    assert verdict.ok and verdict.rehash is not None
    assert extract_parameters(verdict.rehash) == RFC_9106_LOW_MEMORY
    assert passwords.verify(verdict.rehash, "correct horse battery").rehash is None


def test_a_failed_check_never_rehashes() -> None:
    old = passwords.hash_password("correct horse battery", WEAK)
    assert passwords.verify(old, "wrong", passwords.HASHER).rehash is None


def test_a_damaged_stored_hash_matches_nothing() -> None:
    assert not passwords.verify("not a hash", "anything", WEAK).ok
    assert not passwords.verify("$argon2id$v=19$m=8,t=1,p=1$AAAA$BBBB", "anything", WEAK).ok


def test_the_decoy_for_unknown_accounts_is_a_real_hash_no_password_matches() -> None:
    decoy = passwords.decoy_hash(WEAK)
    assert decoy.startswith("$argon2id$")
    assert not passwords.verify(decoy, "", WEAK).ok


def test_new_passwords_must_be_long_varied_and_not_the_username() -> None:
    assert passwords.password_problem("short", "sato") is not None
    assert passwords.password_problem("x" * 257, "sato") is not None
    assert passwords.password_problem("sato.ichiro.", "Sato.Ichiro.") is not None
    assert passwords.password_problem("aaaaaaaaaaaaaa", "sato") is not None
    assert passwords.password_problem("twelve chars+", "sato") is None
    assert passwords.password_problem("長いパスワードを使います", "sato") is None
