import pytest
from django.urls import reverse

from fidele.contacts.models import Contact, MailingList, Subscription, Tag
from fidele.core.models import AuditLog
from tests.factories import make_contact, make_list, make_order, make_subscription, make_tag

pytestmark = pytest.mark.django_db

XSS = "<script>alert(1)</script>"


@pytest.fixture
def world():
    contact = make_contact(first_name="Marie", last_name="Dupont", email="marie@example.fr")
    tag = make_tag("VIP")
    mailing_list = make_list("Newsletter")
    contact.tags.add(tag)
    make_subscription(contact, mailing_list)
    return {
        "contact": contact,
        "tag": tag,
        "list": mailing_list,
        "other_tag": make_tag("Pro"),
        "other_list": make_list("Offres club"),
    }


def write_requests(world):
    """(url, data) for every write the contacts pages offer."""
    c, t, m = world["contact"], world["tag"], world["list"]
    return [
        (
            reverse("contacts:create"),
            {"first_name": "Jean", "email": "jean@example.fr", "status": "active"},
        ),
        (
            reverse("contacts:edit", args=[c.pk]),
            {"first_name": "Marie", "last_name": "Durand", "status": "active"},
        ),
        (reverse("contacts:delete", args=[c.pk]), {}),
        (reverse("contacts:tag_add", args=[c.pk]), {"tag": world["other_tag"].pk}),
        (reverse("contacts:tag_remove", args=[c.pk, t.pk]), {}),
        (
            reverse("contacts:subscribe", args=[c.pk]),
            {"mailing_list": world["other_list"].pk, "consent": "on"},
        ),
        (reverse("contacts:unsubscribe", args=[c.pk, m.pk]), {}),
        (reverse("contacts:tag_create"), {"name": "Club", "color": "#112233"}),
        (reverse("contacts:tag_edit", args=[t.pk]), {"name": "Gold", "color": "#112233"}),
        (reverse("contacts:tag_delete", args=[t.pk]), {}),
        (reverse("contacts:list_create"), {"name": "Offres"}),
        (reverse("contacts:list_edit", args=[m.pk]), {"name": "Lettre"}),
        (reverse("contacts:list_delete", args=[m.pk]), {}),
    ]


def test_a_viewer_gets_403_on_every_write_and_nothing_changes(viewer_client, world):
    for url, data in write_requests(world):
        response = viewer_client.post(url, data)
        assert response.status_code == 403, url
    assert not AuditLog.objects.exists()
    assert Contact.objects.count() == 1 and Tag.objects.count() == 2
    assert MailingList.objects.count() == 2


def test_a_viewer_cannot_open_the_edit_forms(viewer_client, world):
    c = world["contact"]
    for url in [
        reverse("contacts:create"),
        reverse("contacts:edit", args=[c.pk]),
        reverse("contacts:delete", args=[c.pk]),
    ]:
        assert viewer_client.get(url).status_code == 403


def test_anonymous_visitors_are_sent_to_the_login_page(client, world):
    for url, data in write_requests(world):
        response = client.post(url, data)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login/")
    assert client.get(reverse("contacts:list")).status_code == 302
    assert not AuditLog.objects.exists()


@pytest.mark.parametrize("index", range(13))
def test_a_marketer_can_make_each_write(marketer_client, world, index):
    url, data = write_requests(world)[index]
    response = marketer_client.post(url, data)
    assert response.status_code == 302, (url, response.content[:500])
    assert AuditLog.objects.count() == 1


def test_a_viewer_sees_no_write_buttons(viewer_client, world):
    c = world["contact"]
    page = viewer_client.get(reverse("web:contact_detail", args=[c.pk])).content.decode()
    assert reverse("contacts:edit", args=[c.pk]) not in page
    assert reverse("contacts:delete", args=[c.pk]) not in page
    assert reverse("contacts:tag_add", args=[c.pk]) not in page
    listing = viewer_client.get(reverse("contacts:list")).content.decode()
    assert reverse("contacts:create") not in listing
    tags = viewer_client.get(reverse("contacts:tags")).content.decode()
    assert reverse("contacts:tag_create") not in tags


