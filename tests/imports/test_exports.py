from __future__ import annotations

import csv
import io
import json
from datetime import date
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation
from openpyxl import load_workbook

from fidele.contacts.models import Contact, MailingList, Tag
from fidele.core.models import AuditLog
from fidele.imports import exports
from fidele.imports.services import import_file
from tests.factories import make_subscription

CANONICAL = [
    "external_id", "email", "first_name", "last_name", "phone", "address", "postal_code", "city",
    "country", "birth_date", "language", "tags",
]  # fmt: skip
HOSTILE = {
    "=": '=HYPERLINK("http://evil.example","Cliquez")',
    "+": "+1+cmd|' /C calc'!A0",
    "-": "-2+3",
    "@": "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t": "\t=1+1",
    "\r": "\r=1+1",
}


def read_csv(data: bytes, delimiter: str = ",") -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "UTF-8 with BOM for Excel"
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=delimiter))


def read_xlsx(data: bytes) -> list[list[str]]:
    sheet = load_workbook(io.BytesIO(data), read_only=True).active
    rows = [["" if v is None else v for v in row] for row in sheet.iter_rows(values_only=True)]
    # Empty cells are not written: a row ends at its last value.
    return [row + [""] * (len(rows[0]) - len(row)) for row in rows]


def export_bytes(fmt: str, queryset=None, dialect=exports.CANONICAL) -> bytes:
    buffer = io.BytesIO()
    exports.contacts_export(
        queryset=Contact.objects.all() if queryset is None else queryset,
        fmt=fmt,
        output=buffer,
        dialect=dialect,
    )
    return buffer.getvalue()


def header_of(name: str, dialect) -> str:
    return exports.export_header([name], dialect)[0]


def rows_by_email(table: list[list[str]]) -> dict[str, dict[str, str]]:
    header = table[0]
    return {row[1]: dict(zip(header, row, strict=True)) for row in table[1:]}


@pytest.fixture
def helene(db):
    contact = Contact.objects.create(
        email="helene.lefevre@orange.example",
        external_id="CLI-00042",
        civility="Mme",
        first_name="Hélène",
        last_name="Lefèvre",
        phone="+33612345678",
        address="3 rue des Récollets, apt 2",
        postal_code="24100",
        city="Bergerac",
        birth_date=date(1971, 2, 3),
        joined_on=date(2019, 5, 6),
        attributes={"vin_prefere": "Liquoreux", "visites": 4},
        notes="Ligne 1\nligne 2, avec virgule",
    )
    contact.tags.add(Tag.objects.create(name="VIP"), Tag.objects.create(name="Club dégustation"))
    Contact.objects.create(
        email="jean.martin@example.com", first_name="Jean", last_name="Martin",
        attributes={"canal_acquisition": "Salon des vins"},
    )  # fmt: skip
    return contact


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_header_is_the_canonical_columns_then_attributes_then_extras(helene, fmt):
    data = export_bytes(fmt)
    table = read_csv(data) if fmt == "csv" else read_xlsx(data)
    header = table[0]
    assert header[:12] == CANONICAL
    assert header[12:15] == ["attr.canal_acquisition", "attr.vin_prefere", "attr.visites"]
    assert header[15:] == list(exports.TRAILING_COLUMNS)
    assert len(table) == 3


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_values_are_written_with_tags_and_attributes(helene, fmt):
    data = export_bytes(fmt)
    row = rows_by_email(read_csv(data) if fmt == "csv" else read_xlsx(data))[helene.email]
    assert row["first_name"] == "Hélène" and row["last_name"] == "Lefèvre"
    assert row["external_id"] == "CLI-00042"
    assert row["tags"] == "Club dégustation, VIP"
    assert row["attr.vin_prefere"] == "Liquoreux" and row["attr.visites"] == "4"
    assert row["attr.canal_acquisition"] == ""
    assert row["address"] == "3 rue des Récollets, apt 2"
    assert row["notes"] == "Ligne 1\nligne 2, avec virgule"


