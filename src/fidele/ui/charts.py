"""Bar charts drawn with CSS, no script (ui/templates/ui/_bars.html): the campaign report's
opens and clicks by the hour, the website's visitors and visits by the day."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def bar_chart(
    rows: Sequence[dict[str, Any]], *, when: str, series: Sequence[tuple[str, Any]]
) -> dict[str, Any]:
    """`rows` in order, each with its moment under `when` and a number per series key;
    `series` is (key, name shown in the legend). Every bar's height is a share of the tallest
    bar of the chart (`peak`)."""
    keys = [key for key, _name in series]
    peak = max((row[key] for row in rows for key in keys), default=0)
    return {
        "peak": peak,
        "legend": [name for _key, name in series],
        "slots": [
            {
                "when": row[when],
                "values": [row[key] for key in keys],
                "heights": [round(100 * row[key] / peak) if peak else 0 for key in keys],
            }
            for row in rows
        ],
    }
