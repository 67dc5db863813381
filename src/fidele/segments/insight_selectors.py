"""Reads of the customer insight pages: the RFM grid, the personas, and the contacts list's
handed-down filters `?rfm=CODE` and `?persona=ID` (registered from SegmentsConfig.ready())."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Count, Max, QuerySet, Sum
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from fidele.contacts.models import Contact
from fidele.segments.models import ContactRfm, Persona
from fidele.segments.personas import PersonaText, persona_describe, persona_sentence
from fidele.segments.rfm import GRID
from fidele.segments.rfm_segments import RFM_SEGMENTS, rfm_segment_label

# The contacts list's query parameters (?rfm=CODE, ?persona=ID).
RFM_PARAM = "rfm"
PERSONA_PARAM = "persona"

# What each segment is, and what to do with it, in a sentence.
RFM_SEGMENT_HELP: dict[str, Any] = {
    "champions": gettext_lazy(
        "Bought recently, buy often and spend the most. Thank them, let them try new products."
    ),
    "loyal": gettext_lazy(
        "Buy often and spend well, not always very recently. Offer more: the club, larger sizes."
    ),
    "potential_loyalists": gettext_lazy(
        "Recent customers with average frequency and spend. A loyalty offer can keep them."
    ),
    "new": gettext_lazy("Bought recently, for the first time or almost. Welcome them."),
    "promising": gettext_lazy(
        "Fairly recent customers who have not bought much yet. Make them come back."
    ),
    "need_attention": gettext_lazy(
        "Average on every count, and slipping. A limited offer can bring them back."
    ),
    "about_to_sleep": gettext_lazy(
        "Average recency, few orders and little spend. Remind them before they go."
    ),
    "at_risk": gettext_lazy(
        "Used to buy often and spend well, but not for a while. Write to them personally."
    ),
    "cannot_lose": gettext_lazy(
        "Among your best customers once, gone quiet a long time. Win them back first."
    ),
    "hibernating": gettext_lazy(
        "Last bought long ago, few orders, little spend. Only your best offers will wake them."
    ),
    "lost": gettext_lazy(
        "The longest without an order, with few orders and little spend. Do not spend much on them."
    ),
}


# --- the contacts list's filters ---------------------------------------------------------------


def contacts_in_rfm_segment(queryset: QuerySet[Contact], code: str) -> QuerySet[Contact]:
    """The contacts whose current RFM segment is `code` (none for an unknown code)."""
    if code not in RFM_SEGMENTS:
        return queryset.none()
    return queryset.filter(rfm__segment=code)


def rfm_filter_describe(code: str) -> str:
    if code not in RFM_SEGMENTS:
        return ""
    return _("RFM segment: %(segment)s. %(help)s") % {
        "segment": rfm_segment_label(code),
        "help": RFM_SEGMENT_HELP[code],
    }


def contacts_of_persona(queryset: QuerySet[Contact], value: str) -> QuerySet[Contact]:
    """The contacts of the persona whose id is `value` (none for a malformed id)."""
    if not value.isdigit():
        return queryset.none()
    return queryset.filter(persona__persona_id=int(value))


def persona_filter_describe(value: str) -> str:
    persona = Persona.objects.filter(pk=int(value)).first() if value.isdigit() else None
    if persona is None:
        return ""
    return persona_name(persona) + "."


def persona_name(persona: Persona) -> str:
    return _("Persona %(number)s: %(title)s") % {
        "number": persona.number,
        "title": persona_describe(persona).title,
    }


def persona_rule(persona: Persona) -> dict[str, int]:
    """The persona as a segment rule (`fidele.segments.leaves.persona`). It follows the persona
    across refreshes as long as the group keeps its id (fidele.segments.personas keeps it when
    most members stay)."""
    return {"persona": persona.pk}


# --- the RFM grid ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RfmCell:
    code: str
    label: str
    help: str
    customers: int
    revenue: Decimal
    customer_share: float
    revenue_share: float
    # Where it sits in the grid (CSS grid lines: columns are R 1..5, rows FM 5..1).
    column: int
    column_span: int
    row: int
    row_span: int


@dataclass(frozen=True)
class RfmGrid:
    cells: list[RfmCell]
    customers: int
    revenue: Decimal
    computed_at: datetime | None

    @property
    def by_revenue(self) -> list[RfmCell]:
        return sorted(self.cells, key=lambda c: (-c.revenue, -c.customers, c.code))


def rfm_grid() -> RfmGrid:
    """Customers and revenue of each named segment, from the stored scores."""
    rows = {
        row["segment"]: row
        for row in ContactRfm.objects.values("segment").annotate(
            customers=Count("contact_id"), revenue=Sum("monetary")
        )
    }
    customers = sum(row["customers"] for row in rows.values())
    revenue = sum((Decimal(row["revenue"] or 0) for row in rows.values()), Decimal("0"))
    cells = []
    for code, r_from, r_to, fm_from, fm_to in GRID:
        row = rows.get(code) or {}
        cell_revenue = Decimal(row.get("revenue") or 0).quantize(Decimal("0.01"))
        cell_customers = int(row.get("customers") or 0)
        cells.append(
            RfmCell(
                code=code,
                label=rfm_segment_label(code),
                help=str(RFM_SEGMENT_HELP[code]),
                customers=cell_customers,
                revenue=cell_revenue,
                customer_share=cell_customers / customers if customers else 0.0,
                revenue_share=float(cell_revenue / revenue) if revenue else 0.0,
                column=r_from,
                column_span=r_to - r_from + 1,
                row=6 - fm_to,
                row_span=fm_to - fm_from + 1,
            )
        )
    computed_at = ContactRfm.objects.aggregate(at=Max("computed_at"))["at"]
    return RfmGrid(
        cells=cells,
        customers=customers,
        revenue=revenue.quantize(Decimal("0.01")),
        computed_at=computed_at,
    )


# --- personas ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonaView:
    persona: Persona
    text: PersonaText
    sentence: str
    customer_share: float
    revenue_share: float


def personas_list() -> list[PersonaView]:
    personas = list(Persona.objects.order_by("number"))
    customers = sum(p.customers for p in personas)
    revenue = sum((p.revenue for p in personas), Decimal("0"))
    views = []
    for persona in personas:
        text = persona_describe(persona)
        views.append(
            PersonaView(
                persona=persona,
                text=text,
                sentence=persona_sentence(text),
                customer_share=persona.customers / customers if customers else 0.0,
                revenue_share=float(persona.revenue / revenue) if revenue else 0.0,
            )
        )
    return views
