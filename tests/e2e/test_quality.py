"""Issue 10's loop in a real browser: the plan's link opens exactly the contacts concerned, a
mistyped domain is corrected after its preview and the correction undone, and a likely
duplicate is merged side by side and the merge undone."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from fidele.contacts.models import Contact
from fidele.quality.audit import audit_run
from fidele.quality.duplicates import duplicates_search
from fidele.quality.models import AuditSnapshot
from tests.factories import make_contact

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def shop(db):
    """A few clean customers, two mistyped addresses and one person typed twice."""
    people = [("Jean", "Martin"), ("Lucie", "Bernard"), ("Omar", "Petit"), ("Anne", "Roux")]
    for index, (first, last) in enumerate(people):
        make_contact(
            f"client{index}@orange.fr", first_name=first, last_name=last,
            postal_code=f"2400{index}", city=f"Ville {index}", phone="", lists=["Newsletter"],
        )  # fmt: skip
    typos = [
        make_contact("paul@gmial.com", first_name="Paul", last_name="Durand", postal_code="33000",
                     city="Bordeaux", phone="", lists=["Newsletter"]),
        make_contact("lea@gmial.com", first_name="Léa", last_name="Moreau", postal_code="47000",
                     city="Agen", phone="", lists=["Newsletter"]),
    ]  # fmt: skip
    born = dt.date(1971, 3, 14)
    kept = make_contact(
        "helene.dupre@orange.fr", first_name="Hélène", last_name="Dupré",
        phone="+33612345678", postal_code="24100", city="Bergerac", birth_date=born,
        lists=["Newsletter"],
    )  # fmt: skip
    twin = make_contact(
        None, first_name="HELENE", last_name="DUPRE", phone="+33612345678",
        postal_code="24100", city="Bergerac",
    )  # fmt: skip
    duplicates_search()
    audit_run(trigger=AuditSnapshot.Trigger.MANUAL)
    return {"typos": typos, "pair": (kept, twin)}


def _plan_step(page, text):
    return page.locator("ol.plan > li").filter(has_text=re.compile(text))


def test_the_plan_opens_its_contacts_and_a_domain_correction_is_previewed_applied_and_undone(
    page, live_server, owner, log_in, axe_violations, shop
):
    log_in(page, owner)
    page.goto(f"{live_server.url}/quality/")
    assert axe_violations(page) == []
    step = _plan_step(page, "domaine mal saisi")
    assert "Corriger 2 adresses" in step.inner_text()

    # "See the contacts" opens exactly the two contacts with a mistyped domain.
    step.get_by_role("link", name="Voir les contacts").click()
    page.wait_for_url("**/contacts/?*quality=email_domain_typo*")
    body = page.locator("main").inner_text()
    assert "2 contacts correspondent à ces filtres" in body
    assert "paul@gmial.com" in body and "lea@gmial.com" in body
    assert "client0@orange.fr" not in body and "helene.dupre@orange.fr" not in body

    # The preview shows what each address becomes; applying corrects them.
    page.goto(f"{live_server.url}/quality/")
    _plan_step(page, "domaine mal saisi").get_by_role(
        "link", name="Prévisualiser la correction"
    ).click()
    page.wait_for_url("**/quality/fix/typos/")
    preview = page.locator("main").inner_text()
    assert "gmial.com" in preview and "paul@gmail.com" in preview
    assert axe_violations(page) == []
    page.get_by_role("button", name="Corriger les domaines cochés").click()
    page.wait_for_url(f"{live_server.url}/quality/")
    assert "2 adresses corrigées" in page.locator("main").inner_text()
    emails = set(Contact.objects.values_list("email", flat=True))
    assert {"paul@gmail.com", "lea@gmail.com"} <= emails
    assert _plan_step(page, "domaine mal saisi").count() == 0

    # Undone from the corrections' card: the addresses are back as they were typed.
    page.locator("#fixes-title").locator("..").get_by_role("button", name="Annuler").click()
    page.wait_for_url(f"{live_server.url}/quality/")
    emails = set(Contact.objects.values_list("email", flat=True))
    assert {"paul@gmial.com", "lea@gmial.com"} <= emails
    assert "annulée le" in page.locator("#fixes-title").locator("..").inner_text()


def test_a_duplicate_pair_is_merged_side_by_side_and_the_merge_undone(
    page, live_server, owner, log_in, axe_violations, shop
):
    kept, twin = shop["pair"]
    log_in(page, owner)
    page.goto(f"{live_server.url}/quality/")
    _plan_step(page, "doublon").get_by_role("link", name="Voir les paires").click()
    page.wait_for_url("**/quality/duplicates/")
    assert "1 paire à examiner" in page.locator("main").inner_text()
    page.get_by_role("link", name="Comparer et fusionner").click()
    page.wait_for_url(re.compile(r".*/quality/duplicates/\d+/\d+/$"))
    merge_page = page.locator("main").inner_text()
    assert "Hélène" in merge_page and "HELENE" in merge_page
    assert axe_violations(page) == []
    page.get_by_role("button", name="Fusionner ces deux contacts").click()
    page.wait_for_load_state("networkidle")
    remaining = set(Contact.objects.filter(pk__in=[kept.pk, twin.pk]).values_list("pk", flat=True))
    assert len(remaining) == 1

    page.goto(f"{live_server.url}/quality/duplicates/")
    merges = page.locator("#merges-title").locator("..")
    merges.get_by_role("button", name="Annuler").click()
    page.wait_for_load_state("networkidle")
    assert Contact.objects.filter(pk__in=[kept.pk, twin.pk]).count() == 2
    assert Contact.objects.get(pk=kept.pk).email == "helene.dupre@orange.fr"
