"""Reads for the import pages."""

from __future__ import annotations

from django.db.models import QuerySet

from fidele.contacts.models import MailingList
from fidele.imports.models import ImportJob


def importjobs_recent(*, limit: int = 50) -> QuerySet[ImportJob]:
    return ImportJob.objects.select_related("created_by").order_by("-created_at")[:limit]


def mailing_list_names() -> list[str]:
    return list(MailingList.objects.order_by("name").values_list("name", flat=True))
