"""The segment builder's form (name, description, the rule as JSON, which the builder's script
writes) and the bulk actions' form."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy

from fidele.contacts.models import MailingList, Tag
from fidele.segments.errors import MAX_JSON_BYTES, RuleError
from fidele.segments.rules import rule_check, rule_parse

EXAMPLE_RULE = {"all": [{"field": "city", "op": "eq", "value": "Bergerac"}]}


class SegmentForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=120)
    description = forms.CharField(
        label=gettext_lazy("Description"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    rules = forms.CharField(
        label=gettext_lazy("The rule as JSON"),
        max_length=MAX_JSON_BYTES,
        widget=forms.Textarea(attrs={"rows": 8, "class": "code", "spellcheck": "false"}),
        help_text=gettext_lazy(
            "Written by the builder above; scripts and the command line read the same form."
        ),
    )

    def clean_rules(self) -> Any:
        try:
            rule = rule_parse(self.cleaned_data["rules"])
            rule_check(rule)
        except RuleError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return rule


def rules_text(rules: Any) -> str:
    return json.dumps(rules, ensure_ascii=False, indent=2)


class BulkForm(forms.Form):
    ACTIONS = [
        ("tag", gettext_lazy("Add a tag")),
        ("untag", gettext_lazy("Remove a tag")),
        ("subscribe", gettext_lazy("Subscribe to a list")),
        ("delete", gettext_lazy("Delete these contacts")),
    ]
    action = forms.ChoiceField(label=gettext_lazy("Action"), choices=ACTIONS)
    tag = forms.ModelChoiceField(
        label=gettext_lazy("Tag"), queryset=Tag.objects.order_by("name"), required=False
    )
    mailing_list = forms.ModelChoiceField(
        label=gettext_lazy("List"), queryset=MailingList.objects.order_by("name"), required=False
    )
    how = forms.CharField(
        label=gettext_lazy("How did these people agree to receive this list's emails?"),
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=gettext_lazy(
            "Kept as the proof of their consent (for example: “ticked the box of the paper "
            "form at the shop, March 2025”). Contacts already on the list, unsubscribed ones "
            "included, are left as they are."
        ),
    )
    confirm = forms.BooleanField(
        label=gettext_lazy("I confirm: this applies to every contact of the segment now"),
        required=True,
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        action = data.get("action")
        if action in ("tag", "untag") and not data.get("tag"):
            self.add_error("tag", gettext_lazy("Choose a tag."))
        if action == "subscribe":
            if not data.get("mailing_list"):
                self.add_error("mailing_list", gettext_lazy("Choose a list."))
            if not (data.get("how") or "").strip():
                self.add_error("how", gettext_lazy("Say how these people agreed."))
        return data


class FreezeForm(forms.Form):
    tag_name = forms.CharField(label=gettext_lazy("Name of the new tag"), max_length=80)