def test_the_canonical_csv_has_iso_dates_and_neutralised_e164_phones(helene):
    row = rows_by_email(read_csv(export_bytes("csv")))[helene.email]
    assert row["birth_date"] == "1971-02-03" and row["joined_on"] == "2019-05-06"
    # E.164 starts with "+": neutralised like any other cell (see the module docstring).
    assert row["phone"] == "'+33612345678"


def test_an_xlsx_holds_date_cells_shown_day_first_and_phones_without_an_apostrophe(helene):
    sheet = load_workbook(io.BytesIO(export_bytes("xlsx"))).active
    header = [cell.value for cell in sheet[1]]
    cells = dict(zip(header, sheet[2], strict=True))
    birth = cells["birth_date"]
    assert birth.is_date and birth.value.date() == date(1971, 2, 3)
    assert birth.number_format == "DD/MM/YYYY"
    assert cells["joined_on"].value.date() == date(2019, 5, 6)
    assert (cells["phone"].value, cells["phone"].data_type) == ("+33612345678", "s")
    assert (cells["postal_code"].value, cells["postal_code"].data_type) == ("24100", "s")
    jean = dict(zip(header, sheet[3], strict=True))
    assert jean["birth_date"].value is None and jean["phone"].value is None  # empty, not ""


def test_only_the_attribute_keys_of_the_exported_contacts_become_columns(helene):
    table = read_csv(export_bytes("csv", Contact.objects.filter(pk=helene.pk)))
    assert [c for c in table[0] if c.startswith("attr.")] == ["attr.vin_prefere", "attr.visites"]


def test_a_contact_without_attributes_or_optional_fields_exports_empty_cells(db):
    Contact.objects.create(external_id="C-1")
    table = read_csv(export_bytes("csv"))
    assert table[0] == CANONICAL + list(exports.TRAILING_COLUMNS)
    assert table[1][0] == "C-1" and table[1][1] == ""


@pytest.mark.parametrize("first_char", list(HOSTILE))
def test_every_dangerous_first_character_is_neutralised_in_a_csv(db, first_char):
    value = HOSTILE[first_char]
    Contact.objects.create(
        email="victim@example.com",
        first_name=value,
        last_name=value,
        city=value,
        attributes={"note": value},
    )
    row = rows_by_email(read_csv(export_bytes("csv")))["victim@example.com"]
    for column in ("first_name", "last_name", "city", "attr.note"):
        assert row[column] == "'" + value, column


@pytest.mark.parametrize("first_char", list(HOSTILE))
def test_an_xlsx_keeps_a_formula_looking_value_as_it_is_in_a_string_cell(db, first_char):
    # A string cell is text to Excel whatever it holds: no apostrophe to add to the value.
    value = HOSTILE[first_char]
    Contact.objects.create(
        email="victim@example.com",
        first_name=value,
        last_name=value,
        city=value,
        attributes={"note": value},
    )
    data = export_bytes("xlsx")
    row = rows_by_email(read_xlsx(data))["victim@example.com"]
    for column in ("first_name", "last_name", "city", "attr.note"):
        assert row[column] == value.replace("\r", "\n"), column  # XML reads a bare CR as LF
    sheet = load_workbook(io.BytesIO(data)).active
    assert all(cell.data_type != "f" for line in sheet.iter_rows() for cell in line)


def test_harmless_values_are_left_alone():
    assert exports.neutralise("Hélène") == "Hélène"
    assert exports.neutralise("") == ""
    assert exports.neutralise("a=b") == "a=b"
    assert exports.neutralise("-5") == "'-5"


def test_control_characters_that_xlsx_forbids_do_not_break_the_file(db):
    Contact.objects.create(email="ctrl@example.com", first_name="Bell\x07name")
    row = rows_by_email(read_xlsx(export_bytes("xlsx")))["ctrl@example.com"]
    assert row["first_name"] == "Bellname"


