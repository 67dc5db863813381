from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from fidele.core.models import TimeStampedModel


class Product(TimeStampedModel):
    sku = models.CharField(_("SKU"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    category = models.CharField(_("category"), max_length=100, blank=True, db_index=True)
    price = models.DecimalField(_("price"), max_digits=10, decimal_places=2, null=True, blank=True)

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.sku})"


class Order(TimeStampedModel):
    """A purchase. Orders always belong to a known contact: an import never invents customers."""

    external_id = models.CharField(_("order number"), max_length=64, unique=True)
    contact = models.ForeignKey(
        "contacts.Contact",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="orders",
    )
    ordered_at = models.DateTimeField(_("ordered"), db_index=True)
    total = models.DecimalField(_("total"), max_digits=12, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    channel = models.CharField(_("channel"), max_length=50, blank=True)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-ordered_at"]
        indexes = [
            # RFM, CLV and segment rules read a contact's orders in date order.
            models.Index(fields=["contact", "ordered_at"], name="order_contact_date_idx"),
            models.Index(fields=["channel", "ordered_at"], name="order_channel_date_idx"),
        ]

    def __str__(self) -> str:
        return self.external_id


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.SET_NULL, related_name="order_lines"
    )
    # Copied from the file so that a line keeps what was bought even if the product changes.
    sku = models.CharField(_("SKU"), max_length=64, blank=True)
    product_name = models.CharField(_("product"), max_length=200, blank=True)
    category = models.CharField(_("category"), max_length=100, blank=True)
    quantity = models.DecimalField(_("quantity"), max_digits=10, decimal_places=3, default=1)
    unit_price = models.DecimalField(_("unit price"), max_digits=12, decimal_places=2)
    line_total = models.DecimalField(_("line total"), max_digits=12, decimal_places=2)

    class Meta:
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")
        indexes = [
            models.Index(fields=["product", "order"], name="orderline_product_idx"),
            models.Index(fields=["category"], name="orderline_category_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.sku or self.product_name}"
