"""Charts drawn on the server: named and described for screen readers, series told apart by
pattern and legend (not colour alone), text escaped, bars in proportion."""

from __future__ import annotations

import re

import pytest

from clients.web.charts import Series, horizontal_bars, stacked_columns

HOSTILE = '<script>alert("x")</script>'


def test_stacked_columns_are_named_described_and_patterned_per_series() -> None:
    svg = stacked_columns("occ", "稼働率", "月ごとの稼働率", ["04", "05"],
                          [Series("アトリウム", [20, 30]), Series("A/B単独", [10, 5])], top=100,
                          unit="%")  # fmt: skip
    assert svg.startswith("<svg") and 'role="img"' in svg
    assert '<title id="occ-t">稼働率</title>' in svg and "月ごとの稼働率" in svg
    assert 'fill="url(#occ-p0)"' in svg and 'fill="url(#occ-p1)"' in svg  # two patterns
    assert svg.count("アトリウム") == 1 and "A/B単独" in svg  # in the legend
    heights = [float(h) for h in re.findall(r'<rect x="[\d.]+" y="[\d.]+" width="[\d.]+" '
                                             r'height="([\d.]+)" fill="url', svg)]  # fmt: skip
    assert heights[0] == pytest.approx(2 * heights[1], abs=0.2)  # 20 is twice 10, in April


def test_every_text_of_a_chart_is_escaped() -> None:
    svg = horizontal_bars("t", HOSTILE, HOSTILE, [HOSTILE, "税務"], [3, 1])
    assert HOSTILE not in svg and "&lt;script&gt;" in svg
    bars = [float(w) for w in re.findall(r'<rect x="200" y="[\d.]+" width="([\d.]+)"', svg)]
    assert bars[0] == pytest.approx(3 * bars[1], abs=0.2)


def test_an_empty_chart_still_draws_its_axis() -> None:
    svg = stacked_columns("e", "空", "なし", [], [Series("a", [])])
    assert "<line" in svg and svg.endswith("</svg>")
