"""Identity learns organisations from booking.events on its consumer path (tests/harness.py),
and their contacts sign in by mailed single-use links (HTTP routes in process, mail caught in
memory): the link page uses nothing, the button uses the link once, a suspended or expired
organisation gets no session, and a request for a link answers alike for every address.
Citizens sign in the same way, as their normalised address. SMTP itself is tested on the stack
(tests/integration/test_identity_on_stack.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import httpx
import pytest

from contracts.booking import (
    Contact,
    OrganisationExpired,
    OrganisationKind,
    OrganisationRegistered,
    OrganisationReinstated,
    OrganisationRenewed,
    OrganisationSuspended,
    OrganisationUpdated,
)
from contracts.identity import PrincipalKind
from contracts.topics import BOOKING_EVENTS
from services.runtime.clock import Clock
from tests import identity_support
from tests.harness import RawRecord, ServiceHarness
from tests.identity_flows import (
    CSRF,
    MailCatcher,
    body_of,
    cookie_of,
    links_in,
    path_of,
    with_session,
)
from tests.support import unique_email

pytestmark = pytest.mark.middle


def registered(email: str, organisation_id: UUID | None = None) -> OrganisationRegistered:
    return OrganisationRegistered(
        message_id=uuid4(), request_id=uuid4(), organisation_id=organisation_id or uuid4(),
        name="港北みどりの会", kind=OrganisationKind.CITIZEN_GROUP,
        contact=Contact(name="山田 花子", email=email),
        valid_until=datetime.now(UTC) + timedelta(days=3 * 365),
    )  # fmt: skip


async def standing_row(identity: ServiceHarness, organisation_id: UUID) -> dict[str, object]:
    row = await identity.pool.fetchrow(
        "SELECT name, contact_key, suspended, expired FROM organisations WHERE id = $1",
        organisation_id,
    )
    assert row is not None
    return dict(row)


async def ask(identity: ServiceHarness, email: str, kind: str = "organisation") -> httpx.Response:
    return await identity.http.post("/sign-in/link", json={"email": email, "kind": kind})


async def link_for(identity: ServiceHarness, mail: MailCatcher, email: str, kind: str) -> str:
    answer = await ask(identity, email, kind)
    assert answer.status_code == 202, answer.text
    found = links_in(mail.to(email.lower())[-1])
    assert len(found) == 1
    return found[0]


async def use(identity: ServiceHarness, link: str) -> httpx.Response:
    return await identity.http.post(path_of(link))


# --- what identity learns from booking.events ---------------------------------------------------


async def test_a_registration_records_the_contact_by_its_normalised_address(
    identity: ServiceHarness,
) -> None:
    event = registered("Hanako.Yamada@Example.ORG")
    assert await identity.send(event) == []  # identity publishes nothing
    assert await standing_row(identity, event.organisation_id) == {
        "name": "港北みどりの会", "contact_key": "hanako.yamada@example.org",
        "suspended": False, "expired": False,
    }  # fmt: skip


async def test_standing_follows_suspension_reinstatement_expiry_and_renewal(
    identity: ServiceHarness,
) -> None:
    event = registered(unique_email())
    org = event.organisation_id
    common = {"request_id": uuid4(), "organisation_id": org}
    await identity.send(event)
    await identity.send(OrganisationSuspended(message_id=uuid4(), reason="x", **common))
    assert (await standing_row(identity, org))["suspended"] is True
    await identity.send(OrganisationReinstated(message_id=uuid4(), **common))
    assert (await standing_row(identity, org))["suspended"] is False
    await identity.send(OrganisationExpired(message_id=uuid4(), organisation_id=org,
                                            expired_at=datetime.now(UTC)))  # fmt: skip
    assert (await standing_row(identity, org))["expired"] is True
    until = datetime.now(UTC) + timedelta(days=1000)
    await identity.send(OrganisationRenewed(message_id=uuid4(), valid_until=until, **common))
    assert (await standing_row(identity, org))["expired"] is False


async def test_a_redelivered_event_changes_nothing_more_and_other_types_are_skipped(
    identity: ServiceHarness,
) -> None:
    event = registered(unique_email())
    await identity.send(event)
    await identity.send(event)
    rows = await identity.deliver(BOOKING_EVENTS, RawRecord(b'{"type": "reservation.other"}'),
                                  RawRecord(b"\x00not json"))  # fmt: skip
    assert [row.topic for row in rows] == ["booking.events.dlq"]  # the unreadable one only
    count = await identity.pool.fetchval("SELECT count(*) FROM organisations")
    assert count == 1


@pytest.mark.parametrize("name", [
    "港北みどりの会\n\nhttps://evil.example.net/links/x", "x" * 100_000, "会\n",
])  # fmt: skip
async def test_a_name_that_is_no_line_of_text_is_kept_as_no_name(
    identity: ServiceHarness, sent_mail: MailCatcher, name: str
) -> None:
    email = unique_email()
    event = registered(email).model_copy(update={"name": name})
    await identity.send(event)
    assert (await standing_row(identity, event.organisation_id))["name"] == ""
    assert (await ask(identity, email)).status_code == 202
    text = body_of(sent_mail.to(email)[-1])
    assert f"■ {event.organisation_id}\n" in text and "evil" not in text


async def test_a_suspension_ends_the_organisations_sessions_at_once(
    identity: ServiceHarness, sent_mail: MailCatcher
) -> None:
    email = unique_email()
    event = registered(email)
    await identity.send(event)
    signed_in = await use(identity, await link_for(identity, sent_mail, email, "organisation"))
    cookie = cookie_of(signed_in)
    assert (await identity.http.post("/token", headers=with_session(cookie, **CSRF))).is_success
    await identity.send(OrganisationSuspended(message_id=uuid4(), request_id=uuid4(),
                                              organisation_id=event.organisation_id,
                                              reason="x"))  # fmt: skip
    assert (await identity.http.post("/token", headers=with_session(cookie, **CSRF))).status_code \
        == 401  # fmt: skip


async def test_a_new_contact_voids_the_former_contacts_session_and_links(
    identity: ServiceHarness, sent_mail: MailCatcher
) -> None:
    former, successor = unique_email(), unique_email()
    event = registered(former)
    await identity.send(event)
    cookie = cookie_of(await use(identity, await link_for(identity, sent_mail, former,
                                                          "organisation")))  # fmt: skip
    unused = await link_for(identity, sent_mail, former, "organisation")
    await identity.send(OrganisationUpdated(
        message_id=uuid4(), request_id=uuid4(), organisation_id=event.organisation_id,
        name="港北みどりの会", contact=Contact(name="佐藤 一郎", email=successor),
        newsletter_consent=False,
    ))  # fmt: skip
    assert (await identity.http.post("/token", headers=with_session(cookie, **CSRF))).status_code \
        == 401  # fmt: skip
    assert (await use(identity, unused)).status_code == 400
    assert (await use(identity, await link_for(identity, sent_mail, successor,
                                               "organisation"))).status_code == 200  # fmt: skip


# --- organisation sign-in by link ---------------------------------------------------------------


async def test_the_contact_signs_in_once_by_the_mailed_link_and_gets_an_organisation_token(
    identity: ServiceHarness, sent_mail: MailCatcher
) -> None:
    email = unique_email()
    event = registered(email)
    await identity.send(event)
    link = await link_for(identity, sent_mail, email, "organisation")
    mail = sent_mail.to(email)[-1]
    assert mail["Subject"] == "サインイン用リンク / Your sign-in link"
    assert "15分間" in body_of(mail) and "15 minutes" in body_of(mail)

    page = await identity.http.get(path_of(link))  # a mail scanner would do this
    assert page.status_code == 200 and '<form method="post"' in page.text
    assert "set-cookie" not in page.headers
    assert (await identity.http.get(path_of(link))).status_code == 200  # still unused

    signed_in = await use(identity, link)
    assert signed_in.status_code == 200, signed_in.text
    flags = signed_in.headers["set-cookie"].lower()
    for flag in ("httponly", "secure", "samesite=strict", "path=/", "max-age=43200"):
        assert flag in flags
    issued = await identity.http.post("/token", headers=with_session(cookie_of(signed_in),
                                                                       **CSRF))  # fmt: skip
    assert issued.status_code == 200, issued.text
    caller = identity_support.keyring().verify(issued.json()["access_token"], datetime.now(UTC))
    assert caller.kind is PrincipalKind.ORGANISATION
    assert caller.subject == str(event.organisation_id)
    assert caller.name == "港北みどりの会"
    assert issued.json()["expires_in"] == 300

    again = await use(identity, link)
    assert again.status_code == 400 and "使用済み" in again.text
    assert "set-cookie" not in again.headers


async def test_an_expired_link_opens_nothing(
    identity: ServiceHarness, sent_mail: MailCatcher
) -> None:
    email = unique_email()
    await identity.send(registered(email))
    link = await link_for(identity, sent_mail, email, "organisation")
    later = identity.instance(clock=Clock(timedelta(minutes=15)))
    async with later:
        assert (await later.http.get(path_of(link))).status_code == 400
        assert (await later.http.post(path_of(link))).status_code == 400
    assert (await use(identity, link)).status_code == 200  # it was only too late, not used


async def test_two_presses_at_once_open_one_session(
    identity: ServiceHarness, sent_mail: MailCatcher
) -> None:
    email = unique_email()
    await identity.send(registered(email))
    link = await link_for(identity, sent_mail, email, "organisation")
    first, second = await asyncio.gather(use(identity, link), use(identity, link))
    assert sorted([first.status_code, second.status_code]) == [200, 400]


async def test_a_suspended_organisations_contact_gets_a_note_instead_of_a_link(
    identity: ServiceHarness, sent_mail: MailCatcher
) -> None:
    email = unique_email()
    event = registered(email)
    await identity.send(event)
    link = await link_for(identity, sent_mail, email, "organisation")
    await identity.send(OrganisationSuspended(message_id=uuid4(), request_id=uuid4(),
                                              organisation_id=event.organisation_id,
                                              reason="x"))  # fmt: skip
    assert (await ask(identity, email)).status_code == 202
    assert links_in(sent_mail.to(email)[-1]) == []
    assert "有効な登録団体は見つかりませんでした" in body_of(sent_mail.to(email)[-1])
    assert (await use(identity, link)).status_code == 400  # the suspension dropped it


async def test_a_link_of_an_organisation_expired_since_shows_why_and_opens_nothing(
    identity: ServiceHarness, sent_mail: MailCatcher
) -> None:
    email = unique_email()
    event = registered(email)
    await identity.send(event)
    link = await link_for(identity, sent_mail, email, "organisation")
    await identity.pool.execute("UPDATE organisations SET expired = true WHERE id = $1",
                                event.organisation_id)  # fmt: skip
    page = await identity.http.get(path_of(link))
    assert page.status_code == 403 and "窓口" in page.text and "<form" not in page.text
    pressed = await use(identity, link)
    assert pressed.status_code == 403 and "set-cookie" not in pressed.headers


async def test_a_link_request_answers_alike_for_known_and_unknown_addresses(
    identity: ServiceHarness, sent_mail: MailCatcher
) -> None:
    known, stranger = unique_email(), unique_email()
    await identity.send(registered(known))
    answers = [await ask(identity, known), await ask(identity, stranger)]
    assert [a.status_code for a in answers] == [202, 202]
    assert answers[0].json() == answers[1].json()
    assert len(sent_mail.to(known)) == len(sent_mail.to(stranger)) == 1


async def test_a_mail_failure_is_a_503_to_try_again(
    identity: ServiceHarness, sent_mail: MailCatcher
) -> None:
    sent_mail.failing = True
    answer = await ask(identity, unique_email(), "citizen")
    assert answer.status_code == 503 and answer.headers["retry-after"]
    assert "error" in answer.json()


async def test_link_requests_are_throttled_per_address(
    identity: ServiceHarness, sent_mail: MailCatcher
) -> None:
    email = unique_email()
    assert [(await ask(identity, email)).status_code for _ in range(4)] == [202, 202, 202, 429]
    assert len(sent_mail.to(email)) == 3
    refused = await ask(identity, email.upper())  # one mailbox however it is written
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 800


@pytest.mark.parametrize("typed", [
    "victim@example.org\r\nBcc: all@example.org", "a@b.c\nSubject: x", "山田@example.org",
    "not an address", "x" * 300 + "@example.org",
])  # fmt: skip
async def test_a_hostile_address_is_refused_with_a_400_and_no_mail(
    identity: ServiceHarness, sent_mail: MailCatcher, typed: str
) -> None:
    answer = await ask(identity, typed)
    assert answer.status_code == 400, answer.text
    assert "email" in answer.json()["error"]
    assert sent_mail.sent == []


# --- citizens -----------------------------------------------------------------------------------


async def test_a_citizen_signs_in_as_their_normalised_address(
    identity: ServiceHarness, sent_mail: MailCatcher
) -> None:
    typed = "Citizen." + unique_email().upper()
    link = await link_for(identity, sent_mail, typed, "citizen")
    cookie = cookie_of(await use(identity, link))
    issued = await identity.http.post("/token", headers=with_session(cookie, **CSRF))
    caller = identity_support.keyring().verify(issued.json()["access_token"], datetime.now(UTC))
    assert caller.kind is PrincipalKind.CITIZEN
    assert caller.subject == typed.lower()
    assert caller.roles == frozenset()
