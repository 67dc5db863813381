from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from fidele.imports.normalize import (
    normalise_bool,
    normalise_civility,
    normalise_country,
    normalise_date,
    normalise_decimal,
    normalise_postal_code,
)


@pytest.mark.parametrize(
    ("raw", "date"),
    [
        ("14/07/1975", dt.date(1975, 7, 14)),
        ("14/07/75", dt.date(1975, 7, 14)),
        ("1/2/2003", dt.date(2003, 2, 1)),
        ("14.07.1975", dt.date(1975, 7, 14)),
        ("1975-07-14", dt.date(1975, 7, 14)),
        ("1975-07-14 00:00:00", dt.date(1975, 7, 14)),
    ],
)
def test_dates_are_read_day_first_or_iso(raw, date):
    assert normalise_date(raw) == (date, None)


def test_an_impossible_date_is_left_empty_with_a_warning():
    value, problem = normalise_date("31/02/1980")
    assert value is None
    assert "impossible" in problem


@pytest.mark.parametrize("raw", ["oui", "Oui", "O", "yes", "Y", "1", "true", "x", "X", "vrai"])
def test_yes_in_french_and_english(raw):
    assert normalise_bool(raw) == (True, None)


@pytest.mark.parametrize("raw", ["non", "NON", "n", "no", "0", "false", "faux"])
def test_no_in_french_and_english(raw):
    assert normalise_bool(raw) == (False, None)


def test_an_unclear_yes_no_is_reported():
    value, problem = normalise_bool("peut-être")
    assert value is None and problem


@pytest.mark.parametrize(
    ("raw", "civility"),
    [
        ("M.", "M"),
        ("Monsieur", "M"),
        ("Mr", "M"),
        ("Mme", "Mme"),
        ("Madame", "Mme"),
        ("Mlle", "Mme"),
    ],
)
def test_titles(raw, civility):
    assert normalise_civility(raw) == (civility, None)


@pytest.mark.parametrize(
    ("raw", "number"),
    [
        ("1 234,50", Decimal("1234.50")),
        ("1\u202f234,50\u00a0€", Decimal("1234.50")),
        ("12,5 €", Decimal("12.5")),
        ("1.234,50", Decimal("1234.50")),
        ("1,234.50", Decimal("1234.50")),
        ("12.50", Decimal("12.50")),
        ("-3", Decimal("-3")),
        ("(3,00)", Decimal("-3.00")),
    ],
)
def test_french_and_english_amounts(raw, number):
    assert normalise_decimal(raw) == (number, None)


def test_a_non_number_is_reported():
    assert normalise_decimal("douze")[0] is None


def test_countries_by_french_or_english_name_or_code():
    assert normalise_country("Belgique")[0] == "BE"
    assert normalise_country("Germany")[0] == "DE"
    assert normalise_country("fr")[0] == "FR"


def test_french_postal_codes_get_back_the_zero_excel_dropped():
    assert normalise_postal_code("1000", "FR") == "01000"
    assert normalise_postal_code("1000", "BE") == "1000"
    assert normalise_postal_code("1000", "") == "1000"