def test_the_export_is_audited_once_with_the_count_and_filters(helene, owner):
    buffer = io.BytesIO()
    exports.contacts_export(
        queryset=Contact.objects.filter(tags__name="VIP"),
        fmt="csv",
        output=buffer,
        actor=owner,
        filters={"tag": "VIP", "q": ""},
    )
    entry = AuditLog.objects.get(action=AuditLog.Action.EXPORT)
    assert entry.actor == owner
    assert entry.changes["count"] == 1
    assert entry.changes["filters"] == {"tag": "VIP"}
    assert entry.changes["format"] == "csv"
    assert entry.changes["dialect"] == "canonical"


def test_an_unknown_format_is_refused(db):
    with pytest.raises(exports.ExportFormatError):
        exports.contacts_export(queryset=Contact.objects.all(), fmt="pdf", output=io.BytesIO())
    with pytest.raises(exports.ExportFormatError, match=r"\.csv or \.xlsx"):
        exports.format_for_path("contacts.txt")
    assert exports.format_for_path("CONTACTS.XLSX") == "xlsx"


# --- CLI -------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_the_command_writes_the_file_named_and_prints_json(helene, tmp_path, suffix):
    target = tmp_path / f"contacts.{suffix}"
    out = StringIO()
    call_command("export", "contacts", "-o", str(target), "--json", stdout=out)
    summary = json.loads(out.getvalue())
    assert summary["rows"] == 2 and summary["format"] == suffix
    assert summary["columns"][:12] == CANONICAL
    data = target.read_bytes()
    table = read_csv(data) if suffix == "csv" else read_xlsx(data)
    assert len(table) == 3


def test_the_command_keeps_the_canonical_columns_unless_asked_for_excel_fr(helene, tmp_path):
    target = tmp_path / "contacts.csv"
    out = StringIO()
    call_command("export", "contacts", "-o", str(target), "--json", stdout=out)
    assert json.loads(out.getvalue())["dialect"] == "canonical"
    assert read_csv(target.read_bytes())[0][:12] == CANONICAL

    out = StringIO()
    call_command(
        "export", "contacts", "-o", str(target), "--format", "excel-fr", "--json", stdout=out
    )
    summary = json.loads(out.getvalue())
    assert (summary["format"], summary["dialect"]) == ("csv", "excel-fr")
    table = read_csv(target.read_bytes(), ";")
    assert table[0][:14] == FRENCH_HEADER and summary["columns"] == table[0]
    helene_row = dict(zip(table[0], table[1], strict=True))
    assert (helene_row["E-mail"], helene_row["Date de naissance"]) == (helene.email, "03/02/1971")


def test_the_command_writes_an_excel_fr_workbook(helene, tmp_path):
    target = tmp_path / "contacts.xlsx"
    call_command("export", "contacts", "-o", str(target), "--format", "excel-fr", stdout=StringIO())
    assert read_xlsx(target.read_bytes())[0][:14] == FRENCH_HEADER


def test_the_command_refuses_an_unknown_format(db, tmp_path):
    with pytest.raises(CommandError, match="excel-fr"):
        call_command(
            "export", "contacts", "-o", str(tmp_path / "c.csv"), "--format", "excel-us",
            stdout=StringIO(),
        )  # fmt: skip


def test_the_command_filters_by_tag_list_and_search(helene, tmp_path):
    newsletter = MailingList.objects.create(name="Newsletter")
    jean = Contact.objects.get(email="jean.martin@example.com")
    make_subscription(jean, newsletter)
    target = tmp_path / "out.csv"
    for args, expected in (
        (["--tag", "VIP"], {helene.email}),
        (["--list", "newsletter"], {jean.email}),
        (["--list", str(newsletter.pk)], {jean.email}),
        (["--q", "martin"], {jean.email}),
        (["--q", "jean.martin@example.com"], {jean.email}),
    ):
        call_command("export", "contacts", "-o", str(target), *args, stdout=StringIO())
        assert set(rows_by_email(read_csv(target.read_bytes()))) == expected, args


def test_the_command_explains_a_wrong_extension_or_list(db, tmp_path):
    with pytest.raises(CommandError, match=r"\.csv or \.xlsx"):
        call_command("export", "contacts", "-o", str(tmp_path / "c.ods"), stdout=StringIO())
    with pytest.raises(CommandError, match="no list named"):
        call_command(
            "export", "contacts", "-o", str(tmp_path / "c.csv"), "--list", "Inconnue",
            stdout=StringIO(),
        )  # fmt: skip
    with pytest.raises(CommandError, match="does not exist"):
        call_command("export", "contacts", "-o", str(tmp_path / "no" / "c.csv"), stdout=StringIO())


