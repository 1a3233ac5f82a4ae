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
from datetime import datetime, timedelta
from email.message import EmailMessage
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser

from clients.commands import CommandClient
from contracts.identity import Role
from contracts.program import ProgramEventT, ProgramKind
from tests.e2e.test_web_browser import (
    Visitor,
    axe_script,
    browser,
    sign_in_link,
    signed_in_staff,
    tab_to,
    visitor,
)
from tests.identity_flows import body_of, path_of
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
            if words in f"{mail['Subject']}\n{body_of(mail)}":
                return mail
        await asyncio.sleep(0.2)
    seen = [body_of(m)[:300] for m in system.mails_to(email)]
    raise AssertionError(f"no mail to {email} saying {words!r}: {seen}")


async def signed_in_citizen(browser: Browser, system: System, axe: str, email: str) -> Visitor:
    """A citizen signed in by the link mailed to the address they registered with, looking at
    their registrations."""
    v = await visitor(browser, system, axe)
    await v.open("/programs")
    await v.page.get_by_role("link", name="申し込みの確認・取り消し").click()
    await v.page.wait_for_url("**/sign-in?as=citizen")
    await v.check()
    await v.page.get_by_label("メールアドレス").fill(email)
    await v.page.get_by_role("button", name="リンクを送る").click()
    # the answer comes to the same address as the form: wait for its words, not the address
    await v.page.get_by_text("メールを確認してください").wait_for(timeout=30_000)
    await v.open(path_of(await sign_in_link(system, email)))
    await v.page.get_by_role("button", name="サインインする").click()
    await v.page.wait_for_url("**/my/registrations")
    await v.check()
    return v


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
        await mail_saying(system, first, f"参加登録確定「{title}」")
        await register_from_the_page(v, title, second, shoot=False)
        waiting = await mail_saying(system, second, f"キャンセル待ち受付「{title}」")
        assert "キャンセル待ち順位: 1 番目" in body_of(waiting)
        waiter = await signed_in_citizen(browser, system, axe_script, second)
        assert "キャンセル待ち 1番目" in await waiter.page.locator("main").inner_text()
        await waiter.shoot("my-registrations")

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
        await v.open(f"/registrations/{uuid4()}/offer?token=unused")  # the offer's page too
    finally:
        await v.context.close()
    await mail_saying(system, second, f"キャンセル待ちからの繰り上げ: 参加登録確定「{title}」")
    try:  # and the second sees it among their registrations
        await waiter.open("/my/registrations")
        assert "確定" in await waiter.page.get_by_role("region", name=title).inner_text()
    finally:
        await waiter.context.close()


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
    mailed = body_of(await mail_saying(system, by_keys, f"参加登録確定「{title}」"))
    assert (
        f"{second_day.month}月{second_day.day}日" in mailed
        or second_day.date().isoformat() in mailed
    ), mailed

    plain = await visitor(browser, system, axe_script, java_script_enabled=False)
    try:
        await register_from_the_page(plain, title, without_script, shoot=False)
    finally:
        await plain.context.close()
    await mail_saying(system, without_script, f"参加登録確定「{title}」")


async def test_program_staff_plan_publish_and_see_a_registration_at_the_door(
    system: System, browser: Browser, axe_script: str
) -> None:
    staff = await signed_in_staff(browser, system, axe_script, Role.PROGRAM_STAFF,
                                  f"planner-{uuid4().hex[:8]}")  # fmt: skip
    title = f"ボランティア入門 {uuid4().hex[:6]}"
    day = (datetime.now(TOKYO) + timedelta(days=14)).date().isoformat()
    page = staff.page
    try:
        await staff.open("/staff/programs/new")
        await staff.shoot("staff-program-new")
        await page.get_by_label("題名", exact=True).fill(title)
        yesterday = (datetime.now(TOKYO) - timedelta(days=1)).date().isoformat()
        await page.locator("#opens_date").fill(yesterday)  # registration is open now
        await page.locator("#s1_date").fill(day)
        await page.locator("#s1_venue").select_option("outside")
        await page.locator("#s1_venue_name").fill("関内ホール")
        await page.locator("#s1_onsite").fill("10")
        await page.get_by_role("button", name="下書きとして作る").click()
        await page.get_by_text("下書きを作りました。").wait_for(timeout=30_000)
        await staff.check()
        await page.get_by_role("button", name="公開する").click()
        await page.get_by_text("公開しました。").wait_for(timeout=30_000)
        program_url = page.url.split("?")[0]

        citizen = await visitor(browser, system, axe_script)
        email = unique_email()
        try:
            await register_from_the_page(citizen, title, email, shoot=False)
        finally:
            await citizen.context.close()
        await mail_saying(system, email, f"参加登録確定「{title}」")

        await staff.open("/staff/programs")
        assert title in await page.locator("main").inner_text()
        await page.goto(program_url)
        assert "1 / 10 席" in await page.locator("main").inner_text()
        row = page.get_by_role("row", name="山田 花子")
        assert "確定" in await row.inner_text()
        await staff.check()
        await staff.shoot("staff-program")
        await page.get_by_role("button", name="山田 花子 の出席を記録").click()
        # two weeks ahead: the door is not open yet, and the service says so
        await page.get_by_text("受付時間外").wait_for(timeout=30_000)
        await staff.check()
    finally:
        await staff.context.close()
