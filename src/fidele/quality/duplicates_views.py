"""The duplicates pages: the pairs proposed, one pair side by side to merge, the bulk merge of
the surest pairs after a preview, "not the same person", and undoing a merge.

Thin: they parse the request, call `fidele.quality.duplicates` or `fidele.contacts.merge`, and
render. Ids in URLs and forms are checked against what is stored (a forged or stale pair gets a
clear message, never a merge of something not proposed in bulk)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST, require_safe

from fidele.commerce.models import Order
from fidele.contacts.merge import (
    ABSORBED,
    CHOSEN_FIELDS,
    KEPT,
    MergeRefused,
    contact_merge_undo,
    contacts_merge,
    merge_field_choices,
    merges_recent,
)
from fidele.contacts.models import Contact, ContactMerge
from fidele.core.permissions import MARKETER, VIEWER, can_edit, require_role
from fidele.quality import duplicates as dup
from fidele.quality.duplicates_tasks import duplicates_search_pending, duplicates_search_queue
from fidele.quality.matching import HIGH_CONFIDENCE
from fidele.quality.models import DuplicatePair

PER_PAGE = 50
BULK_LIMIT = 500


def _page_number(request: HttpRequest) -> int:
    try:
        return max(1, min(10_000, int(request.GET.get("page", "1"))))
    except ValueError:
        return 1


def _order_counts(ids: list[int]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for start in range(0, len(ids), 900):
        rows = (
            Order.objects.filter(contact_id__in=ids[start : start + 900])
            .values_list("contact_id")
            .order_by()
        )
        for (contact_id,) in rows:
            counts[contact_id] = counts.get(contact_id, 0) + 1
    return counts


def _kept_first(a: Contact, b: Contact, orders: dict[int, int]) -> tuple[Contact, Contact]:
    """Which of two contacts a merge keeps by default: the one with more orders, else the
    older record (its id is the one other systems know best)."""
    if (orders.get(b.pk, 0), -b.pk) > (orders.get(a.pk, 0), -a.pk):
        return b, a
    return a, b


def _shown(score: float) -> float:
    """A likelihood as shown: never "100 %", which no comparison of two records is."""
    return min(score, 0.999)


def _rows(pairs: list[DuplicatePair]) -> list[dict[str, Any]]:
    contacts = dup.pair_contacts(pairs)
    rows = []
    for pair in pairs:
        a, b = contacts.get(pair.contact_low), contacts.get(pair.contact_high)
        if a is None or b is None:
            continue
        rows.append(
            {
                "pair": pair,
                "a": a,
                "b": b,
                "reasons": dup.reason_texts(pair.reasons),
                "likelihood": _shown(pair.score),
            }
        )
    return rows


@require_safe
@require_role(VIEWER)
def duplicates_list(request: HttpRequest) -> HttpResponse:
    page = _page_number(request)
    queryset = dup.duplicate_pairs()
    total = queryset.count()
    pairs = list(queryset[(page - 1) * PER_PAGE : page * PER_PAGE])
    merges = merges_recent(limit=10)
    return render(
        request,
        "quality/duplicates.html",
        {
            "rows": _rows(pairs),
            "total": total,
            "page": page,
            "has_next": page * PER_PAGE < total,
            "search": dup.last_search(),
            "pending": duplicates_search_pending(),
            "sure_count": dup.high_confidence_pairs().count(),
            "high_confidence": round(HIGH_CONFIDENCE * 100, 1),
            "merges": [{"merge": m, "name": _merge_names(m)} for m in merges],
        },
    )


def _merge_names(merge: ContactMerge) -> str:
    fields = merge.absorbed.get("fields", {}) if isinstance(merge.absorbed, dict) else {}
    name = " ".join(p for p in (fields.get("first_name"), fields.get("last_name")) if p)
    return name or fields.get("email") or f"#{merge.absorbed_contact_id}"


@require_POST
@require_role(MARKETER)
def duplicates_search(request: HttpRequest) -> HttpResponse:
    if duplicates_search_queue():
        messages.success(request, _("The search has started; this page shows its result."))
    else:
        messages.info(request, _("A search is already waiting to run."))
    return redirect("quality:duplicates")


def _pair_contacts(a: int, b: int) -> tuple[Contact, Contact]:
    if a == b:
        raise MergeRefused(_("A contact cannot be merged with itself."))
    found = Contact.objects.in_bulk([a, b])
    if len(found) != 2:
        raise MergeRefused(_("One of these contacts no longer exists (merged or deleted)."))
    return found[a], found[b]


def _refused(request: HttpRequest, exc: MergeRefused) -> HttpResponse:
    messages.error(request, str(exc))
    return redirect("quality:duplicates")


@require_role(VIEWER)
def duplicate_merge(request: HttpRequest, a: int, b: int) -> HttpResponse:
    """GET: the two contacts side by side, a value chosen for each field. POST: merge."""
    if request.method not in ("GET", "HEAD", "POST"):
        return HttpResponse(status=405)
    if request.method == "POST" and not can_edit(request.user):
        raise PermissionDenied
    try:
        first, second = _pair_contacts(a, b)
    except MergeRefused as exc:
        return _refused(request, exc)
    if request.method == "POST":
        return _merge_posted(request, first, second)
    kept, absorbed = _kept_first(first, second, _order_counts([first.pk, second.pk]))
    if request.GET.get("keep") in (str(first.pk), str(second.pk)):
        keep = int(request.GET["keep"])
        kept, absorbed = (first, second) if keep == first.pk else (second, first)
    pair = DuplicatePair.objects.filter(contact_low=min(a, b), contact_high=max(a, b)).first()
    orders = _order_counts([kept.pk, absorbed.pk])
    return render(
        request,
        "quality/merge.html",
        {
            "kept": kept,
            "absorbed": absorbed,
            "rows": merge_field_choices(kept, absorbed),
            "pair": pair,
            "likelihood": _shown(pair.score) if pair else None,
            "reasons": dup.reason_texts(pair.reasons) if pair else [],
            "kept_orders": orders.get(kept.pk, 0),
            "absorbed_orders": orders.get(absorbed.pk, 0),
            "kept_subscriptions": kept.subscriptions.count(),
            "absorbed_subscriptions": absorbed.subscriptions.count(),
        },
    )


def _merge_posted(request: HttpRequest, first: Contact, second: Contact) -> HttpResponse:
    try:
        kept_id = int(request.POST.get("kept", ""))
    except ValueError:
        kept_id = 0
    if kept_id not in (first.pk, second.pk):
        messages.error(request, _("Choose which contact to keep."))
        return redirect("quality:duplicate_merge", a=first.pk, b=second.pk)
    absorbed_id = second.pk if kept_id == first.pk else first.pk
    choices = {
        name: request.POST[f"field_{name}"]
        for name in CHOSEN_FIELDS
        if request.POST.get(f"field_{name}") in (KEPT, ABSORBED)
    }
    try:
        merge = contacts_merge(
            actor=request.user, kept_id=kept_id, absorbed_id=absorbed_id, choices=choices
        )
    except MergeRefused as exc:
        return _refused(request, exc)
    messages.success(
        request,
        _("Merged. Everything of both contacts is now on this one; the merge can be undone "
          "from the duplicates page."),
    )  # fmt: skip
    return redirect(reverse("web:contact_detail", args=[merge.kept_contact_id]))


@require_POST
@require_role(MARKETER)
def duplicate_dismiss(request: HttpRequest, a: int, b: int) -> HttpResponse:
    try:
        first, second = _pair_contacts(a, b)
    except MergeRefused as exc:
        return _refused(request, exc)
    dup.duplicate_dismiss(actor=request.user, contact_ids=(first.pk, second.pk))
    messages.success(
        request,
        _("Noted: %(a)s and %(b)s will not be proposed again.")
        % {"a": first.display_name, "b": second.display_name},
    )
    return redirect("quality:duplicates")


@require_role(MARKETER)
def duplicates_bulk(request: HttpRequest) -> HttpResponse:
    """GET: the surest pairs and what merging them keeps. POST: merge exactly the pairs the
    preview listed (their ids in the form), each in its own transaction."""
    if request.method == "POST":
        return _bulk_posted(request)
    pairs = list(dup.high_confidence_pairs()[:BULK_LIMIT])
    rows = _rows(pairs)
    orders = _order_counts([pk for r in rows for pk in (r["a"].pk, r["b"].pk)])
    used: set[int] = set()
    preview = []
    for row in rows:
        kept, absorbed = _kept_first(row["a"], row["b"], orders)
        # A contact in two sure pairs is merged once; the next search proposes the rest.
        if kept.pk in used or absorbed.pk in used:
            continue
        used.update((kept.pk, absorbed.pk))
        preview.append({**row, "kept": kept, "absorbed": absorbed})
    return render(
        request,
        "quality/bulk.html",
        {"preview": preview, "high_confidence": round(HIGH_CONFIDENCE * 100, 1)},
    )


def _bulk_posted(request: HttpRequest) -> HttpResponse:
    ids = []
    for value in request.POST.getlist("pair")[:BULK_LIMIT]:
        try:
            ids.append(int(value))
        except ValueError:
            continue
    pairs = list(dup.high_confidence_pairs().filter(pk__in=ids))
    orders = _order_counts([pk for p in pairs for pk in (p.contact_low, p.contact_high)])
    contacts = dup.pair_contacts(pairs)
    merged = skipped = 0
    for pair in pairs:
        a, b = contacts.get(pair.contact_low), contacts.get(pair.contact_high)
        if a is None or b is None:
            skipped += 1
            continue
        kept, absorbed = _kept_first(a, b, orders)
        try:
            with transaction.atomic():
                contacts_merge(actor=request.user, kept_id=kept.pk, absorbed_id=absorbed.pk)
        except MergeRefused:
            skipped += 1
            continue
        contacts.pop(absorbed.pk, None)
        merged += 1
    skipped += len(set(ids)) - len(pairs)
    messages.success(
        request,
        ngettext("%(n)d pair merged.", "%(n)d pairs merged.", merged) % {"n": merged}
        + (
            " "
            + ngettext(
                "%(n)d skipped (a contact was merged or deleted meanwhile).",
                "%(n)d skipped (a contact was merged or deleted meanwhile).",
                skipped,
            )
            % {"n": skipped}
            if skipped
            else ""
        ),
    )
    return redirect("quality:duplicates")


@require_POST
@require_role(MARKETER)
def merge_undo(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        restored = contact_merge_undo(actor=request.user, merge_id=pk)
    except MergeRefused as exc:
        return _refused(request, exc)
    messages.success(
        request,
        _("Merge undone: %(name)s is back with everything that was theirs.")
        % {"name": restored.display_name},
    )
    return redirect(reverse("web:contact_detail", args=[restored.pk]))
