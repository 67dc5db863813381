from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class OutboxMessage(models.Model):
    """One recipient of one campaign: the unit the sender claims, sends and records.

    The audience snapshot writes these rows when sending starts; afterwards the audience may
    change without changing who this campaign goes to (except suppressions, re-checked at send).
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        HELD = "held", _("Held for the A/B winner")
        CLAIMED = "claimed", _("Being sent")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        SKIPPED = "skipped", _("Skipped")

    # Every index on this table is written twice per recipient (the claim, then the result: the
    # status is indexed, so neither UPDATE is HOT); the foreign keys' own indexes are left out
    # where a composite index below already starts with the column.
    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.CASCADE, related_name="outbox", db_index=False
    )
    contact = models.ForeignKey(
        "contacts.Contact",
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    variant = models.ForeignKey(
        "campaigns.Variant",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    email = models.EmailField(max_length=254)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=64, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    message_id = models.CharField(max_length=255, blank=True)
    error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("outgoing message")
        verbose_name_plural = _("outgoing messages")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "email"], name="outbox_one_per_address")
        ]
        indexes = [
            models.Index(fields=["campaign", "status", "id"], name="outbox_claim_idx"),
            models.Index(fields=["message_id"], name="outbox_message_id_idx"),
            models.Index(fields=["contact", "sent_at"], name="outbox_contact_idx"),
            # The campaign page's sending rate: messages sent in the last minute.
            models.Index(fields=["campaign", "sent_at"], name="outbox_campaign_sent_idx"),
            # Only A/B test rows have a variant (deleting a variant finds its rows here).
            models.Index(
                fields=["variant"],
                name="outbox_variant_idx",
                condition=models.Q(variant__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} → {self.email} ({self.status})"


class CapturedMessage(models.Model):
    """A message handed to the capture transport: what the in-app Outbox page shows."""

    outbox = models.ForeignKey(
        OutboxMessage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    campaign = models.ForeignKey(
        "campaigns.Campaign", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sender = models.CharField(max_length=320)
    recipients = models.JSONField(default=list)
    subject = models.CharField(max_length=1000, blank=True)
    message_id = models.CharField(max_length=255, blank=True)
    raw = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("captured message")
        verbose_name_plural = _("captured messages")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.subject} → {', '.join(self.recipients)}"


class BounceReport(models.Model):
    """A delivery-status notification, complaint or ESP event received about a message we sent.

    The raw message is kept for review; `kind` is what the parser made of it.
    """

    class Kind(models.TextChoices):
        HARD = "hard", _("Hard bounce")
        SOFT = "soft", _("Soft bounce")
        COMPLAINT = "complaint", _("Complaint")
        AUTO_REPLY = "auto_reply", _("Automatic reply")
        UNKNOWN = "unknown", _("Not understood")

    class Source(models.TextChoices):
        MAILBOX = "mailbox", _("Bounce mailbox")
        WEBHOOK = "webhook", _("Provider webhook")
        SMTP = "smtp", _("SMTP reply")

    kind = models.CharField(max_length=10, choices=Kind.choices)
    source = models.CharField(max_length=8, choices=Source.choices)
    email = models.EmailField(max_length=254, blank=True, db_index=True)
    outbox = models.ForeignKey(
        OutboxMessage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    diagnostic = models.TextField(blank=True)
    raw = models.TextField(blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("bounce report")
        verbose_name_plural = _("bounce reports")
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.kind} {self.email}"


class RateBucket(models.Model):
    """The state of one send rate limit shared by every sender of the installation (see
    fidele.delivery.ratelimit): internal bookkeeping, shown nowhere.

    `tokens` may be negative: senders that took tokens in advance wait until the debt is refilled.
    `updated_at` is in seconds since the epoch by the senders' clocks (a float, not a datetime:
    the bucket arithmetic runs in one SQL statement on SQLite and PostgreSQL alike).
    """

    key = models.CharField(max_length=64, primary_key=True)
    tokens = models.FloatField()
    updated_at = models.FloatField()

    def __str__(self) -> str:
        return f"{self.key}: {self.tokens:.1f}"
