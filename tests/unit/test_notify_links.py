"""Signed links: genuine ones are read back; forged, altered, expired or misused ones refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.notify import links

KEY = b"test-key"
NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)


def test_a_genuine_unsubscribe_token_names_its_subscriber() -> None:
    assert links.read_unsubscribe_token(KEY, links.unsubscribe_token(KEY, 42)) == 42


def test_an_unsubscribe_token_signed_with_another_key_is_refused() -> None:
    assert links.read_unsubscribe_token(KEY, links.unsubscribe_token(b"other", 42)) is None


def test_an_unsubscribe_token_whose_subscriber_was_changed_is_refused() -> None:
    genuine = links.unsubscribe_token(KEY, 42)
    forged_payload = links.sign(b"attacker", "unsubscribe", 43).split(".")[0]
    assert links.read_unsubscribe_token(KEY, f"{forged_payload}.{genuine.split('.')[1]}") is None


def test_garbage_tokens_are_refused_without_raising() -> None:
    for token in ["", ".", "abc", "a.b.c", "!!!.???", "x" * 500]:
        assert links.read_unsubscribe_token(KEY, token) is None
        assert links.read_confirm_token(KEY, token, NOW) is None
        assert links.read_open_token(KEY, token) is None


def test_a_token_for_one_purpose_does_not_work_for_another() -> None:
    unsubscribe = links.unsubscribe_token(KEY, 7)
    assert links.read_open_token(KEY, unsubscribe) is None
    assert links.read_confirm_token(KEY, unsubscribe, NOW) is None


def test_a_confirmation_token_carries_subscriber_and_generation_until_it_expires() -> None:
    token = links.confirm_token(KEY, 5, 3, NOW + timedelta(hours=1))
    assert links.read_confirm_token(KEY, token, NOW) == (5, 3)
    assert links.read_confirm_token(KEY, token, NOW + timedelta(hours=2)) is None


def test_an_open_token_names_its_delivery() -> None:
    assert links.read_open_token(KEY, links.open_token(KEY, 123456)) == 123456
