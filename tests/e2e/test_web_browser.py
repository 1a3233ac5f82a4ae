"""The web client in a real browser (Playwright driving Debian's chromium) against the real
stack: an organisation signs in with the link from its mail, finds a free slot, books it, sees
it confirmed and gets the e-mail; the same with the keyboard alone and without JavaScript; the
staff see the booking. axe-core checks every page shown (WCAG 2.0, 2.1 and 2.2, A and AA), and
screenshots of the main pages (desktop 1280x800, phone 390x844) go to .local/screenshots/.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from clients.kiosk.client import BookingClient
from contracts.identity import Role
from deploy.local.installer import CHROMIUM, install_browser_tools
from tests.identity_flows import links_in, make_staff, path_of
from tests.support import DAYS, System, register, unique_email

pytestmark = pytest.mark.stack

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / ".local" / "screenshots"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]  # fmt: skip
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
STAFF_PASSWORD = "受付の合言葉-correct-horse-42"


@pytest.fixture(scope="module")
def axe_script() -> str:
    return install_browser_tools(REPO / ".local" / "axe").read_text()


@pytest.fixture
async def browser(axe_script: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM),
                                                    args=CHROMIUM_ARGS)  # fmt: skip
        yield launched
        await launched.close()


def web_url(system: System) -> str:
    return f"http://127.0.0.1:{system.http_port('web')}"


class Visitor:
    """One person's browser: every page it is shown is checked by axe."""

    def __init__(self, context: BrowserContext, page: Page, base: str, axe: str) -> None:
        self.context, self.page, self.base, self.axe = context, page, base, axe
        self.checked: list[str] = []
        self.without_script: Page | None = None

    async def check(self) -> None:
        """No violation of WCAG 2.x A/AA on the page as shown now. Without JavaScript, axe
        runs in a second browser of the same person (its cookies) on the same address."""
        page = self.page
        if self.without_script is not None:
            await self.without_script.context.add_cookies(await self.context.cookies())
            await self.without_script.goto(self.page.url)
            page = self.without_script
        if not await page.evaluate("typeof axe !== 'undefined'"):
            await page.add_script_tag(content=self.axe)
        result: dict[str, Any] = await page.evaluate(
            "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS
        )
        problems = [(v["id"], v["help"], [n["target"] for n in v["nodes"]][:3])
                    for v in result["violations"]]  # fmt: skip
        assert problems == [], f"{self.page.url}: {problems}"
        self.checked.append(self.page.url)

    async def open(self, path: str) -> None:
        await self.page.goto(self.base + path)
        await self.check()

    async def shoot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
            await self.page.set_viewport_size(size)
            await self.page.screenshot(
                path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True
            )
            await self.check()  # also at this width
        await self.page.set_viewport_size(DESKTOP)


async def visitor(browser: Browser, system: System, axe: str, **options: Any) -> Visitor:
    # axe is put into each page by the test, which the pages' CSP would refuse: bypassed here
    context = await browser.new_context(viewport=DESKTOP, locale="ja-JP", bypass_csp=True,
                                        **options)  # fmt: skip
    found = Visitor(context, await context.new_page(), web_url(system), axe)
    if options.get("java_script_enabled") is False:
        checker = await browser.new_context(viewport=DESKTOP, locale="ja-JP", bypass_csp=True)
        found.without_script = await checker.new_page()
    return found


async def known_to_identity(system: System, organisation_id: UUID) -> None:
    conn = await asyncpg.connect(system.dsn("identity"))
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if await conn.fetchval("SELECT 1 FROM organisations WHERE id = $1", organisation_id):
                return
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
    raise AssertionError("identity never learnt the organisation")


async def sign_in_link(system: System, email: str) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for mail in system.mails_to(email):
            for link in links_in(mail):
                if "/links/" in link:
                    return link
        await asyncio.sleep(0.1)
    raise AssertionError(f"no sign-in link to {email}")


