"""The one normalisation of emails and phones: fast paths checked against the reference
libraries, and the form wrappers that raise a message for the person typing."""

from __future__ import annotations

import random

import phonenumbers
import pytest
from email_validator import EmailNotValidError, validate_email

from fidele.contacts.normalize import (
    InvalidValue,
    color_clean,
    email_clean,
    email_domain_valid,
    normalise_email,
    normalise_phone,
    phone_clean,
)


def test_emails_are_trimmed_and_lower_cased():
    assert normalise_email("  Jean.DUPONT@Orange.FR ") == ("jean.dupont@orange.fr", None)


@pytest.mark.parametrize(
    "raw",
    [
        "jean@@orange.fr",
        "jean.orange.fr",
        "jean@orange",
        "jean@localhost",
        "a..b@x.fr",
        "jean@exemple.fr.",
    ],
)
def test_malformed_emails_come_back_with_a_reason(raw):
    value, problem = normalise_email(raw)
    assert value is None
    assert raw.strip() in problem


def test_the_fast_email_check_agrees_with_email_validator():
    rng = random.Random(7)
    alphabet = "abcz09.-_+@é"
    for _ in range(3000):
        raw = "".join(rng.choice(alphabet) for _ in range(rng.randint(3, 14)))
        try:
            expected = validate_email(raw, check_deliverability=False).normalized.lower()
        except EmailNotValidError:
            expected = None
        assert normalise_email(raw)[0] == expected, raw


def test_the_fast_domain_check_agrees_with_email_validator():
    rng = random.Random(11)
    alphabet = "abz09.-é"
    domains = ["orange.fr", "x.test", "a.local", "b.localhost", "c.onion", "gmail.con", "a--b.fr",
               "xn--caf-dma.fr", "1.2", "a.b1", "-a.fr", "a-.fr", "a" * 64 + ".fr"]  # fmt: skip
    domains += [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))) for _ in range(3000)
    ]
    for domain in domains:
        try:
            validate_email("a@" + domain, check_deliverability=False)
            expected = True
        except EmailNotValidError:
            expected = False
        assert email_domain_valid(domain) is expected, domain


@pytest.mark.parametrize(
    "raw", ["x@xn--caf-dma.example", "X@XN--CAF-DMA.example", "x@sub.xn--caf-dma.fr"]
)
def test_a_punycode_domain_is_spelt_like_the_same_domain_typed_in_unicode(raw):
    expected = validate_email(raw, check_deliverability=False).normalized.lower()
    assert normalise_email(raw) == (expected, None)
    assert "xn--" not in expected
    assert normalise_email("x@Café.example") == ("x@café.example", None)


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("06 12 34 56 78", "+33612345678"),
        ("06.12.34.56.78", "+33612345678"),
        ("+33 6 12 34 56 78", "+33612345678"),
        ("0033612345678", "+33612345678"),
        ("612345678", "+33612345678"),
        ("05 56 00 00 00", "+33556000000"),
        ("+32 2 555 12 12", "+3225551212"),
    ],
)
def test_phones_become_e164_with_france_as_default_region(raw, e164):
    assert normalise_phone(raw, "FR") == (e164, None)


def test_an_unreadable_phone_is_reported_not_guessed():
    value, problem = normalise_phone("06 12", "FR")
    assert value == ""
    assert "06 12" in problem


def test_the_fast_phone_path_agrees_with_phonenumbers():
    rng = random.Random(3)
    for _ in range(3000):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.choice([9, 10, 10, 10, 11])))
        raw = rng.choice(["{}", "+33{}", "0033{}"]).format(digits)
        try:
            number = phonenumbers.parse(raw, "FR")
            valid = phonenumbers.is_valid_number(number)
        except phonenumbers.NumberParseException:
            valid = False
        expected = (
            phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) if valid else ""
        )
        assert normalise_phone(raw, "FR")[0] == expected, raw


def test_email_is_trimmed_and_lower_cased():
    assert email_clean("  Marie.DUPONT@Example.FR ") == "marie.dupont@example.fr"


def test_an_empty_email_is_stored_as_absent():
    assert email_clean("   ") is None


@pytest.mark.parametrize("bad", ["marie@", "marie dupont@example.fr", "@example.fr", "a@b@c.fr"])
def test_a_malformed_email_is_refused(bad):
    with pytest.raises(InvalidValue):
        email_clean(bad)


@pytest.mark.parametrize(
    "typed", ["06 12 34 56 78", "06.12.34.56.78", "+33 6 12 34 56 78", "0033612345678"]
)
def test_a_french_phone_is_stored_in_e164(typed):
    assert phone_clean(typed) == "+33612345678"


def test_a_foreign_phone_keeps_its_country():
    assert phone_clean("+32 470 12 34 56") == "+32470123456"


@pytest.mark.parametrize("bad", ["12", "06 12", "not a phone"])
def test_an_impossible_phone_is_refused(bad):
    with pytest.raises(InvalidValue):
        phone_clean(bad)


def test_a_typed_email_gets_the_forms_message_not_the_imports_one():
    with pytest.raises(InvalidValue, match="marie.dupont@example.fr"):
        email_clean("marie@")


def test_a_phone_is_read_in_the_region_given():
    assert phone_clean("0470 12 34 56", "BE") == "+32470123456"


def test_a_colour_is_lower_cased_and_defaults_to_grey():
    assert color_clean("#1A2B3C") == "#1a2b3c"
    assert color_clean("") == "#6b7280"
    with pytest.raises(InvalidValue):
        color_clean("red")


def test_a_well_written_phone_that_does_not_exist_is_said_so_not_unreadable():
    from fidele.contacts.normalize import normalise_phone

    value, problem = normalise_phone("07 00 00 00 01", "FR")
    assert value == "" and problem.msgid.startswith("phone number “%(value)s” does not exist")
    value, problem = normalise_phone("06 12", "FR")
    assert value == "" and problem.msgid.startswith("unreadable phone number")
