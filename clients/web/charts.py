"""Bar charts as SVG, drawn on the server: the staff's reports show them without JavaScript.

Each series has a pattern of its own (solid, hatched, dotted) as well as a shade, and the
legend repeats it, so no series is told by colour alone; every figure is also in the table the
page puts beside the chart. Text is escaped; the chart is one `<svg role="img">` named by its
title, with a description.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

PATTERNS = (
    '<pattern id="{id}" width="6" height="6" patternUnits="userSpaceOnUse">'
    '<rect width="6" height="6" fill="#1f4e79"/></pattern>',
    '<pattern id="{id}" width="6" height="6" patternUnits="userSpaceOnUse" '
    'patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffffff"/>'
    '<rect width="3" height="6" fill="#b35900"/></pattern>',
    '<pattern id="{id}" width="6" height="6" patternUnits="userSpaceOnUse">'
    '<rect width="6" height="6" fill="#ffffff"/><circle cx="3" cy="3" r="1.6" fill="#2d6a2d"/>'
    "</pattern>",
)


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[float]


def _nice_top(largest: float) -> float:
    """A round number at or above the largest value, for the axis."""
    if largest <= 0:
        return 1.0
    step = 10 ** (len(str(int(largest))) - 1)
    return float(((int(largest) // step) + 1) * step)


def stacked_columns(
    chart_id: str,
    title: str,
    description: str,
    categories: Sequence[str],
    series: Sequence[Series],
    top: float | None = None,
    unit: str = "",
) -> Markup:
    """Columns per category, the series stacked in each; `top` fixes the axis (100 for %)."""
    width, height, left, bottom, head = 640, 300, 44, 40, 16
    plot_w, plot_h = width - left - 8, height - bottom - head
    totals = [sum(s.values[i] for s in series) for i in range(len(categories))]
    axis_top = top if top is not None else _nice_top(max(totals, default=0))
    slot = plot_w / max(len(categories), 1)
    bar = slot * 0.6
    parts = [_header(chart_id, title, description, width, height + 24 * len(series), series)]
    for n in range(5):  # the axis and its four steps
        value = axis_top * n / 4
        y = head + plot_h - plot_h * n / 4
        parts.append(
            f'<line x1="{left}" x2="{width - 8}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#888" stroke-width="0.5"/><text x="{left - 4}" y="{y + 4:.1f}" '
            f'text-anchor="end" font-size="11">{value:g}{escape(unit)}</text>'
        )
    for i, category in enumerate(categories):
        x = left + slot * i + (slot - bar) / 2
        base: float = head + plot_h
        for k, s in enumerate(series):
            h = plot_h * min(s.values[i], axis_top) / axis_top if axis_top else 0
            base -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="url(#{chart_id}-p{k})" stroke="#222" stroke-width="0.5"/>'
            )
        parts.append(
            f'<text x="{x + bar / 2:.1f}" y="{head + plot_h + 14}" text-anchor="middle" '
            f'font-size="11">{escape(category)}</text>'
        )
    parts.append(_legend(chart_id, series, left, height))
    parts.append("</svg>")
    return Markup("".join(parts))


def horizontal_bars(
    chart_id: str, title: str, description: str, labels: Sequence[str], values: Sequence[float]
) -> Markup:
    """One bar per label, its value written at its end."""
    row, left, width = 22, 200, 640
    height = row * len(labels) + 20
    largest = max(values, default=0) or 1
    only = [Series(title, values)]
    parts = [_header(chart_id, title, description, width, height, only)]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 10 + row * i
        w = (width - left - 60) * value / largest
        parts.append(
            f'<text x="{left - 6}" y="{y + 14}" text-anchor="end" font-size="12">'
            f"{escape(label)}</text>"
            f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="{row - 8}" '
            f'fill="url(#{chart_id}-p0)" stroke="#222" stroke-width="0.5"/>'
            f'<text x="{left + w + 6:.1f}" y="{y + 14}" font-size="12">{value:g}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _header(
    chart_id: str, title: str, description: str, width: int, height: int, series: Sequence[Series]
) -> str:
    patterns = "".join(
        PATTERNS[k % len(PATTERNS)].format(id=f"{chart_id}-p{k}") for k in range(len(series))
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'class="chart" role="img" aria-labelledby="{chart_id}-t {chart_id}-d">'
        f'<title id="{chart_id}-t">{escape(title)}</title>'
        f'<desc id="{chart_id}-d">{escape(description)}</desc><defs>{patterns}</defs>'
    )


def _legend(chart_id: str, series: Sequence[Series], left: int, top: int) -> str:
    items = []
    for k, s in enumerate(series):
        y = top + 24 * k
        items.append(
            f'<rect x="{left}" y="{y}" width="18" height="14" '
            f'fill="url(#{chart_id}-p{k})" stroke="#222" stroke-width="0.5"/>'
            f'<text x="{left + 24}" y="{y + 12}" font-size="12">{escape(s.label)}</text>'
        )
    return "".join(items)
