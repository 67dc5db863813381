from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_safe
from django.views.decorators.vary import vary_on_headers

from fidele.commerce import selectors
from fidele.commerce.models import Order
from fidele.core.permissions import VIEWER, require_role
from fidele.ui.pagination import listing_page


@require_safe
@vary_on_headers("HX-Request")
@require_role(VIEWER)
def order_list(request: HttpRequest) -> HttpResponse:
    params = request.GET
    queryset = selectors.orders_filtered(params=params)
    sort = selectors.orders_sort(params)
    fields, descending = selectors.SORTS[sort]
    context = {
        **listing_page(
            queryset,
            params,
            fields=fields,
            descending=descending,
            page_queryset=queryset.select_related("contact"),
        ),
        "sort": sort,
        "filters_active": any(params.get(k) for k in ("q", "channel", "contact")),
        "contact": _contact_of(params),
    }
    # A live search asks for the results only; a history restore (back button after the cache
    # was emptied) needs the whole page even though it comes from htmx.
    partial = request.htmx and not request.htmx.history_restore_request
    template = "commerce/_results.html" if partial else "commerce/order_list.html"
    return render(request, template, context)


@require_safe
@require_role(VIEWER)
def order_detail(request: HttpRequest, pk: int) -> HttpResponse:
    order = get_object_or_404(Order.objects.select_related("contact"), pk=pk)
    return render(
        request,
        "commerce/order_detail.html",
        {"order": order, "lines": selectors.order_lines(order=order)},
    )


def _contact_of(params) -> object | None:
    """The customer whose orders are listed (?contact=ID from the contact page), if any."""
    from fidele.contacts.models import Contact

    value = (params.get("contact") or "").strip()
    return Contact.objects.filter(pk=int(value)).first() if value.isdigit() else None