def test_the_command_is_audited(helene, tmp_path):
    call_command("export", "contacts", "-o", str(tmp_path / "c.csv"), stdout=StringIO())
    entry = AuditLog.objects.get(action=AuditLog.Action.EXPORT)
    assert entry.actor is None and entry.changes["count"] == 2
    assert entry.actor_label == "fidele export"


# --- web -------------------------------------------------------------------------------------


def test_a_marketer_downloads_the_filtered_csv(helene, marketer_client, marketer):
    response = marketer_client.get("/exports/contacts.csv", {"tag": "VIP"})
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    assert response["Cache-Control"] == "no-store"
    table = read_csv(b"".join(response.streaming_content))
    assert set(rows_by_email(table)) == {helene.email}
    entry = AuditLog.objects.get(action=AuditLog.Action.EXPORT)
    assert entry.actor == marketer and entry.changes["filters"] == {"tag": "VIP"}
    assert entry.changes["count"] == 1


def test_an_owner_downloads_the_xlsx_headed_in_the_users_language(helene, owner_client):
    response = owner_client.get("/exports/contacts.xlsx", {"q": "lefèvre"})
    assert response.status_code == 200
    assert ".xlsx" in response["Content-Disposition"]
    table = read_xlsx(b"".join(response.streaming_content))
    assert table[0][:3] == ["Civilité", "Prénom", "Nom"]  # pages are French by default
    assert [row[3] for row in table[1:]] == [helene.email]


EXPORT_URLS = ["/exports/contacts/", "/exports/contacts/download", *(
    "/exports/contacts.csv", "/exports/contacts.xlsx"
)]  # fmt: skip


@pytest.mark.parametrize("url", EXPORT_URLS)
def test_a_viewer_cannot_export(helene, viewer_client, url):
    assert viewer_client.get(url).status_code == 403
    assert not AuditLog.objects.filter(action=AuditLog.Action.EXPORT).exists()


@pytest.mark.parametrize("url", EXPORT_URLS)
def test_an_anonymous_visitor_is_sent_to_the_login_page(db, client, url):
    response = client.get(url)
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_the_export_page_offers_excel_france_first_to_a_french_user(helene, marketer_client):
    response = marketer_client.get("/exports/contacts/", {"tag": "VIP"})
    page = response.content.decode()
    assert response.context["form"]["format"].initial == "excel-fr"
    assert 'value="excel-fr" id="id_format_0" required checked' in page
    assert 'aria-describedby="id_format_0-help"' in page and 'id="id_format_0-help"' in page
    assert "Excel (France)" in page and "Classeur Excel (XLSX)" in page
    assert "1 contact correspond aux filtres de la liste et sera exporté." in page
    # The filters travel with the form, and the way back keeps them.
    assert '<input type="hidden" name="tag" value="VIP">' in page
    assert 'href="/contacts/?tag=VIP"' in page
    assert not AuditLog.objects.filter(action=AuditLog.Action.EXPORT).exists()


def test_the_export_page_offers_the_workbook_first_in_english(helene, marketer_client):
    marketer_client.cookies["django_language"] = "en"
    response = marketer_client.get("/exports/contacts/")
    assert response.context["form"]["format"].initial == "xlsx"
    assert "All your 2 contacts will be exported." in response.content.decode()


def test_the_download_without_a_format_is_excel_france_for_a_french_user(helene, marketer_client):
    response = marketer_client.get("/exports/contacts/download", {"tag": "VIP"})
    assert response.streaming and response["Content-Type"].startswith("text/csv")
    table = read_csv(b"".join(response.streaming_content), ";")
    assert table[0][:14] == FRENCH_HEADER
    assert [row[3] for row in table[1:]] == [helene.email]
    assert AuditLog.objects.get(action=AuditLog.Action.EXPORT).changes["filters"] == {"tag": "VIP"}


