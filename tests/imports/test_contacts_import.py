"""The contact import, through the service the CLI and the web UI both call."""

from __future__ import annotations

import csv
import datetime as dt

import pytest
from openpyxl import Workbook

from fidele.contacts.models import Contact, MailingList, Subscription, Tag
from fidele.core.models import AuditLog
from fidele.imports.models import ImportJob
from fidele.imports.pipeline import WARNINGS_KEPT
from fidele.imports.reader import ImportFileError
from fidele.imports.services import import_file
from tests.factories import make_subscription

pytestmark = pytest.mark.django_db


def run(path, **kwargs):
    return import_file(kind="contacts", path=path, **kwargs)


def rejected_rows(summary):
    with open(summary["rejected_file"], encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle, delimiter=";"))


def warnings_lines(summary):
    with open(summary["warnings_file"], encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle, delimiter=";"))


@pytest.mark.parametrize(
    "name", ["contacts_fr_cp1252.csv", "contacts_fr_utf8_bom.csv", "contacts_fr_utf8.tsv"]
)
def test_a_messy_french_export_imports_the_same_whatever_its_encoding_and_delimiter(
    fixture_file, name
):
    summary = run(fixture_file(name))

    assert {k: summary[k] for k in ("rows", "created", "updated", "merged", "rejected")} == {
        "rows": 6,
        "created": 4,
        "updated": 0,
        "merged": 1,
        "rejected": 1,
    }
    helene = Contact.objects.get(email="helene.dupre@orange.fr")
    assert (helene.external_id, helene.civility, helene.first_name, helene.last_name) == (
        "C001",
        "Mme",
        "Hélène",
        "Dupré",
    )
    assert helene.phone == "+33612345678"
    assert helene.address == "12, rue de l'Église Bâtiment B; 2e étage"
    assert helene.postal_code == "01000"
    assert helene.birth_date == dt.date(1975, 7, 14)
    assert helene.joined_on == dt.date(2019, 1, 3)
    # Her second row's note is joined to the first, as merging two contacts joins them.
    assert helene.notes == "Préfère le rosé à 12,50 €\n\nDeuxième ligne pour Hélène"
    assert helene.attributes == {"region": "Auvergne-Rhône-Alpes"}
    assert sorted(helene.tags.values_list("name", flat=True)) == ["Fromages", "VIP", "Vins"]


def test_a_malformed_email_rejects_the_row_with_its_reason(fixture_file):
    summary = run(fixture_file("contacts_fr_cp1252.csv"))

    rows = rejected_rows(summary)
    assert len(rows) == 1
    assert rows[0]["row"] == "6"
    assert rows[0]["Nom"] == "Çelik"
    assert "francois.celik@@exemple.fr" in rows[0]["reason"]
    assert rows[0]["reason"].startswith("Adresse e-mail:")
    assert not Contact.objects.filter(external_id="C003").exists()


def test_a_customer_without_email_is_kept(fixture_file):
    run(fixture_file("contacts_fr_cp1252.csv"))

    ines = Contact.objects.get(first_name="Inès")
    assert ines.email is None and ines.external_id is None
    assert ines.civility == "Mme"
    assert ines.phone == "+33553000000"


def test_an_invalid_phone_is_kept_aside_and_does_not_lose_the_row(fixture_file):
    summary = run(fixture_file("contacts_fr_cp1252.csv"))

    zoe = Contact.objects.get(email="zoe.martin@laposte.net")
    assert zoe.phone == ""
    assert zoe.phone_invalid == "06 12"
    assert summary["invalid_phones"] == 1
    assert any(w["row"] == 7 and "06 12" in w["message"] for w in summary["warnings_sample"])


def test_an_impossible_date_is_left_empty_with_a_warning(fixture_file):
    summary = run(fixture_file("contacts_fr_cp1252.csv"))

    assert Contact.objects.get(external_id="C002").birth_date is None
    assert any(
        w["row"] == 3 and w["column"] == "Date de naissance" and "31/02/1980" in w["message"]
        for w in summary["warnings_sample"]
    )


