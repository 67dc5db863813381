"""The dashboards' inputs: the period (two dates, or a preset) and the RFM segment filter; the
acquisition costs' form."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fidele.analytics.dashboard import Period, rfm_choices
from fidele.analytics.forms import DEFAULT_DAYS, DayRangeForm

# The periods offered in one click, in days back from today.
PRESETS = (7, 30, 90, 365)


class DashboardFilterForm(DayRangeForm):
    """The web analytics page's range of days (at most a little over a year), and a segment."""

    # The segment filter reads the RFM segments (segments.ContactRfm) until saved segments can
    # be chosen here.
    rfm = forms.ChoiceField(label=_("Customers"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["rfm"].choices = [("", _("All customers")), *rfm_choices()]

    def clean(self) -> dict:
        data = super().clean()
        if "range" in data:
            data["period"] = Period(first=data["range"].first, last=data["range"].last)
        return data


def dashboard_filters(params: Any) -> tuple[DashboardFilterForm, Period, str | None]:
    """The form as the reader filled it, the period and segment it says (the last 30 days of
    every customer when it says nothing usable: the page always shows something, and the form
    shows what was wrong)."""
    today = timezone.localdate()
    default = Period(first=today - dt.timedelta(days=DEFAULT_DAYS - 1), last=today)
    if not any(params.get(name) for name in ("start", "end", "rfm")):
        form = DashboardFilterForm(initial={"start": default.first, "end": default.last})
        return form, default, None
    form = DashboardFilterForm(params)
    if form.is_valid():
        return form, form.cleaned_data["period"], form.cleaned_data.get("rfm") or None
    return form, default, None


def presets() -> list[dict[str, Any]]:
    today = timezone.localdate()
    return [
        {"days": days, "start": today - dt.timedelta(days=days - 1), "end": today}
        for days in PRESETS
    ]


class AcquisitionCostForm(forms.Form):
    month = forms.DateField(
        label=_("Month"),
        widget=forms.DateInput({"type": "month"}, format="%Y-%m"),
        input_formats=["%Y-%m", "%Y-%m-%d", "%m/%Y"],
        help_text=_("The month the money was spent to win customers."),
    )
    channel = forms.CharField(
        label=_("Channel"),
        max_length=50,
        required=False,
        help_text=_("Optional: where it was spent (advertising, a fair, a sign-up gift...)."),
    )
    amount = forms.DecimalField(label=_("Amount"), max_digits=12, decimal_places=2, min_value=0)
    note = forms.CharField(label=_("Note"), max_length=200, required=False)
