from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from fidele.campaigns.layouts import layout_default
from fidele.campaigns.models import Campaign, Layout, Variant
from fidele.campaigns.rendering.compile import content_check, content_fingerprint
from fidele.campaigns.rendering.editors import richtext_sanitize
from fidele.campaigns.rendering.sandbox import TemplateProblem, layout_check
from fidele.contacts.models import MailingList
from fidele.contacts.normalize import normalise_email
from fidele.segments.models import Segment

# Where each rendered part's problems are shown in the form.
PART_FIELDS = {
    "subject": "subject",
    "preheader": "preheader",
    "body": "body",
    "text": "text_body",
    "layout": "layout",
}


def problem_message(problem: TemplateProblem) -> str:
    if problem.line:
        return _("Line %(line)s: %(message)s") % {"line": problem.line, "message": problem.message}
    return problem.message


def _layout_choice_label(layout: Layout) -> str:
    if layout.is_default:
        return _("%(name)s (default)") % {"name": layout.name}
    return layout.name


# The audience's many-to-many fields, saved by the services apart from the campaign's own.
AUDIENCE_FIELDS = ("lists", "exclude_lists", "segments", "exclude_segments")


class CampaignForm(forms.ModelForm):
    """The campaign editor: content, audience, tracking and the A/B test in one form. Nothing
    is saved (the view calls the services); `clean` renders every template against a sample
    contact so that errors appear, with their line, next to their field. What it found clean
    is handed to the services (`service_values`, `variants`) by fingerprint, so that a save
    compiles each template once."""

    lists = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Send to"),
        queryset=MailingList.objects.order_by("name"),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=gettext_lazy(
            "Subscribers of these lists; someone in several lists gets one message."
        ),
    )
    exclude_lists = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Except subscribers of"),
        queryset=MailingList.objects.order_by("name"),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    segments = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Only the members of"),
        queryset=Segment.objects.order_by("name"),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=gettext_lazy(
            "Segments narrow the lists' subscribers: a member of a segment who is not "
            "subscribed to one of the lists above receives nothing."
        ),
    )
    exclude_segments = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Except the members of"),
        queryset=Segment.objects.order_by("name"),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    variant_a_subject = forms.CharField(
        label=gettext_lazy("Subject A"), required=False, max_length=500
    )
    variant_a_body = forms.CharField(
        label=gettext_lazy("Content A"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "class": "code"}),
        help_text=gettext_lazy("Leave empty to use the main content."),
    )
    variant_b_subject = forms.CharField(
        label=gettext_lazy("Subject B"), required=False, max_length=500
    )
    variant_b_body = forms.CharField(
        label=gettext_lazy("Content B"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "class": "code"}),
        help_text=gettext_lazy("Leave empty to use the main content."),
    )

    class Meta:
        model = Campaign
        fields = [
            "name", "from_name", "from_email", "reply_to", "subject", "preheader",
            "body_format", "body", "text_body", "layout", "lists", "exclude_lists",
            "segments", "exclude_segments", "track_links", "track_opens", "utm_source",
            "utm_medium", "utm_campaign", "ab_enabled",
            "ab_sample_percent", "ab_metric", "ab_wait_minutes",
        ]  # fmt: skip
        widgets = {
            "body": forms.Textarea(attrs={"rows": 18, "class": "code", "spellcheck": "false"}),
            "text_body": forms.Textarea(attrs={"rows": 6}),
            "subject": forms.TextInput(),
            "preheader": forms.TextInput(),
        }
        help_texts = {
            "subject": gettext_lazy(
                'Merge tags work here too: {{ contact.first_name | default("cher client") }}.'
            ),
            "preheader": gettext_lazy("The line shown after the subject in most inboxes."),
            "text_body": gettext_lazy(
                "Leave empty: a plain-text version is made from the content automatically."
            ),
            "layout": gettext_lazy(
                "The frame around the content, with your address and the unsubscribe link."
            ),
            "track_links": gettext_lazy(
                "Links go through Fidèle to count clicks, then to their page."
            ),
            "track_opens": gettext_lazy(
                "An invisible 1x1 image counts who opens the message. Spam filters read a short "
                "message whose only image is this pixel as an image-only message and add points "
                "to its spam score; without it, opens are not counted (clicks still are)."
            ),
            "utm_campaign": gettext_lazy(
                "Left empty, it is made from the campaign number and name."
            ),
            "ab_sample_percent": gettext_lazy(
                "Each variant goes to this share of the audience first."
            ),
            "ab_wait_minutes": gettext_lazy("Then the best variant goes to everyone else."),
        }

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # Fingerprints (content_fingerprint) of what `clean` checked and found
        # clean: "" for the campaign's own content, "A" and "B" for the variants.
        self.checked: dict[str, str] = {}
        self.fields["name"].label = _("Campaign name")
        self.fields["name"].help_text = _(
            "For your team, to find it again; recipients see the subject, not this."
        )
        self.fields["utm_source"].label = _("Source (utm_source)")
        self.fields["utm_medium"].label = _("Medium (utm_medium)")
        self.fields["utm_campaign"].label = _("Campaign name (utm_campaign)")
        self.fields["ab_enabled"].label = _("Test two versions (A/B) on a sample first")
        # Every layout by its own name, the default one marked: an empty choice called "Default
        # layout" beside a layout of the same name read as two layouts.
        layout = self.fields["layout"]
        layout.queryset = Layout.objects.order_by("name")
        layout.required = False
        layout.empty_label = None
        layout.label_from_instance = _layout_choice_label
        if not (self.is_bound or self.initial.get("layout") or self.instance.layout_id):
            self.initial["layout"] = layout_default()
        self.fields["body"].required = False
        instance = self.instance
        if instance.pk and not self.is_bound:
            self.initial["lists"] = list(instance.lists.all())
            self.initial["exclude_lists"] = list(instance.exclude_lists.all())
            self.initial["segments"] = list(instance.segments.all())
            self.initial["exclude_segments"] = list(instance.exclude_segments.all())
            for variant in instance.variants.all():
                key = variant.label.lower()
                if key in ("a", "b"):
                    self.initial[f"variant_{key}_subject"] = variant.subject
                    self.initial[f"variant_{key}_body"] = variant.body

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("body_format") == Campaign.BodyFormat.RICHTEXT and data.get("body"):
            data["body"] = richtext_sanitize(data["body"])
        # Templates are checked even when other fields are wrong, so that every error shows.
        draft = Campaign(
            **{name: data.get(name) for name in self.Meta.fields if name not in AUDIENCE_FIELDS}
        )
        draft.layout = data.get("layout") or layout_default()
        self.checked = {}
        problems = content_check(campaign=draft)
        for problem in problems:
            self.add_error(PART_FIELDS.get(problem.part), problem_message(problem))
        if not problems:
            self.checked[""] = content_fingerprint(campaign=draft)
        if data.get("ab_enabled"):
            variants = self.variants()
            if len(variants) < 2 or not any(v["subject"] or v["body"] for v in variants):
                self.add_error(
                    "variant_b_subject",
                    _("Give variant B (at least) its own subject or content."),
                )
            for spec in variants:
                variant = Variant(label=spec["label"], subject=spec["subject"], body=spec["body"])
                key = spec["label"].lower()
                field = {"subject": f"variant_{key}_subject", "body": f"variant_{key}_body"}
                problems = content_check(campaign=draft, variant=variant)
                for problem in problems:
                    # A part the variant leaves empty is the main one, already reported.
                    if problem.part in field and spec[problem.part]:
                        self.add_error(field[problem.part], problem_message(problem))
                if not problems:
                    self.checked[spec["label"]] = content_fingerprint(
                        campaign=draft, variant=variant
                    )
            if (data.get("ab_sample_percent") or 0) * 2 > 100:
                self.add_error("ab_sample_percent", _("Two samples cannot exceed 100%."))
        return data

    def variants(self) -> list[dict[str, str]]:
        """The variants for services.campaign_variants_set, each with the fingerprint under
        which `clean` checked it (once the form is cleaned)."""
        data = self.cleaned_data
        specs = []
        for label in ("A", "B"):
            spec = {
                "label": label,
                "subject": data.get(f"variant_{label.lower()}_subject") or "",
                "body": data.get(f"variant_{label.lower()}_body") or "",
            }
            if label in self.checked:
                spec["checked"] = self.checked[label]
            specs.append(spec)
        return specs

    def service_values(self) -> dict[str, Any]:
        data = self.cleaned_data
        values = {
            name: data.get(name)
            for name in self.Meta.fields
            if name not in (*AUDIENCE_FIELDS, "body", "text_body")
        }
        values["html"] = data.get("body") or ""
        values["text"] = data.get("text_body") or ""
        # The content (and the variants, checked with it when an edit keeps them) is not
        # compiled again by campaign_create / campaign_update.
        values["checked"] = frozenset(self.checked.values())
        return values


