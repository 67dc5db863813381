from __future__ import annotations

import datetime as dt
import sys
import types

import pytest
from django.utils import timezone

import fidele.campaigns
from fidele.campaigns import services
from fidele.campaigns.models import Campaign, Variant
from fidele.campaigns.rendering.compile import content_compile
from fidele.core.models import AuditLog
from tests.factories import FakeLinks, make_campaign_via_service, make_list

pytestmark = pytest.mark.django_db
Status = Campaign.Status


class FakeTask:
    """Stands in for the engine's tasks, recording what would be enqueued."""

    def __init__(self, calls: list, name: str, run_after=None):
        self.calls, self.name, self.run_after = calls, name, run_after

    def using(self, *, run_after=None, **_options):
        return FakeTask(self.calls, self.name, run_after)

    def enqueue(self, *args):
        self.calls.append((self.name, args, self.run_after))


@pytest.fixture
def enqueued(monkeypatch):
    calls: list = []
    fake = types.ModuleType("fidele.campaigns.tasks")
    fake.campaign_start = FakeTask(calls, "campaign_start")
    fake.campaign_resume = FakeTask(calls, "campaign_resume")
    monkeypatch.setitem(sys.modules, "fidele.campaigns.tasks", fake)
    monkeypatch.setattr(fidele.campaigns, "tasks", fake, raising=False)
    return calls


def audit_actions(obj) -> list[str]:
    return list(
        AuditLog.objects.filter(object_type="campaigns.campaign", object_id=str(obj.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )


def test_create_accepts_list_names_sets_a_default_layout_and_utm_and_is_audited(marketer):
    make_list("Clients fidèles")
    made = services.campaign_create(
        name="Soldes",
        subject="Hello",
        from_email="shop@example.com",
        html="<p>Hi</p>",
        lists=["Clients fidèles", "Clients fidèles"],
        actor=marketer,
    )
    assert made.status == Status.DRAFT
    assert [ml.name for ml in made.lists.all()] == ["Clients fidèles"]
    assert made.layout is not None and made.layout.is_default
    assert made.utm_campaign_value == f"{made.pk}-soldes"
    assert made.created_by == marketer
    log = AuditLog.objects.get(object_type="campaigns.campaign", action="create")
    assert log.actor == marketer and log.changes["lists"] == ["Clients fidèles"]


def test_create_refuses_an_unknown_list():
    with pytest.raises(services.CampaignError, match="Nope"):
        services.campaign_create(
            name="x", subject="s", from_email="a@example.com", html="x", lists=["Nope"]
        )


def test_update_changes_a_draft_and_records_the_changes(marketer):
    made = make_campaign_via_service()
    services.campaign_update(campaign=made, subject="Nouveau", html="<p>new</p>", actor=marketer)
    made.refresh_from_db()
    assert made.subject == "Nouveau" and made.body == "<p>new</p>"
    log = AuditLog.objects.filter(action="update").get()
    assert log.changes["subject"][1] == "Nouveau"
    assert log.changes["body"] == ["…", "…"]


def test_update_refuses_unknown_fields():
    with pytest.raises(services.CampaignError):
        services.campaign_update(campaign=make_campaign_via_service(), status="sent")


def test_schedule_sets_the_time_and_enqueues_the_start_task_after_commit(
    enqueued, django_capture_on_commit_callbacks
):
    made = make_campaign_via_service()
    at = timezone.now() + dt.timedelta(hours=2)
    with django_capture_on_commit_callbacks(execute=True):
        services.campaign_schedule(campaign=made, at=at)
    made.refresh_from_db()
    assert made.status == Status.SCHEDULED and made.scheduled_at == at
    assert enqueued == [("campaign_start", (made.pk,), at)]
    assert audit_actions(made) == ["create", "update"]


def test_send_now_schedules_for_now_without_delay(enqueued, django_capture_on_commit_callbacks):
    made = make_campaign_via_service()
    with django_capture_on_commit_callbacks(execute=True):
        services.campaign_schedule(campaign=made)
    assert enqueued == [("campaign_start", (made.pk,), None)]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"lists": []}, "list"),
        ({"subject": ""}, "subject"),
        ({"html": ""}, "content"),
    ],
)
def test_schedule_refuses_an_incomplete_campaign(enqueued, values, message):
    made = make_campaign_via_service(**values)
    with pytest.raises(services.CampaignError, match=message):
        services.campaign_schedule(campaign=made)
    assert Campaign.objects.get(pk=made.pk).status == Status.DRAFT


def test_schedule_refuses_a_time_in_the_past(enqueued):
    with pytest.raises(services.CampaignError, match="past"):
        services.campaign_schedule(
            campaign=make_campaign_via_service(), at=timezone.now() - dt.timedelta(hours=1)
        )


