"""What the dashboards (fidele.analytics) read of the RFM scores: the lookup from a contact to
its current segment, the number of customers per segment, the segments' names."""

from __future__ import annotations

from django.db.models import Count

from fidele.segments.models import ContactRfm
from fidele.segments.rfm_segments import RFM_SEGMENTS, rfm_segment_label

# The lookup from a contact (or, prefixed with "contact__", from a row that points at one) to
# its current RFM segment; NULL for a contact never scored.
RFM_SEGMENT_LOOKUP = "rfm__segment"


def rfm_segment_counts() -> dict[str, int]:
    """{segment code: customers} of the last RFM refresh (empty before the first one)."""
    rows = ContactRfm.objects.values("segment").annotate(n=Count("contact_id")).order_by()
    return {row["segment"]: row["n"] for row in rows}


def rfm_segment_choices() -> list[tuple[str, str]]:
    """(code, label in the reader's language) of every named segment, in the grid's order."""
    return [(code, rfm_segment_label(code)) for code in RFM_SEGMENTS]
