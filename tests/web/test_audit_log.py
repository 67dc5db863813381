"""The audit log page reads as a translated account of what happened (its access, filters and
pages are tested in tests/core/test_audit_log.py)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fidele.compliance import services as compliance
from fidele.core.actors import SYSTEM, Recipient
from fidele.core.audit import audit_record
from fidele.core.models import AuditLog
from tests.factories import make_campaign, make_contact, make_list, make_outbox

pytestmark = pytest.mark.django_db


def details(response) -> dict[str, tuple[str | None, str]]:
    (row,) = response.context["rows"]
    return {change.label: (change.old, change.new) for change in row.changes}


def test_an_unsubscribe_through_an_email_reads_in_french_with_names_not_ids(owner_client):
    contact = make_contact(
        "helene@example.fr", first_name="Hélène", last_name="Dupré", lists=["Newsletter"]
    )
    outbox = make_outbox(contact, make_campaign(name="Soldes d'hiver", lists=["Newsletter"]))
    compliance.recipient_unsubscribe(outbox=outbox, source=compliance.UnsubscribeSource.ONE_CLICK)
    AuditLog.objects.exclude(action=AuditLog.Action.UNSUBSCRIBE).delete()

    response = owner_client.get("/audit/")

    body = response.content.decode()
    assert details(response) == {
        "Comment": (None, "un clic dans la messagerie"),
        "Désabonné de": (None, "Newsletter"),
        "Campagne": (None, f'<a href="/campaigns/{outbox.campaign_id}/">Soldes d&#x27;hiver</a>'),
    }
    assert f'<a href="/contacts/{contact.pk}/">Hélène Dupré</a>' in body
    assert f"#{contact.pk}" not in body
    assert "le destinataire, par un lien de l’e-mail" in body
    for english in ("Lists unsubscribed", "Campaign id", "recipient via unsubscribe link"):
        assert english not in body


def test_a_list_named_beside_its_id_is_shown_once_linked(owner_client, owner):
    newsletter = make_list("Newsletter")
    contact = make_contact()
    changes = {"list": "Newsletter", "list_id": newsletter.pk, "status": [None, "subscribed"]}
    audit_record(actor=owner, action="subscribe", obj=contact, changes=changes)

    shown = details(owner_client.get("/audit/"))

    assert shown == {
        "Liste": (None, f'<a href="/contacts/lists/{newsletter.pk}/">Newsletter</a>'),
        "Statut": ("—", "Abonné"),
    }


def test_a_record_named_in_details_and_deleted_since_is_shown_by_its_number(owner_client):
    campaign = make_campaign()
    pk = campaign.pk
    audit_record(actor=SYSTEM, action="other", obj=make_contact(), changes={"campaign_id": pk})
    campaign.delete()

    assert details(owner_client.get("/audit/")) == {"Campagne": (None, f"#{pk}")}


def test_names_are_read_once_per_type_for_the_whole_page(owner_client, owner):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert owner_client.get("/audit/").status_code == 200
        return len(captured)

    def entry() -> None:
        campaign = make_campaign()
        audit_record(
            actor=owner,
            action="other",
            obj=make_contact(),
            changes={"campaign_id": campaign.pk, "list_id": make_list(f"L{campaign.pk}").pk},
        )

    entry()
    one = queries()
    for _ in range(9):
        entry()
    assert queries() == one


def test_server_paths_show_only_the_file_name(owner_client):
    audit_record(
        actor=SYSTEM,
        action="import",
        object_type="imports.importjob",
        object_id=7,
        object_repr="Contacts: clients.csv",
        changes={
            "rejected_file": "/srv/fidele/data/imports/rejected/import-7-ab12.csv",
            "url": "/inscription/",  # a page's path, not a file of the server
        },
    )

    response = owner_client.get("/audit/")

    assert details(response) == {
        "Fichier des lignes rejetées": (None, "import-7-ab12.csv"),
        "Page": (None, "/inscription/"),
    }
    assert "/srv/fidele" not in response.content.decode()


def test_times_stored_in_utc_are_shown_in_the_shops_time_zone_and_format(owner_client, settings):
    settings.TIME_ZONE = "Europe/Paris"
    audit_record(
        actor=SYSTEM,
        action="update",
        object_type="compliance.suppression",
        changes={"since": "2026-01-15T23:30:00+00:00", "reference_date": "2026-12-02"},
    )

    assert details(owner_client.get("/audit/")) == {
        "Depuis": (None, "16/01/2026 00:30"),
        "Date de référence": (None, "02/12/2026"),
    }


def test_an_unknown_key_is_still_shown_humanised(owner_client):
    audit_record(actor=SYSTEM, action="other", object_type="x", changes={"new_thing": 3})

    assert details(owner_client.get("/audit/")) == {"New thing": (None, "3")}


def test_the_english_page_reads_in_english(owner_client):
    contact = make_contact()
    audit_record(
        actor=Recipient(email=contact.email, contact_id=contact.pk),
        action="unsubscribe",
        obj=contact,
        object_repr=f"#{contact.pk}",
        changes={"source": "preferences", "lists_unsubscribed": ["Newsletter", "Ateliers"]},
    )
    owner_client.cookies["django_language"] = "en"

    response = owner_client.get("/audit/")

    assert details(response) == {
        "How": (None, "preference centre"),
        "Unsubscribed from": (None, "Newsletter, Ateliers"),
    }
    assert "the recipient, through a link in the email" in response.content.decode()


def test_a_command_run_from_the_shell_is_named_as_the_command_line(owner_client):
    audit_record(actor=SYSTEM, action="import", object_type="demo", actor_label="cli:lea")

    body = owner_client.get("/audit/").content.decode()

    assert "terminal (lea)" in body


def test_one_entry_on_the_page_is_counted_in_the_singular(owner_client):
    audit_record(actor=SYSTEM, action="other", object_type="x")

    assert "1 entrée sur cette page" in owner_client.get("/audit/").content.decode()


def test_an_import_does_not_repeat_its_own_number_in_its_details(owner_client):
    audit_record(
        actor=SYSTEM,
        action="import",
        object_type="imports.importjob",
        object_id=7,
        object_repr="Contacts: clients.csv",
        changes={"rows": 3, "import_id": 7},
    )

    assert details(owner_client.get("/audit/")) == {"Lignes lues": (None, "3")}


def test_the_pager_names_the_newest_page_apart_from_the_newer_one(owner_client):
    audit_record(actor=SYSTEM, action="other", object_type="x")

    body = owner_client.get("/audit/").content.decode()

    assert "Les plus récentes" in body and "← Plus récentes" in body


def test_an_import_error_kept_with_its_source_reads_in_the_readers_language(owner_client):
    source = {
        "id": "Interrupted after %(count)s row (the import's worker stopped): the rows before "
        "are saved; import the file again to complete it: rows already imported are "
        "recognised and updated or skipped.",
        "plural": "Interrupted after %(count)s rows (the import's worker stopped): the rows "
        "before are saved; import the file again to complete it: rows already imported are "
        "recognised and updated or skipped.",
        "params": {"count": 1},
    }
    audit_record(
        actor=SYSTEM,
        action="import",
        object_type="imports.importjob",
        object_id=7,
        changes={"error": "Interrompu après 1 ligne (…)", "error_text": source},
    )
    owner_client.cookies["django_language"] = "en"

    (error,) = details(owner_client.get("/audit/")).items()

    assert error[0] == "Error"
    assert error[1][1].startswith("Interrupted after 1 row (the import")


def test_an_imports_files_and_merges_to_review_read_in_french_and_an_empty_error_is_not_repeated(
    owner_client,
):
    audit_record(
        actor=SYSTEM,
        action="import",
        object_type="imports.importjob",
        object_repr="Contacts : clients.csv",
        changes={
            "warnings_file": "/srv/fidele/imports/import-7-ab12.csv",
            "merges_to_review": 1,
            "products_created": 2,
            "error": None,
            "error_text": None,
        },
    )

    assert details(owner_client.get("/audit/")) == {
        "Fichier des avertissements": (None, "import-7-ab12.csv"),
        "Fusions à vérifier": (None, "1"),
        "Produits créés": (None, "2"),
        "Erreur": (None, "—"),
    }


def test_an_export_names_which_csv_it_was(owner_client):
    audit_record(
        actor=SYSTEM,
        action="export",
        object_type="contacts.contact",
        changes={"format": "csv", "dialect": "excel-fr"},
    )

    assert details(owner_client.get("/audit/"))["Variante"] == (None, "Excel (France)")


def test_an_imports_encoding_and_separator_read_as_on_its_preview(owner_client):
    audit_record(
        actor=SYSTEM,
        action="import",
        object_type="imports.importjob",
        changes={"encoding": "utf-8-sig", "delimiter": ";"},
    )

    assert details(owner_client.get("/audit/")) == {
        "Encodage": (None, "UTF-8 avec indicateur d’ordre des octets (BOM)"),
        "Séparateur": (None, "point-virgule ( ; )"),
    }


def test_an_exports_filters_and_format_read_as_words(owner_client):
    audit_record(
        actor=SYSTEM,
        action="export",
        object_type="contacts.contact",
        changes={"format": "csv", "filters": {"q": "lefevre", "tag": "VIP"}},
    )

    html = owner_client.get("/audit/").content.decode()

    assert "Recherche" in html and "lefevre" in html and "Étiquette" in html
    assert "q: lefevre" not in html
    assert details(owner_client.get("/audit/"))["Format"] == (None, "CSV")
