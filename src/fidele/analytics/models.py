"""Pre-aggregated counts that reports read instead of raw events (fidele.analytics.rollup).

One mechanism, as Zulip's analytics app has it: a stat is filled hour by hour into a count
table, and its fill state says up to when; filling an hour replaces that hour's rows, so a
fill interrupted anywhere is completed by the next one and counts nothing twice.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class FillState(models.Model):
    """Up to when a stat is filled: every hour before `filled_until` is in the count table."""

    stat = models.CharField(_("statistic"), max_length=40, primary_key=True)
    filled_until = models.DateTimeField(_("filled until"))
    # For what is filled by id rather than by hour (orders attributed): the last id done.
    position = models.BigIntegerField(_("position"), default=0)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("fill state")
        verbose_name_plural = _("fill states")

    def __str__(self) -> str:
        return f"{self.stat} until {self.filled_until:%Y-%m-%d %H:%M}"


class CampaignCount(models.Model):
    """One count of one campaign for one hour: `stat` says what is counted, `subgroup` splits it
    (an event type and whether people or machines did it, a link, a mail client...).

    The campaign is an id, not a foreign key: analytics sits below campaigns in the layers
    (ARCHITECTURE.md), and a deleted campaign's counts are deleted with the rollup's next pass
    over it rather than by a cascade."""

    stat = models.CharField(max_length=40)
    campaign_id = models.BigIntegerField()
    subgroup = models.CharField(max_length=300, blank=True)
    hour = models.DateTimeField()
    value = models.BigIntegerField()

    class Meta:
        verbose_name = _("campaign count")
        verbose_name_plural = _("campaign counts")
        constraints = [
            models.UniqueConstraint(
                fields=["campaign_id", "stat", "subgroup", "hour"], name="campaigncount_unique"
            )
        ]
        indexes = [models.Index(fields=["stat", "hour"], name="campaigncount_stat_hour_idx")]

    def __str__(self) -> str:
        return f"{self.stat}[{self.subgroup}] campaign {self.campaign_id} {self.hour:%Y-%m-%d %H}"


class Attribution(models.Model):
    """An order credited to the campaign whose message its customer last clicked (by a person,
    never a machine) within the attribution window before ordering. Recorded once per order,
    with the rule that decided, so that changing the window later does not rewrite history."""

    order = models.OneToOneField(
        "commerce.Order",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="attribution",
        verbose_name=_("order"),
    )
    campaign_id = models.BigIntegerField(_("campaign"), db_index=True)
    contact_id = models.BigIntegerField(_("contact"))
    # The click (or open) that won: its link, and when.
    url = models.TextField(_("link"), blank=True)
    touched_at = models.DateTimeField(_("clicked"))
    rule = models.CharField(_("rule"), max_length=40)
    created_at = models.DateTimeField(_("recorded"), auto_now_add=True)

    class Meta:
        verbose_name = _("attribution")
        verbose_name_plural = _("attributions")

    def __str__(self) -> str:
        return f"order {self.order_id} -> campaign {self.campaign_id} ({self.rule})"
