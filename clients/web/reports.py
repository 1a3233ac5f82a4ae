"""The staff's reports: Space A/B occupancy per month (atrium-combined and A/B-alone, stacked),
participants per program and consultations per topic, each as a chart drawn on the server
(clients/web/charts.py), the same figures as a table, and a CSV download (Excel-safe). Any
staff member reads them, as the services allow; the figures are counts, no one's data."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from clients.web import charts, views
from clients.web.app import Visit, visit_of
from clients.web.report_data import Unavailable
from clients.web.routes import staff_only
from contracts.consultation import TopicCode

router = APIRouter()
Seen = Annotated[Visit, Depends(visit_of)]
KINDS = ("occupancy", "participants", "topics")
FiscalYear = Annotated[int | None, Query(ge=2000, le=2100)]


def current_fiscal_year() -> int:
    now = datetime.now(views.TOKYO)
    return now.year if now.month >= 4 else now.year - 1


def occupancy_view(visit: Visit, data: dict[str, Any]) -> dict[str, Any]:
    months = data["months"]
    t = visit.texts
    chart = charts.stacked_columns(
        "occupancy", t("report.occupancy.title"), t("report.occupancy.desc"),
        [m["month"][5:] for m in months],
        [charts.Series(t("report.occupancy.atrium"), [100 * m["atrium_combined"] for m in months]),
         charts.Series(t("report.occupancy.alone"), [100 * m["ab_alone"] for m in months])],
        top=100, unit="%",
    )  # fmt: skip
    return {"chart": chart, "rows": months, "year": data["year"]}


def participants_view(visit: Visit, data: dict[str, Any]) -> dict[str, Any]:
    programs: dict[str, dict[str, int]] = defaultdict(lambda: {"sessions": 0, "registered": 0,
                                                               "attended": 0})  # fmt: skip
    for s in data["sessions"]:
        p = programs[s["program"]]
        p["sessions"] += 1
        p["registered"] += sum(s["registered"].values())
        p["attended"] += sum(s["attended"].values())
    names = sorted(programs)
    chart = charts.horizontal_bars(
        "participants", visit.texts("report.participants.title"),
        visit.texts("report.participants.desc"), names,
        [programs[n]["attended"] or programs[n]["registered"] for n in names],
    )  # fmt: skip
    return {"chart": chart, "rows": [(n, programs[n]) for n in names], "total": data["total"]}


def topics_view(visit: Visit, data: dict[str, Any]) -> dict[str, Any]:
    codes = [c for c in TopicCode if str(c) in data["topics"]]
    totals = [data["topics"][str(c)]["total"] or 0 for c in codes]
    labels = [visit.texts(f"consult.topic.{c}") for c in codes]
    chart = charts.horizontal_bars("topics", visit.texts("report.topics.title"),
                                   visit.texts("report.topics.desc"), labels, totals)  # fmt: skip
    return {"chart": chart, "rows": list(zip(labels, totals, strict=True)),
            "cases": data["cases"]["total"], "labels": data["labels"]["total"]}  # fmt: skip


VIEWS = {"occupancy": occupancy_view, "participants": participants_view, "topics": topics_view}


@router.get("/staff/reports")
async def reports(visit: Seen, fiscal_year: FiscalYear = None) -> Response:
    if (refused := staff_only(visit)) is not None or visit.signed is None:
        return refused or Response(status_code=401)
    year = fiscal_year or current_fiscal_year()
    shown: dict[str, dict[str, Any] | None] = {}
    for kind in KINDS:
        try:
            assert visit.parts.reports is not None
            data = await visit.parts.reports.figures(kind, year, visit.signed.token)
            shown[kind] = VIEWS[kind](visit, data)
        except (Unavailable, AssertionError, KeyError, TypeError):
            shown[kind] = None
    return visit.render("reports/reports.html", year=year, shown=shown)


@router.get("/staff/reports/{kind}.csv")
async def download(visit: Seen, kind: str, fiscal_year: FiscalYear = None) -> Response:
    if (refused := staff_only(visit)) is not None or visit.signed is None:
        return refused or Response(status_code=401)
    if kind not in KINDS or visit.parts.reports is None:
        return visit.render("error.html", 404, message=visit.texts("error.not_found"))
    year = fiscal_year or current_fiscal_year()
    try:
        text = await visit.parts.reports.spreadsheet(kind, year, visit.signed.token)
    except Unavailable:
        return visit.render("error.html", 503, message=visit.texts("report.unavailable"))
    disposition = f'attachment; filename="{kind}-{year}.csv"'
    return visit.finish(Response(text.encode("utf-8"), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": disposition}))  # fmt: skip
