"""`{"tag": "vip"}` (or a list of tags: any of them): the contact has the tag. Tag names are
matched whatever their case, as the app keeps them unique; an unknown tag is an error."""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext as _

from fidele.contacts.models import Contact, Tag
from fidele.segments.errors import RuleError, shown
from fidele.segments.leaves import values


class TagLeaf:
    key = "tag"
    keys = frozenset({"tag"})

    def compile(self, node: dict[str, Any], path: str) -> Q:
        values.keys_check(node, self.keys, path)
        tag_ids = values.one_or_many(node["tag"], f"{path}.tag", _tag_id)
        return Q(
            Exists(
                Contact.tags.through.objects.filter(contact_id=OuterRef("pk"), tag_id__in=tag_ids)
            )
        )


def _tag_id(value: Any, path: str) -> int:
    name = values.text(value, path).strip()
    tag_id = Tag.objects.filter(name__iexact=name).values_list("pk", flat=True).first()
    if tag_id is None:
        raise RuleError(path, _("unknown tag %(v)s") % {"v": shown(value)})
    return tag_id