def test_rows_with_the_same_email_are_merged_later_values_filling_blanks(write_file):
    path = write_file(
        "email;prénom;nom;ville;tags\na@x.fr;Anne;;Paris;un\nA@X.FR ;Annie;Durand;Lyon;deux\n"
    )
    summary = run(path)

    assert (summary["created"], summary["merged"]) == (1, 1)
    anne = Contact.objects.get()
    assert (anne.first_name, anne.last_name, anne.city) == ("Anne", "Durand", "Paris")
    assert sorted(anne.tags.values_list("name", flat=True)) == ["deux", "un"]


def test_postal_codes_follow_the_country_only_french_ones_get_a_zero_back(write_file):
    path = write_file(
        "email;code postal;ville;pays;téléphone\n"
        "bourg@x.fr;1000;Bourg-en-Bresse;;04 74 12 34 56\n"
        "bruxelles@x.fr;1000;Bruxelles;Belgique;\n"
        "lausanne@x.fr;1000;Lausanne;;+41 21 123 45 67\n"
        "ixelles@x.fr;1050;Ixelles;;+32 470 12 34 56\n"
        "sans@x.fr;1000;Belley;;\n"
    )
    run(path)
    codes = dict(Contact.objects.values_list("email", "postal_code"))
    assert codes == {
        "bourg@x.fr": "01000",
        "bruxelles@x.fr": "1000",
        "lausanne@x.fr": "1000",
        "ixelles@x.fr": "1050",
        # No country and nothing foreign about it: the shop's own country, France.
        "sans@x.fr": "01000",
    }


def test_rows_merge_across_batches(write_file, monkeypatch):
    from fidele.imports import contacts_engine

    monkeypatch.setattr(contacts_engine, "BATCH_ROWS", 2)
    path = write_file("email;nom;ville\na@x.fr;A;\nb@x.fr;B;\nc@x.fr;C;\na@x.fr;;Nantes\n")
    summary = run(path)

    assert (summary["created"], summary["merged"], summary["skipped"]) == (3, 1, 0)
    assert Contact.objects.get(email="a@x.fr").city == "Nantes"


def test_reimporting_the_same_file_creates_nothing_new(fixture_file):
    run(fixture_file("contacts_fr_cp1252.csv"), list_name="Lettre", consent_confirmed=False)
    before = (Contact.objects.count(), Subscription.objects.count(), Tag.objects.count())

    summary = run(fixture_file("contacts_fr_cp1252.csv"), list_name="Lettre")

    assert (summary["created"], summary["updated"], summary["merged"]) == (0, 0, 0)
    assert summary["skipped"] == 5
    assert (Contact.objects.count(), Subscription.objects.count(), Tag.objects.count()) == before


def test_existing_contacts_are_skipped_by_default(write_file):
    Contact.objects.create(email="a@x.fr", first_name="Old", city="Paris")
    summary = run(write_file("email;prénom;ville\na@x.fr;New;\n"))

    assert (summary["skipped"], summary["updated"]) == (1, 0)
    assert Contact.objects.get().first_name == "Old"


def test_update_overwrites_with_the_non_empty_values_of_the_file(write_file):
    Contact.objects.create(email="a@x.fr", first_name="Old", city="Paris", attributes={"k": "1"})
    summary = run(
        write_file("email;prénom;ville;vin\na@x.fr;New;;Bergerac\nb@x.fr;B;;\n"), update=True
    )

    assert (summary["updated"], summary["created"], summary["skipped"]) == (1, 1, 0)
    contact = Contact.objects.get(email="a@x.fr")
    assert (contact.first_name, contact.city) == ("New", "Paris")
    assert contact.attributes == {"k": "1", "vin": "Bergerac"}


