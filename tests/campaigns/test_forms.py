"""The campaign forms' own checks."""

from fidele.campaigns import forms


def test_test_send_addresses_are_normalised_like_every_stored_address():
    form = forms.TestSendForm(data={"addresses": " Moi@Example.COM ; toi@example.fr"})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["addresses"] == ["moi@example.com", "toi@example.fr"]


def test_test_send_refuses_an_address_django_alone_would_accept():
    form = forms.TestSendForm(data={"addresses": "moi@localhost"})
    assert not form.is_valid()
    assert "moi@localhost" in str(form.errors["addresses"])
