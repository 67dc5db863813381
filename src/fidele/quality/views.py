"""The quality page (score, plan, findings, completeness, history), the unusual orders, and the
safe corrections with their preview. Views parse, call one service or selector, render."""

from __future__ import annotations

from decimal import Decimal

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST, require_safe

from fidele.core.permissions import MARKETER, VIEWER, require_role
from fidele.quality import fixes, selectors
from fidele.quality.audit import audit_run
from fidele.quality.findings import FIELDS
from fidele.quality.models import AuditSnapshot, FixBatch
from fidele.quality.tasks import mx_check_queue
from fidele.ui.pagination import listing_page


@require_safe
@require_role(VIEWER)
def overview(request: HttpRequest) -> HttpResponse:
    snapshot = selectors.snapshot_latest()
    context: dict = {"snapshot": snapshot, "fixes": selectors.fix_batches_recent()}
    if snapshot is not None:
        report = selectors.report_of(snapshot)
        previous, changes = selectors.snapshot_changes(snapshot)
        history = [_history_point(point) for point in selectors.snapshots_history()]
        context.update(
            report=report,
            previous=previous,
            changes=changes,
            changed=any(line["delta"] for line in changes),
            history=history,
            history_table=list(reversed(history))[:10],
            field_rows=[
                (name, label, _with_percent(snapshot.fields.get(name, {})))
                for name, label in FIELDS
            ],
            no_mx=next(f for f in report["findings"] if f["code"] == "email_no_mx"),
            stale_months=(snapshot.details or {}).get("stale_months"),
        )
    return render(request, "quality/overview.html", context)


def _with_percent(values: dict) -> dict:
    # A whole number for the bar's CSS width (a localised "0,5" would not be CSS).
    return {**values, "percent": round(100 * float(values.get("share") or 0))}


def _history_point(snapshot: AuditSnapshot) -> dict:
    return {
        "created_at": snapshot.created_at,
        "score": snapshot.score,
        "score_percent": max(1, round(snapshot.score)),
        "contacts": snapshot.contacts,
        "emails": snapshot.emails,
        "consent_missing": snapshot.finding("consent_missing").get("count"),
        "stale": snapshot.finding("stale").get("count"),
    }


@require_POST
@require_role(MARKETER)
def run_now(request: HttpRequest) -> HttpResponse:
    snapshot = audit_run(trigger=AuditSnapshot.Trigger.MANUAL)
    messages.success(
        request,
        _("Audit done in %(seconds)s s: %(score)s out of 100.")
        % {"seconds": f"{snapshot.seconds:.1f}", "score": f"{snapshot.score:.0f}"},
    )
    return redirect("quality:overview")


@require_POST
@require_role(MARKETER)
def mx_check(request: HttpRequest) -> HttpResponse:
    if mx_check_queue():
        messages.success(
            request,
            _(
                "The mail servers of your contacts' domains will be looked up in the background "
                "(a few minutes on a large base); the audit then runs again by itself."
            ),
        )
    else:
        messages.info(request, _("The look-up is already waiting for its turn."))
    return redirect("quality:overview")


@require_safe
@require_role(VIEWER)
def order_outliers(request: HttpRequest) -> HttpResponse:
    snapshot = selectors.snapshot_latest()
    queryset = selectors.orders_outlying(snapshot)
    context = listing_page(queryset, request.GET, fields=["total", "id"], descending=True)
    bounds = (snapshot.details or {}) if snapshot else {}
    for order in context["page"].rows:
        order.why = _why_unusual(order.total, bounds.get("totals"))
    context.update(snapshot=snapshot, bounds=bounds)
    return render(request, "quality/order_outliers.html", context)


def _why_unusual(total: Decimal, totals: dict | None) -> str:
    """What makes an order of `outlier_orders` stand out, in the owner's words."""
    if total < 0:
        return _("negative total")
    if totals and float(total) > totals["high"]:
        times = round(float(total) / totals["median"]) if totals["median"] else 0
        return _("total %(times)s times your typical order") % {"times": number_format(times)}
    if totals and 0 < float(total) < totals["low"]:
        return _("total far below your typical order")
    return _("a line with an unusual quantity")


def _fix_page(request: HttpRequest, *, kind: str) -> HttpResponse:
    snapshot = selectors.snapshot_latest()
    typo = kind == FixBatch.Kind.DOMAIN_TYPO
    if request.method == "POST":
        domains = request.POST.getlist("domain")
        if not domains:
            messages.error(request, _("Tick at least one domain to correct."))
            return redirect(request.path)
        apply = fixes.typo_fix_apply if typo else fixes.disposable_suppress_apply
        batch = apply(actor=request.user, domains=domains)
        changed = batch.summary.get("changed", 0)
        text = (
            ngettext("%(count)s address corrected.", "%(count)s addresses corrected.", changed)
            if typo
            else ngettext(
                "%(count)s disposable address suppressed.",
                "%(count)s disposable addresses suppressed.",
                changed,
            )
        )
        messages.success(
            request,
            text % {"count": changed} + " " + _("You can undo it below, under “Corrections”."),
        )
        return redirect("quality:overview")
    rows = fixes.typo_fix_preview(snapshot) if typo else fixes.disposable_suppress_preview(snapshot)
    return render(
        request,
        "quality/fix_preview.html",
        {"rows": rows, "typo": typo, "snapshot": snapshot},
    )


@require_role(MARKETER)
def fix_typos(request: HttpRequest) -> HttpResponse:
    return _fix_page(request, kind=FixBatch.Kind.DOMAIN_TYPO)


@require_role(MARKETER)
def fix_disposable(request: HttpRequest) -> HttpResponse:
    return _fix_page(request, kind=FixBatch.Kind.DISPOSABLE)


@require_POST
@require_role(MARKETER)
def fix_undo(request: HttpRequest, pk: int) -> HttpResponse:
    batch = get_object_or_404(FixBatch, pk=pk)
    try:
        restored = fixes.fix_undo(actor=request.user, batch=batch)
    except fixes.AlreadyUndone:
        messages.info(request, _("This correction was already undone."))
    else:
        messages.success(
            request,
            ngettext(
                "Undone: %(count)s contact got its value back.",
                "Undone: %(count)s contacts got their value back.",
                restored,
            )
            % {"count": restored},
        )
    return redirect("quality:overview")
