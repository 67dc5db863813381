from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from fidele.core.models import TimeStampedModel


class Layout(TimeStampedModel):
    """A reusable frame around a campaign's content, carrying the sender's identity and postal
    address in the footer (French and EU law ask for both in commercial email)."""

    name = models.CharField(_("name"), max_length=120, unique=True)
    # Jinja2 (sandboxed) HTML holding `{{ content }}` where the campaign body goes.
    html = models.TextField(_("HTML"))
    sender_name = models.CharField(_("sender name"), max_length=200)
    sender_postal_address = models.TextField(_("sender postal address"))
    is_default = models.BooleanField(_("default"), default=False)

    class Meta:
        verbose_name = _("layout")
        verbose_name_plural = _("layouts")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Campaign(TimeStampedModel):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SCHEDULED = "scheduled", _("Scheduled")
        SENDING = "sending", _("Sending")
        PAUSED = "paused", _("Paused")
        SENT = "sent", _("Sent")
        CANCELLED = "cancelled", _("Cancelled")

    class BodyFormat(models.TextChoices):
        RICHTEXT = "richtext", _("Rich text")
        HTML = "html", _("Raw HTML")
        MARKDOWN = "markdown", _("Markdown")
        MJML = "mjml", _("MJML (responsive layout)")

    class AbMetric(models.TextChoices):
        CLICKS = "clicks", _("Clicks")
        OPENS = "opens", _("Opens")

    name = models.CharField(_("name"), max_length=200)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.DRAFT, db_index=True
    )
    from_name = models.CharField(_("from name"), max_length=200, blank=True)
    from_email = models.EmailField(_("from address"))
    reply_to = models.EmailField(_("reply-to"), blank=True)
    subject = models.CharField(_("subject"), max_length=500)
    preheader = models.CharField(_("preheader"), max_length=300, blank=True)
    body_format = models.CharField(
        _("editor"), max_length=10, choices=BodyFormat.choices, default=BodyFormat.HTML
    )
    body = models.TextField(_("body"), blank=True)
    # Written by hand when given; otherwise made from the HTML at send time.
    text_body = models.TextField(_("plain-text version"), blank=True)
    layout = models.ForeignKey(
        Layout, verbose_name=_("layout"), null=True, blank=True, on_delete=models.SET_NULL
    )
    # Audience: the lists give the consent (who may be mailed at all); segments, when chosen,
    # narrow the lists' subscribers to their members (fidele.campaigns.audience), and
    # `audience_rules` (a segment rule in JSON, from the API or a script) narrows it further.
    lists = models.ManyToManyField(
        "contacts.MailingList", verbose_name=_("lists"), related_name="campaigns", blank=True
    )
    exclude_lists = models.ManyToManyField(
        "contacts.MailingList", verbose_name=_("excluded lists"), related_name="+", blank=True
    )
    audience_rules = models.JSONField(_("audience rules"), null=True, blank=True)
    segments = models.ManyToManyField(
        "segments.Segment", verbose_name=_("segments"), related_name="campaigns", blank=True
    )
    exclude_segments = models.ManyToManyField(
        "segments.Segment", verbose_name=_("excluded segments"), related_name="+", blank=True
    )
    track_links = models.BooleanField(_("track clicks"), default=True)
    track_opens = models.BooleanField(_("track opens"), default=True)
    utm_source = models.CharField(_("utm_source"), max_length=100, blank=True, default="fidele")
    utm_medium = models.CharField(_("utm_medium"), max_length=100, blank=True, default="email")
    utm_campaign = models.CharField(_("utm_campaign"), max_length=100, blank=True)
    scheduled_at = models.DateTimeField(_("send at"), null=True, blank=True)
    # A follow-up goes to the recipients of this earlier campaign who did not open it (people's
    # opens: a message only Apple's proxy opened was not read), within its lists as they are now.
    follow_up_of = models.ForeignKey(
        "self",
        verbose_name=_("follow-up of"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="follow_ups",
    )
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    status_reason = models.TextField(_("reason"), blank=True)
    # A/B test: variants are sent to `ab_sample_percent` % each; after `ab_wait_minutes` the
    # variant with the best `ab_metric` goes to the rest of the audience.
    ab_enabled = models.BooleanField(_("A/B test"), default=False)
    ab_sample_percent = models.PositiveSmallIntegerField(_("sample per variant (%)"), default=10)
    ab_metric = models.CharField(
        _("winner by"), max_length=10, choices=AbMetric.choices, default=AbMetric.CLICKS
    )
    ab_wait_minutes = models.PositiveIntegerField(_("wait before picking (minutes)"), default=240)
    ab_winner = models.ForeignKey(
        "campaigns.Variant", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ab_decided_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    @property
    def utm_campaign_value(self) -> str:
        """The utm_campaign its links carry: the one the user set, otherwise one made from the
        campaign's id and current name (so that a duplicated then renamed campaign is not counted
        under the name of the one it was copied from)."""
        if self.utm_campaign:
            return self.utm_campaign
        from django.utils.text import slugify

        return f"{self.pk or 'new'}-{slugify(self.name)}"[:100]


class Variant(models.Model):
    """One arm of an A/B test. Empty fields fall back to the campaign's own."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="variants")
    label = models.CharField(_("label"), max_length=10)
    subject = models.CharField(_("subject"), max_length=500, blank=True)
    preheader = models.CharField(_("preheader"), max_length=300, blank=True)
    body = models.TextField(_("body"), blank=True)

    class Meta:
        verbose_name = _("variant")
        verbose_name_plural = _("variants")
        ordering = ["label"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "label"], name="variant_label_unique")
        ]

    def __str__(self) -> str:
        return f"{self.campaign} / {self.label}"
