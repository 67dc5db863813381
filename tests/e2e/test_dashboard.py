"""The overview in a real browser (issue 12, item 5): ECharts draws its charts under the
Content-Security-Policy, each chart's figures are in a table beside it, and axe finds no
serious accessibility fault."""

from __future__ import annotations

import pytest

from fidele.analytics.dynamics import dashboard_data_refresh
from tests.factories import make_contact, make_order

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_overview_draws_its_charts_and_offers_their_tables(
    page, live_server, owner, log_in, axe_violations
):
    for n in range(6):
        contact = make_contact(f"client{n}@example.fr")
        make_order(contact, f"{20 + n}.00", days_ago=n + 1)
        make_order(contact, "15.00", days_ago=n + 40)
    dashboard_data_refresh()
    log_in(page, owner)
    page.wait_for_selector(".echart[data-drawn] canvas")
    assert page.locator(".echart[data-drawn]").count() == 2
    # The table alternative: closed, then opened, with the chart's figures.
    summary = page.get_by_text("Les chiffres de ce graphique en tableau").first
    summary.click()
    table = page.locator("details.chart-table[open] table").first
    assert table.is_visible()
    assert table.locator("tbody tr").count() == 30
    assert axe_violations(page) == []
    # On a phone the charts still fit the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    page.wait_for_selector(".echart[data-drawn] canvas")
    box = page.locator(".echart").first.bounding_box()
    assert box["width"] <= 390
