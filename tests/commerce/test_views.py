import pytest
from django.urls import reverse

from fidele.commerce import selectors
from tests.factories import make_contact, make_order, make_order_line

pytestmark = pytest.mark.django_db


def test_orders_page_lists_orders_newest_first_with_french_money(viewer_client):
    c = make_contact(first_name="Luc", last_name="Girard")
    make_order(c, total="1234.50", days_ago=1, external_id="CMD-NEW")
    make_order(c, total="10", days_ago=30, external_id="CMD-OLD")
    response = viewer_client.get(reverse("commerce:order_list"))
    page = response.content.decode()
    assert page.index("CMD-NEW") < page.index("CMD-OLD")
    assert "234,50\xa0€" in page
    assert "Luc Girard" in page


def test_orders_page_pages_with_a_cursor(viewer_client):
    c = make_contact()
    for i in range(55):
        make_order(c, days_ago=i + 1, external_id=f"CMD-{i:03d}")
    first = viewer_client.get(reverse("commerce:order_list"))
    rows = first.context["page"].rows
    assert len(rows) == 50 and first.context["page"].next_cursor
    second = viewer_client.get(
        reverse("commerce:order_list"), {"after": first.context["page"].next_cursor}
    )
    seen = [o.external_id for o in rows + second.context["page"].rows]
    assert seen == [f"CMD-{i:03d}" for i in range(55)]


def test_orders_can_be_filtered_by_number_channel_and_customer():
    a, b = make_contact(), make_contact()
    make_order(a, external_id="WEB-1", channel="web")
    make_order(b, external_id="SHOP-1", channel="boutique")
    f = selectors.orders_filtered
    assert [o.external_id for o in f(params={"q": "WEB"})] == ["WEB-1"]
    assert [o.external_id for o in f(params={"channel": "boutique"})] == ["SHOP-1"]
    assert [o.external_id for o in f(params={"contact": str(a.pk)})] == ["WEB-1"]
    assert list(f(params={"q": "%\x00'"})) == []


def test_order_page_shows_its_lines_and_total(viewer_client):
    order = make_order(make_contact(), total="37.00")
    make_order_line(order, name="Pécharmant 2019", qty=2, price="18.50")
    page = viewer_client.get(reverse("commerce:order_detail", args=[order.pk])).content.decode()
    assert "Pécharmant 2019" in page
    assert "18,50\xa0€" in page and "37,00\xa0€" in page


def test_orders_pages_are_read_only(viewer_client, marketer_client):
    order = make_order(make_contact())
    for client in (viewer_client, marketer_client):
        assert client.post(reverse("commerce:order_list")).status_code in (403, 405)
    assert viewer_client.get(reverse("commerce:order_detail", args=[order.pk])).status_code == 200


def test_orders_need_a_login(client):
    assert client.get(reverse("commerce:order_list")).status_code == 302


def test_twelve_month_figures_ignore_older_orders():
    c = make_contact()
    make_order(c, total="100", days_ago=10)
    make_order(c, total="50", days_ago=20)
    make_order(c, total="999", days_ago=400)
    stats = selectors.order_stats(months=12)
    assert stats.orders == 2
    assert str(stats.revenue) == "150.00"
    assert str(stats.average_basket) == "75.00"


def test_the_orders_of_one_customer_name_the_customer(viewer_client):
    c = make_contact(first_name="Anaïs", last_name="Chevalier")
    make_order(c, external_id="MINE")
    make_order(make_contact(), external_id="OTHER")
    page = viewer_client.get(reverse("commerce:order_list"), {"contact": c.pk}).content.decode()
    assert "Anaïs Chevalier" in page and "MINE" in page and "OTHER" not in page