def test_update_counts_an_unchanged_contact_as_skipped(write_file):
    # Stored contacts are read back raw (not through the ORM): a date or a custom field must
    # compare equal to the same value read in the file.
    Contact.objects.create(
        email="a@x.fr",
        first_name="Same",
        birth_date=dt.date(1975, 7, 14),
        attributes={"vin": "Rosé"},
    )
    summary = run(
        write_file("email;prénom;date de naissance;vin\na@x.fr;Same;14/07/1975;Rosé\n"),
        update=True,
    )
    assert (summary["updated"], summary["skipped"]) == (0, 1)


def test_a_contact_found_by_customer_number_gets_its_email_on_update(write_file):
    Contact.objects.create(external_id="C9", first_name="Anne")
    summary = run(write_file("n° client;email\nC9;anne@x.fr\n"), update=True)
    assert summary["updated"] == 1
    assert Contact.objects.get().email == "anne@x.fr"


def test_email_and_customer_number_of_two_different_contacts_is_a_conflict(write_file):
    Contact.objects.create(email="a@x.fr")
    Contact.objects.create(email="b@x.fr", external_id="C2")
    summary = run(write_file("email;code client\na@x.fr;C2\n"), update=True)

    assert summary["rejected"] == 1
    assert "conflict" in rejected_rows(summary)[0]["reason"]
    assert Contact.objects.get(email="a@x.fr").external_id is None


def test_a_customer_number_used_twice_in_a_file_with_two_emails_is_a_conflict(write_file):
    summary = run(write_file("email;code client\na@x.fr;C1\nb@x.fr;C1\n"))
    assert (summary["created"], summary["rejected"]) == (1, 1)
    assert "C1" in rejected_rows(summary)[0]["reason"]


def test_a_row_without_email_customer_number_or_name_is_rejected(write_file):
    summary = run(write_file("email;ville;prénom\n;Paris;\n"))
    assert summary["rejected"] == 1
    assert "no email, customer number or name" in rejected_rows(summary)[0]["reason"]


def test_a_100_kb_cell_costs_its_cell_not_the_customer(write_file):
    path = write_file(
        "email;commentaire;ville\na@x.fr;" + "x" * 100_000 + ";" + "V" * 300 + "\nb@x.fr;ok;Agen\n"
    )
    summary = run(path)

    assert (summary["created"], summary["rejected"]) == (2, 0)
    a = Contact.objects.get(email="a@x.fr")
    assert len(a.notes) == 10_000  # "commentaire" is read as the notes
    assert a.city == "V" * 100
    warnings = {(w["row"], w["column"]): w["message"] for w in summary["warnings_sample"]}
    assert warnings[(2, "commentaire")] == "cut to 10,000 characters (the cell held 100,000)"
    assert warnings[(2, "ville")] == "cut to 100 characters (the cell held 300)"
    # The full original values are in the warnings file, one line per warning.
    assert warnings_lines(summary) == [
        {
            "row": "2",
            "column": "commentaire",
            "warning": "cut to 10,000 characters (the cell held 100,000)",
            "original value": "x" * 100_000,
        },
        {
            "row": "2",
            "column": "ville",
            "warning": "cut to 100 characters (the cell held 300)",
            "original value": "V" * 300,
        },
    ]


def test_a_clean_import_leaves_no_warnings_file(write_file):
    summary = run(write_file("email;ville\na@x.fr;Agen\n"))
    assert (summary["warnings"], summary["warnings_file"]) == (0, None)


def test_the_warnings_file_holds_every_warning_and_the_summary_only_the_first_ones(write_file):
    body = "email;tel\n" + "".join(f"p{i}@x.fr;=tel {i}\n" for i in range(WARNINGS_KEPT + 50))
    summary = run(write_file(body))

    assert summary["warnings"] == WARNINGS_KEPT + 50
    assert len(summary["warnings_sample"]) == WARNINGS_KEPT
    lines = warnings_lines(summary)
    assert len(lines) == WARNINGS_KEPT + 50
    # What a spreadsheet would run as a formula is neutralised, as in the rejected-rows file.
    assert lines[-1]["original value"] == f"'=tel {WARNINGS_KEPT + 49}"
    assert lines[-1]["row"] == str(WARNINGS_KEPT + 51)


