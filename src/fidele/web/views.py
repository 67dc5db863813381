"""Screens that span apps: the overview and the contact page (contact, orders, consent)."""

import logging

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_safe

from fidele.analytics.dashboard import (
    campaigns_people,
    categories_split,
    data_notes,
    mailable_growth_chart,
    overview_figures,
    revenue_chart,
    rfm_choices,
)
from fidele.analytics.dashboard_forms import dashboard_filters, presets
from fidele.campaigns.models import Campaign
from fidele.campaigns.selectors import campaigns_list
from fidele.commerce import selectors as commerce_selectors
from fidele.contacts import selectors as contact_selectors
from fidele.contacts.forms import ContactSubscribeForm, ContactTagForm
from fidele.contacts.models import Contact, MailingList, Subscription, Tag
from fidele.contacts.sections import contact_sections
from fidele.core.permissions import VIEWER, require_role
from fidele.web.details import describe_details, linked_records, references

logger = logging.getLogger(__name__)


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    """The overview: the figures a shop owner looks at first, each against the period before,
    read from the rollups only (fidele.analytics.dashboard), so it answers as fast at a million
    contacts as at a thousand; and what is new."""
    form, period, rfm = dashboard_filters(request.GET)
    last_campaigns = list(campaigns_list(status=Campaign.Status.SENT)[:3])
    people = campaigns_people(campaign_ids=[c.pk for c in last_campaigns])
    context = {
        "form": form,
        "period": period,
        "previous": period.before(),
        "rfm": rfm,
        "rfm_label": dict(rfm_choices()).get(rfm or "", ""),
        "presets": presets(),
        "figures": overview_figures(period=period, rfm=rfm),
        "charts": [revenue_chart(period=period), mailable_growth_chart(period=period)],
        "campaigns": [(c, people[c.pk]) for c in last_campaigns],
        "categories": categories_split(period=period),
        "notes": data_notes(period=period),
        "currency": settings.DEFAULT_CURRENCY,
        "recent_contacts": contact_selectors.contacts_recent(limit=6),
        "recent_orders": commerce_selectors.orders_recent(limit=6),
    }
    return render(request, "web/home.html", context)


@require_safe
@require_role(VIEWER)
def contact_detail(request: HttpRequest, pk: int) -> HttpResponse:
    contact = get_object_or_404(Contact, pk=pk)
    tags = list(contact.tags.order_by("name"))
    subscriptions = list(contact_selectors.contact_subscriptions(contact=contact))
    # One read of the newest orders for both the orders card (20) and the timeline.
    orders = commerce_selectors.contact_orders(
        contact_id=contact.pk, limit=contact_selectors.TIMELINE_LIMIT
    )
    # Each proof of consent as labelled rows; the campaigns, imports and users they name are
    # read once for all of them.
    linked = linked_records(ref for s in subscriptions for ref in references(s.consent_proof))
    proofs = [
        describe_details(s.consent_proof, linked=linked)
        if isinstance(s.consent_proof, dict)
        else []
        for s in subscriptions
    ]
    subscribed_ids = {
        s.mailing_list_id for s in subscriptions if s.status == Subscription.Status.SUBSCRIBED
    }
    context = {
        "contact": contact,
        "tags": tags,
        "other_customer_numbers": list(
            contact.customer_number_aliases.values_list("number", flat=True)
        ),
        "subscriptions": list(zip(subscriptions, proofs, strict=True)),
        "orders": orders[:20],
        "order_summary": commerce_selectors.contact_order_summary(contact_id=contact.pk),
        "timeline": contact_selectors.contact_timeline(
            contact=contact, other_events=commerce_selectors.order_timeline_events(orders)
        ),
        "available_tags": Tag.objects.exclude(pk__in=[t.pk for t in tags]).order_by("name"),
        "available_lists": MailingList.objects.exclude(pk__in=subscribed_ids).order_by("name"),
        "tag_form": ContactTagForm(),
        "subscribe_form": ContactSubscribeForm(),
        "attributes": contact_selectors.contact_attributes_labelled(contact=contact),
        # Cards the apps above hand down (analytics' lifetime value and churn).
        "sections": contact_sections(contact=contact),
    }
    return render(request, "contacts/detail.html", context)


def healthz(request: HttpRequest) -> JsonResponse:
    """For a load balancer or a supervisor: 200 when the database answers, 503 otherwise. The
    body names the failure's kind only (the driver's message can hold host and user names); the
    log has the whole message."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        logger.error("healthz: the database does not answer: %s", exc)
        return JsonResponse(
            {"ok": False, "database": f"unavailable ({type(exc).__name__})"}, status=503
        )
    return JsonResponse({"ok": True})
