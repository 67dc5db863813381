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


# Daily rollups and base dynamics


class DailyCount(models.Model):
    """One metric of one day (the shop's time zone) for one value of a dimension
    (fidele.analytics.daily): orders and revenue per customer state, order lines per category,
    subscriptions per list, people's opens per campaign... `count` counts, `amount` sums money
    (zero for a metric that has none). Dashboards read this table, never the raw ones."""

    metric = models.CharField(max_length=40)
    # "all" (no split), "state", "category", "channel", "list", "campaign".
    dimension = models.CharField(max_length=20)
    key = models.CharField(max_length=200, blank=True)
    day = models.DateField()
    count = models.BigIntegerField(default=0)
    amount = models.DecimalField(max_digits=16, decimal_places=2, default=0)

    class Meta:
        verbose_name = _("daily count")
        verbose_name_plural = _("daily counts")
        constraints = [
            models.UniqueConstraint(
                fields=["metric", "dimension", "key", "day"], name="dailycount_unique"
            )
        ]
        indexes = [models.Index(fields=["metric", "day"], name="dailycount_metric_day_idx")]

    def __str__(self) -> str:
        return f"{self.metric}[{self.dimension}={self.key}] {self.day}: {self.count}"


class MonthlyCustomers(models.Model):
    """The customer base in one month (fidele.analytics.dynamics, whose docstring defines the
    states): recomputed as a whole after imports and nightly."""

    month = models.DateField(_("month"), primary_key=True)
    new = models.IntegerField(_("new customers"), default=0)
    active = models.IntegerField(_("active customers"), default=0)
    lapsing = models.IntegerField(_("lapsing customers"), default=0)
    lost = models.IntegerField(_("lost customers"), default=0)
    buyers = models.IntegerField(_("customers who ordered"), default=0)
    orders = models.IntegerField(_("orders"), default=0)
    revenue = models.DecimalField(_("revenue"), max_digits=16, decimal_places=2, default=0)
    # Orders that had an earlier order of the same customer, and the days since it, summed.
    repeat_orders = models.IntegerField(default=0)
    gap_days = models.FloatField(default=0)

    class Meta:
        verbose_name = _("month of the customer base")
        verbose_name_plural = _("months of the customer base")

    def __str__(self) -> str:
        return f"{self.month:%Y-%m}: {self.active} active"


class CohortMonth(models.Model):
    """Of the customers whose first order was in `cohort`, how many ordered `offset` months
    later (offset 0: the cohort's size), and what they spent that month."""

    cohort = models.DateField()
    offset = models.IntegerField()
    customers = models.IntegerField(default=0)
    revenue = models.DecimalField(max_digits=16, decimal_places=2, default=0)

    class Meta:
        verbose_name = _("cohort month")
        verbose_name_plural = _("cohort months")
        constraints = [
            models.UniqueConstraint(fields=["cohort", "offset"], name="cohortmonth_unique")
        ]

    def __str__(self) -> str:
        return f"{self.cohort:%Y-%m} +{self.offset}: {self.customers}"


class MonthlyBreakdown(models.Model):
    """Revenue of one month split by a dimension that is not fixed in time: the customers'
    current RFM segment (so the whole history is recomputed with today's segments). The month
    None row of a segment holds its current number of customers."""

    dimension = models.CharField(max_length=20)
    key = models.CharField(max_length=200, blank=True)
    month = models.DateField(null=True)
    customers = models.IntegerField(default=0)
    orders = models.IntegerField(default=0)
    revenue = models.DecimalField(max_digits=16, decimal_places=2, default=0)

    class Meta:
        verbose_name = _("monthly breakdown")
        verbose_name_plural = _("monthly breakdowns")
        indexes = [models.Index(fields=["dimension", "month"], name="monthlybreakdown_dim_idx")]

    def __str__(self) -> str:
        return f"{self.dimension}={self.key} {self.month}: {self.revenue}"


class AcquisitionCost(models.Model):
    """What winning customers cost in one month (advertising, fairs, a sign-up gift...), entered
    by hand, optionally per channel: the CAC is it divided by that month's new customers."""

    month = models.DateField(_("month"))
    channel = models.CharField(_("channel"), max_length=50, blank=True)
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    note = models.CharField(_("note"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("entered"), auto_now_add=True)

    class Meta:
        verbose_name = _("acquisition cost")
        verbose_name_plural = _("acquisition costs")
        ordering = ["-month", "channel"]
        constraints = [
            models.UniqueConstraint(fields=["month", "channel"], name="acquisitioncost_unique")
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.channel}: {self.amount}"