def test_a_too_long_email_or_customer_number_still_rejects_its_row(write_file):
    summary = run(write_file("email;n client\na@x.fr;" + "9" * 70 + "\nb@x.fr;12\n"))
    assert (summary["created"], summary["rejected"]) == (1, 1)
    assert rejected_rows(summary)[0]["row"] == "2"


def test_a_file_with_no_recognisable_column_ends_with_a_clear_message(fixture_file):
    summary = run(fixture_file("no_known_columns.csv"))

    assert summary["error"].startswith("No column holds an email")
    assert "foo, bar, baz" in summary["error"]
    assert Contact.objects.count() == 0
    assert ImportJob.objects.get().status == ImportJob.Status.FAILED


def test_an_empty_file_is_refused_before_anything_is_written(fixture_file):
    with pytest.raises(ImportFileError, match="empty"):
        run(fixture_file("empty.csv"))


def test_a_broken_line_stops_the_import_but_keeps_what_was_saved(write_file, monkeypatch):
    import csv as csv_module

    old = csv_module.field_size_limit(200)
    try:
        Contact.objects.create(email="old@x.fr")
        good = "".join(f"a{i}@x.fr;A\n" for i in range(20))
        path = write_file("email;nom\n" + good + 'b@x.fr;"B\n' + "c@x.fr;C\n" * 100)
        summary = run(path)
    finally:
        csv_module.field_size_limit(old)

    assert "never closed" in summary["error"] and "row 22" in summary["error"]
    assert summary["created"] == 20
    assert Contact.objects.count() == 21
    assert ImportJob.objects.get().status == ImportJob.Status.FAILED


def test_an_xlsx_file_imports_like_a_csv(tmp_path):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Code client", "E-mail", "Portable", "Date de naissance", "CP"])
    sheet.append(["C1", "Zoe@X.fr", 612345678, dt.datetime(1980, 2, 1), 1000])
    sheet.append([None, None, None, None, None])
    sheet.append([42, "b@x.fr", "06 12 34 56 79", "31/02/1980", "24100"])
    path = tmp_path / "clients.xlsx"
    workbook.save(path)

    summary = run(path)

    assert (summary["rows"], summary["created"], summary["format"]) == (2, 2, "xlsx")
    zoe = Contact.objects.get(email="zoe@x.fr")
    assert (zoe.phone, zoe.birth_date, zoe.postal_code) == (
        "+33612345678",
        dt.date(1980, 2, 1),
        "01000",
    )
    assert Contact.objects.get(email="b@x.fr").external_id == "42"


def test_a_list_subscribes_only_the_rows_whose_consent_says_yes(fixture_file, owner):
    summary = run(fixture_file("contacts_fr_cp1252.csv"), list_name="Lettre", actor=owner)

    subscribed = Subscription.objects.filter(mailing_list__name="Lettre")
    assert sorted(subscribed.values_list("contact__email", flat=True)) == [
        "helene.dupre@orange.fr",
        "zoe.martin@laposte.net",
    ]
    assert summary["subscribed"] == 2
    helene = subscribed.get(contact__email="helene.dupre@orange.fr")
    assert helene.status == Subscription.Status.SUBSCRIBED
    assert helene.consent_source == Subscription.Source.IMPORT
    assert helene.created_by == owner
    proof = helene.consent_proof
    assert (proof["file"], proof["row"], proof["user"], proof["import_id"]) == (
        "contacts_fr_cp1252.csv",
        2,
        owner.username,
        summary["import_id"],
    )
    assert proof["method"] == "import" and proof["at"]


def test_a_consent_date_in_the_file_becomes_the_consent_time(write_file):
    run(write_file("email;opt-in;date opt-in\na@x.fr;oui;12/03/2021\n"), list_name="L")
    consent_at = Subscription.objects.get().consent_at
    assert consent_at.astimezone(dt.UTC).date() in (
        dt.date(2021, 3, 11),
        dt.date(2021, 3, 12),
    )


