"""Case content sealed at rest (services/consultation/sealing.py): it opens only for its own
case and field, untouched, with a listed key; keys rotate without a stop."""

from __future__ import annotations

import base64
import os
from uuid import UUID, uuid4

import pytest

from services.consultation import sealing
from services.consultation.sealing import SealError, SealingKeys
from services.runtime.secrets import SecretError

CASE = UUID("3b7e9c41-5d2a-4f86-9e0b-7c1a2d3e4f50")
NARRATIVE = "起立性調節障害のある生徒の支援グループを立ち上げたい。資金のことも相談したい。"
OLD = ("2025-04", os.urandom(32))
NEW = ("2026-11", os.urandom(32))


def keys(*pairs: tuple[str, bytes]) -> SealingKeys:
    return SealingKeys(pairs)


def encoded(*pairs: tuple[str, bytes]) -> str:
    return ",".join(f"{kid}:{base64.urlsafe_b64encode(key).decode()}" for kid, key in pairs)


def test_a_field_opens_as_it_was_sealed() -> None:
    ring = keys(NEW)
    sealed = sealing.seal(ring, CASE, "narrative", NARRATIVE)
    assert sealing.unseal(ring, CASE, "narrative", sealed) == NARRATIVE
    assert sealing.key_id_of(sealed) == "2026-11"


def test_the_sealed_value_shows_nothing_of_the_content() -> None:
    sealed = sealing.seal(keys(NEW), CASE, "requester_name", "山田花子")
    assert "山田花子".encode() not in sealed
    assert sealed != sealing.seal(keys(NEW), CASE, "requester_name", "山田花子")  # fresh nonce


def test_an_empty_field_seals_too() -> None:
    ring = keys(NEW)
    assert sealing.unseal(ring, CASE, "notes", sealing.seal(ring, CASE, "notes", "")) == ""


def test_every_altered_byte_is_detected() -> None:
    ring = keys(NEW)
    sealed = sealing.seal(ring, CASE, "narrative", "相談内容")
    for i in range(len(sealed)):
        altered = bytearray(sealed)
        altered[i] ^= 0x01
        with pytest.raises(SealError):
            sealing.unseal(ring, CASE, "narrative", bytes(altered))


def test_a_cut_value_is_refused() -> None:
    ring = keys(NEW)
    sealed = sealing.seal(ring, CASE, "narrative", "相談内容")
    for end in (0, 1, 5, len(sealed) - 1):
        with pytest.raises(SealError):
            sealing.unseal(ring, CASE, "narrative", sealed[:end])


def test_a_value_copied_to_another_case_does_not_open() -> None:
    ring = keys(NEW)
    sealed = sealing.seal(ring, CASE, "narrative", NARRATIVE)
    with pytest.raises(SealError):
        sealing.unseal(ring, uuid4(), "narrative", sealed)


def test_a_value_copied_to_another_field_does_not_open() -> None:
    ring = keys(NEW)
    sealed = sealing.seal(ring, CASE, "notes", "担当メモ")
    with pytest.raises(SealError):
        sealing.unseal(ring, CASE, "narrative", sealed)


def test_a_value_sealed_with_a_key_not_listed_does_not_open() -> None:
    sealed = sealing.seal(keys(OLD), CASE, "narrative", NARRATIVE)
    with pytest.raises(SealError, match="not among the service's keys") as refused:
        sealing.unseal(keys(NEW), CASE, "narrative", sealed)
    assert NARRATIVE not in str(refused.value)


def test_a_key_id_changed_in_the_header_does_not_open_with_another_key() -> None:
    same_key = ("2025-04", NEW[1])
    ring = keys(NEW, same_key)
    sealed = sealing.seal(ring, CASE, "narrative", NARRATIVE)
    relabelled = sealed.replace(b"2026-11", b"2025-04", 1)
    with pytest.raises(SealError):
        sealing.unseal(ring, CASE, "narrative", relabelled)


def test_rotation_in_steps_never_leaves_a_value_unreadable() -> None:
    before = sealing.seal(keys(OLD), CASE, "narrative", NARRATIVE)
    # 1. the new key is listed second: old values open, new ones are still sealed with the old
    step1 = keys(OLD, NEW)
    assert sealing.unseal(step1, CASE, "narrative", before) == NARRATIVE
    assert sealing.key_id_of(sealing.seal(step1, CASE, "notes", "x")) == "2025-04"
    # 2. the new key seals; old values still open
    step2 = keys(NEW, OLD)
    during = sealing.seal(step2, CASE, "notes", "担当メモ")
    assert sealing.key_id_of(during) == "2026-11"
    # an instance not yet restarted with the new order still opens it
    assert sealing.unseal(step1, CASE, "notes", during) == "担当メモ"
    # 3. reseal what the old key sealed
    assert sealing.needs_reseal(step2, before) and not sealing.needs_reseal(step2, during)
    after = sealing.reseal(step2, CASE, "narrative", before)
    assert sealing.key_id_of(after) == "2026-11"
    assert sealing.reseal(step2, CASE, "notes", during) == during
    # 4. the old key is dropped: everything opens with the new one alone
    step4 = keys(NEW)
    assert sealing.unseal(step4, CASE, "narrative", after) == NARRATIVE
    assert sealing.unseal(step4, CASE, "notes", during) == "担当メモ"


def test_keys_are_given_as_ids_and_base64() -> None:
    ring = SealingKeys.parse(encoded(NEW, OLD))
    assert ring.current == "2026-11"
    standard = f"{NEW[0]}:{base64.b64encode(NEW[1]).decode()}"
    assert SealingKeys.parse(standard).keys == (NEW,)
    unpadded = encoded(NEW).rstrip("=")
    assert SealingKeys.parse(unpadded).keys == (NEW,)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2026-11:" + base64.urlsafe_b64encode(os.urandom(16)).decode(),  # 128 bits
        "2026-11:not base64 at all!",
        "Key One:" + base64.urlsafe_b64encode(os.urandom(32)).decode(),
        encoded(NEW, ("2026-11", os.urandom(32))),  # one id twice
    ],
)
def test_bad_keys_are_refused(text: str) -> None:
    with pytest.raises(SecretError):
        SealingKeys.parse(text)


def test_keys_never_show_in_their_description() -> None:
    ring = keys(NEW)
    assert NEW[1].hex() not in repr(ring) and str(NEW[1]) not in repr(ring)
    assert "2026-11" in repr(ring)


def test_outside_development_the_keys_must_be_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEVELOPMENT", raising=False)
    monkeypatch.delenv(sealing.KEYS_VARIABLE, raising=False)
    with pytest.raises(SecretError, match=sealing.KEYS_VARIABLE):
        sealing.load_keys()
    monkeypatch.setenv(sealing.KEYS_VARIABLE, encoded(("dev", sealing.DEV_KEY)))
    with pytest.raises(SecretError, match="development key"):
        sealing.load_keys()
    monkeypatch.setenv(sealing.KEYS_VARIABLE, encoded(NEW, OLD))
    assert sealing.load_keys().current == "2026-11"


def test_in_development_a_public_key_stands_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVELOPMENT", "1")
    monkeypatch.delenv(sealing.KEYS_VARIABLE, raising=False)
    assert sealing.load_keys().current == sealing.DEV_KEY_ID
