"""`{"list": "Newsletter"}` (a list's name, whatever its case, or its id; or a list of them: any
of them): the contact is currently subscribed to the list (not unsubscribed, not waiting for a
double opt-in confirmation). An unknown list is an error."""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext as _

from fidele.contacts.models import MailingList, Subscription
from fidele.segments.errors import RuleError, shown
from fidele.segments.leaves import values


class ListLeaf:
    key = "list"
    keys = frozenset({"list"})

    def compile(self, node: dict[str, Any], path: str) -> Q:
        values.keys_check(node, self.keys, path)
        list_ids = values.one_or_many(node["list"], f"{path}.list", _list_id)
        return Q(
            Exists(
                Subscription.objects.filter(
                    contact_id=OuterRef("pk"),
                    mailing_list_id__in=list_ids,
                    status=Subscription.Status.SUBSCRIBED,
                )
            )
        )


def _list_id(value: Any, path: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        found = MailingList.objects.filter(pk=value)
    else:
        found = MailingList.objects.filter(name__iexact=values.text(value, path).strip())
    list_id = found.values_list("pk", flat=True).first()
    if list_id is None:
        raise RuleError(path, _("unknown list %(v)s") % {"v": shown(value)})
    return list_id
