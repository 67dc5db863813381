"""Multi-row reads of contacts. The list page, the export and (later) segments share these filters."""

from __future__ import annotations

from collections.abc import Mapping

from django.db.models import QuerySet

from fidele.contacts.models import Contact


def contacts_filtered(*, params: Mapping[str, str]) -> QuerySet[Contact]:
    """Contacts matching the filters of the contacts list page (query-string keys).

    q: search text; tag: tag name; list: list id; status: Contact.Status value.
    """
    queryset = Contact.objects.all()
    q = (params.get("q") or "").strip()
    if q:
        if "@" in q:
            queryset = queryset.filter(email__startswith=q.lower())
        else:
            queryset = queryset.filter(last_name__istartswith=q) | queryset.filter(
                external_id=q
            )
    if params.get("tag"):
        queryset = queryset.filter(tags__name=params["tag"])
    if params.get("list"):
        queryset = queryset.filter(
            subscriptions__mailing_list_id=params["list"], subscriptions__status="subscribed"
        )
    if params.get("status"):
        queryset = queryset.filter(status=params["status"])
    return queryset
