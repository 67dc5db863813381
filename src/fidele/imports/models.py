from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ImportJob(models.Model):
    """One file being imported: its detected shape, the mapping chosen, progress and summary."""

    class Kind(models.TextChoices):
        CONTACTS = "contacts", _("Contacts")
        ORDERS = "orders", _("Orders")

    class Status(models.TextChoices):
        UPLOADED = "uploaded", _("Awaiting confirmation")
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.UPLOADED
    )
    original_name = models.CharField(_("file"), max_length=255)
    stored_path = models.CharField(max_length=500)
    size_bytes = models.BigIntegerField(default=0)
    # Detection results (encoding, delimiter, sheet, header row) and the user's choices.
    detected = models.JSONField(default=dict, blank=True)
    mapping = models.JSONField(default=dict, blank=True)
    options = models.JSONField(default=dict, blank=True)
    rows_total = models.IntegerField(null=True, blank=True)
    rows_done = models.IntegerField(default=0)
    summary = models.JSONField(default=dict, blank=True)
    rejected_path = models.CharField(max_length=500, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The lease of a running import: who runs it (fidele.core.claims.claimer_name) and when it
    # last said so. A job whose claimer is gone, or whose heartbeat is older than the lease, is
    # marked interrupted (fidele.imports.runner.importjobs_recover).
    claimed_by = models.CharField(max_length=100, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # When the uploaded file (personal data) was deleted: after a successful import, a discard,
    # or by the retention job (fidele.imports.runner.uploads_retention).
    upload_deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return _("%(kind)s: %(file)s") % {
            "kind": self.get_kind_display(),
            "file": self.original_name,
        }

    @property
    def progress_percent(self) -> int:
        if not self.rows_total:
            return 100 if self.status == self.Status.DONE else 0
        return min(100, round(100 * self.rows_done / self.rows_total))
