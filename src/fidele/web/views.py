from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from fidele.commerce import selectors as commerce_selectors
from fidele.contacts import selectors as contact_selectors


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    """The overview: a few figures the database aggregates in one pass each, and what is new."""
    counts = contact_selectors.contact_counts()
    orders = commerce_selectors.order_stats(months=12)
    context = {
        "counts": counts,
        "orders": orders,
        "lists": contact_selectors.lists_subscribed_counts(),
        "recent_contacts": contact_selectors.contacts_recent(limit=8),
        "recent_orders": commerce_selectors.orders_recent(limit=8),
    }
    return render(request, "web/home.html", context)


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})
