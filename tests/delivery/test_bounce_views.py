"""The bounce report pages (fidele.delivery.views), at their addresses under /compliance/."""

from __future__ import annotations

import pytest
from django.urls import reverse

from fidele.delivery.models import BounceReport

pytestmark = pytest.mark.django_db


def _report() -> BounceReport:
    return BounceReport.objects.create(
        kind="hard",
        source="mailbox",
        email="jean@example.org",
        diagnostic="550 5.1.1 unknown",
        raw="Subject: Undelivered <script>alert(1)</script>\n\nbody",
    )


def test_a_marketer_reads_bounce_reports_and_their_raw_message(marketer_client):
    report = _report()
    listing = marketer_client.get("/compliance/bounces/?kind=hard").content.decode()
    assert "jean@example.org" in listing
    detail = marketer_client.get(f"/compliance/bounces/{report.pk}/").content.decode()
    assert "Subject: Undelivered &lt;script&gt;" in detail
    assert "<script>alert(1)</script>" not in detail


def test_a_viewer_cannot_read_raw_bounce_messages(viewer_client):
    report = _report()
    assert viewer_client.get("/compliance/bounces/").status_code == 403
    assert viewer_client.get(f"/compliance/bounces/{report.pk}/").status_code == 403


def test_the_bounce_pages_keep_their_addresses_under_compliance():
    assert reverse("delivery:bounces") == "/compliance/bounces/"
    assert reverse("delivery:bounce_detail", args=[3]) == "/compliance/bounces/3/"
    assert reverse("delivery:outbox") == "/delivery/outbox/"
