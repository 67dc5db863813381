from __future__ import annotations

import pytest
from django.test import override_settings
from django.urls import reverse

from fidele.contacts.models import Contact, ContactMerge
from fidele.quality.duplicates import duplicates_search
from fidele.quality.models import DuplicatePair
from tests.factories import make_contact, make_order

pytestmark = pytest.mark.django_db

IMMEDIATE = {
    "default": {
        "BACKEND": "django_tasks.backends.immediate.ImmediateBackend",
        "QUEUES": ["default", "imports", "sending"],
    }
}


def _twins(first="Paul", last="Roux"):
    a = make_contact(
        "paul.roux@orange.fr", first_name=first, last_name=last, phone="+33611111111",
        external_id="C-1",
    )  # fmt: skip
    b = make_contact(
        "proux@free.fr", first_name=first.upper(), last_name=last.upper(),
        phone="+33611111111", external_id="C-2", city="Eymet", postal_code="24500",
    )  # fmt: skip
    duplicates_search()
    return a, b


def test_the_list_shows_each_pair_with_its_reasons_and_escapes_names(owner_client):
    _twins(first="<img src=x onerror=alert(1)>", last="Roux")
    page = owner_client.get(reverse("quality:duplicates"))
    html = page.content.decode()
    assert page.status_code == 200
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "même téléphone" in html


def test_the_list_speaks_english_too(owner_client):
    _twins()
    owner_client.cookies["django_language"] = "en"
    page = owner_client.get(reverse("quality:duplicates"))
    assert "same phone" in page.content.decode()


def test_a_viewer_sees_the_pairs_but_cannot_merge_nor_dismiss(viewer_client):
    a, b = _twins()
    assert viewer_client.get(reverse("quality:duplicates")).status_code == 200
    url = reverse("quality:duplicate_merge", args=[a.pk, b.pk])
    assert viewer_client.get(url).status_code == 200
    assert viewer_client.post(url, {"kept": a.pk}).status_code == 403
    dismiss = reverse("quality:duplicate_dismiss", args=[a.pk, b.pk])
    assert viewer_client.post(dismiss).status_code == 403
    assert Contact.objects.filter(pk=b.pk).exists()


def test_the_merge_page_keeps_the_chosen_values(marketer_client):
    a, b = _twins()
    make_order(b)
    url = reverse("quality:duplicate_merge", args=[a.pk, b.pk])
    page = marketer_client.get(url)
    assert page.status_code == 200
    # The contact with the orders is kept by default.
    assert page.context["kept"] == b
    response = marketer_client.post(
        url, {"kept": b.pk, "field_email": "absorbed", "field_city": "kept"}
    )
    assert response.status_code == 302
    kept = Contact.objects.get(pk=b.pk)
    assert kept.email == "paul.roux@orange.fr"
    assert kept.city == "Eymet"
    assert not Contact.objects.filter(pk=a.pk).exists()
    assert set(kept.customer_number_aliases.values_list("number", flat=True)) == {"C-1"}


def test_forged_and_stale_pairs_get_a_message_not_a_merge(marketer_client):
    a, b = _twins()
    for url in (
        reverse("quality:duplicate_merge", args=[a.pk, a.pk]),
        reverse("quality:duplicate_merge", args=[a.pk, 999_999]),
    ):
        response = marketer_client.post(url, {"kept": a.pk}, follow=True)
        assert response.redirect_chain[-1][0] == reverse("quality:duplicates")
        assert list(response.context["messages"])
    # A kept id that is neither of the two.
    url = reverse("quality:duplicate_merge", args=[a.pk, b.pk])
    marketer_client.post(url, {"kept": 12345})
    marketer_client.post(url, {"kept": "x"})
    assert Contact.objects.filter(pk__in=[a.pk, b.pk]).count() == 2
    # Merging twice: the second finds the contact gone.
    marketer_client.post(url, {"kept": a.pk})
    response = marketer_client.post(url, {"kept": a.pk}, follow=True)
    assert any("exist" in str(m) for m in response.context["messages"])
    assert ContactMerge.objects.count() == 1


def test_not_the_same_person_is_remembered(marketer_client):
    a, b = _twins()
    marketer_client.post(reverse("quality:duplicate_dismiss", args=[b.pk, a.pk]))
    duplicates_search()
    assert not DuplicatePair.objects.exists()
    page = marketer_client.get(reverse("quality:duplicates"))
    assert page.context["total"] == 0


def test_bulk_merge_merges_only_the_sure_pairs_listed(marketer_client):
    a, b = _twins()
    c = make_contact("z@example.fr", first_name="Zoé", last_name="Zidane")
    d = make_contact("z2@example.fr", first_name="Zoé", last_name="Zidane")
    forged = DuplicatePair.objects.create(
        contact_low=min(c.pk, d.pk), contact_high=max(c.pk, d.pk), score=0.5, reasons=[]
    )
    preview = marketer_client.get(reverse("quality:duplicates_bulk"))
    assert [r["pair"].contact_low for r in preview.context["preview"]] == [a.pk]
    sure = DuplicatePair.objects.get(contact_low=a.pk)
    marketer_client.post(
        reverse("quality:duplicates_bulk"), {"pair": [sure.pk, forged.pk, "x", 10**9]}
    )
    assert Contact.objects.filter(pk__in=[a.pk, b.pk]).count() == 1
    assert Contact.objects.filter(pk__in=[c.pk, d.pk]).count() == 2


def test_undo_from_the_page_brings_the_contact_back(marketer_client):
    a, b = _twins()
    marketer_client.post(reverse("quality:duplicate_merge", args=[a.pk, b.pk]), {"kept": a.pk})
    merge = ContactMerge.objects.get()
    page = marketer_client.get(reverse("quality:duplicates"))
    assert reverse("quality:merge_undo", args=[merge.pk]) in page.content.decode()
    marketer_client.post(reverse("quality:merge_undo", args=[merge.pk]))
    assert Contact.objects.filter(pk=b.pk).exists()
    response = marketer_client.post(reverse("quality:merge_undo", args=[merge.pk]), follow=True)
    assert list(response.context["messages"])


@override_settings(TASKS=IMMEDIATE)
def test_search_again_runs_the_search(marketer_client):
    make_contact("a@example.fr", first_name="Paul", last_name="Roux", phone="+33611111111")
    make_contact(None, first_name="Paul", last_name="Roux", phone="+33611111111")
    marketer_client.post(reverse("quality:duplicates_search"))
    assert DuplicatePair.objects.count() == 1


def test_hostile_names_are_shown_escaped_on_the_merge_and_bulk_pages(owner_client):
    a, b = _twins(first="<b onmouseover=x>Paul</b>", last="<script>alert(1)</script>")
    for url in (
        reverse("quality:duplicate_merge", args=[a.pk, b.pk]),
        reverse("quality:duplicates_bulk"),
    ):
        html = owner_client.get(url).content.decode().lower()
        assert "<script>alert(1)" not in html and "<b onmouseover" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
