import pytest

from fidele.commerce.selectors import contact_orders, order_timeline_events
from fidele.contacts import selectors
from fidele.contacts.models import Contact
from fidele.ui.pagination import bounded_count, decode_cursor, keyset_page
from tests.factories import make_contact, make_list, make_order, make_subscription, make_tag

pytestmark = pytest.mark.django_db


def ids(queryset):
    return sorted(queryset.values_list("pk", flat=True))


def test_search_finds_an_email_by_its_beginning_whatever_the_case():
    marie = make_contact(email="marie.dupont@example.fr")
    make_contact(email="jean@example.fr")
    assert ids(selectors.contacts_filtered(params={"q": "Marie.D"})) == [marie.pk]
    assert ids(selectors.contacts_filtered(params={"q": "MARIE.DUPONT@ex"})) == [marie.pk]


def test_search_finds_a_last_name_by_its_beginning_whatever_the_case():
    faure = make_contact(last_name="Faure", email=None)
    make_contact(last_name="Durand")
    assert ids(selectors.contacts_filtered(params={"q": "fau"})) == [faure.pk]


def test_search_ignores_accents_and_case_and_finds_full_names_in_either_order():
    helene = make_contact(first_name="Hélène", last_name="Dupré", email=None)
    jean_pierre = make_contact(first_name="Jean-Pierre", last_name="D'Artagnan", email=None)
    make_contact(first_name="Hélène", last_name="Martin", email=None)
    for q in ("dupre", "DUPRÉ", "Dupré", "Hélène Dupré", "helene dupre", "Dupré Hélène"):
        assert ids(selectors.contacts_filtered(params={"q": q})) == [helene.pk], q
    for q in ("jean pierre", "Jean-Pierre d'art", "dartagnan", "d artagnan jean"):
        expected = [] if q == "dartagnan" else [jean_pierre.pk]
        assert ids(selectors.contacts_filtered(params={"q": q})) == expected, q
    assert len(ids(selectors.contacts_filtered(params={"q": "HELENE"}))) == 2


def test_the_search_columns_fold_names_as_python_does():
    from fidele.contacts.models import Contact
    from fidele.contacts.normalize import name_fold

    names = [("Œdipe", "Ærøskøbing"), ("ÉLODIE", "Ñuñez-Çelik"), ("  ", "Zoé"), ("Anaïs", "")]
    for first, last in names:
        contact = make_contact(first_name=first, last_name=last, email=None)
        row = Contact.objects.values("search_first_last", "search_last_first").get(pk=contact.pk)
        assert row["search_first_last"] == name_fold(f"{first} {last}"), (first, last)
        assert row["search_last_first"] == name_fold(f"{last} {first}"), (first, last)


def test_search_finds_a_customer_number_exactly():
    c = make_contact(external_id="C1042")
    make_contact(external_id="C10420")
    assert ids(selectors.contacts_filtered(params={"q": "C1042"})) == [c.pk]


def test_search_finds_a_phone_typed_the_french_way():
    c = make_contact(phone="+33612345678")
    make_contact(phone="+33687654321")
    assert ids(selectors.contacts_filtered(params={"q": "06 12 34 56 78"})) == [c.pk]


@pytest.mark.parametrize(
    "odd", ["'", '"', "%", "_", "%%", "\\", "' OR 1=1 --", "x" * 5000, "é\u0000", "<script>"]
)
def test_odd_search_text_returns_a_result_instead_of_failing(odd):
    make_contact(last_name="Dupont")
    assert list(selectors.contacts_filtered(params={"q": odd})) == []


def test_a_percent_sign_is_not_a_wildcard():
    make_contact(last_name="Dupont")
    assert not selectors.contacts_filtered(params={"q": "%"}).exists()
    assert not selectors.contacts_filtered(params={"q": "D%t"}).exists()


def test_filters_by_tag_list_status_place_and_email():
    vip, newsletter = make_tag("VIP"), make_list("Newsletter")
    a = make_contact(city="Bergerac", postal_code="24100")
    b = make_contact(city="Bordeaux", postal_code="33000", status=Contact.Status.BOUNCED)
    c = make_contact(city="Agen", postal_code="47000", email=None)
    a.tags.add(vip)
    make_subscription(a, newsletter)
    make_subscription(b, newsletter, status="unsubscribed")
    f = selectors.contacts_filtered
    assert ids(f(params={"tag": "VIP"})) == [a.pk]
    assert ids(f(params={"list": str(newsletter.pk)})) == [a.pk]
    assert ids(f(params={"status": "bounced"})) == [b.pk]
    assert ids(f(params={"place": "bord"})) == [b.pk]
    assert ids(f(params={"place": "33"})) == [b.pk]
    assert ids(f(params={"has_email": "0"})) == [c.pk]
    assert ids(f(params={"has_email": "1"})) == sorted([a.pk, b.pk])
    assert ids(f(params={"tag": "VIP", "place": "47"})) == []


