from __future__ import annotations

import pytest
from django.utils import translation

from fidele.imports.exports import SPREADSHEET, export_columns, export_header
from fidele.imports.mapping import (
    apply_overrides,
    header_key,
    parse_overrides,
    propose_mapping,
    validate_mapping,
)


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("N° client", "external_id"),
        ("Numéro client", "external_id"),
        ("CODE CLIENT", "external_id"),
        ("customer id", "external_id"),
        ("Civilité", "civility"),
        ("Prénom", "first_name"),
        ("NOM", "last_name"),
        ("E-mail", "email"),
        ("Email", "email"),
        ("Courriel", "email"),
        ("Adresse e-mail", "email"),
        ("Téléphone", "phone"),
        ("Tél.", "phone"),
        ("Portable", "phone"),
        ("GSM", "phone"),
        ("Adresse", "address"),
        ("Code postal", "postal_code"),
        ("CP", "postal_code"),
        ("Ville", "city"),
        ("Pays", "country"),
        ("Langue", "language"),
        ("Date de naissance", "birth_date"),
        ("Date d'inscription", "joined_on"),
        ("Client depuis", "joined_on"),
        ("Newsletter", "consent"),
        ("Opt-in", "consent"),
        ("Consentement", "consent"),
        ("Tags", "tags"),
        ("Étiquettes", "tags"),
        ("Commentaire", "notes"),
        ("Remarques", "notes"),
        ("Source", "source"),
    ],
)
def test_french_and_english_headers_map_to_contact_fields(header, field):
    assert propose_mapping("contacts", [header]) == [field]


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("N° commande", "order_id"),
        ("order_id", "order_id"),
        ("Date commande", "ordered_at"),
        ("Référence", "sku"),
        ("Produit", "product"),
        ("Catégorie", "category"),
        ("Quantité", "quantity"),
        ("Prix unitaire", "unit_price"),
        ("Montant TTC", "total"),
        ("Total TTC", "total"),
        ("Canal", "channel"),
        ("customer_email", "customer_email"),
        ("email", "customer_email"),
        ("customer_external_id", "customer_external_id"),
        ("external_id", "customer_external_id"),
    ],
)
def test_order_headers_map_to_order_fields(header, field):
    assert propose_mapping("orders", [header]) == [field]


def test_header_comparison_ignores_accents_case_and_punctuation():
    assert header_key("  Numéro-Client ") == header_key("numero client")


def test_unknown_columns_become_custom_attributes():
    assert propose_mapping("contacts", ["Email", "Région", "Vin préféré"]) == [
        "email",
        "attr.region",
        "attr.vin_prefere",
    ]


def test_a_fidele_export_reads_back_with_its_attribute_keys():
    header = ["external_id", "email", "attr.vin_prefere", "attr.canal_acquisition"]
    assert propose_mapping("contacts", header) == [
        "external_id",
        "email",
        "attr.vin_prefere",
        "attr.canal_acquisition",
    ]


def test_a_second_column_for_the_same_field_is_kept_as_an_attribute():
    assert propose_mapping("contacts", ["Tél. fixe", "Portable"]) == ["phone", "attr.portable"]


def test_an_explicit_mapping_overrides_the_guess():
    header = ["Courriel", "Code"]
    mapping = propose_mapping("contacts", header)
    result = apply_overrides(
        "contacts", header, mapping, parse_overrides(["Code=external_id", "Courriel=ignore"])
    )
    assert result == ["", "external_id"]


def test_an_override_naming_a_missing_column_is_refused():
    with pytest.raises(ValueError, match="does not have"):
        apply_overrides("contacts", ["Email"], ["email"], {"phone": "phone"})


def test_an_override_naming_an_unknown_field_is_refused():
    with pytest.raises(ValueError, match="unknown field"):
        apply_overrides("contacts", ["Email"], ["email"], {"email": "shoe_size"})


def test_a_mapping_giving_one_field_to_two_columns_is_refused():
    with pytest.raises(ValueError, match="two columns"):
        validate_mapping("contacts", ["A", "B"], ["email", "email"])


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("labelled", [False, True])
def test_the_headers_of_a_labelled_export_map_back_to_their_fields(language, labelled):
    # Fidèle's own Excel (France) and workbook exports come back through this mapping, with
    # a custom field headed as its file headed it, or by its key.
    from fidele.contacts.models import AttributeLabel

    if labelled:
        AttributeLabel.objects.create(key="vin_prefere", label="Vin préféré")
        AttributeLabel.objects.create(key="newsletter", label="Newsletter")
    columns = export_columns(["newsletter", "vin_prefere"], SPREADSHEET)
    with translation.override(language):
        header = export_header(columns, SPREADSHEET)
    assert ("Vin préféré" in header) is labelled
    assert propose_mapping("contacts", header) == columns