def test_a_list_without_consent_column_needs_the_user_to_confirm_consent(write_file):
    path = write_file("email\na@x.fr\n")
    summary = run(path, list_name="L")

    assert "consent" in summary["error"]
    assert Contact.objects.count() == 0 and Subscription.objects.count() == 0

    summary = run(path, list_name="L", consent_confirmed=True)
    assert summary["error"] is None
    assert Subscription.objects.get().consent_proof["confirmed_by_user"] is True


def test_an_import_never_resubscribes_someone_who_unsubscribed(write_file):
    contact = Contact.objects.create(email="a@x.fr")
    mailing_list = MailingList.objects.create(name="L")
    make_subscription(contact, mailing_list, status=Subscription.Status.UNSUBSCRIBED)
    summary = run(write_file("email;newsletter\na@x.fr;oui\n"), list_name="L")
    assert summary["subscribed"] == 0
    assert Subscription.objects.get().status == Subscription.Status.UNSUBSCRIBED


def test_each_import_writes_one_audit_entry_with_its_summary(fixture_file, owner):
    summary = run(fixture_file("contacts_fr_cp1252.csv"), actor=owner)

    entry = AuditLog.objects.get()
    assert (entry.action, entry.object_type, entry.object_id) == (
        "import",
        "imports.importjob",
        str(summary["import_id"]),
    )
    assert entry.actor == owner
    assert entry.changes["created"] == 4


def test_the_rejected_file_neutralises_formulas(write_file):
    summary = run(write_file('email;nom\n=HYPERLINK("x");@SUM(1)\n'))
    with open(summary["rejected_file"], encoding="utf-8-sig") as handle:
        text = handle.read()
    assert "'=HYPERLINK" in text and "'@SUM(1)" in text


@pytest.mark.django_db(transaction=True)
def test_writing_from_a_second_thread_gives_the_same_result(fixture_file, settings, monkeypatch):
    from fidele.imports import contacts_engine

    settings.IMPORT_WRITER_THREAD = True
    monkeypatch.setattr(contacts_engine, "BATCH_ROWS", 2)
    summary = run(fixture_file("contacts_fr_cp1252.csv"), list_name="Lettre")

    assert {k: summary[k] for k in ("rows", "created", "merged", "rejected", "subscribed")} == {
        "rows": 6,
        "created": 4,
        "merged": 1,
        "rejected": 1,
        "subscribed": 2,
    }
    assert sorted(Contact.objects.get(external_id="C001").tags.values_list("name", flat=True)) == [
        "Fromages",
        "VIP",
        "Vins",
    ]
    assert len(rejected_rows(summary)) == 1


@pytest.mark.django_db(transaction=True)
def test_a_failure_in_the_writing_thread_fails_the_import_and_keeps_earlier_batches(
    write_file, settings, monkeypatch
):
    from fidele.imports import contacts_engine

    # Into a base that has contacts, each batch is kept on its own (a first import is all or
    # nothing: tests/imports/test_first_load.py).
    Contact.objects.create(email="before@x.fr")
    settings.IMPORT_WRITER_THREAD = True
    monkeypatch.setattr(contacts_engine, "BATCH_ROWS", 2)
    original = contacts_engine.ContactImport._tag
    calls = []

    def failing_tag(self, pairs):
        calls.append(len(pairs))
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return original(self, pairs)

    monkeypatch.setattr(contacts_engine.ContactImport, "_tag", failing_tag)
    summary = run(write_file("email\n" + "".join(f"a{i}@x.fr\n" for i in range(7))))

    assert summary["error"]
    assert Contact.objects.count() == 3
    assert ImportJob.objects.get().status == ImportJob.Status.FAILED


def test_a_title_line_above_the_header_is_skipped(write_file):
    path = write_file(
        "Export clients du 12/03/2024;;\r\n\r\nNom;Prénom;E-mail\r\nDupré;Hélène;h@x.fr\r\n",
        encoding="cp1252",
    )
    summary = run(path)

    assert (summary["rows"], summary["created"]) == (1, 1)
    assert Contact.objects.get().first_name == "Hélène"
    assert ImportJob.objects.get().detected["header_row"] == 3


