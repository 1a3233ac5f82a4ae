"""The kiosk screen in a real browser (Playwright driving Debian's chromium) against the real
stack: a screen is paired with a device an administrator registered, a group is checked into
the Lab while the web is away and the check-in goes through once it is back, with the same
message id, so the group holds one usage slip however often it was sent; the group checks out
by a touch. With Kafka out of the web's reach the screen says so and keeps the form and its id.
axe-core checks every kiosk page shown (WCAG 2.x A/AA), and screenshots at the kiosk's screen
size go to .local/screenshots/."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from playwright.async_api import Browser, Page

from clients.kiosk.client import BookingClient
from contracts.booking import OrganisationRegistered
from contracts.identity import Role
from tests.e2e.test_web_browser import SCREENSHOTS, Visitor, axe_script, browser, visitor, web_url
from tests.identity_support import http_headers, staff_token
from tests.support import System, register_command

pytestmark = pytest.mark.stack
KIOSK = {"width": 1080, "height": 1350}  # the reception's touch screen, portrait
__all__ = ["axe_script", "browser"]  # fixtures, used by name


async def registered_device(system: System) -> tuple[str, str]:
    """A device an administrator registered at identity, and its secret (shown once)."""
    name = f"kiosk-e2e-{uuid4().hex[:8]}"
    base = f"http://127.0.0.1:{system.http_port('identity')}"
    async with httpx.AsyncClient(base_url=base) as http:
        answer = await http.post("/devices", json={"name": name},
                                 headers=http_headers(staff_token(Role.ADMINISTRATOR)))  # fmt: skip
    assert answer.status_code == 201, answer.text
    return name, str(answer.json()["secret"])


async def organisation_named(client: BookingClient) -> tuple[UUID, str]:
    name = f"鶴見川クリーン隊 {uuid4().hex[:6]}"
    command = register_command().model_copy(update={"name": name})
    outcome = await client.request(command, timeout=30)
    assert isinstance(outcome, OrganisationRegistered), outcome
    return outcome.organisation_id, name


async def visits_of(system: System, organisation_id: UUID) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(system.dsn("booking"))
    try:
        return list(await conn.fetch(
            "SELECT slip_number, people, checked_out_at FROM lab_visits"
            " WHERE organisation_id = $1", organisation_id))  # fmt: skip
    finally:
        await conn.close()


async def shoot(v: Visitor, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await v.page.screenshot(path=str(SCREENSHOTS / f"kiosk-{name}.png"), full_page=True)


async def large_targets(page: Page) -> None:
    """Every control the screen shows is at least 44x44 CSS px, the kiosk's touch targets."""
    small = await page.evaluate(
        """() => [...document.querySelectorAll('a, button, input:not([type=hidden]), select')]
            .filter(e => e.offsetParent !== null)
            .map(e => [e.outerHTML.slice(0, 80), e.getBoundingClientRect()])
            .filter(([, r]) => r.width < 44 || r.height < 44)
            .map(([html, r]) => `${html} ${Math.round(r.width)}x${Math.round(r.height)}`)"""
    )
    assert small == [], f"{page.url}: {small}"


