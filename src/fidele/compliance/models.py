from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Suppression(models.Model):
    """An address that must never be mailed again, whatever list it is on.

    Keyed by the normalised email (not the contact) so that it survives the contact's erasure
    and blocks a re-import of the same address.
    """

    class Reason(models.TextChoices):
        HARD_BOUNCE = "hard_bounce", _("Hard bounce")
        SOFT_BOUNCES = "soft_bounces", _("Repeated soft bounces")
        COMPLAINT = "complaint", _("Spam complaint")
        UNSUBSCRIBED_ALL = "unsubscribed_all", _("Unsubscribed from everything")
        ERASED = "erased", _("Erased on request")
        MANUAL = "manual", _("Blocked by hand")
        DISPOSABLE = "disposable", _("Disposable address")

    email = models.EmailField(_("email"), max_length=254, unique=True)
    reason = models.CharField(_("reason"), max_length=20, choices=Reason.choices)
    details = models.JSONField(_("details"), default=dict, blank=True)
    created_at = models.DateTimeField(_("since"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("suppressed address")
        verbose_name_plural = _("suppression list")

    def __str__(self) -> str:
        return f"{self.email} ({self.reason})"
