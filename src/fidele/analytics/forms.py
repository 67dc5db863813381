"""The web analytics page's inputs: the range of days, the funnel's pages; the settings page's
sites and goals."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fidele.analytics.website import MAX_FUNNEL_STEPS, DayRange
from fidele.tracking.models import SiteGoal

DEFAULT_DAYS = 30
MAX_DAYS = 400
# The ranges offered in one click, in days back from today.
PRESETS = (7, 30, 90, 365)


class DayRangeForm(forms.Form):
    start = forms.DateField(
        label=_("First day"),
        required=False,
        widget=forms.DateInput({"type": "date"}, format="%Y-%m-%d"),
    )
    end = forms.DateField(
        label=_("Last day"),
        required=False,
        widget=forms.DateInput({"type": "date"}, format="%Y-%m-%d"),
    )

    def clean(self) -> dict:
        data = super().clean()
        if self.errors:
            return data
        today = timezone.localdate()
        end = data.get("end") or today
        start = data.get("start") or end - dt.timedelta(days=DEFAULT_DAYS - 1)
        if start > end:
            raise forms.ValidationError(_("The first day comes after the last one."))
        if (end - start).days >= MAX_DAYS:
            raise forms.ValidationError(_("Choose at most %(days)s days.") % {"days": MAX_DAYS})
        data["range"] = DayRange(first=start, last=end)
        return data


def day_range(params: dict) -> tuple[DayRangeForm, DayRange]:
    """The form as the reader filled it, and the range it says (the last 30 days when it says
    nothing usable: the page always shows something, the form shows what was wrong)."""
    today = timezone.localdate()
    default = DayRange(first=today - dt.timedelta(days=DEFAULT_DAYS - 1), last=today)
    if not params.get("start") and not params.get("end"):
        return DayRangeForm(initial={"start": default.first, "end": default.last}), default
    form = DayRangeForm(params)
    if form.is_valid():
        return form, form.cleaned_data["range"]
    return form, default


def funnel_steps(values: list[str]) -> list[str]:
    """The funnel's pages as typed: paths (a full address is reduced to its path), empty ones
    dropped, at most MAX_FUNNEL_STEPS."""
    steps = []
    for raw in values:
        value = "".join(ch for ch in raw if ch >= " ").strip()[:300]
        if "://" in value:
            value = "/" + value.split("://", 1)[1].partition("/")[2]
        if value and not value.startswith("/"):
            value = "/" + value
        if value:
            steps.append(value.split("?")[0].split("#")[0])
    return steps[:MAX_FUNNEL_STEPS]


class SiteForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    origins = forms.CharField(
        label=_("Addresses of the site"),
        widget=forms.Textarea({"rows": 2}),
        help_text=_(
            "One per line, as the browser shows them: https://www.example.fr. Only pages at "
            "these addresses are counted; add each variant the site answers on (with and "
            "without www, a shop on a subdomain)."
        ),
    )


class GoalForm(forms.Form):
    kind = forms.ChoiceField(label=_("The goal is"), choices=SiteGoal.Kind.choices)
    value = forms.CharField(
        label=_("Page or event"),
        max_length=300,
        help_text=_("A page's path (/merci) or the name of an event the site sends."),
    )