def test_a_value_longer_than_its_field_is_cut_with_a_warning_naming_the_column(write_file):
    summary = run(write_file("email;ville\na@x.fr;" + "Saint-" * 30 + "\n"))
    assert (summary["created"], summary["rejected"]) == (1, 0)
    assert Contact.objects.get().city == ("Saint-" * 30)[:100]
    [warning] = summary["warnings_sample"]
    assert (warning["row"], warning["column"]) == (2, "ville")
    assert warning["message"] == "cut to 100 characters (the cell held 180)"


def test_a_cell_too_long_to_be_typed_is_cut_and_the_row_kept(write_file):
    summary = run(
        write_file("email;Nom\n" + "a@exemple.fr;" + "x" * 10_001 + "\nb@exemple.fr;Roy\n")
    )

    assert (summary["created"], summary["rejected"]) == (2, 0)
    assert Contact.objects.get(email="a@exemple.fr").last_name == "x" * 100
    # One warning for the cell, with the limit of its field and the size it had in the file.
    [warning] = summary["warnings_sample"]
    assert (warning["column"], warning["message"]) == (
        "Nom",
        "cut to 100 characters (the cell held 10,001)",
    )
    assert [line["original value"] for line in warnings_lines(summary)] == ["x" * 10_001]


@pytest.mark.parametrize("filler", [0, 400], ids=["at the top", "after 8 kB of clean rows"])
def test_a_nul_byte_in_a_cell_is_removed_with_a_warning_and_the_row_kept(write_file, filler):
    # PostgreSQL refuses NUL in text: it used to fail the whole import, with no row number.
    body = (
        "email;prénom;nom;ville;fidélité\n"
        + "".join(f"f{i}@exemple.fr;Prénom;Nom;Ville;or\n" for i in range(filler))
        + "a@b.fr;Zo\x00é;Dupont;Paris;or\n"
        "c@d.fr;Léa;Mar\x00tin\x00;Lyon;argent\x00\n"
        "e@f.fr;Luc;Petit;Nice;bronze\n"
    ).encode()
    path = write_file(body, name="nul.csv")

    summary = run(path)

    rows = 3 + filler
    assert (summary["rows"], summary["created"], summary["rejected"]) == (rows, rows, 0)
    assert Contact.objects.get(email="a@b.fr").first_name == "Zoé"
    lea = Contact.objects.get(email="c@d.fr")
    assert (lea.last_name, lea.city, lea.attributes) == ("Martin", "Lyon", {"fidelite": "argent"})
    removed = {
        (w["row"], w["column"])
        for w in summary["warnings_sample"]
        if "cannot be stored" in w["message"]
    }
    first = 2 + filler
    assert removed == {(first, "prénom"), (first + 1, "nom"), (first + 1, "fidélité")}


def test_a_lone_surrogate_in_a_cell_is_removed_too():
    from fidele.imports.cells import cells_without_refused

    warnings = []
    cells = cells_without_refused(
        7, ["a@b.fr", "Ly\ud800on"], ["email", "ville"], lambda *w: warnings.append(w)
    )
    assert cells == ["a@b.fr", "Lyon"]
    # The warnings file gets the cell as it was, the broken character shown as such.
    assert [(row, column, value) for row, column, _m, value in warnings] == [
        (7, "ville", "Ly\ud800on")
    ]