async def wait_for_text(page: Page, selector: str, timeout_s: float, saying: str = "") -> str:
    """The text of the first element matching, once there is one (saying ``saying``)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = page.locator(selector)
        if await found.count() and saying in (text := await found.first.inner_text()):
            return text
        await asyncio.sleep(0.25)
    raise AssertionError(f"{selector} never shown; the page says {await page.inner_text('body')}")


@pytest.fixture
async def kiosk(system: System, browser: Browser, axe_script: str) -> AsyncIterator[Visitor]:
    device, secret = await registered_device(system)
    v = await visitor(browser, system, axe_script)
    await v.page.set_viewport_size(KIOSK)
    await v.open("/kiosk")
    assert "受付端末の登録" in await v.page.locator("h1").inner_text()
    await shoot(v, "pairing")
    await v.page.get_by_label("端末名").fill(device)
    await v.page.get_by_label("端末の合言葉").fill(secret)
    await v.page.get_by_role("button", name="この端末を登録する").click()
    await v.page.wait_for_url("**/kiosk")
    await v.check()
    yield v
    await v.context.close()


async def test_a_group_checks_in_while_the_web_is_away_and_holds_one_slip(
    system: System, client: BookingClient, kiosk: Visitor
) -> None:
    organisation_id, name = await organisation_named(client)
    page = kiosk.page
    await shoot(kiosk, "home")
    await large_targets(page)
    await page.get_by_role("link", name="協働ラボを使う（受付）").click()
    await page.wait_for_url("**/kiosk/lab")
    await kiosk.check()
    await page.get_by_label("団体名の一部で探す（入力しなくても下から選べます）").fill(name)
    await page.get_by_role("button", name="探す", exact=True).click()
    await page.wait_for_url("**/kiosk/lab?q=*")
    await shoot(kiosk, "organisations")
    await page.get_by_role("link", name=name).click()
    await page.wait_for_url(f"**/kiosk/lab/{organisation_id}")
    await kiosk.check()
    await large_targets(page)
    await shoot(kiosk, "people")

    await asyncio.to_thread(system.stack.stop_component, "web")
    try:
        await page.get_by_role("button", name="3人", exact=True).click()
        await wait_for_text(page, "#connection:not([hidden])", 15, saying="接続が切れています")
        kept = json.loads(await page.evaluate("window.localStorage.getItem('kiosk.unsent')"))
        assert ["people", "3"] in kept["fields"]
        await kiosk.check()  # the offline notice too
        await shoot(kiosk, "offline")
    finally:
        await asyncio.to_thread(system.start, "web")

    slip = await wait_for_text(page, "#slip", 60)
    await kiosk.check()
    await large_targets(page)
    await shoot(kiosk, "slip")
    assert await page.evaluate("window.localStorage.getItem('kiosk.unsent')") is None

    # the same form sent once more (a second touch, a resend that crossed the answer): the
    # same slip again, and still one visit
    again = await page.evaluate(
        """entry => fetch(entry.action, {method: "POST", body: new URLSearchParams(entry.fields),
                                         credentials: "same-origin"}).then(r => r.text())""",
        kept,
    )
    assert slip in again
    visits = await visits_of(system, organisation_id)
    assert [(v["slip_number"], v["people"]) for v in visits] == [(slip, 3)]

    await page.get_by_role("link", name="はじめに戻る").first.click()
    await page.get_by_role("link", name="協働ラボを出る").click()
    await page.wait_for_url("**/kiosk/out")
    await kiosk.check()
    await large_targets(page)
    await shoot(kiosk, "check-out")
    await page.get_by_role("button", name=slip).click()
    await wait_for_text(page, "p.ok", 30, saying="退室を記録しました")
    await kiosk.check()
    (visit,) = await visits_of(system, organisation_id)
    assert visit["checked_out_at"] is not None


async def test_the_event_spaces_and_pending_pages_of_the_kiosk_pass_axe(
    system: System, kiosk: Visitor
) -> None:
    for path, name in (("/kiosk/event", "sessions"), (f"/kiosk/event/{uuid4()}", "code"),
                       ("/kiosk/spaces", "spaces"),
                       (f"/kiosk/answers/booking/{uuid4()}", "pending")):  # fmt: skip
        await kiosk.open(path)
        await large_targets(kiosk.page)
        await shoot(kiosk, name)
    await kiosk.open("/kiosk/spaces?lang=en")
    assert "Free on" in await kiosk.page.locator("h1").inner_text()
    assert web_url(system) in kiosk.page.url


@pytest.fixture
def web_without_kafka(system: System) -> Iterator[str]:
    """A second web client whose Kafka is unreachable (a closed port): its pages read the
    services, and every command it is given it cannot send."""
    port = free_port()
    web = next(p for name, p in system.by_name.items() if name == "web" or name.startswith("web-"))
    env = {**os.environ, **system.env(web), "HTTP_PORT": str(port),
           "KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}"}  # fmt: skip
    env.pop("PUBLIC_BASE_URL", None)
    log = open(system.stack.supervisor.logs / "web-without-kafka.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", web.module], env=env, stdout=log,
                               stderr=subprocess.STDOUT)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


async def axe_on_html(browser: Browser, system: System, axe: str, base: str, html: str) -> None:
    """axe on a page only a POST shows (the checker cannot ask for it again): its HTML, put in
    a page of the same site so its style sheets load."""
    checker = await visitor(browser, system, axe)
    try:
        await checker.page.set_viewport_size(KIOSK)
        await checker.page.goto(f"{base}/healthz")
        await checker.page.set_content(html)
        await checker.check()
    finally:
        await checker.context.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_kafka_away_the_screen_says_so_and_keeps_the_form_with_its_id(
    system: System, client: BookingClient, browser: Browser, axe_script: str,
    web_without_kafka: str,
) -> None:  # fmt: skip
    organisation_id, _ = await organisation_named(client)
    device, secret = await registered_device(system)
    for script in (False, True):
        v = await visitor(browser, system, axe_script, java_script_enabled=script)
        v.base = web_without_kafka
        try:
            await v.page.set_viewport_size(KIOSK)
            await v.page.goto(f"{v.base}/kiosk")
            await v.page.get_by_label("端末名").fill(device)
            await v.page.get_by_label("端末の合言葉").fill(secret)
            await v.page.get_by_role("button", name="この端末を登録する").click()
            await v.page.wait_for_url("**/kiosk")
            await v.open(f"/kiosk/lab/{organisation_id}")
            shown_id = await v.page.locator('input[name="message_id"]').get_attribute("value")
            await v.page.get_by_role("button", name="2人", exact=True).click()
            if not script:  # the server's own page: said plainly, the form kept, its id too
                await v.page.wait_for_url("**/kiosk/lab/check-in")
                assert "まだ送信できていません" in await v.page.locator("h1").inner_text()
                kept = v.page.locator('input[name="message_id"]')
                assert await kept.get_attribute("value") == shown_id
                await shoot(v, "unsent")
                await axe_on_html(browser, system, axe_script, web_without_kafka,
                                  await v.page.content())  # fmt: skip
            else:  # the screen keeps it and keeps trying
                await wait_for_text(v.page, "#connection:not([hidden])", 15,
                                    saying="接続が切れています")  # fmt: skip
                stored = await v.page.evaluate("window.localStorage.getItem('kiosk.unsent')")
                assert shown_id in stored
                await v.check()
        finally:
            await v.context.close()
    assert await visits_of(system, organisation_id) == []  # nothing reached booking
