from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from io import StringIO

import phonenumbers
import pytest
from django.core.management import CommandError, call_command
from django.db.models import Sum

from fidele.commerce.models import Order, OrderLine, Product
from fidele.contacts.models import Contact, CustomerNumberAlias, MailingList, Subscription, Tag
from fidele.core.models import AuditLog
from fidele.demo import services as demo

REFERENCE = date(2026, 6, 15)
SMALL = 150


def snapshot() -> dict:
    """Everything the demo writes, keyed by natural keys (ids differ between loads)."""
    contacts = list(
        Contact.objects.order_by("external_id", "email").values_list(
            "external_id",
            "email",
            "first_name",
            "last_name",
            "phone",
            "address",
            "postal_code",
            "city",
            "country",
            "language",
            "birth_date",
            "joined_on",
            "attributes",
            "status",
        )
    )
    tags = sorted(Contact.tags.through.objects.values_list("contact__email", "tag__name"), key=str)
    subscriptions = sorted(
        Subscription.objects.values_list(
            "contact__email", "mailing_list__name", "status", "consent_at", "consent_proof"
        ),
        key=str,
    )
    orders = list(
        Order.objects.order_by("external_id").values_list(
            "external_id",
            "contact__external_id",
            "contact__email",
            "ordered_at",
            "total",
            "channel",
        )
    )
    lines = sorted(
        OrderLine.objects.values_list("order__external_id", "sku", "quantity", "line_total"),
        key=str,
    )
    return {"contacts": contacts, "tags": tags, "subs": subscriptions, "orders": orders,
            "lines": lines}  # fmt: skip


@pytest.mark.django_db
def test_the_same_seed_and_date_give_exactly_the_same_shop():
    demo.demo_load(contacts=SMALL, seed=7, reference_date=REFERENCE)
    first = snapshot()
    demo.demo_load(contacts=SMALL, seed=7, reference_date=REFERENCE, reset=True)
    assert snapshot() == first
    demo.demo_load(contacts=SMALL, seed=8, reference_date=REFERENCE, reset=True)
    assert snapshot()["contacts"] != first["contacts"]


@pytest.mark.django_db
def test_it_creates_the_requested_contacts_with_lists_tags_products_and_orders():
    summary = demo.demo_load(contacts=SMALL, seed=1, reference_date=REFERENCE)
    assert Contact.objects.count() == SMALL == summary.contacts
    assert Product.objects.count() == summary.products >= 40
    assert set(Product.objects.values_list("category", flat=True)) == {
        "Vins", "Épicerie fine", "Coffrets"
    }  # fmt: skip
    assert set(MailingList.objects.values_list("name", flat=True)) == {
        "Newsletter", "Offres club", "Professionnels"
    }  # fmt: skip
    assert Tag.objects.filter(name="VIP").exists()
    assert Order.objects.count() == summary.orders > SMALL * 3
    assert OrderLine.objects.count() == summary.order_lines >= summary.orders
    assert Subscription.objects.count() == summary.subscriptions > 0
    # Order totals are the sum of their lines.
    for order in Order.objects.order_by("?")[:20]:
        assert order.lines.aggregate(s=Sum("line_total"))["s"] == order.total


@pytest.mark.django_db
def test_every_order_falls_in_the_two_years_before_the_reference_date():
    demo.demo_load(contacts=SMALL, seed=3, reference_date=REFERENCE)
    first = Order.objects.order_by("ordered_at").first().ordered_at.date()
    last = Order.objects.order_by("ordered_at").last().ordered_at.date()
    assert first >= REFERENCE - timedelta(days=demo.HISTORY_DAYS)
    assert last <= REFERENCE


@pytest.mark.django_db
def test_december_sells_more_than_any_other_month():
    demo.demo_load(contacts=400, seed=5, reference_date=date(2026, 1, 1))
    by_month: dict[int, Decimal] = {}
    for ordered_at, total in Order.objects.values_list("ordered_at", "total"):
        by_month[ordered_at.month] = by_month.get(ordered_at.month, Decimal(0)) + total
    assert max(by_month, key=by_month.get) == 12
    assert by_month[8] > by_month[2]  # summer tourists


