"""The programs' pages in a real browser against the real stack: a citizen registers for the
last seat of a course's first session from the web page, a second is waitlisted, the first
cancels from the link in their mail, and the second is promoted, each told by mail; the same
form with the keyboard alone and without JavaScript. axe-core checks every page shown, and
screenshots go to .local/screenshots/."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser

from clients.commands import CommandClient
from contracts.program import ProgramEventT, ProgramKind
from tests.e2e.test_web_browser import Visitor, axe_script, browser, tab_to, visitor
from tests.identity_flows import body_of
from tests.integration.test_events_flows_on_stack import client_as, opened, outside
from tests.support import System, unique_email

pytestmark = pytest.mark.stack
TOKYO = ZoneInfo("Asia/Tokyo")
CANCEL_LINK = re.compile(r"https?://[^/\s]+(/registrations/[0-9a-f-]+/cancel\?token=\S+)")
__all__ = ["axe_script", "browser"]  # fixtures, used by name


@pytest.fixture
async def programs(system: System) -> AsyncIterator[CommandClient[ProgramEventT]]:
    async with await client_as(system, "web") as client:
        yield client


async def mail_saying(system: System, email: str, words: str, timeout: float = 45) -> EmailMessage:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for mail in system.mails_to(email):
            if words in body_of(mail):
                return mail
        await asyncio.sleep(0.2)
    seen = [body_of(m)[:300] for m in system.mails_to(email)]
    raise AssertionError(f"no mail to {email} saying {words!r}: {seen}")


async def register_from_the_page(v: Visitor, title: str, email: str, *, shoot: bool) -> None:
    await v.open("/programs")
    await v.page.get_by_role("link", name=title).first.click()
    await v.page.wait_for_url("**/programs/*")
    await v.check()
    if shoot:
        await v.shoot("program")
    await v.page.get_by_label("第1回", exact=False).first.check()
    await v.page.get_by_label("会場で参加").check()
    await v.page.get_by_label("お名前").fill("山田 花子")
    await v.page.get_by_label("メールアドレス").fill(email)
    await v.page.get_by_role("button", name="申し込む").click()
    await v.page.wait_for_url("**/register")
    assert "申し込みを受け付けました" in await v.page.locator("h1").inner_text()
    await v.check()


async def test_a_citizen_registers_is_waitlisted_and_promoted_when_a_seat_frees(
    system: System, programs: CommandClient[ProgramEventT], browser: Browser, axe_script: str
) -> None:
    title = f"市民活動はじめて講座 {time.monotonic_ns() % 100000}"
    plan = outside(sessions=4, onsite=1, kind=ProgramKind.COURSE).model_copy(
        update={"title": title}
    )
    await opened(programs, plan)
    first, second = unique_email(), unique_email()
    v = await visitor(browser, system, axe_script)
    try:
        await v.open("/programs")
        await v.shoot("programs")
        await register_from_the_page(v, title, first, shoot=True)
        await mail_saying(system, first, title)
        await register_from_the_page(v, title, second, shoot=False)
        waiting = await mail_saying(system, second, title)
        assert "1" in body_of(waiting)  # the first in the waitlist

        confirmation = system.mails_to(first)[0]
        cancel_link = CANCEL_LINK.search(body_of(confirmation))
        assert cancel_link, body_of(confirmation)
        assert cancel_link.group(0).startswith(v.base)  # the mail points at the web's page
        await v.open(cancel_link.group(1))
        await v.shoot("registration-cancel")
        await v.page.get_by_role("button", name="申し込みを取り消す").click()
        await v.page.wait_for_url("**/answer")
        assert "取り消しを受け付けました" in await v.page.locator("h1").inner_text()
        await v.check()
    finally:
        await v.context.close()
    deadline = time.monotonic() + 45
    while len(system.mails_to(second)) < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    promoted = system.mails_to(second)
    assert len(promoted) >= 2, [body_of(m)[:200] for m in promoted]
    assert title in body_of(promoted[-1])


async def test_registration_with_the_keyboard_alone_and_without_javascript(
    system: System, programs: CommandClient[ProgramEventT], browser: Browser, axe_script: str
) -> None:
    title = f"連続講座 {time.monotonic_ns() % 100000}"
    plan = outside(sessions=2, onsite=5).model_copy(update={"title": title})
    await opened(programs, plan)
    by_keys, without_script = unique_email(), unique_email()
    v = await visitor(browser, system, axe_script)
    try:
        await v.open(f"/programs/{plan.message_id}")
        await tab_to(v.page, f'input[value="{plan.sessions[1].session_id}"]')
        await v.page.keyboard.press("Space")
        await tab_to(v.page, "#f-onsite")  # the only frame offered, chosen already
        assert await v.page.is_checked("#f-onsite")
        assert await v.page.locator("#f-online").count() == 0  # not streamed: not offered
        await tab_to(v.page, "#name")
        await v.page.keyboard.type("鍵盤 太郎")
        await v.page.keyboard.press("Tab")
        await v.page.keyboard.type(by_keys)
        await v.page.keyboard.press("Enter")  # submits the form
        await v.page.wait_for_url("**/register")
        await v.check()
    finally:
        await v.context.close()
    second_day = plan.sessions[1].starts_at.astimezone(TOKYO)
    mailed = body_of(await mail_saying(system, by_keys, title))
    assert (
        f"{second_day.month}月{second_day.day}日" in mailed
        or second_day.date().isoformat() in mailed
    ), mailed

    plain = await visitor(browser, system, axe_script, java_script_enabled=False)
    try:
        await register_from_the_page(plain, title, without_script, shoot=False)
    finally:
        await plain.context.close()
    await mail_saying(system, without_script, title)
