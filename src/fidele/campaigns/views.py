from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST, require_safe
from django.views.decorators.vary import vary_on_headers

from fidele.analytics.attribution import attributions_record
from fidele.analytics.report_files import campaign_report_csv, campaign_report_xlsx
from fidele.analytics.reports import (
    INDUSTRY_AVERAGES,
    account_averages,
    campaign_report,
    campaign_timeline,
)
from fidele.campaigns import selectors, services
from fidele.campaigns.audience import audience_breakdown
from fidele.campaigns.deliverability import campaign_deliverability_check
from fidele.campaigns.forms import (
    CampaignForm,
    LayoutForm,
    ScheduleForm,
    TestSendForm,
    problem_message,
)
from fidele.campaigns.layouts import layout_default, layout_needs_address
from fidele.campaigns.models import Campaign, Layout, Variant
from fidele.campaigns.rendering.compile import content_check, content_preview, subject_preview
from fidele.campaigns.rendering.sandbox import TemplateProblem
from fidele.contacts.models import Contact
from fidele.core.actors import Actor
from fidele.core.permissions import MARKETER, VIEWER, has_role, require_role
from fidele.segments.errors import RuleError
from fidele.segments.models import Segment
from fidele.ui.charts import bar_chart
from fidele.ui.pagination import listing_page

Status = Campaign.Status

STATUS_BADGES = {
    Status.DRAFT: "badge-muted",
    Status.SCHEDULED: "badge-info",
    Status.SENDING: "badge-warning",
    Status.PAUSED: "badge-danger",
    Status.SENT: "badge-success",
    Status.CANCELLED: "badge-muted",
}


@require_safe
@vary_on_headers("HX-Request")
@require_role(VIEWER)
def campaign_list(request: HttpRequest) -> HttpResponse:
    params = request.GET
    status = params.get("status", "")
    queryset = selectors.campaigns_list(status=status)
    listing = listing_page(
        queryset,
        params,
        fields=["created_at", "id"],
        # The bodies (HTML, often tens of kB each) are not shown in the list.
        page_queryset=queryset.defer("body", "text_body"),
    )
    campaigns = listing["page"].rows
    # Counted for this page's campaigns only: the outbox of every campaign ever sent is not read.
    selectors.campaigns_figures(campaigns=campaigns)
    for campaign in campaigns:
        campaign.badge = STATUS_BADGES.get(campaign.status, "")
        campaign.subject_shown = subject_preview(campaign.subject)
    context = {
        **listing,
        "status": status if status in Status.values else "",
        "statuses": Status.choices,
    }
    # A filter change asks for the results only; a history restore (back button after the cache
    # was emptied) needs the whole page even though it comes from htmx.
    partial = request.htmx and not request.htmx.history_restore_request
    template = "campaigns/_results.html" if partial else "campaigns/list.html"
    return render(request, template, context)


def _save_variants(form: CampaignForm, campaign: Campaign, actor: Actor) -> None:
    if form.cleaned_data.get("ab_enabled"):
        services.campaign_variants_set(campaign=campaign, variants=form.variants(), actor=actor)
    elif campaign.variants.exists():
        services.campaign_variants_set(campaign=campaign, variants=[], actor=actor)


def _form_service_error(form: CampaignForm, exc: Exception) -> None:
    if isinstance(exc, TemplateProblem):
        from fidele.campaigns.forms import PART_FIELDS

        form.add_error(PART_FIELDS.get(exc.part), problem_message(exc))
    else:
        form.add_error(None, str(exc))


def _form_save(request: HttpRequest, form: CampaignForm, save: Any) -> Campaign | None:
    """On a valid POST, the campaign `save(**values)` wrote, with its lists and A/B variants;
    None when the form is to be shown (again), with what the service refused put on it."""
    if request.method != "POST" or not form.is_valid():
        return None
    values = form.service_values()
    values["layout"] = values.get("layout") or layout_default()
    try:
        campaign = save(
            **values,
            lists=list(form.cleaned_data["lists"]),
            exclude_lists=list(form.cleaned_data["exclude_lists"]),
            segments=list(form.cleaned_data["segments"]),
            exclude_segments=list(form.cleaned_data["exclude_segments"]),
            actor=request.user,
        )
        _save_variants(form, campaign, request.user)
    except (services.CampaignError, TemplateProblem) as exc:
        _form_service_error(form, exc)
        return None
    return campaign


