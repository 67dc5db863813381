"""`fidele import`: the --json contract other tools rely on, and clear failures."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from fidele.contacts.models import Contact, Subscription

pytestmark = pytest.mark.django_db

CONTRACT = {"rows", "created", "updated", "merged", "rejected", "rejected_file", "seconds"}


def call(*args):
    out, err = StringIO(), StringIO()
    call_command("import", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_json_prints_one_object_with_the_contract_keys(fixture_file):
    out, _err = call("contacts", str(fixture_file("contacts_fr_cp1252.csv")), "--json")

    summary = json.loads(out)
    assert summary.keys() >= CONTRACT
    assert isinstance(summary["rows"], int) and isinstance(summary["seconds"], float)
    assert (summary["rows"], summary["created"], summary["merged"], summary["rejected"]) == (
        6,
        4,
        1,
        1,
    )
    assert summary["rejected_file"].endswith(".csv")


def test_json_gives_a_null_rejected_file_when_nothing_is_rejected(write_file):
    out, _err = call("contacts", str(write_file("email\na@x.fr\n")), "--json")
    assert json.loads(out)["rejected_file"] is None


def test_map_overrides_the_detected_mapping(write_file):
    path = write_file("Courriel;Ref\na@x.fr;77\n")
    call("contacts", str(path), "--map", "Ref=external_id", "--map", "courriel=email", "--json")
    assert Contact.objects.get().external_id == "77"


def test_list_and_consent_confirmed_subscribe_every_row(write_file):
    path = write_file("email\na@x.fr\nb@x.fr\n")
    call("contacts", str(path), "--list", "Clients", "--consent-confirmed", "--json")
    assert Subscription.objects.filter(mailing_list__name="Clients").count() == 2


def test_a_list_without_consent_fails_with_a_clear_message(write_file):
    with pytest.raises(CommandError, match="consent"):
        call("contacts", str(write_file("email\na@x.fr\n")), "--list", "Clients")
    assert Contact.objects.count() == 0


def test_a_missing_file_fails_with_a_clear_message(tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        call("contacts", str(tmp_path / "nope.csv"), "--json")


def test_a_bad_map_fails_with_a_clear_message(write_file):
    with pytest.raises(CommandError, match="COLUMN=field"):
        call("contacts", str(write_file("email\na@x.fr\n")), "--map", "nonsense")


def test_orders_print_the_same_shape(fixture_file):
    call("contacts", str(fixture_file("contacts_fr_cp1252.csv")), "--json")
    out, _err = call("orders", str(fixture_file("orders_lines_cp1252.csv")), "--json")
    summary = json.loads(out)
    assert summary.keys() >= CONTRACT
    assert (summary["created"], summary["rejected"]) == (2, 2)


def test_without_json_it_prints_a_readable_summary(fixture_file):
    out, _err = call("contacts", str(fixture_file("contacts_fr_cp1252.csv")))
    assert "created        4" in out
    assert "rejected rows" in out
