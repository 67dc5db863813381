"""Multi-row reads of contacts: the list page, the export and (later) segments share the filters."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Lower

from fidele.contacts.consent import WITHDRAWAL_SOURCES
from fidele.contacts.models import (
    AttributeLabel,
    Contact,
    CustomerNumberAlias,
    MailingList,
    Subscription,
    Tag,
)
from fidele.contacts.normalize import name_fold, normalise_phone
from fidele.core.actors import actor_label_display
from fidele.core.models import AuditLog
from fidele.ui.params import clean_param

# Sort keys offered on the list page -> the model fields of the keyset (the last one unique).
SORTS: dict[str, tuple[list[str], bool]] = {
    "name": (["last_name", "first_name", "id"], False),
    "-name": (["last_name", "first_name", "id"], True),
    "created": (["created_at", "id"], False),
    "-created": (["created_at", "id"], True),
    "city": (["city", "id"], False),
    "-city": (["city", "id"], True),
}
DEFAULT_SORT = "-created"

_PHONE_CHARS = re.compile(r"^\+?[\d\s().\-]{6,}$")


def _search_condition(q: str) -> Q:
    """Prefix searches that the indexes answer: email, name (first then last, or last then first,
    accents, case and hyphens ignored), customer number, phone."""
    lowered = q.lower()
    if "@" in q:
        return Q(email__startswith=lowered)
    condition = (
        Q(external_id=q)
        | Q(pk__in=CustomerNumberAlias.objects.filter(number=q).values("contact_id"))
        | Q(email__startswith=lowered)
    )
    folded = name_fold(q)
    if folded:
        condition |= Q(search_last_first__startswith=folded)
        condition |= Q(search_first_last__startswith=folded)
    if _PHONE_CHARS.match(q):
        # Stored phones went through the same normalisation, so only a number it accepts can
        # match one.
        phone, _problem = normalise_phone(q, settings.DEFAULT_REGION)
        if phone:
            condition |= Q(phone=phone)
    return condition


@dataclass(frozen=True)
class ContactFilter:
    """A filter of the contacts list that an app above contacts hands down from its
    AppConfig.ready() (the quality audit's `?quality=CODE`): contacts cannot know it, and the
    list page, the export and later the segments apply it like their own.

    `apply(queryset, value)` narrows the queryset; `describe(value)` says in the reader's
    language what it shows ("" for a value it does not know, which is then ignored, as the
    list's own filters ignore malformed values)."""

    param: str
    apply: Callable[[QuerySet[Contact], str], QuerySet[Contact]]
    describe: Callable[[str], str]
    # Values longer than this are cut (search text is short; a segment rule in JSON is not).
    max_length: int = 100


_handed_down_filters: dict[str, ContactFilter] = {}


def contact_filter_register(contact_filter: ContactFilter) -> None:
    """Make the contacts list honour `?<param>=value` (registering a param again replaces it)."""
    _handed_down_filters[contact_filter.param] = contact_filter


def contact_filters_active(params: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(param, value, description) of the handed-down filters the query string uses."""
    active = []
    for param, contact_filter in sorted(_handed_down_filters.items()):
        value = clean_param(params.get(param), max_length=contact_filter.max_length)
        description = contact_filter.describe(value) if value else ""
        if description:
            active.append((param, value, description))
    return active


def contacts_filtered(
    *, params: Mapping[str, str], search_cap: int | None = None
) -> QuerySet[Contact]:
    """Contacts matching the filters of the contacts list page (query-string keys).

    q: search text (email prefix, last-name prefix, customer number, phone number);
    tag: tag name; list: list id (currently subscribed); status: Contact.Status value;
    place: city prefix or postal-code prefix; has_email: "1" (with an email) or "0" (without);
    and the filters apps above hand down (`contact_filter_register`).
    Unknown or malformed values are ignored rather than failing: these come from a URL.

    search_cap: keep only that many search matches (the list page; an export wants them all).
    PostgreSQL underestimates how rare a prefix match is and, asked for the newest 50, walks the
    whole table in date order; matching first (the indexes answer) and sorting the few matches
    after turns a one-second search at 1M contacts into a few milliseconds.
    """
    queryset = Contact.objects.all()
    q = clean_param(params.get("q"))
    if q:
        matches = Contact.objects.filter(_search_condition(q))
        if search_cap:
            queryset = queryset.filter(pk__in=matches.order_by().values("pk")[:search_cap])
        else:
            queryset = queryset.filter(_search_condition(q))
    tag = clean_param(params.get("tag"))
    if tag:
        # The tag's id is looked up first so that the planner sees `tag_id = 7` and can use the
        # through table's index (with a join on the name it guesses, and guesses badly at 1M).
        # EXISTS rather than a join, so that a contact never appears twice.
        tag_id = Tag.objects.filter(name=tag).values_list("pk", flat=True).first()
        queryset = queryset.filter(
            Exists(Contact.tags.through.objects.filter(contact_id=OuterRef("pk"), tag_id=tag_id))
        )
    list_id = (params.get("list") or "").strip()
    if list_id.isdigit():
        queryset = queryset.filter(
            Exists(
                Subscription.objects.filter(
                    contact_id=OuterRef("pk"),
                    mailing_list_id=int(list_id),
                    status=Subscription.Status.SUBSCRIBED,
                )
            )
        )
    status = (params.get("status") or "").strip()
    if status in Contact.Status.values:
        queryset = queryset.filter(status=status)
    place = clean_param(params.get("place") or params.get("city"))
    if place:
        if place[:1].isdigit():
            queryset = queryset.filter(postal_code__startswith=place)
        else:
            queryset = queryset.alias(lower_city=Lower("city")).filter(
                lower_city__startswith=place.lower()
            )
    has_email = params.get("has_email")
    if has_email == "1":
        queryset = queryset.filter(email__isnull=False)
    elif has_email == "0":
        queryset = queryset.filter(email__isnull=True)
    for param, value, _description in contact_filters_active(params):
        queryset = _handed_down_filters[param].apply(queryset, value)
    return queryset


def contacts_sort(params: Mapping[str, str]) -> str:
    sort = params.get("sort") or DEFAULT_SORT
    return sort if sort in SORTS else DEFAULT_SORT


def contacts_recent(*, limit: int = 8) -> list[Contact]:
    return list(Contact.objects.order_by("-created_at", "-id")[:limit])


@dataclass(frozen=True)
class ContactCounts:
    total: int
    mailable: int


def contact_counts() -> ContactCounts:
    """One pass over the table for both figures."""
    row = Contact.objects.aggregate(
        total=Count("id"),
        mailable=Count("id", filter=Q(email__isnull=False, status=Contact.Status.ACTIVE)),
    )
    return ContactCounts(total=row["total"] or 0, mailable=row["mailable"] or 0)


def lists_with_counts() -> QuerySet[MailingList]:
    """Lists with their subscriber counts per status (grouped in the database)."""
    status = Subscription.Status
    return MailingList.objects.annotate(
        subscribed_count=Count("subscriptions", filter=Q(subscriptions__status=status.SUBSCRIBED)),
        unsubscribed_count=Count(
            "subscriptions", filter=Q(subscriptions__status=status.UNSUBSCRIBED)
        ),
        unconfirmed_count=Count(
            "subscriptions", filter=Q(subscriptions__status=status.UNCONFIRMED)
        ),
    ).order_by("name")


def tags_with_counts() -> QuerySet[Tag]:
    return Tag.objects.annotate(contact_count=Count("contacts")).order_by("name")


def contact_subscriptions(*, contact: Contact) -> QuerySet[Subscription]:
    return contact.subscriptions.select_related("mailing_list", "created_by").order_by(
        "mailing_list__name"
    )


def contact_audit_entries(*, contact_id: int, limit: int = 50) -> list[AuditLog]:
    return list(
        AuditLog.objects.filter(object_type="contacts.contact", object_id=str(contact_id))
        .select_related("actor")
        .order_by("-at", "-id")[:limit]
    )


@dataclass
class TimelineEvent:
    at: dt.datetime
    kind: str  # created | order | subscription | audit
    title: str
    detail: str = ""
    link: str = ""
    actor: str = ""
    # (field name, field label, old value, new value) for a change of details.
    change_rows: list[tuple[str, str, Any, Any]] = field(default_factory=list)


TIMELINE_LIMIT = 50


def contact_timeline(
    *, contact: Contact, limit: int = TIMELINE_LIMIT, other_events: Iterable[TimelineEvent] = ()
) -> list[TimelineEvent]:
    """The contact's history, newest first: created, subscription changes, audit entries, and
    `other_events` that apps above contacts read about the contact (orders: the contact page in
    fidele.web passes commerce's).

    Each source is read with its own LIMIT so that a customer with 10,000 orders costs no more
    than one with 50.
    """
    from django.utils.translation import gettext as _

    events: list[TimelineEvent] = [
        TimelineEvent(
            at=contact.created_at,
            kind="created",
            title=_("Contact created"),
            detail=_("Source: %(source)s") % {"source": contact.source} if contact.source else "",
        )
    ]
    events.extend(list(other_events)[:limit])
    # (subscribe | unsubscribe, list name, when) of the changes the audit trail tells.
    audited: list[tuple[str, str, dt.datetime]] = []
    for entry in contact_audit_entries(contact_id=contact.pk, limit=limit):
        if entry.action == AuditLog.Action.CREATE:
            # The audit entry says who created the contact: it replaces the bare "created" event.
            events[0].actor = actor_label_display(entry.actor_label)
            continue
        audited.extend((entry.action, name, entry.at) for name in _audited_lists(entry))
        events.append(
            TimelineEvent(
                at=entry.at,
                kind="audit",
                title=_audit_title(entry),
                detail=_audit_detail(entry),
                actor=actor_label_display(entry.actor_label),
                change_rows=_change_rows(entry),
            )
        )

    def told_by_audit(action: str, list_name: str, at: dt.datetime) -> bool:
        # Every unsubscribe, and a subscription again from the preference centre, is audited
        # with its author in the same transaction as the subscription row changes: that entry
        # tells it, the row would tell it a second time.
        return any(
            a == action and name == list_name and abs(when - at) <= AUDIT_SAME_CHANGE
            for a, name, when in audited
        )

    for sub in contact.subscriptions.select_related("mailing_list").order_by("-updated_at")[:limit]:
        # Changes made by hand are in the audit log with their author; the subscription row
        # only tells the story of those that came from an import, a form or the API.
        if sub.consent_source == Subscription.Source.MANUAL:
            continue
        name = sub.mailing_list.name
        if sub.consent_at and not told_by_audit(AuditLog.Action.SUBSCRIBE, name, sub.consent_at):
            events.append(
                TimelineEvent(
                    at=sub.consent_at,
                    kind="subscription",
                    title=_("Subscribed to %(list)s") % {"list": name},
                    detail=sub.get_consent_source_display(),
                )
            )
        if sub.unsubscribed_at and not told_by_audit(
            AuditLog.Action.UNSUBSCRIBE, name, sub.unsubscribed_at
        ):
            events.append(
                TimelineEvent(
                    at=sub.unsubscribed_at,
                    kind="subscription",
                    title=_("Unsubscribed from %(list)s") % {"list": name},
                )
            )
    events.sort(key=lambda e: e.at, reverse=True)
    return events[:limit]


# An audit entry and the subscription row it wrote differ by the time the transaction took.
AUDIT_SAME_CHANGE = dt.timedelta(minutes=1)


def _audited_lists(entry: AuditLog) -> list[str]:
    """The lists a subscribe or unsubscribe entry names: one (by hand) or several (a recipient
    through a link in an email)."""
    changes = entry.changes if isinstance(entry.changes, dict) else {}
    if entry.action not in (AuditLog.Action.SUBSCRIBE, AuditLog.Action.UNSUBSCRIBE):
        return []
    if changes.get("list"):
        return [str(changes["list"])]
    unsubscribe = entry.action == AuditLog.Action.UNSUBSCRIBE
    names = changes.get("lists_unsubscribed" if unsubscribe else "lists_resubscribed")
    return [str(name) for name in names] if isinstance(names, list) else []


def _audit_title(entry: AuditLog) -> str:
    from django.utils.translation import gettext as _

    changes = entry.changes if isinstance(entry.changes, dict) else {}
    lists = ", ".join(_audited_lists(entry))
    if entry.action == AuditLog.Action.UNSUBSCRIBE and changes.get("unsubscribed_from_everything"):
        return _("Unsubscribed from every email")
    if entry.action == AuditLog.Action.SUBSCRIBE and lists:
        return _("Subscribed to %(list)s") % {"list": lists}
    if entry.action == AuditLog.Action.UNSUBSCRIBE and lists:
        return _("Unsubscribed from %(list)s") % {"list": lists}
    if entry.action == AuditLog.Action.UPDATE and changes.get("tag_added"):
        return _("Tag added: %(tag)s") % {"tag": changes["tag_added"]}
    if entry.action == AuditLog.Action.UPDATE and changes.get("tag_removed"):
        return _("Tag removed: %(tag)s") % {"tag": changes["tag_removed"]}
    if entry.action == AuditLog.Action.MERGE and changes.get("merged_into"):
        return _("Merged into contact #%(id)s") % {"id": changes["merged_into"]}
    if entry.action == AuditLog.Action.MERGE and changes.get("absorbed_id"):
        return _("%(name)s (contact #%(id)s) merged into this contact") % {
            "name": changes.get("absorbed") or "",
            "id": changes["absorbed_id"],
        }
    if entry.action == AuditLog.Action.UPDATE and changes.get("not_duplicate_of"):
        return _("Marked as not the same person as contact #%(id)s") % {
            "id": changes["not_duplicate_of"]
        }
    titles = {
        AuditLog.Action.UNMERGE: _("Merge undone"),
        AuditLog.Action.UPDATE: _("Details changed"),
        AuditLog.Action.IMPORT: _("Updated by an import"),
        AuditLog.Action.EXPORT: _("Exported"),
        AuditLog.Action.SUBSCRIBE: _("Subscribed"),
        AuditLog.Action.UNSUBSCRIBE: _("Unsubscribed"),
    }
    return titles.get(entry.action, _("Other change"))


def _audit_detail(entry: AuditLog) -> str:
    """How a recipient made their choice (one click in the mail app, the preference centre...)."""
    changes = entry.changes if isinstance(entry.changes, dict) else {}
    source = changes.get("source")
    if entry.action in (AuditLog.Action.SUBSCRIBE, AuditLog.Action.UNSUBSCRIBE) and isinstance(
        source, str
    ):
        return str(WITHDRAWAL_SOURCES.get(source, ""))
    return ""


# Changes of a contact that are not one of its fields.
_CHANGE_LABELS = {"other_customer_number": CustomerNumberAlias._meta.verbose_name}


def _change_rows(entry: AuditLog) -> list[tuple[str, str, Any, Any]]:
    if entry.action != AuditLog.Action.UPDATE or not isinstance(entry.changes, dict):
        return []
    rows = []
    for name, pair in entry.changes.items():
        if not (isinstance(pair, list) and len(pair) == 2):
            continue
        try:
            label = str(Contact._meta.get_field(name).verbose_name)
        except Exception:  # a field removed since, or a key that is not a field
            label = str(_CHANGE_LABELS.get(name, name))
        rows.append((name, label[:1].upper() + label[1:], pair[0], pair[1]))
    return rows


def lists_subscribed_counts() -> list[tuple[MailingList, int]]:
    """(list, subscribed contacts) for every list; the (list, status) index answers the count."""
    counts = dict(
        Subscription.objects.filter(status=Subscription.Status.SUBSCRIBED)
        .values("mailing_list_id")
        .annotate(n=Count("id"))
        .values_list("mailing_list_id", "n")
        .order_by()
    )
    return [
        (mailing_list, counts.get(mailing_list.pk, 0))
        for mailing_list in MailingList.objects.order_by("name")
    ]


def customer_number_alias_owners(numbers: Iterable[str]) -> dict[str, int]:
    """{number: contact id} for those of `numbers` that are a contact's other customer number
    (orders and imports filed under it reach that contact)."""
    wanted = [number for number in set(numbers) if number]
    if not wanted:
        return {}
    return dict(
        CustomerNumberAlias.objects.filter(number__in=wanted).values_list("number", "contact_id")
    )


def contact_attributes_labelled(*, contact: Contact) -> list[tuple[str, Any]]:
    """(label, value) of the contact's custom fields, headed as their file headed them
    (AttributeLabel) or by their key, in key order."""
    attributes = contact.attributes if isinstance(contact.attributes, dict) else {}
    if not attributes:
        return []
    labels = dict(
        AttributeLabel.objects.filter(key__in=list(attributes)).values_list("key", "label")
    )
    return [(labels.get(key, key), value) for key, value in sorted(attributes.items())]