def test_a_marketer_sees_the_write_buttons(marketer_client, world):
    c = world["contact"]
    page = marketer_client.get(reverse("web:contact_detail", args=[c.pk])).content.decode()
    assert reverse("contacts:edit", args=[c.pk]) in page
    assert reverse("contacts:delete", args=[c.pk]) in page


def test_every_read_page_opens_for_a_viewer(viewer_client, world):
    c, m = world["contact"], world["list"]
    for url in [
        reverse("contacts:list"),
        reverse("web:contact_detail", args=[c.pk]),
        reverse("contacts:tags"),
        reverse("contacts:lists"),
        reverse("contacts:list_detail", args=[m.pk]),
    ]:
        assert viewer_client.get(url).status_code == 200, url


def test_the_edit_form_normalises_email_and_phone(marketer_client, world):
    c = world["contact"]
    response = marketer_client.post(
        reverse("contacts:edit", args=[c.pk]),
        {
            "first_name": "Marie",
            "last_name": "Dupont",
            "email": " Marie.D@Example.FR ",
            "phone": "06 12 34 56 78",
            "status": "active",
        },
    )
    assert response.status_code == 302
    c.refresh_from_db()
    assert (c.email, c.phone) == ("marie.d@example.fr", "+33612345678")
    entry = AuditLog.objects.get(action="update")
    assert entry.changes["phone"] == ["", "+33612345678"]


