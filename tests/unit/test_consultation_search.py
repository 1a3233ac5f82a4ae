"""Matching a staff member's search words against the text of a case."""

from __future__ import annotations

from services.consultation.search import MAX_WORDS, matches, normalise, words


def test_full_and_half_width_forms_and_case_match_alike() -> None:
    assert normalise("ＮＰＯ　法人  ｶﾞｲﾄﾞ") == "npo 法人 ガイド"
    assert matches(words("npo ガイド"), ["ＮＰＯ法人の設立ｶﾞｲﾄﾞ"])


def test_every_word_must_occur_somewhere_in_the_case() -> None:
    texts = ["山田 花子", "会費の扱いを知りたい"]
    assert matches(words("山田 会費"), texts)
    assert not matches(words("山田 税金"), texts)


def test_a_query_is_cut_to_its_first_distinct_words() -> None:
    assert words("a a b") == ["a", "b"]
    assert len(words(" ".join(str(n) for n in range(20)))) == MAX_WORDS


def test_an_empty_query_matches_any_case() -> None:
    assert matches(words("   "), ["anything"])