def test_malformed_filter_values_are_ignored():
    a = make_contact()
    params = {"list": "abc", "status": "nonsense", "has_email": "maybe"}
    assert ids(selectors.contacts_filtered(params=params)) == [a.pk]


def test_a_contact_with_two_tags_appears_once_under_a_tag_filter():
    vip, club = make_tag("VIP"), make_tag("Club")
    a = make_contact()
    a.tags.add(vip, club)
    assert selectors.contacts_filtered(params={"tag": "VIP"}).count() == 1


def test_sorting_by_name_pages_through_every_contact_once():
    for name in ["Moreau", "Blanc", "Faure", "Blanc", "Girard", "Zola", "Adam"]:
        make_contact(last_name=name)
    qs = selectors.contacts_filtered(params={})
    fields, descending = selectors.SORTS["name"]
    seen, after = [], None
    while True:
        page = keyset_page(qs, fields=fields, descending=descending, after=after, size=3)
        seen += [c.last_name for c in page.rows]
        if not page.next_cursor:
            break
        after = page.next_cursor
    assert seen == sorted(seen)
    assert len(seen) == 7


def test_previous_page_returns_the_rows_before_the_cursor():
    contacts = [make_contact(last_name=f"N{i:02d}") for i in range(7)]
    qs = selectors.contacts_filtered(params={})
    fields, descending = selectors.SORTS["-created"]
    first = keyset_page(qs, fields=fields, descending=descending, size=3)
    second = keyset_page(qs, fields=fields, descending=descending, after=first.next_cursor, size=3)
    back = keyset_page(qs, fields=fields, descending=descending, before=second.prev_cursor, size=3)
    assert [c.pk for c in back.rows] == [c.pk for c in first.rows]
    assert back.is_first
    assert [c.pk for c in first.rows] == [c.pk for c in reversed(contacts)][:3]


def test_a_forged_cursor_is_treated_as_the_first_page():
    make_contact()
    assert decode_cursor("not-base64!!", 2) is None
    assert decode_cursor("W10", 2) is None  # "[]": wrong length
    qs = selectors.contacts_filtered(params={})
    page = keyset_page(qs, fields=["created_at", "id"], descending=True, after="garbage")
    assert page.is_first and len(page.rows) == 1


def test_the_count_stops_at_its_cap():
    for _ in range(5):
        make_contact()
    qs = selectors.contacts_filtered(params={})
    assert bounded_count(qs, cap=3) == (3, True)
    assert bounded_count(qs, cap=10) == (5, False)


def test_counts_separate_contacts_from_those_reachable_by_email():
    make_contact()
    make_contact(email=None)
    make_contact(status=Contact.Status.BOUNCED)
    counts = selectors.contact_counts()
    assert (counts.total, counts.mailable) == (3, 1)


def test_lists_count_subscribers_per_status():
    newsletter = make_list()
    make_subscription(make_contact(), newsletter)
    make_subscription(make_contact(), newsletter)
    make_subscription(make_contact(), newsletter, status="unsubscribed")
    row = selectors.lists_with_counts().get()
    assert (row.subscribed_count, row.unsubscribed_count, row.unconfirmed_count) == (2, 1, 0)
    assert selectors.lists_subscribed_counts() == [(newsletter, 2)]


def test_the_timeline_merges_orders_subscriptions_and_audit_newest_first(owner):
    from fidele.contacts import services

    contact = make_contact()
    make_order(contact, external_id="CMD-1", days_ago=10)
    make_subscription(contact, make_list("Offres"))
    services.contact_update(actor=owner, contact=contact, data={"city": "Agen"})
    orders = order_timeline_events(contact_orders(contact_id=contact.pk))
    events = selectors.contact_timeline(contact=contact, other_events=orders)
    assert {e.kind for e in events} == {"created", "order", "subscription", "audit"}
    assert events == sorted(events, key=lambda e: e.at, reverse=True)


def test_the_timeline_is_bounded():
    contact = make_contact()
    for i in range(60):
        make_order(contact, days_ago=i + 1)
    orders = order_timeline_events(contact_orders(contact_id=contact.pk, limit=100))
    assert len(selectors.contact_timeline(contact=contact, other_events=orders)) == 50


@pytest.mark.parametrize("sort", ["-name", "city", "-city", "created"])
def test_every_sort_pages_through_every_contact_once(sort):
    for i, (name, city) in enumerate(
        [("Blanc", "Agen"), ("Blanc", "Agen"), ("Zola", "Paris"), ("Adam", "Agen"), ("Faure", "")]
        * 2
    ):
        make_contact(last_name=name, first_name=f"P{i % 3}", city=city)
    qs = selectors.contacts_filtered(params={})
    fields, descending = selectors.SORTS[sort]
    seen, after = [], None
    while True:
        page = keyset_page(qs, fields=fields, descending=descending, after=after, size=3)
        seen += [c.pk for c in page.rows]
        if not page.next_cursor:
            break
        after = page.next_cursor
    expected = list(
        qs.order_by(*[f"-{f}" if descending else f for f in fields]).values_list("pk", flat=True)
    )
    assert seen == expected
