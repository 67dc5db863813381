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


class ClvFit(models.Model):
    """One refresh of the lifetime-value and churn models (fidele.analytics.predictions): what
    was fitted on which orders, how well it predicted a period it had not seen, or why the data
    was too thin to fit. The page reads the latest; the predictions it made are ContactPrediction.
    """

    class Trigger(models.TextChoices):
        IMPORT = "import", _("after an import")
        NIGHTLY = "nightly", _("nightly")
        COMMAND = "command", _("command line")
        MANUAL = "manual", _("by hand")
        DEMO = "demo", _("demo shop")

    class Kind(models.TextChoices):
        MODEL = "model", _("models fitted")
        THIN = "thin", _("too little data: simple figures")
        EMPTY = "empty", _("no order")

    created_at = models.DateTimeField(_("computed"), auto_now_add=True, db_index=True)
    trigger = models.CharField(_("trigger"), max_length=10, choices=Trigger.choices)
    kind = models.CharField(_("result"), max_length=10, choices=Kind.choices)
    # The calibration end (orders on that day, in the shop's time zone, included).
    until = models.DateField(_("orders up to"))
    unit_days = models.PositiveSmallIntegerField(_("time unit (days)"), default=1)
    customers = models.PositiveIntegerField(_("customers"), default=0)
    repeat_customers = models.PositiveIntegerField(_("repeat customers"), default=0)
    history_days = models.PositiveIntegerField(_("days of history"), default=0)
    # {"r", "alpha", "a", "b", "log_likelihood"} and {"p", "q", "v", "log_likelihood",
    # "customers", "left_out"}; empty when not fitted.
    bgnbd = models.JSONField(_("BG/NBD"), default=dict)
    gamma_gamma = models.JSONField(_("Gamma-Gamma"), default=dict)
    # The holdout check (predictions.holdout_check); empty when the history is too short.
    holdout = models.JSONField(_("holdout check"), default=dict)
    # Codes of why the models were not fitted ("few_repeat", "short_history", "no_spend").
    reasons = models.JSONField(_("reasons"), default=list)
    # What the page shows without reading every prediction: the distributions of churn risk
    # and lifetime value, totals (predictions.fit_summary).
    summary = models.JSONField(_("summary"), default=dict)
    horizon_months = models.PositiveSmallIntegerField(_("horizon (months)"), default=12)
    monthly_discount = models.FloatField(_("monthly discount rate"), default=0.0)
    seconds = models.FloatField(_("seconds"), default=0.0)

    class Meta:
        verbose_name = _("lifetime value fit")
        verbose_name_plural = _("lifetime value fits")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} fit of {self.until} ({self.created_at:%Y-%m-%d %H:%M})"


class ContactPrediction(models.Model):
    """What the latest fit says of one customer (a contact with at least one order up to its
    calibration end). All rows are replaced together, in one transaction, by each refresh.

    The model's figures are null when the data was too thin to fit (ClvFit.Kind.THIN): the
    simple figures (historic value, days since the last order against the usual gap) are always
    there."""

    contact = models.OneToOneField(
        "contacts.Contact",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="prediction",
        verbose_name=_("contact"),
    )
    # Transactions are days with an order, in the shop's time zone.
    transactions = models.PositiveIntegerField(_("purchase days"))
    first_purchase_on = models.DateField(_("first purchase"))
    last_purchase_on = models.DateField(_("last purchase"))
    historic_value = models.FloatField(_("spent so far"))
    # Mean days between two purchase days; null with a single one.
    usual_gap_days = models.FloatField(_("usual gap (days)"), null=True)
    p_alive = models.FloatField(_("probability still a customer"), null=True)
    churn_risk = models.FloatField(_("churn risk"), null=True, db_index=True)
    purchases_3m = models.FloatField(_("expected purchases, 3 months"), null=True)
    purchases_6m = models.FloatField(_("expected purchases, 6 months"), null=True)
    purchases_12m = models.FloatField(_("expected purchases, 12 months"), null=True)
    expected_spend = models.FloatField(_("expected spend per purchase"), null=True)
    clv = models.FloatField(_("lifetime value"), null=True, db_index=True)
    next_purchase_on = models.DateField(_("next purchase expected"), null=True)
    # Twice the usual gap after the last purchase: from then on the customer is late against
    # their own rhythm (the simple figure shown when the models cannot be fitted).
    overdue_on = models.DateField(_("late from"), null=True)

    class Meta:
        verbose_name = _("contact prediction")
        verbose_name_plural = _("contact predictions")

    def __str__(self) -> str:
        return f"prediction of contact {self.contact_id}"
