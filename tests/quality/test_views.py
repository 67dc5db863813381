from __future__ import annotations

import pytest

from fidele.contacts.models import Contact
from fidele.quality.audit import audit_run
from fidele.quality.models import AuditSnapshot
from tests.factories import make_contact


@pytest.mark.django_db
def test_the_page_invites_to_run_the_first_audit(owner_client):
    page = owner_client.get("/quality/")
    assert page.status_code == 200
    assert "quality/run/" in page.content.decode()


@pytest.mark.django_db
def test_the_page_shows_the_score_plan_findings_and_what_changed(messy_base, owner_client):
    audit_run(trigger=AuditSnapshot.Trigger.NIGHTLY)
    Contact.objects.filter(email="paul@gmial.com").update(email="paul@gmail.com")
    assert owner_client.post("/quality/run/").status_code == 302
    page = owner_client.get("/quality/", HTTP_ACCEPT_LANGUAGE="en")
    html = page.content.decode()
    assert page.status_code == 200
    assert "/contacts/?quality=email_domain_typo" in html
    assert "/quality/fix/typos/" in html and "/quality/orders/" in html
    # What changed since the previous audit: the mistyped domains went from 2 to 1.
    assert "2 → <strong>1</strong>" in html
    # The navigation leads here.
    assert 'href="/quality/" aria-current="page"' in html


@pytest.mark.django_db
def test_a_viewer_reads_the_page_but_runs_and_fixes_nothing(messy_base, viewer_client):
    audit_run(trigger=AuditSnapshot.Trigger.MANUAL)
    html = viewer_client.get("/quality/").content.decode()
    assert "quality/run/" not in html and "/quality/fix/typos/" not in html
    assert viewer_client.post("/quality/run/").status_code == 403
    assert viewer_client.post("/quality/mx/").status_code == 403


@pytest.mark.django_db
def test_hostile_domains_and_names_are_shown_escaped(db, marketer_client):
    # Stored by some old path that did not validate (the audit reads what is there).
    make_contact(
        'x@"><img src=x onerror=alert(1)>.com',
        first_name='=HYPERLINK("http://evil")',
        last_name="<script>alert(1)</script>",
    )
    make_contact("paul@gmial.com")
    Contact.objects.create(email="y@gmial.com", first_name="<b>bold</b>")
    audit_run(trigger=AuditSnapshot.Trigger.MANUAL)
    quality = marketer_client.get("/quality/").content.decode()
    assert "<img src=x" not in quality
    listed = marketer_client.get("/contacts/?quality=email_invalid").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;".upper() in listed.upper()
    assert "<script>alert(1)" not in listed
    assert "&quot;&gt;&lt;img src=x" in listed
    preview = marketer_client.get("/quality/fix/typos/").content.decode()
    assert "gmial.com" in preview and "<b>bold</b>" not in preview


@pytest.mark.django_db
def test_the_contacts_list_says_which_quality_filter_it_shows_and_keeps_it(
    messy_base, viewer_client
):
    audit_run(trigger=AuditSnapshot.Trigger.MANUAL)
    html = viewer_client.get("/contacts/?quality=email_role").content.decode()
    assert "contact@restaurant-cyrano.fr" in html
    table = html.split("contact-results", 1)[1].split("</table>")[0]
    assert "@example.fr" not in table and "gmial.com" not in table
    assert 'name="quality" value="email_role"' in html


@pytest.mark.django_db
def test_the_export_keeps_the_quality_filter(messy_base, marketer_client):
    audit_run(trigger=AuditSnapshot.Trigger.MANUAL)
    page = marketer_client.get("/exports/contacts/?quality=email_role").content.decode()
    assert 'name="quality" value="email_role"' in page
    download = marketer_client.get("/exports/contacts.csv?quality=email_role")
    body = b"".join(download.streaming_content).decode("utf-8-sig")
    assert "contact@restaurant-cyrano.fr" in body
    assert len([line for line in body.splitlines() if "@" in line]) == 1