@require_role(MARKETER)
def campaign_create(request: HttpRequest) -> HttpResponse:
    initial = selectors.new_campaign_initial()
    # "Write to them" from a segment, an RFM segment or a persona: that segment as the audience.
    segment_id = request.GET.get("segment", "")
    if segment_id.isdigit():
        initial["segments"] = list(Segment.objects.filter(pk=int(segment_id)))
    form = CampaignForm(request.POST or None, initial=initial)
    campaign = _form_save(request, form, services.campaign_create)
    if campaign is not None:
        messages.success(request, _("Campaign saved as a draft."))
        return redirect("campaigns:detail", pk=campaign.pk)
    return render(request, "campaigns/form.html", {"form": form, "campaign": None})


@require_role(MARKETER)
def campaign_edit(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=pk)
    if campaign.status not in services.EDITABLE_STATUSES:
        messages.error(request, _("Only a draft can be edited. Duplicate it to make changes."))
        return redirect("campaigns:detail", pk=pk)
    form = CampaignForm(request.POST or None, instance=campaign)
    # The service works on a fresh copy: the form's instance holds the half-validated input.
    saved = _form_save(
        request,
        form,
        lambda **values: services.campaign_update(campaign=Campaign.objects.get(pk=pk), **values),
    )
    if saved is not None:
        messages.success(request, _("Changes saved."))
        return redirect("campaigns:detail", pk=pk)
    return render(request, "campaigns/form.html", {"form": form, "campaign": campaign})


# Fields whose errors come from the template check (the others are reported on save).
_TEMPLATE_FIELDS = (
    "subject", "preheader", "body", "text_body", "layout",
    "variant_a_subject", "variant_a_body", "variant_b_subject", "variant_b_body",
)  # fmt: skip


@require_POST
@require_role(MARKETER)
def campaign_check(request: HttpRequest) -> HttpResponse:
    """The editor's live check: the template errors of the form as typed, nothing saved."""
    form = CampaignForm(request.POST)
    form.is_valid()
    problems = [
        (form[name].label, error)
        for name in _TEMPLATE_FIELDS
        for error in form.errors.get(name, [])
    ]
    return render(request, "campaigns/_check.html", {"problems": problems})


def _actions_for(campaign: Campaign, user: Any) -> set[str]:
    if not has_role(user, MARKETER):
        return set()
    return set(services.TRANSITIONS.get(campaign.status, ()))


@require_safe
@require_role(VIEWER)
def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(
        Campaign.objects.select_related("layout", "created_by", "ab_winner"), pk=pk
    )
    # Only worth checking while the content can still go out.
    problems = (
        content_check(campaign=campaign)
        if campaign.status in (Status.DRAFT, Status.SCHEDULED, Status.PAUSED)
        else []
    )
    variants = list(campaign.variants.all())
    context = {
        "campaign": campaign,
        "badge": STATUS_BADGES.get(campaign.status, ""),
        "actions": _actions_for(campaign, request.user),
        "problems": [(p, problem_message(p)) for p in problems],
        "variants": variants,
        "subject_shown": subject_preview(campaign.subject),
        "lists": list(campaign.lists.all()),
        "exclude_lists": list(campaign.exclude_lists.all()),
        "schedule_form": ScheduleForm(initial=_schedule_suggestion()),
        "test_form": TestSendForm(),
        "progress": _progress_context(campaign),
        "following": _following(campaign),
        "needs_address": layout_needs_address(campaign.layout),
        "layout": campaign.layout or layout_default(),
    }
    return render(request, "campaigns/detail.html", context)


# uap-core's names of the webmails' image proxies, as a shop owner knows them.
CLIENT_NAMES = {"GmailImageProxy": "Gmail", "YahooMailProxy": "Yahoo Mail"}
DEVICE_LABELS = {
    "desktop": gettext_lazy("computer"),
    "mobile": gettext_lazy("phone"),
    "tablet": gettext_lazy("tablet"),
    "proxy": gettext_lazy("image proxy"),
    "robot": gettext_lazy("robot"),
}