async def registered_organisation(system: System, client: BookingClient) -> tuple[str, UUID]:
    email = unique_email()
    organisation_id = await register(client, email)
    await known_to_identity(system, organisation_id)
    return email, organisation_id


async def sign_in_by_mail(v: Visitor, system: System, email: str, *, shoot: bool = False) -> None:
    await v.open("/sign-in")
    if shoot:
        await v.shoot("sign-in")
    await v.page.get_by_label("メールアドレス").fill(email)
    await v.page.get_by_role("button", name="リンクを送る").click()
    await v.page.get_by_text("メールを確認してください").wait_for(timeout=30_000)
    await v.check()
    link = await sign_in_link(system, email)
    assert link.startswith(v.base + "/links/"), link  # the mail points at the web's page
    await v.open(path_of(link))
    await v.page.get_by_role("button", name="サインインする").click()
    await v.page.wait_for_url("**/my/reservations")
    await v.check()


async def booking_confirmation(system: System, email: str, day: date) -> None:
    mails = await system.wait_for_mails(email, 3, timeout=30)  # registered, sign-in, confirmed
    bodies = [m.get_body(("plain",)).get_content() for m in mails]  # type: ignore[union-attr]
    assert any(day.isoformat() in body or f"{day:%Y年%m月%d日}" in body or
               f"{day.month}月{day.day}日" in body for body in bodies), bodies  # fmt: skip


async def test_an_organisation_signs_in_finds_a_free_slot_books_it_and_is_mailed(
    system: System, client: BookingClient, browser: Browser, axe_script: str
) -> None:
    email, organisation_id = await registered_organisation(system, client)
    v = await visitor(browser, system, axe_script)
    await v.open("/")
    await v.shoot("home")
    await sign_in_by_mail(v, system, email, shoot=True)
    day = DAYS.next()
    await v.open(f"/spaces?date={day}")
    await v.shoot("spaces-day")
    await v.open(f"/spaces?date={day}&view=week")
    await v.shoot("spaces-week")
    await v.open(f"/spaces?date={day}")
    await v.page.locator(f'a[href="/book?space=a&date={day}&start=10:00"]').click()
    await v.page.wait_for_url("**/book?**")
    await v.check()
    await v.page.get_by_label("終了時刻").select_option("11:30")
    await v.page.get_by_label("人数").fill("12")
    await v.page.get_by_label("利用目的").fill("<b>地域フォーラムの打合せ</b>")
    await v.shoot("book")
    await v.page.get_by_role("button", name="予約を申し込む").click()
    await v.page.wait_for_url("**/requests/**")
    await v.page.get_by_text("予約が確定しました").first.wait_for(timeout=30_000)
    await v.check()
    await v.shoot("confirmed")
    assert await v.page.get_by_text("<b>地域フォーラムの打合せ</b>").count() == 1  # shown as text
    await v.open("/my/reservations")
    assert await v.page.get_by_text("10:00–11:30").count() == 1
    await v.shoot("my-reservations")
    await booking_confirmation(system, email, day)

    # the same slot again: booking's reason, in words
    await v.open(f"/book?space=ab&date={day}&start=10:00")
    await v.page.get_by_label("利用目的").fill("重なる予約")
    await v.page.get_by_role("button", name="予約を申し込む").click()
    await v.page.get_by_text("その時間はすでに予約が入っています").wait_for(timeout=30_000)
    await v.check()
    await v.shoot("rejected")
    await v.open("/my/reservations?lang=en")
    await v.shoot("my-reservations-en")

    # cancelling
    await v.page.get_by_role("button", name=re.compile("Cancel")).click()
    await v.page.get_by_text("Booking cancelled").first.wait_for(timeout=30_000)
    await v.check()

    # staff see the day
    username = f"desk-{organisation_id.hex[:8]}"
    conn = await asyncpg.connect(system.dsn("identity"))
    try:
        await make_staff(conn, username, STAFF_PASSWORD, Role.RECEPTION, name="受付 花子")
    finally:
        await conn.close()
    staff = await visitor(browser, system, axe_script)
    await staff.open("/staff/sign-in")
    await staff.shoot("staff-sign-in")
    await staff.page.get_by_label("ユーザー名").fill(username)
    await staff.page.get_by_label("パスワード").fill(STAFF_PASSWORD)
    await staff.page.get_by_role("button", name="サインインする").click()
    await staff.page.wait_for_url("**/staff")
    await staff.open(f"/staff?date={day}")
    assert await staff.page.get_by_text("<b>地域フォーラムの打合せ</b>").count() == 1
    await staff.shoot("staff")
    await v.context.close()
    await staff.context.close()


