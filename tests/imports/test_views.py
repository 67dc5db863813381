"""The import pages: upload, preview, confirm, progress, summary, rejected rows, roles."""

from __future__ import annotations

import csv
import io
import os
import zipfile
from html import unescape

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from fidele.contacts.models import Contact, Subscription
from fidele.core.models import AuditLog
from fidele.imports.models import ImportJob

pytestmark = pytest.mark.django_db

IMMEDIATE = {
    "default": {
        "BACKEND": "django_tasks.backends.immediate.ImmediateBackend",
        "QUEUES": ["default", "imports"],
    }
}


@pytest.fixture(autouse=True)
def immediate_tasks(settings):
    # django-tasks drops its cached backends when TASKS changes (setting_changed signal).
    settings.TASKS = IMMEDIATE


def upload(client, fixture_file, name="contacts_fr_cp1252.csv", kind="contacts"):
    content = fixture_file(name).read_bytes()
    return client.post(
        reverse("imports:upload"),
        {"kind": kind, "file": SimpleUploadedFile(name, content, content_type="text/csv")},
    )


def mapping_post(job, **options):
    data = {f"col_{i}": target for i, target in enumerate(job.mapping["targets"])}
    data.update(options)
    return data


def test_the_whole_flow_upload_preview_confirm_summary_and_rejected_rows(
    marketer_client, fixture_file, imports_dir
):
    response = upload(marketer_client, fixture_file)
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "imports:preview", args=[job.pk]
    )
    # The upload is stored under a generated name, never the user's.
    assert job.stored_path.startswith(str(imports_dir)) and "contacts_fr" not in job.stored_path

    page = marketer_client.get(reverse("imports:preview", args=[job.pk])).content.decode()
    assert "Windows (cp1252)" in page
    assert "point-virgule" in page or "semicolon" in page
    assert "Hélène" in page and "Bourg-en-Bresse" in page
    assert '<option value="external_id" selected>' in page

    response = marketer_client.post(
        reverse("imports:preview", args=[job.pk]),
        mapping_post(job, list_name="Lettre", create_list="on"),
    )
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE
    assert job.summary["created"] == 4 and job.summary["rejected"] == 1
    # The uploaded file (personal data) is not kept once imported; the rejected rows are.
    assert not os.path.exists(job.stored_path)
    assert Subscription.objects.filter(mailing_list__name="Lettre").count() == 2

    page = marketer_client.get(reverse("imports:detail", args=[job.pk])).content.decode()
    assert "hx-trigger" not in page
    assert reverse("imports:rejected", args=[job.pk]) in page

    download = marketer_client.get(reverse("imports:rejected", args=[job.pk]))
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith(
        'attachment; filename="contacts_fr_cp1252-rejected.csv"'
    )
    rows = list(
        csv.DictReader(
            io.StringIO(b"".join(download.streaming_content).decode("utf-8-sig")), delimiter=";"
        )
    )
    assert [r["ligne"] for r in rows] == ["6"]  # in the user's language (French)
    assert AuditLog.objects.filter(action="import", actor__username="marketer-user").count() == 1


def test_a_column_mapping_changed_in_the_preview_is_used(marketer_client, write_file, fixture_file):
    marketer_client.post(
        reverse("imports:upload"),
        {"kind": "contacts", "file": SimpleUploadedFile("x.csv", b"Courriel;Ref\na@x.fr;77\n")},
    )
    job = ImportJob.objects.get()
    marketer_client.post(
        reverse("imports:preview", args=[job.pk]), {"col_0": "email", "col_1": "external_id"}
    )
    assert Contact.objects.get().external_id == "77"


def test_a_list_without_consent_column_needs_the_confirmation_box(marketer_client):
    marketer_client.post(
        reverse("imports:upload"),
        {"kind": "contacts", "file": SimpleUploadedFile("x.csv", b"email\na@x.fr\n")},
    )
    job = ImportJob.objects.get()

    response = marketer_client.post(
        reverse("imports:preview", args=[job.pk]), {"col_0": "email", "list_name": "L"}
    )
    assert response.status_code == 400
    assert "consent" in response.content.decode()
    assert Contact.objects.count() == 0

    marketer_client.post(
        reverse("imports:preview", args=[job.pk]),
        {"col_0": "email", "list_name": "L", "consent_confirmed": "on", "create_list": "on"},
    )
    assert Subscription.objects.get().consent_proof["user"] == "marketer-user"


