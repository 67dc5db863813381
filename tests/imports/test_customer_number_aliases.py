"""One person under two customer numbers (issue 8, item 1): one contact keeps both numbers."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation

from fidele.commerce.models import Order
from fidele.contacts.models import Contact, CustomerNumberAlias
from fidele.contacts.selectors import contacts_filtered
from fidele.imports.services import import_file

pytestmark = pytest.mark.django_db


def run(path, kind="contacts", **kwargs):
    return import_file(kind=kind, path=path, **kwargs)


def rejected_rows(summary):
    with open(summary["rejected_file"], encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle, delimiter=";"))


def aliases_of(contact):
    return list(contact.customer_number_aliases.values_list("number", flat=True))


def test_one_email_with_two_customer_numbers_is_one_contact_with_both_numbers(write_file):
    summary = run(
        write_file("email;n° client;prénom;ville\na@x.fr;C1;Anne;\nb@x.fr;C7;;\na@x.fr;C2;;Agen\n")
    )

    assert {k: summary[k] for k in ("rows", "created", "merged", "rejected")} == {
        "rows": 3,
        "created": 2,
        "merged": 1,
        "rejected": 0,
    }
    anne = Contact.objects.get(email="a@x.fr")
    assert (anne.external_id, aliases_of(anne)) == ("C1", ["C2"])
    assert (anne.first_name, anne.city) == ("Anne", "Agen")  # the second row filled a blank
    assert summary["merges_to_review"] == 1
    assert summary["merges_to_review_sample"] == [
        {"row": 4, "email": "a@x.fr", "number": "C1", "other_number": "C2", "contact_id": anne.pk}
    ]


def test_a_value_of_the_second_card_that_differs_is_said_in_a_warning_not_dropped(write_file):
    summary = run(
        write_file(
            "email;n° client;commentaire;ville\n"
            "a@x.fr;C1;Cliente fidèle;Agen\n"
            "a@x.fr;C2;Deuxième fiche;Nérac\n"
        )
    )

    anne = Contact.objects.get()
    assert anne.city == "Agen"
    # Notes are joined, as a merge joins them: nothing of the second card's is lost.
    assert anne.notes == "Cliente fidèle\n\nDeuxième fiche"
    assert [(w["row"], w["column"], w["message"]) for w in summary["warnings_sample"]] == [
        (3, "ville", "not kept: the contact already has “Agen”")
    ]
    with open(summary["warnings_file"], encoding="utf-8-sig", newline="") as handle:
        [warning] = list(csv.reader(handle, delimiter=";"))[1:]
    assert warning[-1] == "Nérac"


def test_rows_of_one_person_are_folded_by_the_rules_of_a_merge(write_file):
    """The address is kept as one block (no street of one row with the town of the other), a
    name written with its accents wins over capitals, the earlier "client since" is kept."""
    run(
        write_file(
            "email;prénom;nom;adresse;cp;ville;client depuis\n"
            "a@x.fr;HELENE;DUPRE;;24100;Bergerac;03/05/2020\n"
            "a@x.fr;Hélène;Dupré;3 rue Neuve;33000;Bordeaux;01/02/2015\n"
        )
    )

    helene = Contact.objects.get()
    assert (helene.first_name, helene.last_name) == ("Hélène", "Dupré")
    assert (helene.address, helene.postal_code, helene.city) == ("", "24100", "Bergerac")
    assert helene.joined_on == dt.date(2015, 2, 1)


def test_three_numbers_and_a_row_with_only_the_second_number_reach_one_contact(write_file):
    summary = run(
        write_file(
            "email;n° client;ville\na@x.fr;C1;\na@x.fr;C2;\na@x.fr;C3;\n;C2;Agen\na@x.fr;C2;\n"
        )
    )

    assert (summary["created"], summary["merged"], summary["rejected"]) == (1, 4, 0)
    anne = Contact.objects.get()
    assert (anne.external_id, sorted(aliases_of(anne)), anne.city) == ("C1", ["C2", "C3"], "Agen")
    assert summary["merges_to_review"] == 2


def test_importing_the_same_file_again_adds_nothing(write_file):
    path = write_file("email;n° client\na@x.fr;C1\na@x.fr;C2\n")
    run(path)
    again = run(path)

    assert (again["created"], again["merged"], again["skipped"], again["rejected"]) == (0, 0, 2, 0)
    assert again["merges_to_review"] == 0
    assert CustomerNumberAlias.objects.count() == 1
    assert Contact.objects.get().external_id == "C1"


def test_a_stored_contact_met_under_a_new_number_keeps_its_number_and_gains_the_new_one(
    write_file,
):
    Contact.objects.create(email="a@x.fr", external_id="C1", first_name="Anne")
    summary = run(write_file("email;n° client;prénom\na@x.fr;C2;Annie\n"), update=True)

    assert (summary["merged"], summary["updated"], summary["rejected"]) == (1, 0, 0)
    anne = Contact.objects.get()
    assert (anne.external_id, aliases_of(anne), anne.first_name) == ("C1", ["C2"], "Annie")
    assert summary["merges_to_review_sample"][0]["number"] == "C1"


def test_an_update_under_the_other_number_does_not_replace_the_first_number(write_file):
    Contact.objects.create(email="a@x.fr", external_id="C1")
    run(write_file("email;n° client\na@x.fr;C2\n"))
    summary = run(write_file("n° client;ville\nC2;Agen\n"), update=True)

    assert summary["updated"] == 1
    anne = Contact.objects.get()
    assert (anne.external_id, aliases_of(anne), anne.city) == ("C1", ["C2"], "Agen")


def test_an_email_of_one_contact_with_the_other_number_of_another_is_a_conflict(write_file):
    anne = Contact.objects.create(email="a@x.fr", external_id="C1")
    bob = Contact.objects.create(email="b@x.fr", external_id="C5")
    CustomerNumberAlias.objects.create(contact=bob, number="C6")

    summary = run(write_file("email;n° client;ville\na@x.fr;C6;Agen\n"), update=True)

    assert (summary["rejected"], summary["merged"], summary["updated"]) == (1, 0, 0)
    assert "conflict" in rejected_rows(summary)[0]["reason"]
    anne.refresh_from_db()
    assert (anne.city, aliases_of(anne), aliases_of(bob)) == ("", [], ["C6"])


def test_a_conflict_names_both_customers_as_the_shop_knows_them_not_by_database_ids(
    write_file,
):
    Contact.objects.create(email="gerard@x.fr", external_id="CLI-1", first_name="Gérard")
    Contact.objects.create(
        email="andre@x.fr", external_id="CLI-2", first_name="André", last_name="Picard"
    )

    with translation.override("fr"):
        summary = run(write_file("email;n° client\ngerard@x.fr;CLI-2\n"))

    assert rejected_rows(summary)[0]["motif"] == (
        "conflit : gerard@x.fr appartient à Gérard (CLI-1) mais le numéro client CLI-2 "
        "à André Picard (andre@x.fr)"
    )


def test_a_second_number_already_used_by_another_email_in_the_file_is_a_conflict(write_file):
    summary = run(write_file("email;n° client\na@x.fr;C1\nb@x.fr;C2\na@x.fr;C2\n"))

    assert (summary["created"], summary["rejected"]) == (2, 1)
    assert rejected_rows(summary)[0]["row"] == "4"
    assert CustomerNumberAlias.objects.count() == 0


def test_a_new_email_under_a_stored_other_number_is_a_conflict_not_a_second_contact(write_file):
    anne = Contact.objects.create(email="a@x.fr", external_id="C1")
    CustomerNumberAlias.objects.create(contact=anne, number="C2")

    summary = run(write_file("email;n° client\nnew@x.fr;C2\n"))

    assert (summary["created"], summary["rejected"]) == (0, 1)
    assert Contact.objects.count() == 1


def test_orders_filed_under_either_number_reach_the_contact(write_file):
    run(write_file("email;n° client\na@x.fr;C1\na@x.fr;C2\n"))
    summary = run(
        write_file(
            "n° commande;n° client;date;montant\nA-1;C1;12/03/2024;10\nA-2;C2;13/03/2024;20\n"
        ),
        kind="orders",
    )

    assert (summary["created"], summary["rejected"]) == (2, 0)
    anne = Contact.objects.get()
    assert set(Order.objects.values_list("contact_id", flat=True)) == {anne.pk}


def test_the_other_number_finds_the_contact_in_the_search():
    anne = Contact.objects.create(email="a@x.fr", external_id="C1")
    CustomerNumberAlias.objects.create(contact=anne, number="C2")
    Contact.objects.create(email="c2@x.fr")  # an email starting with the searched text

    assert anne in contacts_filtered(params={"q": "C2"})
    assert contacts_filtered(params={"q": "C2"}).filter(pk=anne.pk).count() == 1


def test_a_contact_cannot_take_a_number_that_is_another_contacts_other_number():
    anne = Contact.objects.create(email="a@x.fr", external_id="C1")
    CustomerNumberAlias.objects.create(contact=anne, number="C2")
    bob = Contact(email="b@x.fr", external_id="C2")

    with pytest.raises(ValidationError) as error:
        bob.full_clean()
    assert "external_id" in error.value.message_dict


def test_the_import_summary_lists_the_merge_to_review_with_a_link_to_the_contact(
    marketer_client, write_file
):
    summary = run(write_file("email;n° client\na@x.fr;C1\na@x.fr;C2\n"))
    anne = Contact.objects.get()

    page = marketer_client.get(reverse("imports:detail", args=[summary["import_id"]]))

    text = page.content.decode()
    assert "1 fusion à vérifier" in text
    assert reverse("web:contact_detail", args=[anne.pk]) in text
    assert ">C1<" in text and ">C2<" in text


def test_the_merges_to_review_read_as_labelled_lines_on_a_phone(marketer_client, write_file):
    summary = run(write_file("email;n° client\na@x.fr;C1\na@x.fr;C2\n"))

    page = marketer_client.get(reverse("imports:detail", args=[summary["import_id"]]))

    merges = page.content.decode().split('id="merges-title"')[1].split("</table>")[0]
    assert '<table class="table responsive">' in merges
    assert 'data-label="Autre numéro">C2<' in merges


def test_the_contact_page_shows_the_other_customer_numbers(marketer_client):
    anne = Contact.objects.create(email="a@x.fr", external_id="C1")
    CustomerNumberAlias.objects.create(contact=anne, number="C2")

    page = marketer_client.get(reverse("web:contact_detail", args=[anne.pk])).content.decode()

    assert "Autres numéros client" in page and "C2" in page


def test_the_command_line_summary_names_the_merges_to_review(write_file):
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "import",
        "contacts",
        str(write_file("email;n° client\na@x.fr;C1\na@x.fr;C2\n")),
        stdout=out,
        stderr=err,
    )

    assert "to review      1" in out.getvalue()
    assert "row 3: a@x.fr kept customer number C1, C2 added" in err.getvalue()


def test_a_column_of_other_numbers_adds_them_except_one_that_is_another_contacts(write_file):
    Contact.objects.create(email="old@x.fr", external_id="C9")
    summary = run(
        write_file(
            "email;n° client;autres numéros client\na@x.fr;C1;C2, C3\nb@x.fr;C5;C1\nc@x.fr;C6;C9\n"
        )
    )

    assert (summary["created"], summary["rejected"]) == (3, 0)
    assert sorted(aliases_of(Contact.objects.get(email="a@x.fr"))) == ["C2", "C3"]
    assert aliases_of(Contact.objects.get(email="b@x.fr")) == []
    assert aliases_of(Contact.objects.get(email="c@x.fr")) == []
    warned = {(w["row"], w["column"]) for w in summary["warnings_sample"]}
    assert warned == {(3, "autres numéros client"), (4, "autres numéros client")}


def test_the_column_of_other_numbers_imported_again_changes_nothing(write_file):
    path = write_file("email;n° client;autres numéros client\na@x.fr;C1;C2\n")
    run(path)
    again = run(path)

    assert (again["skipped"], again["warnings"]) == (1, 0)
    assert aliases_of(Contact.objects.get()) == ["C2"]


def test_the_contacts_history_says_where_its_other_number_came_from(marketer_client, write_file):
    run(write_file("email;n° client\na@x.fr;C1\na@x.fr;C2\n"))
    anne = Contact.objects.get()

    page = marketer_client.get(reverse("web:contact_detail", args=[anne.pk])).content.decode()

    assert "autre numéro client" in page.lower() and "C2" in page
