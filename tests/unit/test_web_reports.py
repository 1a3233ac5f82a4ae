"""The staff's reports page with the services faked: each report drawn as a chart with the same
figures in a table, downloads made safe for spreadsheets, staff alone let in."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from clients.web.app import build_parts, create_app
from clients.web.report_data import Reports, Source, excel_safe
from tests.unit.test_web_newsletter import identity_for
from tests.unit.test_web_pages import HOSTILE, settings

OCCUPANCY = {
    "fiscal_year": 2026,
    "months": [{"month": "2026-04", "open_hours": 300.0, "atrium_combined_hours": 30.0,
                "ab_alone_hours": 60.0, "occupancy": 0.3, "atrium_combined": 0.1,
                "ab_alone": 0.2, "lab_visitors": 120}],
    "year": {"open_hours": 300.0, "atrium_combined_hours": 30.0, "ab_alone_hours": 60.0,
             "occupancy": 0.3, "atrium_combined": 0.1, "ab_alone": 0.2, "lab_visitors": 120},
}  # fmt: skip
PARTICIPANTS = {
    "fiscal_year": 2026,
    "sessions": [{"program": HOSTILE, "registered": {"onsite": 20, "online": 5},
                  "attended": {"onsite": 18, "online": 4}}],
    "total": {"participants": 22},
}  # fmt: skip
TOPICS = {"cases": {"total": 5}, "labels": {"total": 7},
          "topics": {"founding": {"total": 3}, "tax": {"total": 4}}}  # fmt: skip


def upstream(request: httpx.Request) -> httpx.Response:
    assert request.headers["authorization"] == "Bearer ED"
    if request.url.params["format"] == "csv":
        return httpx.Response(200, text='program,registered\n=HYPERLINK("x"),3\nok,-2\n')
    body = {"/reports/occupancy": OCCUPANCY, "/reports/participants": PARTICIPANTS,
            "/reports/topics": TOPICS}[request.url.path]  # fmt: skip
    return httpx.Response(200, json=body)


def site(roles: list[str] | None) -> httpx.AsyncClient:
    made = build_parts(settings())
    fake = httpx.AsyncClient(transport=httpx.MockTransport(upstream), base_url="http://svc")
    made.reports = Reports({"occupancy": Source(fake, "/reports/occupancy"),
                            "participants": Source(fake, "/reports/participants"),
                            "topics": Source(fake, "/reports/topics")})  # fmt: skip
    if roles is not None:
        made.identity.http = httpx.AsyncClient(transport=identity_for(roles), base_url="http://i")
    made.ready = True
    app: FastAPI = create_app(made.settings, made)
    cookies = {"ycc_web": "session"} if roles is not None else {}
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver",
                             cookies=cookies)  # fmt: skip


async def test_each_report_is_a_chart_and_a_table_of_the_same_figures() -> None:
    async with site(["reception"]) as http:
        page = await http.get("/staff/reports", params={"fiscal_year": 2026})
    assert page.status_code == 200
    text = page.text
    assert text.count('<svg xmlns="http://www.w3.org/2000/svg"') == 3
    assert "10.0%" in text and "20.0%" in text and "120" in text  # the occupancy table
    assert HOSTILE not in text and "&lt;script&gt;" in text  # a program's title, escaped
    assert "<td>22</td>" in text  # attended, on site and online
    assert "会計" not in text and "団体の立ち上げ" in text  # topics found, by name


async def test_a_download_is_excel_safe() -> None:
    async with site(["coordinator"]) as http:
        answer = await http.get("/staff/reports/participants.csv", params={"fiscal_year": 2026})
    assert answer.status_code == 200
    assert answer.headers["content-disposition"] == 'attachment; filename="participants-2026.csv"'
    body = answer.content.decode("utf-8")
    assert body.startswith("\ufeff") and "'=HYPERLINK" in body and "ok,-2" in body


def test_formulas_are_neutralised_and_numbers_kept() -> None:
    assert excel_safe("a,b\n@cmd,-3\n+1,=1+1\n") == "\ufeffa,b\r\n'@cmd,-3\r\n+1,'=1+1\r\n"


async def test_the_reports_are_for_staff_alone() -> None:
    async with site(None) as http:
        assert (await http.get("/staff/reports")).status_code == 401
        assert (await http.get("/staff/reports/topics.csv")).status_code == 401
