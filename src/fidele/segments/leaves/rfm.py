"""`{"rfm": "champions"}` (or a list of codes: any of them): the contact's current named RFM
segment (segments.ContactRfm, refreshed after imports and nightly). Codes are those of
`fidele.segments.rfm_segments.RFM_SEGMENTS`; any other is an error."""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext as _

from fidele.segments.errors import RuleError, shown
from fidele.segments.leaves import values
from fidele.segments.models import ContactRfm
from fidele.segments.rfm_segments import RFM_SEGMENTS


class RfmLeaf:
    key = "rfm"
    keys = frozenset({"rfm"})

    def compile(self, node: dict[str, Any], path: str) -> Q:
        values.keys_check(node, self.keys, path)
        codes = values.one_or_many(node["rfm"], f"{path}.rfm", _code)
        return Q(Exists(ContactRfm.objects.filter(contact_id=OuterRef("pk"), segment__in=codes)))


def _code(value: Any, path: str) -> str:
    if not isinstance(value, str) or value not in RFM_SEGMENTS:
        raise RuleError(
            path,
            _("unknown RFM segment %(v)s (expected one of: %(codes)s)")
            % {"v": shown(value), "codes": ", ".join(RFM_SEGMENTS)},
        )
    return value