@require_safe
@require_role(VIEWER)
def campaign_report_page(request: HttpRequest, pk: int) -> HttpResponse:
    """What a sent campaign did: people and machines apart, against the account's own average
    and a published industry average."""
    campaign = get_object_or_404(Campaign, pk=pk)
    attributions_record()  # orders imported since the last rollup are credited now
    report = campaign_report(campaign_id=campaign.pk)
    for row in report["clients"]:
        row["device"] = DEVICE_LABELS.get(row["device"], row["device"])
        row["client"] = CLIENT_NAMES.get(row["client"], row["client"])
    averages = account_averages(exclude_campaign_id=campaign.pk)
    rates = [
        (_("Opened by people"), "open_rate", report["open_rate"]),
        (_("Clicked by people"), "click_rate", report["click_rate"]),
        (_("Unsubscribed"), "unsubscribe_rate", report["unsubscribe_rate"]),
    ]
    context = {
        "campaign": campaign,
        "badge": STATUS_BADGES.get(campaign.status, ""),
        "report": report,
        "comparisons": [
            {
                "label": label,
                "value": value,
                "account": averages.get(key),
                "industry": INDUSTRY_AVERAGES[key],
            }
            for label, key, value in rates
        ],
        "account_campaigns": averages["campaigns"],
        "industry_source": INDUSTRY_AVERAGES["source"],
        "chart": bar_chart(
            campaign_timeline(campaign_id=campaign.pk),
            when="hour",
            series=[("open", _("opens")), ("click", _("clicks"))],
        ),
        "attribution_rule": (
            _("last click or open within %(days)s days")
            if settings.ATTRIBUTION_OPENS
            else _("last click within %(days)s days")
        )
        % {"days": settings.ATTRIBUTION_DAYS},
    }
    return render(request, "campaigns/report.html", context)


@require_safe
@require_role(MARKETER)
def campaign_report_download(request: HttpRequest, pk: int) -> HttpResponse:
    """The report as a file for management: CSV (the reader's spreadsheet) or XLSX."""
    campaign = get_object_or_404(Campaign, pk=pk)
    fmt = request.GET.get("format", "xlsx")
    if fmt not in ("csv", "xlsx"):
        raise Http404
    attributions_record()
    report = campaign_report(campaign_id=campaign.pk)
    if fmt == "csv":
        body, content_type = campaign_report_csv(report), "text/csv; charset=utf-8"
    else:
        body = campaign_report_xlsx(report)
        content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="campaign-{campaign.pk}-report.{fmt}"'
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@require_role(MARKETER)
def campaign_follow_up(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=pk)
    follow_up = services.campaign_follow_up_create(campaign=campaign, actor=request.user)
    messages.success(
        request,
        _(
            "A follow-up was made for the recipients who did not open “%(name)s”: change its "
            "subject, then send it."
        )
        % {"name": campaign.name},
    )
    return redirect("campaigns:edit", pk=follow_up.pk)


def _schedule_suggestion() -> dict[str, Any]:
    """Tomorrow at 9:00, local time: a sensible first proposal for a newsletter."""
    import datetime as dt

    from django.utils import timezone

    return {"date": timezone.localdate() + dt.timedelta(days=1), "time": dt.time(9, 0)}


def _following(campaign: Campaign) -> bool:
    """Whether the page follows the campaign live: while it sends, and from the moment it is
    due (a "Send now" waits a few seconds for a worker to start it)."""
    from django.utils import timezone

    if campaign.status == Status.SENDING:
        return True
    return bool(
        campaign.status == Status.SCHEDULED
        and campaign.scheduled_at
        and campaign.scheduled_at <= timezone.now()
    )