@pytest.mark.parametrize(
    ("choice", "first_header"), [("excel-fr", "Civilité"), ("csv", "external_id")]
)
def test_each_csv_choice_of_the_page_streams_its_own_dialect(
    helene, marketer_client, choice, first_header
):
    response = marketer_client.get("/exports/contacts/download", {"format": choice})
    assert response.streaming and response["Cache-Control"] == "no-store"
    delimiter = ";" if choice == "excel-fr" else ","
    assert read_csv(b"".join(response.streaming_content), delimiter)[0][0] == first_header


def test_an_unknown_format_is_refused_without_exporting(helene, marketer_client):
    response = marketer_client.get("/exports/contacts/download", {"format": "pdf"})
    assert response.status_code == 400
    assert not AuditLog.objects.filter(action=AuditLog.Action.EXPORT).exists()


def test_exports_refuse_post(marketer_client):
    assert marketer_client.post("/exports/contacts.csv").status_code == 405


def test_the_number_of_queries_does_not_grow_with_the_number_of_contacts(
    db, django_assert_max_num_queries
):
    vip = Tag.objects.create(name="VIP")
    for i in range(40):
        contact = Contact.objects.create(email=f"c{i}@example.com", attributes={"k": i})
        contact.tags.add(vip)
    # Attribute keys, contacts, their tags (prefetched per chunk), the audit entry.
    with django_assert_max_num_queries(6):
        table = read_csv(export_bytes("csv"))
    assert len(table) == 41 and all(row[11] == "VIP" for row in table[1:])


CONTROL_CHARACTERS = ["\x01", "\x08", "\x0b", "\x0c", "\x1f", "\x01\x02"]


@pytest.mark.parametrize("control", CONTROL_CHARACTERS)
@pytest.mark.parametrize("first_char", list(HOSTILE))
def test_a_control_character_before_a_formula_does_not_hide_it_in_a_csv(db, control, first_char):
    # Stripped after the check, "\x01=HYPERLINK(...)" became a formula again.
    value = HOSTILE[first_char]
    Contact.objects.create(email="victim@example.com", first_name=control + value)
    for dialect in (exports.CANONICAL, exports.EXCEL_FR):
        table = read_csv(export_bytes("csv", dialect=dialect), dialect.delimiter)
        assert table[1][table[0].index(header_of("first_name", dialect))] == "'" + value


@pytest.mark.parametrize("control", CONTROL_CHARACTERS)
@pytest.mark.parametrize("first_char", list(HOSTILE))
def test_a_control_character_before_a_formula_leaves_a_string_cell_in_an_xlsx(
    db, control, first_char
):
    value = HOSTILE[first_char]
    Contact.objects.create(email="victim@example.com", first_name=control + value)
    sheet = load_workbook(io.BytesIO(export_bytes("xlsx"))).active
    cell = sheet[2][[c.value for c in sheet[1]].index("first_name")]
    assert (cell.value, cell.data_type) == (value.replace("\r", "\n"), "s")


def test_every_exported_xlsx_cell_is_a_string_cell_whatever_it_holds(db):
    Contact.objects.create(
        email="victim@example.com", first_name="#N/A", last_name="\x01=1+1", city="=SUM(A1)"
    )
    sheet = load_workbook(io.BytesIO(export_bytes("xlsx"))).active
    types = {cell.data_type for line in sheet.iter_rows() for cell in line if cell.value}
    assert types == {"s"}
    row = rows_by_email([[c.value or "" for c in line] for line in sheet.iter_rows()])
    assert row["victim@example.com"]["first_name"] == "#N/A"


def test_the_xlsx_writer_types_formula_and_error_looking_strings_as_strings():
    buffer = io.BytesIO()
    exports._write_xlsx(["a", "b", "c"], [["=1+1", "#DIV/0!", "x"]], buffer, ["a", "b", "c"])
    sheet = load_workbook(io.BytesIO(buffer.getvalue())).active
    assert [(c.value, c.data_type) for c in sheet[2]] == [
        ("=1+1", "s"),
        ("#DIV/0!", "s"),
        ("x", "s"),
    ]