@pytest.mark.django_db
def test_a_fifth_of_the_customers_bring_most_of_the_revenue():
    demo.demo_load(contacts=400, seed=5, reference_date=REFERENCE)
    revenues = sorted(
        Order.objects.values("contact").annotate(s=Sum("total")).values_list("s", flat=True),
        reverse=True,
    )
    top = sum(revenues[: len(revenues) // 5])
    assert top / sum(revenues) > Decimal("0.5")


@pytest.mark.django_db
def test_contacts_look_french_and_can_never_reach_a_real_mailbox():
    demo.demo_load(contacts=SMALL, seed=11, reference_date=REFERENCE)
    emails = list(Contact.objects.exclude(email=None).values_list("email", flat=True))
    assert emails and all(email == email.lower() for email in emails)
    # The data-quality problems planted on purpose (fidele.demo.quality) include throwaway
    # inboxes at real disposable domains: those contacts are on no list, no campaign reaches them.
    disposable = Contact.objects.filter(email__regex=r"@(yopmail\.com|jetable\.org)$")
    assert not Subscription.objects.filter(contact__in=disposable).exists()
    assert all(
        email.rsplit("@", 1)[1].endswith(
            (
                ".example",
                "example.com",
                "example.net",
                "example.org",
                ".exemple",
                ".exampel",
                ".exmple",
            )
        )
        for email in emails
        if not email.endswith(("@yopmail.com", "@jetable.org"))
    )
    assert Contact.objects.filter(email=None).exists()
    assert Contact.objects.filter(phone="").exists()
    for phone in Contact.objects.exclude(phone="").values_list("phone", flat=True):
        assert phone.startswith("+")
        assert phonenumbers.is_valid_number(phonenumbers.parse(phone))
    assert Contact.objects.filter(country="FR").count() > SMALL * 0.8
    names = "".join(
        first + last for first, last in Contact.objects.values_list("first_name", "last_name")
    )
    assert any(ch in names for ch in "éèëêïç")
    assert Contact.objects.filter(attributes__has_key="canal_acquisition").count() == SMALL


@pytest.mark.django_db
def test_every_subscription_carries_its_proof_of_consent():
    demo.demo_load(contacts=SMALL, seed=2, reference_date=REFERENCE)
    for sub in Subscription.objects.all():
        if sub.consent_at:
            assert sub.consent_at.date() < REFERENCE
        assert sub.consent_proof
        assert sub.consent_source in {"form", "import", "manual"}
        if sub.status == Subscription.Status.SUBSCRIBED:
            assert sub.consent_at is not None
        if sub.status == Subscription.Status.UNSUBSCRIBED:
            assert sub.unsubscribed_at is not None and sub.unsubscribed_at >= sub.consent_at


@pytest.mark.django_db
def test_it_refuses_to_load_over_existing_business_data():
    Contact.objects.create(email="vrai.client@example.com")
    with pytest.raises(demo.DemoDataExists):
        demo.demo_load(contacts=10, seed=1, reference_date=REFERENCE)
    assert Contact.objects.count() == 1


@pytest.mark.django_db
def test_reset_wipes_business_data_but_keeps_users_and_the_audit_trail(owner):
    Contact.objects.create(email="vrai.client@example.com")
    demo.demo_load(contacts=20, seed=1, reference_date=REFERENCE, reset=True)
    assert not Contact.objects.filter(email="vrai.client@example.com").exists()
    assert Contact.objects.count() == 20
    entry = AuditLog.objects.get(object_type="demo")
    assert entry.changes["wiped"]["contacts"] == 1
    assert entry.changes["contacts"] == 20
    owner.refresh_from_db()  # still there


@pytest.mark.django_db
def test_the_command_prints_a_one_line_summary():
    out = StringIO()
    call_command("demo", "--contacts", "30", "--seed", "4", "--date", "2026-06-15", stdout=out)
    text = out.getvalue().strip()
    assert "\n" not in text
    assert "30 contacts" in text and "Cave & Terroir" in text


@pytest.mark.django_db
def test_the_command_refuses_existing_data_unless_reset_and_prints_json():
    call_command("demo", "--contacts", "10", "--date", "2026-06-15", stdout=StringIO())
    with pytest.raises(CommandError, match="--reset"):
        call_command("demo", "--contacts", "10", stdout=StringIO())
    out = StringIO()
    call_command("demo", "--contacts", "12", "--force", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["contacts"] == 12 and data["orders"] == Order.objects.count()


@pytest.mark.django_db
def test_the_command_rejects_a_malformed_date():
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("demo", "--date", "15/06/2026", stdout=StringIO())


def test_the_demo_signs_its_emails_with_the_shops_name_and_address(db):
    from fidele.campaigns.layouts import layout_default, layout_needs_address
    from fidele.demo.services import demo_load

    demo_load(contacts=30, seed=7)
    layout = layout_default()
    assert layout.sender_name == "Cave & Terroir"
    assert "24100 Bergerac" in layout.sender_postal_address
    assert not layout_needs_address(layout)


@pytest.mark.django_db
def test_the_demo_shows_customers_with_a_second_customer_number():
    demo.demo_load(contacts=SMALL, reference_date=REFERENCE)

    aliases = list(CustomerNumberAlias.objects.select_related("contact"))
    assert aliases
    assert all(a.number == f"{a.contact.external_id}-A" for a in aliases)


@pytest.mark.django_db
def test_the_demo_newsletter_has_a_report_with_people_machines_and_orders():
    from fidele.analytics.reports import campaign_report
    from fidele.campaigns.models import Campaign

    demo.demo_load(contacts=600, reference_date=REFERENCE)

    campaign = Campaign.objects.get(name="Lettre des primeurs")
    report = campaign_report(campaign_id=campaign.pk)
    assert campaign.status == Campaign.Status.SENT
    assert report["sent"] > 100 and report["delivered"] < report["sent"]
    assert 0.15 < report["open_rate"] < 0.5
    assert report["opens_machine"] > 0 and report["clicks_machine"] > 0
    assert report["conversions"] > 0 and report["revenue"] > 0
    assert {link["url"] for link in report["links"]} <= set(
        ("https://cave-et-terroir.fr/vins/primeurs", "https://cave-et-terroir.fr/fromages",
         "https://cave-et-terroir.fr/ateliers")
    )  # fmt: skip


@pytest.mark.django_db
def test_the_demo_shop_has_a_few_duplicates_to_show():
    from fidele.quality.duplicates import duplicate_pairs

    demo.demo_load(contacts=600, seed=4, reference_date=REFERENCE)
    # Four records are planted as second records of earlier customers; the search finds them.
    assert duplicate_pairs().count() >= 4


@pytest.mark.django_db
def test_the_demo_shop_has_saved_segments_with_members_and_a_size_today():
    from fidele.segments.models import Segment, SegmentSize
    from fidele.segments.rules import segment_count

    demo.demo_load(contacts=600, seed=4)
    segments = list(Segment.objects.order_by("name"))
    assert [s.name for s in segments] == [
        "Clients fidèles de Bergerac",
        "Grands amateurs à reconquérir",
        "N'ont pas ouvert depuis 90 jours",
    ]
    for segment in segments:
        count, _ms = segment_count(segment.rules)
        assert count > 0, segment.name
        assert SegmentSize.objects.get(segment=segment).size == count
    # Loading the demo again replaces its segments rather than failing on their names.
    demo.demo_load(contacts=50, seed=4, reset=True)
    assert Segment.objects.count() == 3
