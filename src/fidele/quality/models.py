"""Quality's own records: audit snapshots, the mail-server look-ups they use, and the bulk fixes
applied from the improvement plan (kept so that each one can be undone); the likely duplicates
of the last search and the pairs people said are two."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditSnapshot(models.Model):
    """One run of the audit, dated: the score, the figures and the findings as they were.

    The history chart and "what changed since the last audit" read these rows; the contacts
    list's quality filters read the latest one's `domains` (which domains were judged typos,
    disposable, invalid or without a mail server), so that a link opens the contacts the audit
    counted.
    """

    class Trigger(models.TextChoices):
        MANUAL = "manual", _("run from the quality page")
        COMMAND = "command", _("run from the command line")
        IMPORT = "import", _("after an import")
        NIGHTLY = "nightly", _("nightly")
        FIX = "fix", _("after a correction")
        DEMO = "demo", _("demo shop loaded")

    created_at = models.DateTimeField(_("audited"), auto_now_add=True, db_index=True)
    trigger = models.CharField(_("why it ran"), max_length=10, choices=Trigger.choices)
    score = models.FloatField(_("score"))
    contacts = models.PositiveIntegerField(_("contacts"))
    emails = models.PositiveIntegerField(_("contacts with an email"))
    orders = models.PositiveIntegerField(_("orders"))
    # {name: {"filled": int, "share": float}}
    fields = models.JSONField(_("fields filled"), default=dict)
    # [{"code", "count", "share", "points", ...}] in the order of FINDINGS (fidele.quality.findings)
    findings = models.JSONField(_("findings"), default=list)
    # {"typos": {domain: fix}, "disposable": [...], "invalid": [...], "no_mx": [...]}
    domains = models.JSONField(_("domains judged"), default=dict)
    # The order-outlier bounds and the settings the run used (stale months...).
    details = models.JSONField(_("details"), default=dict)
    seconds = models.FloatField(_("duration (s)"), default=0)

    class Meta:
        verbose_name = _("data-quality audit")
        verbose_name_plural = _("data-quality audits")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.score:.0f}/100"

    def finding(self, code: str) -> dict:
        return next((f for f in self.findings if f.get("code") == code), {})


class DomainCheck(models.Model):
    """Whether a domain receives email (MX, or an address record standing in for one), looked up
    on demand and kept QUALITY_MX_CACHE_DAYS. `receives_mail` is None when the look-up gave no
    answer (a timeout): unknown, never counted against the addresses."""

    domain = models.CharField(_("domain"), max_length=253, unique=True)
    receives_mail = models.BooleanField(_("receives email"), null=True)
    detail = models.CharField(_("detail"), max_length=200, blank=True)
    checked_at = models.DateTimeField(_("checked"), db_index=True)

    class Meta:
        verbose_name = _("mail-server check")
        verbose_name_plural = _("mail-server checks")

    def __str__(self) -> str:
        return f"{self.domain}: {self.receives_mail}"


class FixBatch(models.Model):
    """A bulk correction applied from the improvement plan after its preview: every contact it
    changed, with the value before (FixChange), so that it can be undone."""

    class Kind(models.TextChoices):
        DOMAIN_TYPO = "domain_typo", _("mistyped domains corrected")
        DISPOSABLE = "disposable", _("disposable addresses suppressed")

    kind = models.CharField(_("correction"), max_length=12, choices=Kind.choices)
    created_at = models.DateTimeField(_("applied"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    actor_label = models.CharField(_("by (label)"), max_length=150, blank=True)
    # What was asked and what was done: domains, counts, contacts left alone and why.
    summary = models.JSONField(_("summary"), default=dict)
    undone_at = models.DateTimeField(_("undone"), null=True, blank=True)
    undone_by_label = models.CharField(_("undone by"), max_length=150, blank=True)

    class Meta:
        verbose_name = _("bulk correction")
        verbose_name_plural = _("bulk corrections")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.created_at:%Y-%m-%d %H:%M})"


class FixChange(models.Model):
    """One contact's field as a bulk correction changed it."""

    batch = models.ForeignKey(FixBatch, on_delete=models.CASCADE, related_name="changes")
    contact = models.ForeignKey("contacts.Contact", on_delete=models.CASCADE, related_name="+")
    field = models.CharField(max_length=30)
    old_value = models.CharField(max_length=254)
    new_value = models.CharField(max_length=254)

    class Meta:
        verbose_name = _("corrected value")
        verbose_name_plural = _("corrected values")

    def __str__(self) -> str:
        return f"{self.contact_id} {self.field}: {self.old_value} -> {self.new_value}"


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
