"""How many contacts are in likely-duplicate pairs: the figure the audit's `duplicate` finding
shows.

A stand-in, agreed with the duplicate search (issue 10, items 4-5), which replaces this module
with its own: the audit only calls `duplicate_contact_count()`. Until then, contacts count as
likely duplicates when another one has the same full name (accents, case and hyphens ignored)
and the same postal code: one GROUP BY in the database.
"""

from __future__ import annotations

from django.db.models import Count, Q, Sum

from fidele.contacts.models import Contact


def duplicate_contact_count() -> int:
    """Contacts sharing their folded full name and postal code with another contact."""
    shared = (
        Contact.objects.exclude(status=Contact.Status.ERASED)
        .exclude(Q(last_name="") | Q(postal_code=""))
        .values("search_first_last", "postal_code")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .order_by()
    )
    return int(shared.aggregate(total=Sum("n"))["total"] or 0)
