"""The registrants' signed links (services/events/links.py): a token works for its registration
and purpose only, and a forged or altered one proves nothing."""

from __future__ import annotations

from uuid import uuid4

from services.events import links

KEY = b"k" * 32


def test_a_token_proves_its_registration_and_purpose_only() -> None:
    rid = uuid4()
    cancel = links.token(KEY, links.CANCEL, rid)
    assert links.proves(KEY, cancel, links.CANCEL, rid)
    assert not links.proves(KEY, cancel, links.OFFER, rid), "a cancel token accepts no offer"
    assert not links.proves(KEY, cancel, links.CANCEL, uuid4())
    assert not links.proves(b"o" * 32, cancel, links.CANCEL, rid), "another key"


def test_a_missing_altered_or_foreign_token_proves_nothing() -> None:
    rid = uuid4()
    genuine = links.token(KEY, links.CANCEL, rid)
    for given in (None, "", genuine[:-1] + ("A" if genuine[-1] != "A" else "B"), "x.y",
                  links.token(KEY, links.CANCEL, uuid4())):  # fmt: skip
        assert not links.proves(KEY, given, links.CANCEL, rid)
