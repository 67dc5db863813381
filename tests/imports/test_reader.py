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


# -- hostile files: limits on what a file may cost ----------------------------------------------

import contextlib  # noqa: E402
import signal  # noqa: E402
import struct  # noqa: E402
import tracemalloc  # noqa: E402
import zipfile  # noqa: E402

from fidele.imports.reader import read_preview  # noqa: E402


def small_xlsx(path, rows=(("email", "nom"), ("a@b.fr", "PLACEHOLDER"))):
    workbook = Workbook()
    for row in rows:
        workbook.active.append(list(row))
    workbook.save(path)
    return path


def rewrite_part(path, part, write):
    """Copy the XLSX at `path` with `part` replaced by what `write(handle, old_bytes)` streams."""
    source = path.with_suffix(".orig")
    path.rename(source)
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            if info.filename == part:
                with new.open(part, "w", force_zip64=True) as handle:
                    write(handle, old.read(part))
            else:
                new.writestr(info, old.read(info.filename))
    source.unlink()
    return path


def big_string(size):
    def write(handle, old):
        head, tail = old.split(b"PLACEHOLDER")
        handle.write(head)
        chunk = b"a" * (1 << 20)
        for _ in range(size // len(chunk)):
            handle.write(chunk)
        handle.write(tail)

    return write


@contextlib.contextmanager
def alarm_after(seconds):
    def fail(_signum, _frame):
        raise TimeoutError(f"still reading after {seconds} s")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def peak_growth(function):
    tracemalloc.start()
    try:
        function()
    finally:
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak


def test_an_xlsx_zip_bomb_is_refused_by_its_compression_ratio_before_openpyxl_reads_it(tmp_path):
    # 40 MB of one string packed into ~40 kB: the 300 MB version took 3.3 GB and 33 s.
    path = rewrite_part(
        small_xlsx(tmp_path / "bomb.xlsx"), "xl/worksheets/sheet1.xml", big_string(40 << 20)
    )
    assert path.stat().st_size < 200_000
    caught = []

    def read():
        with pytest.raises(ImportFileError) as error:
            open_table(path)
        caught.append(error.value)

    assert peak_growth(read) < 8 << 20
    message = str(caught[0])
    assert "bomb.xlsx" in message and "xl/worksheets/sheet1.xml" in message
    assert "compressed" in message


def test_an_xlsx_unpacking_to_more_than_the_limit_is_refused(tmp_path, settings):
    settings.IMPORT_XLSX_MAX_RATIO = 100_000
    settings.IMPORT_XLSX_MAX_UNPACKED_BYTES = 5 << 20
    path = rewrite_part(
        small_xlsx(tmp_path / "big.xlsx"), "xl/worksheets/sheet1.xml", big_string(8 << 20)
    )
    with pytest.raises(ImportFileError) as caught:
        open_table(path)
    assert "big.xlsx unpacks to more than 5 MB" in str(caught.value)
    assert "xl/worksheets/sheet1.xml" in str(caught.value)


def test_an_xlsx_that_lies_about_its_unpacked_sizes_is_refused(tmp_path):
    path = rewrite_part(
        small_xlsx(tmp_path / "liar.xlsx"), "xl/worksheets/sheet1.xml", big_string(2 << 20)
    )
    data = bytearray(path.read_bytes())
    # Declare 1 kB for every part, in the central directory (zipfile trusts it) and the
    # local headers.
    for signature, offset in ((b"PK\x01\x02", 24), (b"PK\x03\x04", 22)):
        start = data.find(signature)
        while start != -1:
            struct.pack_into("<I", data, start + offset, 1000)
            start = data.find(signature, start + 4)
    path.write_bytes(bytes(data))
    with pytest.raises(ImportFileError) as caught:
        open_table(path)
    assert "liar.xlsx is not a readable Excel workbook" in str(caught.value)


def test_an_xlsx_declaring_the_whole_sheet_as_its_dimension_reads_only_its_cells(tmp_path):
    # <dimension ref="A1:XFD1048576"/> in 4.7 kB kept a web worker busy until it was killed.
    def write(handle, old):
        last = b'<row r="1048576"><c r="A1048576" t="inlineStr"><is><t>end</t></is></c></row>'
        handle.write(
            old.replace(b'<dimension ref="A1:B2" />', b'<dimension ref="A1:XFD1048576" />').replace(
                b"</sheetData>", last + b"</sheetData>"
            )
        )

    path = rewrite_part(small_xlsx(tmp_path / "wide.xlsx"), "xl/worksheets/sheet1.xml", write)
    assert b"XFD1048576" in zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml")
    # Before the fix, every row came padded to 16 384 cells, and the gap down to the last row
    # was a million empty rows of that width; the alarm turns that hang into a failure (a
    # generous bound, not a timing).
    with alarm_after(30):
        table = open_table(path)
        assert list(table.rows) == [(2, ["a@b.fr", "PLACEHOLDER"]), (1048576, ["end"])]
    assert table.header == ["email", "nom"]
    assert table.shape.rows_estimate < 1000
    with alarm_after(30):
        header, preview = read_preview(path, shape=sniff(path), name="wide.xlsx")
    assert preview == [(2, ["a@b.fr", "PLACEHOLDER"]), (1048576, ["end"])]


def test_an_xlsx_with_a_value_beyond_the_column_limit_names_sheet_row_and_column(tmp_path):
    from openpyxl.utils import get_column_letter

    workbook = Workbook()
    workbook.active.title = "Clients"
    workbook.active.append(["email", "nom"])
    workbook.active.append(["a@b.fr", "Zoé"])
    workbook.active.cell(row=3, column=1500, value="far away")
    path = tmp_path / "far.xlsx"
    workbook.save(path)
    with pytest.raises(ImportFileError) as caught:
        list(open_table(path).rows)
    assert caught.value.row == 3
    assert caught.value.column == get_column_letter(1500)
    message = str(caught.value)
    assert "far.xlsx" in message and "Clients" in message and "1 000 columns" in message


def test_an_xlsx_with_empty_styled_cells_far_right_reads_normally(tmp_path):
    from openpyxl.styles import Font

    workbook = Workbook()
    workbook.active.append(["email", "nom"])
    workbook.active.append(["a@b.fr", "Zoé"])
    workbook.active.cell(row=2, column=5000).font = Font(bold=True)
    path = tmp_path / "styled.xlsx"
    workbook.save(path)
    assert [cells[:2] for _n, cells in open_table(path).rows] == [["a@b.fr", "Zoé"]]


def test_an_xlsx_cell_longer_than_excel_allows_names_sheet_row_and_column(tmp_path):
    def write(handle, old):
        handle.write(old.replace(b"PLACEHOLDER", b"x" * 40_000))

    path = rewrite_part(small_xlsx(tmp_path / "long.xlsx"), "xl/worksheets/sheet1.xml", write)
    with pytest.raises(ImportFileError) as caught:
        list(open_table(path).rows)
    assert (caught.value.row, caught.value.column) == (2, "B")
    assert "40 000 characters" in str(caught.value) and "Sheet" in str(caught.value)


def test_a_one_line_csv_of_megabytes_is_refused_without_holding_it(tmp_path):
    # A 66 MB one-line CSV took 566 MB: lines are now read at most CSV_RECORD_LIMIT long.
    path = tmp_path / "line.csv"
    with path.open("w") as handle:
        handle.write("email,nom\n")
        for _ in range(40):
            handle.write("ab," * 35_000)
        handle.write("\n")
    caught = []

    def read():
        with pytest.raises(ImportFileError) as error:
            list(open_table(path).rows)
        caught.append(error.value)

    assert peak_growth(read) < 16 << 20
    assert caught[0].row == 2
    assert "line.csv" in str(caught[0]) and "1 048 576 characters" in str(caught[0])


def test_a_record_spread_over_many_lines_by_quotes_is_bounded_too(tmp_path, monkeypatch):
    from fidele.imports import reader

    monkeypatch.setattr(reader, "CSV_RECORD_LIMIT", 1000)
    path = tmp_path / "lines.csv"
    path.write_text("email,nom\n" + '"a\n",' * 400 + "\nb@c.fr,ok\n")
    with pytest.raises(ImportFileError) as caught:
        list(open_table(path).rows)
    assert caught.value.row == 2


def test_a_csv_just_under_the_record_limit_reads(tmp_path, monkeypatch):
    from fidele.imports import reader

    monkeypatch.setattr(reader, "CSV_RECORD_LIMIT", 1000)
    path = tmp_path / "ok.csv"
    path.write_text("email,nom\n" + "a@b.fr," + "x" * 980 + "\n" + "c@d.fr,y\n")
    assert [n for n, _c in open_table(path).rows] == [2, 3]
