"""The issue's "done means", in a real browser: a newcomer logs in, sees the shop in French,
imports a messy French Excel export, reads the summary with its rejected rows, and exports to
Excel (France)."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.management import call_command

from fidele.contacts.models import Contact, MailingList, Subscription

pytestmark = pytest.mark.django_db(transaction=True)

# What Excel writes in France: cp1252, semicolons, French headers, dd/mm/yyyy, "oui"/"non",
# a quoted cell holding a newline and a semicolon, and the usual mistakes.
MESSY_EXPORT = (
    "N° client;Civilité;Prénom;Nom;E-mail;Téléphone;Adresse;CP;Ville;Date de naissance;"
    "Newsletter;Vin préféré\r\n"
    "C001;Mme;Hélène;Dupré;  Helene.Dupre@Exemple.FR ;06 12 34 56 78;"
    '"3 rue de l\'Église\r\nBât. B; 2e étage";24100;Bergerac;31/12/1970;oui;Pécharmant\r\n'
    "C002;M.;Jérôme;Lefèvre;jerome.lefevre@exemple.fr;05.53.00.00.00;;24000;Périgueux;"
    "31/02/1980;non;Monbazillac\r\n"
    "C003;Mme;Zoé;Marchand;zoe.marchand@@exemple;0612;;33000;Bordeaux;01/05/1990;oui;\r\n"
    "C001;Mme;Hélène;Dupré;helene.dupre@exemple.fr;;;;;;oui;\r\n"
    ";;;;;;;;;;;\r\n"
    'C005;M.;François;Noël;=HYPERLINK("http://evil.example");;;;;;oui;\r\n'
).encode("cp1252")


def test_a_newcomer_imports_a_messy_french_export_and_exports_the_result(
    page, live_server, owner, log_in, axe_violations, tmp_path, settings
):
    settings.IMPORTS_DIR = tmp_path / "imports"
    MailingList.objects.create(name="Newsletter")
    log_in(page, owner)
    assert page.locator("h1").first.inner_text() == "Vue d'ensemble"

    export_file = tmp_path / "clients Excel.csv"
    export_file.write_bytes(MESSY_EXPORT)
    page.goto(f"{live_server.url}/imports/")
    page.set_input_files("input[type=file]", str(export_file))
    page.get_by_role("button", name="Lire le fichier").click()

    # The preview says what was detected and reads the accents right.
    page.wait_for_url("**/preview/")
    assert "Windows (cp1252)" in page.content()
    assert page.get_by_role("cell", name="Hélène").first.is_visible()
    page.fill("input[name=list_name]", "Newsletter")
    # A list that does not exist yet is made only when asked for (a typo never makes one).
    page.get_by_label("Créer cette liste").check()
    page.get_by_role("button", name="Lancer l’import").click()

    # The background task runs in the worker, as it would after `make run`.
    call_command("db_worker", batch=True, startup_delay=False, queue_name="*", verbosity=0)
    page.wait_for_selector("text=Contacts créés", timeout=20_000)
    assert axe_violations(page) == []

    assert Contact.objects.count() == 2  # Hélène (merged with her second row) and Jérôme
    helene = Contact.objects.get(email="helene.dupre@exemple.fr")
    assert helene.phone == "+33612345678"
    assert helene.address == "3 rue de l'Église Bât. B; 2e étage"  # one line, as stored
    assert helene.attributes == {"vin_prefere": "Pécharmant"}
    assert Contact.objects.get(external_id="C002").birth_date is None  # 31/02 left empty
    assert Subscription.objects.filter(contact=helene, status="subscribed").exists()
    assert not Subscription.objects.filter(contact__external_id="C002").exists()  # said "non"

    with page.expect_download() as rejected:
        page.get_by_role("link", name="Télécharger les lignes rejetées (CSV)").click()
    rejected_text = rejected.value.path().read_text("utf-8-sig")
    # Given back as it came (semicolons) so that Excel opens it; the reason in the last column.
    rejected_rows = list(csv.DictReader(io.StringIO(rejected_text), delimiter=";"))
    assert {row["N° client"] for row in rejected_rows} == {"C003", "C005"}
    assert all(row["motif"] for row in rejected_rows)  # the columns it adds are in French too
    assert all(not row["E-mail"].startswith("=") for row in rejected_rows)

    def stat(label: str) -> str:
        return page.locator(f".stat:has(.stat-label:text-is('{label}')) .stat-value").inner_text()

    assert (stat("Lignes lues"), stat("Contacts créés"), stat("Fusionnés"), stat("Rejetés")) == (
        "5",  # the blank line is not a row
        "2",
        "1",
        "2",
    )

    # The export a French user gets without choosing: Excel (France), which Excel opens in
    # columns with the headers, dates and phones as the user writes them.
    page.goto(f"{live_server.url}/contacts/")
    page.get_by_role("link", name="Exporter…").click()
    page.wait_for_url("**/exports/contacts/")
    assert page.get_by_label("Excel (France)").is_checked()
    assert axe_violations(page) == []
    with page.expect_download() as exported:
        page.get_by_role("button", name="Télécharger").click()
    exported_text = exported.value.path().read_text("utf-8-sig")
    exported_rows = list(csv.DictReader(io.StringIO(exported_text), delimiter=";"))
    assert list(exported_rows[0])[:3] == ["Civilité", "Prénom", "Nom"]
    by_email = {row["E-mail"]: row for row in exported_rows}
    assert set(by_email) == {"helene.dupre@exemple.fr", "jerome.lefevre@exemple.fr"}
    assert by_email["helene.dupre@exemple.fr"]["Téléphone"] == "06 12 34 56 78"
    assert by_email["helene.dupre@exemple.fr"]["Date de naissance"] == "31/12/1970"