# --- Excel (France) and the labelled dialects -----------------------------------------------

FRENCH_HEADER = [
    "Civilité", "Prénom", "Nom", "E-mail", "Téléphone", "Numéro client", "Adresse",
    "Code postal", "Ville", "Pays", "Langue", "Date de naissance", "Client depuis", "Étiquettes",
]  # fmt: skip


def excel_fr_rows(queryset=None) -> dict[str, dict[str, str]]:
    table = read_csv(export_bytes("csv", queryset, exports.EXCEL_FR), ";")
    return {row[3]: dict(zip(table[0], row, strict=True)) for row in table[1:]}


def test_excel_fr_is_semicolon_separated_utf8_with_bom_under_french_headers(helene):
    data = export_bytes("csv", dialect=exports.EXCEL_FR)
    assert data.startswith("\ufeffCivilité;Prénom;Nom;".encode())
    header = read_csv(data, ";")[0]
    assert header[:14] == FRENCH_HEADER
    # Custom attributes keep their keys; origin and notes close the row, as in the canonical.
    assert header[14:] == ["canal_acquisition", "vin_prefere", "visites", "Origine", "Notes"]


def test_excel_fr_headers_are_french_whatever_the_language_of_the_user(helene):
    with translation.override("en"):
        header = read_csv(export_bytes("csv", dialect=exports.EXCEL_FR), ";")[0]
    assert header[:3] == ["Civilité", "Prénom", "Nom"]


def test_excel_fr_writes_dates_day_first_and_phones_as_they_are_dialled_in_france(helene):
    Contact.objects.create(email="belge@example.be", phone="+3222345678")
    rows = excel_fr_rows()
    row = rows[helene.email]
    assert row["Date de naissance"] == "03/02/1971" and row["Client depuis"] == "06/05/2019"
    assert row["Téléphone"] == "06 12 34 56 78"
    assert row["Code postal"] == "24100" and row["Étiquettes"] == "Club dégustation, VIP"
    assert row["Notes"] == "Ligne 1\nligne 2, avec virgule"
    # "+32 2 ..." would be a formula to Excel; as dialled from France it is text, and readable.
    assert rows["belge@example.be"]["Téléphone"] == "00 32 2 234 56 78"


def test_excel_fr_writes_decimal_commas(db):
    Contact.objects.create(email="a@example.com", attributes={"panier_moyen": 12.5, "visites": 3})
    row = excel_fr_rows()["a@example.com"]
    assert (row["panier_moyen"], row["visites"]) == ("12,5", "3")


def test_an_attribute_key_the_import_would_take_for_a_field_keeps_its_prefix(db):
    Contact.objects.create(email="a@example.com", attributes={"newsletter": "oui", "ville": "x"})
    header = read_csv(export_bytes("csv", dialect=exports.EXCEL_FR), ";")[0]
    assert header[14:16] == ["attr.newsletter", "attr.ville"]


def test_a_column_that_is_not_a_contact_field_is_headed_as_the_import_names_it():
    header = exports.export_header(["external_id", "other_customer_numbers"], exports.EXCEL_FR)
    assert header == ["Numéro client", "Autres numéros client"]


@pytest.mark.parametrize(("language", "first"), [("fr", "Civilité"), ("en", "Title")])
def test_the_spreadsheet_xlsx_is_headed_in_the_users_language(helene, language, first):
    Contact.objects.create(email="belge@example.be", phone="+3222345678")
    with translation.override(language):
        data = export_bytes("xlsx", dialect=exports.SPREADSHEET)
    table = read_xlsx(data)
    assert table[0][0] == first
    phones = {row[3]: row[4] for row in table[1:]}
    assert phones[helene.email] == "06 12 34 56 78"
    assert phones["belge@example.be"] == "+32 2 234 56 78"  # a string cell: no formula to fear


