from __future__ import annotations

import datetime as dt

import pytest
from openpyxl import Workbook

from fidele.imports.reader import ImportFileError, detect_encoding, open_table, sniff


def rows_of(path):
    table = open_table(path)
    return table.header, list(table.rows)


def test_it_reads_utf8_text_as_utf8(write_file):
    path = write_file("nom;ville\nHélène;Île-de-France\n")
    assert sniff(path).encoding == "utf-8"
    assert rows_of(path)[1] == [(2, ["Hélène", "Île-de-France"])]


def test_it_drops_the_utf8_bom_from_the_first_header(write_file):
    path = write_file("\ufeffemail,nom\na@b.fr,Zoé\n")
    header, rows = rows_of(path)
    assert sniff(path).encoding == "utf-8-sig"
    assert header == ["email", "nom"]
    assert rows == [(2, ["a@b.fr", "Zoé"])]


def test_it_keeps_the_accents_of_a_cp1252_excel_export(write_file):
    path = write_file("Prénom;Région;Prix\r\nHélène;Île-de-France;12,50 €\r\n", encoding="cp1252")
    assert sniff(path).encoding == "cp1252"
    header, rows = rows_of(path)
    assert header == ["Prénom", "Région", "Prix"]
    assert rows == [(2, ["Hélène", "Île-de-France", "12,50 €"])]


def test_a_few_cp1252_bytes_in_a_utf8_file_still_read_as_accents(write_file):
    body = b"nom;ville\n" + "Zoé;Paris\n".encode() * 10 + "Hélène;Sète\n".encode("cp1252")
    path = write_file(body)
    header, rows = rows_of(path)
    assert rows[-1][1] == ["Hélène", "Sète"]


def test_utf8_is_preferred_when_a_multibyte_character_is_cut_by_the_sample():
    sample = ("é" * 10).encode("utf-8")[:-1]
    assert detect_encoding(sample) == "utf-8"


@pytest.mark.parametrize(("delimiter", "name"), [(",", "comma"), (";", "semicolon"), ("\t", "tab")])
def test_it_detects_the_delimiter(write_file, delimiter, name):
    text = delimiter.join(["email", "nom", "note"]) + "\n"
    text += delimiter.join(["a@b.fr", "Dupont", '"1,5; ou\t2"']) + "\n"
    path = write_file(text)
    assert sniff(path).delimiter == delimiter, name
    assert rows_of(path)[1][0][1][2] == "1,5; ou\t2"


def test_quoted_fields_keep_their_newlines_and_delimiters(write_file):
    path = write_file('nom;adresse\r\nDupont;"1 rue X;\r\nBât. B"\r\nMartin;Y\r\n')
    _header, rows = rows_of(path)
    assert rows == [(2, ["Dupont", "1 rue X;\r\nBât. B"]), (3, ["Martin", "Y"])]


def test_blank_lines_are_skipped_but_count_in_row_numbers(write_file):
    path = write_file("nom,ville\n\nDupont,Paris\n,\n  ,  \nMartin,Lyon\n")
    _header, rows = rows_of(path)
    assert rows == [(3, ["Dupont", "Paris"]), (6, ["Martin", "Lyon"])]


def test_an_empty_file_is_reported_by_name(write_file):
    path = write_file(b"", name="clients.csv")
    with pytest.raises(ImportFileError, match="clients.csv is empty"):
        sniff(path)


def test_a_file_of_blank_lines_is_reported_as_empty(write_file):
    path = write_file("\r\n\r\n;;\r\n")
    with pytest.raises(ImportFileError, match="empty"):
        open_table(path)


def test_a_binary_file_is_reported_not_crashed_on(fixture_file):
    with pytest.raises(ImportFileError, match="binary"):
        sniff(fixture_file("binary.csv"))


def test_an_old_xls_file_gets_advice(write_file):
    path = write_file(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, name="old.xls")
    with pytest.raises(ImportFileError, match=r"\.xlsx"):
        sniff(path)


def test_a_broken_xlsx_is_reported_not_crashed_on(write_file):
    path = write_file(b"PK\x03\x04 this is not really a zip", name="broken.xlsx")
    with pytest.raises(ImportFileError, match="not a readable Excel workbook"):
        open_table(path)


def test_an_unterminated_quote_ends_with_the_row_where_it_starts(write_file, monkeypatch):
    from fidele.imports import reader

    monkeypatch.setattr(reader, "CSV_FIELD_LIMIT", 1000)
    import csv

    old = csv.field_size_limit(1000)
    try:
        path = write_file('nom;note\nA;ok\nB;"never closed\n' + "x;y\n" * 500)
        with pytest.raises(ImportFileError) as caught:
            list(open_table(path).rows)
    finally:
        csv.field_size_limit(old)
    assert caught.value.row == 3
    assert "never closed" in str(caught.value)


def test_xlsx_cells_read_as_a_person_typed_them(tmp_path):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Prénom", "Téléphone", "Né le", "Montant"])
    sheet.append(["Hélène", 612345678, dt.datetime(1980, 2, 1), 12.5])
    sheet.append([None, None, None, None])
    sheet.append(["Zoé", "06 12 34 56 78", dt.date(1990, 1, 2), 3.0])
    path = tmp_path / "clients.xlsx"
    workbook.save(path)
    shape = sniff(path)
    assert shape.format == "xlsx"
    header, rows = rows_of(path)
    assert header == ["Prénom", "Téléphone", "Né le", "Montant"]
    assert rows == [
        (2, ["Hélène", "612345678", "1980-02-01", "12.5"]),
        (4, ["Zoé", "06 12 34 56 78", "1990-01-02", "3"]),
    ]
