"""The segments pages: the list, the builder (with its live count), a segment's page (size over
time, sample members, exports, bulk actions, freeze). Thin: parse, call one service, render."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from fidele.core.http import client_ip
from fidele.core.permissions import MARKETER, OWNER, VIEWER, has_role, require_role
from fidele.segments import selectors, services
from fidele.segments.builder import builder_config
from fidele.segments.errors import RuleError
from fidele.segments.forms import EXAMPLE_RULE, BulkForm, FreezeForm, SegmentForm, rules_text
from fidele.segments.insight_selectors import persona_name, persona_rule
from fidele.segments.models import Persona, Segment
from fidele.segments.rfm_segments import RFM_SEGMENTS, rfm_segment_label
from fidele.segments.rules import rule_parse, segment_count
from fidele.ui.charts import bar_chart


@require_safe
@require_role(VIEWER)
def segment_list(request: HttpRequest) -> HttpResponse:
    latest = selectors.segment_latest_sizes()
    rows = [(segment, latest.get(segment.pk)) for segment in selectors.segments_all()]
    return render(request, "segments/list.html", {"rows": rows})


def _builder(request: HttpRequest, form: SegmentForm, segment: Segment | None) -> HttpResponse:
    return render(
        request,
        "segments/builder.html",
        {"form": form, "segment": segment, "config": builder_config()},
    )


@require_POST
@require_role(MARKETER)
def segment_write_to(request: HttpRequest) -> HttpResponse:
    """ "Write to them" on an RFM segment or a persona: its saved segment (made the first time),
    then a new campaign with that segment as its audience."""
    rfm, persona_id = request.POST.get("rfm", ""), request.POST.get("persona", "")
    if rfm in RFM_SEGMENTS:
        name, rules = _("RFM: %(segment)s") % {"segment": rfm_segment_label(rfm)}, {"rfm": rfm}
    elif persona_id.isdigit() and Persona.objects.filter(pk=int(persona_id)).exists():
        persona = Persona.objects.get(pk=int(persona_id))
        name, rules = persona_name(persona), persona_rule(persona)
    else:
        messages.error(request, _("This group no longer exists: compute the segments again."))
        return redirect("segments:list")
    try:
        segment = services.segment_for_rule(actor=request.user, name=name, rules=rules)
    except services.SegmentError as exc:
        messages.error(request, str(exc))
        return redirect("segments:list")
    return redirect(f"{reverse('campaigns:create')}?segment={segment.pk}")


@require_role(MARKETER)
def segment_create(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = SegmentForm(request.POST)
        if form.is_valid():
            try:
                segment = services.segment_create(
                    actor=request.user,
                    name=form.cleaned_data["name"],
                    rules=form.cleaned_data["rules"],
                    description=form.cleaned_data["description"],
                )
            except (services.SegmentError, RuleError) as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, _("Segment saved."))
                return redirect("segments:detail", pk=segment.pk)
    else:
        # "Save as a segment" from the contacts list or a script hands a rule over in ?rules=.
        initial_rules = request.GET.get("rules") or rules_text(EXAMPLE_RULE)
        form = SegmentForm(initial={"rules": initial_rules})
    return _builder(request, form, None)


@require_role(MARKETER)
def segment_edit(request: HttpRequest, pk: int) -> HttpResponse:
    segment = get_object_or_404(Segment, pk=pk)
    if request.method == "POST":
        form = SegmentForm(request.POST)
        if form.is_valid():
            try:
                services.segment_update(
                    actor=request.user,
                    segment=segment,
                    name=form.cleaned_data["name"],
                    rules=form.cleaned_data["rules"],
                    description=form.cleaned_data["description"],
                )
            except (services.SegmentError, RuleError) as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, _("Changes saved."))
                return redirect("segments:detail", pk=segment.pk)
    else:
        form = SegmentForm(
            initial={
                "name": segment.name,
                "description": segment.description,
                "rules": rules_text(segment.rules),
            }
        )
    return _builder(request, form, segment)


@require_POST
@require_role(VIEWER)
def segment_count_live(request: HttpRequest) -> HttpResponse:
    """The builder's live count and first members (htmx, debounced by the page): the rule as
    typed, never saved. A rule that cannot run answers with its JSON path."""
    context: dict[str, Any] = {}
    try:
        rule = rule_parse(request.POST.get("rules", ""))
        context["count"], context["ms"] = segment_count(rule)
        context["sample"] = selectors.segment_sample(rule, limit=5)
    except RuleError as exc:
        context["error"] = str(exc)
    return render(request, "segments/_count.html", context)


@require_safe
@require_role(VIEWER)
def segment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    segment = get_object_or_404(Segment, pk=pk)
    context: dict[str, Any] = {"segment": segment, "rules_json": rules_text(segment.rules)}
    try:
        context["count"], context["ms"] = segment_count(segment.rules)
        context["sample"] = selectors.segment_sample(segment.rules, limit=10)
    except RuleError as exc:
        context["error"] = str(exc)
    sizes = selectors.segment_sizes(segment=segment)
    today = timezone.localdate()
    if "count" in context and not any(row["day"] == today for row in sizes):
        sizes.append({"day": today, "size": context["count"]})
    context["chart"] = bar_chart(sizes, when="day", series=[("size", _("Contacts"))])
    context["sizes"] = sizes
    context["bulk_form"] = BulkForm()
    context["freeze_form"] = FreezeForm(
        initial={"tag_name": f"{segment.name} {today.isoformat()}"[:80]}
    )
    context["can_delete_contacts"] = has_role(request.user, OWNER)
    context["campaigns"] = list(segment.campaigns.order_by("-created_at")[:10])
    return render(request, "segments/detail.html", context)


@require_role(MARKETER)
def segment_delete(request: HttpRequest, pk: int) -> HttpResponse:
    segment = get_object_or_404(Segment, pk=pk)
    if request.method == "POST":
        services.segment_delete(actor=request.user, segment=segment)
        messages.success(request, _("Segment deleted."))
        return redirect("segments:list")
    return render(request, "segments/delete.html", {"segment": segment})


@require_POST
@require_role(MARKETER)
def segment_bulk(request: HttpRequest, pk: int) -> HttpResponse:
    segment = get_object_or_404(Segment, pk=pk)
    form = BulkForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect("segments:detail", pk=pk)
    data = form.cleaned_data
    action = data["action"]
    if action == "delete" and not has_role(request.user, OWNER):
        messages.error(request, _("Only an owner may delete contacts in bulk."))
        return redirect("segments:detail", pk=pk)
    try:
        if action == "tag":
            count = services.segment_tag(actor=request.user, segment=segment, tag=data["tag"])
            done = _("Tag “%(tag)s” added to %(n)s contacts.")
        elif action == "untag":
            count = services.segment_untag(actor=request.user, segment=segment, tag=data["tag"])
            done = _("Tag “%(tag)s” removed from %(n)s contacts.")
        elif action == "subscribe":
            count = services.segment_subscribe(
                actor=request.user,
                segment=segment,
                mailing_list=data["mailing_list"],
                how=data["how"],
                ip=client_ip(request) or "",
            )
            done = _("%(n)s contacts subscribed to “%(list)s”.")
        else:
            count = services.segment_contacts_delete(actor=request.user, segment=segment)
            done = _("%(n)s contacts deleted.")
    except (services.SegmentError, RuleError) as exc:
        messages.error(request, str(exc))
        return redirect("segments:detail", pk=pk)
    names = {
        "n": count,
        "tag": data["tag"].name if data.get("tag") else "",
        "list": data["mailing_list"].name if data.get("mailing_list") else "",
    }
    messages.success(request, done % names)
    return redirect("segments:detail", pk=pk)


@require_POST
@require_role(MARKETER)
def segment_freeze(request: HttpRequest, pk: int) -> HttpResponse:
    segment = get_object_or_404(Segment, pk=pk)
    form = FreezeForm(request.POST)
    if form.is_valid():
        try:
            tag, count = services.segment_freeze(
                actor=request.user, segment=segment, tag_name=form.cleaned_data["tag_name"]
            )
        except (services.SegmentError, RuleError) as exc:
            messages.error(request, str(exc))
        else:
            messages.success(
                request,
                _("%(n)s contacts kept under the tag “%(tag)s”.") % {"n": count, "tag": tag.name},
            )
    return redirect("segments:detail", pk=pk)


@require_safe
@require_role(MARKETER)
def segment_hashes(request: HttpRequest, pk: int) -> HttpResponse:
    """The segment's emails hashed for an ad platform's customer matching (one SHA-256 per line
    of the trimmed, lower-case address)."""
    segment = get_object_or_404(Segment, pk=pk)
    try:
        lines = services.segment_hashes_export(
            actor=request.user, segment=segment, ip=client_ip(request)
        )
        first = next(lines, "")
    except RuleError as exc:
        messages.error(request, str(exc))
        return redirect("segments:detail", pk=pk)

    def body() -> Any:
        if first:
            yield first
        yield from lines

    response = StreamingHttpResponse(body(), content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="segment-{segment.pk}-sha256.txt"'
    return response