class ScheduleForm(forms.Form):
    """A date and a time in the user's time zone (Europe/Paris unless configured otherwise)."""

    # Browsers' date and time inputs speak ISO whatever the page's language, and display it in
    # the reader's own format (jj/mm/aaaa in French).
    date = forms.DateField(
        label=gettext_lazy("Date"),
        widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}),
    )
    time = forms.TimeField(
        label=gettext_lazy("Time"),
        widget=forms.TimeInput(format="%H:%M", attrs={"type": "time"}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("date") and data.get("time"):
            naive = dt.datetime.combine(data["date"], data["time"])
            data["at"] = timezone.make_aware(naive, timezone.get_current_timezone())
            if data["at"] < timezone.now():
                raise forms.ValidationError(_("Choose a time in the future."))
        return data


class TestSendForm(forms.Form):
    addresses = forms.CharField(
        label=gettext_lazy("Send a test to"),
        help_text=gettext_lazy(
            "Up to 5 addresses, separated by commas. The subject starts with [TEST]."
        ),
        widget=forms.TextInput(attrs={"autocomplete": "email"}),
    )
    contact = forms.IntegerField(required=False, widget=forms.HiddenInput)
    variant = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def clean_addresses(self) -> list[str]:
        raw = self.cleaned_data["addresses"].replace(";", ",")
        addresses = [a.strip() for a in raw.split(",") if a.strip()]
        if not addresses:
            raise forms.ValidationError(_("Give at least one address."))
        if len(addresses) > 5:
            raise forms.ValidationError(_("At most 5 addresses."))
        normalised = []
        for address in addresses:
            # The same check as every address Fidèle stores, not Django's looser regex.
            email, problem = normalise_email(address)
            if problem or not email:
                raise forms.ValidationError(
                    _("Not a valid address: %(address)s") % {"address": address}
                )
            normalised.append(email)
        return normalised


class LayoutForm(forms.ModelForm):
    class Meta:
        model = Layout
        fields = ["name", "sender_name", "sender_postal_address", "html", "is_default"]
        widgets = {
            "sender_postal_address": forms.Textarea(attrs={"rows": 3}),
            "html": forms.Textarea(attrs={"rows": 22, "class": "code", "spellcheck": "false"}),
        }
        help_texts = {
            "sender_postal_address": gettext_lazy(
                "Required by law in every commercial email: the postal address where you can be "
                "reached."
            ),
            "html": gettext_lazy(
                "{{ content }} marks where the campaign goes. Available: {{ sender_name }}, "
                "{{ sender_postal_address }}, {{ unsubscribe_url }}, {{ subject }}."
            ),
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        draft = Layout(**{name: data.get(name) for name in self.Meta.fields})
        for problem in layout_check(layout=draft):
            self.add_error("html", problem_message(problem))
        return data
