"""The builder's live count and save, a segment's page, its bulk actions (audited), freezing,
the hashed export and the daily size."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.core.management import call_command
from django.urls import reverse

from fidele.contacts.models import Contact, Subscription, Tag
from fidele.core.models import AuditLog
from fidele.segments import services
from fidele.segments.models import Segment, SegmentSize
from tests.factories import make_contact, make_list, make_subscription, make_tag

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]

BERGERAC = {"field": "city", "op": "eq", "value": "bergerac"}


def test_the_live_count_counts_the_rule_as_typed_and_shows_first_members(viewer_client):
    make_contact("a@example.fr", first_name="Anne", city="Bergerac")
    make_contact("b@example.fr", city="Pau")
    response = viewer_client.post(reverse("segments:count"), {"rules": json.dumps(BERGERAC)})
    assert response.status_code == 200
    assert "1 contact" in response.content.decode() and "Anne" in response.content.decode()


def test_the_live_count_answers_a_bad_rule_with_its_json_path(viewer_client):
    response = viewer_client.post(
        reverse("segments:count"), {"rules": '{"all": [{"orders": {"count_gte": "x"}}]}'}
    )
    assert "$.all[0].orders.count_gte: expected a whole number" in response.content.decode()


def test_a_marketer_saves_a_segment_from_the_builder(marketer_client):
    response = marketer_client.post(
        reverse("segments:create"), {"name": "Bergerac", "rules": json.dumps(BERGERAC)}
    )
    segment = Segment.objects.get()
    assert response.status_code == 302 and segment.rules == BERGERAC
    assert AuditLog.objects.filter(action="create", object_type="segments.segment").exists()
    page = marketer_client.get(reverse("segments:detail", args=[segment.pk]))
    assert page.status_code == 200


def test_the_builder_refuses_to_save_a_rule_that_cannot_run(marketer_client):
    response = marketer_client.post(
        reverse("segments:create"), {"name": "X", "rules": '{"tag": "nope"}'}
    )
    assert response.status_code == 200 and "$.tag: unknown tag" in response.content.decode()
    assert not Segment.objects.exists()


def test_a_viewer_may_look_but_not_build_or_act(viewer_client, owner):
    segment = services.segment_create(actor=owner, name="B", rules=BERGERAC)
    assert viewer_client.get(reverse("segments:detail", args=[segment.pk])).status_code == 200
    assert viewer_client.get(reverse("segments:create")).status_code == 403
    response = viewer_client.post(
        reverse("segments:bulk", args=[segment.pk]), {"action": "delete", "confirm": "on"}
    )
    assert response.status_code == 403


def test_bulk_tagging_tags_every_member_once_and_audits_each_contact(marketer_client, owner):
    anne = make_contact(city="Bergerac")
    bob = make_contact(city="Bergerac")
    make_contact(city="Pau")
    vip = make_tag("VIP")
    bob.tags.add(vip)
    segment = services.segment_create(actor=owner, name="B", rules=BERGERAC)
    marketer_client.post(
        reverse("segments:bulk", args=[segment.pk]),
        {"action": "tag", "tag": vip.pk, "confirm": "on"},
    )
    assert set(vip.contacts.all()) == {anne, bob}
    entries = AuditLog.objects.filter(object_type="contacts.contact", changes__tag_added="VIP")
    assert [e.object_id for e in entries] == [str(anne.pk)]
    assert AuditLog.objects.filter(
        object_type="segments.segment", changes__bulk="tag", changes__contacts=1
    ).exists()


def test_subscribing_a_segment_needs_a_proof_and_never_resubscribes(marketer_client, owner):
    anne = make_contact(city="Bergerac")
    left = make_contact(city="Bergerac")
    news = make_list("News")
    make_subscription(left, news, status=Subscription.Status.UNSUBSCRIBED)
    segment = services.segment_create(actor=owner, name="B", rules=BERGERAC)
    url = reverse("segments:bulk", args=[segment.pk])
    marketer_client.post(url, {"action": "subscribe", "mailing_list": news.pk, "confirm": "on"})
    assert not Subscription.objects.filter(contact=anne).exists()
    marketer_client.post(
        url,
        {
            "action": "subscribe",
            "mailing_list": news.pk,
            "how": "paper form at the shop",
            "confirm": "on",
        },
    )
    subscription = Subscription.objects.get(contact=anne)
    assert subscription.status == "subscribed"
    assert subscription.consent_proof["note"] == "paper form at the shop"
    assert Subscription.objects.get(contact=left).status == "unsubscribed"
    assert AuditLog.objects.filter(action="subscribe", object_id=str(anne.pk)).exists()


def test_only_an_owner_deletes_a_segments_contacts_and_each_deletion_is_audited(
    marketer_client, owner, client
):
    anne = make_contact(city="Bergerac")
    segment = services.segment_create(actor=owner, name="B", rules=BERGERAC)
    url = reverse("segments:bulk", args=[segment.pk])
    marketer_client.post(url, {"action": "delete", "confirm": "on"})
    assert Contact.objects.filter(pk=anne.pk).exists()
    client.force_login(owner)
    client.post(url, {"action": "delete", "confirm": "on"})
    assert not Contact.objects.filter(pk=anne.pk).exists()
    assert AuditLog.objects.filter(action="delete", object_id=str(anne.pk)).exists()


def test_freezing_keeps_todays_members_under_a_new_tag_not_a_list(marketer_client, owner):
    anne = make_contact(city="Bergerac")
    segment = services.segment_create(actor=owner, name="B", rules=BERGERAC)
    marketer_client.post(reverse("segments:freeze", args=[segment.pk]), {"tag_name": "B-mai"})
    assert list(Tag.objects.get(name="B-mai").contacts.all()) == [anne]
    assert not Subscription.objects.exists()


def test_the_hashed_export_is_one_sha256_per_normalised_email_and_is_audited(
    marketer_client, owner
):
    make_contact("anne@example.fr", city="Bergerac")
    make_contact(None, city="Bergerac")
    segment = services.segment_create(actor=owner, name="B", rules=BERGERAC)
    response = marketer_client.get(reverse("segments:hashes", args=[segment.pk]))
    body = b"".join(response.streaming_content).decode()
    assert body == hashlib.sha256(b"anne@example.fr").hexdigest() + "\n"
    assert (
        services.email_hash("  Anne@Example.FR ") == hashlib.sha256(b"anne@example.fr").hexdigest()
    )
    assert AuditLog.objects.filter(action="export", changes__format="sha256").exists()


def test_the_contacts_list_and_export_select_a_segment_through_the_one_engine(
    marketer_client, owner
):
    make_contact("anne@example.fr", city="Bergerac")
    make_contact("paul@example.fr", city="Pau")
    segment = services.segment_create(actor=owner, name="B", rules=BERGERAC)
    page = marketer_client.get("/contacts/", {"segment": segment.pk}).content.decode()
    assert "anne@example.fr" in page and "paul@example.fr" not in page
    page = marketer_client.get("/contacts/", {"rules": json.dumps(BERGERAC)}).content.decode()
    assert "anne@example.fr" in page and "paul@example.fr" not in page


def test_the_daily_job_records_each_segments_size_and_a_rule_that_broke(owner):
    make_contact(city="Bergerac")
    good = services.segment_create(actor=owner, name="B", rules=BERGERAC)
    tag = make_tag("Temp")
    broken = services.segment_create(actor=owner, name="T", rules={"tag": "Temp"})
    tag.delete()
    assert services.segment_sizes_record() == {good.pk: 1, broken.pk: 0}
    assert "unknown tag" in SegmentSize.objects.get(segment=broken).problem
    services.segment_sizes_record()
    assert SegmentSize.objects.count() == 2


def test_the_daily_job_is_registered_with_the_worker():
    from fidele.core.tasks import recurring_jobs

    assert "segments-sizes-daily" in recurring_jobs()


def test_fidele_segment_count_prints_the_count_and_time(tmp_path, capsys):
    make_contact(city="Bergerac")
    path = tmp_path / "rule.json"
    path.write_text(json.dumps({"all": [BERGERAC]}))
    call_command("segment", "count", "--rules", str(path), "--json")
    out = json.loads(capsys.readouterr().out)
    assert out["count"] == 1 and isinstance(out["ms"], float | int)


def test_fidele_segment_count_exits_non_zero_with_the_json_path_of_a_bad_rule(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "rule.json"
    path.write_text(
        '{"all": [{"field": "city", "op": "eq", "value": "a"}, {"orders": {"count_gte": "x"}}]}'
    )
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match=r"\$\.all\[1\]\.orders\.count_gte"):
        call_command("segment", "count", "--rules", str(path), "--json")
    assert sys.executable and subprocess  # the real process: see test below


def test_the_fidele_command_exits_non_zero_on_a_bad_rule(tmp_path, settings):
    import os
    import subprocess
    import sys

    path = tmp_path / "rule.json"
    path.write_text('{"tag": 3}')
    env = {**os.environ, "FIDELE_DATA_DIR": str(tmp_path), "DATABASE_URL": ""}
    subprocess.run(
        [sys.executable, "-m", "fidele", "migrate", "-v0"], env=env, check=True, timeout=300
    )
    done = subprocess.run(
        [sys.executable, "-m", "fidele", "segment", "count", "--rules", str(path), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0 and "$.tag: " in done.stderr and "3" in done.stderr