def test_the_rejected_rows_file_once_corrected_imports_again_without_its_extra_columns(
    write_file, tmp_path
):
    from django.utils import translation

    with translation.override("fr"):
        summary = run(
            write_file(
                "email;téléphone;ville\njean@x;+33 6 12 34 56 78;Agen\nok@x.fr;06 11 22 33 44;Pau\n"
            )
        )
    rejected = tmp_path / "r.csv"
    with open(summary["rejected_file"], encoding="utf-8-sig") as handle:
        text = handle.read()
    header, row, *_ = text.splitlines()
    assert header == "email;téléphone;ville;ligne;motif"
    # The phone comes back as written, the reason in French.
    assert row.startswith("jean@x;+33 6 12 34 56 78;Agen;2;email : adresse e-mail invalide")
    assert "la partie après le @ n’a pas de point" in row
    rejected.write_text(text.replace("jean@x;", "jean@x.fr;"), encoding="utf-8-sig")
    again = run(rejected)
    assert (again["created"], again["rejected"]) == (1, 0)
    jean = Contact.objects.get(email="jean@x.fr")
    assert jean.phone == "+33612345678"
    assert jean.attributes == {}  # "ligne" and "motif" are not custom fields


def test_an_email_problem_is_explained_in_the_users_language():
    from django.utils import translation

    from fidele.contacts.normalize import normalise_email

    with translation.override("fr"):
        assert "il manque le @" in normalise_email("jean.dupont.fr")[1]
    with translation.override("en"):
        assert "the @ is missing" in normalise_email("jean.dupont.fr")[1]


@pytest.mark.django_db(transaction=True)
def test_reasons_written_by_the_second_thread_are_in_the_language_of_the_import(
    write_file, settings
):
    settings.IMPORT_WRITER_THREAD = True
    Contact.objects.create(email="a@x.fr", external_id="1")
    Contact.objects.create(email="b@x.fr", external_id="2")

    summary = run(write_file("email;n client\na@x.fr;2\n"))  # run in English (conftest)

    [row] = rejected_rows(summary)
    assert row["reason"] == "conflict: a@x.fr belongs to 1 but customer number 2 to b@x.fr"


def test_contacts_written_without_the_orm_read_back_as_the_orm_writes_them(write_file):
    # The import writes prepared rows (COPY, executemany), not model instances: their times,
    # defaults, custom fields and search columns must be stored as Django would store them.
    before = Contact.objects.create(email="orm@x.fr", first_name="Zoé", last_name="Lefèvre")
    run(
        write_file(
            "email;prénom;nom;vin préféré\nhelene@x.fr;Hélène;Dupré;Pécharmant\n"
            ";Inès;Çelik;Monbazillac\n"
        )
    )

    helene = Contact.objects.get(email="helene@x.fr")
    ines = Contact.objects.get(first_name="Inès")
    for contact in (helene, ines):
        # Found by the exact value it holds: stored in the ORM's format, not the driver's.
        assert Contact.objects.filter(pk=contact.pk, created_at=contact.created_at).exists()
        assert contact.created_at == contact.updated_at >= before.created_at
        assert (contact.country, contact.language, contact.status) == ("FR", "fr", "active")
        assert (contact.phone, contact.civility, contact.notes) == ("", "", "")
    assert Contact.objects.filter(created_at__gt=before.created_at).count() == 2
    assert helene.attributes == {"vin_prefere": "Pécharmant"}
    assert (helene.search_first_last, helene.search_last_first) == ("helene dupre", "dupre helene")
    assert ines.search_last_first == "celik ines"


def test_a_custom_column_keeps_its_header_for_the_exports_and_the_contact_page(write_file):
    from fidele.contacts.models import AttributeLabel

    run(write_file("email;Vin préféré;Société\na@x.fr;Pécharmant;Cave SA\n"))
    run(write_file("email;vin préféré\nb@x.fr;Monbazillac\n"))  # the first header stays

    assert dict(AttributeLabel.objects.values_list("key", "label")) == {
        "vin_prefere": "Vin préféré",
        "societe": "Société",
    }


def test_the_contact_page_heads_a_custom_field_as_its_file_did(marketer_client, write_file):
    from django.urls import reverse

    run(write_file("email;Vin préféré\na@x.fr;Pécharmant\n"))
    contact = Contact.objects.get()

    page = marketer_client.get(reverse("web:contact_detail", args=[contact.pk])).content.decode()

    assert "<dt>Vin préféré</dt><dd>Pécharmant</dd>" in page
