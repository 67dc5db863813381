"""Quality's own records: audit snapshots and duplicate-pair decisions."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class DuplicatePair(models.Model):
    """Two contacts the last duplicate search proposes as one person (fidele.quality.duplicates).

    Rewritten whole by each search. The contacts are named by id, not by foreign key: a pair
    whose contact was merged or deleted since is simply not shown (the readers check that both
    still exist), and the merge of contacts has nothing of quality's to carry over.
    """

    contact_low = models.BigIntegerField(_("contact"))
    contact_high = models.BigIntegerField(_("other contact"))
    score = models.FloatField(_("likelihood"))
    # Codes of fidele.quality.matching.REASONS, shown in the reader's language.
    reasons = models.JSONField(_("reasons"), default=list)
    found_at = models.DateTimeField(_("found"), auto_now_add=True)

    class Meta:
        verbose_name = _("likely duplicate")
        verbose_name_plural = _("likely duplicates")
        constraints = [
            models.UniqueConstraint(fields=["contact_low", "contact_high"], name="dup_pair_unique"),
            models.CheckConstraint(
                condition=models.Q(contact_low__lt=models.F("contact_high")),
                name="dup_pair_ordered",
            ),
        ]
        indexes = [
            models.Index(fields=["-score", "id"], name="dup_pair_score_idx"),
            models.Index(fields=["contact_high"], name="dup_pair_high_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.contact_low} ~ #{self.contact_high} ({self.score:.3f})"


class DuplicateDismissal(models.Model):
    """ "Not the same person": a pair a user looked at and dismissed. The search never proposes
    it again, even after one of them is merged away and the merge undone (ids are kept)."""

    contact_low = models.BigIntegerField(_("contact"))
    contact_high = models.BigIntegerField(_("other contact"))
    created_at = models.DateTimeField(_("decided"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(_("by"), max_length=150, blank=True)

    class Meta:
        verbose_name = _("pair marked not a duplicate")
        verbose_name_plural = _("pairs marked not duplicates")
        constraints = [
            models.UniqueConstraint(
                fields=["contact_low", "contact_high"], name="dup_dismissal_unique"
            )
        ]

    def __str__(self) -> str:
        return f"#{self.contact_low} ≠ #{self.contact_high}"


class DuplicateSearch(models.Model):
    """One run of the duplicate search: when, over how many contacts, what it found and how
    long it took (shown on the duplicates page; the benchmark reads the same figures)."""

    started_at = models.DateTimeField(_("started"), auto_now_add=True, db_index=True)
    seconds = models.FloatField(_("seconds"), default=0)
    contacts = models.IntegerField(_("contacts"), default=0)
    candidates = models.IntegerField(_("pairs compared"), default=0)
    pairs = models.IntegerField(_("likely duplicates"), default=0)

    class Meta:
        verbose_name = _("duplicate search")
        verbose_name_plural = _("duplicate searches")
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.started_at:%Y-%m-%d %H:%M} {self.pairs}"
