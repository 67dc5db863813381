from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from fidele.contacts.fields import FORM_FIELDS
from fidele.contacts.models import Contact, MailingList, Tag
from fidele.contacts.normalize import (
    InvalidValue,
    color_clean,
    email_clean,
    phone_clean,
)


class ContactForm(forms.ModelForm):
    """Parses and validates; the service normalises again and writes (with its audit entry)."""

    # A plain text field so that email-validator, not Django's looser regex, explains the error.
    email = forms.CharField(
        label=_("Email"),
        required=False,
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )

    class Meta:
        model = Contact
        fields = list(FORM_FIELDS)
        widgets = {
            "phone": forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
            "birth_date": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "joined_on": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "notes": forms.Textarea(attrs={"rows": 3}),
        }
        help_texts = {
            "phone": _("French numbers can be typed as 06 12 34 56 78; others with +country code."),
            "external_id": _("The customer number in your till or web shop, if any."),
            "country": _("Two-letter code, e.g. FR, BE, CH."),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Erasure is a compliance procedure, not a status one picks in a form.
        status = self.fields["status"]
        current = self.instance.status if self.instance.pk else None
        status.choices = [
            (value, label)
            for value, label in Contact.Status.choices
            if value != Contact.Status.ERASED or value == current
        ]
        for name in ("birth_date", "joined_on"):
            self.fields[name].input_formats = ["%Y-%m-%d", "%d/%m/%Y"]
        # Each field carries a hidden copy of the value it was opened with, so that
        # `changed_data` says what this user changed, not what differs from the contact as it is
        # when they save (someone else may have saved since). A post without the copies (a
        # page opened before they existed, a script) is compared with the contact as it is.
        self.knows_opened = bool(self.instance.pk) and (
            not self.is_bound
            or any(self.add_initial_prefix(name) in self.data for name in self.fields)
        )
        if self.knows_opened:
            for field in self.fields.values():
                field.show_hidden_initial = True

    def clean_email(self) -> str | None:
        try:
            return email_clean(self.cleaned_data.get("email"))
        except InvalidValue as exc:
            raise forms.ValidationError(str(exc), code="invalid") from exc

    def clean_phone(self) -> str:
        try:
            return phone_clean(self.cleaned_data.get("phone"))
        except InvalidValue as exc:
            raise forms.ValidationError(str(exc), code="invalid") from exc

    def clean_external_id(self) -> str | None:
        return (self.cleaned_data.get("external_id") or "").strip() or None

    def clean_country(self) -> str:
        return (self.cleaned_data.get("country") or "").strip().upper()

    def clean(self):
        cleaned = super().clean()
        if not any(
            cleaned.get(name) for name in ("email", "external_id", "first_name", "last_name")
        ):
            raise forms.ValidationError(
                _("Give at least an email, a customer number or a name."), code="empty"
            )
        return cleaned

    def opened_values(self) -> dict[str, Any] | None:
        """The fields this user changed, with the values they had when the form was opened
        (None when the post did not say)."""
        if not self.knows_opened:
            return None
        opened = {}
        for name in self.changed_data:
            field = self.fields[name]
            raw = field.hidden_widget().value_from_datadict(
                self.data, self.files, self.add_initial_prefix(name)
            )
            try:
                opened[name] = field.to_python(raw)
            except forms.ValidationError:
                opened[name] = raw
        return opened

    def changes(self) -> dict[str, Any]:
        """The cleaned values of the fields this user changed."""
        return {name: self.cleaned_data[name] for name in self.changed_data}

    def after_conflict(self, contact: Contact, conflicts: dict[str, Any]) -> ContactForm:
        """The form again after EditConflict, nothing lost: this user's values where they
        changed something, the contact's current values elsewhere, the current values as the
        new "opened with" (saving again then keeps this user's values on purpose), and the
        current value on each conflicting field."""
        current = ContactForm(instance=contact)
        data = self.data.copy()
        changed = set(self.changed_data)
        for name, field in current.fields.items():
            value = field.hidden_widget().format_value(current[name].value()) or ""
            data[self.add_initial_prefix(name)] = value
            if name not in changed:
                data[self.add_prefix(name)] = value
        form = ContactForm(data, instance=Contact.objects.get(pk=contact.pk))
        form.is_valid()
        form.add_error(
            None,
            _("Nothing was saved: someone else changed the same fields meanwhile (marked below)."),
        )
        for name in conflicts:
            shown = current[name].value()
            form.add_error(
                name,
                forms.ValidationError(
                    _(
                        "Someone else changed this field since you opened the form: it is now "
                        "“%(value)s”. Save again to replace it with yours."
                    ),
                    params={"value": shown if shown not in (None, "") else "—"},
                    code="conflict",
                ),
            )
        return form


class TagForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=80)
    color = forms.CharField(
        label=_("Colour"),
        max_length=7,
        required=False,
        initial="#6b7280",
        widget=forms.TextInput(attrs={"type": "color"}),
    )

    def clean_color(self) -> str:
        try:
            return color_clean(self.cleaned_data.get("color"))
        except InvalidValue as exc:
            raise forms.ValidationError(str(exc)) from exc


class MailingListForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    description = forms.CharField(
        label=_("Description"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("What subscribers of this list receive, in a sentence."),
    )
    double_opt_in = forms.BooleanField(
        label=_("Double opt-in"),
        required=False,
        help_text=_("New sign-ups must confirm their address by clicking a link."),
    )
    tracking = forms.BooleanField(
        label=_("Measure opens and clicks"),
        required=False,
        initial=True,
        help_text=_(
            "Untick to send this list's campaigns without open pixel or tracked links (their "
            "reports will then show no opens or clicks)."
        ),
    )


class ContactTagForm(forms.Form):
    tag = forms.ModelChoiceField(label=_("Tag"), queryset=Tag.objects.order_by("name"))


class ContactSubscribeForm(forms.Form):
    mailing_list = forms.ModelChoiceField(
        label=_("List"), queryset=MailingList.objects.order_by("name")
    )
    consent = forms.BooleanField(
        label=_("I confirm this person agreed to receive this list's emails."),
        required=True,
    )
    note = forms.CharField(
        label=_("How was consent given? (optional)"),
        required=False,
        max_length=500,
        help_text=_("e.g. signed the paper form in the shop on 12/03."),
    )