def test_the_edit_form_explains_what_is_wrong(marketer_client, world):
    c = world["contact"]
    response = marketer_client.post(
        reverse("contacts:edit", args=[c.pk]),
        {"first_name": "Marie", "email": "marie@", "phone": "12", "status": "active"},
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "adresse e-mail valide" in page
    assert "numéro de téléphone valide" in page
    assert not AuditLog.objects.exists()


def test_an_email_already_used_by_someone_else_is_refused(marketer_client, world):
    other = make_contact(email="jean@example.fr")
    response = marketer_client.post(
        reverse("contacts:edit", args=[other.pk]),
        {"first_name": "Jean", "email": "MARIE@example.fr", "status": "active"},
    )
    assert response.status_code == 200
    assert "existe déjà" in response.content.decode()


def test_a_contact_needs_at_least_an_email_a_number_or_a_name(marketer_client):
    response = marketer_client.post(reverse("contacts:create"), {"status": "active"})
    assert response.status_code == 200
    assert not Contact.objects.exists()


def test_subscribing_by_hand_needs_the_consent_box(marketer_client, world):
    c = world["contact"]
    offers = make_list("Offres")
    marketer_client.post(reverse("contacts:subscribe", args=[c.pk]), {"mailing_list": offers.pk})
    assert not Subscription.objects.filter(mailing_list=offers).exists()
    marketer_client.post(
        reverse("contacts:subscribe", args=[c.pk]), {"mailing_list": offers.pk, "consent": "on"}
    )
    sub = Subscription.objects.get(mailing_list=offers)
    assert sub.consent_source == "manual" and sub.consent_proof["user"] == "marketer-user"


def test_a_script_in_a_name_is_shown_as_text(viewer_client):
    c = make_contact(first_name=XSS, last_name=XSS, email="x@example.fr", attributes={XSS: XSS})
    make_order(c)
    for url in [
        reverse("contacts:list"),
        reverse("web:contact_detail", args=[c.pk]),
        "/",
        "/orders/",
    ]:
        page = viewer_client.get(url).content.decode()
        assert XSS not in page, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, url


@pytest.mark.parametrize(
    "q", ["'", '"', "%", "%25", "\\", "' OR 1=1 --", "x" * 3000, "<script>", "é\u00e8", "06"]
)
def test_the_list_page_survives_odd_search_text(viewer_client, world, q):
    response = viewer_client.get(reverse("contacts:list"), {"q": q, "place": q, "tag": q})
    assert response.status_code == 200


def test_the_list_page_survives_a_forged_cursor_and_sort(viewer_client, world):
    response = viewer_client.get(
        reverse("contacts:list"), {"after": "%%%", "before": "x", "sort": "password"}
    )
    assert response.status_code == 200
    assert "DUPONT" in response.content.decode()


def test_live_search_returns_only_the_results_fragment(viewer_client, world):
    response = viewer_client.get(reverse("contacts:list"), {"q": "dup"}, HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert "DUPONT" in page
    assert "<html" not in page


def test_the_export_link_carries_the_filters(marketer_client, world):
    page = marketer_client.get(
        reverse("contacts:list"), {"tag": "VIP", "q": "dup"}
    ).content.decode()
    assert "/exports/contacts/?tag=VIP&amp;q=dup" in page
    assert 'href="/imports/"' in page or "/imports/" in page


def test_the_list_pages_through_contacts(viewer_client):
    for i in range(55):
        make_contact(last_name=f"Nom{i:02d}")
    first = viewer_client.get(reverse("contacts:list"), {"sort": "name"})
    assert first.context["page"].next_cursor
    assert first.context["count"] == 55
    cursor = first.context["page"].next_cursor
    second = viewer_client.get(reverse("contacts:list"), {"sort": "name", "after": cursor})
    names = [c.last_name for c in first.context["page"].rows + second.context["page"].rows]
    assert names == sorted(f"Nom{i:02d}" for i in range(55))
    # The pager's links work without JavaScript and, with htmx, swap the results in place.
    page = first.content.decode()
    assert f'href="?sort=name&amp;after={cursor}"' in page
    assert f'hx-get="/contacts/?sort=name&amp;after={cursor}"' in page
    assert 'hx-target="#contact-results"' in page


def test_the_contact_page_shows_phone_dates_and_money_the_french_way(viewer_client):
    import datetime as dt

    c = make_contact(phone="+33612345678", birth_date=dt.date(1980, 3, 7))
    make_order(c, total="1234.50")
    page = viewer_client.get(reverse("web:contact_detail", args=[c.pk])).content.decode()
    assert "06 12 34 56 78" in page
    assert "07/03/1980" in page
    assert "1\u202f234,50\xa0€" in page or "1\xa0234,50\xa0€" in page


def test_the_consent_proof_is_shown_readably(viewer_client, world):
    page = viewer_client.get(
        reverse("web:contact_detail", args=[world["contact"].pk])
    ).content.decode()
    # Labels and codes in the page's language, not the stored keys ("file", "method").
    assert "<dt>Fichier</dt><dd>clients.csv</dd>" in page
    assert "<dt>Mode de consentement</dt><dd>import d’un fichier</dd>" in page


def test_a_history_restore_gets_the_whole_page(viewer_client, world):
    response = viewer_client.get(
        reverse("contacts:list"), HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"
    )
    assert "<html" in response.content.decode()
    assert "HX-Request" in response["Vary"]


def test_the_history_shows_who_changed_what_in_plain_words(marketer_client, world):
    c = world["contact"]
    marketer_client.post(
        reverse("contacts:edit", args=[c.pk]),
        {
            "first_name": "Marie",
            "last_name": "Dupont",
            "email": "marie@example.fr",
            "phone": "0612345678",
            "city": "Agen",
            "status": "active",
        },
    )
    page = marketer_client.get(reverse("web:contact_detail", args=[c.pk])).content.decode()
    assert "Fiche modifiée" in page
    assert "Ville :" in page and "<del>Bergerac</del> → Agen" in page
    assert "Téléphone : 06 12 34 56 78" in page
    assert "marketer-user" in page


def test_a_broad_search_says_there_are_more_rather_than_counting_them(viewer_client, monkeypatch):
    from fidele.contacts import views

    monkeypatch.setattr(views, "SEARCH_CAP", 3)
    for i in range(5):
        make_contact(last_name=f"Martin{i}")
    response = viewer_client.get(reverse("contacts:list"), {"q": "martin"})
    assert response.context["capped"] is True
    assert "Plus de 3 contacts" in response.content.decode()


def test_a_viewer_is_offered_neither_export_nor_import(viewer_client, world):
    page = viewer_client.get(reverse("contacts:list")).content.decode()
    assert "/exports/" not in page
    assert 'href="/imports/"' not in page


def test_the_contact_page_lists_20_orders_and_puts_up_to_50_in_the_history(viewer_client):
    c = make_contact()
    for days_ago in range(1, 56):
        make_order(c, days_ago=days_ago)

    response = viewer_client.get(reverse("web:contact_detail", args=[c.pk]))

    orders = response.context["orders"]
    assert len(orders) == 20 and orders[0].ordered_at > orders[-1].ordered_at
    timeline_orders = [e for e in response.context["timeline"] if e.kind == "order"]
    assert len(timeline_orders) == 49  # the 50th event is the contact's creation
    assert f"{reverse('commerce:order_list')}?contact={c.pk}" in response.content.decode()


def test_delete_confirmations_agree_in_number_with_one_thing_lost(owner_client):
    contact = make_contact(lists=["Newsletter"])
    make_order(contact)
    tag = make_tag("VIP")
    contact.tags.add(tag)
    newsletter = MailingList.objects.get(name="Newsletter")

    def page(url: str) -> str:
        return owner_client.get(url).content.decode()

    assert "ses abonnements et 1 commande seront supprimés" in page(
        reverse("contacts:delete", args=[contact.pk])
    )
    assert "Elle sera retirée de 1 contact ;" in page(reverse("contacts:tag_delete", args=[tag.pk]))
    assert "1 abonnement, avec sa preuve de consentement, sera supprimé" in page(
        reverse("contacts:list_delete", args=[newsletter.pk])
    )


def form_fields(page):
    """What a browser posts back from the page's form, unchanged (hidden fields included)."""
    from html.parser import HTMLParser

    data = {}

    class Fields(HTMLParser):
        select = textarea = None

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag == "input" and a.get("name") and a["name"] != "csrfmiddlewaretoken":
                if a.get("type") == "checkbox" and "checked" not in a:
                    return  # a browser posts nothing for an unticked box
                default = "on" if a.get("type") == "checkbox" else ""
                data[a["name"]] = a.get("value") or default
            elif tag == "textarea":
                self.textarea = a["name"]
                data[a["name"]] = ""
            elif tag == "select":
                self.select = a["name"]
            elif tag == "option" and "selected" in a and self.select:
                data[self.select] = a.get("value") or ""

        def handle_endtag(self, tag):
            if tag in ("textarea", "select"):
                self.textarea = self.select = None

        def handle_data(self, text):
            if self.textarea:
                data[self.textarea] += text.lstrip("\n") if not data[self.textarea] else text

    Fields(convert_charrefs=True).feed(page)
    return data


def edit_form(client, contact):
    """The edit form as a browser opened it: every field with its hidden copy of the value it
    was opened with."""
    return form_fields(client.get(reverse("contacts:edit", args=[contact.pk])).content.decode())


def test_two_people_editing_one_contact_each_keep_what_they_changed(marketer_client, world):
    c = world["contact"]
    a = edit_form(marketer_client, c)
    b = edit_form(marketer_client, c)
    assert "initial-phone" in a

    a["phone"] = "06 12 34 56 78"
    assert marketer_client.post(reverse("contacts:edit", args=[c.pk]), a).status_code == 302
    b["city"] = "Périgueux"
    assert marketer_client.post(reverse("contacts:edit", args=[c.pk]), b).status_code == 302

    c.refresh_from_db()
    assert (c.phone, c.city) == ("+33612345678", "Périgueux")
    # Each save is audited with only its own change.
    changes = [entry.changes for entry in AuditLog.objects.filter(action="update").order_by("pk")]
    assert [set(change) for change in changes] == [{"phone"}, {"city"}]


def test_the_same_field_changed_by_two_people_is_a_conflict_shown_on_the_form(
    marketer_client, world
):
    c = world["contact"]
    a = edit_form(marketer_client, c)
    b = edit_form(marketer_client, c)
    a["city"] = "Sarlat"
    marketer_client.post(reverse("contacts:edit", args=[c.pk]), a)

    b["city"] = "Périgueux"
    b["notes"] = "Rappeler lundi"
    response = marketer_client.post(reverse("contacts:edit", args=[c.pk]), b)

    assert response.status_code == 200
    page = response.content.decode()
    assert "Rien n’a été enregistré" in page
    assert "Quelqu’un d’autre a modifié ce champ" in page and "Sarlat" in page
    c.refresh_from_db()
    assert (c.city, c.notes) == ("Sarlat", "")  # nothing written
    # Nothing lost: the form shows this user's values, and saving again keeps them.
    again = form_fields(page)
    assert (again["city"], again["notes"]) == ("Périgueux", "Rappeler lundi")
    assert again["initial-city"] == "Sarlat"
    assert marketer_client.post(reverse("contacts:edit", args=[c.pk]), again).status_code == 302
    c.refresh_from_db()
    assert (c.city, c.notes) == ("Périgueux", "Rappeler lundi")


def test_the_same_change_made_by_two_people_is_no_conflict(marketer_client, world):
    c = world["contact"]
    a = edit_form(marketer_client, c)
    b = edit_form(marketer_client, c)
    a["city"] = b["city"] = "Sarlat"
    marketer_client.post(reverse("contacts:edit", args=[c.pk]), a)
    assert marketer_client.post(reverse("contacts:edit", args=[c.pk]), b).status_code == 302
    assert AuditLog.objects.filter(action="update").count() == 1


def test_saving_the_form_keeps_tracking_and_unticking_it_stops_it(marketer_client, world):
    c = world["contact"]
    form = edit_form(marketer_client, c)
    assert form["tracking_allowed"] == "on"
    form["city"] = "Sarlat"
    marketer_client.post(reverse("contacts:edit", args=[c.pk]), form)
    c.refresh_from_db()
    assert (c.city, c.tracking_allowed) == ("Sarlat", True)

    form = edit_form(marketer_client, c)
    del form["tracking_allowed"]
    assert marketer_client.post(reverse("contacts:edit", args=[c.pk]), form).status_code == 302
    c.refresh_from_db()
    assert c.tracking_allowed is False


def test_a_list_can_be_sent_without_tracking(marketer_client):
    marketer_client.post(
        reverse("contacts:list_create"), {"name": "Adhérents", "description": "", "tracking": ""}
    )
    members = MailingList.objects.get(name="Adhérents")
    assert members.tracking is False
    page = marketer_client.get(reverse("contacts:list_detail", args=[members.pk])).content.decode()
    assert "non mesurés" in page


def test_long_notes_open_on_demand_and_short_ones_show_in_full(viewer_client):
    long = make_contact(email="long@example.fr", notes="Très long commentaire. " * 500)
    short = make_contact(email="short@example.fr", notes="Cliente fidèle")

    long_page = viewer_client.get(reverse("web:contact_detail", args=[long.pk])).content.decode()
    short_page = viewer_client.get(reverse("web:contact_detail", args=[short.pk])).content.decode()

    assert '<details class="notes-long">' in long_page
    assert "Tout lire (11\u202f500 caractères)" in long_page
    assert long_page.count("Très long commentaire.") > 100  # all of it, inside the details
    assert "notes-long" not in short_page and "<p>Cliente fidèle</p>" in short_page
