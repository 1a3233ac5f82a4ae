"""The staff's back-office in a real browser against the real stack: someone asks for an
organisation to be registered, and a coordinator registers it after its interview, suspends it
with a reason and reinstates it, closes a day and opens it again; booking decides each step.
axe-core checks every page shown, and screenshots go to .local/screenshots/."""

from __future__ import annotations

import asyncio
import time
from uuid import uuid4

import pytest
from playwright.async_api import Browser

from contracts.identity import Role
from tests.e2e.test_web_browser import axe_script, browser, signed_in_staff, visitor
from tests.support import DAYS, System, unique_email

pytestmark = pytest.mark.stack
__all__ = ["axe_script", "browser"]  # fixtures, used by name


async def test_a_coordinator_registers_suspends_and_reinstates_and_closes_a_day(
    system: System, browser: Browser, axe_script: str
) -> None:
    staff = await signed_in_staff(browser, system, axe_script, Role.COORDINATOR,
                                  f"coord-{uuid4().hex[:8]}")  # fmt: skip
    page = staff.page
    name = f"金沢シーサイド見守り隊 {uuid4().hex[:6]}"
    try:
        applicant = await visitor(browser, system, axe_script)
        try:
            await applicant.open("/sign-in")
            await applicant.page.get_by_role("link", name="団体登録の申し込み").click()
            await applicant.page.wait_for_url("**/organisations/apply")
            await applicant.check()
            await applicant.shoot("organisation-apply")
            await applicant.page.get_by_label("団体名", exact=True).fill(name)
            await applicant.page.get_by_label("種別").select_option("neighbourhood_association")
            await applicant.page.get_by_label("連絡担当者のお名前").fill("海野 凪")
            await applicant.page.get_by_label("連絡先メールアドレス").fill(unique_email())
            await applicant.page.get_by_role("button", name="申し込む").click()
            await applicant.page.get_by_text("職員からご連絡します").wait_for(timeout=30_000)
            await applicant.check()
        finally:
            await applicant.context.close()

        register = page.get_by_role("button", name=f"面談の結果、登録する：{name}")
        deadline = time.monotonic() + 30
        while True:  # the request is decided by booking shortly after it was sent
            await staff.open("/staff/organisations")
            if await register.count() or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        await register.click()
        await page.get_by_text("団体を登録しました。").wait_for(timeout=30_000)
        await staff.check()
        row = page.get_by_role("row", name=name)
        assert "✔ 有効" in await row.inner_text()
        await staff.shoot("staff-organisations")

        await row.get_by_label("停止の理由").fill("会費の確認中")
        await page.get_by_role("button", name=f"{name} の利用を停止").click()
        await page.get_by_text("利用を停止しました。").wait_for(timeout=30_000)
        suspended = await page.get_by_role("row", name=name).inner_text()
        assert "⏸ 停止中" in suspended and "会費の確認中" in suspended
        await page.get_by_role("button", name=f"{name} の停止を解除").click()
        await page.get_by_text("停止を解除しました。").wait_for(timeout=30_000)
        assert "✔ 有効" in await page.get_by_role("row", name=name).inner_text()

        day = DAYS.next().isoformat()
        await staff.open("/staff/days")
        await page.get_by_label("日付").fill(day)
        await page.get_by_label("理由（設備点検、選挙など）").fill("臨時の設備点検")
        await page.get_by_role("button", name="休館日にする").click()
        await page.get_by_text("休館日を設定しました。").wait_for(timeout=30_000)
        await staff.open(f"/staff/days?date={day}")
        assert f"✖ {day} 臨時の設備点検" in await page.locator("main").inner_text()
        await staff.shoot("staff-days")
        await page.get_by_role("button", name=f"{day} の休館を取り消す").click()
        await page.get_by_text("休館日を取り消しました。").wait_for(timeout=30_000)
        await staff.open(f"/staff/days?date={day}")
        assert "臨時の設備点検" not in await page.locator("main").inner_text()
    finally:
        await staff.context.close()
