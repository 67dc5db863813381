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


# --- The shop's own website (fidele.tracking.site) -------------------------------------------


class Site(models.Model):
    """A website of the shop that carries the analytics snippet. `key` is what the snippet's
    `data-site` names; only pages served from one of `origins` are counted (the endpoint refuses
    the others, and answers their browsers' CORS questions with nothing)."""

    key = models.SlugField(_("site key"), max_length=100, unique=True)
    name = models.CharField(_("name"), max_length=120)
    # Exact origins, one per line: "https://www.example.fr" (scheme, host and any port).
    origins = models.TextField(_("addresses of the site"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("website")
        verbose_name_plural = _("websites")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def origin_list(self) -> list[str]:
        return [line for line in self.origins.split() if line]


class SiteGoal(models.Model):
    """What counts as a success on the site besides a purchase: reaching a page (a thank-you
    page, the contact form's confirmation) or a custom event the site sends."""

    class Kind(models.TextChoices):
        PAGE = "page", _("page visited")
        EVENT = "event", _("event sent")

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="goals")
    kind = models.CharField(_("kind"), max_length=5, choices=Kind.choices)
    # A page's path ("/merci") or an event's name ("newsletter").
    value = models.CharField(_("page or event"), max_length=300)

    class Meta:
        verbose_name = _("goal")
        verbose_name_plural = _("goals")
        constraints = [
            models.UniqueConstraint(fields=["site", "kind", "value"], name="sitegoal_unique")
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


class SiteSalt(models.Model):
    """The secret mixed into the day's visitor ids. A visitor id is a hash of the salt, the site,
    the address and the browser: without the salt it cannot be recomputed, so once a salt is
    deleted (48 hours at most after its day began) nobody can link that day's visitors to
    anyone, or to another day's."""

    day = models.DateField(primary_key=True)
    salt = models.BinaryField(max_length=32)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("visitor salt")
        verbose_name_plural = _("visitor salts")

    def __str__(self) -> str:
        return str(self.day)


class SiteVisit(models.Model):
    """One visit: the page views of one visitor with no gap of 30 minutes or more.

    Nothing here names a person unless they came from a tracked email link and allowed it
    (`contact`): the visitor is a hash that changes every day, the browser is its family and
    device class, the referrer its host, the pages their paths."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="visits")
    # The day of the salt the visitor id was made with (the shop's time zone).
    day = models.DateField()
    visitor = models.BigIntegerField()
    started_at = models.DateTimeField()
    last_at = models.DateTimeField()
    pageviews = models.PositiveIntegerField(default=0)
    # Custom events and purchases; all hits, page views included, are capped per visit.
    events = models.PositiveIntegerField(default=0)
    entry_path = models.CharField(max_length=300, blank=True)
    exit_path = models.CharField(max_length=300, blank=True)
    referrer = models.CharField(max_length=100, blank=True)
    utm_source = models.CharField(max_length=100, blank=True)
    utm_medium = models.CharField(max_length=100, blank=True)
    utm_campaign = models.CharField(max_length=100, blank=True)
    browser = models.CharField(max_length=40, blank=True)
    device = models.CharField(max_length=8, blank=True)
    purchases = models.PositiveIntegerField(default=0)
    revenue = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    # Set only when the visit came through a tracked email link (a signed visit token) and the
    # contact's consent and the tracking switches allow it.
    contact = models.ForeignKey(
        "contacts.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    campaign_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = _("website visit")
        verbose_name_plural = _("website visits")
        indexes = [
            models.Index(fields=["site", "day"], name="sitevisit_site_day_idx"),
            models.Index(fields=["site", "visitor", "last_at"], name="sitevisit_visitor_idx"),
            models.Index(fields=["contact"], name="sitevisit_contact_idx"),
        ]

    def __str__(self) -> str:
        return f"visit {self.pk} {self.started_at:%Y-%m-%d %H:%M}"


class SiteEvent(models.Model):
    """One hit of the snippet: a page view, a custom event or a purchase."""

    class Type(models.TextChoices):
        PAGEVIEW = "pageview", _("page view")
        EVENT = "event", _("event")
        PURCHASE = "purchase", _("purchase")

    visit = models.ForeignKey(SiteVisit, on_delete=models.CASCADE, related_name="hits")
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField()
    type = models.CharField(max_length=8, choices=Type.choices)
    path = models.CharField(max_length=300)
    name = models.CharField(max_length=60, blank=True)
    props = models.JSONField(default=dict, blank=True)
    amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    order_id = models.CharField(max_length=64, blank=True)

    class Meta:
        verbose_name = _("website event")
        verbose_name_plural = _("website events")
        indexes = [
            models.Index(fields=["visit", "at"], name="siteevent_visit_at_idx"),
            models.Index(fields=["site", "type", "at"], name="siteevent_site_type_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.path} {self.at:%Y-%m-%d %H:%M}"


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