def test_the_excel_fr_csv_streams_and_is_audited_before_its_first_byte(helene, owner):
    stream = exports.contacts_export_csv_stream(
        queryset=Contact.objects.all(), dialect=exports.EXCEL_FR, actor=owner
    )
    first = next(stream)
    assert first.startswith("\ufeffCivilité;".encode())
    entry = AuditLog.objects.get(action=AuditLog.Action.EXPORT)
    assert entry.changes["count"] == 2
    assert entry.changes["dialect"] == "excel-fr"
    assert len(list(stream)) == 2


# --- Round trip: what Fidèle exports, Fidèle imports the same -------------------------------

FIELDS_COMPARED = (
    "external_id", "email", "civility", "first_name", "last_name", "phone", "address",
    "postal_code", "city", "country", "language", "birth_date", "joined_on", "source", "notes",
)  # fmt: skip


def snapshot() -> dict[str, dict]:
    contacts = Contact.objects.prefetch_related("tags", "customer_number_aliases").order_by("email")
    return {
        contact.email: {
            **{name: getattr(contact, name) for name in FIELDS_COMPARED},
            "tags": sorted(tag.name for tag in contact.tags.all()),
            "attributes": {key: str(value) for key, value in contact.attributes.items()},
            "other_numbers": sorted(a.number for a in contact.customer_number_aliases.all()),
        }
        for contact in contacts
    }


@pytest.mark.parametrize(
    ("fmt", "dialect"),
    [
        ("csv", exports.EXCEL_FR),
        ("xlsx", exports.EXCEL_FR),
        ("xlsx", exports.SPREADSHEET),
        ("csv", exports.CANONICAL),
        ("xlsx", exports.CANONICAL),
    ],
    ids=lambda value: getattr(value, "code", value),
)
def test_an_export_imported_into_an_empty_base_gives_the_same_contacts(
    helene, tmp_path, settings, fmt, dialect
):
    settings.IMPORTS_DIR = tmp_path / "imports"
    helene.civility = Contact.Civility.MR  # every field filled, on one contact at least
    helene.source = "Salon des vins 2023"
    helene.country = "FR"
    helene.save()
    helene.customer_number_aliases.create(number="OLD-7")
    helene.customer_number_aliases.create(number="OLD-9")
    Contact.objects.create(
        email="belge@example.be", first_name="Luc", phone="+3222345678", country="BE",
        postal_code="1000", city="Bruxelles", language="en", attributes={"note": "-2+3"},
    )  # fmt: skip
    before = snapshot()
    path = tmp_path / f"export.{fmt}"
    exports.contacts_export(queryset=Contact.objects.all(), fmt=fmt, output=path, dialect=dialect)
    Contact.objects.all().delete()
    Tag.objects.all().delete()

    summary = import_file(kind="contacts", path=path)

    assert (summary["created"], summary["rejected"]) == (3, 0), summary
    after = snapshot()
    if fmt == "csv":
        # The apostrophe that keeps a CSV cell from being a formula comes back with it.
        assert after["belge@example.be"]["attributes"].pop("note") == "'-2+3"
        before["belge@example.be"]["attributes"].pop("note")
    assert after == before


def test_the_other_customer_numbers_are_a_column_only_when_a_contact_has_one(helene):
    assert "other_customer_numbers" not in read_csv(export_bytes("csv"))[0]

    helene.customer_number_aliases.create(number="OLD-7")
    table = read_csv(export_bytes("csv"))

    assert table[0][-1] == "other_customer_numbers"
    assert table[1][-1] == "OLD-7"
    french = read_csv(export_bytes("csv", dialect=exports.EXCEL_FR), delimiter=";")
    assert french[0][-1] == "Autres numéros client"


def test_excel_france_names_countries_and_languages_as_people_do(db):
    Contact.objects.create(email="luc@example.be", country="BE", language="nl")

    table = read_csv(export_bytes("csv", dialect=exports.EXCEL_FR), delimiter=";")
    row = dict(zip(table[0], table[1], strict=True))

    assert (row["Pays"], row["Langue"]) == ("Belgique", "néerlandais")
    canonical = dict(zip(*read_csv(export_bytes("csv"))[:2], strict=True))
    assert (canonical["country"], canonical["language"]) == ("BE", "nl")  # the contract