@require_safe
@require_role(MARKETER)
def campaign_send_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    """The confirmation before "Send now": the exact number of recipients, and why it is not
    the lists' size. The page's button posts to campaign_schedule."""
    campaign = get_object_or_404(Campaign, pk=pk)
    if "send_now" not in _actions_for(campaign, request.user):
        return redirect("campaigns:detail", pk=pk)
    try:
        breakdown, rule_problem = audience_breakdown(campaign), ""
    except RuleError as exc:
        # A segment names a tag or a list deleted since: say so rather than fail.
        breakdown, rule_problem = {"recipients": 0}, str(exc)
    context = {
        "campaign": campaign,
        "lists": list(campaign.lists.all()),
        "exclude_lists": list(campaign.exclude_lists.all()),
        "segments": list(campaign.segments.all()),
        "exclude_segments": list(campaign.exclude_segments.all()),
        "breakdown": breakdown,
        "rule_problem": rule_problem,
        "subject_shown": subject_preview(campaign.subject),
    }
    return render(request, "campaigns/send_confirm.html", context)


def _progress_context(campaign: Campaign) -> dict[str, Any] | None:
    if campaign.status in (Status.DRAFT, Status.SCHEDULED) and not campaign.started_at:
        return None
    progress = selectors.campaign_progress(campaign=campaign)
    seconds = progress.get("seconds_left")
    if seconds is not None:
        minutes, secs = divmod(int(seconds), 60)
        hours, minutes = divmod(minutes, 60)
        progress["time_left"] = (
            f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"
        )
    return progress


@require_safe
@require_role(VIEWER)
def campaign_progress(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=pk)
    response = render(
        request,
        "campaigns/_progress.html",
        {
            "campaign": campaign,
            "progress": _progress_context(campaign),
            "following": _following(campaign),
        },
    )
    # The page's buttons depend on the status: reload it once the status is no longer the one
    # the page shows (scheduled -> sending -> sent).
    shown = request.GET.get("status") or Status.SENDING
    if request.GET.get("polling") and campaign.status != shown:
        response["HX-Refresh"] = "true"
    return response


def _preview_contact(request: HttpRequest) -> Contact | None:
    contact_id = request.GET.get("contact") or request.POST.get("contact") or ""
    if str(contact_id).isdigit():
        return Contact.objects.filter(pk=int(contact_id)).first()
    return None


def _variant(campaign: Campaign, raw: Any) -> Variant | None:
    if raw and str(raw).isdigit():
        return campaign.variants.filter(pk=int(raw)).first()
    return None


@require_safe
@require_role(VIEWER)
def campaign_preview(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign.objects.select_related("layout"), pk=pk)
    contact = _preview_contact(request)
    variant = _variant(campaign, request.GET.get("variant"))
    context: dict[str, Any] = {"campaign": campaign, "contact": contact, "variant": variant}
    try:
        context["message"] = content_preview(campaign=campaign, variant=variant, contact=contact)
    except TemplateProblem as problem:
        context["problem"] = problem_message(problem)
        context["problem_part"] = problem.part
    return render(request, "campaigns/_preview.html", context)


# Under the worker timeout of the web server: the card says SpamAssassin was too slow instead.
DELIVERABILITY_SPAM_TIMEOUT = 20


@require_safe
@require_role(VIEWER)
def campaign_deliverability(request: HttpRequest, pk: int) -> HttpResponse:
    """The deliverability card's content, loaded by the campaign page once it is shown: the
    SpamAssassin score can take seconds (then it is cached)."""
    campaign = get_object_or_404(Campaign.objects.select_related("layout"), pk=pk)
    context: dict[str, Any] = {
        "campaign": campaign,
        "can_edit": "edit" in _actions_for(campaign, request.user),
    }
    try:
        context["report"] = campaign_deliverability_check(
            campaign=campaign, timeout=DELIVERABILITY_SPAM_TIMEOUT
        )
    except TemplateProblem as problem:
        context["problem"] = problem_message(problem)
    return render(request, "campaigns/_deliverability_result.html", context)


@require_safe
@require_role(VIEWER)
def campaign_contact_search(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=pk)
    contacts = selectors.contacts_for_preview(query=request.GET.get("q", ""))
    return render(
        request,
        "campaigns/_contact_results.html",
        {"campaign": campaign, "contacts": contacts, "q": request.GET.get("q", "")},
    )


def message_send_test(**kwargs: Any) -> Any:
    """The test send (fidele.campaigns.sending.message_send_test)."""
    from fidele.campaigns import sending

    return sending.message_send_test(**kwargs)