def test_a_list_name_with_a_typo_is_refused_with_the_existing_list_to_choose(marketer_client):
    from fidele.contacts.models import MailingList

    MailingList.objects.create(name="Newsletter")
    marketer_client.post(
        reverse("imports:upload"),
        {"kind": "contacts", "file": SimpleUploadedFile("x.csv", b"email\na@x.fr\n")},
    )
    job = ImportJob.objects.get()
    url = reverse("imports:preview", args=[job.pk])
    typo = {"col_0": "email", "list_name": "Newsleter", "consent_confirmed": "on"}
    response = marketer_client.post(url, typo)
    assert response.status_code == 400
    assert "Newsletter" in unescape(response.content.decode())
    assert MailingList.objects.count() == 1 and Contact.objects.count() == 0
    # The existing list, typed in another case, is that list.
    marketer_client.post(url, {**typo, "list_name": "newsletter"})
    assert MailingList.objects.count() == 1
    assert Subscription.objects.get().mailing_list.name == "Newsletter"


def test_a_new_list_is_made_only_when_its_creation_is_ticked(marketer_client):
    from fidele.contacts.models import MailingList

    marketer_client.post(
        reverse("imports:upload"),
        {"kind": "contacts", "file": SimpleUploadedFile("x.csv", b"email\na@x.fr\n")},
    )
    job = ImportJob.objects.get()
    url = reverse("imports:preview", args=[job.pk])
    new = {"col_0": "email", "list_name": "Salon 2026", "consent_confirmed": "on"}
    assert marketer_client.post(url, new).status_code == 400
    assert not MailingList.objects.exists()
    marketer_client.post(url, {**new, "create_list": "on"})
    assert MailingList.objects.get().name == "Salon 2026"


def test_an_unreadable_upload_is_refused_with_a_message_on_the_form(marketer_client, fixture_file):
    response = upload(marketer_client, fixture_file, name="binary.csv")
    assert response.status_code == 400
    assert "binary" in response.content.decode()
    assert ImportJob.objects.count() == 0