def set_status(made, status):
    Campaign.objects.filter(pk=made.pk).update(status=status)
    made.refresh_from_db()
    return made


@pytest.mark.parametrize(
    ("action", "allowed_from"),
    [
        ("campaign_pause", {Status.SENDING}),
        ("campaign_resume", {Status.PAUSED}),
        ("campaign_unschedule", {Status.SCHEDULED}),
        ("campaign_cancel", {Status.DRAFT, Status.SCHEDULED, Status.SENDING, Status.PAUSED}),
        ("campaign_schedule", {Status.DRAFT}),
    ],
)
def test_transitions_are_only_allowed_from_their_states(enqueued, action, allowed_from):
    for status in Status.values:
        made = set_status(make_campaign_via_service(), status)
        if status in allowed_from:
            getattr(services, action)(campaign=made)
        else:
            with pytest.raises(services.CampaignStateError):
                getattr(services, action)(campaign=made)


def test_pause_then_resume_goes_back_to_sending_and_wakes_the_engine(
    enqueued, django_capture_on_commit_callbacks
):
    made = set_status(make_campaign_via_service(), Status.SENDING)
    services.campaign_pause(campaign=made, reason="trop d'erreurs")
    made.refresh_from_db()
    assert (made.status, made.status_reason) == (Status.PAUSED, "trop d'erreurs")
    with django_capture_on_commit_callbacks(execute=True):
        services.campaign_resume(campaign=made)
    made.refresh_from_db()
    assert (made.status, made.status_reason) == (Status.SENDING, "")
    assert enqueued == [("campaign_resume", (made.pk,), None)]


def test_an_illegal_transition_says_why_in_words():
    made = set_status(make_campaign_via_service(), Status.SENT)
    with pytest.raises(services.CampaignStateError) as caught:
        services.campaign_pause(campaign=made)
    assert "sent" in str(caught.value).lower() or "envoy" in str(caught.value).lower()


def test_a_transition_rereads_the_campaign_and_writes_only_its_own_fields(marketer):
    made = set_status(make_campaign_via_service(), Status.SENDING)
    # Someone else's write since `made` was read: the transition must neither miss nor undo it.
    Campaign.objects.filter(pk=made.pk).update(name="Renommée", status=Status.PAUSED)
    with pytest.raises(services.CampaignStateError):
        services.campaign_pause(campaign=made, actor=marketer)
    Campaign.objects.filter(pk=made.pk).update(status=Status.SENDING)
    paused = services.campaign_pause(campaign=made, actor=marketer, reason="pause déjeuner")
    stored = Campaign.objects.get(pk=made.pk)
    assert (stored.name, stored.status, stored.status_reason) == (
        "Renommée", Status.PAUSED, "pause déjeuner",
    )  # fmt: skip
    assert paused.status == Status.PAUSED
    last = AuditLog.objects.filter(object_id=str(made.pk)).latest("id")
    assert last.changes == {"status": ["sending", "paused"], "reason": "pause déjeuner"}
    assert last.actor == marketer


def test_only_drafts_can_be_edited():
    made = set_status(make_campaign_via_service(), Status.SCHEDULED)
    with pytest.raises(services.CampaignStateError):
        services.campaign_update(campaign=made, subject="x")


def test_duplicate_copies_content_audience_and_variants_as_a_fresh_draft(marketer):
    original = make_campaign_via_service(preheader="Pré", utm_campaign="hiver")
    original.exclude_lists.set([make_list("Désabonnés")])
    services.campaign_variants_set(
        campaign=original,
        variants=[{"label": "A", "subject": "Sujet A"}, {"label": "B", "subject": "Sujet B"}],
    )
    set_status(original, Status.SENT)
    copy = services.campaign_duplicate(campaign=original, actor=marketer)
    assert copy.pk != original.pk
    assert copy.status == Status.DRAFT and copy.scheduled_at is None
    assert copy.name.startswith(original.name)
    assert (copy.subject, copy.preheader, copy.body) == (
        original.subject, original.preheader, original.body,
    )  # fmt: skip
    assert list(copy.lists.all()) == list(original.lists.all())
    assert [ml.name for ml in copy.exclude_lists.all()] == ["Désabonnés"]
    assert [(v.label, v.subject) for v in copy.variants.all()] == [
        ("A", "Sujet A"), ("B", "Sujet B"),
    ]  # fmt: skip
    assert copy.ab_enabled
    assert AuditLog.objects.filter(action="create", object_id=str(copy.pk)).exists()


