from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class EmailEvent(models.Model):
    """What happened to a message after it left: the facts campaign reports and segments read.

    One row per event. `is_machine` marks opens and clicks made by security scanners and mail
    privacy proxies rather than people (the tracking issue fills it in).
    """

    class Type(models.TextChoices):
        DELIVERED = "delivered", _("Delivered")
        OPEN = "open", _("Opened")
        CLICK = "click", _("Clicked")
        BOUNCE = "bounce", _("Bounced")
        UNSUBSCRIBE = "unsubscribe", _("Unsubscribed")
        COMPLAINT = "complaint", _("Complained")

    type = models.CharField(max_length=12, choices=Type.choices)
    at = models.DateTimeField(db_index=True)
    campaign = models.ForeignKey(
        "campaigns.Campaign", null=True, blank=True, on_delete=models.CASCADE, related_name="events"
    )
    contact = models.ForeignKey(
        "contacts.Contact",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="email_events",
    )
    outbox = models.ForeignKey(
        "delivery.OutboxMessage", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_machine = models.BooleanField(default=False)
    url = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("email event")
        verbose_name_plural = _("email events")
        indexes = [
            models.Index(fields=["campaign", "type"], name="event_campaign_type_idx"),
            models.Index(fields=["contact", "type", "at"], name="event_contact_type_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.contact_id} {self.at:%Y-%m-%d}"