@require_POST
@require_role(MARKETER)
def campaign_test_send(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=pk)
    form = TestSendForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect(reverse("campaigns:detail", args=[pk]) + "#test")
    contact = None
    if form.cleaned_data.get("contact"):
        contact = Contact.objects.filter(pk=form.cleaned_data["contact"]).first()
    variant = _variant(campaign, form.cleaned_data.get("variant"))
    addresses = form.cleaned_data["addresses"]
    try:
        message_send_test(
            campaign=campaign, variant=variant, contact=contact, to=addresses, actor=request.user
        )
    except TemplateProblem as problem:
        messages.error(
            request, _("The test was not sent: %(problem)s") % {"problem": problem_message(problem)}
        )
    except Exception as exc:  # a transport failure: say so, do not crash the page
        messages.error(request, _("The test was not sent: %(error)s") % {"error": exc})
    else:
        messages.success(
            request, _("Test sent to %(addresses)s.") % {"addresses": ", ".join(addresses)}
        )
    return redirect(reverse("campaigns:detail", args=[pk]) + "#test")


@require_POST
@require_role(MARKETER)
def campaign_schedule(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=pk)
    send_now = "now" in request.POST
    at = None
    if not send_now:
        form = ScheduleForm(request.POST)
        if not form.is_valid():
            for errors in form.errors.values():
                for error in errors:
                    messages.error(request, error)
            return redirect("campaigns:detail", pk=pk)
        at = form.cleaned_data["at"]
    try:
        services.campaign_schedule(campaign=campaign, at=at, actor=request.user)
    except (services.CampaignError, TemplateProblem) as exc:
        text = problem_message(exc) if isinstance(exc, TemplateProblem) else str(exc)
        messages.error(request, text)
    else:
        if send_now:
            messages.success(request, _("Sending starts in a moment."))
        else:
            from django.utils import formats, timezone

            local = timezone.localtime(at)
            messages.success(
                request,
                _("Scheduled for %(when)s.")
                % {"when": formats.date_format(local, "DATETIME_FORMAT")},
            )
    return redirect("campaigns:detail", pk=pk)


_ACTIONS = {
    "pause": (services.campaign_pause, gettext_lazy("Sending paused.")),
    "resume": (services.campaign_resume, gettext_lazy("Sending resumed.")),
    "cancel": (services.campaign_cancel, gettext_lazy("Campaign cancelled.")),
    "unschedule": (
        services.campaign_unschedule,
        gettext_lazy("Back to draft: the campaign will not go out."),
    ),
}


@require_POST
@require_role(MARKETER)
def campaign_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=pk)
    if action == "duplicate":
        copy = services.campaign_duplicate(campaign=campaign, actor=request.user)
        messages.success(request, _("Copy created: edit it before sending."))
        return redirect("campaigns:detail", pk=copy.pk)
    if action not in _ACTIONS:
        raise Http404
    service, done = _ACTIONS[action]
    try:
        service(campaign=campaign, actor=request.user)
    except services.CampaignError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, str(done))
    return redirect("campaigns:detail", pk=pk)


# --- Layouts ----------------------------------------------------------------------------------


@require_safe
@require_role(VIEWER)
def layout_list(request: HttpRequest) -> HttpResponse:
    layout_default()
    layouts = list(Layout.objects.order_by("-is_default", "name"))
    for layout in layouts:
        layout.needs_address = layout_needs_address(layout)
    return render(request, "campaigns/layouts.html", {"layouts": layouts})


@require_role(MARKETER)
def layout_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    layout = get_object_or_404(Layout, pk=pk) if pk else None
    initial = {}
    if layout is None:
        base = layout_default()
        initial = {
            "html": base.html,
            "sender_name": base.sender_name,
            "sender_postal_address": base.sender_postal_address,
        }
    form = LayoutForm(request.POST or None, instance=layout, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = {name: form.cleaned_data[name] for name in LayoutForm.Meta.fields}
        try:
            if layout is None:
                layout = services.layout_create(actor=request.user, **data)
            else:
                services.layout_update(layout=layout, actor=request.user, **data)
        except TemplateProblem as problem:
            form.add_error("html", problem_message(problem))
        else:
            messages.success(request, _("Layout saved."))
            return redirect("campaigns:layouts")
    return render(request, "campaigns/layout_form.html", {"form": form, "layout": layout})
