from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class EmailEvent(models.Model):
    """What happened to a message after it left: the facts campaign reports and segments read.

    One row per event, never edited by people (only the machine judgment below is revised when a
    later click shows a burst). `is_machine` marks opens and clicks made by security scanners and
    mail privacy proxies rather than people, and `reason` says why (fidele.tracking.classify):
    machine events are kept and shown apart, never counted as people and never trigger
    anything. Privacy: no full IP address and no user-agent string is stored, only the
    address's network (/24, /48) and the mail client's family and device class.
    """

    class Reason(models.TextChoices):
        APPLE_PRIVACY = "apple_privacy", _("Apple Mail Privacy Protection")
        IMAGE_PROXY = "image_proxy", _("image proxy right after delivery")
        HEAD = "head", _("link checked without being followed (HEAD)")
        PREFETCH = "prefetch", _("link prefetched")
        SCANNER_AGENT = "scanner_agent", _("security scanner (its software)")
        SCANNER_NETWORK = "scanner_network", _("security scanner (its network)")
        BURST = "burst", _("several links clicked within seconds")
        HONEYPOT = "honeypot", _("invisible link followed")
        NEAR_HONEYPOT = "near_honeypot", _("clicked with the invisible link")

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
    reason = models.CharField(max_length=16, blank=True, choices=Reason.choices)
    # What read the message: "Apple Mail", "Outlook", "Gmail image proxy"..., and "desktop",
    # "mobile", "tablet", "proxy" or "robot" (reports by mail client and device).
    client = models.CharField(max_length=40, blank=True)
    device = models.CharField(max_length=8, blank=True)
    # The sender's network, never its address: "203.0.113.0/24", "2001:db8:1::/48".
    network = models.CharField(max_length=43, blank=True)
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


class NetworkRange(models.Model):
    """An address range whose opens or clicks come from machines: Apple's Mail Privacy
    Protection proxies, security scanners. Loaded by `fidele tracking networks` from the lists
    their operators publish; the bounds are fixed-width hex (32 digits) so that IPv4 and IPv6
    compare as text in one index."""

    class Kind(models.TextChoices):
        APPLE_PRIVACY = "apple_privacy", _("Apple privacy proxy")
        SCANNER = "scanner", _("security scanner")

    kind = models.CharField(max_length=16, choices=Kind.choices)
    first = models.CharField(max_length=32)
    last = models.CharField(max_length=32)
    source = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name = _("machine network")
        verbose_name_plural = _("machine networks")
        indexes = [models.Index(fields=["kind", "first"], name="networkrange_kind_first_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.first}-{self.last}"


class QueuedHit(models.Model):
    """An open or a click as its request arrived, waiting to become an EmailEvent.

    The endpoints only check the token and append a row here (one INSERT, committed before they
    answer: a process killed afterwards loses nothing); `fidele.tracking.hits.hits_drain` moves
    the rows into EmailEvent in batches, with the message's ids and the judgment. Append-only,
    no foreign key (an insert checks nothing), no index but its key. The address and the user
    agent are kept only until the drain (seconds, see tracking/tasks.py), which stores their
    network and mail client instead.
    """

    class Kind(models.TextChoices):
        OPEN = "open", _("open")
        CLICK = "click", _("click")
        TRAP = "trap", _("invisible link")

    kind = models.CharField(max_length=5, choices=Kind.choices)
    outbox_id = models.BigIntegerField()
    at = models.DateTimeField()
    method = models.CharField(max_length=8)
    prefetch = models.BooleanField(default=False)
    user_agent = models.CharField(max_length=500, blank=True)
    address = models.CharField(max_length=45, blank=True)
    url = models.TextField(blank=True)

    class Meta:
        verbose_name = _("queued hit")
        verbose_name_plural = _("queued hits")

    def __str__(self) -> str:
        return f"{self.kind} {self.outbox_id} {self.at:%Y-%m-%d %H:%M:%S}"