def test_ab_variants_need_two_distinct_labels_and_a_difference():
    made = make_campaign_via_service()
    with pytest.raises(services.CampaignError):
        services.campaign_variants_set(campaign=made, variants=[{"label": "A", "subject": "x"}])
    with pytest.raises(services.CampaignError):
        services.campaign_variants_set(
            campaign=made, variants=[{"label": "A", "subject": "x"}, {"label": "A"}]
        )
    with pytest.raises(services.CampaignError):
        services.campaign_variants_set(campaign=made, variants=[{"label": "A"}, {"label": "B"}])
    assert not Variant.objects.exists()


def test_ab_samples_cannot_exceed_the_audience():
    made = make_campaign_via_service(ab_sample_percent=60)
    with pytest.raises(services.CampaignError):
        services.campaign_variants_set(
            campaign=made, variants=[{"label": "A", "subject": "x"}, {"label": "B", "body": "y"}]
        )


def test_variant_templates_are_checked():
    from fidele.campaigns.rendering.sandbox import TemplateProblem

    with pytest.raises(TemplateProblem):
        services.campaign_variants_set(
            campaign=make_campaign_via_service(),
            variants=[{"label": "A", "subject": "{{ nope }}"}, {"label": "B", "subject": "x"}],
        )


def test_content_the_caller_checked_is_not_compiled_again_but_other_content_is(compiles):
    from fidele.campaigns.layouts import layout_default
    from fidele.campaigns.rendering.compile import content_fingerprint
    from fidele.campaigns.rendering.sandbox import TemplateProblem

    values = {"subject": "Bonjour", "html": "<p>Bonjour {{ contact.first_name }}</p>"}
    draft = Campaign(subject=values["subject"], body=values["html"], layout=layout_default())
    checked = {content_fingerprint(campaign=draft)}
    made = make_campaign_via_service(**values, checked=checked)
    assert compiles == []
    services.campaign_update(campaign=made, subject="Salut", checked=checked)
    assert compiles == [None]
    with pytest.raises(TemplateProblem):
        services.campaign_update(campaign=made, subject="{{ nope }}", checked=checked)


def test_setting_variants_compiles_the_variants_not_the_campaign_again(compiles):
    made = make_campaign_via_service()
    compiles.clear()
    services.campaign_variants_set(
        campaign=made, variants=[{"label": "A", "subject": "x"}, {"label": "B", "subject": "y"}]
    )
    assert compiles == ["A", "B"]


def test_removing_the_variants_turns_the_ab_test_off():
    made = make_campaign_via_service()
    services.campaign_variants_set(
        campaign=made, variants=[{"label": "A", "subject": "x"}, {"label": "B", "subject": "y"}]
    )
    services.campaign_variants_set(campaign=made, variants=[])
    made.refresh_from_db()
    assert not made.ab_enabled and not made.variants.exists()


def test_a_scheduled_ab_campaign_needs_its_variants(enqueued):
    made = make_campaign_via_service(ab_enabled=True)
    with pytest.raises(services.CampaignError):
        services.campaign_schedule(campaign=made)


def test_a_rule_that_cannot_run_is_refused_when_a_campaign_is_created_or_edited():
    with pytest.raises(services.CampaignError, match=r"\$\.tag: unknown tag"):
        make_campaign_via_service(audience_rules={"tag": "vip"})
    made = make_campaign_via_service()
    with pytest.raises(services.CampaignError, match=r"\$\.all\[0\]\.op"):
        services.campaign_update(
            campaign=made, audience_rules={"all": [{"field": "city", "op": "near", "value": 1}]}
        )


def test_a_duplicated_then_renamed_campaign_carries_its_own_utm_campaign():
    original = make_campaign_via_service(
        name="Soldes d'hiver", html='<p><a href="https://cave.example/vins">Nos vins</a></p>'
    )
    assert original.utm_campaign == ""
    assert original.utm_campaign_value == f"{original.pk}-soldes-dhiver"
    copy = services.campaign_duplicate(campaign=original)
    copy = services.campaign_update(campaign=copy, name="Fête des pères")
    assert copy.utm_campaign_value == f"{copy.pk}-fete-des-peres"
    html = content_compile(campaign=copy).render(contact=None, links=FakeLinks()).html
    assert f"utm_campaign={copy.pk}-fete-des-peres" in html


def test_a_utm_campaign_the_user_typed_is_kept_by_a_rename_and_a_copy():
    original = make_campaign_via_service(name="Soldes", utm_campaign="hiver-2026")
    renamed = services.campaign_update(campaign=original, name="Grandes soldes")
    assert renamed.utm_campaign_value == "hiver-2026"
    assert services.campaign_duplicate(campaign=renamed).utm_campaign_value == "hiver-2026"
