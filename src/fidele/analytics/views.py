"""The web analytics page and its settings page (the sites that carry the snippet, and their
goals)."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from fidele.analytics.forms import PRESETS, GoalForm, SiteForm, day_range, funnel_steps
from fidele.analytics.website import (
    MAX_FUNNEL_STEPS,
    website_campaigns,
    website_events,
    website_funnel,
    website_pages,
    website_sources,
    website_summary,
)
from fidele.core.permissions import MARKETER, VIEWER, require_role
from fidele.tracking.models import Site, SiteGoal
from fidele.tracking.site_config import (
    goal_add,
    goal_delete,
    site_create,
    site_delete,
    site_update,
    snippet_tag,
)
from fidele.ui.charts import bar_chart


@require_safe
@require_role(VIEWER)
def website(request: HttpRequest) -> HttpResponse:
    sites = list(Site.objects.order_by("name"))
    site = next((s for s in sites if s.key == request.GET.get("site")), sites[0] if sites else None)
    form, days = day_range(request.GET)
    context: dict = {"sites": sites, "site": site, "form": form, "days": days}
    if site is None:
        return render(request, "analytics/website.html", context)
    steps = funnel_steps(request.GET.getlist("step"))
    summary = website_summary(site_id=site.pk, days=days)
    today = timezone.localdate()
    context |= {
        "summary": summary,
        "chart": bar_chart(
            summary["daily"],
            when="day",
            series=[("visitors", _("visitors")), ("visits", _("visits"))],
        ),
        "pages": website_pages(site_id=site.pk, days=days),
        "sources": website_sources(site_id=site.pk, days=days),
        "campaigns": website_campaigns(site_id=site.pk, days=days),
        "events": website_events(site_id=site.pk, days=days),
        "steps": steps,
        "step_fields": steps + [""] * (MAX_FUNNEL_STEPS - len(steps)),
        "funnel": website_funnel(site_id=site.pk, days=days, steps=steps) if steps else [],
        "presets": [
            {"days": n, "start": today - dt.timedelta(days=n - 1), "end": today} for n in PRESETS
        ],
        "snippet": snippet_tag(site),
    }
    return render(request, "analytics/website.html", context)


@require_safe
@require_role(MARKETER)
def website_settings(request: HttpRequest) -> HttpResponse:
    return _settings_page(request, site_form=SiteForm())


def _settings_page(
    request: HttpRequest, *, site_form: SiteForm, status: int = 200, **extra: object
) -> HttpResponse:
    sites = list(Site.objects.prefetch_related("goals").order_by("name"))
    context = {
        "sites": [{"site": s, "snippet": snippet_tag(s), "form": _edit_form(s)} for s in sites],
        "site_form": site_form,
        "goal_form": GoalForm(),
        **extra,
    }
    return render(request, "analytics/website_settings.html", context, status=status)


def _edit_form(site: Site) -> SiteForm:
    return SiteForm(
        initial={"name": site.name, "origins": "\n".join(site.origin_list)},
        prefix=f"site{site.pk}",
    )


@require_POST
@require_role(MARKETER)
def website_site_add(request: HttpRequest) -> HttpResponse:
    form = SiteForm(request.POST)
    if form.is_valid():
        try:
            site = site_create(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error("origins", exc)
        else:
            messages.success(request, _("The site is added: paste its snippet into its pages."))
            return redirect(f"{_settings_url()}#site-{site.pk}")
    return _settings_page(request, site_form=form, status=400)


@require_POST
@require_role(MARKETER)
def website_site_edit(request: HttpRequest, pk: int) -> HttpResponse:
    site = get_object_or_404(Site, pk=pk)
    if "delete" in request.POST:
        site_delete(actor=request.user, site=site)
        messages.success(request, _("The site and its visits are deleted."))
        return redirect("analytics:website_settings")
    form = SiteForm(request.POST, prefix=f"site{site.pk}")
    if form.is_valid():
        try:
            site_update(actor=request.user, site=site, **form.cleaned_data)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("The site is saved."))
    else:
        messages.error(request, _("Give the site a name and at least one address."))
    return redirect(f"{_settings_url()}#site-{site.pk}")


@require_POST
@require_role(MARKETER)
def website_goal_add(request: HttpRequest, pk: int) -> HttpResponse:
    site = get_object_or_404(Site, pk=pk)
    form = GoalForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError(_("Say whether the goal is a page or an event, and which."))
        goal_add(actor=request.user, site=site, **form.cleaned_data)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect(f"{_settings_url()}#site-{site.pk}")


@require_POST
@require_role(MARKETER)
def website_goal_delete(request: HttpRequest, pk: int) -> HttpResponse:
    goal = get_object_or_404(SiteGoal.objects.select_related("site"), pk=pk)
    goal_delete(actor=request.user, goal=goal)
    return redirect(f"{_settings_url()}#site-{goal.site_id}")


def _settings_url() -> str:
    return reverse("analytics:website_settings")