async def tab_to(page: Page, matches: str, limit: int = 400) -> None:
    """Press Tab until the focused element matches the CSS selector."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await page.evaluate("s => document.activeElement.matches(s)", matches):
            return
    raise AssertionError(f"Tab never reached {matches}")


async def test_the_booking_flow_with_the_keyboard_alone(
    system: System, client: BookingClient, browser: Browser, axe_script: str
) -> None:
    email, _ = await registered_organisation(system, client)
    v = await visitor(browser, system, axe_script)
    await v.open("/sign-in")
    await tab_to(v.page, "#email")
    await v.page.keyboard.type(email)
    await v.page.keyboard.press("Enter")
    # the answer comes to the same address as the form: wait for its words, not the address
    await v.page.get_by_text("メールを確認してください").wait_for(timeout=30_000)
    link = await sign_in_link(system, email)
    await v.open(path_of(link))
    await tab_to(v.page, "button[type=submit]")
    await v.page.keyboard.press("Enter")
    await v.page.wait_for_url("**/my/reservations")
    day = DAYS.next()
    await v.open(f"/spaces?date={day}")
    await v.page.keyboard.press("Tab")  # the skip link comes first
    assert await v.page.evaluate("document.activeElement.getAttribute('href')") == "#main"
    await tab_to(v.page, f'a[href="/book?space=b&date={day}&start=14:00"]')
    await v.page.keyboard.press("Enter")
    await v.page.wait_for_url("**/book?**")
    await tab_to(v.page, "#purpose")
    await v.page.keyboard.type("キーボードだけの予約")
    await v.page.keyboard.press("Enter")  # submits the form
    await v.page.wait_for_url("**/requests/**")
    await v.page.get_by_text("予約が確定しました").first.wait_for(timeout=30_000)
    await v.check()
    await v.context.close()


async def test_the_booking_flow_without_javascript(
    system: System, client: BookingClient, browser: Browser, axe_script: str
) -> None:
    email, _ = await registered_organisation(system, client)
    v = await visitor(browser, system, axe_script, java_script_enabled=False)
    await sign_in_by_mail(v, system, email)
    day = DAYS.next()
    await v.open(f"/spaces?date={day}&view=week")
    await v.open(f"/book?space=lab&date={day}&start=15:00")
    await v.page.get_by_label("利用目的").fill("スクリプトなしの予約")
    await v.page.get_by_role("button", name="予約を申し込む").click()
    await v.page.wait_for_url("**/requests/**")
    text = await v.page.locator("main").inner_text()
    if "確認中です" in text:  # decided after the page's wait: the link asks again
        await v.page.get_by_role("link", name="結果をもう一度確認する").click()
    await v.page.get_by_text("予約が確定しました").first.wait_for(timeout=30_000)
    await v.context.close()


async def test_a_consultation_is_sent_from_the_public_form_and_acknowledged_by_mail(
    browser: Browser, axe_script: str, system: System
) -> None:
    """No sign-in: the form says who reads a consultation, takes it with the keyboard and the
    mouse alike, answers with the reference number, and the requester is mailed that number."""
    v = await visitor(browser, system, axe_script)
    email = unique_email()
    await v.open("/consultation")
    await v.shoot("consultation")
    page = v.page
    await page.get_by_label("協働の提案").check()
    await page.get_by_label("会計", exact=True).check()
    await page.get_by_label("お名前").fill("協働 太郎")
    await page.get_by_label("メールアドレス").fill(email)
    await page.get_by_role("textbox", name="ご相談の内容").fill("会計ソフトの選び方を知りたい")
    await page.get_by_role("button", name="相談を送る").click()
    await page.wait_for_load_state()
    text = await page.locator("main").inner_text()
    found = re.search(r"C\d{4}-\d{4,}", text)
    assert found and "受付番号" in text, text
    await v.check()
    await v.shoot("consultation-received")
    mails = await system.wait_for_mails(email, 1, timeout=30)
    assert found.group(0) in str(mails[0]["Subject"])


async def test_a_reader_subscribes_and_an_editor_previews_sends_and_follows_an_issue(
    browser: Browser, axe_script: str, system: System
) -> None:
    """The reader asks on the web, confirms with the link notify mails (notify's own page);
    an editor signs in, previews the issue (its Markdown rendered in a sandboxed frame), sends
    it, and follows its progress; the reader gets it."""
    reader = await visitor(browser, system, axe_script)
    email = unique_email()
    await reader.open("/newsletter")
    await reader.shoot("newsletter")
    await reader.page.get_by_label("メールアドレス").fill(email)
    await reader.page.get_by_role("button", name="申し込む").click()
    await reader.page.get_by_text("確認のメールをお送りしました").first.wait_for()
    await reader.check()
    (confirmation,) = await system.wait_for_mails(email, 1, timeout=30)
    link = next(x for x in re.findall(r"https?://\S+", confirmation.get_body(("plain",))
                                      .get_content()) if "confirm" in x)  # fmt: skip
    await reader.page.goto(link)
    await reader.page.get_by_role("button").first.click()
    await reader.page.wait_for_load_state()

    editor = await signed_in_staff(browser, system, axe_script, Role.NEWSLETTER_EDITOR,
                                   f"editor-{email[4:12]}")  # fmt: skip
    await editor.open("/staff/newsletter")
    subject = f"センターだより {email[4:10]}"
    await editor.page.get_by_label("件名").fill(subject)
    await editor.page.get_by_label("本文（Markdown）").fill("# 今月の催し\n\n- 協働フォーラム\n")
    await editor.page.get_by_role("button", name="プレビュー").click()
    frame = editor.page.frame_locator("iframe.preview")
    await frame.get_by_role("heading", name="今月の催し").wait_for()
    await editor.check()
    await editor.shoot("newsletter-compose")
    await editor.page.get_by_role("button", name="配信する").click()
    await editor.page.wait_for_url("**/staff/newsletter/*")
    await editor.page.get_by_text(subject).first.wait_for(timeout=60_000)
    await editor.check()
    await editor.shoot("newsletter-progress")
    mails = await system.wait_for_mails(email, 2, timeout=120)
    assert any(subject in str(m["Subject"]) for m in mails), [m["Subject"] for m in mails]
    await reader.context.close()
    await editor.context.close()


async def test_staff_see_the_reports_as_charts_and_tables_and_download_them(
    browser: Browser, axe_script: str, system: System
) -> None:
    staff = await signed_in_staff(browser, system, axe_script, Role.COORDINATOR,
                                  f"coord-{unique_email()[4:12]}")  # fmt: skip
    await staff.open("/staff/reports")
    assert await staff.page.locator("svg.chart").count() >= 2  # participants may be empty
    assert await staff.page.get_by_role("img", name="スペースA・Bの月別稼働率").count() == 1
    await staff.shoot("reports")
    download = await staff.page.request.get(staff.base + "/staff/reports/occupancy.csv")
    assert download.ok and (await download.body()).startswith("\ufeff".encode())
    await staff.context.close()


async def signed_in_staff(browser: Browser, system: System, axe: str, role: Role,
                          username: str) -> Visitor:  # fmt: skip
    conn = await asyncpg.connect(system.dsn("identity"))
    try:
        await make_staff(conn, username, STAFF_PASSWORD, role, name=f"{role.value} 職員")
    finally:
        await conn.close()
    staff = await visitor(browser, system, axe)
    await staff.open("/staff/sign-in")
    await staff.page.get_by_label("ユーザー名").fill(username)
    await staff.page.get_by_label("パスワード").fill(STAFF_PASSWORD)
    await staff.page.get_by_role("button", name="サインインする").click()
    await staff.page.wait_for_url("**/staff")
    return staff


async def desk_step(staff: Visitor, button: str, done: str) -> None:
    await staff.page.get_by_role("button", name=button).click()
    await staff.page.get_by_text(done).first.wait_for(timeout=30_000)
    await staff.check()


async def test_a_consultation_goes_from_the_web_form_to_a_closed_case_through_the_staff_pages(
    browser: Browser, axe_script: str, system: System
) -> None:
    tag = unique_email()[4:12]
    requester = await visitor(browser, system, axe_script)
    await requester.open("/consultation")
    await requester.page.get_by_label("お名前").fill("相談 花子")
    await requester.page.get_by_role("textbox", name="ご相談の内容").fill(f"会費の扱い {tag}")
    await requester.page.get_by_role("button", name="相談を送る").click()
    found = re.search(r"C\d{4}-\d{4,}", await requester.page.locator("main").inner_text())
    assert found
    reference = found.group(0)

    reception = await signed_in_staff(browser, system, axe_script, Role.RECEPTION, f"rcp-{tag}")
    await reception.open("/staff/desk?state=received")
    await reception.shoot("desk")
    await reception.page.get_by_role("link", name=reference).click()
    await reception.check()
    case_url = reception.page.url
    await desk_step(reception, "聞き取りを始める", "聞き取りを始めました")

    chief = await signed_in_staff(browser, system, axe_script, Role.CHIEF_COORDINATOR,
                                  f"chf-{tag}")  # fmt: skip
    await chief.page.goto(case_url)
    await chief.page.get_by_label("担当者（職員のユーザー名）").fill(f"crd-{tag}")
    await desk_step(chief, "担当を決める", "担当を決めました")

    coordinator = await signed_in_staff(browser, system, axe_script, Role.COORDINATOR,
                                        f"crd-{tag}")  # fmt: skip
    await coordinator.page.goto(case_url)
    assert f"会費の扱い {tag}" in await coordinator.page.locator("main").inner_text()
    await desk_step(coordinator, "対応を始める", "対応を始めました")
    await coordinator.page.get_by_label("記録を書く").fill("会計の基本を説明した")
    await desk_step(coordinator, "記録を保存", "保存しました")
    await coordinator.page.get_by_label("紹介先").select_option("tax_accountant")
    await desk_step(coordinator, "紹介する", "紹介しました")
    await coordinator.page.get_by_label("紹介先と理由").fill("税理士の田中先生へ（法人化の相談）")
    await desk_step(coordinator, "紹介の詳細を保存", "保存しました")
    await coordinator.page.get_by_label("紹介の結果").select_option("continuing")
    await desk_step(coordinator, "紹介を終える", "紹介を終えました")
    await coordinator.page.get_by_label("終了の結果").select_option("resolved")
    await desk_step(coordinator, "終了する", "終了しました")
    assert "終了" in await coordinator.page.locator("dl.details").inner_text()
    await coordinator.shoot("desk-case")

    other = await signed_in_staff(browser, system, axe_script, Role.COORDINATOR, f"oth-{tag}")
    refused = await other.page.goto(case_url)
    assert refused is not None and refused.status == 403
    assert f"会費の扱い {tag}" not in await other.page.content()
    await chief.page.goto(case_url + "/audit")
    await chief.check()
    assert f"staff:oth-{tag}" in await chief.page.locator("table").inner_text()
    for v in (requester, reception, chief, coordinator, other):
        await v.context.close()
