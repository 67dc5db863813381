from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from fidele.contacts.search import FoldedName
from fidele.core.models import TimeStampedModel


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=80, unique=True)
    color = models.CharField(_("colour"), max_length=7, default="#6b7280")
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Contact(TimeStampedModel):
    """A customer or prospect.

    Identity: the normalised email when there is one, else `external_id` (the customer number
    from the business's old system). Both are unique when present; NULL (not "") stands for
    absent so that uniqueness does not apply to missing values.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        BOUNCED = "bounced", _("Bounced")
        COMPLAINED = "complained", _("Complained")
        BLOCKED = "blocked", _("Blocked")
        ERASED = "erased", _("Erased")

    class Civility(models.TextChoices):
        NONE = "", "—"
        MR = "M", _("Mr")
        MRS = "Mme", _("Mrs")

    email = models.EmailField(_("email"), max_length=254, null=True, blank=True, unique=True)
    external_id = models.CharField(
        _("customer number"), max_length=64, null=True, blank=True, unique=True
    )
    civility = models.CharField(_("title"), max_length=4, blank=True, choices=Civility.choices)
    first_name = models.CharField(_("first name"), max_length=100, blank=True)
    last_name = models.CharField(_("last name"), max_length=100, blank=True)
    phone = models.CharField(
        _("phone"), max_length=20, blank=True, help_text=_("E.164, e.g. +33612345678")
    )
    # The value as received when it could not be read as a phone number: kept for the
    # data-quality report so that nothing the business typed is lost.
    phone_invalid = models.CharField(_("unreadable phone"), max_length=64, blank=True)
    address = models.CharField(_("address"), max_length=255, blank=True)
    postal_code = models.CharField(_("postal code"), max_length=16, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)
    country = models.CharField(_("country"), max_length=2, blank=True, default="FR")
    language = models.CharField(_("language"), max_length=8, blank=True, default="fr")
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    joined_on = models.DateField(_("customer since"), null=True, blank=True)
    source = models.CharField(_("source"), max_length=100, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    attributes = models.JSONField(_("custom attributes"), default=dict, blank=True)
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.ACTIVE
    )
    # Off for someone who asked not to be followed: their messages carry no open pixel and no
    # tracked links (fidele.campaigns.rendering.compile).
    # db_default: added to a big table by ALTER TABLE ... ADD COLUMN, not a table rebuild (which
    # on SQLite would also drop the indexes migrations 0002-0004 made by hand), and filled by
    # the database on an import's raw inserts.
    tracking_allowed = models.BooleanField(
        _("opens and clicks measured"),
        db_default=True,
        help_text=_(
            "Untick for someone who asked not to be followed: their emails will carry no open "
            "pixel and no tracked links."
        ),
    )
    # The last time this person (not a machine: a mail privacy proxy, a security scanner) opened
    # or clicked one of our emails. Moved forward hour by hour by the rollup with tracking's rule
    # (tracking.services.contacts_engagement_refresh; the raw events are deleted after their
    # retention period, this stays), read by the quality audit's "stale" finding, which may not
    # read tracking's tables.
    last_engaged_at = models.DateTimeField(_("last opened or clicked"), null=True, blank=True)
    # Indexed by contact_recent_idx below; a second single-column index would only slow imports.
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), related_name="contacts", blank=True)
    # The name as searches read it ("dupre" finds Hélène Dupré, "helene dupre" too), in both
    # orders; computed by the database on every write (imports included), prefix-indexed by
    # migration 0004 (fidele.contacts.search).
    search_first_last = models.GeneratedField(
        expression=FoldedName("first_name", "last_name"),
        output_field=models.CharField(max_length=201),
        db_persist=True,
    )
    search_last_first = models.GeneratedField(
        expression=FoldedName("last_name", "first_name"),
        output_field=models.CharField(max_length=201),
        db_persist=True,
    )

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        # Every index here is paid on each imported row (an import of 1M contacts updates all of
        # them), so each one serves a query the product makes and none repeats another. The list's
        # prefix searches (lower(last_name), lower(city), postal code) and the (city, id) and
        # phone indexes are made by migrations 0002/0003 because their operator classes are
        # PostgreSQL's.
        indexes = [
            # Sort by name, paged by a (last_name, first_name, id) cursor.
            models.Index(fields=["last_name", "first_name", "id"], name="contact_name_id_idx"),
            # Default sort, newest first, paged by a (created_at, id) cursor.
            models.Index(fields=["-created_at", "-id"], name="contact_recent_idx"),
            models.Index(fields=["source"], name="contact_source_idx"),
            # Few contacts are bounced, complained or blocked: finding them is an index look-up.
            models.Index(fields=["status"], name="contact_status_idx"),
        ]

    def __str__(self) -> str:
        return self.display_name

    def clean(self) -> None:
        super().clean()
        # A customer number names one person: it cannot become the number of a second contact
        # while it is still an alias of a first one.
        if (
            self.external_id
            and CustomerNumberAlias.objects.filter(number=self.external_id)
            .exclude(contact_id=self.pk)
            .exists()
        ):
            raise ValidationError(
                {
                    "external_id": _(
                        "This customer number is already another number of a different contact."
                    )
                }
            )

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)

    @property
    def display_name(self) -> str:
        return self.full_name or self.email or self.external_id or f"#{self.pk}"


class CustomerNumberAlias(models.Model):
    """Another customer number of a contact.

    An old till system often gave one person two numbers (a new card, a second shop). An import
    that meets the same email under two numbers keeps one contact, with the first number as its
    `external_id` and the others here, so that orders filed under any of them reach that person.
    A number is either one contact's `external_id` or one alias, never both (checked by the
    import and by `Contact.clean`, since no constraint spans two tables).
    """

    contact = models.ForeignKey(
        Contact,
        on_delete=models.CASCADE,
        related_name="customer_number_aliases",
        verbose_name=_("contact"),
    )
    number = models.CharField(_("customer number"), max_length=64, unique=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("other customer number")
        verbose_name_plural = _("other customer numbers")
        ordering = ["number"]

    def __str__(self) -> str:
        return self.number


class AttributeLabel(models.Model):
    """How a custom attribute was headed in the file it first came from ("Vin préféré" for the
    key `vin_prefere`): the contact page and the exports for people show it, and the import
    reads it back as the same key."""

    key = models.CharField(_("key"), max_length=100, unique=True)
    label = models.CharField(_("label"), max_length=200)

    class Meta:
        verbose_name = _("custom field label")
        verbose_name_plural = _("custom field labels")

    def __str__(self) -> str:
        return self.label


class MailingList(TimeStampedModel):
    name = models.CharField(_("name"), max_length=120, unique=True)
    description = models.TextField(_("description"), blank=True)
    double_opt_in = models.BooleanField(_("double opt-in"), default=False)
    # Off: campaigns sent to this list measure neither opens nor clicks (a list of members who
    # were promised no tracking, for instance).
    tracking = models.BooleanField(_("opens and clicks measured"), db_default=True)

    class Meta:
        verbose_name = _("list")
        verbose_name_plural = _("lists")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Subscription(TimeStampedModel):
    """A contact's membership of a list, with the proof of consent the law asks for."""

    class Status(models.TextChoices):
        SUBSCRIBED = "subscribed", _("Subscribed")
        UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")
        UNCONFIRMED = "unconfirmed", _("Unconfirmed")

    class Source(models.TextChoices):
        IMPORT = "import", _("Import")
        MANUAL = "manual", _("Added by hand")
        FORM = "form", _("Sign-up form")
        API = "api", _("API")

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="subscriptions")
    mailing_list = models.ForeignKey(
        MailingList, verbose_name=_("list"), on_delete=models.CASCADE, related_name="subscriptions"
    )
    status = models.CharField(_("status"), max_length=14, choices=Status.choices)
    consent_at = models.DateTimeField(_("consent given"), null=True, blank=True)
    consent_source = models.CharField(_("consent source"), max_length=10, choices=Source.choices)
    # What shows the consent: file name and row, form and IP, the user who confirmed it...
    consent_proof = models.JSONField(_("consent proof"), default=dict, blank=True)
    unsubscribed_at = models.DateTimeField(_("unsubscribed"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        constraints = [
            models.UniqueConstraint(fields=["contact", "mailing_list"], name="subscription_unique")
        ]
        indexes = [
            models.Index(fields=["mailing_list", "status"], name="subscription_list_status_idx")
        ]

    def __str__(self) -> str:
        return f"{self.contact} → {self.mailing_list} ({self.status})"


class DeferredIndex(models.Model):
    """A search index of the contacts table set aside by a first import, to be built again.

    The record is written in the import's transaction, with the DROP INDEX and the rows: a killed
    import rolls all three back; a committed one leaves the record until the index is built, so
    an index missing after a crash is never missed (fidele.contacts.bulk_load)."""

    name = models.CharField(max_length=128, primary_key=True)
    definition = models.TextField()
    set_aside_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class ContactMerge(models.Model):
    """One contact folded into another (`fidele.contacts.merge`), with what it takes to undo it.

    The two contacts are named by id, not by foreign key: the absorbed contact no longer exists,
    and the kept one may itself be folded into a third later; a foreign key would either vanish
    with them or be moved by that later merge, and this record would lose which rows to give
    back.
    """

    kept_contact_id = models.BigIntegerField(_("kept contact"), db_index=True)
    absorbed_contact_id = models.BigIntegerField(_("absorbed contact"), db_index=True)
    # The absorbed contact as it was (Django's serialised form, tags included), and the kept
    # contact's fields that the merge changed, as they were.
    absorbed = models.JSONField(_("absorbed contact"), default=dict)
    kept_before = models.JSONField(_("kept contact before"), default=dict)
    # {"app_label.model.field": [row ids]}: the rows moved from the absorbed contact to the kept.
    moved = models.JSONField(default=dict)
    # Subscriptions both had to one list: the one that lost (the less strict), as it was.
    subscriptions_dropped = models.JSONField(default=list)
    # Tags the kept contact received, customer numbers made aliases, and what the apps that
    # take part in merges (compliance, analytics...) need to undo their part.
    tags_added = models.JSONField(default=list)
    aliases_added = models.JSONField(default=list)
    participants = models.JSONField(default=dict)
    created_at = models.DateTimeField(_("merged"), auto_now_add=True, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(_("by"), max_length=150, blank=True)
    undone_at = models.DateTimeField(_("undone"), null=True, blank=True)

    class Meta:
        verbose_name = _("contact merge")
        verbose_name_plural = _("contact merges")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"#{self.absorbed_contact_id} → #{self.kept_contact_id}"
