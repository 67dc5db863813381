"""Segments' own records."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from fidele.segments.rfm_segments import RFM_SEGMENTS


class ContactRfm(models.Model):
    """A customer's current RFM figures, scores (1 to 5, quintiles over the customers who
    ordered) and named segment; one row per contact with at least one order, replaced as a whole
    by each refresh (after imports and nightly). Segment rules' `{"rfm": CODE}` reads `segment`.
    """

    contact = models.OneToOneField(
        "contacts.Contact",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="rfm",
        verbose_name=_("contact"),
    )
    recency_days = models.PositiveIntegerField(_("days since the last order"))
    frequency = models.PositiveIntegerField(_("orders"))
    monetary = models.DecimalField(_("revenue"), max_digits=14, decimal_places=2)
    r_score = models.PositiveSmallIntegerField(_("recency score"))
    f_score = models.PositiveSmallIntegerField(_("frequency score"))
    m_score = models.PositiveSmallIntegerField(_("monetary score"))
    segment = models.CharField(
        _("RFM segment"),
        max_length=24,
        choices=[(code, label) for code, label in RFM_SEGMENTS.items()],
        db_index=True,
    )
    computed_at = models.DateTimeField(_("computed"))

    class Meta:
        verbose_name = _("RFM score")
        verbose_name_plural = _("RFM scores")

    def __str__(self) -> str:
        return f"{self.contact_id} {self.r_score}{self.f_score}{self.m_score} {self.segment}"
