"""The named RFM segments: one owner for their codes (stored on each contact's score and named in
segment rules as `{"rfm": CODE}`) and their labels in the reader's language.

The codes are a contract (DESIGN.md, segment rules): add to them, never rename one.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

RFM_SEGMENTS: dict[str, object] = {
    "champions": _("Champions"),
    "loyal": _("Loyal customers"),
    "potential_loyalists": _("Potential loyalists"),
    "new": _("New customers"),
    "promising": _("Promising"),
    "need_attention": _("Need attention"),
    "about_to_sleep": _("About to sleep"),
    "at_risk": _("At risk"),
    "cannot_lose": _("Cannot lose them"),
    "hibernating": _("Hibernating"),
    "lost": _("Lost"),
}


def rfm_segment_label(code: str) -> str:
    return str(RFM_SEGMENTS.get(code, code))
