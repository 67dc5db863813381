"""`{"persona": ID}` (or a list of ids: any of them): the contacts the last refresh put in that
persona (segments.ContactPersona). A persona keeps its id across refreshes while most of its
members stay (fidele.segments.personas), so a segment saved from one follows it."""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext as _

from fidele.segments.errors import RuleError, shown
from fidele.segments.leaves import values
from fidele.segments.models import ContactPersona, Persona


class PersonaLeaf:
    key = "persona"
    keys = frozenset({"persona"})

    def compile(self, node: dict[str, Any], path: str) -> Q:
        values.keys_check(node, self.keys, path)
        ids = values.one_or_many(node["persona"], f"{path}.persona", _persona_id)
        return Q(
            Exists(ContactPersona.objects.filter(contact_id=OuterRef("pk"), persona_id__in=ids))
        )


def _persona_id(value: Any, path: str) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not Persona.objects.filter(pk=value).exists()
    ):
        raise RuleError(path, _("unknown persona %(v)s") % {"v": shown(value)})
    return value