def test_an_upload_over_the_size_limit_is_refused(marketer_client, settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 10
    response = marketer_client.post(
        reverse("imports:upload"),
        {"kind": "contacts", "file": SimpleUploadedFile("x.csv", b"email\na@x.fr\n")},
    )
    assert response.status_code == 400
    assert ImportJob.objects.count() == 0


def test_an_orders_import_runs_from_the_ui(marketer_client, fixture_file):
    upload(marketer_client, fixture_file)
    contacts_job = ImportJob.objects.get()
    marketer_client.post(
        reverse("imports:preview", args=[contacts_job.pk]), mapping_post(contacts_job)
    )
    upload(marketer_client, fixture_file, name="orders_lines_cp1252.csv", kind="orders")
    job = ImportJob.objects.get(kind="orders")
    marketer_client.post(reverse("imports:preview", args=[job.pk]), mapping_post(job))
    job.refresh_from_db()
    assert (job.summary["created"], job.summary["rejected"]) == (2, 2)


def test_the_progress_fragment_polls_while_running_and_stops_when_done(viewer_client, owner):
    job = ImportJob.objects.create(
        kind="contacts",
        original_name="a.csv",
        stored_path="/x",
        status="running",
        rows_total=200,
        rows_done=50,
        created_by=owner,
    )
    fragment = viewer_client.get(reverse("imports:progress", args=[job.pk])).content.decode()
    assert 'hx-trigger="every 1s"' in fragment and 'aria-valuenow="25"' in fragment

    ImportJob.objects.filter(pk=job.pk).update(
        status="done", summary={"rows": 200, "created": 200, "rejected": 0}
    )
    fragment = viewer_client.get(reverse("imports:progress", args=[job.pk])).content.decode()
    assert "hx-trigger" not in fragment


def test_a_viewer_sees_imports_but_cannot_upload_confirm_download_or_discard(
    viewer_client, owner, fixture_file, tmp_path
):
    job = ImportJob.objects.create(
        kind="contacts",
        original_name="a.csv",
        stored_path=str(tmp_path / "a.csv"),
        detected={"format": "csv", "encoding": "utf-8", "delimiter": ",", "header": ["email"]},
        mapping={"targets": ["email"]},
        created_by=owner,
    )
    (tmp_path / "a.csv").write_text("email\na@x.fr\n")
    assert viewer_client.get(reverse("imports:list")).status_code == 200
    assert viewer_client.get(reverse("imports:preview", args=[job.pk])).status_code == 200
    assert upload(viewer_client, fixture_file).status_code == 403
    assert (
        viewer_client.post(
            reverse("imports:preview", args=[job.pk]), {"col_0": "email"}
        ).status_code
        == 403
    )
    assert viewer_client.post(reverse("imports:discard", args=[job.pk])).status_code == 403
    assert viewer_client.get(reverse("imports:rejected", args=[job.pk])).status_code == 403
    assert Contact.objects.count() == 0
    assert ImportJob.objects.get().status == ImportJob.Status.UPLOADED


def test_the_rejected_download_serves_only_files_under_the_imports_directory(
    marketer_client, owner, tmp_path
):
    secret = tmp_path / "secret.csv"
    secret.write_text("x")
    job = ImportJob.objects.create(
        kind="contacts",
        original_name="a.csv",
        stored_path="/x",
        status="done",
        rejected_path=str(secret),
        created_by=owner,
    )
    assert marketer_client.get(reverse("imports:rejected", args=[job.pk])).status_code == 404


def test_discarding_an_upload_deletes_the_stored_file(marketer_client, fixture_file):
    upload(marketer_client, fixture_file)
    job = ImportJob.objects.get()
    response = marketer_client.post(reverse("imports:discard", args=[job.pk]))
    assert response.status_code == 302
    assert not ImportJob.objects.exists()
    import os

    assert not os.path.exists(job.stored_path)


def test_an_xlsx_upload_shows_its_sheet_in_the_preview(marketer_client, tmp_path):
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.active.title = "Clients"
    workbook.active.append(["Prénom", "Courriel"])
    workbook.active.append(["Hélène", "helene@x.fr"])
    path = tmp_path / "clients.xlsx"
    workbook.save(path)
    marketer_client.post(
        reverse("imports:upload"),
        {"kind": "contacts", "file": SimpleUploadedFile("clients.xlsx", path.read_bytes())},
    )
    job = ImportJob.objects.get()

    page = marketer_client.get(reverse("imports:preview", args=[job.pk])).content.decode()
    assert "Clients" in page and "Hélène" in page
    marketer_client.post(reverse("imports:preview", args=[job.pk]), mapping_post(job))
    assert Contact.objects.get().email == "helene@x.fr"


def test_the_rejected_download_name_cannot_inject_a_header(marketer_client, owner, imports_dir):
    imports_dir.mkdir(parents=True, exist_ok=True)
    rejected = imports_dir / "rejected-x.csv"
    rejected.write_text("row,reason\n")
    job = ImportJob.objects.create(
        kind="contacts",
        original_name='clients"\r\nSet-Cookie: a=b.csv',
        stored_path="/x",
        status="done",
        rejected_path=str(rejected),
        created_by=owner,
    )
    response = marketer_client.get(reverse("imports:rejected", args=[job.pk]))
    assert response.status_code == 200
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment; filename")
    assert "\r" not in disposition and "\n" not in disposition
    assert not response.has_header("Set-Cookie") or "a=b" not in response["Set-Cookie"]
    response.close()


def zip_bomb_xlsx() -> bytes:
    """A small XLSX whose only sheet unpacks to 40 MB of one repeated letter."""
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.active.append(["email", "nom"])
    workbook.active.append(["a@b.fr", "PLACEHOLDER"])
    plain = io.BytesIO()
    workbook.save(plain)
    bomb = io.BytesIO()
    with (
        zipfile.ZipFile(plain) as old,
        zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as new,
    ):
        for info in old.infolist():
            data = old.read(info.filename)
            if info.filename != "xl/worksheets/sheet1.xml":
                new.writestr(info, data)
                continue
            head, tail = data.split(b"PLACEHOLDER")
            with new.open(info.filename, "w", force_zip64=True) as handle:
                handle.write(head)
                for _ in range(40):
                    handle.write(b"a" * (1 << 20))
                handle.write(tail)
    return bomb.getvalue()


def test_an_xlsx_zip_bomb_upload_is_refused_with_a_message_in_the_users_language(
    marketer_client,
):
    response = marketer_client.post(
        reverse("imports:upload"),
        {"kind": "contacts", "file": SimpleUploadedFile("bombe.xlsx", zip_bomb_xlsx())},
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "bombe.xlsx" in page and "bombe de décompression" in page
    assert "Traceback" not in page
    assert ImportJob.objects.count() == 0


@pytest.mark.parametrize(
    ("shown", "total", "text"),
    [
        (1, 1, "Afficher l’avertissement"),
        (3, 3, "Afficher les 3 avertissements un par un"),
        (100, 250, "Afficher un par un les 100 premiers des 250 avertissements"),
    ],
)
def test_the_warnings_toggle_agrees_in_number_and_says_when_it_shows_only_the_first(
    shown, total, text
):
    from django.template.loader import render_to_string
    from django.utils import translation

    sample = [{"row": i + 2, "column": "tel", "message": "x"} for i in range(shown)]
    context = {
        "summary": {"warnings": total},
        "warning_groups": [{"column": "tel", "example": "x", "count": total, "rows": [2]}],
        "warnings_sample": sample,
    }
    with translation.override("fr"):
        html = render_to_string("imports/_status.html", context)
    assert text in html


FRENCH_FILE = "email;tel;commentaire\na@x.fr;06 12;" + "x" * 100_000 + "\nb@x.fr;0612345678;ok\n"


def french_import(client, **headers):
    """An import started by a user whose page was in French."""
    client.post(
        reverse("imports:upload"),
        {"kind": "contacts", "file": SimpleUploadedFile("clients.csv", FRENCH_FILE.encode())},
        HTTP_ACCEPT_LANGUAGE="fr",
    )
    job = ImportJob.objects.get()
    client.post(
        reverse("imports:preview", args=[job.pk]), mapping_post(job), HTTP_ACCEPT_LANGUAGE="fr"
    )
    job.refresh_from_db()
    return job


def test_the_warnings_download_holds_each_warning_with_the_full_original_cell(marketer_client):
    job = french_import(marketer_client)
    assert (job.summary["created"], job.summary["warnings"]) == (2, 2)

    page = marketer_client.get(reverse("imports:detail", args=[job.pk])).content.decode()
    assert reverse("imports:warnings", args=[job.pk]) in page
    download = marketer_client.get(reverse("imports:warnings", args=[job.pk]))
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith('attachment; filename="clients-warnings.csv"')
    assert download["Cache-Control"] == "private, no-store"
    text = b"".join(download.streaming_content).decode("utf-8-sig")
    lines = list(csv.DictReader(io.StringIO(text), delimiter=";"))
    # Written in the language of who ran the import, like the rejected rows.
    assert [(line["ligne"], line["colonne"]) for line in lines] == [
        ("2", "tel"),
        ("2", "commentaire"),
    ]
    assert lines[0]["avertissement"].startswith("numéro de téléphone illisible")
    assert lines[0]["valeur d’origine"] == "06 12"
    assert lines[1]["valeur d’origine"] == "x" * 100_000


def test_a_viewer_can_neither_download_the_warnings_nor_see_the_link(viewer_client, tmp_path):
    from django.utils import translation

    from fidele.imports.services import import_file

    path = tmp_path / "clients.csv"
    path.write_text(FRENCH_FILE)
    with translation.override("fr"):
        import_file(kind="contacts", path=path)
    job = ImportJob.objects.get()
    assert job.summary["warnings_file"]
    assert viewer_client.get(reverse("imports:warnings", args=[job.pk])).status_code == 403
    page = viewer_client.get(reverse("imports:detail", args=[job.pk])).content.decode()
    assert reverse("imports:warnings", args=[job.pk]) not in page


def test_the_warnings_download_serves_only_files_under_the_imports_directory(
    marketer_client, owner, tmp_path
):
    secret = tmp_path / "secret.csv"
    secret.write_text("x")
    job = ImportJob.objects.create(
        kind="contacts",
        original_name="a.csv",
        stored_path="/x",
        status="done",
        summary={"warnings": 1, "warnings_file": str(secret)},
        created_by=owner,
    )
    assert marketer_client.get(reverse("imports:warnings", args=[job.pk])).status_code == 404
    job.summary = {"warnings": 0}
    job.save()
    assert marketer_client.get(reverse("imports:warnings", args=[job.pk])).status_code == 404


def test_the_warnings_of_an_import_run_in_french_read_in_english_on_an_english_page(
    marketer_client,
):
    job = french_import(marketer_client)

    marketer_client.post(reverse("set_language"), {"language": "en", "next": "/"})
    english = marketer_client.get(reverse("imports:detail", args=[job.pk])).content.decode()
    assert "unreadable phone number “06 12” (kept aside)" in unescape(english)
    assert "cut to 10,000 characters (the cell held 100,000)" in unescape(english)
    assert "illisible" not in english and "coupée" not in english

    marketer_client.post(reverse("set_language"), {"language": "fr", "next": "/"})
    french = unescape(
        marketer_client.get(reverse("imports:detail", args=[job.pk])).content.decode()
    )
    assert "numéro de téléphone illisible" in french
    assert "coupée à 10\u202f000 caractères (la cellule en contenait 100\u202f000)" in french


def test_a_summary_stored_before_warnings_kept_their_source_still_shows_them(viewer_client, owner):
    job = ImportJob.objects.create(
        kind="contacts",
        original_name="a.csv",
        stored_path="/x",
        status="done",
        summary={
            "rows": 1,
            "warnings": 1,
            "warning_groups": [
                {"column": "tel", "message": "m", "example": "ancien message", "count": 1}
            ],
            "warnings_sample": [{"row": 2, "column": "tel", "message": "ancien message"}],
        },
        created_by=owner,
    )
    page = viewer_client.get(reverse("imports:detail", args=[job.pk])).content.decode()
    assert page.count("ancien message") == 2


def test_the_progress_of_one_row_read_agrees_in_number(viewer_client, owner):
    job = ImportJob.objects.create(
        kind="contacts",
        original_name="a.csv",
        stored_path="/x",
        status="running",
        rows_total=200,
        rows_done=1,
        created_by=owner,
    )
    fragment = viewer_client.get(reverse("imports:progress", args=[job.pk])).content.decode()
    assert "1 ligne lue" in fragment


def test_an_import_is_signed_with_its_users_name_as_campaigns_are(viewer_client, owner):
    owner.first_name, owner.last_name = "Léa", "Martin"
    owner.save()
    job = ImportJob.objects.create(
        kind="contacts", original_name="a.csv", stored_path="/x", status="done", created_by=owner
    )
    ImportJob.objects.create(kind="contacts", original_name="b.csv", stored_path="/y")

    listed = viewer_client.get(reverse("imports:list")).content.decode()
    detail = viewer_client.get(reverse("imports:detail", args=[job.pk])).content.decode()

    assert "Léa Martin" in listed and ">terminal<" in listed
    assert "<dd>Léa Martin</dd>" in detail


def test_a_file_without_known_columns_is_explained_in_the_language_of_who_reads_it(
    marketer_client, fixture_file
):
    from django.utils import translation

    from fidele.imports.services import import_file

    with translation.override("fr"):
        summary = import_file(kind="contacts", path=fixture_file("no_known_columns.csv"))
    assert summary["error"].startswith("Aucune colonne ne contient")

    url = reverse("imports:detail", args=[summary["import_id"]])
    marketer_client.cookies["django_language"] = "en"
    assert "No column holds an email" in unescape(marketer_client.get(url).content.decode())
