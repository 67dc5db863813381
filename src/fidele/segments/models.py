"""Segments' own records."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from fidele.core.models import TimeStampedModel
from fidele.segments.rfm_segments import RFM_SEGMENTS

# Saved segments


class Segment(TimeStampedModel):
    """A named rule (DESIGN.md, "Segment rules (JSON)"): its members are computed each time it is
    read, never stored, so a segment is always up to date. The rule is checked when it is saved
    (fidele.segments.services) and again when it runs (a list or tag it names may be gone)."""

    name = models.CharField(_("name"), max_length=120, unique=True)
    description = models.TextField(_("description"), blank=True)
    rules = models.JSONField(_("rules"), default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SegmentSize(models.Model):
    """How many contacts a segment had on a day (the daily job, fidele.segments.tasks): its
    size drawn over time."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="sizes")
    day = models.DateField(_("day"))
    size = models.PositiveIntegerField(_("contacts"))
    # Empty when the count ran; the reason when the rule could not (a tag it names was deleted).
    problem = models.CharField(_("problem"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("segment size")
        verbose_name_plural = _("segment sizes")
        constraints = [
            models.UniqueConstraint(fields=["segment", "day"], name="segmentsize_segment_day")
        ]

    def __str__(self) -> str:
        return f"{self.segment_id} {self.day}: {self.size}"


# RFM


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


# RFM and personas


class Persona(models.Model):
    """A group of customers who behave alike, found by k-means on their standardised behaviour
    (fidele.segments.personas). The whole set is replaced by each refresh; a group that keeps
    most of its members keeps its id, so that links and saved segments naming it stay true.

    `figures` holds the key figures shown with it (medians and shares over its members);
    `traits` what sets it apart from the whole base, as codes and values: the description is
    written from them in the reader's language when it is shown."""

    number = models.PositiveSmallIntegerField(_("number"))
    customers = models.PositiveIntegerField(_("customers"))
    revenue = models.DecimalField(_("revenue"), max_digits=16, decimal_places=2)
    figures = models.JSONField(_("key figures"), default=dict)
    traits = models.JSONField(_("distinctive traits"), default=list)
    computed_at = models.DateTimeField(_("computed"))

    class Meta:
        verbose_name = _("persona")
        verbose_name_plural = _("personas")
        ordering = ["number"]

    def __str__(self) -> str:
        return f"persona {self.number} ({self.customers})"


class ContactPersona(models.Model):
    """The persona a customer belongs to, as of the last refresh."""

    contact = models.OneToOneField(
        "contacts.Contact",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="persona",
        verbose_name=_("contact"),
    )
    persona = models.ForeignKey(
        Persona, on_delete=models.CASCADE, related_name="members", verbose_name=_("persona")
    )

    class Meta:
        verbose_name = _("contact's persona")
        verbose_name_plural = _("contacts' personas")

    def __str__(self) -> str:
        return f"{self.contact_id} {self.persona_id}"
