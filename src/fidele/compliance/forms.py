from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


class SuppressionAddForm(forms.Form):
    # A plain text field: the service's email-validator explains a bad address.
    email = forms.CharField(
        label=_("Email address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )
    note = forms.CharField(
        label=_("Why (kept in the audit log)"),
        max_length=500,
        required=False,
        help_text=_("For example: asked by phone on 12/11 not to receive any more emails."),
    )
